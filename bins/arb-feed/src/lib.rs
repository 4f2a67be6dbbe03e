//! `arb-feed`: market data in, local L2 books out.
//!
//! Connects to one venue (Kraken, Binance, Coinbase, or the built-in
//! simulator), keeps a local order book per symbol that is checked by the
//! venue's checksum or sequence numbers, and publishes the top levels on
//! `md.book.<venue>.<BASE-QUOTE>` after each change. Connection and book
//! health go to `md.status.<venue>`, bad frames to `sys.audit.feed-<venue>`,
//! counters to the `sys.state.feed-<venue>` heartbeat.
//!
//! The venues' protocols are the pure adapters of `arb-venues`; this crate
//! is the I/O around them: the WebSocket loop ([`runner`]), the publishing
//! edge ([`publish`]) and the simulator's pacing ([`sim`]).
#![forbid(unsafe_code)]

pub mod config;
pub mod publish;
pub mod ratelimit;
pub mod runner;
pub mod sim;

use std::future::Future;

use anyhow::Context;
use arb_contract::subject::StreamKind;
use arb_runtime::BusError;
use arb_runtime::bus::{Bus, FLUSH_DEADLINE};
use arb_runtime::retry::until_ok;
use arb_venues::{binance, coinbase, kraken};
use futures::FutureExt;

pub use config::{Config, Venue};

// Used by the integration tests only.
#[cfg(test)]
use {arb_testkit as _, async_nats as _, crc32fast as _, rust_decimal as _, uuid as _};

/// Runs the feed until `shutdown` resolves (or, for the simulator, `--count`
/// books are out), then flushes the publisher and drains NATS.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    // Shared: the venue loop stops on it, and it also bounds a venue loop
    // that is stuck on a publish when it comes (see below).
    let shutdown = shutdown.shared();
    anyhow::ensure!(!config.symbols.is_empty(), "no symbols given (--symbols)");
    let service = config.service();
    let bus = tokio::select! {
        _ = shutdown.clone() => return Ok(()),
        bus = Bus::connect(&config.nats, &service, None) => bus.context("failed to connect to NATS")?,
    };
    // The operator creates the streams (`arbctl streams --ensure`): wait
    // for them, with backoff, rather than exit.
    let streams = until_ok(
        "checking the JetStream streams",
        shutdown.clone(),
        BusError::is_retryable,
        || bus.check_streams(&[StreamKind::Md, StreamKind::Sys], &config.streams),
    )
    .await
    .context("the JetStream streams")?;
    if streams.is_none() {
        bus.drain().await;
        return Ok(());
    }
    let mut out = publish::Out::new(
        &service,
        bus.publisher(config.max_inflight),
        config.min_interval,
    );
    tracing::info!(venue = config.venue.as_str(), symbols = ?config.symbols.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "feed starting");
    let serve = async {
        let mut stop = std::pin::pin!(shutdown.clone());
        match config.venue {
            Venue::Sim => sim::run(&config, &mut out, stop.as_mut()).await,
            Venue::Kraken => {
                let a =
                    kraken::KrakenAdapter::new(config.kraken_url.clone(), &config.book_settings());
                if a.depth() != config.depth {
                    tracing::warn!(
                        asked = config.depth,
                        used = a.depth(),
                        "Kraken accepts book depths {:?}",
                        kraken::DEPTHS
                    );
                }
                runner::run_ws(a, &config, &mut out, stop.as_mut()).await
            }
            Venue::Binance => {
                let a = binance::BinanceAdapter::new(
                    &config.binance_stream_url,
                    &config.binance_api_url,
                    &config.book_settings(),
                );
                runner::run_ws(a, &config, &mut out, stop.as_mut()).await
            }
            Venue::Coinbase => {
                let a =
                    coinbase::CoinbaseAdapter::new(&config.coinbase_url, &config.book_settings());
                runner::run_ws(a, &config, &mut out, stop.as_mut()).await
            }
        }
    };
    let deadline =
        arb_runtime::shutdown::serve_within(serve, shutdown.clone(), FLUSH_DEADLINE).await;
    // Bounded, from the shutdown on: with NATS down the last publishes would
    // wait for ever.
    let tail = async {
        out.heartbeat().await;
        out.flush().await;
    };
    if tokio::time::timeout_at(deadline, tail).await.is_err() {
        tracing::warn!(deadline = ?FLUSH_DEADLINE, "NATS did not take the last publishes in time");
    }
    bus.drain().await;
    tracing::info!(counters = ?out.counters, "feed stopped");
    Ok(())
}
