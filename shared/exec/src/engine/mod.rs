//! The paper executor's state machine (issue 12): opportunities in, order,
//! trade, P&L, portfolio and transfer events out. Pure and synchronous: the
//! `arb-executor` binary feeds it books and opportunities from NATS and
//! publishes what it returns; a backtest feeds it the same messages from
//! history and gets the same events, byte for byte.
//!
//! One opportunity goes through three calls:
//!
//! 1. [`Engine::decide`]: skipped (closed, or its episode already traded),
//!    rejected (each leg an `OrderEvent` with status `rejected` and a
//!    reason), or accepted: a [`PendingTrade`] and the legs' `new` events.
//! 2. [`Engine::progress`], again each time a book arrives, until it is
//!    done: each order is matched against its venue's book as of its arrival
//!    (decision time plus the venue's latency), legs sent in sequence wait for
//!    the one before, and leftover exposure is unwound.
//! 3. The last step's events: each order's final state, the `TradeEvent`
//!    (first: it is the record [`Engine::restore`] rebuilds balances from),
//!    the `PnlEvent`, a `PortfolioSnapshot` per venue touched and any
//!    rebalancing transfers.
//!
//! Ids derive from the episode and the leg ([`ids`]), so a redelivered
//! opportunity gives the same ids and JetStream's duplicate window drops the
//! copies. Time is event time throughout: the engine's clock is the latest
//! book or opportunity time it has seen.

mod ids;
mod marks;
mod restore;
#[cfg(test)]
mod tests;
mod trade;

use std::collections::{BTreeMap, HashSet};

use arb_contract::codec::Decoded;
use arb_contract::time::{Timestamp, to_nanos};
use arb_contract::{
    BookSnapshot, EpisodeState, Message, Opportunity, OrderEvent, OrderStatus, OrderType,
    PortfolioSnapshot, Side, TransferEvent, TransferStatus,
};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::fill::Depth;
use crate::history::BookHistory;
use crate::latency::Latency;
use crate::ledger::{Ledger, LedgerError, StartingBalances, TransferId, TransferTerms};
use crate::risk::{RiskLimits, RiskState, TradingState};
use crate::rules::VenueRules;
use crate::settings::{Key, Value};

pub use restore::{Restore, RestoreError};
pub use trade::{PendingTrade, Step};

/// The P&L line transfer costs are counted under.
pub const TRANSFER_STRATEGY: &str = trade::TRANSFER;

/// How the legs of one trade go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LegMode {
    /// All at the decision time.
    #[default]
    Concurrent,
    /// Each once the one before has filled, sized to what it filled.
    Sequential,
}

/// What the executor is started with; [`Live`] is what changes at run time.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Seeds the latency jitter.
    pub seed: u64,
    pub legs: LegMode,
    /// Added to the opportunity's worst price for each leg's IOC limit, in
    /// basis points.
    pub slippage_bps: Decimal,
    /// The currency portfolios are valued in.
    pub valuation: String,
    pub rules: VenueRules,
    pub balances: Vec<StartingBalances>,
    /// Per asset: the balance below which a venue is topped up by a transfer.
    pub floors: BTreeMap<String, Decimal>,
    /// Per asset: the withdrawal fee and delay of a transfer.
    pub transfers: BTreeMap<String, TransferTerms>,
    /// Book states older than this (event time) behind the clock are dropped.
    pub history: std::time::Duration,
}

/// The runtime configuration (the `arb_config` bucket's keys).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Live {
    pub trading: TradingState,
    pub limits: RiskLimits,
    /// Taker fee per venue; a venue not named pays the opportunity leg's rate.
    pub fees: BTreeMap<String, Decimal>,
    /// Latency per venue; a venue not named has `default_latency`.
    pub latency: BTreeMap<String, Latency>,
    pub default_latency: Latency,
}

/// What [`Engine::decide`] made of an opportunity.
#[derive(Debug)]
pub enum Decision {
    /// Nothing to do (with why: a counter name).
    Skip(&'static str),
    /// Refused before any order went out: the legs' `rejected` events.
    Rejected(Vec<Decoded>),
    /// Orders are out: their `new` events, and the trade to progress.
    Accepted(Box<PendingTrade>, Vec<Decoded>),
}

/// A start-up problem: the configured balances cannot make a ledger.
#[derive(Debug, thiserror::Error)]
#[error("starting balances: {0}")]
pub struct EngineError(#[from] LedgerError);

/// The executor's state: books, balances, risk state, the episodes traded.
#[derive(Debug)]
pub struct Engine {
    cfg: EngineConfig,
    live: Live,
    books: BookHistory,
    depth: Depth,
    ledger: Ledger,
    risk: RiskState,
    /// Episodes a trade was recorded for.
    traded: HashSet<Uuid>,
    /// Realized P&L per strategy and currency.
    cumulative: BTreeMap<(String, String), Decimal>,
    clock: Option<Timestamp>,
    /// The contract id of each ledger transfer.
    transfer_ids: BTreeMap<TransferId, Uuid>,
    counters: BTreeMap<String, u64>,
}

impl Engine {
    pub fn new(cfg: EngineConfig, live: Live) -> Result<Engine, EngineError> {
        let ledger = Ledger::new(cfg.balances.clone())?;
        Ok(Engine {
            cfg,
            live,
            books: BookHistory::new(),
            depth: Depth::new(),
            ledger,
            risk: RiskState::default(),
            traded: HashSet::new(),
            cumulative: BTreeMap::new(),
            clock: None,
            transfer_ids: BTreeMap::new(),
            counters: BTreeMap::new(),
        })
    }

    pub fn live(&self) -> &Live {
        &self.live
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Event counts by name (`orders.filled`, `rejected.halted`, ...), for
    /// the heartbeat.
    pub fn counters(&self) -> &BTreeMap<String, u64> {
        &self.counters
    }

    pub fn clock(&self) -> Option<Timestamp> {
        self.clock
    }

    /// Whether the books `opp` was found on may still be on their way: an
    /// opening the engine would trade, while its clock is behind the
    /// opportunity's book time or a leg's market on a known venue has no
    /// book yet. Books and opportunities come on separate consumers, so a
    /// live runner waits (bounded) for its view to catch up before it
    /// decides; in event order (a backtest) this is never true.
    pub fn behind(&self, opp: &Opportunity) -> bool {
        if opp.state == EpisodeState::Close || self.traded.contains(&opp.episode_id) {
            return false;
        }
        self.clock.is_none_or(|c| c < opp.book_ts)
            || opp.legs.iter().any(|l| {
                self.ledger.venues().any(|v| v == l.venue)
                    && self.books.latest(&l.venue, &l.symbol).is_none()
            })
    }

    /// Whether a trade was recorded for `episode`.
    pub fn traded(&self, episode: &Uuid) -> bool {
        self.traded.contains(episode)
    }

    /// Cumulative realized P&L of a strategy in a currency.
    pub fn cumulative(&self, strategy: &str, currency: &str) -> Decimal {
        self.cumulative
            .get(&(strategy.to_owned(), currency.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    fn count(&mut self, name: impl Into<String>) {
        *self.counters.entry(name.into()).or_default() += 1;
    }

    /// Applies one runtime setting. The old value is returned as text for
    /// the audit record.
    pub fn apply(&mut self, key: &Key, value: &Value) -> Option<String> {
        let old = self.setting(key);
        match (key, value) {
            (Key::TradingState, Value::TradingState(s)) => self.live.trading = *s,
            (Key::Limits, Value::Limits(l)) => self.live.limits = l.clone(),
            (Key::Fee { venue }, Value::Fee(f)) => {
                self.live.fees.insert(venue.clone(), *f);
            }
            (Key::Latency { venue }, Value::Latency(l)) => {
                self.live.latency.insert(venue.clone(), *l);
            }
            // `settings::parse` gives each key its own kind of value.
            _ => return old,
        }
        self.count("config.applied");
        old
    }

    /// A setting's current value as text (`None`: never set, the default).
    pub fn setting(&self, key: &Key) -> Option<String> {
        let value = match key {
            Key::TradingState => Value::TradingState(self.live.trading),
            Key::Limits => Value::Limits(self.live.limits.clone()),
            Key::Fee { venue } => Value::Fee(*self.live.fees.get(venue)?),
            Key::Latency { venue } => Value::Latency(*self.live.latency.get(venue)?),
        };
        Some(value.to_text())
    }

    /// Moves the clock to `t` (never back), crediting transfers due by then.
    fn advance(&mut self, t: Timestamp) -> Vec<Decoded> {
        let now = self.clock.map_or(t, |c| c.max(t));
        self.clock = Some(now);
        let arrived = match self.ledger.advance_to(now) {
            Ok(arrived) => arrived,
            Err(_) => {
                // A credit that Decimal cannot hold exactly stays pending
                // (the ledger keeps it, the snapshots show it); counted.
                self.count("transfers.inexact");
                Vec::new()
            }
        };
        let mut out = Vec::new();
        for t in arrived {
            let id = self
                .transfer_ids
                .get(&t.id)
                .copied()
                .unwrap_or_else(|| ids::transfer(&t));
            let event = TransferEvent {
                id: ids::transfer_event(id, TransferStatus::Arrived, t.arrives_at),
                ts: t.arrives_at,
                transfer_id: id,
                asset: t.asset.clone(),
                from_venue: t.from.clone(),
                to_venue: t.to.clone(),
                amount: t.amount,
                fee: t.fee,
                status: TransferStatus::Arrived,
                sent_ts: t.decided_at,
                arrives_ts: t.arrives_at,
                cost: None,
                currency: None,
            };
            self.count("transfers.arrived");
            out.push(Decoded::Transfer(event));
            out.push(Decoded::Portfolio(self.portfolio(&t.to, t.arrives_at)));
        }
        out
    }

    /// A book: held for matching and pricing; moves the clock. Returns the
    /// transfers that arrived by its time, with the receivers' snapshots.
    pub fn on_book(&mut self, book: BookSnapshot) -> Vec<Decoded> {
        let t = book.event_time();
        if !self.books.push(book) {
            self.count("books.stale");
            return Vec::new();
        }
        let out = self.advance(t);
        let horizon = to_nanos(&t).saturating_sub(duration_nanos(self.cfg.history));
        self.books
            .prune_before(arb_contract::time::from_nanos(horizon));
        out
    }

    /// A snapshot of every venue at the clock, for the periodic beat
    /// (nothing before the first event).
    pub fn snapshots(&self) -> Vec<Decoded> {
        match self.clock {
            Some(ts) => self.snapshots_at(ts),
            None => Vec::new(),
        }
    }

    /// A snapshot of every venue, stamped `ts`.
    pub fn snapshots_at(&self, ts: Timestamp) -> Vec<Decoded> {
        let venues: Vec<String> = self.ledger.venues().map(str::to_owned).collect();
        venues
            .iter()
            .map(|v| Decoded::Portfolio(self.portfolio(v, ts)))
            .collect()
    }

    /// `venue`'s balances at `ts`, valued in the valuation currency where
    /// every asset has a mark.
    fn portfolio(&self, venue: &str, ts: Timestamp) -> PortfolioSnapshot {
        let balances = self.ledger.snapshot(venue).unwrap_or_default();
        let total = balances.iter().try_fold(Decimal::ZERO, |sum, b| {
            let mark = self.mark(&b.asset, &self.cfg.valuation)?;
            sum.checked_add(marks::value(b.free, mark))
        });
        PortfolioSnapshot {
            id: ids::portfolio(venue, ts, self.ledger.journal().len()),
            ts,
            venue: venue.to_owned(),
            balances,
            valuation_currency: Some(self.cfg.valuation.clone()),
            total_value: total,
        }
    }

    /// Decides what to do with an opportunity; see the module's steps.
    pub fn decide(&mut self, opp: &Opportunity) -> Decision {
        if opp.state == EpisodeState::Close {
            self.count("opportunities.closed");
            return Decision::Skip("opportunities.closed");
        }
        if self.traded.contains(&opp.episode_id) {
            self.count("opportunities.already_traded");
            return Decision::Skip("opportunities.already_traded");
        }
        // The decision time: the opportunity's book time, or later if the
        // executor's books are already past it.
        let arrived = self.advance(opp.book_ts);
        let now = self.clock.unwrap_or(opp.book_ts);
        match trade::plan(self, opp, now) {
            Ok(mut pending) => {
                let mut events = arrived;
                events.extend(pending.send_ready(self));
                self.risk.open_trades += 1;
                self.count("trades.accepted");
                Decision::Accepted(Box::new(pending), events)
            }
            Err(rejections) => {
                let mut events = arrived;
                for (reason, order) in &rejections {
                    self.count(format!("rejected.{reason}"));
                    events.push(Decoded::Order(order.clone()));
                }
                Decision::Rejected(events)
            }
        }
    }

    /// Moves a trade on as far as the books allow. `force`: an order whose
    /// arrival no book has reached yet is matched against the latest book
    /// (the market did not change, as far as the executor knows).
    pub fn progress(&mut self, trade: &mut PendingTrade, force: bool) -> Step {
        trade.progress(self, force)
    }

    fn fee_rate(&self, venue: &str, leg_rate: Decimal) -> Decimal {
        self.live.fees.get(venue).copied().unwrap_or(leg_rate)
    }

    fn latency(&self, venue: &str) -> Latency {
        self.live
            .latency
            .get(venue)
            .copied()
            .unwrap_or(self.live.default_latency)
    }

    /// The value of one unit of `asset` in `currency`, from the latest mid
    /// of a book that pairs them on any venue (by venue name).
    fn mark(&self, asset: &str, currency: &str) -> Option<Decimal> {
        let venues: Vec<&str> = self.ledger.venues().collect();
        marks::mark(&self.books, &venues, asset, currency)
    }

    /// Records the open → done transition of a trade.
    fn finish(&mut self, episode: Uuid) {
        self.traded.insert(episode);
        self.risk.open_trades = self.risk.open_trades.saturating_sub(1);
    }
}

fn duration_nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// An `OrderEvent` with the fields every one of ours shares.
#[allow(clippy::too_many_arguments)]
fn order_event(
    id: Uuid,
    ts: Timestamp,
    order_id: Uuid,
    trade_id: Option<Uuid>,
    opp: &Opportunity,
    venue: &str,
    symbol: &arb_contract::Symbol,
    side: Side,
    order_type: OrderType,
    status: OrderStatus,
    price: Option<Decimal>,
    qty: Decimal,
) -> OrderEvent {
    OrderEvent {
        id,
        ts,
        order_id,
        venue_order_id: None,
        trade_id,
        opportunity_id: Some(opp.id),
        episode_id: Some(opp.episode_id),
        strategy: opp.kind.as_str().to_owned(),
        venue: venue.to_owned(),
        symbol: symbol.clone(),
        side,
        order_type,
        status,
        price,
        qty,
        filled_qty: Decimal::ZERO,
        filled_notional: Decimal::ZERO,
        avg_fill_price: None,
        fee: Decimal::ZERO,
        fee_currency: Some(symbol.quote().to_owned()),
        reason: None,
    }
}
