//! Cross-venue detector: for each symbol and each ordered pair of venues, buy
//! on A's asks and sell on B's bids, walked level by level, sized where the
//! marginal unit stops paying after both taker fees, capped by a notional.

use std::collections::HashMap;

use arb_shared::codec::Message;
use arb_shared::{BookSnapshot, Level, Opportunity, OpportunityKind, OpportunityLeg, Side};
use rust_decimal::{Decimal, RoundingStrategy};

use crate::Detector;
use crate::book_store::{BookStore, Insert, SlotId};
use crate::config::DetectorConfig;
use crate::episode::{Episodes, Evaluation, Tolerance};

/// Quantities are cut (toward zero) to this many decimals when a notional cap
/// splits a level, so the cap is never exceeded.
pub const QTY_DP: u32 = 10;
/// Prices (VWAP) are rounded to this many decimals.
pub const PRICE_DP: u32 = 10;
/// Edges are rounded to this many decimals of a basis point.
pub const BPS_DP: u32 = 4;

pub(crate) fn bps(x: Decimal) -> Decimal {
    x.round_dp_with_strategy(BPS_DP, RoundingStrategy::MidpointAwayFromZero)
}

pub(crate) const TEN_K: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// The profit-maximizing fill of buying on `asks` and selling on `bids`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossFill {
    /// Base quantity bought and sold.
    pub qty: Decimal,
    /// Quote paid for the buy, before its fee.
    pub cost: Decimal,
    /// Quote received for the sell, before its fee.
    pub proceeds: Decimal,
    /// Worst ask and bid reached (IOC limits).
    pub buy_limit: Decimal,
    pub sell_limit: Decimal,
    /// `proceeds × (1 − fee_sell) − cost × (1 + fee_buy)`.
    pub net_profit: Decimal,
}

impl CrossFill {
    pub fn vwap_buy(&self) -> Decimal {
        (self.cost / self.qty).round_dp(PRICE_DP)
    }

    pub fn vwap_sell(&self) -> Decimal {
        (self.proceeds / self.qty).round_dp(PRICE_DP)
    }

    /// `(vwap_sell − vwap_buy) / vwap_buy × 10⁴`, computed from the unrounded totals.
    pub fn gross_edge_bps(&self) -> Decimal {
        bps((self.proceeds - self.cost) / self.cost * TEN_K)
    }

    /// Net profit over cost, in basis points.
    pub fn net_edge_bps(&self) -> Decimal {
        bps(self.net_profit / self.cost * TEN_K)
    }
}

/// Walks both books over the merged level boundaries while the marginal unit
/// pays (`bid × (1 − fee_sell) > ask × (1 + fee_buy)`), up to `max_notional`
/// of quote spent on the buy. `None` when not even the first unit pays.
pub fn best_fill(
    asks: &[Level],
    bids: &[Level],
    fee_buy: Decimal,
    fee_sell: Decimal,
    max_notional: Decimal,
) -> Option<CrossFill> {
    let buy_mult = Decimal::ONE + fee_buy;
    let sell_mult = Decimal::ONE - fee_sell;
    let (mut i, mut j) = (0usize, 0usize);
    let mut ask_left = asks.first()?.qty;
    let mut bid_left = bids.first()?.qty;
    let (mut qty, mut cost, mut proceeds) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let (mut buy_limit, mut sell_limit) = (Decimal::ZERO, Decimal::ZERO);
    while i < asks.len() && j < bids.len() {
        let (pa, pb) = (asks[i].price, bids[j].price);
        if pb * sell_mult <= pa * buy_mult {
            break;
        }
        let mut step = ask_left.min(bid_left);
        let room = max_notional - cost;
        let capped = step * pa > room;
        if capped {
            step = (room / pa).round_dp_with_strategy(QTY_DP, RoundingStrategy::ToZero);
        }
        if step > Decimal::ZERO {
            qty += step;
            cost += step * pa;
            proceeds += step * pb;
            buy_limit = pa;
            sell_limit = pb;
        }
        if capped {
            break;
        }
        ask_left -= step;
        bid_left -= step;
        if ask_left.is_zero() {
            i += 1;
            ask_left = asks.get(i).map_or(Decimal::ZERO, |l| l.qty);
        }
        if bid_left.is_zero() {
            j += 1;
            bid_left = bids.get(j).map_or(Decimal::ZERO, |l| l.qty);
        }
    }
    if qty.is_zero() {
        return None;
    }
    Some(CrossFill {
        qty,
        cost,
        proceeds,
        buy_limit,
        sell_limit,
        net_profit: (proceeds * sell_mult - cost * buy_mult).normalize(),
    })
}

/// Cross-venue detector over the latest books.
pub struct CrossDetector {
    cfg: DetectorConfig,
    store: BookStore,
    episodes: Episodes,
    keys: HashMap<(SlotId, SlotId), String>,
}

impl CrossDetector {
    pub fn new(cfg: DetectorConfig) -> Self {
        CrossDetector {
            store: BookStore::new(cfg.depth_levels, cfg.max_book_age),
            episodes: Episodes::new(Tolerance {
                edge_bps: cfg.edge_tolerance_bps,
                size: cfg.size_tolerance,
            }),
            keys: HashMap::new(),
            cfg,
        }
    }

    pub fn store(&self) -> &BookStore {
        &self.store
    }
}

/// Evaluates buying on `a` and selling on `b`; `None` unless it clears the threshold.
fn evaluate(cfg: &DetectorConfig, store: &BookStore, a: SlotId, b: SlotId) -> Option<Evaluation> {
    if !store.usable(a) || !store.usable(b) {
        return None;
    }
    let (sa, sb) = (store.slot(a), store.slot(b));
    // Cheap reject before any Decimal work: the best levels must cross.
    // (NaN from an empty side fails the comparison too.)
    if sb.top_bid.partial_cmp(&sa.top_ask) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let (va, vb) = (store.venue_name(sa.venue), store.venue_name(sb.venue));
    let (fa, fb) = (cfg.fees.rate(va), cfg.fees.rate(vb));
    let cap = cfg.max_notional_for(sa.symbol.quote());
    let fill = best_fill(&sa.asks, &sb.bids, fa, fb, cap)?;
    let net_edge_bps = fill.net_edge_bps();
    if net_edge_bps <= cfg.min_net_edge_bps {
        return None;
    }
    let leg = |venue: &str, side, vwap, limit, fee| OpportunityLeg {
        venue: venue.to_owned(),
        symbol: sa.symbol.clone(),
        side,
        qty: fill.qty.normalize(),
        vwap,
        limit_price: Some(limit),
        fee_rate: fee,
    };
    Some(Evaluation {
        legs: vec![
            leg(va, Side::Buy, fill.vwap_buy(), fill.buy_limit, fa),
            leg(vb, Side::Sell, fill.vwap_sell(), fill.sell_limit, fb),
        ],
        currency: sa.symbol.quote().to_owned(),
        notional: fill.cost.normalize(),
        gross_edge_bps: fill.gross_edge_bps(),
        net_edge_bps,
        expected_profit: fill.net_profit,
        inputs: vec![a, b],
        oldest_input_ts: sa.event_ts.min(sb.event_ts),
    })
}

/// `BTC-USD_sim-a_sim-b`: symbol, buy venue, sell venue.
pub fn cross_key(store: &BookStore, a: SlotId, b: SlotId) -> String {
    let (sa, sb) = (store.slot(a), store.slot(b));
    format!(
        "{}_{}_{}",
        sa.symbol.token(),
        store.venue_name(sa.venue),
        store.venue_name(sb.venue)
    )
}

impl Detector for CrossDetector {
    fn on_book(&mut self, book: &BookSnapshot) -> Vec<Opportunity> {
        if !self.cfg.venue_allowed(&book.venue) {
            return Vec::new();
        }
        let at = book.event_time();
        let mut out = Vec::new();
        if let Insert::Stored { slot, .. } = self.store.insert(book) {
            for &other in self.store.slots_of(&book.symbol) {
                if other == slot {
                    continue;
                }
                for (a, b) in [(slot, other), (other, slot)] {
                    let eval = evaluate(&self.cfg, &self.store, a, b);
                    let key = self
                        .keys
                        .entry((a, b))
                        .or_insert_with(|| cross_key(&self.store, a, b));
                    out.extend(self.episodes.observe(OpportunityKind::Cross, key, eval, at));
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
    use crate::book_store::tests::{at_ms, book, dec, lv, status};
    use crate::config::Fees;
    use arb_shared::{EpisodeState, FeedState};
    use std::time::Duration;

    struct Case {
        name: &'static str,
        asks: &'static [(&'static str, &'static str)],
        bids: &'static [(&'static str, &'static str)],
        fee_buy: &'static str,
        fee_sell: &'static str,
        max_notional: &'static str,
        /// qty, cost, proceeds, net profit, gross bps, net bps
        want: Option<(
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
            &'static str,
        )>,
    }

    #[test]
    fn best_fill_hand_computed() {
        let cases = [
            Case {
                // Spread 100 → 100.15 (15 bp) but fees 10 + 10 bp: 100.1 > 100.049...
                // marginal: 100.15 × 0.999 = 100.04985 < 100 × 1.001 = 100.1.
                name: "fees larger than the spread",
                asks: &[("100", "5")],
                bids: &[("100.15", "5")],
                fee_buy: "0.001",
                fee_sell: "0.001",
                max_notional: "1000000",
                want: None,
            },
            Case {
                name: "no fees, one level each, book depth limits",
                asks: &[("100", "2")],
                bids: &[("101", "3")],
                fee_buy: "0",
                fee_sell: "0",
                max_notional: "1000000",
                // 2 × 100 = 200, 2 × 101 = 202, +2 → 100 bp.
                want: Some(("2", "200", "202", "2", "100", "100")),
            },
            Case {
                // Fees 0.1 % each. Level 1: 101 × 0.999 = 100.899 > 100 × 1.001 = 100.1, pays.
                // Ask level 2 at 100.5: 100.5 × 1.001 = 100.6005 < 100.899, pays (against bid 101).
                // Bid level 2 at 100.6: 100.6 × 0.999 = 100.4994 < 100.6005: stops.
                // Walk: ask 1@100 + bid 1@101; then ask 1@100.5 vs bid remaining 1@101.
                // qty 2, cost 200.5, proceeds 202.
                // net = 202 × 0.999 − 200.5 × 1.001 = 201.798 − 200.7005 = 1.0975.
                // gross = 1.5 / 200.5 × 10⁴ = 74.8130 bp; net = 1.0975 / 200.5 × 10⁴ = 54.7382 bp.
                name: "depth: stops where the marginal level stops paying",
                asks: &[("100", "1"), ("100.5", "5")],
                bids: &[("101", "2"), ("100.6", "10")],
                fee_buy: "0.001",
                fee_sell: "0.001",
                max_notional: "1000000",
                want: Some(("2", "200.5", "202", "1.0975", "74.8130", "54.7382")),
            },
            Case {
                // Same books, but only 150 of quote: 1 @ 100, then 50 / 100.5 = 0.4975124378 (cut).
                // cost = 100 + 0.4975124378 × 100.5 = 149.9999999989 (0.4975124378 × 100.5 = 49.9999999989)
                // proceeds = 1.4975124378 × 101 = 151.2487562178
                // net = 151.2487562178 × 0.999 − 149.9999999989 × 1.001
                //     = 151.0975074615822 − 150.1499999988989 = 0.9475074626833
                name: "max notional caps inside a level",
                asks: &[("100", "1"), ("100.5", "5")],
                bids: &[("101", "2"), ("100.6", "10")],
                fee_buy: "0.001",
                fee_sell: "0.001",
                max_notional: "150",
                want: Some((
                    "1.4975124378",
                    "149.9999999989",
                    "151.2487562178",
                    "0.9475074626833",
                    "83.2504",
                    "63.1672",
                )),
            },
            Case {
                name: "no spread at all",
                asks: &[("100", "1")],
                bids: &[("99", "1")],
                fee_buy: "0",
                fee_sell: "0",
                max_notional: "1000",
                want: None,
            },
            Case {
                name: "an empty side",
                asks: &[],
                bids: &[("99", "1")],
                fee_buy: "0",
                fee_sell: "0",
                max_notional: "1000",
                want: None,
            },
        ];
        for c in cases {
            let got = best_fill(
                &lv(c.asks),
                &lv(c.bids),
                dec(c.fee_buy),
                dec(c.fee_sell),
                dec(c.max_notional),
            );
            match (got, c.want) {
                (None, None) => {}
                (Some(f), Some((q, cost, proc_, net, gross_bps, net_bps))) => {
                    assert_eq!(f.qty, dec(q), "{}: qty", c.name);
                    assert_eq!(f.cost, dec(cost), "{}: cost", c.name);
                    assert_eq!(f.proceeds, dec(proc_), "{}: proceeds", c.name);
                    assert_eq!(f.net_profit, dec(net), "{}: net", c.name);
                    assert_eq!(f.gross_edge_bps(), dec(gross_bps), "{}: gross bps", c.name);
                    assert_eq!(f.net_edge_bps(), dec(net_bps), "{}: net bps", c.name);
                }
                (got, want) => panic!("{}: got {got:?}, want {want:?}", c.name),
            }
        }
    }

    fn cfg() -> DetectorConfig {
        let mut fees = Fees::flat(dec("0.001"));
        fees.set("b", dec("0.002"));
        DetectorConfig {
            max_book_age: Duration::from_secs(2),
            min_net_edge_bps: dec("5"),
            max_notional: dec("100000"),
            fees,
            edge_tolerance_bps: dec("2"),
            size_tolerance: dec("0.1"),
            ..DetectorConfig::default()
        }
    }

    #[test]
    fn detector_reports_legs_and_edges_then_closes() {
        let mut d = CrossDetector::new(cfg());
        // Venue a: ask 100 × 1. Venue b: bid 101 × 1 (fee 0.2 %).
        assert!(
            d.on_book(&book("a", "BTC/USD", 0, &[("99", "1")], &[("100", "1")]))
                .is_empty()
        );
        let out = d.on_book(&book("b", "BTC/USD", 10, &[("101", "1")], &[("102", "1")]));
        assert_eq!(out.len(), 1, "{out:?}");
        let o = &out[0];
        assert_eq!(o.state, EpisodeState::Open);
        assert_eq!(o.key, "BTC-USD_a_b");
        assert_eq!(o.kind, OpportunityKind::Cross);
        assert_eq!(o.currency, "USD");
        assert_eq!(o.book_ts, at_ms(10));
        assert_eq!(o.notional, dec("100"));
        // net = 101 × 0.998 − 100 × 1.001 = 100.798 − 100.1 = 0.698 → 69.8 bp.
        assert_eq!(o.expected_profit, dec("0.698"));
        assert_eq!(o.net_edge_bps, dec("69.8"));
        assert_eq!(o.gross_edge_bps, dec("100"));
        assert_eq!(o.legs.len(), 2);
        let (buy, sell) = (&o.legs[0], &o.legs[1]);
        assert_eq!(
            (buy.venue.as_str(), buy.side, buy.qty, buy.vwap),
            ("a", Side::Buy, dec("1"), dec("100"))
        );
        assert_eq!(
            (sell.venue.as_str(), sell.side, sell.qty, sell.vwap),
            ("b", Side::Sell, dec("1"), dec("101"))
        );
        assert_eq!((buy.fee_rate, sell.fee_rate), (dec("0.001"), dec("0.002")));
        // Same books again: nothing.
        assert!(
            d.on_book(&book("b", "BTC/USD", 20, &[("101", "1")], &[("102", "1")]))
                .is_empty()
        );
        // b's bid falls: the episode closes.
        let out = d.on_book(&book(
            "b",
            "BTC/USD",
            30,
            &[("100.2", "1")],
            &[("102", "1")],
        ));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].state, EpisodeState::Close);
        assert_eq!(out[0].episode_id, o.episode_id);
        assert_eq!(out[0].duration_ms, Some(20));
        assert_eq!(out[0].peak_edge_bps, Some(dec("69.8")));
    }

    #[test]
    fn crossed_or_stale_books_are_ignored() {
        // A crossed book on b (bid 101 ≥ its ask 100.5) would "pay" against a's ask 100.
        let mut d = CrossDetector::new(cfg());
        d.on_book(&book("a", "BTC/USD", 0, &[("99", "1")], &[("100", "1")]));
        let out = d.on_book(&book("b", "BTC/USD", 0, &[("101", "1")], &[("100.5", "1")]));
        assert!(out.is_empty(), "crossed book used: {out:?}");

        // A stale book: a's book is 3 s older than b's (max age 2 s).
        let mut d = CrossDetector::new(cfg());
        d.on_book(&book("a", "BTC/USD", 0, &[("99", "1")], &[("100", "1")]));
        let out = d.on_book(&book(
            "b",
            "BTC/USD",
            3000,
            &[("101", "1")],
            &[("102", "1")],
        ));
        assert!(out.is_empty(), "stale book used: {out:?}");

        // An open episode closes when one of its books goes stale in event time.
        let mut d = CrossDetector::new(cfg());
        d.on_book(&book("a", "BTC/USD", 0, &[("99", "1")], &[("100", "1")]));
        let open = d.on_book(&book("b", "BTC/USD", 0, &[("101", "1")], &[("102", "1")]));
        assert_eq!(open.len(), 1);
        let out = d.on_book(&book("c", "ETH/USD", 2500, &[("1", "1")], &[("2", "1")]));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].state, EpisodeState::Close);
        assert_eq!(out[0].duration_ms, Some(2500));
    }

    #[test]
    fn resync_closes_and_blocks_until_a_fresh_book() {
        let mut d = CrossDetector::new(cfg());
        d.on_book(&book("a", "BTC/USD", 0, &[("99", "1")], &[("100", "1")]));
        let open = d.on_book(&book("b", "BTC/USD", 0, &[("101", "1")], &[("102", "1")]));
        assert_eq!(open[0].state, EpisodeState::Open);
        let out = d.on_status(&status("b", None, FeedState::Resync));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].state, EpisodeState::Close);
        // a's update alone does not reopen: b is still in resync.
        assert!(
            d.on_book(&book("a", "BTC/USD", 10, &[("99", "1")], &[("100", "1")]))
                .is_empty()
        );
        // b's fresh book does.
        let out = d.on_book(&book("b", "BTC/USD", 20, &[("101", "1")], &[("102", "1")]));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].state, EpisodeState::Open);
        assert_ne!(out[0].episode_id, open[0].episode_id);
        assert_eq!(d.close_all().len(), 1);
        assert_eq!(d.open_episodes(), 0);
    }

    #[test]
    fn notional_cap_follows_the_quote_currency() {
        let mut c = cfg();
        c.max_notional = dec("1000000");
        c.max_notional_in.insert("BTC".into(), dec("0.025"));
        let mut d = CrossDetector::new(c);
        // ETH/BTC: ask 0.05 × 10 on a, bid 0.051 × 10 on b. Uncapped it would
        // take 10 ETH (0.5 BTC); capped at 0.025 BTC it takes 0.5 ETH.
        d.on_book(&book(
            "a",
            "ETH/BTC",
            0,
            &[("0.049", "10")],
            &[("0.05", "10")],
        ));
        let out = d.on_book(&book(
            "b",
            "ETH/BTC",
            0,
            &[("0.051", "10")],
            &[("0.052", "10")],
        ));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].currency, "BTC");
        assert_eq!(out[0].notional, dec("0.025"));
        assert_eq!(out[0].legs[0].qty, dec("0.5"));
        // USD symbols keep the general cap: all 1 BTC of depth is taken.
        d.on_book(&book("a", "BTC/USD", 0, &[("99", "1")], &[("100", "1")]));
        let out = d.on_book(&book("b", "BTC/USD", 0, &[("101", "1")], &[("102", "1")]));
        assert_eq!(out[0].legs[0].qty, dec("1"));
    }

    #[test]
    fn both_directions_and_venue_filter() {
        let mut c = cfg();
        c.venues = vec!["a".into(), "b".into()];
        let mut d = CrossDetector::new(c);
        d.on_book(&book("a", "BTC/USD", 0, &[("99", "1")], &[("100", "1")]));
        d.on_book(&book("b", "BTC/USD", 0, &[("101", "1")], &[("102", "1")]));
        // b's ask 102 is now below a's new bid 103: the other direction opens,
        // and the first closes.
        let out = d.on_book(&book("a", "BTC/USD", 10, &[("103", "1")], &[("104", "1")]));
        let states: Vec<(&str, EpisodeState)> =
            out.iter().map(|o| (o.key.as_str(), o.state)).collect();
        assert_eq!(
            states,
            vec![
                ("BTC-USD_a_b", EpisodeState::Close),
                ("BTC-USD_b_a", EpisodeState::Open)
            ]
        );
        // Venue c is filtered out.
        assert!(
            d.on_book(&book("c", "BTC/USD", 10, &[("200", "1")], &[("201", "1")]))
                .is_empty()
        );
    }
}
