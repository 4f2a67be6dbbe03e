#![allow(unused_crate_dependencies)]
//! How fast Kraken-style updates apply to a local book, per core: the sorted
//! `Vec` the feed uses, a best-first `VecDeque`, a `BTreeMap`, and a naive `Vec` re-sorted on every
//! update, for full books of 10 and 1,000 levels, with and without the CRC32 checksum after
//! every message. Run: `cargo bench -p arb-venues --bench book`.

use std::collections::{BTreeMap, VecDeque};
use std::hint::black_box;
use std::time::{Duration, Instant};

use arb_contract::Level;
use arb_venues::book::{BookSideKind, OrderBook};
use arb_venues::kraken::checksum::{Precision, checksum, checksum_levels};
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

/// Each cell is the best of `ROUNDS` runs of `RUN_FOR`, rounds interleaved
/// across structures, so a burst of load from another process on a shared
/// machine does not decide the race.
const RUN_FOR: Duration = Duration::from_millis(300);
const ROUNDS: usize = 4;
const UPDATES: usize = 200_000;

#[derive(Clone, Copy)]
struct Update {
    side: BookSideKind,
    price: Decimal,
    qty: Decimal,
}

/// Starting levels and a stream of one-level updates, most near the top,
/// 30% deletes, the way Kraken's `book` channel sends them.
fn workload(depth: usize) -> (Vec<Level>, Vec<Level>, Vec<Update>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(depth as u64);
    let mid: i64 = 450_000; // 45000.0 with one decimal
    let bids = (0..depth as i64)
        .map(|i| {
            Level::new(
                Decimal::new(mid - 1 - i, 1),
                Decimal::new(rng.random_range(1..200_000_000), 8),
            )
        })
        .collect();
    let asks = (0..depth as i64)
        .map(|i| {
            Level::new(
                Decimal::new(mid + i, 1),
                Decimal::new(rng.random_range(1..200_000_000), 8),
            )
        })
        .collect();
    // A full book, as Kraken keeps it: a delete inside the depth is followed
    // by the level that comes into scope at the bottom; an insert pushes the
    // worst level out.
    let mut updates = Vec::with_capacity(UPDATES + UPDATES / 2);
    while updates.len() < UPDATES {
        let r: f64 = rng.random();
        let k = (r * r * r * depth as f64) as i64;
        let bid = rng.random_bool(0.5);
        let side = if bid {
            BookSideKind::Bid
        } else {
            BookSideKind::Ask
        };
        let at = |k: i64| {
            if bid {
                Decimal::new(mid - 1 - k, 1)
            } else {
                Decimal::new(mid + k, 1)
            }
        };
        let qty = if rng.random_bool(0.3) {
            Decimal::ZERO
        } else {
            Decimal::new(rng.random_range(1..200_000_000), 8)
        };
        updates.push(Update {
            side,
            price: at(k),
            qty,
        });
        if qty.is_zero() {
            let refill = at(depth as i64 + rng.random_range(0..3));
            updates.push(Update {
                side,
                price: refill,
                qty: Decimal::new(rng.random_range(1..200_000_000), 8),
            });
        }
    }
    (bids, asks, updates)
}

const PREC: Precision = Precision {
    price: Some(1),
    qty: Some(8),
};

/// The checksum of two sides held best first as levels.
fn checksum_sides<'a>(
    asks: impl Iterator<Item = &'a Level>,
    bids: impl Iterator<Item = &'a Level>,
) -> u32 {
    let pair = |l: &Level| (l.price, l.qty);
    checksum_levels(asks.map(pair), bids.map(pair), PREC)
}

trait Book {
    fn load(depth: usize, bids: &[Level], asks: &[Level]) -> Self;
    fn apply(&mut self, u: &Update);
    fn checksum(&self) -> u32;
}

struct Sorted(OrderBook);
impl Book for Sorted {
    fn load(depth: usize, bids: &[Level], asks: &[Level]) -> Self {
        let mut b = OrderBook::new(depth);
        b.reset(bids, asks);
        Sorted(b)
    }
    #[inline]
    fn apply(&mut self, u: &Update) {
        self.0.apply(u.side, u.price, u.qty);
        self.0.truncate();
    }
    fn checksum(&self) -> u32 {
        checksum(&self.0, PREC)
    }
}

/// The alternative tried: a `VecDeque` stored best first, so truncation pops
/// from the back and inserts near the top shift only the levels in front.
struct BestFirstDeque {
    depth: usize,
    bids: VecDeque<Level>,
    asks: VecDeque<Level>,
}
impl Book for BestFirstDeque {
    fn load(depth: usize, bids: &[Level], asks: &[Level]) -> Self {
        let mut b = BestFirstDeque {
            depth,
            bids: VecDeque::new(),
            asks: VecDeque::new(),
        };
        for l in bids {
            b.apply(&Update {
                side: BookSideKind::Bid,
                price: l.price,
                qty: l.qty,
            });
        }
        for l in asks {
            b.apply(&Update {
                side: BookSideKind::Ask,
                price: l.price,
                qty: l.qty,
            });
        }
        b
    }
    #[inline]
    fn apply(&mut self, u: &Update) {
        let bid = u.side == BookSideKind::Bid;
        let side = if bid { &mut self.bids } else { &mut self.asks };
        let found = if bid {
            side.binary_search_by(|l| u.price.cmp(&l.price))
        } else {
            side.binary_search_by(|l| l.price.cmp(&u.price))
        };
        match found {
            Ok(i) if u.qty.is_zero() => {
                side.remove(i);
            }
            Ok(i) => side[i].qty = u.qty,
            Err(_) if u.qty.is_zero() => {}
            Err(i) => side.insert(i, Level::new(u.price, u.qty)),
        }
        side.truncate(self.depth);
    }
    fn checksum(&self) -> u32 {
        checksum_sides(self.asks.iter(), self.bids.iter())
    }
}

struct Tree {
    depth: usize,
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}
impl Book for Tree {
    fn load(depth: usize, bids: &[Level], asks: &[Level]) -> Self {
        Tree {
            depth,
            bids: bids.iter().map(|l| (l.price, l.qty)).collect(),
            asks: asks.iter().map(|l| (l.price, l.qty)).collect(),
        }
    }
    #[inline]
    fn apply(&mut self, u: &Update) {
        let side = match u.side {
            BookSideKind::Bid => &mut self.bids,
            BookSideKind::Ask => &mut self.asks,
        };
        if u.qty.is_zero() {
            side.remove(&u.price);
        } else {
            side.insert(u.price, u.qty);
        }
        while self.bids.len() > self.depth {
            self.bids.pop_first();
        }
        while self.asks.len() > self.depth {
            self.asks.pop_last();
        }
    }
    fn checksum(&self) -> u32 {
        checksum_levels(
            self.asks.iter().map(|(p, q)| (*p, *q)),
            self.bids.iter().rev().map(|(p, q)| (*p, *q)),
            PREC,
        )
    }
}

/// The baseline: find linearly, change, re-sort the whole side, truncate.
struct Naive {
    depth: usize,
    bids: Vec<Level>,
    asks: Vec<Level>,
}
impl Book for Naive {
    fn load(depth: usize, bids: &[Level], asks: &[Level]) -> Self {
        Naive {
            depth,
            bids: bids.to_vec(),
            asks: asks.to_vec(),
        }
    }
    #[inline]
    fn apply(&mut self, u: &Update) {
        let bid = u.side == BookSideKind::Bid;
        let side = if bid { &mut self.bids } else { &mut self.asks };
        match side.iter().position(|l| l.price == u.price) {
            Some(i) if u.qty.is_zero() => {
                side.remove(i);
            }
            Some(i) => side[i].qty = u.qty,
            None if u.qty.is_zero() => {}
            None => side.push(Level::new(u.price, u.qty)),
        }
        if bid {
            side.sort_by_key(|l| std::cmp::Reverse(l.price));
        } else {
            side.sort_by_key(|l| l.price);
        }
        side.truncate(self.depth);
    }
    fn checksum(&self) -> u32 {
        checksum_sides(self.asks.iter(), self.bids.iter())
    }
}

fn measure<B: Book>(depth: usize, with_checksum: bool) -> f64 {
    let (bids, asks, updates) = workload(depth);
    let mut book = B::load(depth, &bids, &asks);
    let mut n: u64 = 0;
    let mut acc = 0u32;
    let start = Instant::now();
    while start.elapsed() < RUN_FOR {
        for u in &updates {
            book.apply(black_box(u));
            if with_checksum {
                acc = acc.wrapping_add(book.checksum());
            }
        }
        n += updates.len() as u64;
    }
    black_box(acc);
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    // Same answers from the three books, so the race is fair.
    for depth in [10, 1000] {
        let (bids, asks, updates) = workload(depth);
        let mut e = BestFirstDeque::load(depth, &bids, &asks);
        let (mut a, mut b, mut c) = (
            Sorted::load(depth, &bids, &asks),
            Tree::load(depth, &bids, &asks),
            Naive::load(depth, &bids, &asks),
        );
        for u in updates.iter().take(20_000) {
            a.apply(u);
            b.apply(u);
            c.apply(u);
            e.apply(u);
            let x = a.checksum();
            assert_eq!(x, e.checksum());
            assert_eq!(x, b.checksum());
            assert_eq!(x, c.checksum());
        }
    }
    println!("Kraken-style book updates, one core, best of {ROUNDS} x {RUN_FOR:?} per cell");
    println!(
        "{:<28} {:>7} {:>9} {:>14} {:>9}",
        "structure", "levels", "checksum", "updates/s", "x naive"
    );
    for depth in [10usize, 1000] {
        for with_checksum in [false, true] {
            let (mut naive, mut sorted, mut tree, mut deque) = (0f64, 0f64, 0f64, 0f64);
            for _ in 0..ROUNDS {
                naive = naive.max(measure::<Naive>(depth, with_checksum));
                sorted = sorted.max(measure::<Sorted>(depth, with_checksum));
                tree = tree.max(measure::<Tree>(depth, with_checksum));
                deque = deque.max(measure::<BestFirstDeque>(depth, with_checksum));
            }
            let cs = if with_checksum { "yes" } else { "no" };
            for (name, v) in [
                ("sorted Vec (arb-venues)", sorted),
                ("sorted VecDeque, best first", deque),
                ("BTreeMap", tree),
                ("naive Vec re-sort", naive),
            ] {
                println!(
                    "{:<28} {:>7} {:>9} {:>14.0} {:>9.1}",
                    name,
                    depth,
                    cs,
                    v,
                    v / naive
                );
            }
        }
    }
}
