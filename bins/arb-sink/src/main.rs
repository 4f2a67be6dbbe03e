//! arb-sink: JetStream → PostgreSQL. See the crate docs of `arb_sink`.
#![allow(unused_crate_dependencies)] // the binary is a thin shell; the dependencies are the library's

use clap::Parser;

#[global_allocator]
static GLOBAL: arb_sink::Allocator = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    arb_runtime::telemetry::init("arb-sink");
    let cfg = arb_sink::SinkConfig::parse();
    arb_sink::run(cfg, arb_runtime::shutdown::signal()).await
}
