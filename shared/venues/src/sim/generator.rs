//! The simulator's pure generator: several venues quoting the same symbols
//! around a shared random walk of each asset's USD price, each with its own
//! spread and a mean-reverting quote offset, and now and then a dislocation
//! (one venue's quotes jump tens of basis points away) that opens cross-venue
//! and triangular opportunities. Deterministic: the seed and the start time
//! fix every book, event times included. All money is `Decimal`.

use std::collections::BTreeMap;
use std::time::Duration;

use arb_contract::ids;
use arb_contract::model::{BookSnapshot, ChecksumStatus};
use arb_contract::time::Timestamp;
use arb_contract::{Level, Symbol};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::{Decimal, RoundingStrategy};

/// Chance per book that some venue's quotes for some symbol dislocate.
const DISLOCATION_PER_MILLE: u32 = 4;

struct Pair {
    symbol: Symbol,
    price_dp: u32,
    qty_dp: u32,
}

struct SimVenue {
    name: String,
    /// Half the quoted spread, in basis points.
    half_spread_bps: Decimal,
    /// Per symbol: how far this venue's mid sits from the shared mid, in bp.
    offset_bps: Vec<Decimal>,
}

/// Generates books one at a time, round-robin over venues × symbols.
pub struct SimGenerator {
    seed: u64,
    rng: ChaCha8Rng,
    usd: BTreeMap<String, Decimal>,
    pairs: Vec<Pair>,
    venues: Vec<SimVenue>,
    levels: usize,
    start: Timestamp,
    step: Duration,
    n: u64,
    sequence: Vec<u64>,
}

fn fiat(asset: &str) -> Option<Decimal> {
    match asset {
        "USD" | "USDT" | "USDC" | "DAI" => Some(Decimal::ONE),
        "EUR" => Some(Decimal::new(108, 2)),
        "GBP" => Some(Decimal::new(127, 2)),
        _ => None,
    }
}

fn initial_usd(asset: &str, rng: &mut ChaCha8Rng) -> Decimal {
    if let Some(p) = fiat(asset) {
        return p;
    }
    match asset {
        "BTC" => Decimal::new(60_000, 0),
        "ETH" => Decimal::new(3_000, 0),
        "SOL" => Decimal::new(150, 0),
        "XRP" => Decimal::new(6, 1),
        "DOGE" => Decimal::new(15, 2),
        _ => Decimal::new(rng.random_range(1..100_000), 2),
    }
}

/// floor(log10(x)) for x > 0.
fn magnitude(x: Decimal) -> i32 {
    let mut m = 0;
    let mut v = x.abs();
    if v.is_zero() {
        return 0;
    }
    while v >= Decimal::TEN {
        v /= Decimal::TEN;
        m += 1;
    }
    while v < Decimal::ONE {
        v *= Decimal::TEN;
        m -= 1;
    }
    m
}

fn bp(k: i64) -> Decimal {
    Decimal::new(k, 4)
}

impl SimGenerator {
    pub fn new(
        seed: u64,
        venues: &[String],
        symbols: &[Symbol],
        levels: usize,
        start: Timestamp,
        step: Duration,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut usd = BTreeMap::new();
        let mut assets: Vec<&str> = symbols.iter().flat_map(|s| [s.base(), s.quote()]).collect();
        assets.sort_unstable();
        assets.dedup();
        for a in assets {
            let p = initial_usd(a, &mut rng);
            usd.insert(a.to_owned(), p);
        }
        let pairs = symbols
            .iter()
            .map(|s| {
                let mid = usd[s.base()] / usd[s.quote()];
                let base_usd = usd[s.base()];
                Pair {
                    symbol: s.clone(),
                    // About six significant digits of price.
                    price_dp: (5 - magnitude(mid)).clamp(0, 10) as u32,
                    qty_dp: (magnitude(base_usd) + 2).clamp(0, 8) as u32,
                }
            })
            .collect();
        let venues = venues
            .iter()
            .enumerate()
            .map(|(i, name)| SimVenue {
                name: name.clone(),
                half_spread_bps: Decimal::new(5 + 5 * i as i64 % 20, 1),
                offset_bps: vec![Decimal::ZERO; symbols.len()],
            })
            .collect::<Vec<_>>();
        let n_books = venues.len() * symbols.len();
        SimGenerator {
            seed,
            rng,
            usd,
            pairs,
            venues,
            levels: levels.max(1),
            start,
            step,
            n: 0,
            sequence: vec![0; n_books],
        }
    }

    /// The event time of the next book.
    pub fn now(&self) -> Timestamp {
        let nanos = (self.step.as_nanos() as i64).saturating_mul(self.n as i64);
        self.start + chrono::Duration::nanoseconds(nanos)
    }

    fn walk(&mut self) {
        for (asset, p) in self.usd.iter_mut() {
            if fiat(asset).is_some() {
                continue;
            }
            // ±1.5 bp per step.
            let k: i64 = self.rng.random_range(-15..=15);
            *p = (*p * (Decimal::ONE + Decimal::new(k, 5))).round_dp(10);
        }
        for v in &mut self.venues {
            for o in &mut v.offset_bps {
                let noise: i64 = self.rng.random_range(-5..=5);
                *o = (*o * Decimal::new(99, 2) + Decimal::new(noise, 2)).round_dp(4);
            }
        }
        if self.rng.random_range(0..1000) < DISLOCATION_PER_MILLE && !self.venues.is_empty() {
            let v = self.rng.random_range(0..self.venues.len());
            let s = self.rng.random_range(0..self.pairs.len());
            let size: i64 = self.rng.random_range(20..=60);
            let sign = if self.rng.random_bool(0.5) { 1 } else { -1 };
            self.venues[v].offset_bps[s] += Decimal::new(sign * size, 0);
        }
    }

    /// The next book: `(venue, book)`.
    pub fn next_book(&mut self) -> BookSnapshot {
        self.walk();
        let per_venue = self.pairs.len();
        let idx = (self.n as usize) % (self.venues.len() * per_venue);
        let (vi, si) = (idx / per_venue, idx % per_venue);
        let ts = self.now();
        self.n += 1;
        self.sequence[idx] += 1;
        let pair = &self.pairs[si];
        let venue = &self.venues[vi];
        let fair = self.usd[pair.symbol.base()] / self.usd[pair.symbol.quote()];
        let mid = fair * (Decimal::ONE + bp(1) * venue.offset_bps[si]);
        let tick = Decimal::new(1, pair.price_dp);
        let half = (mid * bp(1) * venue.half_spread_bps).max(tick);
        let best_bid = (mid - half)
            .round_dp_with_strategy(pair.price_dp, RoundingStrategy::ToNegativeInfinity);
        let mut best_ask = (mid + half)
            .round_dp_with_strategy(pair.price_dp, RoundingStrategy::ToPositiveInfinity);
        if best_ask <= best_bid {
            best_ask = best_bid + tick;
        }
        let base_usd = self.usd[pair.symbol.base()];
        let (qty_dp, levels, name) = (pair.qty_dp, self.levels, venue.name.clone());
        let symbol = pair.symbol.clone();
        let bids = self.side(best_bid, -tick, base_usd, qty_dp, levels);
        let asks = self.side(best_ask, tick, base_usd, qty_dp, levels);
        let seq = self.sequence[idx];
        let id = ids::derive(
            ts,
            &[
                b"sim",
                &self.seed.to_be_bytes(),
                name.as_bytes(),
                symbol.token().as_bytes(),
                &seq.to_be_bytes(),
            ],
        );
        BookSnapshot {
            id,
            venue: name,
            symbol,
            exchange_ts: Some(ts),
            // Nothing is received from outside: reception is the event time, so
            // a seed gives the same books byte for byte, ids included.
            received_ts: ts,
            sequence: Some(seq),
            checksum: ChecksumStatus::NotProvided,
            bids,
            asks,
        }
    }

    fn side(
        &mut self,
        best: Decimal,
        tick: Decimal,
        base_usd: Decimal,
        qty_dp: u32,
        n: usize,
    ) -> Vec<Level> {
        let mut out = Vec::with_capacity(n);
        let mut price = best;
        for i in 0..n {
            if price <= Decimal::ZERO {
                break;
            }
            // Deeper levels hold more: $2k–$20k at the top, growing with depth.
            let usd = Decimal::from(self.rng.random_range(2_000..20_000) * (i as i64 + 1));
            let qty = (usd / base_usd)
                .round_dp(qty_dp)
                .max(Decimal::new(1, qty_dp));
            out.push(Level::new(price, qty));
            price += tick * Decimal::from(self.rng.random_range(1..=3));
        }
        out
    }

    /// The venue names, in order.
    pub fn venues(&self) -> impl Iterator<Item = &str> {
        self.venues.iter().map(|v| v.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str) -> Symbol {
        s.parse().unwrap()
    }

    fn generator(seed: u64) -> SimGenerator {
        SimGenerator::new(
            seed,
            &["sim-a".into(), "sim-b".into(), "sim-c".into()],
            &[sym("BTC/USD"), sym("ETH/USD"), sym("ETH/BTC")],
            10,
            "2026-01-01T00:00:00Z".parse().unwrap(),
            Duration::from_millis(100),
        )
    }

    fn strip(mut b: BookSnapshot) -> BookSnapshot {
        b.id = uuid::Uuid::nil();
        b
    }

    #[test]
    fn same_seed_same_books_other_seed_other_books() {
        let (mut a, mut b, mut c) = (generator(1), generator(1), generator(2));
        let xs: Vec<_> = (0..500).map(|_| strip(a.next_book())).collect();
        let ys: Vec<_> = (0..500).map(|_| strip(b.next_book())).collect();
        let zs: Vec<_> = (0..500).map(|_| strip(c.next_book())).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn books_are_sane_and_round_robin() {
        let mut g = generator(3);
        let mut last_ts = None;
        for i in 0..2_000 {
            let b = g.next_book();
            let want_venue = ["sim-a", "sim-b", "sim-c"][(i / 3) % 3];
            assert_eq!(b.venue, want_venue);
            assert_eq!(b.bids.len(), 10);
            assert_eq!(b.asks.len(), 10);
            assert!(!b.is_crossed(), "{b:?}");
            assert!(b.bids.windows(2).all(|w| w[0].price > w[1].price));
            assert!(b.asks.windows(2).all(|w| w[0].price < w[1].price));
            assert!(b.bids.iter().chain(&b.asks).all(|l| l.qty > Decimal::ZERO));
            assert!(last_ts < b.exchange_ts);
            last_ts = b.exchange_ts;
        }
    }

    /// Over a while, some venue's bid must exceed another's ask (a cross-venue
    /// opportunity) and the triangle BTC/USD, ETH/BTC, ETH/USD must be off its
    /// no-arbitrage value by more than the spreads at least once.
    #[test]
    fn dislocations_open_cross_and_triangular_opportunities() {
        let mut g = generator(11);
        let mut latest: BTreeMap<(String, String), BookSnapshot> = BTreeMap::new();
        let (mut cross, mut tri) = (false, false);
        for _ in 0..30_000 {
            let b = g.next_book();
            latest.insert((b.venue.clone(), b.symbol.to_string()), b);
            for s in ["BTC/USD", "ETH/USD", "ETH/BTC"] {
                for va in ["sim-a", "sim-b", "sim-c"] {
                    for vb in ["sim-a", "sim-b", "sim-c"] {
                        let (Some(a), Some(b)) = (
                            latest.get(&(va.into(), s.into())),
                            latest.get(&(vb.into(), s.into())),
                        ) else {
                            continue;
                        };
                        if a.bids[0].price > b.asks[0].price {
                            cross = true;
                        }
                    }
                }
            }
            for v in ["sim-a", "sim-b", "sim-c"] {
                let get = |s: &str| latest.get(&(v.to_owned(), s.to_owned()));
                if let (Some(bu), Some(eu), Some(eb)) =
                    (get("BTC/USD"), get("ETH/USD"), get("ETH/BTC"))
                {
                    // USD → BTC (buy at ask) → ETH (buy ETH/BTC at ask) → USD (sell ETH at bid).
                    let fwd = eu.bids[0].price / (bu.asks[0].price * eb.asks[0].price);
                    // USD → ETH → BTC → USD.
                    let rev = (eb.bids[0].price * bu.bids[0].price) / eu.asks[0].price;
                    if fwd > Decimal::ONE || rev > Decimal::ONE {
                        tri = true;
                    }
                }
            }
            if cross && tri {
                break;
            }
        }
        assert!(cross, "no cross-venue opportunity in 30k books");
        assert!(tri, "no triangular opportunity in 30k books");
    }
}
