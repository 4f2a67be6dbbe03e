//! `arb-feed`: market data in, local L2 books out. See the library crate.
// The binary is a thin shell: its dependencies are the library's.
#![allow(unused_crate_dependencies)]
#![forbid(unsafe_code)]

use arb_feed::Config;
use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    arb_runtime::telemetry::init("feed");
    let config = Config::parse();
    arb_feed::run(config, arb_runtime::shutdown::signal()).await
}
