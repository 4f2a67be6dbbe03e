//! `arb-executor` end to end with the real binaries, NATS and PostgreSQL:
//! sim feed → cross detector → executor → sink, the reconciliation identity
//! in SQL; SIGKILL restarts while opportunities flow; the kill switch set
//! with `arbctl config`; bad input.
#![allow(unused_crate_dependencies)]

mod common;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use arb_contract::{
    BookSnapshot, Opportunity, OrderEvent, OrderStatus, PortfolioSnapshot, Side, TradeEvent,
};
use arb_testkit::*;
use futures::StreamExt;
use rust_decimal::Decimal;
use sqlx::Row;

const BALANCES: [&str; 3] = [
    "sim-a:USD=100000,BTC=2,ETH=30",
    "sim-b:USD=100000,BTC=2,ETH=30",
    "sim-c:USD=100000,BTC=2,ETH=30",
];

/// The executor's flags under test; `extra` adds flags or replaces these.
fn executor_args(extra: &[&str]) -> Vec<String> {
    let base = [
        ("--latency", "5ms"),
        ("--latency-jitter", "3ms"),
        ("--fill-timeout", "300ms"),
        ("--heartbeat-interval", "1s"),
        ("--snapshot-interval", "2s"),
        ("--ack-wait", "5s"),
    ];
    let mut args = Vec::new();
    for (flag, value) in base {
        if !extra.contains(&flag) {
            args.extend(strings(&[flag, value]));
        }
    }
    for b in BALANCES {
        args.extend(strings(&["--balance", b]));
    }
    args.extend(strings(extra));
    args.extend(stream_limit_args());
    args
}

fn executor(environment: &[(&str, String)], extra: &[&str]) -> Proc {
    Proc::spawn("arb-executor", &executor_args(extra), environment)
}

fn detector(environment: &[(&str, String)]) -> Proc {
    let mut args = detector_args("cross");
    args.extend(strings(&["--min-net-edge-bps", "2"]));
    args.extend(stream_limit_args());
    Proc::spawn("arb-detector", &args, environment)
}

fn feed(environment: &[(&str, String)], rate: u32, count: u64) -> Proc {
    let args = strings(&[
        "--venue",
        "sim",
        "--symbols",
        "BTC/USD,ETH/USD",
        "--sim-venues",
        "sim-a,sim-b,sim-c",
        "--seed",
        "42",
        "--rate",
        &rate.to_string(),
        "--count",
        &count.to_string(),
    ]);
    Proc::spawn("arb-feed", &args, environment)
}

/// The reconciliation identity, in SQL: for every venue and asset, the
/// starting balance plus every trade leg's base and quote (fees out), plus
/// transfers, is what the venue's latest snapshot holds, to the last unit.
async fn assert_reconciles(db: &TestDb) -> usize {
    let starting: Vec<(String, String, Decimal)> = BALANCES
        .iter()
        .flat_map(|b| {
            let s = arb_exec::ledger::StartingBalances::from_str(b).unwrap();
            s.assets
                .into_iter()
                .map(move |(a, q)| (s.venue.clone(), a, q))
                .collect::<Vec<_>>()
        })
        .collect();
    let flows: Vec<(String, String, Decimal)> = sqlx::query(
        "WITH legs AS (
             SELECT l->>'venue' AS venue, split_part(l->>'symbol', '/', 1) AS base,
                    split_part(l->>'symbol', '/', 2) AS quote, l->>'side' AS side,
                    (l->>'qty')::numeric AS qty, (l->>'notional')::numeric AS notional,
                    (l->>'fee')::numeric AS fee
             FROM trades, jsonb_array_elements(legs) AS l),
         flows AS (
             SELECT venue, base AS asset, CASE side WHEN 'buy' THEN qty ELSE -qty END AS amount FROM legs
             UNION ALL
             SELECT venue, quote, CASE side WHEN 'buy' THEN -notional - fee ELSE notional - fee END FROM legs
             UNION ALL
             SELECT from_venue, asset, -(amount + fee) FROM transfers WHERE status = 'sent'
             UNION ALL
             SELECT to_venue, asset, amount FROM transfers WHERE status = 'arrived')
         SELECT venue, asset, sum(amount)::text FROM flows GROUP BY venue, asset",
    )
    .fetch_all(&db.pool)
    .await
    .expect("flows")
    .into_iter()
    .map(|r| {
        (
            r.get::<String, _>(0),
            r.get::<String, _>(1),
            Decimal::from_str(&r.get::<String, _>(2)).unwrap(),
        )
    })
    .collect();
    let mut expected: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for (v, a, q) in starting.into_iter().chain(flows) {
        *expected.entry((v, a)).or_default() += q;
    }
    let latest: Vec<(String, serde_json::Value)> = sqlx::query(
        "SELECT DISTINCT ON (venue) venue, balances FROM portfolio_snapshots
         ORDER BY venue, ts DESC, inserted_at DESC",
    )
    .fetch_all(&db.pool)
    .await
    .expect("snapshots")
    .into_iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    assert_eq!(latest.len(), 3, "a snapshot of each venue");
    let mut checked = 0;
    for (venue, balances) in latest {
        let balances: Vec<arb_contract::Balance> = serde_json::from_value(balances).unwrap();
        for b in balances {
            let want = expected
                .get(&(venue.clone(), b.asset.clone()))
                .copied()
                .unwrap_or_default();
            assert_eq!(
                b.free, want,
                "{venue} {}: snapshot vs starting + fills - fees",
                b.asset
            );
            checked += 1;
        }
    }
    checked
}

async fn scalar(db: &TestDb, sql: &str) -> String {
    sqlx::query_scalar::<_, Option<String>>(sql)
        .fetch_one(&db.pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .unwrap_or_default()
}

/// At most one trade per episode, and the trades' P&L adds up to the last
/// cumulative P&L.
async fn assert_once_per_episode_and_pnl_adds_up(db: &TestDb) {
    let twice = scalar(
        db,
        "SELECT count(*)::text FROM (SELECT episode_id FROM trades WHERE episode_id IS NOT NULL
         GROUP BY episode_id HAVING count(*) > 1) t",
    )
    .await;
    assert_eq!(twice, "0", "an episode traded twice");
    let sum = scalar(
        db,
        "SELECT sum(realized_pnl)::text FROM trades WHERE strategy = 'cross'",
    )
    .await;
    let last = scalar(
        db,
        "SELECT cumulative_realized::text FROM pnl_events WHERE strategy = 'cross'
         ORDER BY ts DESC, cumulative_realized LIMIT 1",
    )
    .await;
    assert_eq!(
        Decimal::from_str(&sum).unwrap(),
        Decimal::from_str(&last).unwrap(),
        "the sum of trade P&L is the last cumulative P&L"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_feed_to_executor_to_sink_reconciles_in_sql() {
    let (tb, db) = bus_and_db("executor_e2e").await;
    // The operator's (`arbctl streams --ensure`): the executor only opens it.
    tb.ensure_config_bucket().await;
    let environment = env(&tb, &db.url);
    let mut sink = Proc::sink(&tb, &db.url);
    let mut det = detector(&environment);
    first_heartbeat(&tb.bus, "detector-cross").await;
    let mut exe = executor(
        &environment,
        &[
            "--floor",
            "BTC=1.9,ETH=29",
            "--transfer",
            "BTC=0.0005/1s,ETH=0.005/1s",
        ],
    );
    first_heartbeat(&tb.bus, "executor").await;
    let mut f = feed(&environment, 400, 4000);
    common::finish(&tb, &mut f, &mut exe, &mut det, &mut sink).await;

    let trades = db.count("trades").await;
    assert!(trades > 0, "trades were made");
    for t in ["orders", "pnl_events", "portfolio_snapshots"] {
        assert!(db.count(t).await > 0, "{t} has rows");
    }
    // Cross trades move inventory toward the cheaper venue; a venue whose
    // BTC falls below 1.9 (ETH below 29) is topped up: one trade's worth of
    // drift (about 0.16 BTC or 3 ETH at the default notional) is enough, so
    // any run that trades both ways transfers (the transfers are in the
    // identity below).
    let sent = scalar(
        &db,
        "SELECT count(*)::text FROM transfers WHERE status = 'sent' AND cost > 0",
    )
    .await;
    assert_ne!(sent, "0", "inventory drift moved BTC or ETH between venues");
    let checked = assert_reconciles(&db).await;
    assert!(
        checked >= 9,
        "3 venues x 3 assets reconciled, got {checked}"
    );
    assert_once_per_episode_and_pnl_adds_up(&db).await;
    // Every filled order's exact notional is what its trade leg booked.
    let mismatched = scalar(
        &db,
        "SELECT count(*)::text FROM trades t, jsonb_array_elements(t.legs) l
         WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.order_id = (l->>'order_id')::uuid
                           AND o.filled_notional = (l->>'notional')::numeric
                           AND o.status IN ('filled', 'partially_filled'))",
    )
    .await;
    assert_eq!(mismatched, "0");
    tb.cleanup().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_restarts_keep_balances_and_trade_no_episode_twice() {
    let (tb, db) = bus_and_db("executor_kill").await;
    // The operator's (`arbctl streams --ensure`): the executor only opens it.
    tb.ensure_config_bucket().await;
    let environment = env(&tb, &db.url);
    let mut trades_sub = subscribe(&tb.bus, tb.bus.subjects.with_prefix("exec.trade.>")).await;
    let mut snaps = subscribe(&tb.bus, tb.bus.subjects.with_prefix("exec.portfolio.>")).await;
    let mut sink = Proc::sink(&tb, &db.url);
    let mut det = detector(&environment);
    first_heartbeat(&tb.bus, "detector-cross").await;
    let mut f = feed(&environment, 300, 6000);
    let mut seen: Vec<TradeEvent> = Vec::new();
    for round in 0..3 {
        let mut exe = executor(&environment, &[]);
        // The balances a (re)started executor announces are the starting
        // ones plus every trade recorded before it started.
        let expect = expected_balances(&seen);
        let mut announced = BTreeMap::new();
        while announced.len() < 3 {
            let m = tokio::time::timeout(WAIT, snaps.next())
                .await
                .expect("start-up snapshots")
                .unwrap();
            let s: PortfolioSnapshot =
                arb_runtime::headers::decode(m.headers.as_ref(), &m.payload).unwrap();
            announced.entry(s.venue.clone()).or_insert(s);
        }
        for (venue, s) in &announced {
            for b in &s.balances {
                let want = expect
                    .get(&(venue.clone(), b.asset.clone()))
                    .copied()
                    .unwrap_or_default();
                assert_eq!(
                    b.free, want,
                    "round {round}: {venue} {} after the restart",
                    b.asset
                );
            }
        }
        // Let it trade a little, then kill it mid-flow.
        let before = seen.len();
        while seen.len() < before + 3 {
            let m = tokio::time::timeout(CATCH_UP, trades_sub.next())
                .await
                .expect("trades")
                .unwrap();
            seen.push(arb_runtime::headers::decode(m.headers.as_ref(), &m.payload).unwrap());
        }
        exe.kill9().await;
        // Trades published just before the kill.
        while let Ok(Some(m)) =
            tokio::time::timeout(Duration::from_millis(300), trades_sub.next()).await
        {
            seen.push(arb_runtime::headers::decode(m.headers.as_ref(), &m.payload).unwrap());
        }
        while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(50), snaps.next()).await
        {
        }
    }
    let mut exe = executor(&environment, &[]);
    first_heartbeat(&tb.bus, "executor").await;
    common::finish(&tb, &mut f, &mut exe, &mut det, &mut sink).await;
    assert_once_per_episode_and_pnl_adds_up(&db).await;
    assert_reconciles(&db).await;
    let restored = scalar(&db, "SELECT count(*)::text FROM trades").await;
    assert!(restored.parse::<usize>().unwrap() >= seen.len());
    tb.cleanup().await;
    db.cleanup().await;
}

/// Starting balances plus the legs of `trades`.
fn expected_balances(trades: &[TradeEvent]) -> BTreeMap<(String, String), Decimal> {
    let mut out = BTreeMap::new();
    for b in BALANCES {
        let s = arb_exec::ledger::StartingBalances::from_str(b).unwrap();
        for (a, q) in s.assets {
            out.insert((s.venue.clone(), a), q);
        }
    }
    let mut ids = std::collections::HashSet::new();
    for t in trades.iter().filter(|t| ids.insert(t.id)) {
        for l in &t.legs {
            let (db, dq) = match l.side {
                Side::Buy => (l.qty, -l.notional - l.fee),
                Side::Sell => (-l.qty, l.notional - l.fee),
            };
            *out.entry((l.venue.clone(), l.symbol.base().to_owned()))
                .or_default() += db;
            *out.entry((l.venue.clone(), l.symbol.quote().to_owned()))
                .or_default() += dq;
        }
    }
    out
}

async fn arbctl(tb: &TestBus, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(bin("arbctl"))
        .args(args)
        .env("NATS_URL", &tb.args.nats_url)
        .env("ARB_SUBJECT_PREFIX", &tb.prefix)
        .output()
        .await
        .expect("arbctl runs")
}

/// The next order events on `sub`, `n` of them.
async fn next_orders(sub: &mut async_nats::Subscriber, n: usize) -> Vec<OrderEvent> {
    let mut out = Vec::new();
    while out.len() < n {
        let m = tokio::time::timeout(WAIT, sub.next())
            .await
            .expect("order events")
            .unwrap();
        out.push(arb_runtime::headers::decode(m.headers.as_ref(), &m.payload).unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_switch_from_arbctl_and_bad_input() {
    let tb = TestBus::new("executor-switch").await;
    tb.ensure_config_bucket().await;
    let environment = env(&tb, "postgres://unused");
    let mut orders = subscribe(&tb.bus, tb.bus.subjects.with_prefix("exec.order.>")).await;
    let mut audit = subscribe(&tb.bus, tb.bus.subjects.with_prefix("sys.audit.executor")).await;
    let mut dlq = subscribe(&tb.bus, tb.bus.subjects.with_prefix("sys.dlq.executor")).await;
    let mut exe = executor(
        &environment,
        &["--latency", "0ms", "--latency-jitter", "0ms"],
    );
    first_heartbeat(&tb.bus, "executor").await;
    let mut ms = 0;
    let mut step = |n: u128, venue: &str| {
        ms += 10;
        let books = [
            common::book("sim-a", ms, "99.9", "100", "5"),
            common::book("sim-b", ms, "101", "101.1", "5"),
            common::book("sim-c", ms, "99.9", "100", "5"),
        ];
        (books, common::opportunity(n, ms, venue, "0.1"))
    };
    let send = |books: [BookSnapshot; 3], opp: Opportunity| {
        let msgs: Vec<arb_contract::Decoded> = books
            .into_iter()
            .map(arb_contract::Decoded::Book)
            .chain([arb_contract::Decoded::Opportunity(opp)])
            .collect();
        msgs
    };

    // Active: both legs go out and fill.
    let (b, o) = step(1, "sim-a");
    tb.publish_all(&send(b, o)).await;
    let got = next_orders(&mut orders, 4).await;
    assert!(
        got.iter()
            .filter(|o| o.status == OrderStatus::Filled)
            .count()
            == 2,
        "{got:#?}"
    );

    // Halted through arbctl: once the executor's audit record of it is out,
    // nothing new goes out.
    let out = arbctl(&tb, &["config", "set", "trading_state", "halted"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = next_audit(&mut audit).await;
    assert_eq!(
        (a.kind.as_str(), a.detail["new"].as_str()),
        ("config_change", Some("halted"))
    );
    let (b, o) = step(2, "sim-a");
    tb.publish_all(&send(b, o)).await;
    let got = next_orders(&mut orders, 2).await;
    assert!(
        got.iter().all(|o| o.status == OrderStatus::Rejected),
        "{got:#?}"
    );
    assert_eq!(got[0].reason.as_deref(), Some("halted"));

    // Reducing: a new trade is refused as opening exposure.
    let out = arbctl(&tb, &["config", "set", "trading_state", "reducing"]).await;
    assert!(out.status.success());
    next_audit(&mut audit).await;
    let (b, o) = step(3, "sim-a");
    tb.publish_all(&send(b, o)).await;
    let got = next_orders(&mut orders, 2).await;
    assert_eq!(got[0].reason.as_deref(), Some("reducing_only"));

    // A bad value is refused by arbctl, and by the executor if written raw.
    let out = arbctl(&tb, &["config", "set", "trading_state", "HALT"]).await;
    assert_eq!(out.status.code(), Some(2));
    let store = arb_runtime::kv::bucket(&tb.bus, "arb_config", 64)
        .await
        .unwrap();
    arb_runtime::kv::put(&store, "trading_state", bytes::Bytes::from_static(b"stop"))
        .await
        .unwrap();
    let a = next_audit(&mut audit).await;
    assert_eq!(a.kind, "config_refused");

    // Active again: it trades (the state stayed reducing until now).
    let out = arbctl(&tb, &["config", "set", "trading_state", "active"]).await;
    assert!(out.status.success());
    next_audit(&mut audit).await;
    let (b, o) = step(4, "sim-a");
    tb.publish_all(&send(b, o)).await;
    let got = next_orders(&mut orders, 4).await;
    assert_eq!(
        got.iter()
            .filter(|o| o.status == OrderStatus::Filled)
            .count(),
        2
    );

    // Bad input: an unknown venue is rejected with a reason; a malformed
    // opportunity is dead-lettered; the executor keeps running.
    let (b, o) = step(5, "nowhere");
    tb.publish_all(&send(b, o)).await;
    let got = next_orders(&mut orders, 2).await;
    assert_eq!(got[0].reason.as_deref(), Some("unknown_venue"));
    tb.bus
        .js
        .publish(
            tb.bus.subjects.with_prefix("arb.opp.cross.BTC-USD"),
            bytes::Bytes::from_static(b"\xc1garbage"),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    tokio::time::timeout(WAIT, dlq.next())
        .await
        .expect("a dead letter")
        .unwrap();
    let (b, o) = step(6, "sim-a");
    tb.publish_all(&send(b, o)).await;
    let got = next_orders(&mut orders, 4).await;
    assert_eq!(
        got.iter()
            .filter(|o| o.status == OrderStatus::Filled)
            .count(),
        2
    );
    exe.stop().await;
    tb.cleanup().await;
}

/// Books and opportunities come on separate consumers: an opportunity the
/// executor takes before its books have reached it waits for them (within
/// the fill timeout) and trades on them, where it was rejected `no_book`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opportunity_ahead_of_its_books_waits_for_them() {
    let tb = TestBus::new("executor-overtaken").await;
    tb.ensure_config_bucket().await;
    let environment = env(&tb, "postgres://unused");
    let mut orders = subscribe(&tb.bus, tb.bus.subjects.with_prefix("exec.order.>")).await;
    let mut exe = executor(
        &environment,
        &[
            "--latency",
            "0ms",
            "--latency-jitter",
            "0ms",
            "--fill-timeout",
            "20s",
        ],
    );
    first_heartbeat(&tb.bus, "executor").await;
    // No book at all yet: the opportunity goes first.
    let opp = common::opportunity(1, 10, "sim-a", "0.1");
    tb.publish_all(&[arb_contract::Decoded::Opportunity(opp)])
        .await;
    // Delivered to the executor: it is deciding on it.
    let arb = tb.stream(arb_contract::subject::StreamKind::Arb).await;
    wait_until("the opportunity delivered, not yet acked", WAIT, || {
        let arb = arb.clone();
        async move {
            let mut c: async_nats::jetstream::consumer::PullConsumer =
                match arb.get_consumer("executor-paper").await {
                    Ok(c) => c,
                    Err(_) => return false,
                };
            c.info()
                .await
                .is_ok_and(|i| i.delivered.stream_sequence >= 1)
        }
    })
    .await;
    let books = [
        common::book("sim-a", 10, "99.9", "100", "5"),
        common::book("sim-b", 10, "101", "101.1", "5"),
    ];
    tb.publish_all(&books.map(arb_contract::Decoded::Book))
        .await;
    let mut got = next_orders(&mut orders, 2).await;
    assert!(
        got.iter().all(|o| o.status != OrderStatus::Rejected),
        "decided before its books came: {got:#?}"
    );
    got.extend(next_orders(&mut orders, 2).await);
    assert_eq!(
        got.iter()
            .filter(|o| o.status == OrderStatus::Filled)
            .count(),
        2,
        "{got:#?}"
    );
    exe.stop().await;
    tb.cleanup().await;
}

/// A history that lost its oldest messages cannot give the balances back:
/// the executor refuses to start on it, naming why, where it would have
/// rebuilt wrong balances without a word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_missing_its_first_messages_is_refused_at_start() {
    let tb = TestBus::new("executor-truncated").await;
    tb.ensure_config_bucket().await;
    let environment = env(&tb, "postgres://unused");
    let mut snapshots = PortfolioSnapshot {
        id: uuid::Uuid::from_u128(1),
        ts: arb_testkit::messages::t0(),
        venue: "sim-a".into(),
        balances: Vec::new(),
        valuation_currency: Some("USD".into()),
        total_value: None,
    };
    for n in 1..=3 {
        snapshots.id = uuid::Uuid::from_u128(n);
        tb.publish_all(&[arb_contract::Decoded::Portfolio(snapshots.clone())])
            .await;
    }
    let exec = tb.stream(arb_contract::subject::StreamKind::Exec).await;
    exec.delete_message(1).await.expect("message #1 deleted");
    let mut exe = executor(&environment, &[]);
    let status = exe
        .exit_within(WAIT)
        .await
        .expect("the executor exits at start");
    assert!(!status.success(), "{status:?}");
    let log = exe.log_text();
    assert!(
        log.contains("no longer holds its first messages") && log.contains("starts at #2"),
        "{log}"
    );
    // Emptied: a fresh start from the starting balances.
    exec.purge().await.expect("purged");
    let mut exe = executor(&environment, &[]);
    first_heartbeat(&tb.bus, "executor").await;
    exe.stop().await;
    tb.cleanup().await;
}

async fn next_audit(sub: &mut async_nats::Subscriber) -> arb_contract::AuditEvent {
    let m = tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("an audit record")
        .unwrap();
    arb_runtime::headers::decode(m.headers.as_ref(), &m.payload).unwrap()
}
