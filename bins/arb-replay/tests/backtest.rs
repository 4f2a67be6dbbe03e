//! `arb-replay backtest` with the real binary, NATS and PostgreSQL: the same
//! recorded sim history gives the same hash run after run and from either
//! source; a parameter changed changes it; a 3 × 3 sweep gives nine jobs;
//! the defaults in `config_backtesting_defaults` fill unset options; and a
//! backtest over what a live sim feed and detector recorded reproduces the
//! detector's opportunities exactly (parity).
#![allow(unused_crate_dependencies)]

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use arb_contract::codec::Decoded;
use arb_contract::subject::StreamKind;
use arb_contract::{BookSnapshot, Message, Symbol};
use arb_testkit::*;
use futures::StreamExt;
use serde_json::Value;
use sqlx::Row;

const VENUES: [&str; 3] = ["sim-a", "sim-b", "sim-c"];
const SYMBOLS: [&str; 3] = ["BTC/USD", "ETH/USD", "ETH/BTC"];

/// What one `arb-replay backtest` run printed and how it ended.
struct Ran {
    code: Option<i32>,
    /// `--json`: one summary per job.
    jobs: Vec<Value>,
    stderr: String,
}

async fn backtest(tb: &TestBus, db: &TestDb, args: &[&str]) -> Ran {
    let mut cmd = tokio::process::Command::new(bin("arb-replay"));
    cmd.arg("backtest")
        .arg("--json")
        .args(args)
        .args(stream_limit_args())
        .env("NATS_URL", &tb.args.nats_url)
        .env("ARB_SUBJECT_PREFIX", &tb.prefix)
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("arb-replay backtest finishes")
        .expect("arb-replay runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let jobs = stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}\n{stderr}"))
        })
        .collect();
    Ran {
        code: out.status.code(),
        jobs,
        stderr,
    }
}

fn hash(job: &Value) -> String {
    job["summary"]["hash"].as_str().expect("a hash").to_owned()
}

/// Seeded sim books, 9 per round (3 venues × 3 symbols).
fn sim_books(seed: u64, n: usize) -> Vec<BookSnapshot> {
    let venues: Vec<String> = VENUES.iter().map(|v| (*v).to_owned()).collect();
    let symbols: Vec<Symbol> = SYMBOLS.iter().map(|s| s.parse().unwrap()).collect();
    let mut sim = arb_venues::sim::SimGenerator::new(
        seed,
        &venues,
        &symbols,
        10,
        "2026-11-30T12:00:00Z".parse().unwrap(),
        Duration::from_millis(20),
    );
    (0..n).map(|_| sim.next_book()).collect()
}

/// The books as the sink stores them in `market_snapshots`.
async fn store_books(db: &TestDb, books: &[BookSnapshot]) {
    sqlx::query("SELECT arb_ensure_market_partitions($1::date - 1, 3)")
        .bind(books[0].event_time().date_naive())
        .execute(&db.pool)
        .await
        .expect("partitions");
    for b in books {
        let (bp, bs): (Vec<_>, Vec<_>) = b.bids.iter().map(|l| (l.price, l.qty)).unzip();
        let (ap, asz): (Vec<_>, Vec<_>) = b.asks.iter().map(|l| (l.price, l.qty)).unzip();
        sqlx::query(
            "INSERT INTO market_snapshots (id, ts, received_ts, venue, symbol, sequence, checksum, \
                 best_bid, best_ask, bid_prices, bid_sizes, ask_prices, ask_sizes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(b.id)
        .bind(b.event_time())
        .bind(b.received_ts)
        .bind(&b.venue)
        .bind(b.symbol.to_string())
        .bind(b.sequence.map(|s| s as i64))
        .bind(b.checksum.as_str())
        .bind(b.best_bid().map(|l| l.price))
        .bind(b.best_ask().map(|l| l.price))
        .bind(bp)
        .bind(bs)
        .bind(ap)
        .bind(asz)
        .execute(&db.pool)
        .await
        .expect("insert a book");
    }
}

const EDGE: [&str; 4] = [
    "--min-net-edge-bps",
    "2",
    "--fee",
    "sim-a=0.0005,sim-b=0.0005,sim-c=0.0005",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backtest_run_twice_gives_the_same_hash_from_either_source_and_a_parameter_changes_it() {
    let (tb, db) = bus_and_db("backtest_hash").await;
    let books = sim_books(5, 4_000);
    let msgs: Vec<Decoded> = books.iter().cloned().map(Decoded::Book).collect();
    tb.publish_all(&msgs).await;
    store_books(&db, &books).await;

    let a = backtest(&tb, &db, &EDGE).await;
    assert_eq!(a.code, Some(0), "{}", a.stderr);
    let b = backtest(&tb, &db, &EDGE).await;
    assert_eq!(b.code, Some(0), "{}", b.stderr);
    let (a, b) = (&a.jobs[0], &b.jobs[0]);
    assert_eq!(a["summary"]["books"], 4_000);
    let trades: u64 = a["summary"]["trades"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(trades > 0, "the sim's dislocations should trade: {a}");
    assert_eq!(
        hash(a),
        hash(b),
        "the same history and parameters, the same hash"
    );
    assert_eq!(a["summary"], b["summary"]);

    // The job rows say the same.
    let rows = sqlx::query(
        "SELECT id::text, status, strategy, result->'summary'->>'hash' AS hash, params, \
                replay_from, replay_to, started_at IS NOT NULL AND finished_at >= started_at AS timed \
         FROM backtest_jobs ORDER BY created_at",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    for (row, job) in rows.iter().zip([a, b]) {
        assert_eq!(row.get::<String, _>("id"), job["job"].as_str().unwrap());
        assert_eq!(row.get::<String, _>("status"), "completed");
        assert_eq!(row.get::<String, _>("strategy"), "cross");
        assert_eq!(row.get::<String, _>("hash"), hash(job));
        assert!(row.get::<bool, _>("timed"));
        let from: arb_contract::time::Timestamp = row.get("replay_from");
        let to: arb_contract::time::Timestamp = row.get("replay_to");
        assert_eq!(
            (from, to),
            (books[0].event_time(), books[3_999].event_time())
        );
        let params: Value = row.get("params");
        assert_eq!(params["options"]["min_net_edge_bps"], "2");
        assert_eq!(params["source"]["books"], 4_000);
        assert_eq!(params["source"]["first_seq"], 1);
        assert_eq!(params["source"]["last_seq"], 4_000);
    }

    // The same books from PostgreSQL: the same events.
    let pg = backtest(&tb, &db, &[&EDGE[..], &["--source", "postgres"]].concat()).await;
    assert_eq!(pg.code, Some(0), "{}", pg.stderr);
    assert_eq!(
        hash(&pg.jobs[0]),
        hash(a),
        "market_snapshots hold the same history"
    );

    // One parameter changed: another hash.
    let edge = [&EDGE[..], &["--min-net-edge-bps", "4"]].concat();
    let c = backtest(&tb, &db, &edge).await;
    assert_eq!(c.code, Some(0), "{}", c.stderr);
    assert_ne!(hash(&c.jobs[0]), hash(a));
    let d = backtest(&tb, &db, &[&EDGE[..], &["--latency", "200ms"]].concat()).await;
    assert_ne!(hash(&d.jobs[0]), hash(a));

    // Every event published under replay.<run>, where a sink started with
    // that prefix would take it: the opportunities on ARB, the rest on EXEC.
    let run = format!("bt{}", unique("run").replace(['-', '_'], ""));
    let published = backtest(
        &tb,
        &db,
        &[&EDGE[..], &["--publish", "--run", &run]].concat(),
    )
    .await;
    assert_eq!(published.code, Some(0), "{}", published.stderr);
    assert_eq!(
        hash(&published.jobs[0]),
        hash(a),
        "publishing changes nothing"
    );
    let replay = arb_contract::Subjects::new(Some(&format!("replay.{run}"))).unwrap();
    let mut stored = 0;
    for kind in [StreamKind::Arb, StreamKind::Exec] {
        let name = replay.stream_name(kind);
        let mut s = tb
            .bus
            .js
            .get_stream(&name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        stored += s.info().await.unwrap().state.messages;
        tb.bus.js.delete_stream(&name).await.unwrap();
    }
    for kind in [StreamKind::Md, StreamKind::Sys] {
        let _ = tb.bus.js.delete_stream(replay.stream_name(kind)).await;
    }
    assert_eq!(
        stored,
        published.jobs[0]["summary"]["events"].as_u64().unwrap()
    );

    // A range in the middle by sequence: that many books.
    let mid = backtest(
        &tb,
        &db,
        &[&EDGE[..], &["--from", "1001", "--to", "3000"]].concat(),
    )
    .await;
    assert_eq!(mid.code, Some(0), "{}", mid.stderr);
    assert_eq!(mid.jobs[0]["summary"]["books"], 2_000);

    // A range with nothing in it: a failed job with the reason, exit 1.
    let none = backtest(&tb, &db, &["--from", "999999"]).await;
    assert_eq!(none.code, Some(1));
    assert!(
        none.stderr.contains("no books in the range"),
        "{}",
        none.stderr
    );
    let failed: (String, String) =
        sqlx::query_as("SELECT status, error FROM backtest_jobs WHERE status = 'failed'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(failed, ("failed".into(), "no books in the range".into()));
    tb.cleanup().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_by_three_sweep_gives_nine_jobs_and_defaults_fill_unset_options() {
    let (tb, db) = bus_and_db("backtest_sweep").await;
    let msgs: Vec<Decoded> = sim_books(9, 2_000).into_iter().map(Decoded::Book).collect();
    tb.publish_all(&msgs).await;

    let sweep = backtest(
        &tb,
        &db,
        &[
            &EDGE[..],
            &[
                "--sweep",
                "min_net_edge_bps=2,5,10",
                "--sweep",
                "latency_ms=0,50,200",
            ],
        ]
        .concat(),
    )
    .await;
    assert_eq!(sweep.code, Some(0), "{}", sweep.stderr);
    assert_eq!(sweep.jobs.len(), 9);
    let rows = sqlx::query(
        "SELECT params->'sweep' AS sweep, params->'options'->>'min_net_edge_bps' AS edge, \
                params->'options'->>'latency' AS latency, status \
         FROM backtest_jobs",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 9);
    let mut points = BTreeSet::new();
    for r in &rows {
        assert_eq!(r.get::<String, _>("status"), "completed");
        let sweep: Value = r.get("sweep");
        let edge: String = r.get("edge");
        let latency: String = r.get("latency");
        // The sweep's value is the option the run had.
        assert_eq!(sweep["min_net_edge_bps"].as_str().unwrap(), edge);
        assert_eq!(
            format!("{}ms", sweep["latency_ms"].as_str().unwrap()),
            latency
        );
        points.insert((edge, latency));
    }
    assert_eq!(points.len(), 9, "nine distinct parameter sets: {points:?}");
    // A stricter threshold never finds more opportunities.
    let opened = |edge: &str| -> u64 {
        sweep
            .jobs
            .iter()
            .filter(|j| j["sweep"]["min_net_edge_bps"] == edge && j["sweep"]["latency_ms"] == "0")
            .map(|j| j["summary"]["opportunities"]["open"].as_u64().unwrap_or(0))
            .sum()
    };
    assert!(opened("2") >= opened("5") && opened("5") >= opened("10"));
    assert!(opened("2") > opened("10"), "the threshold matters");

    // Defaults from the database fill what the command line leaves unset.
    sqlx::query(
        "INSERT INTO config_backtesting_defaults (min_net_edge_bps, max_notional, fees, params) \
         VALUES (7, 2500, '{\"sim-a\": \"0.0007\"}', '{\"latency\": \"40ms\"}')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("DELETE FROM backtest_jobs")
        .execute(&db.pool)
        .await
        .unwrap();
    let d = backtest(&tb, &db, &["--latency", "30ms"]).await;
    assert_eq!(d.code, Some(0), "{}", d.stderr);
    let params: Value = sqlx::query_scalar("SELECT params FROM backtest_jobs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let o = &params["options"];
    assert_eq!(o["min_net_edge_bps"], "7", "{o}");
    assert_eq!(o["max_notional"], "2500");
    assert_eq!(o["fees"], serde_json::json!(["sim-a=0.0007"]));
    assert_eq!(
        o["latency"], "30ms",
        "the command line wins over the defaults"
    );
    assert_eq!(
        o["balances"][0], "sim-a:BTC=2,ETH=30,USD=10000",
        "the start currency at the default initial balance"
    );

    // A bad default is named as one.
    sqlx::query(
        "INSERT INTO config_backtesting_defaults (params) VALUES ('{\"no-such-option\": 1}')",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let bad = backtest(&tb, &db, &[]).await;
    assert!(
        bad.stderr.contains("config_backtesting_defaults"),
        "{}",
        bad.stderr
    );
    assert_eq!(bad.code, Some(1), "{}", bad.stderr);
    tb.cleanup().await;
    db.cleanup().await;
}

/// The live detector's heartbeat counters: books and statuses taken, and
/// opportunities published.
fn counters(state: &arb_contract::RuntimeState) -> (u64, u64) {
    let c = |k: &str| state.counters.get(k).copied().unwrap_or(0);
    (
        c("books") + c("statuses"),
        c("opportunities_open") + c("opportunities_update") + c("opportunities_close"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backtest_over_the_recorded_md_stream_reproduces_the_live_detectors_opportunities() {
    let (tb, db, mut sink) = with_sink("backtest_parity").await;
    let environment = env(&tb, &db.url);
    let mut args = detector_args("cross");
    args.extend(strings(&["--min-net-edge-bps", "2"]));
    args.extend(stream_limit_args());
    let mut detector = Proc::spawn("arb-detector", &args, &environment);
    // The detector takes books over core NATS: up before the feed starts.
    let hb = first_heartbeat(&tb.bus, "detector-cross").await;
    assert_eq!(counters(&hb).0, 0);
    let mut feed_args = sim_feed_args(400);
    feed_args.extend(stream_limit_args());
    let mut feed = Proc::spawn("arb-feed", &feed_args, &environment);
    wait_until(
        "the live detector publishes opportunities",
        WAIT * 2,
        || async {
            tb.stream_messages(StreamKind::Md).await > 3_000
                && tb.stream_messages(StreamKind::Arb).await > 20
        },
    )
    .await;
    feed.sigterm();
    assert!(feed.exit_within(WAIT).await.is_some_and(|s| s.success()));

    // The detector has taken every recorded message and its opportunities
    // are all stored once its heartbeat says so.
    let md = tb.stream_messages(StreamKind::Md).await;
    let subject = tb.bus.subjects.state("detector-cross").unwrap();
    let mut beats = subscribe(&tb.bus, subject).await;
    let published = loop {
        let m = tokio::time::timeout(WAIT, beats.next())
            .await
            .expect("a heartbeat")
            .unwrap();
        let state: arb_contract::RuntimeState =
            arb_runtime::headers::decode(m.headers.as_ref(), &m.payload).unwrap();
        let (taken, published) = counters(&state);
        if taken >= md {
            break published;
        }
    };
    wait_until(
        "the ARB stream holds what the detector published",
        WAIT,
        || async { tb.stream_messages(StreamKind::Arb).await >= published },
    )
    .await;
    assert!(published > 20);

    let ran = backtest(&tb, &db, &["--parity", "--min-net-edge-bps", "2"]).await;
    assert_eq!(ran.code, Some(0), "parity failed:\n{}", ran.stderr);
    let result: Value = sqlx::query_scalar("SELECT result FROM backtest_jobs")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(result["parity"]["differences"], 0, "{}", result["parity"]);
    assert_eq!(
        result["parity"]["live"], published,
        "every opportunity compared"
    );
    assert_eq!(result["parity"]["backtest"], published);

    // A backtest that would detect differently is caught, field by field.
    let other = backtest(
        &tb,
        &db,
        &[
            "--parity",
            "--min-net-edge-bps",
            "2",
            "--max-notional",
            "5000",
        ],
    )
    .await;
    assert_eq!(other.code, Some(3), "{}", other.stderr);
    assert!(other.stderr.contains("differences"), "{}", other.stderr);

    // And the sink stored what the live detector published.
    wait_until("the sink stores the opportunities", WAIT, || async {
        db.count("opportunities").await as u64 >= published
    })
    .await;
    detector.sigterm();
    let _ = detector.exit_within(WAIT).await;
    teardown(&mut sink, tb, db).await;
}
