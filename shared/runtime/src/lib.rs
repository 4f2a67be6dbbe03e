//! What every arbitrade process runs on, around the pure contract: the
//! NATS/JetStream bus ([`bus`]), KV watches ([`kv`]), command-line
//! configuration ([`config`]), PostgreSQL ([`db`], behind the `db` feature),
//! shutdown with a deadline ([`shutdown`]), tracing ([`telemetry`]), and the
//! one place that reads the wall clock ([`clock`]).
#![forbid(unsafe_code)]

pub mod bus;
pub mod clock;
pub mod config;
#[cfg(feature = "db")]
pub mod db;
pub mod error;
pub mod headers;
pub mod kv;
pub mod retry;
pub mod secret;
pub mod shutdown;
pub mod telemetry;

pub use error::{BusError, ConfigError, Fault};

// Used by the integration tests only.
#[cfg(test)]
use arb_testkit as _;
