//! The latest book per venue and symbol, and the rules for whether a book may
//! be used: not crossed, not from a feed in resync, not stale in event time.
//!
//! Staleness is judged against the newest event time the store has seen, not
//! the wall clock, so a replay of the same books gives the same answers.

use std::time::Duration;

use arb_contract::codec::Message;
use arb_contract::time::Timestamp;
use arb_contract::{BookSnapshot, FeedState, FeedStatus, Level, Symbol};

use crate::FastMap;

/// Index of a (venue, symbol) book in the store; stable for the store's life.
pub type SlotId = usize;

/// The latest book of one venue and symbol, cut to the configured depth.
#[derive(Debug, Clone)]
pub struct Slot {
    pub venue: usize,
    pub symbol: Symbol,
    /// Best first, as in [`BookSnapshot`]; levels with a non-positive price
    /// or size are dropped.
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    /// Event time of the book (exchange time, else the feed's receive time).
    pub event_ts: Timestamp,
    pub crossed: bool,
    /// The feed said this symbol is in resync; cleared by the next book.
    pub blocked: bool,
    /// Best bid and ask as f64 (NaN when a side is empty), for cheap pre-screens.
    pub top_bid: f64,
    pub top_ask: f64,
    book_seq: u64,
    /// Index of its symbol's list in the store's `peers`, so that a
    /// strategy finds the slot's peers without hashing the symbol again.
    peers: usize,
}

#[derive(Debug, Clone)]
struct Venue {
    name: String,
    symbols: FastMap<Symbol, SlotId>,
    /// Books stored before this sequence number predate a venue-wide resync.
    blocked_seq: u64,
}

/// What [`BookStore::insert`] did with a book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// Stored as the latest book of its slot (`new`: the slot did not exist).
    Stored { slot: SlotId, new: bool },
    /// Older (in event time) than the book already held: ignored.
    OutOfOrder,
}

#[derive(Debug, Clone)]
pub struct BookStore {
    depth: usize,
    max_age: chrono::Duration,
    venues: Vec<Venue>,
    venue_idx: FastMap<String, usize>,
    slots: Vec<Slot>,
    /// Per symbol, an index into `peers`.
    by_symbol: FastMap<Symbol, usize>,
    /// Every slot of one symbol, across venues, in the order they came.
    peers: Vec<Vec<SlotId>>,
    newest: Option<Timestamp>,
    /// [`BookStore::stale_before`], worked out when `newest` moves rather
    /// than on each of the many `usable` checks a book causes.
    stale_cut: Option<Timestamp>,
    seq: u64,
}

fn to_f64(d: rust_decimal::Decimal) -> f64 {
    use rust_decimal::prelude::ToPrimitive;
    d.to_f64().unwrap_or(f64::NAN)
}

fn copy_levels(dst: &mut Vec<Level>, src: &[Level], depth: usize) {
    dst.clear();
    dst.extend(
        src.iter()
            .filter(|l| l.price.is_sign_positive() && !l.price.is_zero())
            .filter(|l| l.qty.is_sign_positive() && !l.qty.is_zero())
            .take(depth)
            .copied(),
    );
}

impl BookStore {
    pub fn new(depth: usize, max_age: Duration) -> Self {
        BookStore {
            depth: depth.max(1),
            max_age: chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX),
            venues: Vec::new(),
            venue_idx: FastMap::default(),
            slots: Vec::new(),
            by_symbol: FastMap::default(),
            peers: Vec::new(),
            newest: None,
            stale_cut: None,
            seq: 0,
        }
    }

    fn venue_index(&mut self, name: &str) -> usize {
        if let Some(&i) = self.venue_idx.get(name) {
            return i;
        }
        let i = self.venues.len();
        self.venues.push(Venue {
            name: name.to_owned(),
            symbols: FastMap::default(),
            blocked_seq: 0,
        });
        self.venue_idx.insert(name.to_owned(), i);
        i
    }

    /// Keeps the book if it is not older than the one held for its venue and symbol.
    pub fn insert(&mut self, book: &BookSnapshot) -> Insert {
        let ts = book.event_time();
        if self.newest.is_none_or(|n| ts > n) {
            self.newest = Some(ts);
            self.stale_cut = Some(
                ts.checked_sub_signed(self.max_age)
                    .unwrap_or(Timestamp::MIN_UTC),
            );
        }
        let v = self.venue_index(&book.venue);
        let existing = self.venues[v].symbols.get(&book.symbol).copied();
        let (slot, new) = match existing {
            Some(s) => {
                if ts < self.slots[s].event_ts {
                    return Insert::OutOfOrder;
                }
                (s, false)
            }
            None => {
                let s = self.slots.len();
                let peers = match self.by_symbol.get(&book.symbol) {
                    Some(&p) => p,
                    None => {
                        let p = self.peers.len();
                        self.peers.push(Vec::new());
                        self.by_symbol.insert(book.symbol.clone(), p);
                        p
                    }
                };
                self.peers[peers].push(s);
                self.slots.push(Slot {
                    venue: v,
                    symbol: book.symbol.clone(),
                    bids: Vec::with_capacity(self.depth.min(64)),
                    asks: Vec::with_capacity(self.depth.min(64)),
                    event_ts: ts,
                    crossed: false,
                    blocked: false,
                    top_bid: f64::NAN,
                    top_ask: f64::NAN,
                    book_seq: 0,
                    peers,
                });
                self.venues[v].symbols.insert(book.symbol.clone(), s);
                (s, true)
            }
        };
        self.seq += 1;
        let depth = self.depth;
        let seq = self.seq;
        let sl = &mut self.slots[slot];
        copy_levels(&mut sl.bids, &book.bids, depth);
        copy_levels(&mut sl.asks, &book.asks, depth);
        sl.event_ts = ts;
        sl.crossed = book.is_crossed();
        sl.blocked = false;
        sl.top_bid = sl.bids.first().map_or(f64::NAN, |l| to_f64(l.price));
        sl.top_ask = sl.asks.first().map_or(f64::NAN, |l| to_f64(l.price));
        sl.book_seq = seq;
        Insert::Stored { slot, new }
    }

    /// Marks the books a resync or disconnect makes untrustworthy; returns them.
    /// Other states change nothing: a fresh book lifts the block.
    pub fn apply_status(&mut self, status: &FeedStatus) -> Vec<SlotId> {
        if !matches!(status.state, FeedState::Resync | FeedState::Disconnected) {
            return Vec::new();
        }
        let v = self.venue_index(&status.venue);
        match &status.symbol {
            Some(sym) => match self.venues[v].symbols.get(sym) {
                Some(&s) => {
                    self.slots[s].blocked = true;
                    vec![s]
                }
                None => Vec::new(),
            },
            None => {
                self.seq += 1;
                self.venues[v].blocked_seq = self.seq;
                self.venues[v].symbols.values().copied().collect()
            }
        }
    }

    pub fn slot(&self, s: SlotId) -> &Slot {
        &self.slots[s]
    }

    pub fn venue_name(&self, venue: usize) -> &str {
        &self.venues[venue].name
    }

    /// Every slot of a symbol, across venues.
    pub fn slots_of(&self, symbol: &Symbol) -> &[SlotId] {
        self.by_symbol
            .get(symbol)
            .map_or(&[], |&p| self.peers[p].as_slice())
    }

    /// Every slot of `s`'s symbol, across venues (`s` among them): what
    /// [`BookStore::slots_of`] gives for its symbol, with no lookup.
    pub fn peers(&self, s: SlotId) -> &[SlotId] {
        &self.peers[self.slots[s].peers]
    }

    pub fn newest(&self) -> Option<Timestamp> {
        self.newest
    }

    /// Event times before this are stale.
    pub fn stale_before(&self) -> Option<Timestamp> {
        self.stale_cut
    }

    pub fn is_stale(&self, s: SlotId) -> bool {
        self.stale_before()
            .is_some_and(|cut| self.slots[s].event_ts < cut)
    }

    /// Whether a book may be used: fresh, not crossed, its feed not in resync.
    pub fn usable(&self, s: SlotId) -> bool {
        let sl = &self.slots[s];
        !sl.crossed
            && !sl.blocked
            && sl.book_seq > self.venues[sl.venue].blocked_seq
            && !self.is_stale(s)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use arb_contract::{ChecksumStatus, EpisodeState, Opportunity, ResyncReason};
    use rust_decimal::Decimal;
    use std::str::FromStr;

    pub(crate) fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    /// Levels from `(price, qty)` pairs.
    pub(crate) fn lv(v: &[(&str, &str)]) -> Vec<Level> {
        v.iter().map(|(p, q)| Level::new(dec(p), dec(q))).collect()
    }

    pub(crate) fn at_ms(ms: i64) -> Timestamp {
        arb_contract::time::from_nanos(1_700_000_000_000_000_000 + ms * 1_000_000)
    }

    /// A book from `(price, qty)` pairs, event time `ms` after a fixed epoch.
    pub(crate) fn book(
        venue: &str,
        symbol: &str,
        ms: i64,
        bids: &[(&str, &str)],
        asks: &[(&str, &str)],
    ) -> BookSnapshot {
        BookSnapshot {
            id: arb_contract::ids::derive(at_ms(ms), &[venue.as_bytes(), symbol.as_bytes()]),
            venue: venue.into(),
            symbol: symbol.parse().unwrap(),
            exchange_ts: Some(at_ms(ms)),
            received_ts: at_ms(ms + 1),
            sequence: None,
            checksum: ChecksumStatus::NotProvided,
            bids: lv(bids),
            asks: lv(asks),
        }
    }

    /// A book of one level a side: the best bid and ask as `(price, qty)`.
    pub(crate) fn top(
        venue: &str,
        symbol: &str,
        ms: i64,
        bid: (&str, &str),
        ask: (&str, &str),
    ) -> BookSnapshot {
        book(venue, symbol, ms, &[bid], &[ask])
    }

    #[track_caller]
    pub(crate) fn nothing(out: Vec<Opportunity>) {
        assert!(out.is_empty(), "want no message, got {out:?}");
    }

    /// The one message of `out`, which must be in `state`.
    #[track_caller]
    pub(crate) fn only(out: Vec<Opportunity>, state: EpisodeState) -> Opportunity {
        match <[Opportunity; 1]>::try_from(out) {
            Ok([o]) if o.state == state => o,
            other => panic!("want one {state:?} message, got {other:?}"),
        }
    }

    pub(crate) fn status(venue: &str, symbol: Option<&str>, state: FeedState) -> FeedStatus {
        FeedStatus {
            id: arb_contract::ids::derive(at_ms(0), &[venue.as_bytes(), b"status"]),
            ts: at_ms(0),
            venue: venue.into(),
            symbol: symbol.map(|s| s.parse().unwrap()),
            state,
            reason: Some(ResyncReason::Gap),
            detail: None,
        }
    }

    #[test]
    fn keeps_latest_and_ignores_older_books() {
        let mut st = BookStore::new(10, Duration::from_secs(5));
        let a = st.insert(&top("a", "BTC/USD", 100, ("10", "1"), ("11", "1")));
        assert_eq!(a, Insert::Stored { slot: 0, new: true });
        let b = st.insert(&top("a", "BTC/USD", 200, ("12", "1"), ("13", "1")));
        assert_eq!(
            b,
            Insert::Stored {
                slot: 0,
                new: false
            }
        );
        assert_eq!(
            st.insert(&top("a", "BTC/USD", 150, ("1", "1"), ("2", "1"))),
            Insert::OutOfOrder
        );
        assert_eq!(st.slot(0).bids[0].price, dec("12"));
        assert_eq!(st.slot(0).top_ask, 13.0);
        st.insert(&top("b", "BTC/USD", 200, ("12", "1"), ("13", "1")));
        assert_eq!(st.slots_of(&"BTC/USD".parse().unwrap()), &[0, 1]);
        st.insert(&top("b", "ETH/USD", 200, ("1", "1"), ("2", "1")));
        st.insert(&top("c", "BTC/USD", 200, ("12", "1"), ("13", "1")));
        assert_eq!(st.peers(0), &[0, 1, 3]);
        assert_eq!(st.peers(3), st.slots_of(&"BTC/USD".parse().unwrap()));
        assert_eq!(st.peers(2), &[2]);
        assert!(st.slots_of(&"SOL/USD".parse().unwrap()).is_empty());
    }

    #[test]
    fn crossed_stale_and_resync_books_are_not_usable() {
        let mut st = BookStore::new(10, Duration::from_millis(1000));
        st.insert(&top("a", "BTC/USD", 0, ("10", "1"), ("11", "1")));
        st.insert(&top("b", "BTC/USD", 0, ("11", "1"), ("10", "1")));
        assert!(st.usable(0));
        assert!(!st.usable(1), "crossed");
        // 1.5 s later in event time (another venue's book), a's book is stale.
        st.insert(&top("c", "ETH/USD", 1500, ("1", "1"), ("2", "1")));
        assert!(st.is_stale(0) && !st.usable(0));
        st.insert(&top("a", "BTC/USD", 1500, ("10", "1"), ("11", "1")));
        assert!(st.usable(0));
        // Venue-wide resync blocks until the next book of each symbol.
        assert_eq!(
            st.apply_status(&status("a", None, FeedState::Resync)),
            vec![0]
        );
        assert!(!st.usable(0));
        st.insert(&top("a", "BTC/USD", 1600, ("10", "1"), ("11", "1")));
        assert!(st.usable(0));
        // One symbol's resync, and a harmless state.
        st.apply_status(&status("c", Some("ETH/USD"), FeedState::Subscribed));
        assert!(st.usable(2));
        st.apply_status(&status("c", Some("ETH/USD"), FeedState::Disconnected));
        assert!(!st.usable(2));
    }

    #[test]
    fn drops_bad_levels_and_cuts_depth() {
        let mut st = BookStore::new(2, Duration::from_secs(5));
        st.insert(&book(
            "a",
            "BTC/USD",
            0,
            &[("10", "0"), ("9", "1"), ("8", "1"), ("7", "1")],
            &[("0", "1"), ("11", "1")],
        ));
        let s = st.slot(0);
        assert_eq!(s.bids.len(), 2);
        assert_eq!(s.bids[0].price, dec("9"));
        assert_eq!(s.asks.len(), 1);
    }
}
