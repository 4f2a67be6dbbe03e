//! Triangular detector: per venue, the graph of currencies its symbols
//! connect; the triangles through a start currency that each symbol belongs
//! to, found once when the symbol's first book arrives; on an update, only
//! those triangles, in both directions, sized through the three books' depth
//! with taker fees.
//!
//! A top-of-book pre-screen in f64 skips cycles that cannot clear the
//! threshold (walking deeper only makes rates worse); every reported number
//! is computed in `Decimal`.

use std::collections::HashMap;

use arb_shared::codec::Message;
use arb_shared::{BookSnapshot, Level, Opportunity, OpportunityKind, OpportunityLeg, Side};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::Detector;
use crate::book_store::{BookStore, Insert, SlotId};
use crate::config::DetectorConfig;
use crate::cross::{PRICE_DP, QTY_DP, TEN_K, bps};
use crate::episode::{Episodes, Evaluation, Tolerance};

/// Below this a level's remaining size is treated as used up (rounding dust).
const DUST: Decimal = Decimal::from_parts(1, 0, 0, false, 18);

/// How a leg converts one currency into the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Pay the quote, receive the base: walk the asks.
    Buy,
    /// Pay the base, receive the quote: walk the bids.
    Sell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leg {
    pub slot: SlotId,
    pub dir: Dir,
}

/// One direction around a triangle, from and back to `start`.
#[derive(Debug, Clone)]
pub struct Cycle {
    pub legs: [Leg; 3],
    /// e.g. `sim-a_USD-BTC-ETH`.
    pub key: String,
    pub start: String,
}

#[derive(Debug, Clone)]
struct Triangle {
    cycles: [Cycle; 2],
}

/// What walking one leg's book took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegFill {
    /// Base quantity bought or sold.
    pub base: Decimal,
    /// Quote paid or received, before fees.
    pub quote: Decimal,
    /// Worst level price reached.
    pub limit: Decimal,
}

/// The profit-maximizing amount through a cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CycleFill {
    /// Start currency put in.
    pub input: Decimal,
    /// Start currency out after the three legs and their fees.
    pub output: Decimal,
    pub legs: [LegFill; 3],
}

impl CycleFill {
    /// Output over input without fees, from each leg's average rate, in bp.
    pub fn gross_edge_bps(&self, dirs: [Dir; 3]) -> Decimal {
        let mut r = Decimal::ONE;
        for (l, d) in self.legs.iter().zip(dirs) {
            r *= match d {
                Dir::Buy => l.base / l.quote,
                Dir::Sell => l.quote / l.base,
            };
        }
        bps((r - Decimal::ONE) * TEN_K)
    }

    pub fn net_edge_bps(&self) -> Decimal {
        bps((self.output - self.input) / self.input * TEN_K)
    }

    pub fn profit(&self) -> Decimal {
        (self.output - self.input).round_dp(QTY_DP)
    }
}

struct Walk<'a> {
    levels: &'a [Level],
    dir: Dir,
    fee_mult: Decimal,
    i: usize,
    left: Decimal,
    fill: LegFill,
}

impl<'a> Walk<'a> {
    fn new(levels: &'a [Level], dir: Dir, fee_mult: Decimal) -> Self {
        Walk {
            levels,
            dir,
            fee_mult,
            i: 0,
            left: levels.first().map_or(Decimal::ZERO, |l| l.qty),
            fill: LegFill {
                base: Decimal::ZERO,
                quote: Decimal::ZERO,
                limit: Decimal::ZERO,
            },
        }
    }

    fn done(&self) -> bool {
        self.i >= self.levels.len()
    }

    fn price(&self) -> Decimal {
        self.levels[self.i].price
    }

    /// How much input the current level can take.
    fn cap_in(&self) -> Decimal {
        match self.dir {
            Dir::Buy => self.left * self.price(),
            Dir::Sell => self.left,
        }
    }

    /// Output per unit of input at the current level, after the fee.
    fn rate(&self) -> Decimal {
        match self.dir {
            Dir::Buy => self.fee_mult / self.price(),
            Dir::Sell => self.price() * self.fee_mult,
        }
    }

    fn advance(&mut self) {
        self.i += 1;
        self.left = self.levels.get(self.i).map_or(Decimal::ZERO, |l| l.qty);
    }

    /// Puts `input` through the current level (at most what it holds); returns the output.
    fn take(&mut self, input: Decimal) -> Decimal {
        let p = self.price();
        let (base, quote, full) = match self.dir {
            Dir::Buy => {
                let cap = self.left * p;
                if input >= cap {
                    (self.left, cap, true)
                } else {
                    (input / p, input, false)
                }
            }
            Dir::Sell => {
                if input >= self.left {
                    (self.left, self.left * p, true)
                } else {
                    (input, input * p, false)
                }
            }
        };
        self.fill.base += base;
        self.fill.quote += quote;
        self.fill.limit = p;
        if full {
            self.advance();
        } else {
            self.left -= base;
            if self.left <= DUST {
                self.advance();
            }
        }
        match self.dir {
            Dir::Buy => base * self.fee_mult,
            Dir::Sell => quote * self.fee_mult,
        }
    }
}

/// Steps through the level boundaries of three books, in start-currency
/// terms, while the marginal cycle rate (after fees) is above one, up to
/// `max_input` of the start currency. `None` when not even the first unit pays.
pub fn best_cycle(books: [(&[Level], Dir, Decimal); 3], max_input: Decimal) -> Option<CycleFill> {
    let [a, b, c] = books;
    let mut w = [
        Walk::new(a.0, a.1, Decimal::ONE - a.2),
        Walk::new(b.0, b.1, Decimal::ONE - b.2),
        Walk::new(c.0, c.1, Decimal::ONE - c.2),
    ];
    let (mut input, mut output) = (Decimal::ZERO, Decimal::ZERO);
    let guard = a.0.len() + b.0.len() + c.0.len() + 4;
    for _ in 0..guard {
        if w.iter().any(Walk::done) {
            break;
        }
        let (r1, r2, r3) = (w[0].rate(), w[1].rate(), w[2].rate());
        let r12 = r1 * r2;
        if r12 * r3 <= Decimal::ONE {
            break;
        }
        let mut step = w[0]
            .cap_in()
            .min(w[1].cap_in() / r1)
            .min(w[2].cap_in() / r12);
        let room = max_input - input;
        let last = room <= step;
        if last {
            step = room;
        }
        if step <= Decimal::ZERO {
            break;
        }
        let y1 = w[0].take(step);
        let y2 = w[1].take(y1);
        output += w[2].take(y2);
        input += step;
        if last {
            break;
        }
    }
    if input.is_zero() {
        return None;
    }
    let [f1, f2, f3] = w.map(|w| w.fill);
    Some(CycleFill {
        input,
        output,
        legs: [f1, f2, f3],
    })
}

/// Triangular detector over the latest books.
pub struct TriangularDetector {
    cfg: DetectorConfig,
    store: BookStore,
    episodes: Episodes,
    triangles: Vec<Triangle>,
    /// Triangles each slot is a side of.
    by_slot: Vec<Vec<usize>>,
    /// Per venue: currency → neighbour currency → the slot joining them.
    graph: HashMap<usize, HashMap<String, HashMap<String, SlotId>>>,
    /// Per slot: `1 − fee` in Decimal and f64.
    fee_mult: Vec<(Decimal, f64)>,
    min_edge_f64: f64,
    cycles_considered: u64,
    cycles_priced: u64,
}

impl TriangularDetector {
    pub fn new(cfg: DetectorConfig) -> Self {
        TriangularDetector {
            store: BookStore::new(cfg.depth_levels, cfg.max_book_age),
            episodes: Episodes::new(Tolerance {
                edge_bps: cfg.edge_tolerance_bps,
                size: cfg.size_tolerance,
            }),
            triangles: Vec::new(),
            by_slot: Vec::new(),
            graph: HashMap::new(),
            fee_mult: Vec::new(),
            min_edge_f64: cfg.min_net_edge_bps.to_f64().unwrap_or(0.0) / 1e4,
            cycles_considered: 0,
            cycles_priced: 0,
            cfg,
        }
    }

    pub fn triangle_count(&self) -> usize {
        self.triangles.len()
    }

    /// Cycles looked at (two per touched triangle per update).
    pub fn cycles_considered(&self) -> u64 {
        self.cycles_considered
    }

    /// Cycles that passed the pre-screen and were walked in Decimal.
    pub fn cycles_priced(&self) -> u64 {
        self.cycles_priced
    }

    pub fn store(&self) -> &BookStore {
        &self.store
    }

    /// Adds a new slot's edge to its venue's graph and the triangles it completes.
    fn add_slot(&mut self, slot: SlotId) {
        let (venue, base, quote) = {
            let s = self.store.slot(slot);
            (
                s.venue,
                s.symbol.base().to_owned(),
                s.symbol.quote().to_owned(),
            )
        };
        let fee = self.cfg.fees.rate(self.store.venue_name(venue));
        if self.fee_mult.len() <= slot {
            self.fee_mult.resize(slot + 1, (Decimal::ONE, 1.0));
            self.by_slot.resize(slot + 1, Vec::new());
        }
        let fm = Decimal::ONE - fee;
        self.fee_mult[slot] = (fm, fm.to_f64().unwrap_or(1.0));
        let g = self.graph.entry(venue).or_default();
        if g.get(&base).is_some_and(|n| n.contains_key(&quote)) {
            // Another symbol already joins these two currencies (e.g. the
            // inverse pair): keep the first.
            return;
        }
        g.entry(base.clone())
            .or_default()
            .insert(quote.clone(), slot);
        g.entry(quote.clone())
            .or_default()
            .insert(base.clone(), slot);

        let mut found: Vec<(String, String, String)> = Vec::new();
        for start in &self.cfg.start_currencies {
            let Some(around_start) = g.get(start) else {
                continue;
            };
            if &base == start || &quote == start {
                let x = if &base == start { &quote } else { &base };
                if let Some(around_x) = g.get(x) {
                    for y in around_x.keys() {
                        if y != start && y != x && around_start.contains_key(y) {
                            found.push((start.clone(), x.clone(), y.clone()));
                        }
                    }
                }
            } else if around_start.contains_key(&base) && around_start.contains_key(&quote) {
                found.push((start.clone(), base.clone(), quote.clone()));
            }
        }
        let venue_name = self.store.venue_name(venue).to_owned();
        for (s, x, y) in found {
            let g = &self.graph[&venue];
            let (sx, xy, ys) = (g[&s][&x], g[&x][&y], g[&y][&s]);
            let conv = |slot: SlotId, to: &str| Leg {
                slot,
                dir: if self.store.slot(slot).symbol.base() == to {
                    Dir::Buy
                } else {
                    Dir::Sell
                },
            };
            let forward = Cycle {
                legs: [conv(sx, &x), conv(xy, &y), conv(ys, &s)],
                key: format!("{venue_name}_{s}-{x}-{y}"),
                start: s.clone(),
            };
            let reverse = Cycle {
                legs: [conv(ys, &y), conv(xy, &x), conv(sx, &s)],
                key: format!("{venue_name}_{s}-{y}-{x}"),
                start: s.clone(),
            };
            let t = self.triangles.len();
            self.triangles.push(Triangle {
                cycles: [forward, reverse],
            });
            for sl in [sx, xy, ys] {
                self.by_slot[sl].push(t);
            }
        }
    }

    /// Top-of-book cycle rate after fees, in f64: an upper bound of any
    /// depth-walked rate.
    fn top_rate(&self, cycle: &Cycle) -> f64 {
        let mut r = 1.0;
        for leg in &cycle.legs {
            let s = self.store.slot(leg.slot);
            let fm = self.fee_mult[leg.slot].1;
            r *= match leg.dir {
                Dir::Buy => fm / s.top_ask,
                Dir::Sell => s.top_bid * fm,
            };
        }
        r
    }

    fn evaluate(&mut self, t: usize, c: usize) -> Option<Evaluation> {
        self.cycles_considered += 1;
        let cycle = &self.triangles[t].cycles[c];
        if !cycle.legs.iter().all(|l| self.store.usable(l.slot)) {
            return None;
        }
        // NaN (an empty side) fails this comparison too. The margin keeps
        // f64 rounding from skipping a cycle that just clears the threshold.
        let headroom = self.top_rate(cycle) - 1.0 - (self.min_edge_f64 - 1e-9);
        if headroom.is_nan() || headroom <= 0.0 {
            return None;
        }
        self.cycles_priced += 1;
        let books = cycle.legs.map(|l| {
            let s = self.store.slot(l.slot);
            let levels: &[Level] = match l.dir {
                Dir::Buy => &s.asks,
                Dir::Sell => &s.bids,
            };
            (levels, l.dir, Decimal::ONE - self.fee_mult[l.slot].0)
        });
        let fill = best_cycle(books, self.cfg.max_notional_for(&cycle.start))?;
        let net_edge_bps = fill.net_edge_bps();
        if net_edge_bps <= self.cfg.min_net_edge_bps {
            return None;
        }
        let dirs = cycle.legs.map(|l| l.dir);
        let legs = cycle
            .legs
            .iter()
            .zip(&fill.legs)
            .map(|(l, f)| {
                let s = self.store.slot(l.slot);
                OpportunityLeg {
                    venue: self.store.venue_name(s.venue).to_owned(),
                    symbol: s.symbol.clone(),
                    side: match l.dir {
                        Dir::Buy => Side::Buy,
                        Dir::Sell => Side::Sell,
                    },
                    qty: f
                        .base
                        .round_dp_with_strategy(QTY_DP, RoundingStrategy::ToZero)
                        .normalize(),
                    vwap: (f.quote / f.base).round_dp(PRICE_DP).normalize(),
                    limit_price: Some(f.limit),
                    fee_rate: Decimal::ONE - self.fee_mult[l.slot].0,
                }
            })
            .collect();
        let oldest = cycle
            .legs
            .iter()
            .map(|l| self.store.slot(l.slot).event_ts)
            .min()?;
        Some(Evaluation {
            legs,
            currency: cycle.start.clone(),
            notional: fill
                .input
                .round_dp_with_strategy(QTY_DP, RoundingStrategy::ToZero)
                .normalize(),
            gross_edge_bps: fill.gross_edge_bps(dirs),
            net_edge_bps,
            expected_profit: fill.profit().normalize(),
            inputs: cycle.legs.iter().map(|l| l.slot).collect(),
            oldest_input_ts: oldest,
        })
    }
}

impl Detector for TriangularDetector {
    fn on_book(&mut self, book: &BookSnapshot) -> Vec<Opportunity> {
        if !self.cfg.venue_allowed(&book.venue) {
            return Vec::new();
        }
        let at = book.event_time();
        let mut out = Vec::new();
        if let Insert::Stored { slot, new } = self.store.insert(book) {
            if new {
                self.add_slot(slot);
            }
            for i in 0..self.by_slot[slot].len() {
                let t = self.by_slot[slot][i];
                for c in 0..2 {
                    let eval = self.evaluate(t, c);
                    let key = &self.triangles[t].cycles[c].key;
                    out.extend(
                        self.episodes
                            .observe(OpportunityKind::Triangular, key, eval, at),
                    );
                }
            }
        }
        out.extend(self.close_stale(at));
        out
    }

    fn state(&mut self) -> (&mut BookStore, &mut Episodes) {
        (&mut self.store, &mut self.episodes)
    }

    fn episodes(&self) -> &Episodes {
        &self.episodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book_store::tests::{book, dec, lv};
    use crate::config::Fees;
    use arb_shared::EpisodeState;
    use std::time::Duration;

    #[test]
    fn cycle_with_known_rates_gives_known_edge() {
        // USD → BTC (ask 100), BTC → ETH (ask 0.05), ETH → USD (bid 5.1):
        // 0.01 × 20 × 5.1 = 1.02 → 200 bp before fees.
        let btc_usd = lv(&[("100", "1")]);
        let eth_btc = lv(&[("0.05", "10")]);
        let eth_usd = lv(&[("5.1", "100")]);
        // No fees: ETH/BTC's 10 ETH (0.5 BTC = 50 USD) is the binding depth.
        let f = best_cycle(
            [
                (&btc_usd, Dir::Buy, dec("0")),
                (&eth_btc, Dir::Buy, dec("0")),
                (&eth_usd, Dir::Sell, dec("0")),
            ],
            dec("1000"),
        )
        .unwrap();
        assert_eq!(f.input, dec("50"));
        assert_eq!(f.output, dec("51"));
        assert_eq!(f.profit(), dec("1"));
        assert_eq!(f.net_edge_bps(), dec("200"));
        assert_eq!(
            f.gross_edge_bps([Dir::Buy, Dir::Buy, Dir::Sell]),
            dec("200")
        );
        assert_eq!(
            f.legs.clone().map(|l| (l.base, l.quote)),
            [
                (dec("0.5"), dec("50")),
                (dec("10"), dec("0.5")),
                (dec("10"), dec("51"))
            ]
        );

        // 10 bp on each leg: 1.02 × 0.999³ = 1.01694305898 → 169.4306 bp net,
        // still 200 bp gross. Input 0.5 / 0.00999 = 50.0500500500… USD.
        let fee = dec("0.001");
        let f = best_cycle(
            [
                (&btc_usd, Dir::Buy, fee),
                (&eth_btc, Dir::Buy, fee),
                (&eth_usd, Dir::Sell, fee),
            ],
            dec("1000"),
        )
        .unwrap();
        assert_eq!(f.net_edge_bps(), dec("169.4306"));
        assert_eq!(
            f.gross_edge_bps([Dir::Buy, Dir::Buy, Dir::Sell]),
            dec("200")
        );
        assert_eq!(f.input.round_dp(8), dec("50.05005005"));
        // 10 ETH × 0.999 × 5.1 × 0.999 = 50.898051 out; minus 50.05005005…
        assert_eq!(f.output.round_dp(8), dec("50.898051"));
        assert_eq!(f.profit().round_dp(8), dec("0.84800095"));

        // Max notional caps the input.
        let f = best_cycle(
            [
                (&btc_usd, Dir::Buy, dec("0")),
                (&eth_btc, Dir::Buy, dec("0")),
                (&eth_usd, Dir::Sell, dec("0")),
            ],
            dec("20"),
        )
        .unwrap();
        assert_eq!((f.input, f.output), (dec("20"), dec("20.4")));
    }

    #[test]
    fn depth_stops_where_the_marginal_level_stops_paying() {
        // ETH/BTC's second ask 0.0515: 0.01 × (1 / 0.0515) × 5.1 = 0.9903 < 1,
        // so only the first level is used even though there is more depth.
        // ETH/BTC's third ask would pay again, but the walk never reaches it.
        let btc_usd = lv(&[("100", "10")]);
        let eth_btc = lv(&[("0.05", "10"), ("0.0515", "100")]);
        let eth_usd = lv(&[("5.1", "1000")]);
        let f = best_cycle(
            [
                (&btc_usd, Dir::Buy, dec("0")),
                (&eth_btc, Dir::Buy, dec("0")),
                (&eth_usd, Dir::Sell, dec("0")),
            ],
            dec("100000"),
        )
        .unwrap();
        assert_eq!((f.input, f.output), (dec("50"), dec("51")));
        // A second ETH/BTC level at 0.0505 still pays (1.0099 > 1): it is used.
        let eth_btc = lv(&[("0.05", "10"), ("0.0505", "10"), ("0.0515", "100")]);
        let f = best_cycle(
            [
                (&btc_usd, Dir::Buy, dec("0")),
                (&eth_btc, Dir::Buy, dec("0")),
                (&eth_usd, Dir::Sell, dec("0")),
            ],
            dec("100000"),
        )
        .unwrap();
        // 50 + 50.5 USD in, 20 ETH × 5.1 = 102 out.
        assert_eq!((f.input, f.output), (dec("100.5"), dec("102")));
        assert_eq!(f.legs[1].limit, dec("0.0505"));
        // Nothing pays: None.
        let eth_btc = lv(&[("0.0515", "100")]);
        assert!(
            best_cycle(
                [
                    (&btc_usd, Dir::Buy, dec("0")),
                    (&eth_btc, Dir::Buy, dec("0")),
                    (&eth_usd, Dir::Sell, dec("0")),
                ],
                dec("100000"),
            )
            .is_none()
        );
    }

    fn cfg() -> DetectorConfig {
        DetectorConfig {
            max_book_age: Duration::from_secs(5),
            min_net_edge_bps: dec("5"),
            max_notional: dec("1000"),
            fees: Fees::flat(dec("0.001")),
            edge_tolerance_bps: dec("2"),
            size_tolerance: dec("0.1"),
            start_currencies: vec!["USD".into()],
            ..DetectorConfig::default()
        }
    }

    #[test]
    fn detector_finds_the_triangle_in_the_paying_direction_only() {
        let mut d = TriangularDetector::new(cfg());
        assert!(
            d.on_book(&book("v", "BTC/USD", 0, &[("99", "1")], &[("100", "1")]))
                .is_empty()
        );
        assert!(
            d.on_book(&book(
                "v",
                "ETH/BTC",
                0,
                &[("0.049", "10")],
                &[("0.05", "10")]
            ))
            .is_empty()
        );
        assert_eq!(d.triangle_count(), 0);
        let out = d.on_book(&book(
            "v",
            "ETH/USD",
            0,
            &[("5.1", "100")],
            &[("5.2", "100")],
        ));
        assert_eq!(d.triangle_count(), 1);
        assert_eq!(out.len(), 1, "{out:?}");
        let o = &out[0];
        assert_eq!(
            (o.state, o.kind),
            (EpisodeState::Open, OpportunityKind::Triangular)
        );
        assert_eq!(o.key, "v_USD-BTC-ETH");
        assert_eq!(o.currency, "USD");
        assert_eq!(o.net_edge_bps, dec("169.4306"));
        assert_eq!(o.gross_edge_bps, dec("200"));
        assert_eq!(o.notional, dec("50.05005005"));
        let legs: Vec<(&str, Side)> = o.legs.iter().map(|l| (l.symbol.base(), l.side)).collect();
        assert_eq!(
            legs,
            vec![("BTC", Side::Buy), ("ETH", Side::Buy), ("ETH", Side::Sell)]
        );
        assert_eq!(o.legs[2].vwap, dec("5.1"));
        assert_eq!(o.legs[1].vwap, dec("0.05"));
        // ETH/USD's bid drops to 5.0: the cycle no longer pays and closes.
        let out = d.on_book(&book(
            "v",
            "ETH/USD",
            10,
            &[("5.0", "100")],
            &[("5.2", "100")],
        ));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].state, EpisodeState::Close);
        assert_eq!(out[0].episode_id, o.episode_id);
    }

    #[test]
    fn reverse_direction_is_found() {
        // USD → ETH (ask 4.9), ETH → BTC (bid 0.05), BTC → USD (bid 100):
        // (1 / 4.9) × 0.05 × 100 = 1.0204 → 204.08 bp gross.
        let mut d = TriangularDetector::new(DetectorConfig {
            fees: Fees::flat(dec("0")),
            ..cfg()
        });
        d.on_book(&book("v", "BTC/USD", 0, &[("100", "1")], &[("101", "1")]));
        d.on_book(&book(
            "v",
            "ETH/BTC",
            0,
            &[("0.05", "100")],
            &[("0.051", "10")],
        ));
        let out = d.on_book(&book(
            "v",
            "ETH/USD",
            0,
            &[("4.8", "100")],
            &[("4.9", "100")],
        ));
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].key, "v_USD-ETH-BTC");
        let sides: Vec<Side> = out[0].legs.iter().map(|l| l.side).collect();
        assert_eq!(sides, vec![Side::Buy, Side::Sell, Side::Sell]);
        // Binding depth: BTC/USD 1 BTC = 20 ETH = 98 USD in, 100 USD out.
        assert_eq!(out[0].notional, dec("98"));
        assert_eq!(out[0].expected_profit, dec("2"));
        assert_eq!(out[0].net_edge_bps, dec("204.0816"));
    }

    #[test]
    fn only_triangles_touching_the_symbol_are_evaluated() {
        let mut d = TriangularDetector::new(cfg());
        let flat = |sym: &str, ms: i64, bid: &str, ask: &str| {
            book("v", sym, ms, &[(bid, "1")], &[(ask, "1")])
        };
        d.on_book(&flat("BTC/USD", 0, "99", "100"));
        d.on_book(&flat("ETH/USD", 0, "4.9", "5"));
        d.on_book(&flat("SOL/USD", 0, "0.9", "1"));
        d.on_book(&flat("ETH/BTC", 0, "0.049", "0.05"));
        d.on_book(&flat("SOL/BTC", 0, "0.0099", "0.01"));
        d.on_book(&flat("DOGE/EUR", 0, "1", "2"));
        // Triangles: USD-BTC-ETH, USD-BTC-SOL (ETH and SOL share no symbol).
        assert_eq!(d.triangle_count(), 2);
        let before = d.cycles_considered();
        d.on_book(&flat("ETH/BTC", 1, "0.049", "0.05"));
        assert_eq!(d.cycles_considered() - before, 2, "one triangle, both ways");
        let before = d.cycles_considered();
        d.on_book(&flat("BTC/USD", 1, "99", "100"));
        assert_eq!(
            d.cycles_considered() - before,
            4,
            "two triangles, both ways"
        );
        let before = d.cycles_considered();
        d.on_book(&flat("DOGE/EUR", 1, "1", "2"));
        assert_eq!(d.cycles_considered(), before, "no triangle");
        // None of these pays, so the f64 pre-screen kept them out of Decimal.
        assert_eq!(d.cycles_priced(), 0);
    }

    #[test]
    fn other_venue_books_do_not_make_a_triangle() {
        let mut d = TriangularDetector::new(cfg());
        d.on_book(&book("a", "BTC/USD", 0, &[("99", "1")], &[("100", "1")]));
        d.on_book(&book(
            "a",
            "ETH/BTC",
            0,
            &[("0.049", "10")],
            &[("0.05", "10")],
        ));
        let out = d.on_book(&book(
            "b",
            "ETH/USD",
            0,
            &[("5.1", "100")],
            &[("5.2", "100")],
        ));
        assert!(out.is_empty());
        assert_eq!(d.triangle_count(), 0);
    }
}
