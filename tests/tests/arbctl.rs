//! arbctl against the real NATS and PostgreSQL: db verify / migrate / prune,
//! pub + tap (MessagePack in, JSON lines out), streams.
#![allow(unused_crate_dependencies)]

use std::process::Output;
use std::time::Duration;

use arb_contract::codec::{ARB_SCHEMA, CONTENT_TYPE, NATS_MSG_ID};
use arb_contract::subject::StreamKind;
use arb_testkit::*;
use futures::StreamExt;

async fn arbctl(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = tokio::process::Command::new(bin("arbctl"));
    cmd.args(args).env("NO_COLOR", "1").env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.expect("run arbctl")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn db_verify_migrate_and_prune() {
    // An empty database: verify says what is wrong and exits 1; migrate fixes it.
    let admin = sqlx::PgPool::connect(&admin_database_url())
        .await
        .expect("PostgreSQL");
    let name = unique("arb_ctl_empty");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin)
        .await
        .unwrap();
    let url = {
        let mut u = url::Url::parse(&admin_database_url()).unwrap();
        u.set_path(&format!("/{name}"));
        u.to_string()
    };
    let env = [("DATABASE_URL", url.clone())];
    let out = arbctl(&["db", "verify"], &env).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("MISSING") && text(&out).contains("PENDING"),
        "{}",
        text(&out)
    );

    let out = arbctl(&["db", "migrate"], &env).await;
    assert!(out.status.success(), "{}", text(&out));
    let out = arbctl(&["db", "migrate"], &env).await;
    assert!(
        out.status.success(),
        "migrating twice is fine: {}",
        text(&out)
    );
    let out = arbctl(&["db", "verify", "--json"], &env).await;
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["missing_tables"], serde_json::json!([]));
    assert_eq!(
        v["row_counts"].as_array().unwrap().len(),
        arb_runtime::db::TABLES.len()
    );

    // Prune drops whole days older than the cutoff, and only those.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let today = chrono::Utc::now().date_naive();
    arb_runtime::db::ensure_partitions(&pool, today - chrono::Days::new(40), 3)
        .await
        .unwrap();
    arb_runtime::db::ensure_partitions(&pool, today, 1)
        .await
        .unwrap();
    let out = arbctl(&["db", "prune", "--older-than", "30d", "--dry-run"], &env).await;
    assert_eq!(
        text(&out).matches("would drop").count(),
        3,
        "{}",
        text(&out)
    );
    let out = arbctl(&["db", "prune", "--older-than", "30d"], &env).await;
    assert!(
        text(&out).contains("3 partitions dropped"),
        "{}",
        text(&out)
    );
    let left = arb_runtime::db::verify(&pool)
        .await
        .unwrap()
        .market_partitions;
    assert_eq!(
        left,
        [format!("market_snapshots_p{}", today.format("%Y%m%d"))]
    );

    // A bad URL is a clear error, not a panic; the password is not shown.
    let out = arbctl(
        &["db", "verify"],
        &[("DATABASE_URL", "postgres://u:s3cret@127.0.0.1:1/x".into())],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("failed to connect") && !text(&out).contains("s3cret"),
        "{}",
        text(&out)
    );

    pool.close().await;
    let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .execute(&admin)
        .await;
}

#[tokio::test]
async fn pub_encodes_msgpack_with_headers_and_tap_prints_json() {
    let tb = TestBus::new("ctl_tap").await;
    let env = [
        ("NATS_URL", nats_url()),
        ("ARB_SUBJECT_PREFIX", tb.prefix.clone()),
    ];
    let subject = tb
        .bus
        .subjects
        .book("kraken", &"BTC/USD".parse().unwrap())
        .unwrap();
    let mut sub = tb.bus.client.subscribe(subject.clone()).await.unwrap();
    tb.bus.client.flush().await.unwrap();

    let mut tap = tokio::process::Command::new(bin("arbctl"));
    tap.args(["tap", "md.book.>", "--count", "1", "--timeout", "30s"])
        .env("NO_COLOR", "1");
    for (k, v) in &env {
        tap.env(k, v);
    }
    let tap = tap
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await; // let tap subscribe

    let json = r#"{"venue":"kraken","symbol":"BTC/USD","received_ts":"2026-11-23T10:00:00Z","sequence":7,
                   "bids":[["100.5","1.25"]],"asks":[["101","2"]]}"#;
    let out = arbctl(&["pub", "md.book.kraken.BTC-USD", json], &env).await;
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();

    // On the wire: MessagePack with the contract's headers.
    let msg = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .unwrap()
        .unwrap();
    let h = msg.headers.as_ref().unwrap();
    assert_eq!(h.get(CONTENT_TYPE).unwrap().as_str(), "application/msgpack");
    assert_eq!(h.get(ARB_SCHEMA).unwrap().as_str(), "book_snapshot/1");
    assert_eq!(h.get(NATS_MSG_ID).unwrap().as_str(), id);
    let book: arb_contract::BookSnapshot = rmp_serde_free_decode(&msg.payload);
    assert_eq!(book.symbol.to_string(), "BTC/USD");
    assert_eq!(
        tb.stream_messages(StreamKind::Md).await,
        1,
        "stored in JetStream"
    );

    // tap: one JSON line with subject, headers and the decoded body.
    let out = tap.wait_with_output().await.unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(line["subject"], subject);
    assert_eq!(line["headers"]["Arb-Schema"], "book_snapshot/1");
    assert_eq!(
        line["body"]["bids"][0],
        serde_json::json!(["100.5", "1.25"])
    );
    assert_eq!(line["body"]["sequence"], 7);

    // A message that does not fit its subject is refused before it is sent.
    let out = arbctl(
        &["pub", "md.book.kraken.BTC-USD", r#"{"venue":"kraken"}"#],
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("not a valid message"), "{}", text(&out));

    // streams lists this prefix's streams with counts.
    let out = arbctl(&["streams", "--json"], &env).await;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let md = v
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stream"] == tb.bus.subjects.stream_name(StreamKind::Md))
        .unwrap();
    assert_eq!(md["messages"], 1);
    tb.cleanup().await;
}

fn rmp_serde_free_decode(payload: &[u8]) -> arb_contract::BookSnapshot {
    arb_runtime::headers::decode(None, payload).expect("valid msgpack book")
}
