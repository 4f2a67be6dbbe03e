//! Recent book states per venue and symbol, in event time (issue 12, item
//! 5): an order decided at event time `t` is matched against the first
//! state of its venue's book whose event time is at least `t + latency`, so
//! the executor keeps the states it may still need.
//!
//! The executor pushes every book it receives, asks for the state an order
//! arrives at ([`BookHistory::first_at_or_after`], with the arrival time
//! from [`crate::latency`]) and hands it to [`crate::fill`]. A state is only
//! found once a book at or after that time has arrived, i.e. once the book
//! clock has passed the arrival; until then the order waits. The engine
//! prunes to its `history` setting behind the clock: an arrival older than
//! that (a sequential leg or an unwind after a market went quiet for longer)
//! meets the oldest state still held, so results depend on the setting, the
//! same way in a backtest and live.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use arb_contract::time::Timestamp;
use arb_contract::{BookSnapshot, Message, Symbol};

use crate::FastMap;

/// The held states of one market, oldest first, by event time.
#[derive(Debug, Default)]
struct Market {
    states: VecDeque<BookSnapshot>,
}

/// A market's index in [`BookHistory::markets`].
type MarketId = usize;

/// Book states per venue and symbol, each market's in event-time order.
#[derive(Debug, Default)]
pub struct BookHistory {
    /// Venue → symbol → market, looked up on every push and query.
    index: FastMap<String, FastMap<Symbol, MarketId>>,
    markets: Vec<Market>,
    /// Every market holding more than one state, by the event time of its
    /// oldest: the only ones [`BookHistory::prune_before`] may drop from,
    /// so it looks at none until the horizon passes that time, instead of
    /// at every market on every book. Invariant: a market is here exactly
    /// once while it holds two states or more, keyed by its front state's
    /// event time, and not at all otherwise (the front only changes when
    /// pruning pops it, which re-keys it).
    prunable: BinaryHeap<Reverse<(Timestamp, MarketId)>>,
}

impl BookHistory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Holds `book` as its market's newest state. A book older (in event
    /// time) than the newest held, or the newest again (the same id), is
    /// ignored and `false` returned; one at the same event time is held
    /// after it.
    pub fn push(&mut self, book: BookSnapshot) -> bool {
        let id = match self.id(&book.venue, &book.symbol) {
            Some(id) => id,
            None => self.add_market(&book.venue, &book.symbol),
        };
        let states = &mut self.markets[id].states;
        if let Some(newest) = states.back()
            && (book.event_time() < newest.event_time() || book.id == newest.id)
        {
            return false;
        }
        states.push_back(book);
        if states.len() == 2 {
            let oldest = states[0].event_time();
            self.prunable.push(Reverse((oldest, id)));
        }
        true
    }

    /// A new, empty market: the venue and symbol are copied only here, not
    /// on every push.
    fn add_market(&mut self, venue: &str, symbol: &Symbol) -> MarketId {
        let id = self.markets.len();
        self.markets.push(Market::default());
        self.index
            .entry(venue.to_owned())
            .or_default()
            .insert(symbol.clone(), id);
        id
    }

    fn id(&self, venue: &str, symbol: &Symbol) -> Option<MarketId> {
        self.index
            .get(venue)
            .and_then(|symbols| symbols.get(symbol))
            .copied()
    }

    fn market(&self, venue: &str, symbol: &Symbol) -> Option<&Market> {
        self.id(venue, symbol).map(|id| &self.markets[id])
    }

    /// The first held state of `venue`'s `symbol` book whose event time is
    /// at least `t`; `None` while no state that late has arrived (or the
    /// market is unknown).
    pub fn first_at_or_after(
        &self,
        venue: &str,
        symbol: &Symbol,
        t: Timestamp,
    ) -> Option<&BookSnapshot> {
        let states = &self.market(venue, symbol)?.states;
        states.get(states.partition_point(|b| b.event_time() < t))
    }

    /// The newest held state of a market.
    pub fn latest(&self, venue: &str, symbol: &Symbol) -> Option<&BookSnapshot> {
        self.market(venue, symbol)?.states.back()
    }

    /// How many states are held for a market.
    pub fn len(&self, venue: &str, symbol: &Symbol) -> usize {
        self.market(venue, symbol).map_or(0, |m| m.states.len())
    }

    /// Drops the states older than `horizon` (in event time) in every
    /// market, except each market's newest: the latest book is kept however
    /// old, and later pushes are still checked against it. Returns how many
    /// states were dropped.
    ///
    /// Exactly what looking at every market would drop (the queries after
    /// it answer the same, including for times before the horizon: an
    /// order's arrival may be older than it), at the cost of the markets
    /// that have something to drop: the states are in event-time order, so
    /// a market with nothing older than the horizon at its front has
    /// nothing to drop, and the heap holds the markets by their front.
    pub fn prune_before(&mut self, horizon: Timestamp) -> usize {
        let mut dropped = 0;
        while let Some(&Reverse((oldest, id))) = self.prunable.peek() {
            if oldest >= horizon {
                break;
            }
            self.prunable.pop();
            let states = &mut self.markets[id].states;
            while states.len() > 1 && states.front().is_some_and(|b| b.event_time() < horizon) {
                states.pop_front();
                dropped += 1;
            }
            // Still two or more: back in the heap under its new front,
            // which is at or after the horizon, so this loop moves on.
            if states.len() > 1 {
                let oldest = states[0].event_time();
                self.prunable.push(Reverse((oldest, id)));
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::fill::{Depth, TakerOrder};
    use crate::latency::{Latency, LatencyModel};
    use arb_contract::time::from_nanos;
    use arb_contract::{ChecksumStatus, Level, Side, id_at};
    use rust_decimal::Decimal;
    use uuid::Uuid;

    const T0: i64 = 1_700_000_000_000_000_000;

    fn at(ms: i64) -> Timestamp {
        from_nanos(T0 + ms * 1_000_000)
    }

    fn sym(s: &str) -> Symbol {
        s.parse().expect("a symbol")
    }

    fn d(s: &str) -> Decimal {
        s.parse().expect("a decimal")
    }

    /// State `n` of `venue` BTC/USD with event time `ms`, one ask level.
    fn book(venue: &str, n: u64, ms: i64, ask: (&str, &str)) -> BookSnapshot {
        BookSnapshot {
            id: id_at(at(ms), n),
            venue: venue.into(),
            symbol: sym("BTC/USD"),
            exchange_ts: Some(at(ms)),
            received_ts: at(ms + 1),
            sequence: Some(n),
            checksum: ChecksumStatus::NotProvided,
            bids: vec![Level::new(d("99"), d("1"))],
            asks: vec![Level::new(d(ask.0), d(ask.1))],
        }
    }

    fn ask_of(b: Option<&BookSnapshot>) -> Option<Decimal> {
        b.map(|b| b.asks[0].price)
    }

    fn history(books: impl IntoIterator<Item = BookSnapshot>) -> BookHistory {
        let mut h = BookHistory::new();
        for b in books {
            assert!(h.push(b));
        }
        h
    }

    /// Three states of sim-a BTC/USD, 10 ms apart from 0, asking 100, 101,
    /// 102.
    fn rising_asks() -> [BookSnapshot; 3] {
        [
            book("sim-a", 1, 0, ("100", "1")),
            book("sim-a", 2, 10, ("101", "1")),
            book("sim-a", 3, 20, ("102", "1")),
        ]
    }

    #[test]
    fn first_at_or_after_finds_the_state_an_order_arrives_at() {
        let btc = sym("BTC/USD");
        let h = history(rising_asks());
        let first = |ms| ask_of(h.first_at_or_after("sim-a", &btc, at(ms)));
        assert_eq!(first(-5), Some(d("100")));
        assert_eq!(first(0), Some(d("100")));
        assert_eq!(first(1), Some(d("101")));
        assert_eq!(first(10), Some(d("101")));
        assert_eq!(first(20), Some(d("102")));
        // the book clock has not reached 21 yet
        assert_eq!(first(21), None);
        assert_eq!(h.first_at_or_after("sim-b", &btc, at(0)), None);
        assert_eq!(h.first_at_or_after("sim-a", &sym("ETH/USD"), at(0)), None);
        assert_eq!(ask_of(h.latest("sim-a", &btc)), Some(d("102")));
    }

    #[test]
    fn event_time_is_the_exchange_time_else_the_receive_time() {
        let btc = sym("BTC/USD");
        let mut late = book("sim-a", 1, 0, ("100", "1"));
        late.exchange_ts = None;
        late.received_ts = at(7);
        let h = history([late]);
        assert_eq!(
            h.first_at_or_after("sim-a", &btc, at(7)).map(|b| b.id),
            Some(id_at(at(0), 1))
        );
        assert_eq!(h.first_at_or_after("sim-a", &btc, at(8)), None);
    }

    #[test]
    fn older_and_repeated_books_are_ignored() {
        let btc = sym("BTC/USD");
        let mut h = history([book("sim-a", 2, 10, ("101", "1"))]);
        assert!(!h.push(book("sim-a", 1, 5, ("100", "1"))));
        assert!(!h.push(book("sim-a", 2, 10, ("101", "1"))));
        // the same event time, another state: held after it
        assert!(h.push(book("sim-a", 3, 10, ("103", "1"))));
        assert_eq!(h.len("sim-a", &btc), 2);
        assert_eq!(
            ask_of(h.first_at_or_after("sim-a", &btc, at(10))),
            Some(d("101"))
        );
        assert_eq!(ask_of(h.latest("sim-a", &btc)), Some(d("103")));
        // another venue's older book is its own market
        assert!(h.push(book("sim-b", 1, 5, ("100", "1"))));
        assert_eq!(h.len("sim-b", &btc), 1);
    }

    #[test]
    fn pruning_drops_states_older_than_the_horizon_but_keeps_the_newest() {
        let btc = sym("BTC/USD");
        let mut h = history(rising_asks());
        assert!(h.push(book("sim-b", 1, 0, ("200", "1"))));
        assert_eq!(h.prune_before(at(10)), 1);
        assert_eq!(h.len("sim-a", &btc), 2);
        assert_eq!(
            ask_of(h.first_at_or_after("sim-a", &btc, at(0))),
            Some(d("101"))
        );
        // sim-b's only state is its newest
        assert_eq!(h.len("sim-b", &btc), 1);

        assert_eq!(h.prune_before(at(1_000)), 1);
        assert_eq!(h.len("sim-a", &btc), 1);
        assert_eq!(ask_of(h.latest("sim-a", &btc)), Some(d("102")));
        assert!(!h.push(book("sim-a", 4, 15, ("100", "1"))));
        assert_eq!(h.prune_before(at(1_000)), 0);
        assert_eq!(BookHistory::new().prune_before(at(0)), 0);
    }

    /// The pruning of every market on every call, as it was before the
    /// heap: what [`BookHistory::prune_before`] must match exactly.
    #[derive(Default)]
    struct EveryMarket {
        markets: std::collections::BTreeMap<(String, Symbol), VecDeque<BookSnapshot>>,
    }

    impl EveryMarket {
        fn push(&mut self, book: BookSnapshot) -> bool {
            let states = self
                .markets
                .entry((book.venue.clone(), book.symbol.clone()))
                .or_default();
            if let Some(newest) = states.back()
                && (book.event_time() < newest.event_time() || book.id == newest.id)
            {
                return false;
            }
            states.push_back(book);
            true
        }

        fn prune_before(&mut self, horizon: Timestamp) -> usize {
            let mut dropped = 0;
            for states in self.markets.values_mut() {
                while states.len() > 1 && states.front().is_some_and(|b| b.event_time() < horizon) {
                    states.pop_front();
                    dropped += 1;
                }
            }
            dropped
        }

        fn first_at_or_after(&self, venue: &str, symbol: &Symbol, t: Timestamp) -> Option<Uuid> {
            let states = self.markets.get(&(venue.to_owned(), symbol.clone()))?;
            states
                .get(states.partition_point(|b| b.event_time() < t))
                .map(|b| b.id)
        }
    }

    #[test]
    fn pruning_only_the_markets_due_drops_what_pruning_all_of_them_did() {
        use rand::{Rng, SeedableRng};
        let venues = ["sim-a", "sim-b", "sim-c"];
        let symbols = [sym("BTC/USD"), sym("ETH/USD"), sym("ETH/BTC")];
        for seed in 0..20 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let (mut fast, mut every) = (BookHistory::new(), EveryMarket::default());
            // Books of one market at most a few ms apart, the clock
            // wandering back and forth across markets; a horizon that may
            // move back as well (a book older than the one before it).
            let mut clock = 0i64;
            let history_ms = rng.random_range(0..40);
            for n in 0..2_000u64 {
                let venue = venues[rng.random_range(0..venues.len())];
                let symbol = &symbols[rng.random_range(0..symbols.len())];
                clock += rng.random_range(0..4);
                let ms = clock - rng.random_range(0..10);
                let mut b = book(venue, n, ms, ("100", "1"));
                b.symbol = symbol.clone();
                if rng.random_bool(0.02) {
                    // The same id again: ignored by both.
                    if let Some(last) = every.markets.get(&(venue.to_owned(), symbol.clone())) {
                        b = last.back().unwrap().clone();
                    }
                }
                assert_eq!(fast.push(b.clone()), every.push(b), "seed {seed}, book {n}");
                let horizon = at(ms - history_ms);
                assert_eq!(
                    fast.prune_before(horizon),
                    every.prune_before(horizon),
                    "seed {seed}, book {n}"
                );
                // Arrivals before the horizon too: a sequential leg's or an
                // unwind's may be.
                for _ in 0..3 {
                    let v = venues[rng.random_range(0..venues.len())];
                    let s = &symbols[rng.random_range(0..symbols.len())];
                    let t = at(clock - rng.random_range(-5..60));
                    assert_eq!(
                        fast.first_at_or_after(v, s, t).map(|b| b.id),
                        every.first_at_or_after(v, s, t),
                        "seed {seed}, book {n}"
                    );
                }
            }
            for ((v, s), states) in &every.markets {
                assert_eq!(fast.len(v, s), states.len(), "seed {seed}");
                assert_eq!(fast.latest(v, s).map(|b| b.id), states.back().map(|b| b.id));
            }
        }
    }

    #[test]
    fn a_book_change_between_decision_and_arrival_fills_on_the_later_book() {
        let btc = sym("BTC/USD");
        // decided at 0 on the ask at 100; by the time the order arrives
        // (10 ms later) the ask is 100.5 and thinner
        let h = history([
            book("sim-a", 1, 0, ("100", "2")),
            book("sim-a", 2, 5, ("100.5", "0.4")),
            book("sim-a", 3, 12, ("101", "5")),
        ]);
        let mut latency = LatencyModel::new(
            1,
            "sim-a",
            Latency::new(Duration::from_millis(10), Duration::ZERO),
        );
        let arrival = latency.arrival(at(0));
        assert_eq!(arrival, at(10));
        // the first state at or after 10 ms is the one at 12 ms
        let met = h.first_at_or_after("sim-a", &btc, arrival).unwrap();
        let order = TakerOrder {
            side: Side::Buy,
            qty: d("1"),
            limit: d("100.6"),
            fee_rate: d("0.001"),
        };
        let mut depth = Depth::new();
        let fill = depth.take(met, &order).unwrap();
        assert!(fill.is_empty(), "101 is beyond the limit");

        let wider = TakerOrder {
            limit: d("101.5"),
            ..order
        };
        let fill = depth.take(met, &wider).unwrap();
        assert_eq!(fill.filled, d("1"));
        assert_eq!(fill.notional, d("101"));
        assert_eq!(fill.fee, d("0.101"));
    }
}
