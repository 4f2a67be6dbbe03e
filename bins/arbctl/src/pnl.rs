//! `arbctl pnl`: profit and loss per strategy from the `trades` table the
//! sink writes, and what transfers between venues cost (`transfers`).
//!
//! One row per strategy and currency (a strategy's trades may settle in
//! several currencies, and amounts in two currencies do not add up): trades,
//! trades by status, realized P&L, fees, the win rate (trades with a positive
//! realized P&L over trades that filled anything, i.e. not `failed`), the
//! expected profit, and the capture ratio (realized P&L over expected profit,
//! both summed over the trades that carry an expected profit; `-` when that
//! sum is zero). Amounts are PostgreSQL's exact sums, printed as decimals;
//! the two ratios are rounded for display (the win rate to 0.01 %, the
//! capture ratio to 4 places), never through a float.

use std::io::Write;

use anyhow::Context;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};
use sqlx::FromRow;

use arb_runtime::db::PgPool;

/// One strategy's trades in one currency.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct StrategyPnl {
    pub strategy: String,
    pub currency: String,
    pub trades: i64,
    pub completed: i64,
    pub partial: i64,
    pub unwound: i64,
    pub failed: i64,
    pub realized_pnl: Decimal,
    pub fees: Decimal,
    /// Trades that filled anything (not `failed`) with a positive P&L.
    pub wins: i64,
    /// Trades that filled anything: not `failed`.
    pub filled: i64,
    pub expected_profit: Decimal,
    /// Realized P&L of the trades that carry an expected profit.
    pub realized_of_expected: Decimal,
}

impl StrategyPnl {
    /// Wins over trades that filled; `None` when none filled.
    pub fn win_rate(&self) -> Option<Decimal> {
        (self.filled > 0).then(|| Decimal::from(self.wins) / Decimal::from(self.filled))
    }

    /// Realized over expected profit, over the trades that carry one; `None`
    /// when their expected profit sums to zero.
    pub fn captured(&self) -> Option<Decimal> {
        // None for a zero divisor, as for an overflow.
        self.realized_of_expected.checked_div(self.expected_profit)
    }
}

/// Transfer fees, valued in one currency, over the transfers sent.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct TransferCost {
    /// `None` for a cost stored without its currency.
    pub currency: Option<String>,
    pub cost: Decimal,
    pub transfers: i64,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PnlReport {
    pub strategies: Vec<StrategyPnl>,
    pub transfer_costs: Vec<TransferCost>,
    /// Transfers sent whose cost nobody valued (no price for the fee's asset).
    pub transfers_without_cost: i64,
}

const STRATEGIES: &str = "
SELECT strategy, currency,
       count(*) AS trades,
       count(*) FILTER (WHERE status = 'completed') AS completed,
       count(*) FILTER (WHERE status = 'partial') AS partial,
       count(*) FILTER (WHERE status = 'unwound') AS unwound,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       coalesce(sum(realized_pnl), 0) AS realized_pnl,
       coalesce(sum(fees), 0) AS fees,
       count(*) FILTER (WHERE status <> 'failed' AND realized_pnl > 0) AS wins,
       count(*) FILTER (WHERE status <> 'failed') AS filled,
       coalesce(sum(expected_profit), 0) AS expected_profit,
       coalesce(sum(realized_pnl) FILTER (WHERE expected_profit IS NOT NULL), 0)
           AS realized_of_expected
FROM trades
WHERE $1::text IS NULL OR strategy = $1
GROUP BY strategy, currency
ORDER BY strategy, currency";

const TRANSFERS: &str = "
SELECT currency, sum(cost) AS cost, count(*) AS transfers
FROM transfers
WHERE status = 'sent' AND cost IS NOT NULL
GROUP BY currency
ORDER BY currency";

const UNCOSTED: &str = "SELECT count(*) FROM transfers WHERE status = 'sent' AND cost IS NULL";

/// Reads the report, for one strategy or all.
pub async fn report(pool: &PgPool, strategy: Option<&str>) -> anyhow::Result<PnlReport> {
    let hint = "is the schema current? (arbctl db migrate)";
    let strategies = sqlx::query_as(STRATEGIES)
        .bind(strategy)
        .fetch_all(pool)
        .await
        .with_context(|| format!("reading trades failed; {hint}"))?;
    let transfer_costs = sqlx::query_as(TRANSFERS)
        .fetch_all(pool)
        .await
        .with_context(|| format!("reading transfers failed; {hint}"))?;
    let transfers_without_cost = sqlx::query_scalar(UNCOSTED)
        .fetch_one(pool)
        .await
        .with_context(|| format!("reading transfers failed; {hint}"))?;
    Ok(PnlReport {
        strategies,
        transfer_costs,
        transfers_without_cost,
    })
}

/// `0.5` as `50.00%`.
fn percent(ratio: Decimal) -> String {
    let p = (ratio * Decimal::ONE_HUNDRED)
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    format!("{p:.2}%")
}

fn four_places(ratio: Decimal) -> String {
    let r = ratio.round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero);
    format!("{r:.4}")
}

impl PnlReport {
    /// The report as one JSON document: amounts as decimal strings.
    pub fn to_json(&self) -> Value {
        let strategies: Vec<Value> = self
            .strategies
            .iter()
            .map(|s| {
                json!({
                    "strategy": s.strategy,
                    "currency": s.currency,
                    "trades": s.trades,
                    "by_status": {
                        "completed": s.completed,
                        "partial": s.partial,
                        "unwound": s.unwound,
                        "failed": s.failed,
                    },
                    "realized_pnl": s.realized_pnl.to_string(),
                    "fees": s.fees.to_string(),
                    "wins": s.wins,
                    "filled": s.filled,
                    "win_rate": s.win_rate().map(four_places),
                    "expected_profit": s.expected_profit.to_string(),
                    "captured": s.captured().map(four_places),
                })
            })
            .collect();
        let costs: Vec<Value> = self
            .transfer_costs
            .iter()
            .map(|c| {
                json!({
                    "currency": c.currency,
                    "cost": c.cost.to_string(),
                    "transfers": c.transfers,
                })
            })
            .collect();
        json!({
            "strategies": strategies,
            "transfer_costs": costs,
            "transfers_without_cost": self.transfers_without_cost,
        })
    }

    /// The report as a table, then one line of transfer costs.
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        const HEADER: [&str; 12] = [
            "strategy",
            "currency",
            "trades",
            "completed",
            "partial",
            "unwound",
            "failed",
            "realized_pnl",
            "fees",
            "win_rate",
            "expected_profit",
            "captured",
        ];
        let dash = || "-".to_owned();
        let rows: Vec<[String; 12]> = self
            .strategies
            .iter()
            .map(|s| {
                [
                    s.strategy.clone(),
                    s.currency.clone(),
                    s.trades.to_string(),
                    s.completed.to_string(),
                    s.partial.to_string(),
                    s.unwound.to_string(),
                    s.failed.to_string(),
                    s.realized_pnl.to_string(),
                    s.fees.to_string(),
                    s.win_rate().map_or_else(dash, percent),
                    s.expected_profit.to_string(),
                    s.captured().map_or_else(dash, four_places),
                ]
            })
            .collect();
        if rows.is_empty() {
            writeln!(out, "no trades")?;
        } else {
            let mut widths = HEADER.map(str::len);
            for row in &rows {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.len());
                }
            }
            let header = HEADER.map(str::to_owned);
            for row in std::iter::once(&header).chain(&rows) {
                let cells: Vec<String> = row
                    .iter()
                    .zip(widths)
                    .enumerate()
                    // Names to the left, figures to the right.
                    .map(|(i, (cell, w))| match i {
                        0 | 1 => format!("{cell:<w$}"),
                        _ => format!("{cell:>w$}"),
                    })
                    .collect();
                writeln!(out, "{}", cells.join("  ").trim_end())?;
            }
        }
        let mut parts: Vec<String> = self
            .transfer_costs
            .iter()
            .map(|c| {
                let sent = if c.transfers == 1 {
                    "transfer"
                } else {
                    "transfers"
                };
                format!(
                    "{} {} ({} {sent} sent)",
                    c.cost,
                    c.currency.as_deref().unwrap_or("(no currency)"),
                    c.transfers
                )
            })
            .collect();
        if self.transfers_without_cost > 0 {
            parts.push(format!(
                "{} sent without a cost",
                self.transfers_without_cost
            ));
        }
        if parts.is_empty() {
            parts.push("none".to_owned());
        }
        writeln!(out, "transfer costs (all strategies): {}", parts.join(", "))
    }
}

/// Runs `arbctl pnl`.
pub async fn run(
    pool: &PgPool,
    strategy: Option<&str>,
    as_json: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    let report = report(pool, strategy).await?;
    if as_json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report.to_json())?)?;
    } else {
        report.write_text(out)?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn row(strategy: &str, realized: &str, expected: &str, of_expected: &str) -> StrategyPnl {
        StrategyPnl {
            strategy: strategy.to_owned(),
            currency: "USD".to_owned(),
            trades: 3,
            completed: 1,
            partial: 0,
            unwound: 1,
            failed: 1,
            realized_pnl: d(realized),
            fees: d("1.25"),
            wins: 1,
            filled: 2,
            expected_profit: d(expected),
            realized_of_expected: d(of_expected),
        }
    }

    #[test]
    fn ratios_are_exact_decimals_rounded_for_display() {
        let cases = [
            ("1", "2", "50.00%", "0.5000"),
            ("1", "3", "33.33%", "0.3333"),
            ("2", "3", "66.67%", "0.6667"),
            ("0", "1", "0.00%", "0.0000"),
            ("1", "1", "100.00%", "1.0000"),
            // Half-way rounds away from zero.
            ("1", "8", "12.50%", "0.1250"),
            ("-1", "16", "-6.25%", "-0.0625"),
            ("1", "80000", "0.00%", "0.0000"),
            ("1", "20000", "0.01%", "0.0001"),
        ];
        for (n, over, pct, places) in cases {
            let r = d(n) / d(over);
            assert_eq!(
                (percent(r), four_places(r)),
                (pct.into(), places.into()),
                "{n}/{over}"
            );
        }
    }

    #[test]
    fn win_rate_and_capture_are_none_without_a_divisor() {
        let mut r = row("cross", "7.5", "10", "7.5");
        assert_eq!(r.win_rate(), Some(d("0.5")));
        assert_eq!(r.captured(), Some(d("0.75")));
        r.filled = 0;
        r.expected_profit = Decimal::ZERO;
        assert_eq!((r.win_rate(), r.captured()), (None, None));
    }

    #[test]
    fn the_table_lines_up_and_says_dash_for_no_ratio() {
        let report = PnlReport {
            strategies: vec![
                row("cross", "7.5", "10", "7.5"),
                row("triangular", "-0.25", "0", "0"),
            ],
            transfer_costs: vec![TransferCost {
                currency: Some("USD".into()),
                cost: d("1.50"),
                transfers: 1,
            }],
            transfers_without_cost: 2,
        };
        let mut out = Vec::new();
        report.write_text(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\
strategy    currency  trades  completed  partial  unwound  failed  realized_pnl  fees  win_rate  expected_profit  captured
cross       USD            3          1        0        1       1           7.5  1.25    50.00%               10    0.7500
triangular  USD            3          1        0        1       1         -0.25  1.25    50.00%                0         -
transfer costs (all strategies): 1.50 USD (1 transfer sent), 2 sent without a cost
"
        );
        let empty = PnlReport {
            strategies: vec![],
            transfer_costs: vec![],
            transfers_without_cost: 0,
        };
        let mut out = Vec::new();
        empty.write_text(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "no trades\ntransfer costs (all strategies): none\n"
        );
        let j = report.to_json();
        assert_eq!(j["strategies"][0]["captured"], "0.7500");
        assert_eq!(j["strategies"][1]["captured"], Value::Null);
        assert_eq!(j["strategies"][1]["realized_pnl"], "-0.25");
        assert_eq!(j["transfer_costs"][0]["cost"], "1.50");
    }
}
