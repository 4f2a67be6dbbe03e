//! `arb-detector`: reads order books (`md.book.>`) and feed states
//! (`md.status.>`), and publishes arbitrage opportunities net of taker fees
//! and sized by depth on `arb.opp.<kind>.<key>`, once per episode (open /
//! update / close).
//!
//! The detection itself is the pure `arb-detect` library (also what a
//! backtest runs); this crate is its configuration and the thin NATS loop
//! around it ([`runner`]).
#![forbid(unsafe_code)]

pub mod config;
pub mod runner;

use std::future::Future;

pub use config::{Config, DetectorArgs, Strategy};

// Only the integration tests and the benchmark use them.
#[cfg(test)]
use {arb_testkit as _, bytes as _, hdrhistogram as _, uuid as _};

/// Runs the detector loop until `shutdown` resolves, then closes open
/// episodes, flushes publishes and drains the connection.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    runner::run(config, shutdown).await
}
