//! Triangular detector: the triangles through a start currency that each
//! symbol of a venue belongs to ([`graph`]), found once when the symbol's
//! first book arrives; on an update, only those triangles, in both
//! directions, sized through the three books' depth with taker fees
//! ([`walk`]).
//!
//! A top-of-book pre-screen in f64 skips cycles that cannot clear the
//! threshold (walking deeper only makes rates worse); every reported number
//! is computed in `Decimal`.

pub mod graph;
pub mod walk;

use arb_contract::{Level, OpportunityKind, OpportunityLeg, Side};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::book_store::{BookStore, SlotId};
use crate::core::{DetectorCore, Emit, Strategy};
use crate::episode::Evaluation;
use crate::rounding::{PRICE_DP, QTY_DP};
use crate::settings::DetectorConfig;
pub use graph::{Cycle, Leg, TriangleGraph};
pub use walk::{CycleFill, Dir, LegFill, best_cycle};

/// The triangular strategy.
pub struct Triangular {
    cfg: DetectorConfig,
    graph: TriangleGraph,
    min_edge_f64: f64,
    cycles_considered: u64,
    cycles_priced: u64,
}

/// The triangular detector.
pub type TriangularDetector = DetectorCore<Triangular>;

impl Triangular {
    pub fn triangle_count(&self) -> usize {
        self.graph.triangle_count()
    }

    /// Cycles looked at (two per touched triangle per update).
    pub fn cycles_considered(&self) -> u64 {
        self.cycles_considered
    }

    /// Cycles that passed the pre-screen and were walked in Decimal.
    pub fn cycles_priced(&self) -> u64 {
        self.cycles_priced
    }

    fn evaluate_cycle(&mut self, store: &BookStore, t: usize, c: usize) -> Option<Evaluation> {
        self.cycles_considered += 1;
        let cycle = self.graph.cycle(t, c);
        if !cycle.legs.iter().all(|l| store.usable(l.slot)) {
            return None;
        }
        // NaN (an empty side) fails this comparison too. The margin keeps
        // f64 rounding from skipping a cycle that just clears the threshold.
        let headroom = self.graph.top_rate(store, cycle) - 1.0 - (self.min_edge_f64 - 1e-9);
        if headroom.is_nan() || headroom <= 0.0 {
            return None;
        }
        self.cycles_priced += 1;
        let books = cycle.legs.map(|l| {
            let s = store.slot(l.slot);
            let levels: &[Level] = match l.dir {
                Dir::Buy => &s.asks,
                Dir::Sell => &s.bids,
            };
            (levels, l.dir, Decimal::ONE - self.graph.fee_mult(l.slot).0)
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
                let s = store.slot(l.slot);
                OpportunityLeg {
                    venue: store.venue_name(s.venue).to_owned(),
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
                    fee_rate: Decimal::ONE - self.graph.fee_mult(l.slot).0,
                }
            })
            .collect();
        let oldest = cycle
            .legs
            .iter()
            .map(|l| store.slot(l.slot).event_ts)
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

impl Strategy for Triangular {
    const KIND: OpportunityKind = OpportunityKind::Triangular;

    fn new(cfg: &DetectorConfig) -> Self {
        Triangular {
            graph: TriangleGraph::new(cfg.fees.clone(), cfg.start_currencies.clone()),
            min_edge_f64: cfg.min_net_edge_bps.to_f64().unwrap_or(0.0) / 1e4,
            cycles_considered: 0,
            cycles_priced: 0,
            cfg: cfg.clone(),
        }
    }

    fn evaluate(&mut self, store: &BookStore, slot: SlotId, new: bool, emit: &mut Emit<'_>) {
        if new {
            self.graph.add_slot(store, slot);
        }
        for i in 0..self.graph.triangles_of(slot).len() {
            let t = self.graph.triangles_of(slot)[i];
            for c in 0..2 {
                let eval = self.evaluate_cycle(store, t, c);
                emit(&self.graph.cycle(t, c).key, eval);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book_store::tests::{dec, nothing, only, top};
    use crate::core::Detector;
    use crate::settings::Fees;
    use crate::settings::tests::config;
    use arb_contract::EpisodeState;
    use std::time::Duration;

    fn cfg() -> DetectorConfig {
        DetectorConfig {
            start_currencies: vec!["USD".into()],
            ..config(
                Duration::from_secs(5),
                dec("1000"),
                Fees::flat(dec("0.001")),
            )
        }
    }

    #[test]
    fn detector_finds_the_triangle_in_the_paying_direction_only() {
        let mut d = TriangularDetector::new(cfg());
        nothing(d.on_book(&top("v", "BTC/USD", 0, ("99", "1"), ("100", "1"))));
        nothing(d.on_book(&top("v", "ETH/BTC", 0, ("0.049", "10"), ("0.05", "10"))));
        assert_eq!(d.strategy().triangle_count(), 0);
        let out = d.on_book(&top("v", "ETH/USD", 0, ("5.1", "100"), ("5.2", "100")));
        assert_eq!(d.strategy().triangle_count(), 1);
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
        let out = only(
            d.on_book(&top("v", "ETH/USD", 10, ("5.0", "100"), ("5.2", "100"))),
            EpisodeState::Close,
        );
        assert_eq!(out.episode_id, o.episode_id);
    }

    #[test]
    fn reverse_direction_is_found() {
        // USD → ETH (ask 4.9), ETH → BTC (bid 0.05), BTC → USD (bid 100):
        // (1 / 4.9) × 0.05 × 100 = 1.0204 → 204.08 bp gross.
        let mut d = TriangularDetector::new(DetectorConfig {
            fees: Fees::flat(dec("0")),
            ..cfg()
        });
        d.on_book(&top("v", "BTC/USD", 0, ("100", "1"), ("101", "1")));
        d.on_book(&top("v", "ETH/BTC", 0, ("0.05", "100"), ("0.051", "10")));
        let out = d.on_book(&top("v", "ETH/USD", 0, ("4.8", "100"), ("4.9", "100")));
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
        let flat =
            |sym: &str, ms: i64, bid: &str, ask: &str| top("v", sym, ms, (bid, "1"), (ask, "1"));
        d.on_book(&flat("BTC/USD", 0, "99", "100"));
        d.on_book(&flat("ETH/USD", 0, "4.9", "5"));
        d.on_book(&flat("SOL/USD", 0, "0.9", "1"));
        d.on_book(&flat("ETH/BTC", 0, "0.049", "0.05"));
        d.on_book(&flat("SOL/BTC", 0, "0.0099", "0.01"));
        d.on_book(&flat("DOGE/EUR", 0, "1", "2"));
        // Triangles: USD-BTC-ETH, USD-BTC-SOL (ETH and SOL share no symbol).
        assert_eq!(d.strategy().triangle_count(), 2);
        let before = d.strategy().cycles_considered();
        d.on_book(&flat("ETH/BTC", 1, "0.049", "0.05"));
        assert_eq!(
            d.strategy().cycles_considered() - before,
            2,
            "one triangle, both ways"
        );
        let before = d.strategy().cycles_considered();
        d.on_book(&flat("BTC/USD", 1, "99", "100"));
        assert_eq!(
            d.strategy().cycles_considered() - before,
            4,
            "two triangles, both ways"
        );
        let before = d.strategy().cycles_considered();
        d.on_book(&flat("DOGE/EUR", 1, "1", "2"));
        assert_eq!(d.strategy().cycles_considered(), before, "no triangle");
        // None of these pays, so the f64 pre-screen kept them out of Decimal.
        assert_eq!(d.strategy().cycles_priced(), 0);
    }

    #[test]
    fn triangles_completed_by_one_book_come_in_currency_order() {
        // BTC/USD comes last and completes two triangles at once: their
        // order (the order their cycles are evaluated and their messages
        // come out in) must not depend on a hash map's iteration order.
        let mut d = TriangularDetector::new(cfg());
        let flat =
            |sym: &str, ms: i64, bid: &str, ask: &str| top("v", sym, ms, (bid, "1"), (ask, "1"));
        d.on_book(&flat("SOL/BTC", 0, "0.0099", "0.01"));
        d.on_book(&flat("ETH/BTC", 0, "0.049", "0.05"));
        d.on_book(&flat("XRP/BTC", 0, "0.0099", "0.01"));
        d.on_book(&flat("SOL/USD", 0, "0.9", "1"));
        d.on_book(&flat("XRP/USD", 0, "0.9", "1"));
        d.on_book(&flat("ETH/USD", 0, "4.9", "5"));
        assert_eq!(d.strategy().triangle_count(), 0);
        d.on_book(&flat("BTC/USD", 0, "99", "100"));
        let g = &d.strategy().graph;
        let keys: Vec<&str> = (0..g.triangle_count())
            .map(|t| g.cycle(t, 0).key.as_str())
            .collect();
        assert_eq!(keys, ["v_USD-BTC-ETH", "v_USD-BTC-SOL", "v_USD-BTC-XRP"]);
    }

    #[test]
    fn other_venue_books_do_not_make_a_triangle() {
        let mut d = TriangularDetector::new(cfg());
        d.on_book(&top("a", "BTC/USD", 0, ("99", "1"), ("100", "1")));
        d.on_book(&top("a", "ETH/BTC", 0, ("0.049", "10"), ("0.05", "10")));
        let out = d.on_book(&top("b", "ETH/USD", 0, ("5.1", "100"), ("5.2", "100")));
        assert!(out.is_empty());
        assert_eq!(d.strategy().triangle_count(), 0);
    }
}
