//! `arb-detector`: order books in, arbitrage opportunities out. See the library.
// The binary is a thin shell: its dependencies are the library's.
#![allow(unused_crate_dependencies)]
#![forbid(unsafe_code)]

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    arb_runtime::telemetry::init("arb-detector");
    let config = arb_detector::Config::parse();
    arb_detector::run(config, arb_runtime::shutdown::signal()).await
}
