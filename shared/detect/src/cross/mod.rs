//! Cross-venue detector: for each symbol and each ordered pair of venues, buy
//! on A's asks and sell on B's bids, walked level by level ([`walk`]), sized
//! where the marginal unit stops paying after both taker fees, capped by a
//! notional.

pub mod walk;

use arb_contract::{OpportunityKind, OpportunityLeg, Side};
use rust_decimal::Decimal;

use crate::FastMap;
use crate::book_store::{BookStore, SlotId};
use crate::core::{DetectorCore, Emit, Strategy};
use crate::episode::Evaluation;
use crate::settings::DetectorConfig;
pub use walk::{CrossFill, best_fill};

/// The cross-venue strategy: every ordered pair of venues quoting the
/// updated symbol.
pub struct Cross {
    cfg: DetectorConfig,
    keys: FastMap<(SlotId, SlotId), String>,
    /// Per slot (`None`: not seen yet), what the configuration says of it.
    terms: Vec<Option<Terms>>,
}

/// A slot's taker fee (by its venue) and notional cap (by its quote
/// currency): fixed by the configuration, so looked up by name once per
/// slot rather than on every evaluation that passes the pre-screen.
#[derive(Debug, Clone, Copy)]
struct Terms {
    fee: Decimal,
    cap: Decimal,
}

impl Terms {
    fn of(cfg: &DetectorConfig, store: &BookStore, s: SlotId) -> Terms {
        let slot = store.slot(s);
        Terms {
            fee: cfg.fees.rate(store.venue_name(slot.venue)),
            cap: cfg.max_notional_for(slot.symbol.quote()),
        }
    }
}

/// The cross-venue detector.
pub type CrossDetector = DetectorCore<Cross>;

/// Evaluates buying on `a` and selling on `b` (with their [`Terms`]);
/// `None` unless it clears the threshold.
fn evaluate(
    cfg: &DetectorConfig,
    store: &BookStore,
    (a, ta): (SlotId, Terms),
    (b, tb): (SlotId, Terms),
) -> Option<Evaluation> {
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
    let (fa, fb) = (ta.fee, tb.fee);
    // Both slots quote the same symbol: `a`'s cap is the symbol's.
    let fill = best_fill(&sa.asks, &sb.bids, fa, fb, ta.cap)?;
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

impl Strategy for Cross {
    const KIND: OpportunityKind = OpportunityKind::Cross;

    fn new(cfg: &DetectorConfig) -> Self {
        Cross {
            cfg: cfg.clone(),
            keys: FastMap::default(),
            terms: Vec::new(),
        }
    }

    fn evaluate(&mut self, store: &BookStore, slot: SlotId, _new: bool, emit: &mut Emit<'_>) {
        let mut terms = |s: SlotId| {
            if self.terms.len() <= s {
                self.terms.resize(s + 1, None);
            }
            *self.terms[s].get_or_insert_with(|| Terms::of(&self.cfg, store, s))
        };
        let mine = terms(slot);
        for &other in store.peers(slot) {
            if other == slot {
                continue;
            }
            let theirs = terms(other);
            for (a, b) in [
                ((slot, mine), (other, theirs)),
                ((other, theirs), (slot, mine)),
            ] {
                let eval = evaluate(&self.cfg, store, a, b);
                let (a, b) = (a.0, b.0);
                let key = self
                    .keys
                    .entry((a, b))
                    .or_insert_with(|| cross_key(store, a, b));
                emit(key, eval);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book_store::tests::{at_ms, dec, nothing, only, status, top};
    use crate::core::Detector;
    use crate::settings::Fees;
    use crate::settings::tests::config;
    use arb_contract::{EpisodeState, FeedState, Opportunity};
    use std::time::Duration;

    fn cfg() -> DetectorConfig {
        let mut fees = Fees::flat(dec("0.001"));
        fees.set("b", dec("0.002"));
        config(Duration::from_secs(2), dec("100000"), fees)
    }

    /// Venue a asks 100 and venue b bids 101 for BTC/USD at 0 ms: buying on
    /// a and selling on b opens.
    fn open_a_b(d: &mut CrossDetector) -> Vec<Opportunity> {
        d.on_book(&top("a", "BTC/USD", 0, ("99", "1"), ("100", "1")));
        d.on_book(&top("b", "BTC/USD", 0, ("101", "1"), ("102", "1")))
    }

    #[test]
    fn detector_reports_legs_and_edges_then_closes() {
        let mut d = CrossDetector::new(cfg());
        // Venue a: ask 100 × 1. Venue b: bid 101 × 1 (fee 0.2 %).
        nothing(d.on_book(&top("a", "BTC/USD", 0, ("99", "1"), ("100", "1"))));
        let o = only(
            d.on_book(&top("b", "BTC/USD", 10, ("101", "1"), ("102", "1"))),
            EpisodeState::Open,
        );
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
        nothing(d.on_book(&top("b", "BTC/USD", 20, ("101", "1"), ("102", "1"))));
        // b's bid falls: the episode closes.
        let out = only(
            d.on_book(&top("b", "BTC/USD", 30, ("100.2", "1"), ("102", "1"))),
            EpisodeState::Close,
        );
        assert_eq!(out.episode_id, o.episode_id);
        assert_eq!(out.duration_ms, Some(20));
        assert_eq!(out.peak_edge_bps, Some(dec("69.8")));
    }

    #[test]
    fn crossed_or_stale_books_are_ignored() {
        // A crossed book on b (bid 101 ≥ its ask 100.5) would "pay" against a's ask 100.
        let mut d = CrossDetector::new(cfg());
        d.on_book(&top("a", "BTC/USD", 0, ("99", "1"), ("100", "1")));
        let out = d.on_book(&top("b", "BTC/USD", 0, ("101", "1"), ("100.5", "1")));
        assert!(out.is_empty(), "crossed book used: {out:?}");

        // A stale book: a's book is 3 s older than b's (max age 2 s).
        let mut d = CrossDetector::new(cfg());
        d.on_book(&top("a", "BTC/USD", 0, ("99", "1"), ("100", "1")));
        let out = d.on_book(&top("b", "BTC/USD", 3000, ("101", "1"), ("102", "1")));
        assert!(out.is_empty(), "stale book used: {out:?}");

        // An open episode closes when one of its books goes stale in event time.
        let mut d = CrossDetector::new(cfg());
        only(open_a_b(&mut d), EpisodeState::Open);
        let out = only(
            d.on_book(&top("c", "ETH/USD", 2500, ("1", "1"), ("2", "1"))),
            EpisodeState::Close,
        );
        assert_eq!(out.duration_ms, Some(2500));
    }

    #[test]
    fn resync_closes_and_blocks_until_a_fresh_book() {
        let mut d = CrossDetector::new(cfg());
        let open = only(open_a_b(&mut d), EpisodeState::Open);
        only(
            d.on_status(&status("b", None, FeedState::Resync)),
            EpisodeState::Close,
        );
        // a's update alone does not reopen: b is still in resync.
        nothing(d.on_book(&top("a", "BTC/USD", 10, ("99", "1"), ("100", "1"))));
        // b's fresh book does.
        let out = only(
            d.on_book(&top("b", "BTC/USD", 20, ("101", "1"), ("102", "1"))),
            EpisodeState::Open,
        );
        assert_ne!(out.episode_id, open.episode_id);
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
        d.on_book(&top("a", "ETH/BTC", 0, ("0.049", "10"), ("0.05", "10")));
        let out = d.on_book(&top("b", "ETH/BTC", 0, ("0.051", "10"), ("0.052", "10")));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].currency, "BTC");
        assert_eq!(out[0].notional, dec("0.025"));
        assert_eq!(out[0].legs[0].qty, dec("0.5"));
        // USD symbols keep the general cap: all 1 BTC of depth is taken.
        let out = open_a_b(&mut d);
        assert_eq!(out[0].legs[0].qty, dec("1"));
    }

    #[test]
    fn both_directions_and_venue_filter() {
        let mut c = cfg();
        c.venues = vec!["a".into(), "b".into()];
        let mut d = CrossDetector::new(c);
        open_a_b(&mut d);
        // b's ask 102 is now below a's new bid 103: the other direction opens,
        // and the first closes.
        let out = d.on_book(&top("a", "BTC/USD", 10, ("103", "1"), ("104", "1")));
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
        nothing(d.on_book(&top("c", "BTC/USD", 10, ("200", "1"), ("201", "1"))));
    }
}
