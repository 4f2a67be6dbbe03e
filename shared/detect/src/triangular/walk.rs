//! Walking a cycle of three books: how much of the start currency to put
//! through, level boundary by level boundary, while the marginal rate after
//! fees stays above one. All in `Decimal`.

use arb_contract::Level;
use rust_decimal::Decimal;

use crate::rounding::{QTY_DP, TEN_K, bps};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book_store::tests::{dec, lv};

    /// USD → BTC → ETH → USD: buy BTC/USD, buy ETH/BTC, sell ETH/USD, the
    /// same fee on each leg.
    fn usd_btc_eth(
        btc_usd: &[Level],
        eth_btc: &[Level],
        eth_usd: &[Level],
        fee: Decimal,
        max_input: Decimal,
    ) -> Option<CycleFill> {
        best_cycle(
            [
                (btc_usd, Dir::Buy, fee),
                (eth_btc, Dir::Buy, fee),
                (eth_usd, Dir::Sell, fee),
            ],
            max_input,
        )
    }

    #[test]
    fn cycle_with_known_rates_gives_known_edge() {
        // USD → BTC (ask 100), BTC → ETH (ask 0.05), ETH → USD (bid 5.1):
        // 0.01 × 20 × 5.1 = 1.02 → 200 bp before fees.
        let btc_usd = lv(&[("100", "1")]);
        let eth_btc = lv(&[("0.05", "10")]);
        let eth_usd = lv(&[("5.1", "100")]);
        // No fees: ETH/BTC's 10 ETH (0.5 BTC = 50 USD) is the binding depth.
        let f = usd_btc_eth(&btc_usd, &eth_btc, &eth_usd, dec("0"), dec("1000")).unwrap();
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
        let f = usd_btc_eth(&btc_usd, &eth_btc, &eth_usd, fee, dec("1000")).unwrap();
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
        let f = usd_btc_eth(&btc_usd, &eth_btc, &eth_usd, dec("0"), dec("20")).unwrap();
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
        let f = usd_btc_eth(&btc_usd, &eth_btc, &eth_usd, dec("0"), dec("100000")).unwrap();
        assert_eq!((f.input, f.output), (dec("50"), dec("51")));
        // A second ETH/BTC level at 0.0505 still pays (1.0099 > 1): it is used.
        let eth_btc = lv(&[("0.05", "10"), ("0.0505", "10"), ("0.0515", "100")]);
        let f = usd_btc_eth(&btc_usd, &eth_btc, &eth_usd, dec("0"), dec("100000")).unwrap();
        // 50 + 50.5 USD in, 20 ETH × 5.1 = 102 out.
        assert_eq!((f.input, f.output), (dec("100.5"), dec("102")));
        assert_eq!(f.legs[1].limit, dec("0.0505"));
        // Nothing pays: None.
        let eth_btc = lv(&[("0.0515", "100")]);
        assert!(usd_btc_eth(&btc_usd, &eth_btc, &eth_usd, dec("0"), dec("100000")).is_none());
    }
}
