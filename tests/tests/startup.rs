//! Start-up faults with the real binaries. A permanent one (an unreadable
//! credentials file, a malformed database or NATS URL, a stream whose
//! existing configuration conflicts) ends the process non-zero within a few
//! seconds, without retrying, with a message that names the problem and no
//! password in it. A transient one (NATS not up yet) is retried until NATS
//! comes.
#![allow(unused_crate_dependencies)]

use std::time::Duration;

use arb_contract::subject::StreamKind;
use arb_runtime::bus::Bus;
use arb_runtime::config::NatsArgs;
use arb_testkit::*;
use async_nats::jetstream::stream::{Config as StreamConfig, StorageType};

/// A permanent fault at start-up ends the process within this: it must not
/// be retried. A bound asserted as a correctness property, not a timing.
const GIVE_UP_DEADLINE: Duration = Duration::from_secs(10);

/// What the runtime logs each time it retries a connection or a set-up step.
const RETRYING: &str = "retrying";

const BAD_CREDS: &str = "/nonexistent/x.creds";
const BAD_DATABASE_URL: &str = "postgres://u:secretpw@db:notaport/x";
const PASSWORD: &str = "secretpw";

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn feed_args() -> Vec<String> {
    strings(&[
        "--venue",
        "sim",
        "--rate",
        "20",
        "--heartbeat-interval",
        "1s",
    ])
}

fn detector_args() -> Vec<String> {
    strings(&["--strategy", "cross", "--heartbeat-interval", "1s"])
}

fn prefix(name: &str) -> String {
    format!("t.{}", unique(name))
}

/// The environment of a process on NATS at `nats_url` under its own prefix,
/// with a database URL the sink accepts (its pool connects lazily).
fn environment(nats_url: &str, prefix: &str) -> Vec<(&'static str, String)> {
    vec![
        ("NATS_URL", nats_url.to_owned()),
        ("ARB_SUBJECT_PREFIX", prefix.to_owned()),
        ("DATABASE_URL", admin_database_url()),
    ]
}

/// Runs `bin` and expects it to give up: a non-zero exit within
/// [`GIVE_UP_DEADLINE`], no retry logged. Returns its log.
async fn gives_up(bin: &str, args: &[String], env: &[(&str, String)]) -> String {
    let mut proc = Proc::spawn(bin, args, env);
    let status = proc.exit_within(GIVE_UP_DEADLINE).await;
    let log = proc.log_text();
    let status = status.unwrap_or_else(|| {
        panic!("{bin} still running {GIVE_UP_DEADLINE:?} after a permanent fault; its log:\n{log}")
    });
    assert!(
        !status.success(),
        "{bin} exited with success on a permanent fault; its log:\n{log}"
    );
    assert!(
        !log.contains(RETRYING),
        "{bin} retried a permanent fault; its log:\n{log}"
    );
    log
}

fn assert_names(bin: &str, log: &str, needles: &[&str]) {
    for n in needles {
        assert!(
            log.contains(n),
            "{bin}'s message does not name {n:?}; its log:\n{log}"
        );
    }
}

/// An unreadable credentials file, on the command line or in `NATS_CREDS`:
/// the process says which file and stops.
async fn bad_credentials(bin: &str, mut args: Vec<String>, via_env: bool) {
    let mut env = environment(&nats_url(), &prefix("creds"));
    if via_env {
        env.push(("NATS_CREDS", BAD_CREDS.to_owned()));
    } else {
        args.extend(strings(&["--nats-creds", BAD_CREDS]));
    }
    let log = gives_up(bin, &args, &env).await;
    assert_names(bin, &log, &["credentials", BAD_CREDS]);
}

#[tokio::test]
async fn feed_stops_on_a_bad_credentials_path() {
    bad_credentials("arb-feed", feed_args(), false).await;
}

#[tokio::test]
async fn detector_stops_on_a_bad_credentials_path() {
    bad_credentials("arb-detector", detector_args(), true).await;
}

#[tokio::test]
async fn sink_stops_on_a_bad_credentials_path() {
    bad_credentials("arb-sink", sink_args("sink"), false).await;
}

#[tokio::test]
async fn arbctl_stops_on_a_bad_credentials_path() {
    bad_credentials("arbctl", strings(&["streams"]), false).await;
    bad_credentials("arbctl", strings(&["streams"]), true).await;
}

/// A malformed database URL: the process says so, without its password.
async fn bad_database_url(bin: &str, args: Vec<String>) {
    let mut env = environment(&nats_url(), &prefix("db_url"));
    env.retain(|(k, _)| *k != "DATABASE_URL");
    env.push(("DATABASE_URL", BAD_DATABASE_URL.to_owned()));
    let log = gives_up(bin, &args, &env).await;
    assert!(
        log.contains("database URL") || log.contains("DATABASE_URL"),
        "{bin}'s message does not name the database URL; its log:\n{log}"
    );
    assert_names(bin, &log, &["db:notaport"]);
    assert!(
        !log.contains(PASSWORD),
        "{bin} printed the database password; its log:\n{log}"
    );
}

#[tokio::test]
async fn sink_stops_on_a_malformed_database_url() {
    bad_database_url("arb-sink", sink_args("sink")).await;
}

#[tokio::test]
async fn arbctl_stops_on_a_malformed_database_url() {
    bad_database_url("arbctl", strings(&["db", "verify"])).await;
}

#[tokio::test]
async fn detector_stops_on_a_malformed_nats_url() {
    let bad = "nats://127.0.0.1:notaport";
    let log = gives_up(
        "arb-detector",
        &detector_args(),
        &environment(bad, &prefix("nats_url")),
    )
    .await;
    assert_names("arb-detector", &log, &["NATS", bad]);
}

/// A connection of the test's own under `prefix` on the server at `url`,
/// with no streams created.
async fn bus_on(url: &str, prefix: &str) -> Bus {
    let args = NatsArgs {
        nats_url: url.to_owned(),
        subject_prefix: Some(prefix.to_owned()),
        ..NatsArgs::default()
    };
    Bus::connect_once(&args, "startup-test")
        .await
        .unwrap_or_else(|e| panic!("these tests need NATS with JetStream at {url}: {e}"))
}

#[tokio::test]
async fn sink_stops_when_another_stream_captures_its_subjects() {
    let prefix = prefix("overlap");
    let bus = bus_on(&nats_url(), &prefix).await;
    // Another stream already stores the MD subjects: JetStream refuses a
    // second one on them, every time.
    let squatter = format!("SQUAT_{}", unique("md").to_uppercase());
    bus.js
        .create_stream(StreamConfig {
            name: squatter.clone(),
            subjects: vec![bus.subjects.stream_filter(StreamKind::Md)],
            storage: StorageType::Memory,
            ..Default::default()
        })
        .await
        .expect("create the squatting stream");

    let log = gives_up(
        "arb-sink",
        &sink_args("sink"),
        &environment(&nats_url(), &prefix),
    )
    .await;
    assert_names(
        "arb-sink",
        &log,
        &["streams", &bus.subjects.stream_name(StreamKind::Md)],
    );

    let _ = bus.js.delete_stream(&squatter).await;
    bus.drain().await;
}

#[tokio::test]
async fn detector_stops_when_its_stream_exists_with_another_storage() {
    let prefix = prefix("conflict");
    let bus = bus_on(&nats_url(), &prefix).await;
    // The MD stream already exists, in memory: JetStream cannot change a
    // stream's storage, so the detector's file-backed MD is refused.
    let md = bus.subjects.stream_name(StreamKind::Md);
    bus.js
        .create_stream(StreamConfig {
            name: md.clone(),
            subjects: vec![bus.subjects.stream_filter(StreamKind::Md)],
            storage: StorageType::Memory,
            ..Default::default()
        })
        .await
        .expect("create the conflicting stream");

    let log = gives_up(
        "arb-detector",
        &detector_args(),
        &environment(&nats_url(), &prefix),
    )
    .await;
    assert_names("arb-detector", &log, &["streams", &md]);

    let _ = bus.js.delete_stream(&md).await;
    bus.drain().await;
}

/// NATS not up at start: the process keeps retrying (still running after
/// its first retries) and is up (heartbeating) once NATS starts.
async fn waits_for_nats(bin: &str, args: Vec<String>, service: &str) {
    let mut nats = NatsServer::start().await;
    nats.kill().await;
    let prefix = prefix(service);
    let db = match bin {
        "arb-sink" => Some(TestDb::new("startup").await),
        _ => None,
    };
    let mut env = environment(&nats.url(), &prefix);
    if let Some(db) = &db {
        env.retain(|(k, _)| *k != "DATABASE_URL");
        env.push(("DATABASE_URL", db.url.clone()));
    }
    let mut proc = Proc::spawn(bin, &args, &env);
    wait_until(&format!("{bin} retrying its NATS connection"), WAIT, || {
        let log = proc.log_text();
        async move { log.matches("NATS not reachable, retrying").count() >= 3 }
    })
    .await;
    assert!(
        proc.is_running(),
        "{bin} gave up on NATS; its log:\n{}",
        proc.log_text()
    );

    nats.restart().await;
    let bus = bus_on(&nats.url(), &prefix).await;
    let hb = first_heartbeat(&bus, service).await;
    assert_eq!(hb.service, service);
    assert!(proc.terminate().await.success());

    bus.drain().await;
    if let Some(db) = db {
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_waits_for_nats_at_start() {
    waits_for_nats("arb-feed", feed_args(), "feed-sim").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detector_waits_for_nats_at_start() {
    waits_for_nats("arb-detector", detector_args(), "detector-cross").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_waits_for_nats_at_start() {
    waits_for_nats("arb-sink", sink_args("sink"), "sink").await;
}
