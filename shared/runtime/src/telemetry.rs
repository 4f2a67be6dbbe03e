//! Tracing set-up: `RUST_LOG` filter (default `info` for the services), text
//! or JSON lines on stderr, never stdout.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `ARB_LOG_FORMAT=json` switches to JSON lines.
pub fn init(service: &str) {
    init_with_default(service, "info");
}

/// [`init`] with another filter for when `RUST_LOG` is unset: `arbctl`
/// logs only warnings and errors by default, so what a command prints is
/// all there is to read.
pub fn init_with_default(service: &str, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let json = std::env::var("ARB_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    tracing::debug!(service, "tracing initialised");
}
