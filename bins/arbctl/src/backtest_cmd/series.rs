//! What the report's charts and tables show, computed from a job's result:
//! the equity curve, P&L by label, captured against expected profit, the
//! histogram of episode durations. Pure, no drawing. Sums stay `Decimal`;
//! only plot coordinates become `f64`.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use arb_backtest::{EpisodeSpan, TradePoint};

/// An event time (RFC 3339) as milliseconds since the epoch, for plotting.
pub(super) fn millis(ts: &str) -> anyhow::Result<i64> {
    Ok(DateTime::parse_from_rfc3339(ts)
        .with_context(|| format!("bad event time {ts:?}"))?
        .timestamp_millis())
}

/// Round steps for a time axis, in milliseconds.
const TIME_STEPS: [i64; 24] = [
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    10_800_000,
    21_600_000,
    43_200_000,
    86_400_000,
    172_800_000,
    604_800_000,
    2_592_000_000,
];

/// Ticks at a round step (a second, 15 s, 5 min, an hour, ...): at most
/// `max` from `lo` to `hi` (ms); and the step.
pub(super) fn time_ticks(lo: i64, hi: i64, max: i64) -> (Vec<i64>, i64) {
    let span = (hi - lo).max(1);
    let step = TIME_STEPS
        .into_iter()
        .find(|s| span / s < max.max(1))
        .unwrap_or_else(|| span / max.max(1) + 1);
    let first = lo.div_euclid(step) * step + if lo.rem_euclid(step) == 0 { 0 } else { step };
    let ticks = (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t <= hi)
        .collect();
    (ticks, step)
}

/// A tick on a time axis of `step` (ms) as text: seconds only when the step
/// is under a minute, the date when the axis spans more than a day.
pub(super) fn time_label(ms: i64, step: i64, span: i64) -> String {
    let Some(t) = DateTime::<Utc>::from_timestamp_millis(ms) else {
        return String::new();
    };
    let format = match (step, span) {
        (..1_000, _) => "%H:%M:%S%.3f",
        (..60_000, _) => "%H:%M:%S",
        (86_400_000.., _) => "%Y-%m-%d",
        (_, 86_400_001..) => "%m-%d %H:%M",
        _ => "%H:%M",
    };
    t.format(format).to_string()
}

pub(super) fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// One trade on the equity curve: when, cumulative realized P&L after it,
/// drawdown after it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct EquityPoint {
    /// Milliseconds since the epoch.
    pub(super) t: i64,
    pub(super) cumulative: f64,
    pub(super) drawdown: f64,
}

pub(super) fn equity(trades: &[TradePoint]) -> anyhow::Result<Vec<EquityPoint>> {
    trades
        .iter()
        .map(|tp| {
            Ok(EquityPoint {
                t: millis(&tp.ts).with_context(|| format!("trade {}", tp.trade_id))?,
                cumulative: f(tp.cumulative),
                drawdown: f(tp.drawdown),
            })
        })
        .collect()
}

/// The trades of one label (venue pair and symbol, or triangle), summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LabelPnl {
    pub(super) label: String,
    pub(super) trades: usize,
    pub(super) realized_pnl: Decimal,
    pub(super) expected_profit: Decimal,
    pub(super) fees: Decimal,
}

/// Per label, in label order.
pub(super) fn by_label(trades: &[TradePoint]) -> Vec<LabelPnl> {
    let mut sums: BTreeMap<&str, LabelPnl> = BTreeMap::new();
    for tp in trades {
        let s = sums.entry(&tp.label).or_insert_with(|| LabelPnl {
            label: tp.label.clone(),
            trades: 0,
            realized_pnl: Decimal::ZERO,
            expected_profit: Decimal::ZERO,
            fees: Decimal::ZERO,
        });
        s.trades += 1;
        s.realized_pnl += tp.realized_pnl;
        s.expected_profit += tp.expected_profit;
        s.fees += tp.fees;
    }
    sums.into_values().collect()
}

/// Closed episodes' durations in bins of a round width.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct DurationHistogram {
    /// `ms` or `s`: what the bin edges are in.
    pub(super) unit: &'static str,
    /// Bin width in `unit`.
    pub(super) width: f64,
    pub(super) counts: Vec<u32>,
}

/// `None` when no episode closed.
pub(super) fn durations(episodes: &[EpisodeSpan]) -> Option<DurationHistogram> {
    let ms: Vec<i64> = episodes
        .iter()
        .filter_map(|e| e.duration_ms)
        .map(|d| d.max(0))
        .collect();
    let max = *ms.iter().max()?;
    let (unit, per_unit) = if max < 10_000 {
        ("ms", 1.0)
    } else {
        ("s", 1000.0)
    };
    // About twice the square root of the count: a shape for a few dozen
    // episodes, not one bar per episode for a few.
    let bins = (2.0 * (ms.len() as f64).sqrt()).ceil().clamp(1.0, 40.0);
    let width = nice_step((max as f64 / per_unit) / bins);
    let n = ((max as f64 / per_unit) / width).floor() as usize + 1;
    let mut counts = vec![0u32; n];
    for d in ms {
        let i = ((d as f64 / per_unit) / width).floor() as usize;
        counts[i.min(n - 1)] += 1;
    }
    Some(DurationHistogram {
        unit,
        width,
        counts,
    })
}

/// The least of 1, 2 or 5 times a power of ten that is at least `x` (1 for
/// `x` ≤ 0).
pub(super) fn nice_step(x: f64) -> f64 {
    if !x.is_finite() || x <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|s| *s >= x * (1.0 - 1e-12))
        .unwrap_or(10.0 * p)
}

/// A plot range over `values` and zero, padded by `pad` of its span on each
/// side; ±1 around a single value.
pub(super) fn padded_range(values: impl IntoIterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        return (lo - 1.0, hi + 1.0);
    }
    let p = (hi - lo) * pad;
    (lo - p, hi + p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn trade(label: &str, realized: &str, expected: &str) -> TradePoint {
        TradePoint {
            ts: "2026-12-01T10:00:00.5Z".into(),
            trade_id: "t".into(),
            episode_id: None,
            strategy: "cross".into(),
            label: label.into(),
            status: "completed".into(),
            currency: "USD".into(),
            expected_profit: d(expected),
            realized_pnl: d(realized),
            fees: d("0.01"),
            cumulative: d(realized),
            drawdown: Decimal::ZERO,
        }
    }

    fn episode(duration_ms: Option<i64>) -> EpisodeSpan {
        EpisodeSpan {
            episode_id: "e".into(),
            key: "k".into(),
            opened: "2026-12-01T10:00:00Z".into(),
            closed: None,
            duration_ms,
            peak_edge_bps: d("12.5"),
        }
    }

    #[test]
    fn nice_steps() {
        let cases = [
            (0.0, 1.0),
            (-3.0, 1.0),
            (0.7, 1.0),
            (1.0, 1.0),
            (1.01, 2.0),
            (2.0, 2.0),
            (3.0, 5.0),
            (7.0, 10.0),
            (120.0, 200.0),
            (0.03, 0.05),
        ];
        for (x, want) in cases {
            let got = nice_step(x);
            assert!(
                (got - want).abs() < 1e-9,
                "nice_step({x}) = {got}, not {want}"
            );
        }
    }

    #[test]
    fn ranges_hold_zero_and_never_collapse() {
        assert_eq!(padded_range([], 0.1), (-1.0, 1.0));
        assert_eq!(padded_range([0.0, 0.0], 0.1), (-1.0, 1.0));
        assert_eq!(padded_range([5.0], 0.0), (0.0, 5.0));
        assert_eq!(padded_range([-2.0, 8.0], 0.1), (-3.0, 9.0));
        assert_eq!(padded_range([f64::NAN, 4.0], 0.0), (0.0, 4.0));
    }

    #[test]
    fn labels_sum_exactly() {
        let trades = [
            trade("b", "0.1", "0.3"),
            trade("a", "-0.2", "0.1"),
            trade("b", "0.2", "0.3"),
        ];
        let got = by_label(&trades);
        assert_eq!(
            got.iter()
                .map(|l| (l.label.as_str(), l.trades, l.realized_pnl.to_string()))
                .collect::<Vec<_>>(),
            vec![("a", 1, "-0.2".to_owned()), ("b", 2, "0.3".to_owned())]
        );
        assert_eq!(got[1].expected_profit, d("0.6"));
        assert_eq!(got[1].fees, d("0.02"));
        assert!(by_label(&[]).is_empty());
    }

    #[test]
    fn duration_bins() {
        assert_eq!(durations(&[]), None);
        assert_eq!(durations(&[episode(None)]), None);
        // 4 durations: 4 bins wanted, 450 / 4 → a width of 200 ms.
        let h = durations(&[
            episode(Some(100)),
            episode(Some(450)),
            episode(Some(0)),
            episode(None),
            episode(Some(300)),
        ])
        .unwrap();
        assert_eq!((h.unit, h.width, h.counts), ("ms", 200.0, vec![2, 1, 1]));
        let h = durations(&[episode(Some(20_000)), episode(Some(1_000))]).unwrap();
        assert_eq!((h.unit, h.width, h.counts), ("s", 10.0, vec![1, 0, 1]));
        // A single zero-length episode still gets a bin.
        let h = durations(&[episode(Some(0))]).unwrap();
        assert_eq!(h.counts, vec![1]);
    }

    #[test]
    fn event_times() {
        assert_eq!(millis("1970-01-01T00:00:01.5Z").unwrap(), 1500);
        assert_eq!(millis("1970-01-01T01:00:01.5+01:00").unwrap(), 1500);
        assert!(millis("yesterday").is_err());
        let t = millis("2026-12-01T10:02:03.25Z").unwrap();
        assert_eq!(time_label(t, 500, 5_000), "10:02:03.250");
        assert_eq!(time_label(t, 15_000, 60_000), "10:02:03");
        assert_eq!(time_label(t, 300_000, 3_600_000), "10:02");
        assert_eq!(time_label(t, 21_600_000, 200_000_000), "12-01 10:02");
        assert_eq!(time_label(t, 86_400_000, 900_000_000), "2026-12-01");
        let e = equity(&[trade("a", "1", "1")]).unwrap();
        assert_eq!(
            (e[0].t, e[0].cumulative),
            (millis("2026-12-01T10:00:00.5Z").unwrap(), 1.0)
        );
    }

    #[test]
    fn time_ticks_are_round() {
        let at = |s: &str| millis(s).unwrap();
        // Five minutes, at most 8 ticks: every minute.
        let (ticks, step) = time_ticks(at("2026-12-01T10:00:00Z"), at("2026-12-01T10:05:00Z"), 8);
        assert_eq!(step, 60_000);
        assert_eq!(ticks.len(), 6);
        assert_eq!(ticks[0], at("2026-12-01T10:00:00Z"));
        // Starting off the step: the first tick is the next round one.
        let (ticks, step) = time_ticks(at("2026-12-01T10:00:07Z"), at("2026-12-01T10:01:00Z"), 8);
        assert_eq!(step, 10_000);
        assert_eq!(ticks[0], at("2026-12-01T10:00:10Z"));
        assert_eq!(ticks.last(), Some(&at("2026-12-01T10:01:00Z")));
        // Two hours: every 15 minutes.
        let (ticks, step) = time_ticks(at("2026-12-01T10:00:00Z"), at("2026-12-01T12:00:00Z"), 10);
        assert_eq!((step, ticks.len()), (900_000, 9));
        let (ticks, _) = time_ticks(5, 5, 8);
        assert!(ticks.len() <= 1);
    }
}
