//! arbctl: see the crate docs of `arbctl`.
#![allow(unused_crate_dependencies)] // the binary is a thin shell; the dependencies are the library's

use clap::Parser;

#[tokio::main]
async fn main() {
    // Warnings and errors only unless RUST_LOG asks for more, all on stderr:
    // standard output is the command's (JSON lines for `tap`).
    arb_runtime::telemetry::init_with_default("arbctl", "warn");
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
