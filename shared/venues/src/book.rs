//! The local L2 order book every venue adapter keeps: a snapshot, then
//! deltas (absolute quantities, 0 deletes), truncated to the subscribed depth.
//! Pure: no I/O, no clock.
//!
//! Each side is a `Vec` kept sorted from the worst price to the best, so the
//! best level is at the end. Updates cluster at the top of the book, where an
//! insert or delete moves few elements; a lookup is a binary search. Chosen
//! by the benchmark (`cargo bench -p arb-feed --bench book`), which races it
//! against a best-first `VecDeque`, a `BTreeMap` and a naive re-sorted `Vec`
//! on full 10- and 1,000-level books: the `Vec` and the `VecDeque` are level
//! within noise, both ahead of the `BTreeMap` and far ahead of the naive
//! baseline at 1,000 levels; the `Vec` is kept for its contiguous levels
//! (cheap top-N copy and checksum walk) and simpler code.

use arb_contract::model::{BookSnapshot, ChecksumStatus};
use arb_contract::time::Timestamp;
use arb_contract::{Level, Symbol};
use rust_decimal::Decimal;
use std::cmp::Ordering;
use uuid::Uuid;

/// Which side of the book a level belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BookSideKind {
    Bid,
    Ask,
}

/// One side of a book, stored worst → best.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookSide {
    kind: BookSideKind,
    levels: Vec<Level>,
}

impl BookSide {
    pub fn new(kind: BookSideKind) -> Self {
        BookSide {
            kind,
            levels: Vec::new(),
        }
    }

    pub fn kind(&self) -> BookSideKind {
        self.kind
    }

    /// Where `l` sorts relative to `price` in storage order (worst → best).
    #[inline]
    fn order(&self, l: &Level, price: &Decimal) -> Ordering {
        match self.kind {
            BookSideKind::Bid => l.price.cmp(price),
            BookSideKind::Ask => price.cmp(&l.price),
        }
    }

    /// Sets the quantity at `price`; a quantity of zero removes the level.
    #[inline]
    pub fn apply(&mut self, price: Decimal, qty: Decimal) {
        match self.levels.binary_search_by(|l| self.order(l, &price)) {
            Ok(i) => {
                if qty.is_zero() {
                    self.levels.remove(i);
                } else {
                    self.levels[i].qty = qty;
                }
            }
            Err(i) => {
                if !qty.is_zero() {
                    self.levels.insert(i, Level::new(price, qty));
                }
            }
        }
    }

    /// Keeps the best `depth` levels.
    #[inline]
    pub fn truncate(&mut self, depth: usize) {
        let n = self.levels.len();
        if n > depth {
            self.levels.drain(..n - depth);
        }
    }

    pub fn clear(&mut self) {
        self.levels.clear();
    }

    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// Levels best first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Level> + '_ {
        self.levels.iter().rev()
    }

    pub fn best(&self) -> Option<&Level> {
        self.levels.last()
    }

    /// The best `n` levels, best first.
    pub fn top(&self, n: usize) -> Vec<Level> {
        self.iter().take(n).copied().collect()
    }
}

/// A local L2 book, bounded to `max_depth` levels per side after each message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBook {
    pub bids: BookSide,
    pub asks: BookSide,
    max_depth: usize,
}

impl OrderBook {
    pub fn new(max_depth: usize) -> Self {
        OrderBook {
            bids: BookSide::new(BookSideKind::Bid),
            asks: BookSide::new(BookSideKind::Ask),
            max_depth: max_depth.max(1),
        }
    }

    pub fn max_depth(&self) -> usize {
        self.max_depth
    }

    pub fn side_mut(&mut self, kind: BookSideKind) -> &mut BookSide {
        match kind {
            BookSideKind::Bid => &mut self.bids,
            BookSideKind::Ask => &mut self.asks,
        }
    }

    #[inline]
    pub fn apply(&mut self, kind: BookSideKind, price: Decimal, qty: Decimal) {
        self.side_mut(kind).apply(price, qty);
    }

    /// Drops levels beyond the depth; call once after applying a whole message.
    #[inline]
    pub fn truncate(&mut self) {
        self.bids.truncate(self.max_depth);
        self.asks.truncate(self.max_depth);
    }

    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    /// Replaces the book with a snapshot.
    pub fn reset(&mut self, bids: &[Level], asks: &[Level]) {
        self.clear();
        for l in bids {
            self.bids.apply(l.price, l.qty);
        }
        for l in asks {
            self.asks.apply(l.price, l.qty);
        }
        self.truncate();
    }

    /// The top `top` levels as a message of the contract, with the id the
    /// adapter derived for it.
    #[allow(clippy::too_many_arguments)]
    pub fn snapshot(
        &self,
        id: Uuid,
        venue: &str,
        symbol: &Symbol,
        top: usize,
        exchange_ts: Option<Timestamp>,
        received_ts: Timestamp,
        sequence: Option<u64>,
        checksum: ChecksumStatus,
    ) -> BookSnapshot {
        BookSnapshot {
            id,
            venue: venue.to_owned(),
            symbol: symbol.clone(),
            exchange_ts,
            received_ts,
            sequence,
            checksum,
            bids: self.bids.top(top),
            asks: self.asks.top(top),
        }
    }

    /// Best bid at or above best ask.
    pub fn is_crossed(&self) -> bool {
        matches!((self.bids.best(), self.asks.best()), (Some(b), Some(a)) if b.price >= a.price)
    }
}

/// The smallest allowed depth at or above `want` (the largest if none is).
pub fn round_up_depth(want: usize, allowed: &[usize]) -> usize {
    allowed
        .iter()
        .copied()
        .find(|&a| a >= want)
        .or_else(|| allowed.last().copied())
        .unwrap_or(want)
}

#[cfg(test)]
mod tests {
    use super::*;
    use BookSideKind::{Ask, Bid};

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn lv(p: &str, q: &str) -> Level {
        Level::new(d(p), d(q))
    }

    struct Case {
        name: &'static str,
        depth: usize,
        ops: Vec<(BookSideKind, &'static str, &'static str)>,
        bids: Vec<(&'static str, &'static str)>,
        asks: Vec<(&'static str, &'static str)>,
    }

    #[test]
    fn depth_rounds_up_to_what_the_venue_accepts() {
        let kraken = &crate::kraken::DEPTHS[..];
        let binance = &crate::binance::SNAPSHOT_LIMITS[..];
        for (want, allowed, got) in [
            (10, kraken, 10),
            (11, kraken, 25),
            (1, kraken, 10),
            (5000, kraken, 1000),
            (10, binance, 10),
            (30, binance, 50),
        ] {
            assert_eq!(round_up_depth(want, allowed), got, "{want}");
        }
    }

    #[test]
    fn applies_deltas_table() {
        let cases = vec![
            Case {
                name: "inserts sort best first",
                depth: 10,
                ops: vec![
                    (Bid, "99", "1"),
                    (Bid, "101", "2"),
                    (Bid, "100", "3"),
                    (Ask, "103", "1"),
                    (Ask, "102", "2"),
                    (Ask, "104", "3"),
                ],
                bids: vec![("101", "2"), ("100", "3"), ("99", "1")],
                asks: vec![("102", "2"), ("103", "1"), ("104", "3")],
            },
            Case {
                name: "update replaces the quantity",
                depth: 10,
                ops: vec![(Bid, "100", "1"), (Bid, "100", "5")],
                bids: vec![("100", "5")],
                asks: vec![],
            },
            Case {
                name: "zero deletes, zero on a missing level is a no-op",
                depth: 10,
                ops: vec![
                    (Ask, "10", "1"),
                    (Ask, "11", "1"),
                    (Ask, "10", "0"),
                    (Ask, "12", "0.000"),
                ],
                bids: vec![],
                asks: vec![("11", "1")],
            },
            Case {
                name: "equal prices with different scales are one level",
                depth: 10,
                ops: vec![(Bid, "100.0", "1"), (Bid, "100.00", "2")],
                bids: vec![("100", "2")],
                asks: vec![],
            },
            Case {
                name: "truncation keeps the best",
                depth: 2,
                ops: vec![
                    (Bid, "1", "1"),
                    (Bid, "2", "1"),
                    (Bid, "3", "1"),
                    (Ask, "6", "1"),
                    (Ask, "5", "1"),
                    (Ask, "4", "1"),
                ],
                bids: vec![("3", "1"), ("2", "1")],
                asks: vec![("4", "1"), ("5", "1")],
            },
        ];
        for c in cases {
            let mut b = OrderBook::new(c.depth);
            for (side, p, q) in &c.ops {
                b.apply(*side, d(p), d(q));
            }
            b.truncate();
            let want_b: Vec<Level> = c.bids.iter().map(|(p, q)| lv(p, q)).collect();
            let want_a: Vec<Level> = c.asks.iter().map(|(p, q)| lv(p, q)).collect();
            assert_eq!(b.bids.top(100), want_b, "{}", c.name);
            assert_eq!(b.asks.top(100), want_a, "{}", c.name);
        }
    }

    #[test]
    fn reset_replaces_everything_and_detects_crossing() {
        let mut b = OrderBook::new(10);
        b.apply(Bid, d("1"), d("1"));
        b.reset(&[lv("100", "1")], &[lv("101", "1")]);
        assert_eq!(b.bids.top(10), vec![lv("100", "1")]);
        assert!(!b.is_crossed());
        b.apply(Bid, d("101"), d("1"));
        assert!(b.is_crossed());
    }

    /// The sorted-vector book agrees with a trivially correct model on random input.
    #[test]
    fn agrees_with_a_naive_model() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut book = OrderBook::new(25);
        let mut model: std::collections::BTreeMap<Decimal, Decimal> = Default::default();
        for _ in 0..5_000 {
            let price = Decimal::new(rng.random_range(9_000..11_000), 1);
            let qty = if rng.random_bool(0.3) {
                Decimal::ZERO
            } else {
                Decimal::new(rng.random_range(1..1000), 3)
            };
            book.bids.apply(price, qty);
            if qty.is_zero() {
                model.remove(&price);
            } else {
                model.insert(price, qty);
            }
            book.bids.truncate(25);
            while model.len() > 25 {
                let worst = *model.keys().next().unwrap();
                model.remove(&worst);
            }
            let want: Vec<Level> = model
                .iter()
                .rev()
                .map(|(p, q)| Level::new(*p, *q))
                .collect();
            assert_eq!(book.bids.top(25), want);
        }
    }
}
