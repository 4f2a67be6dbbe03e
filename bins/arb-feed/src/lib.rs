//! `arb-feed`: market data in, local L2 books out.
//!
//! Connects to one venue (Kraken, Binance, Coinbase, or the built-in
//! simulator), keeps a local order book per symbol that is checked by the
//! venue's checksum or sequence numbers, and publishes the top levels on
//! `md.book.<venue>.<BASE-QUOTE>` after each change. Connection and book
//! health go to `md.status.<venue>`, bad frames to `sys.audit.feed`, counters
//! to the `sys.state.feed` heartbeat.
#![forbid(unsafe_code)]

pub mod binance;
pub mod book;
pub mod coinbase;
pub mod config;
pub mod error;
pub mod kraken;
pub mod publish;
pub mod ratelimit;
pub mod runner;
pub mod sim;

use std::future::Future;

use anyhow::Context;
use arb_shared::bus::Bus;
use arb_shared::subject::StreamKind;

pub use config::{Config, Venue};

// Used by the integration tests only.
#[cfg(test)]
use async_nats as _;

/// Runs the feed until `shutdown` resolves (or, for the simulator, `--count`
/// books are out), then flushes the publisher and drains NATS.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    anyhow::ensure!(!config.symbols.is_empty(), "no symbols given (--symbols)");
    let bus = tokio::select! {
        _ = &mut shutdown => return Ok(()),
        bus = Bus::connect(&config.nats, publish::SERVICE, None) => bus.context("failed to connect to NATS")?,
    };
    for kind in [StreamKind::Md, StreamKind::Sys] {
        bus.ensure_stream(
            kind,
            config.streams.limits(kind),
            config.streams.duplicate_window,
        )
        .await
        .context("failed to create the JetStream streams")?;
    }
    let mut out = publish::Out::new(bus.publisher(config.max_inflight), config.min_interval);
    tracing::info!(venue = config.venue.as_str(), symbols = ?config.symbols.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "feed starting");
    match config.venue {
        Venue::Sim => sim::run(&config, &mut out, shutdown.as_mut()).await,
        Venue::Kraken => {
            let depth = config::round_up_depth(config.depth, &config::KRAKEN_DEPTHS);
            if depth != config.depth {
                tracing::warn!(
                    asked = config.depth,
                    used = depth,
                    "Kraken accepts book depths {:?}",
                    config::KRAKEN_DEPTHS
                );
            }
            let a = kraken::KrakenAdapter::new(
                config.kraken_url.clone(),
                &config.symbols,
                depth,
                config.top,
            );
            runner::run_ws(a, &config, &mut out, shutdown.as_mut()).await
        }
        Venue::Binance => {
            let a = binance::BinanceAdapter::new(&config);
            runner::run_ws(a, &config, &mut out, shutdown.as_mut()).await
        }
        Venue::Coinbase => {
            let a = coinbase::CoinbaseAdapter::new(&config);
            runner::run_ws(a, &config, &mut out, shutdown.as_mut()).await
        }
    }
    out.heartbeat().await;
    out.flush().await;
    bus.drain().await;
    tracing::info!(counters = ?out.counters, "feed stopped");
    Ok(())
}
