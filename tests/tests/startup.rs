//! Start-up faults with the real binaries. A permanent one (an unreadable
//! credentials file, a malformed database or NATS URL, a stream whose
//! existing configuration conflicts, a migration that fails) ends the
//! process non-zero within a few
//! seconds, without retrying, with a message that names the problem and no
//! password in it. A transient one (NATS not up yet, the streams not made
//! yet by the operator's `arbctl streams --ensure`) is retried until it
//! passes.
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

/// The environment of a process on NATS at `nats_url` under its own prefix,
/// with a database URL the sink accepts (its pool connects lazily).
fn environment(nats_url: &str, prefix: &str) -> Vec<(&'static str, String)> {
    env_on(nats_url, prefix, &admin_database_url())
}

/// `arb-feed --venue sim` at a gentle rate.
fn feed_args() -> Vec<String> {
    sim_feed_args(20)
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
    let mut env = environment(&nats_url(), &test_prefix("creds"));
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
    bad_credentials("arb-detector", detector_args("cross"), true).await;
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
    let env = env_on(&nats_url(), &test_prefix("db_url"), BAD_DATABASE_URL);
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

/// A migration that cannot be applied (here: the applied one was changed
/// since, which sqlx refuses): the process says the migration failed.
async fn failing_migration(bin: &str, args: Vec<String>) {
    let tb = TestBus::new("migrate_fails").await;
    let db = TestDb::new("migrate_fails").await;
    sqlx::query("UPDATE _sqlx_migrations SET checksum = '\\x00'::bytea")
        .execute(&db.pool)
        .await
        .expect("tamper with the applied migration");
    let log = gives_up(bin, &args, &env(&tb, &db.url)).await;
    assert_names(bin, &log, &["migrat", "modified"]);
    tb.cleanup().await;
    db.cleanup().await;
}

#[tokio::test]
async fn sink_stops_when_a_migration_fails() {
    let mut args = sink_args("sink");
    args.push("--migrate".into());
    failing_migration("arb-sink", args).await;
}

#[tokio::test]
async fn arbctl_stops_when_a_migration_fails() {
    failing_migration("arbctl", strings(&["db", "migrate"])).await;
}

#[tokio::test]
async fn detector_stops_on_a_malformed_nats_url() {
    let bad = "nats://127.0.0.1:notaport";
    let log = gives_up(
        "arb-detector",
        &detector_args("cross"),
        &environment(bad, &test_prefix("nats_url")),
    )
    .await;
    assert_names("arb-detector", &log, &["NATS", bad]);
}

/// A connection of the test's own under `prefix` on the server at `url`
/// (as the operator), with no streams created.
async fn bus_on(url: &str, prefix: &str) -> Bus {
    let args = NatsUser::operator().apply(NatsArgs {
        nats_url: url.to_owned(),
        subject_prefix: Some(prefix.to_owned()),
        ..NatsArgs::default()
    });
    Bus::connect_once(&args, "startup-test")
        .await
        .unwrap_or_else(|e| panic!("these tests need NATS with JetStream at {url}: {e}"))
}

/// A stream named `name` (given the test's bus) already holds the
/// subjects of `kind`, in memory: `bin` stops at start-up and names the
/// streams and `kind`'s stream.
async fn stops_on_a_memory_stream(
    bin: &str,
    args: Vec<String>,
    kind: StreamKind,
    name: impl FnOnce(&Bus) -> String,
) {
    let prefix = test_prefix("memory_stream");
    let bus = bus_on(&nats_url(), &prefix).await;
    let name = name(&bus);
    bus.js
        .create_stream(StreamConfig {
            name: name.clone(),
            subjects: vec![bus.subjects.stream_filter(kind)],
            storage: StorageType::Memory,
            ..Default::default()
        })
        .await
        .expect("create the in-memory stream");

    let log = gives_up(bin, &args, &environment(&nats_url(), &prefix)).await;
    assert_names(bin, &log, &["streams", &bus.subjects.stream_name(kind)]);

    let _ = bus.js.delete_stream(&name).await;
    bus.drain().await;
}

#[tokio::test]
async fn arbctl_ensure_stops_when_another_stream_captures_the_subjects() {
    // Another stream already stores the MD subjects: JetStream refuses a
    // second one on them, every time.
    stops_on_a_memory_stream(
        "arbctl",
        strings(&["streams", "--ensure"]),
        StreamKind::Md,
        |_| format!("SQUAT_{}", unique("md").to_uppercase()),
    )
    .await;
}

#[tokio::test]
async fn detector_stops_when_its_stream_exists_with_another_storage() {
    // The ARB stream it publishes to is in memory: not what the operator
    // makes, and nothing the detector may change.
    stops_on_a_memory_stream(
        "arb-detector",
        detector_args("cross"),
        StreamKind::Arb,
        |bus| bus.subjects.stream_name(StreamKind::Arb),
    )
    .await;
}

#[tokio::test]
async fn sink_stops_when_a_stream_it_reads_exists_with_another_storage() {
    stops_on_a_memory_stream("arb-sink", sink_args("sink"), StreamKind::Exec, |bus| {
        bus.subjects.stream_name(StreamKind::Exec)
    })
    .await;
}

/// No streams under its prefix: the process does not create them (only
/// the operator may), waits, says what creates them, and is up
/// (heartbeating) once `arbctl streams --ensure` has run.
async fn waits_for_its_streams(bin: &str, args: Vec<String>, service: &str) {
    let prefix = test_prefix(service);
    let db = match bin {
        "arb-sink" => Some(TestDb::new("startup_streams").await),
        _ => None,
    };
    let database_url = db
        .as_ref()
        .map_or_else(admin_database_url, |db| db.url.clone());
    let env = env_on(&nats_url(), &prefix, &database_url);
    let mut proc = Proc::spawn(bin, &args, &env);
    let ensure = format!("arbctl streams --ensure --subject-prefix {prefix}");
    proc.wait_logged("waiting for its streams", |log| {
        log.matches("does not exist").count() >= 2 && log.contains(&ensure)
    })
    .await;
    let bus = bus_on(&nats_url(), &prefix).await;
    for kind in StreamKind::ALL {
        assert!(
            bus.js
                .get_stream(bus.subjects.stream_name(kind))
                .await
                .is_err(),
            "{bin} created the {} stream",
            kind.base_name()
        );
    }

    let mut ensure_args = strings(&["streams", "--ensure"]);
    ensure_args.extend(stream_limit_args());
    let mut arbctl = Proc::spawn("arbctl", &ensure_args, &env);
    let status = arbctl
        .exit_within(Duration::from_secs(30))
        .await
        .expect("arbctl streams --ensure exits");
    assert!(
        status.success(),
        "arbctl streams --ensure: {}",
        arbctl.log_text()
    );
    let hb = first_heartbeat(&bus, service).await;
    assert_eq!(hb.service, service);
    proc.stop().await;

    for kind in StreamKind::ALL {
        let _ = bus.js.delete_stream(bus.subjects.stream_name(kind)).await;
    }
    let _ = bus
        .js
        .delete_key_value(bus.subjects.bucket_name(CONFIG_BUCKET))
        .await;
    bus.drain().await;
    if let Some(db) = db {
        db.cleanup().await;
    }
}

arb_testkit::e2e_tests! {
    feed_waits_for_its_streams: waits_for_its_streams("arb-feed", feed_args(), "feed-sim");
    detector_waits_for_its_streams: waits_for_its_streams("arb-detector", detector_args("cross"), "detector-cross");
    executor_waits_for_its_streams_and_bucket: waits_for_its_streams("arb-executor", strings(&["--heartbeat-interval", "1s"]), "executor");
    sink_waits_for_its_streams: waits_for_its_streams("arb-sink", sink_args("sink"), "sink");
}

/// NATS not up at start: the process keeps retrying (still running after
/// its first retries) and is up (heartbeating) once NATS starts.
async fn waits_for_nats(bin: &str, args: Vec<String>, service: &str) {
    let mut nats = NatsServer::start().await;
    nats.kill().await;
    let prefix = test_prefix(service);
    let db = match bin {
        "arb-sink" => Some(TestDb::new("startup").await),
        _ => None,
    };
    let database_url = db
        .as_ref()
        .map_or_else(admin_database_url, |db| db.url.clone());
    let mut proc = Proc::spawn(bin, &args, &env_on(&nats.url(), &prefix, &database_url));
    proc.wait_logged("retrying its NATS connection", |log| {
        log.matches("NATS not reachable, retrying").count() >= 3
    })
    .await;

    nats.restart().await;
    let bus = bus_on(&nats.url(), &prefix).await;
    // The operator's part: the process only checks that its streams exist.
    bus.ensure_streams(&test_stream_args())
        .await
        .expect("create the streams");
    let hb = first_heartbeat(&bus, service).await;
    assert_eq!(hb.service, service);
    proc.stop().await;

    bus.drain().await;
    if let Some(db) = db {
        db.cleanup().await;
    }
}

arb_testkit::e2e_tests! {
    feed_waits_for_nats_at_start: waits_for_nats("arb-feed", feed_args(), "feed-sim");
    detector_waits_for_nats_at_start: waits_for_nats("arb-detector", detector_args("cross"), "detector-cross");
    sink_waits_for_nats_at_start: waits_for_nats("arb-sink", sink_args("sink"), "sink");
}
