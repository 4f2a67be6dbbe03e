//! arbctl: see the crate docs of `arbctl`.
#![allow(unused_crate_dependencies)] // the binary is a thin shell; the dependencies are the library's

use clap::Parser;

#[tokio::main]
async fn main() {
    arb_runtime::telemetry::init("arbctl");
    let cli = arbctl::Cli::parse();
    let mut stdout = std::io::stdout();
    match arbctl::run(cli, &mut stdout).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
