//! `arb-executor`: opportunities in; orders, fills, trades, P&L out. See the library.
// The binary is a thin shell: its dependencies are the library's.
#![allow(unused_crate_dependencies)]
#![forbid(unsafe_code)]

use clap::Parser;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    arb_runtime::telemetry::init("arb-executor");
    let config = arb_executor::Config::parse();
    arb_executor::run(config, arb_runtime::shutdown::signal()).await
}
