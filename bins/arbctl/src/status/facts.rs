//! What one look at the stack found, as `collect` reads it: the streams
//! and their durable consumers, each service's newest heartbeats, the
//! dead letters of the window, the database. Plain data; [`super::report`]
//! judges it.

use arb_contract::RuntimeState;
use arb_contract::time::Timestamp;

/// How many of a service's newest heartbeats are read (its interval is
/// measured from them).
pub const BEATS_READ: usize = 4;

/// Everything one look at the stack found.
#[derive(Debug, Clone)]
pub struct Facts {
    /// When the look was taken (arbctl's clock).
    pub taken: Timestamp,
    pub prefix: Option<String>,
    /// The NATS URL, any password masked.
    pub nats_url: String,
    /// `Err`: NATS could not be reached.
    pub bus: Result<BusFacts, String>,
    /// `None`: no database was asked for; `Err`: it could not be reached.
    pub database: Option<Result<DbFacts, String>>,
    /// Dead letters are counted from here on.
    pub dead_letters_since: Timestamp,
}

/// What JetStream holds.
#[derive(Debug, Clone)]
pub struct BusFacts {
    /// One per `sys.state.<service>` subject in the SYS stream (none without one).
    pub heartbeats: Result<Vec<ServiceBeats>, String>,
    /// The prefix's four streams, in [`arb_contract::subject::StreamKind::ALL`] order.
    pub streams: Vec<StreamFacts>,
    /// Per `sys.dlq.<service>` subject with a dead letter since [`Facts::dead_letters_since`].
    pub dead_letters: Result<Vec<DeadLetterFacts>, String>,
}

/// One heartbeat as the SYS stream holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Beat {
    /// When the stream stored it (the server's clock): ages and spacings are
    /// measured on this one clock, whatever the services' clocks say.
    pub stored: Timestamp,
    pub state: RuntimeState,
}

/// A service's newest heartbeats, newest first (up to [`BEATS_READ`]).
#[derive(Debug, Clone)]
pub struct ServiceBeats {
    pub service: String,
    /// `Err`: the newest one could not be read or decoded.
    pub beats: Result<Vec<Beat>, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StreamState {
    Present(StreamFigures),
    Missing,
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamFacts {
    pub name: String,
    pub state: StreamState,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamFigures {
    pub messages: u64,
    pub bytes: u64,
    /// Stored times of the oldest and newest message; `None` when empty.
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    /// The durable consumers, by name.
    pub consumers: Vec<ConsumerFacts>,
}

/// A durable consumer's lag: what it has not been sent yet and what it has
/// not acknowledged.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerFacts {
    pub name: String,
    pub pending: u64,
    pub ack_pending: u64,
    pub redelivered: u64,
}

impl ConsumerFacts {
    /// Messages the consumer has not finished with.
    pub fn lag(&self) -> u64 {
        self.pending + self.ack_pending
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetterFacts {
    pub subject: String,
    pub service: String,
    pub count: u64,
    /// When the newest one was stored, and why it was given up on.
    pub last: Timestamp,
    pub last_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DbFacts {
    pub size_bytes: i64,
    /// One per table of [`arb_runtime::db::TABLES`].
    pub tables: Vec<TableFacts>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableFacts {
    pub table: &'static str,
    /// The time column its newest row is found by.
    pub column: Option<&'static str>,
    pub newest: Newest,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Newest {
    At(Timestamp),
    Empty,
    Missing,
    /// The table has no time column `status` knows of.
    Unknown,
    Failed(String),
}

/// Each table's time column: the event time where rows carry one, else
/// when the row was last changed or made.
pub fn time_column(table: &str) -> Option<&'static str> {
    Some(match table {
        "config_sections" | "config_settings" | "config_pairings" => "updated_at",
        "config_backtesting_defaults" | "backtest_jobs" => "created_at",
        "opportunities" => "book_ts",
        "trades"
        | "orders"
        | "pnl_events"
        | "portfolio_snapshots"
        | "transfers"
        | "market_snapshots"
        | "audit_events"
        | "runtime_state_snapshots"
        | "account_snapshots" => "ts",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_a_time_column() {
        for t in arb_runtime::db::TABLES {
            assert!(time_column(t).is_some(), "{t}: which column is its time?");
        }
    }
}
