//! `arbctl status` through the real binary against the real NATS and
//! PostgreSQL: a sim feed and a sink on a prefix and a database of the
//! test's own, heartbeating every second. Healthy while both run; the feed
//! silent (exit 1) once stopped; a dead letter counted; `--json`, `--expect`
//! and `--watch`; NATS, the database and the streams missing.
#![allow(unused_crate_dependencies)]

use std::process::{Output, Stdio};

use arb_contract::codec::{ARB_SCHEMA, CONTENT_TYPE, MSGPACK};
use arb_testkit::*;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn command(args: &[&str], env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arbctl"));
    cmd.arg("status")
        .args(args)
        .env("NO_COLOR", "1")
        // Nothing from the developer's shell: the test says where to look.
        .env_remove("RUST_LOG")
        .env_remove("ARB_SUBJECT_PREFIX")
        .env_remove("DATABASE_URL")
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

async fn status(args: &[&str], env: &[(&str, String)]) -> Output {
    command(args, env)
        .output()
        .await
        .expect("run arbctl status")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `status --json`: its exit code and document.
async fn status_json(args: &[&str], env: &[(&str, String)]) -> (Option<i32>, Value) {
    let out = status(&[args, &["--json"]].concat(), env).await;
    let v = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {}", text(&out)));
    (out.status.code(), v)
}

fn find_service<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v["services"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["service"] == name))
}

fn service<'a>(v: &'a Value, name: &str) -> &'a Value {
    find_service(v, name).unwrap_or_else(|| panic!("no {name} in {v:#}"))
}

fn table<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["database"]["tables"]
        .as_array()
        .and_then(|a| a.iter().find(|t| t["table"] == name))
        .unwrap_or_else(|| panic!("no table {name} in {v:#}"))
}

/// The line of the text report that starts (after indentation) with `name`.
fn line<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find(|l| l.trim_start().starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_stack_is_healthy_and_a_stopped_feed_is_not() {
    let (tb, db, mut sink) = with_sink("ctl_status").await;
    let mut feed = Proc::spawn("arb-feed", &sim_feed_args(20), &env(&tb, &db.url));
    let env = [
        ("NATS_URL", tb.args.nats_url.clone()),
        ("ARB_SUBJECT_PREFIX", tb.prefix.clone()),
        ("DATABASE_URL", db.url.clone()),
    ];
    let env = &env[..];
    let expect = ["--expect", "feed-sim,sink"];

    // Healthy once both have sent two heartbeats (their intervals are
    // measured, not assumed) and the sink has written a book.
    wait_until(
        "a healthy status with both intervals measured",
        WAIT,
        || async {
            let (code, v) = status_json(&expect, env).await;
            code == Some(0)
                && ["feed-sim", "sink"].iter().all(|s| {
                    find_service(&v, s).is_some_and(|s| s["interval_from"] == "heartbeats")
                })
                && table(&v, "market_snapshots")["state"] == "ok"
        },
    )
    .await;

    // The text: both services with their versions and counters, the
    // streams with the sink's lag, the database.
    let out = status(&expect, env).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(report.contains(": HEALTHY"), "{report}");
    for s in ["feed-sim", "sink"] {
        let l = line(&report, s);
        assert!(l.contains(" OK ") && l.contains(VERSION), "{l}");
    }
    assert!(report.contains("books_published="), "{report}");
    assert!(report.contains("messages="), "{report}");
    let md = tb
        .bus
        .subjects
        .stream_name(arb_contract::subject::StreamKind::Md);
    assert!(line(&report, &md).contains(" msgs "), "{report}");
    assert!(
        line(&report, "consumer sink").contains("pending"),
        "{report}"
    );
    assert!(report.contains("\ndatabase: "), "{report}");
    assert!(
        line(&report, "market_snapshots").contains("newest "),
        "{report}"
    );
    assert!(
        line(&report, "runtime_state_snapshots").contains("newest "),
        "{report}"
    );

    // The same as one JSON document.
    let (code, v) = status_json(&expect, env).await;
    assert_eq!(code, Some(0), "{v:#}");
    assert_eq!(v["healthy"], true);
    assert_eq!(v["problems"], serde_json::json!([]));
    assert_eq!(v["prefix"], tb.prefix);
    assert_eq!(v["nats"]["reachable"], true);
    for s in ["feed-sim", "sink"] {
        let s = service(&v, s);
        assert_eq!(s["state"], "ok", "{s:#}");
        assert_eq!(s["version"], VERSION);
        assert!(
            s["uptime_secs"].is_u64() && s["instance"].is_string(),
            "{s:#}"
        );
        assert!(s["interval_secs"].as_f64().unwrap() > 0.0, "{s:#}");
        let last = s["last_heartbeat"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(last).is_ok(), "{last}");
    }
    assert!(
        service(&v, "feed-sim")["counters"]["books_published"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(
        service(&v, "sink")["counters"]["messages"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(
        service(&v, "sink")["lag"].get(&md).is_some(),
        "the sink reports its lag per stream"
    );
    let streams = v["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 4);
    assert!(streams.iter().all(|s| s["exists"] == true), "{streams:#?}");
    let md_stream = streams.iter().find(|s| s["stream"] == md).unwrap();
    assert!(md_stream["messages"].as_u64().unwrap() > 0);
    assert!(md_stream["bytes"].as_u64().unwrap() > 0);
    assert!(md_stream["last_ts"].is_string());
    let consumer = &md_stream["consumers"][0];
    assert_eq!(consumer["name"], "sink");
    assert!(
        consumer["pending"].is_u64()
            && consumer["ack_pending"].is_u64()
            && consumer["lag"].is_u64()
    );
    assert_eq!(v["dead_letters"]["total"], 0);
    assert_eq!(v["database"]["reachable"], true);
    assert!(v["database"]["size_bytes"].as_i64().unwrap() > 0);
    assert_eq!(
        v["database"]["tables"].as_array().unwrap().len(),
        arb_runtime::db::TABLES.len()
    );
    assert_eq!(table(&v, "market_snapshots")["column"], "ts");
    assert!(table(&v, "market_snapshots")["newest"].is_string());
    assert_eq!(table(&v, "trades")["state"], "empty");

    // A service expected but never heard from is unhealthy.
    let (code, v) = status_json(&["--expect", "feed-sim,sink,detector-cross"], env).await;
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(service(&v, "detector-cross")["state"], "missing");
    assert_eq!(
        v["problems"],
        serde_json::json!(["detector-cross is expected but has never sent a heartbeat"])
    );

    // A payload the sink cannot decode: it dead-letters it, and status counts it.
    let subject = tb
        .bus
        .subjects
        .book("kraken", &"BTC/USD".parse().unwrap())
        .unwrap();
    let mut p = tb.bus.publisher(1);
    p.publish_raw(
        subject,
        arb_runtime::headers::header_map([
            (CONTENT_TYPE, MSGPACK),
            (ARB_SCHEMA, "book_snapshot/1"),
        ]),
        bytes::Bytes::from_static(b"\xc1 not msgpack"),
    )
    .await
    .unwrap();
    p.flush().await.unwrap();
    wait_until("status counts the dead letter", WAIT, || async {
        status_json(&[], env).await.1["dead_letters"]["total"] == 1
    })
    .await;
    let (code, v) = status_json(&[], env).await;
    assert_eq!(
        code,
        Some(0),
        "a dead letter is reported, not unhealthy: {v:#}"
    );
    let dl = &v["dead_letters"]["subjects"][0];
    assert_eq!(dl["service"], "sink");
    assert_eq!(dl["count"], 1);
    assert_eq!(dl["subject"], tb.bus.subjects.dlq("sink").unwrap());
    assert!(dl["last_reason"].is_string(), "{dl:#}");
    let out = status(&[], env).await;
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let l = line(&report, "sys.dlq.sink");
    assert!(l.contains(" 1  last "), "{l}");

    // The feed stops: once its last heartbeat is more than three of its
    // intervals old it is silent, and status exits 1.
    feed.stop().await;
    wait_until("status reports the feed silent", WAIT, || async {
        service(&status_json(&expect, env).await.1, "feed-sim")["state"] == "silent"
    })
    .await;
    let (code, v) = status_json(&expect, env).await;
    assert_eq!(code, Some(1), "{v:#}");
    assert_eq!(v["healthy"], false);
    assert_eq!(service(&v, "sink")["state"], "ok");
    let feed_json = service(&v, "feed-sim");
    assert!(
        feed_json["age_secs"].as_f64().unwrap() > feed_json["silent_after_secs"].as_f64().unwrap(),
        "{feed_json:#}"
    );
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0]
            .as_str()
            .unwrap()
            .starts_with("feed-sim is silent"),
        "{problems:?}"
    );
    let out = status(&expect, env).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        report.contains(": UNHEALTHY") && report.contains("! feed-sim is silent"),
        "{report}"
    );
    assert!(line(&report, "feed-sim").contains(" SILENT "), "{report}");

    // --watch into a pipe: one plain report after another, no escape codes;
    // on SIGTERM it exits with the last report's code.
    let mut watch = command(&["--watch", "200ms"], env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run arbctl status --watch");
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    let mut reports = 0;
    let read = async {
        while reports < 2 {
            let l = lines
                .next_line()
                .await
                .unwrap()
                .expect("status --watch ended");
            reports += usize::from(l.starts_with("arbitrade status at"));
            seen.push_str(&l);
            seen.push('\n');
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .unwrap_or_else(|_| panic!("no second report within {WAIT:?}:\n{seen}"));
    assert!(!seen.contains('\x1b'), "{seen}");
    assert!(seen.contains("! feed-sim is silent"), "{seen}");
    let pid = watch.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let exit = tokio::time::timeout(WAIT, watch.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.code(), Some(1));

    teardown(&mut sink, tb, db).await;
}

#[tokio::test]
async fn unreachable_services_and_missing_streams_are_unhealthy() {
    // NATS and PostgreSQL both unreachable: a report, exit 1, no password shown.
    let env = [
        ("NATS_URL", "nats://127.0.0.1:1".to_owned()),
        (
            "DATABASE_URL",
            "postgres://arb:hunter2@127.0.0.1:1/arb".to_owned(),
        ),
    ];
    let out = status(&["--json"], &env).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!text(&out).contains("hunter2"), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["healthy"], false);
    assert_eq!(v["nats"]["reachable"], false);
    assert_eq!(v["database"]["reachable"], false);
    let problems: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("NATS unreachable"), "{problems:?}");
    assert!(
        problems[1].starts_with("database unreachable"),
        "{problems:?}"
    );

    // A prefix whose streams were never made.
    let prefix = test_prefix("ctl_status_none");
    let env = [
        ("NATS_URL", nats_url()),
        ("ARB_SUBJECT_PREFIX", prefix.clone()),
    ];
    let out = status(&[], &env).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let subjects = arb_contract::Subjects::new(Some(&prefix)).unwrap();
    for kind in arb_contract::subject::StreamKind::ALL {
        let name = subjects.stream_name(kind);
        assert!(
            report.contains(&format!("! stream {name} does not exist")),
            "{report}"
        );
    }

    // Bad input is exit 2, not an unhealthy stack.
    let out = status(&["--interval", "soon"], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = status(&["--subject-prefix", "bad prefix"], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
