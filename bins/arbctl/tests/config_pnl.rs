//! `arbctl config` and `arbctl pnl` through the real binary, against the
//! real NATS (a subject prefix, so a KV bucket, of the test's own) and a
//! fresh PostgreSQL database with hand-inserted trades and transfers.
#![allow(unused_crate_dependencies)]

use std::process::{Output, Stdio};
use std::time::Duration;

use arb_exec::settings::BUCKET;
use arb_runtime::kv;
use arb_testkit::{TestBus, TestDb, nats_url};
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn command(args: &[&str], env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arbctl"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        // Nothing from the developer's shell: the test says where to go.
        .env_remove("ARB_SUBJECT_PREFIX")
        .env_remove("DATABASE_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

async fn arbctl(args: &[&str], env: &[(&str, String)]) -> Output {
    command(args, env).output().await.expect("run arbctl")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn text(o: &Output) -> String {
    format!("{}{}", stdout(o), String::from_utf8_lossy(&o.stderr))
}

/// Runs arbctl, expecting `code`; returns its standard output.
async fn expect(code: i32, args: &[&str], env: &[(&str, String)]) -> String {
    let out = arbctl(args, env).await;
    assert_eq!(
        out.status.code(),
        Some(code),
        "arbctl {args:?}: {}",
        text(&out)
    );
    stdout(&out)
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

#[tokio::test]
async fn config_set_get_history_and_watch() {
    let tb = TestBus::new("ctl_config").await;
    let env = [
        ("NATS_URL", nats_url()),
        ("ARB_SUBJECT_PREFIX", tb.prefix.clone()),
    ];
    let env = &env[..];

    // A fresh prefix: the bucket is made on first use, empty, under the prefix.
    assert_eq!(expect(0, &["config", "get"], env).await, "");
    let bucket = tb.bus.subjects.bucket_name(BUCKET);
    assert!(bucket.starts_with("t_") && bucket.ends_with("_arb_config"));
    let store = tb.bus.js.get_key_value(&bucket).await.expect("bucket made");
    assert_eq!(store.status().await.unwrap().history(), 64);
    expect(1, &["config", "get", "trading_state"], env).await;
    expect(1, &["config", "history", "trading_state"], env).await;

    // set prints the new revision; the value stored is the canonical text.
    let sets = [
        ("trading_state", "halted", "halted"),
        ("fees.kraken", " 0.0026 ", "0.0026"),
        (
            "limits",
            r#"{"max_open_trades": 4, "max_order_notional": {"usd": 50000, "*": "10"}}"#,
            r#"{"max_order_notional":{"*":"10","USD":"50000"},"max_open_trades":4}"#,
        ),
        ("trading_state", "active", "active"),
    ];
    for (i, (key, value, stored)) in sets.iter().enumerate() {
        let revision = expect(0, &["config", "set", key, value], env).await;
        assert_eq!(revision, format!("{}\n", i + 1), "{key}");
        assert_eq!(
            expect(0, &["config", "get", key], env).await,
            format!("{stored}\n")
        );
    }
    let limits = r#"{"max_order_notional":{"*":"10","USD":"50000"},"max_open_trades":4}"#;
    assert_eq!(
        expect(0, &["config", "get"], env).await,
        format!(
            "fees.kraken    rev 2     0.0026\nlimits         rev 3     {limits}\ntrading_state  rev 4     active\n"
        )
    );
    assert_eq!(
        json_lines(&expect(0, &["config", "get", "--json"], env).await),
        vec![
            json!({"key": "fees.kraken", "value": "0.0026", "revision": 2, "operation": "put"}),
            json!({"key": "limits", "value": limits, "revision": 3, "operation": "put"}),
            json!({"key": "trading_state", "value": "active", "revision": 4, "operation": "put"}),
        ]
    );
    assert_eq!(
        json_lines(&expect(0, &["config", "get", "limits", "--json"], env).await),
        vec![json!({"key": "limits", "value": limits, "revision": 3, "operation": "put"})]
    );

    // history: every revision, oldest first, with the server's time.
    let h = json_lines(&expect(0, &["config", "history", "trading_state", "--json"], env).await);
    let got: Vec<_> = h
        .iter()
        .map(|l| {
            (
                l["revision"].clone(),
                l["value"].clone(),
                l["operation"].clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (json!(1), json!("halted"), json!("put")),
            (json!(4), json!("active"), json!("put")),
        ]
    );
    let times: Vec<chrono::DateTime<chrono::Utc>> = h
        .iter()
        .map(|l| l["time"].as_str().unwrap().parse().expect("RFC 3339"))
        .collect();
    assert!(times[0] <= times[1], "{times:?}");
    let plain = expect(0, &["config", "history", "trading_state"], env).await;
    let lines: Vec<Vec<&str>> = plain
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines.len(), 2, "{plain}");
    assert_eq!(
        (lines[0][..2].to_vec(), lines[0][3..].to_vec()),
        (vec!["rev", "1"], vec!["put", "halted"])
    );
    assert_eq!(lines[1][3..], ["put", "active"]);

    // A bad key or value: exit 2, the reason, nothing written.
    let bad = [
        ("fees.kraken", "1.5", "outside [0, 1)"),
        ("fees.kraken", "-0.001", "outside [0, 1)"),
        ("fees.kraken", "26bp", "not a decimal number"),
        (
            "trading_state",
            "HALT",
            "not one of active, reducing, halted",
        ),
        (
            "limits",
            r#"{"max_orders": 3}"#,
            "unknown field `max_orders`",
        ),
        ("limits", r#"{"max_book_age": "soon"}"#, "bad duration"),
        ("fees.kra ken", "0.001", "cannot be a subject token"),
        ("fee.kraken", "0.001", "unknown configuration key"),
    ];
    for (key, value, says) in bad {
        let out = arbctl(&["config", "set", key, value], env).await;
        assert_eq!(out.status.code(), Some(2), "{key} {value}: {}", text(&out));
        assert!(text(&out).contains(says), "{key} {value}: {}", text(&out));
        assert!(out.stdout.is_empty(), "no revision printed");
    }
    // Checked before connecting: an unreachable server is never the reason.
    let out = arbctl(
        &[
            "config",
            "set",
            "fees.kraken",
            "1",
            "--nats-url",
            "nats://127.0.0.1:1",
        ],
        env,
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("configuration value of fees.kraken"),
        "{}",
        text(&out)
    );
    assert_eq!(
        expect(0, &["config", "get", "fees.kraken"], env).await,
        "0.0026\n"
    );
    assert_eq!(
        expect(0, &["config", "history", "fees.kraken"], env)
            .await
            .lines()
            .count(),
        1,
        "the refused values left no revision"
    );
    let store = kv::bucket(&tb.bus, BUCKET, 64).await.unwrap();
    assert_eq!(store.status().await.unwrap().values(), 4);

    // A value put by another tool that the executor would refuse is shown as such.
    kv::put(&store, "fees.binance", Bytes::from("2"))
        .await
        .unwrap();
    let all = expect(0, &["config", "get"], env).await;
    assert!(
        all.lines().any(|l| l.starts_with("fees.binance")
            && l.contains("INVALID")
            && l.contains("outside [0, 1)")),
        "{all}"
    );

    // watch: the current values (as many lines as keys), then each change.
    let mut child = command(
        &["config", "watch", "--count", "6", "--timeout", "60s"],
        env,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .kill_on_drop(true)
    .spawn()
    .expect("start arbctl config watch");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || -> Value {
        let l = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("a watch line within 30 s")
            .expect("readable")
            .expect("the watch goes on");
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("{l:?}: {e}"))
    };
    let mut current = Vec::new();
    for _ in 0..4 {
        current.push(next().await);
    }
    current.sort_by_key(|l| l["key"].as_str().unwrap().to_owned());
    let keys: Vec<_> = current.iter().map(|l| l["key"].as_str().unwrap()).collect();
    assert_eq!(
        keys,
        ["fees.binance", "fees.kraken", "limits", "trading_state"]
    );
    assert!(
        current[0]["error"]
            .as_str()
            .unwrap()
            .contains("outside [0, 1)"),
        "{}",
        current[0]
    );
    assert_eq!(
        current[3],
        json!({"key": "trading_state", "value": "active", "revision": 4, "operation": "put"})
    );
    // The watch has printed the current state, so it is subscribed: changes come next.
    expect(
        0,
        &["config", "set", "latency.sim-a", r#"{"fixed": "20ms"}"#],
        env,
    )
    .await;
    assert_eq!(
        next().await,
        json!({"key": "latency.sim-a", "value": r#"{"fixed":"20ms","jitter":"0s"}"#,
               "revision": 6, "operation": "put"})
    );
    store.delete("fees.binance").await.unwrap();
    assert_eq!(
        next().await,
        json!({"key": "fees.binance", "value": null, "revision": 7, "operation": "delete"})
    );
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("watch stops after --count lines")
        .unwrap();
    assert!(status.success());

    // --timeout alone: the current values, then it stops.
    let watched = expect(0, &["config", "watch", "--timeout", "1s"], env).await;
    assert_eq!(json_lines(&watched).len(), 4, "{watched}");
    let history = expect(0, &["config", "history", "fees.binance"], env).await;
    assert!(
        history.lines().nth(1).is_some_and(|l| l.contains("delete")),
        "{history}"
    );

    let _ = tb.bus.js.delete_key_value(&bucket).await;
    tb.cleanup().await;
}

async fn trade(
    db: &TestDb,
    strategy: &str,
    status: &str,
    currency: &str,
    fees: &str,
    realized: &str,
    expected: Option<&str>,
) {
    sqlx::query(
        "INSERT INTO trades (id, ts, strategy, status, currency, notional, fees, realized_pnl,
                             expected_profit, legs)
         VALUES (gen_random_uuid(), now(), $1, $2, $3, 10000, $4::numeric, $5::numeric,
                 $6::numeric, '[]')",
    )
    .bind(strategy)
    .bind(status)
    .bind(currency)
    .bind(fees)
    .bind(realized)
    .bind(expected)
    .execute(&db.pool)
    .await
    .expect("insert trade");
}

async fn transfer(db: &TestDb, status: &str, cost: Option<&str>, transfer_id: &str) {
    sqlx::query(
        "INSERT INTO transfers (id, ts, transfer_id, asset, from_venue, to_venue, amount, fee,
                                status, sent_ts, arrives_ts, cost, currency)
         VALUES (gen_random_uuid(), now(), $1::uuid, 'BTC', 'sim-a', 'sim-b', 0.5, 0.00002, $2,
                 now(), now() + interval '10 minutes', $3::numeric, $4)",
    )
    .bind(transfer_id)
    .bind(status)
    .bind(cost)
    .bind(cost.map(|_| "USD"))
    .execute(&db.pool)
    .await
    .expect("insert transfer");
}

fn cells(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

#[tokio::test]
async fn pnl_per_strategy_from_the_trades_and_transfers() {
    let db = TestDb::new("ctl_pnl").await;
    let env = [("DATABASE_URL", db.url.clone())];
    let env = &env[..];
    assert_eq!(
        expect(0, &["pnl"], env).await,
        "no trades\ntransfer costs (all strategies): none\n"
    );

    // cross in USD: a win, an unwind that lost, a failure, a win that carried
    // no expected profit.
    trade(
        &db,
        "cross",
        "completed",
        "USD",
        "5.20",
        "12.30",
        Some("15.00"),
    )
    .await;
    trade(
        &db,
        "cross",
        "unwound",
        "USD",
        "3.10",
        "-4.05",
        Some("10.00"),
    )
    .await;
    trade(&db, "cross", "failed", "USD", "0", "0", Some("8.00")).await;
    trade(&db, "cross", "completed", "USD", "1", "0.75", None).await;
    // triangular in BTC: one partial fill at a loss.
    trade(
        &db,
        "triangular",
        "partial",
        "BTC",
        "0.00003",
        "-0.00012",
        Some("0.0001"),
    )
    .await;
    // One transfer sent (1.50 USD) and arrived (the same cost, not counted
    // twice), and one sent that nobody valued.
    let t = "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b";
    transfer(&db, "sent", Some("1.50"), t).await;
    transfer(&db, "arrived", Some("1.50"), t).await;
    transfer(&db, "sent", None, "0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7c").await;

    // By hand, cross USD: 4 trades (2 completed, 1 unwound, 1 failed);
    // realized 12.30 - 4.05 + 0 + 0.75 = 9.00; fees 5.20 + 3.10 + 0 + 1 = 9.30;
    // 2 wins of 3 that filled = 66.67 %; expected 15.00 + 10.00 + 8.00 = 33.00;
    // captured (12.30 - 4.05 + 0) / 33.00 = 8.25 / 33 = 0.25.
    // triangular BTC: realized -0.00012, fees 0.00003, 0 wins of 1,
    // captured -0.00012 / 0.0001 = -1.2.
    let report = expect(0, &["pnl"], env).await;
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines.len(), 4, "{report}");
    assert_eq!(
        cells(lines[0]),
        [
            "strategy",
            "currency",
            "trades",
            "completed",
            "partial",
            "unwound",
            "failed",
            "realized_pnl",
            "fees",
            "win_rate",
            "expected_profit",
            "captured"
        ]
    );
    let cross = [
        "cross", "USD", "4", "2", "0", "1", "1", "9.00", "9.30", "66.67%", "33.00", "0.2500",
    ];
    let triangular = [
        "triangular",
        "BTC",
        "1",
        "0",
        "1",
        "0",
        "0",
        "-0.00012",
        "0.00003",
        "0.00%",
        "0.0001",
        "-1.2000",
    ];
    assert_eq!(cells(lines[1]), cross, "{report}");
    assert_eq!(cells(lines[2]), triangular, "{report}");
    assert_eq!(
        lines[3],
        "transfer costs (all strategies): 1.50 USD (1 transfer sent), 1 sent without a cost"
    );

    let only = expect(0, &["pnl", "--strategy", "cross"], env).await;
    let lines: Vec<&str> = only.lines().collect();
    assert_eq!(lines.len(), 3, "{only}");
    assert_eq!(cells(lines[1]), cross);

    let j: Value = serde_json::from_str(&expect(0, &["pnl", "--json"], env).await).unwrap();
    assert_eq!(
        j["strategies"][0],
        json!({
            "strategy": "cross", "currency": "USD", "trades": 4,
            "by_status": {"completed": 2, "partial": 0, "unwound": 1, "failed": 1},
            "realized_pnl": "9.00", "fees": "9.30", "wins": 2, "filled": 3,
            "win_rate": "0.6667", "expected_profit": "33.00", "captured": "0.2500",
        })
    );
    assert_eq!(j["strategies"][1]["captured"], "-1.2000");
    assert_eq!(
        j["transfer_costs"],
        json!([{"currency": "USD", "cost": "1.50", "transfers": 1}])
    );
    assert_eq!(j["transfers_without_cost"], 1);

    // A strategy with no trades, and a strategy whose trades carry no expected profit.
    assert!(
        expect(0, &["pnl", "--strategy", "nope"], env)
            .await
            .starts_with("no trades\n")
    );
    trade(&db, "other", "completed", "EUR", "0.10", "2.5", None).await;
    let other = expect(0, &["pnl", "--strategy", "other"], env).await;
    assert_eq!(
        cells(other.lines().nth(1).unwrap()),
        [
            "other", "EUR", "1", "1", "0", "0", "0", "2.5", "0.10", "100.00%", "0", "-"
        ]
    );

    let out = arbctl(&["pnl"], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("DATABASE_URL is required"),
        "{}",
        text(&out)
    );
    db.cleanup().await;
}

#[tokio::test]
async fn help_lists_config_and_pnl() {
    let top = expect(0, &["--help"], &[]).await;
    assert!(top.contains("config") && top.contains("pnl"), "{top}");
    let config = expect(0, &["config", "--help"], &[]).await;
    for cmd in ["get", "set", "watch", "history"] {
        assert!(config.contains(cmd), "{cmd} missing from:\n{config}");
    }
}
