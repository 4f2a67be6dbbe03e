//! `arb-replay backtest` (being written).

use std::future::Future;
use std::process::ExitCode;

/// Options of `arb-replay backtest`.
#[derive(clap::Args, Debug, Clone)]
pub struct BacktestArgs {}

pub async fn run(
    _args: BacktestArgs,
    _shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
