//! Walking two books against each other: the profit-maximizing quantity of
//! buying on one venue's asks and selling on another's bids, after both
//! taker fees and under a notional cap. All in `Decimal`.

use arb_contract::Level;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::rounding::{PRICE_DP, QTY_DP, TEN_K, bps};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book_store::tests::{dec, lv};

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
}
