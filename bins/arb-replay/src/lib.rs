//! `arb-replay` (issue 13).
//!
//! - [`publish`]: a stream's history, or a slice of it, played back onto
//!   `replay.<run>.<original subject>` in stream order at a chosen speed, so
//!   that processes started with the subject prefix `replay.<run>` run on it
//!   as on live data while live consumers see none of it.
//! - [`backtest`]: books from JetStream or PostgreSQL run through the very
//!   detector and paper-executor code the live processes run, on event time,
//!   with a `backtest_jobs` row per run, parity against what the live
//!   detector published, and parameter sweeps over the cores.
#![forbid(unsafe_code)]

pub mod backtest;

/// The allocator the arb-replay binary runs with (`#[global_allocator]` in
/// the binary and the benchmark): mimalloc. A backtest allocates each
/// decoded book's venue, symbol and two sides and frees them once the
/// executor's book history is past them; with glibc's malloc the same run
/// took about a sixth longer (the README's benchmark notes).
pub type Allocator = mimalloc::MiMalloc;
pub mod publish;

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use arb_contract::subject::StreamKind;
use arb_runtime::BusError;
use arb_runtime::bus::Bus;
use arb_runtime::config::StreamArgs;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "arb-replay",
    version,
    about = "Replay JetStream history; run backtests"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Play a stream's history onto `replay.<run>.<subject>`.
    Publish(Box<publish::PublishArgs>),
    /// Run the detector and paper executor over recorded books.
    Backtest(Box<backtest::BacktestArgs>),
}

/// The streams of a run (the bus's prefix `replay.<run>`): made when this
/// user may make streams (the operator, or a server without permissions),
/// else waited for until the operator runs `arbctl streams --ensure
/// --subject-prefix replay.<run>` (the replay user may not: see
/// `nats/nats-server.conf`). `None`: `stop` came first.
pub async fn run_streams(
    bus: &Bus,
    args: &StreamArgs,
    stop: impl Future<Output = ()>,
) -> Result<Option<()>, BusError> {
    match bus.check_streams(&StreamKind::ALL, args).await {
        Ok(()) => return Ok(Some(())),
        Err(BusError::Missing { .. }) => {}
        Err(e) => return Err(e),
    }
    match tokio::time::timeout(Duration::from_secs(10), bus.ensure_streams(args)).await {
        Ok(Ok(())) => return Ok(Some(())),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot make the run's streams; waiting for the operator to")
        }
        Err(_) => tracing::warn!("making the run's streams timed out; waiting for the operator to"),
    }
    arb_runtime::retry::until_ok("the run's streams", stop, BusError::is_retryable, || {
        bus.check_streams(&StreamKind::ALL, args)
    })
    .await
}

/// Parses the command line and runs it; the exit code says how it went
/// (0 done, 1 failed, 2 bad usage, 3 a parity difference).
pub async fn main(shutdown: impl Future<Output = ()> + Send + 'static) -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = Cli::parse_from(&argv);
    let outcome = match cli.command {
        Command::Publish(args) => publish::run(*args, shutdown).await,
        // The command line again: which options the user left unset, for
        // the defaults in the database and the sweep points.
        Command::Backtest(args) => backtest::run(*args, argv, shutdown).await,
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("arb-replay: {e:#}");
            ExitCode::FAILURE
        }
    }
}

// Only the integration tests use them.
#[cfg(test)]
use {arb_exec as _, arb_testkit as _, arb_venues as _};

#[cfg(test)]
mod tests {
    use super::*;

    /// A run id names subjects and streams: a backtest's `--run` is held
    /// to the same rule as `arb-replay publish --run`.
    #[test]
    fn a_backtest_run_id_is_checked_as_a_replay_run_id_is() {
        for cmd in ["publish", "backtest"] {
            let parse = |run: &str| Cli::try_parse_from(["arb-replay", cmd, "--run", run]);
            for bad in ["a.b", "a b", "a*", ""] {
                let e = parse(bad).expect_err(bad).to_string();
                assert!(e.contains("--run"), "{cmd} --run {bad:?}: {e}");
            }
            assert!(parse("run-1_b").is_ok(), "{cmd}");
        }
    }
}
