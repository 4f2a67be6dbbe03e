//! `arb-replay`: JetStream history played back (`publish`) or run through the
//! detector and paper executor in one process (`backtest`). See the library.
// The binary is a thin shell: its dependencies are the library's.
#![allow(unused_crate_dependencies)]
#![forbid(unsafe_code)]

#[global_allocator]
static GLOBAL: arb_replay::Allocator = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    arb_runtime::telemetry::init("arb-replay");
    arb_replay::main(arb_runtime::shutdown::signal()).await
}
