//! One backtest: the detector and the paper executor fed the same history,
//! in order, the way the live processes would see it.
//!
//! For each input, in history order:
//!
//! 1. the detector gets it (a book or a feed status) and returns its
//!    opportunities, stamped `received_ts` / `published_ts` with the input's
//!    recorded receive time (the live detector stamps the wall clock; a
//!    backtest takes it from the recording);
//! 2. the executor's engine gets the book (its clock moves, the book joins
//!    its history), and the trade under way, if any, is progressed;
//! 3. the new opportunities queue up, as in the executor's durable consumer,
//!    and each is decided in turn once no trade is under way.
//!
//! At the end of the history a trade still waiting for a book is matched
//! against the latest one (what the live executor does when its fill
//! timeout passes with no new book), and so are the queued opportunities.

use std::collections::{BTreeMap, VecDeque};

use arb_contract::codec::Decoded;
use arb_contract::{BookSnapshot, FeedStatus, Message, Opportunity, Side};
use arb_detect::{Detector, DetectorConfig, StrategyKind, detector};
use arb_exec::engine::{Decision, Engine, EngineConfig, EngineError, Live, PendingTrade};

use crate::record::Recorder;
use crate::result::JobResult;

/// One recorded message a backtest consumes.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Book(BookSnapshot),
    Status(FeedStatus),
}

impl Input {
    /// Event time: what orders the history.
    pub fn event_time(&self) -> arb_contract::time::Timestamp {
        match self {
            Input::Book(b) => b.event_time(),
            Input::Status(s) => s.event_time(),
        }
    }
}

/// Everything a run is configured with: the detector's and the executor's
/// settings, as `arb-detector` and `arb-executor` build them from their flags.
#[derive(Debug, Clone)]
pub struct Params {
    pub strategy: StrategyKind,
    pub detector: DetectorConfig,
    pub engine: EngineConfig,
    pub live: Live,
    /// Keep every event produced (to publish them), not only their hash.
    pub keep_events: bool,
}

/// What a finished run gives.
#[derive(Debug)]
pub struct Outcome {
    pub result: JobResult,
    /// Every event produced, in order, when [`Params::keep_events`] is set.
    pub events: Vec<Decoded>,
    /// The opportunities produced, in order (for parity checks), when
    /// [`Params::keep_events`] is set.
    pub opportunities: Vec<Opportunity>,
}

/// A backtest in progress.
pub struct Run {
    detector: Box<dyn Detector>,
    engine: Engine,
    queue: VecDeque<Opportunity>,
    trade: Option<Box<PendingTrade>>,
    record: Recorder,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("queued", &self.queue.len())
            .field("trade_under_way", &self.trade.is_some())
            .finish_non_exhaustive()
    }
}

impl Run {
    pub fn new(params: Params) -> Result<Run, EngineError> {
        let currency = params.engine.valuation.clone();
        Ok(Run {
            detector: detector(params.strategy, params.detector),
            engine: Engine::new(params.engine, params.live)?,
            queue: VecDeque::new(),
            trade: None,
            record: Recorder::new(currency, params.keep_events),
        })
    }

    /// Runs a whole history.
    pub fn over<'a>(
        params: Params,
        history: impl IntoIterator<Item = &'a Input>,
    ) -> Result<Outcome, EngineError> {
        let mut run = Run::new(params)?;
        for input in history {
            run.feed(input.clone());
        }
        Ok(run.finish())
    }

    /// One input, in history order.
    pub fn feed(&mut self, input: Input) {
        match input {
            Input::Book(book) => self.book(book),
            Input::Status(status) => {
                self.record.statuses += 1;
                let opps = self.detector.on_status(&status);
                self.opportunities(opps, status.ts);
            }
        }
    }

    fn book(&mut self, book: BookSnapshot) {
        self.record.books += 1;
        let opps = self.detector.on_book(&book);
        let received = book.received_ts;
        self.opportunities(opps, received);
        // No history: the live executor announces its balances with the first book.
        let announce = self.engine.clock().is_none();
        let events = self.engine.on_book(book);
        self.record.events(events);
        if announce {
            let snapshots = self.engine.snapshots();
            self.record.events(snapshots);
        }
        self.work(false);
    }

    fn opportunities(&mut self, opps: Vec<Opportunity>, stamp: arb_contract::time::Timestamp) {
        for mut opp in opps {
            opp.received_ts = Some(stamp);
            opp.published_ts = Some(stamp);
            self.record.opportunity(&opp);
            self.queue.push_back(opp);
        }
    }

    /// Progresses the trade under way; decides queued opportunities while
    /// none is. `force`: match against the latest books (the history ended).
    fn work(&mut self, force: bool) {
        loop {
            if let Some(trade) = self.trade.as_mut() {
                let step = self.engine.progress(trade, force);
                self.record.events(step.events);
                if !step.done {
                    return;
                }
                self.trade = None;
            }
            let Some(opp) = self.queue.pop_front() else {
                return;
            };
            match self.engine.decide(&opp) {
                Decision::Skip(_) => {}
                Decision::Rejected(events) => self.record.events(events),
                Decision::Accepted(trade, events) => {
                    self.record.label(label(&opp));
                    self.record.events(events);
                    self.trade = Some(trade);
                }
            }
        }
    }

    /// Ends the history: what is under way or queued meets the latest books.
    pub fn finish(mut self) -> Outcome {
        self.work(true);
        self.record.finish()
    }
}

/// What a trade goes across: `sim-a→sim-b BTC-USD` (cross: bought on the
/// first, sold on the second), or `sim-a USD→BTC→ETH→USD` (a triangle).
pub fn label(opp: &Opportunity) -> String {
    match opp.kind {
        arb_contract::OpportunityKind::Cross => {
            let venues: Vec<&str> = opp.legs.iter().map(|l| l.venue.as_str()).collect();
            let symbol = opp
                .legs
                .first()
                .map(|l| l.symbol.token())
                .unwrap_or_default();
            format!("{} {symbol}", venues.join("→"))
        }
        arb_contract::OpportunityKind::Triangular => {
            let venue = opp.legs.first().map(|l| l.venue.as_str()).unwrap_or("");
            let mut path = vec![opp.currency.clone()];
            for leg in &opp.legs {
                let got = match leg.side {
                    Side::Buy => leg.symbol.base().to_owned(),
                    Side::Sell => leg.symbol.quote().to_owned(),
                };
                path.push(got);
            }
            format!("{venue} {}", path.join("→"))
        }
    }
}

/// Counts by name, for summaries.
pub(crate) fn bump(map: &mut BTreeMap<String, u64>, name: &str) {
    *map.entry(name.to_owned()).or_default() += 1;
}
