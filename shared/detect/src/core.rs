//! The detector core: it owns the book store and the episodes, and runs the
//! one skeleton every strategy shares (filter the venue, store the book, ask
//! the strategy what the new book changes, turn each evaluation into episode
//! messages, close what went stale). A [`Strategy`] only evaluates.

use arb_contract::codec::Message;
use arb_contract::time::Timestamp;
use arb_contract::{BookSnapshot, FeedStatus, Opportunity, OpportunityKind};

use crate::book_store::{BookStore, Insert, SlotId};
use crate::episode::{Episodes, Evaluation, Tolerance};
use crate::settings::DetectorConfig;

/// A pure opportunity detector: books and feed states in, episode messages
/// out. No clock reads and no I/O; the caller stamps receive and publish times.
pub trait Detector: Send {
    /// Takes the latest book of a venue and symbol; returns the episode
    /// messages (open / update / close) it causes.
    fn on_book(&mut self, book: &BookSnapshot) -> Vec<Opportunity>;

    /// A resync or disconnect closes the episodes that use the feed's books.
    fn on_status(&mut self, status: &FeedStatus) -> Vec<Opportunity>;

    /// Closes every open episode (at shutdown), at the newest event time seen.
    fn close_all(&mut self) -> Vec<Opportunity>;

    fn open_episodes(&self) -> usize;
}

/// What a strategy says about one opportunity: its key and its evaluation
/// (`None`: it does not clear the threshold now).
pub type Emit<'a> = dyn FnMut(&str, Option<Evaluation>) + 'a;

/// How one kind of opportunity is found and priced on the latest books.
pub trait Strategy: Send {
    const KIND: OpportunityKind;

    fn new(cfg: &DetectorConfig) -> Self;

    /// The book of `slot` changed (`new`: its first book). Emit every
    /// opportunity it is an input of, evaluated on `store`.
    fn evaluate(&mut self, store: &BookStore, slot: SlotId, new: bool, emit: &mut Emit<'_>);
}

/// A strategy with its books and episodes.
pub struct DetectorCore<S> {
    cfg: DetectorConfig,
    store: BookStore,
    episodes: Episodes,
    strategy: S,
}

impl<S: Strategy> DetectorCore<S> {
    pub fn new(cfg: DetectorConfig) -> Self {
        DetectorCore {
            store: BookStore::new(cfg.depth_levels, cfg.max_book_age),
            episodes: Episodes::new(Tolerance {
                edge_bps: cfg.edge_tolerance_bps,
                size: cfg.size_tolerance,
            }),
            strategy: S::new(&cfg),
            cfg,
        }
    }

    pub fn store(&self) -> &BookStore {
        &self.store
    }

    pub fn strategy(&self) -> &S {
        &self.strategy
    }

    /// Closes the episodes that use a book now older than the age limit, at
    /// event time `at`.
    fn close_stale(&mut self, at: Timestamp) -> Vec<Opportunity> {
        match self.store.stale_before() {
            Some(cut) => self.episodes.close_stale(cut, at),
            None => Vec::new(),
        }
    }
}

impl<S: Strategy> Detector for DetectorCore<S> {
    fn on_book(&mut self, book: &BookSnapshot) -> Vec<Opportunity> {
        if !self.cfg.venue_allowed(&book.venue) {
            return Vec::new();
        }
        let at = book.event_time();
        let mut out = Vec::new();
        if let Insert::Stored { slot, new } = self.store.insert(book) {
            let episodes = &mut self.episodes;
            let mut emit = |key: &str, eval: Option<Evaluation>| {
                out.extend(episodes.observe(S::KIND, key, eval, at));
            };
            self.strategy.evaluate(&self.store, slot, new, &mut emit);
        }
        out.extend(self.close_stale(at));
        out
    }

    fn on_status(&mut self, status: &FeedStatus) -> Vec<Opportunity> {
        let hit = self.store.apply_status(status);
        if hit.is_empty() {
            return Vec::new();
        }
        let at = self.store.newest().unwrap_or(status.ts);
        self.episodes
            .close_where(at, |inputs, _| inputs.iter().any(|i| hit.contains(i)))
    }

    fn close_all(&mut self) -> Vec<Opportunity> {
        match self.store.newest() {
            Some(at) => self.episodes.close_where(at, |_, _| true),
            None => Vec::new(),
        }
    }

    fn open_episodes(&self) -> usize {
        self.episodes.open_count()
    }
}
