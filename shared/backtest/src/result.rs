//! What a backtest job stores in `backtest_jobs.result` (JSON) and what a
//! report is drawn from. Every amount is a `Decimal`, serialized as a
//! string, never through `f64`; times are RFC 3339 strings in UTC with
//! nanoseconds (`2026-12-01T10:00:00.123456789Z`).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The whole `result` column of a completed job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub summary: Summary,
    /// One point per trade, in event-time order.
    pub trades: Vec<TradePoint>,
    /// One span per opportunity episode the detector opened.
    pub episodes: Vec<EpisodeSpan>,
}

/// The figures of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Books fed to the detector and executor.
    pub books: u64,
    /// Feed status messages fed to the detector.
    pub statuses: u64,
    /// Opportunities by episode state (`open`, `update`, `close`).
    pub opportunities: BTreeMap<String, u64>,
    /// Trades by status (`completed`, `partial`, `failed`, `unwound`).
    pub trades: BTreeMap<String, u64>,
    /// Orders refused before they went out (risk, venue rules, no book, ...),
    /// by reason code.
    pub rejected: BTreeMap<String, u64>,
    /// The currency the P&L figures are in.
    pub currency: String,
    /// Realized P&L over all trades, net of fees (and transfer costs).
    pub realized_pnl: Decimal,
    /// Taker fees paid.
    pub fees: Decimal,
    /// Largest fall of cumulative realized P&L from a previous peak (≥ 0).
    pub max_drawdown: Decimal,
    /// Trades with positive realized P&L over trades with any fill; `None`
    /// with no such trade.
    pub win_rate: Option<Decimal>,
    /// The opportunities' expected profit, summed over the trades made.
    pub expected_profit: Decimal,
    /// Realized P&L of those trades (what of the expected profit was captured).
    pub captured_profit: Decimal,
    /// How many events the run produced.
    pub events: u64,
    /// SHA-256 (hex) over every event produced, in order, as encoded on the
    /// wire (MessagePack): the same history and parameters give the same hash.
    pub hash: String,
}

/// One trade, for the equity curve and the captured-vs-expected chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradePoint {
    /// Event time of the trade record.
    pub ts: String,
    pub trade_id: String,
    pub episode_id: Option<String>,
    /// `cross` or `triangular`.
    pub strategy: String,
    /// What it traded across: `sim-a→sim-b BTC-USD` for a cross trade, the
    /// venue and cycle for a triangle (`sim-a USD→BTC→ETH→USD`).
    pub label: String,
    /// `completed`, `partial`, `failed` or `unwound`.
    pub status: String,
    pub currency: String,
    pub expected_profit: Decimal,
    pub realized_pnl: Decimal,
    pub fees: Decimal,
    /// Cumulative realized P&L after this trade.
    pub cumulative: Decimal,
    /// Drawdown after this trade: peak cumulative so far minus cumulative (≥ 0).
    pub drawdown: Decimal,
}

/// One opportunity episode: from its `open` to its `close` (event time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeSpan {
    pub episode_id: String,
    pub key: String,
    pub opened: String,
    /// `None`: still open when the history ended.
    pub closed: Option<String>,
    /// Event-time duration; `None` while open.
    pub duration_ms: Option<i64>,
    /// Highest net edge seen, in basis points.
    pub peak_edge_bps: Decimal,
}
