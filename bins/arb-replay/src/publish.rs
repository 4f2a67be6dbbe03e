//! `arb-replay publish` (being written).

use std::future::Future;
use std::process::ExitCode;

/// Options of `arb-replay publish`.
#[derive(clap::Args, Debug, Clone)]
pub struct PublishArgs {}

pub async fn run(
    _args: PublishArgs,
    _shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
