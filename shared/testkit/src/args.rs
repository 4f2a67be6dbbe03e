//! The standard flags and environment of the processes under test.

use crate::bus::{TestBus, nats_url};

/// The standard arguments of an arb-sink under test.
pub fn sink_args(durable: &str) -> Vec<String> {
    [
        "--durable",
        durable,
        "--batch-size",
        "500",
        "--batch-max-age",
        "50ms",
        "--heartbeat-interval",
        "1s",
        "--md-max-bytes",
        "256MiB",
        "--arb-max-bytes",
        "64MiB",
        "--exec-max-bytes",
        "64MiB",
        "--sys-max-bytes",
        "64MiB",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The environment of a process under test.
pub fn env(tb: &TestBus, database_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("NATS_URL", nats_url()),
        ("ARB_SUBJECT_PREFIX", tb.prefix.clone()),
        ("DATABASE_URL", database_url.to_owned()),
    ]
}
