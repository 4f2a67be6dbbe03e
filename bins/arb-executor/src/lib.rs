//! `arb-executor`: takes opportunities from `arb.opp.>` and trades them on
//! paper: each leg matched against the venue's book as of its arrival (after
//! a seeded latency), net of taker fees, with pre-trade risk, unwinds of
//! uneven legs, and balances that reconcile exactly. Publishes `OrderEvent`,
//! `TradeEvent`, `PnlEvent`, `PortfolioSnapshot` and `TransferEvent` on
//! `exec.*`; reads its trading state, limits, fees and latencies live from
//! the `arb_config` KV bucket.
//!
//! The trading logic is the pure `arb-exec` engine (what a backtest runs);
//! this crate is its configuration and the NATS loop around it ([`runner`]).
#![forbid(unsafe_code)]

pub mod config;
pub mod runner;

use std::future::Future;

pub use config::{Config, ExecutorArgs};

// Only the integration tests and the benchmark use them.
#[cfg(test)]
use {arb_testkit as _, bytes as _, sqlx as _, uuid as _};

/// Runs the executor until `shutdown` resolves, then flushes and drains.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    runner::run(config, shutdown).await
}
