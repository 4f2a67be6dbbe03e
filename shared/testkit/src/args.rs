//! The standard flags and environment of the processes under test.

use crate::bus::TestBus;
use crate::nats::NatsUser;

/// Owned arguments from string slices.
pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The tests' stream limits ([`crate::test_stream_args`]) as flags: a
/// process under test that checks its streams finds the limits it was
/// given, and `arbctl streams --ensure` makes them so.
pub fn stream_limit_args() -> Vec<String> {
    let l = crate::test_stream_args();
    let secs = |d: std::time::Duration| format!("{}s", d.as_secs());
    vec![
        format!("--md-max-bytes={}", l.md_max_bytes),
        format!("--arb-max-bytes={}", l.arb_max_bytes),
        format!("--exec-max-bytes={}", l.exec_max_bytes),
        format!("--sys-max-bytes={}", l.sys_max_bytes),
        format!("--md-max-age={}", secs(l.md_max_age)),
        format!("--arb-max-age={}", secs(l.arb_max_age)),
        format!("--exec-max-age={}", secs(l.exec_max_age)),
        format!("--sys-max-age={}", secs(l.sys_max_age)),
    ]
}

/// The standard arguments of an arb-sink under test.
pub fn sink_args(durable: &str) -> Vec<String> {
    let mut args = strings(&[
        "--durable",
        durable,
        "--batch-size",
        "500",
        "--batch-max-age",
        "50ms",
        "--heartbeat-interval",
        "1s",
    ]);
    args.extend(stream_limit_args());
    args
}

/// `arb-feed --venue sim` publishing about `rate` books a second,
/// heartbeating every second.
pub fn sim_feed_args(rate: u32) -> Vec<String> {
    strings(&[
        "--venue",
        "sim",
        "--rate",
        &rate.to_string(),
        "--heartbeat-interval",
        "1s",
    ])
}

/// `arb-detector` with `strategy`, heartbeating every second.
pub fn detector_args(strategy: &str) -> Vec<String> {
    strings(&["--strategy", strategy, "--heartbeat-interval", "1s"])
}

/// The environment of a process under test on `tb`'s server and prefix.
pub fn env(tb: &TestBus, database_url: &str) -> Vec<(&'static str, String)> {
    env_on(&tb.args.nats_url, &tb.prefix, database_url)
}

/// The environment of a process under test on the server at `nats_url`
/// under `prefix` (for when there is no [`TestBus`]: NATS is down), as the
/// operator of the repo's NATS config: a private [`crate::NatsServer`] has
/// its users, the shared server none (and ignores the credentials).
pub fn env_on(nats_url: &str, prefix: &str, database_url: &str) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("NATS_URL", nats_url.to_owned()),
        ("ARB_SUBJECT_PREFIX", prefix.to_owned()),
        ("DATABASE_URL", database_url.to_owned()),
    ];
    env.extend(NatsUser::operator().env());
    env
}
