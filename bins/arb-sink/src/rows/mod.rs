//! The rows the sink writes, in PostgreSQL's binary COPY format: which table
//! each message type lands in and its columns (here), the COPY encoding
//! (`copy.rs`), each message's row (`message.rs`) and the buffers reused
//! from batch to batch (`pool.rs`). Pure, no I/O: the pipeline fills the
//! rows as messages arrive and [`crate::store`] sends them.

mod copy;
mod message;
mod pool;

pub use copy::{CopyRows, EncodeError};
pub use pool::BufferPool;

use arb_contract::codec::Decoded;

/// The tables the sink writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    MarketSnapshots,
    Opportunities,
    Orders,
    Trades,
    PnlEvents,
    PortfolioSnapshots,
    Transfers,
    AuditEvents,
    RuntimeStateSnapshots,
}

impl Table {
    pub const ALL: [Table; 9] = [
        Table::MarketSnapshots,
        Table::Opportunities,
        Table::Orders,
        Table::Trades,
        Table::PnlEvents,
        Table::PortfolioSnapshots,
        Table::Transfers,
        Table::AuditEvents,
        Table::RuntimeStateSnapshots,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::MarketSnapshots => "market_snapshots",
            Table::Opportunities => "opportunities",
            Table::Orders => "orders",
            Table::Trades => "trades",
            Table::PnlEvents => "pnl_events",
            Table::PortfolioSnapshots => "portfolio_snapshots",
            Table::Transfers => "transfers",
            Table::AuditEvents => "audit_events",
            Table::RuntimeStateSnapshots => "runtime_state_snapshots",
        }
    }

    /// The columns written, in COPY order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Table::MarketSnapshots => &[
                "id",
                "ts",
                "received_ts",
                "venue",
                "symbol",
                "sequence",
                "checksum",
                "best_bid",
                "best_ask",
                "bid_prices",
                "bid_sizes",
                "ask_prices",
                "ask_sizes",
            ],
            Table::Opportunities => &[
                "id",
                "episode_id",
                "kind",
                "key",
                "state",
                "book_ts",
                "received_ts",
                "published_ts",
                "currency",
                "notional",
                "gross_edge_bps",
                "net_edge_bps",
                "expected_profit",
                "peak_edge_bps",
                "opened_ts",
                "duration_ms",
                "legs",
            ],
            Table::Orders => &[
                "id",
                "ts",
                "order_id",
                "venue_order_id",
                "trade_id",
                "opportunity_id",
                "episode_id",
                "strategy",
                "venue",
                "symbol",
                "side",
                "order_type",
                "status",
                "price",
                "qty",
                "filled_qty",
                "filled_notional",
                "avg_fill_price",
                "fee",
                "fee_currency",
                "reason",
            ],
            Table::Trades => &[
                "id",
                "ts",
                "opportunity_id",
                "episode_id",
                "strategy",
                "status",
                "currency",
                "notional",
                "fees",
                "realized_pnl",
                "expected_profit",
                "decision_latency_us",
                "legs",
            ],
            Table::PnlEvents => &[
                "id",
                "ts",
                "strategy",
                "trade_id",
                "currency",
                "realized",
                "unrealized",
                "fees",
                "cumulative_realized",
            ],
            Table::PortfolioSnapshots => &[
                "id",
                "ts",
                "venue",
                "balances",
                "valuation_currency",
                "total_value",
            ],
            Table::Transfers => &[
                "id",
                "ts",
                "transfer_id",
                "asset",
                "from_venue",
                "to_venue",
                "amount",
                "fee",
                "status",
                "sent_ts",
                "arrives_ts",
                "cost",
                "currency",
            ],
            Table::AuditEvents => &[
                "id", "ts", "service", "kind", "severity", "message", "subject", "detail",
                "payload",
            ],
            Table::RuntimeStateSnapshots => &[
                "id",
                "ts",
                "service",
                "instance",
                "version",
                "started_at",
                "uptime_secs",
                "counters",
                "lag",
                "detail",
            ],
        }
    }

    /// The primary key, for `ON CONFLICT`.
    pub fn key(self) -> &'static str {
        match self {
            Table::MarketSnapshots => "id, ts",
            _ => "id",
        }
    }

    /// Where a message type is stored.
    pub fn of(msg: &Decoded) -> Table {
        match msg {
            Decoded::Book(_) => Table::MarketSnapshots,
            Decoded::Opportunity(_) => Table::Opportunities,
            Decoded::Order(_) => Table::Orders,
            Decoded::Trade(_) => Table::Trades,
            Decoded::Pnl(_) => Table::PnlEvents,
            Decoded::Portfolio(_) => Table::PortfolioSnapshots,
            Decoded::Transfer(_) => Table::Transfers,
            Decoded::Status(_) | Decoded::Audit(_) | Decoded::DeadLetter(_) => Table::AuditEvents,
            Decoded::State(_) => Table::RuntimeStateSnapshots,
        }
    }

    pub fn column_list(self) -> String {
        self.columns().join(", ")
    }
}
