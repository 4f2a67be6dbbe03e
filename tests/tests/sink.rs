//! End-to-end tests of arb-sink: the real binary against the real NATS and
//! PostgreSQL, each test with its own subject prefix, streams and database.
#![allow(unused_crate_dependencies)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use arb_contract::codec::{self, ARB_SCHEMA, CONTENT_TYPE, ContentType, Decoded, NATS_MSG_ID};
use arb_contract::sample;
use arb_contract::subject::StreamKind;
use arb_contract::time::{Timestamp, from_nanos};
use arb_testkit::*;
use bytes::Bytes;

/// The table a message lands in and the text of some of its stored values,
/// as the test expects to read them back.
fn expected_row(m: &Decoded) -> (&'static str, String) {
    match m {
        Decoded::Book(b) => (
            "market_snapshots",
            format!(
                "{}|{}|{}",
                b.sequence.unwrap_or(0),
                b.bids[0].price,
                b.asks[b.asks.len() - 1].qty
            ),
        ),
        Decoded::Opportunity(o) => (
            "opportunities",
            format!("{}|{}", o.expected_profit, o.legs[0].qty),
        ),
        Decoded::Order(o) => (
            "orders",
            format!(
                "{}|{}",
                o.side.as_str(),
                o.avg_fill_price.unwrap_or_default()
            ),
        ),
        Decoded::Trade(t) => ("trades", format!("{}", t.realized_pnl)),
        Decoded::Pnl(p) => ("pnl_events", format!("{}", p.cumulative_realized)),
        Decoded::Portfolio(p) => (
            "portfolio_snapshots",
            format!("{}", p.total_value.unwrap_or_default()),
        ),
        Decoded::Audit(a) => ("audit_events", format!("{}|{}", a.kind, a.message)),
        Decoded::Status(_) => ("audit_events", "feed_status|".into()),
        Decoded::DeadLetter(d) => ("audit_events", format!("dead_letter|{}", d.reason)),
        Decoded::State(s) => ("runtime_state_snapshots", format!("{}", s.uptime_secs)),
    }
}

/// What the database holds, read back in the same shape as `expected_row`.
async fn stored_rows(db: &TestDb) -> HashMap<uuid::Uuid, (&'static str, String)> {
    let queries: [(&'static str, &str); 8] = [
        (
            "market_snapshots",
            "SELECT id, sequence::text || '|' || bid_prices[1]::text || '|' || ask_sizes[array_length(ask_sizes, 1)]::text FROM market_snapshots",
        ),
        (
            "opportunities",
            "SELECT id, expected_profit::text || '|' || (legs->0->>'qty') FROM opportunities",
        ),
        (
            "orders",
            "SELECT id, side || '|' || avg_fill_price::text FROM orders",
        ),
        ("trades", "SELECT id, realized_pnl::text FROM trades"),
        (
            "pnl_events",
            "SELECT id, cumulative_realized::text FROM pnl_events",
        ),
        (
            "portfolio_snapshots",
            "SELECT id, total_value::text FROM portfolio_snapshots",
        ),
        (
            "audit_events",
            "SELECT id, kind || '|' || CASE WHEN kind = 'feed_status' THEN '' ELSE message END FROM audit_events",
        ),
        (
            "runtime_state_snapshots",
            "SELECT id, uptime_secs::text FROM runtime_state_snapshots WHERE service <> 'sink'",
        ),
    ];
    let mut out = HashMap::new();
    for (table, sql) in queries {
        let rows: Vec<(uuid::Uuid, String)> =
            sqlx::query_as(sql).fetch_all(&db.pool).await.expect(sql);
        for (id, v) in rows {
            assert!(out.insert(id, (table, v)).is_none(), "id {id} stored twice");
        }
    }
    out
}

fn messages(n: u64, start: Timestamp) -> Vec<Decoded> {
    (0..n)
        .map(|i| sample::mixed(i, start + chrono::Duration::milliseconds(i as i64)))
        .collect()
}

async fn publish_all(tb: &TestBus, msgs: &[Decoded]) {
    let mut p = tb.bus.publisher(512);
    for m in msgs {
        let subject = m.subject(&tb.bus.subjects).expect("subject");
        p.publish_raw(
            subject,
            arb_runtime::headers::to_map(&m.headers(ContentType::Msgpack)),
            m.encode(ContentType::Msgpack).unwrap(),
        )
        .await
        .expect("publish");
    }
    p.flush().await.expect("flush");
}

async fn drained(tb: &TestBus, durable: &str) -> bool {
    for kind in StreamKind::ALL {
        match tb.consumer_backlog(kind, durable).await {
            Some((0, 0)) => {}
            _ => return false,
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_mixed_messages_land_once_with_their_values_and_never_twice() {
    let tb = TestBus::new("sink_mixed").await;
    let db = TestDb::new("sink_mixed").await;
    let mut sink = Proc::spawn("arb-sink", &sink_args("sink"), &env(&tb, &db.url));

    let msgs = messages(10_000, from_nanos(1_763_900_000_000_000_000));
    let expected: HashMap<uuid::Uuid, (&'static str, String)> =
        msgs.iter().map(|m| (m.id(), expected_row(m))).collect();
    assert_eq!(expected.len(), 10_000, "sample ids are distinct");
    publish_all(&tb, &msgs).await;

    wait_until("10,000 rows stored", Duration::from_secs(180), || async {
        db.producer_rows().await >= 10_000
    })
    .await;
    let stored = stored_rows(&db).await;
    for (id, want) in &expected {
        assert_eq!(stored.get(id), Some(want), "row of message {id}");
    }
    assert_eq!(db.producer_rows().await, 10_000);

    // The same messages again. Within JetStream's duplicate window the stream drops them...
    let before = tb.stream_messages(StreamKind::Md).await;
    publish_all(&tb, &msgs).await;
    assert_eq!(
        tb.stream_messages(StreamKind::Md).await,
        before,
        "JetStream de-duplicates by Nats-Msg-Id"
    );
    // ...and under new Nats-Msg-Ids (a producer that lost its state) they reach the sink, which drops them.
    let mut p = tb.bus.publisher(512);
    for m in &msgs {
        let mut h = m.headers(ContentType::Msgpack);
        h.insert(NATS_MSG_ID, format!("{}-again", m.id()));
        p.publish_raw(
            m.subject(&tb.bus.subjects).unwrap(),
            arb_runtime::headers::to_map(&h),
            m.encode(ContentType::Msgpack).unwrap(),
        )
        .await
        .unwrap();
    }
    p.flush().await.unwrap();
    assert!(
        tb.stream_messages(StreamKind::Md).await > before,
        "the copies are in the stream"
    );
    wait_until(
        "the sink consumed the copies",
        Duration::from_secs(180),
        || drained(&tb, "sink"),
    )
    .await;
    assert_eq!(db.producer_rows().await, 10_000, "no duplicate rows");
    assert_eq!(stored_rows(&db).await.len(), stored.len());

    // The heartbeat reports rows per table.
    let counters: serde_json::Value = sqlx::query_scalar(
        "SELECT counters FROM runtime_state_snapshots WHERE service = 'sink' ORDER BY ts DESC LIMIT 1",
    )
    .fetch_one(&db.pool)
    .await
    .expect("a sink heartbeat was stored");
    assert!(
        counters["rows.market_snapshots"].as_u64().unwrap_or(0) > 0,
        "{counters}"
    );

    assert!(sink.terminate().await.success(), "clean exit on SIGTERM");
    tb.cleanup().await;
    db.cleanup().await;
}

fn malformed(i: u64) -> (Option<async_nats::HeaderMap>, Bytes) {
    let h = |schema: &str, ct: &str| {
        Some(arb_runtime::headers::header_map([
            (ARB_SCHEMA, schema),
            (CONTENT_TYPE, ct),
        ]))
    };
    match i % 5 {
        0 => (
            h("book_snapshot/1", codec::MSGPACK),
            Bytes::from(format!("\u{c1}not msgpack {i}")),
        ),
        1 => (
            h("book_snapshot/1", codec::JSON),
            Bytes::from(format!("{{\"venue\": \"x\", \"n\": {i}")),
        ),
        2 => (
            h("no_such_thing/1", codec::MSGPACK),
            Bytes::from(format!("unknown schema {i}")),
        ),
        3 => (
            h("book_snapshot/7", codec::MSGPACK),
            Bytes::from(format!("future version {i}")),
        ),
        _ => (
            None,
            Bytes::from(format!(
                "{{\"venue\": \"kraken\", \"symbol\": \"BTC/USD\", \"missing\": {i}}}"
            )),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_payloads_are_dead_lettered_and_the_sink_keeps_going() {
    let tb = TestBus::new("sink_dlq").await;
    let db = TestDb::new("sink_dlq").await;
    let mut sink = Proc::spawn("arb-sink", &sink_args("sink"), &env(&tb, &db.url));
    let ts = from_nanos(1_763_900_000_000_000_000);
    let subject = tb
        .bus
        .subjects
        .book("kraken", &"BTC/USD".parse().unwrap())
        .unwrap();

    let mut p = tb.bus.publisher(256);
    let mut bad_payloads = HashSet::new();
    for i in 0..1_100u64 {
        if i % 11 == 5 {
            let (headers, payload) = malformed(i);
            bad_payloads.insert(payload.to_vec());
            p.publish_raw(subject.clone(), headers.unwrap_or_default(), payload)
                .await
                .unwrap();
        } else {
            let b = sample::book(
                i,
                "kraken",
                "BTC/USD",
                10,
                ts + chrono::Duration::milliseconds(i as i64),
            );
            p.publish_raw(
                subject.clone(),
                arb_runtime::headers::to_map(&codec::headers(&b, ContentType::Msgpack)),
                codec::encode(&b).unwrap(),
            )
            .await
            .unwrap();
        }
    }
    p.flush().await.unwrap();
    assert_eq!(bad_payloads.len(), 100);

    wait_until(
        "1,000 books and 100 dead letters",
        Duration::from_secs(120),
        || async {
            db.count("market_snapshots").await >= 1_000
                && sqlx::query_scalar::<_, i64>(
                    "SELECT count(*) FROM audit_events WHERE kind = 'dead_letter'",
                )
                .fetch_one(&db.pool)
                .await
                .unwrap()
                    >= 100
        },
    )
    .await;
    let letters: Vec<(String, String, Option<Vec<u8>>, String)> = sqlx::query_as(
        "SELECT service, message, payload, subject FROM audit_events WHERE kind = 'dead_letter'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        letters.len(),
        100,
        "one dead-letter record per malformed payload"
    );
    let mut reasons = BTreeMap::new();
    for (service, reason, payload, subj) in &letters {
        assert_eq!(service, "sink");
        assert_eq!(subj, &subject);
        assert!(
            bad_payloads.contains(payload.as_deref().unwrap_or_default()),
            "raw payload kept"
        );
        *reasons
            .entry(reason.split(':').next().unwrap_or("").to_owned())
            .or_insert(0) += 1;
    }
    assert!(
        reasons.len() >= 4,
        "each kind of garbage has its reason: {reasons:?}"
    );
    assert_eq!(
        db.count("market_snapshots").await,
        1_000,
        "every good message stored"
    );

    // Published on sys.dlq.sink too, and terminated rather than redelivered forever.
    let sys = tb
        .bus
        .js
        .get_stream(tb.bus.subjects.stream_name(StreamKind::Sys))
        .await
        .unwrap();
    let dlq_subject = tb.bus.subjects.dlq("sink").unwrap();
    let consumer = sys
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: dlq_subject,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut consumer = consumer;
    assert_eq!(
        consumer.info().await.unwrap().num_pending,
        100,
        "100 messages on sys.dlq.sink"
    );
    wait_until(
        "no malformed message left unacked",
        Duration::from_secs(30),
        || drained(&tb, "sink"),
    )
    .await;

    // Still running, still storing.
    assert!(sink.is_running(), "the sink survived the garbage");
    let late = sample::book(99_999, "kraken", "BTC/USD", 10, ts);
    let mut p = tb.bus.publisher(1);
    p.publish(&late).await.unwrap();
    p.flush().await.unwrap();
    wait_until(
        "a good message after the garbage",
        Duration::from_secs(30),
        || async { db.count("market_snapshots").await == 1_001 },
    )
    .await;
    assert_eq!(
        db.count("audit_events WHERE kind = 'dead_letter'").await,
        100,
        "dead letters are not duplicated"
    );

    assert!(sink.terminate().await.success());
    tb.cleanup().await;
    db.cleanup().await;
}

/// Publishes `msgs` at about `rate` per second from a connection of its own.
async fn spawn_paced_publisher(
    tb: &TestBus,
    msgs: Vec<Decoded>,
    rate: u64,
) -> tokio::task::JoinHandle<()> {
    let own = TestBus {
        prefix: tb.prefix.clone(),
        args: tb.args.clone(),
        bus: arb_runtime::bus::Bus::connect_once(&tb.args, "publisher")
            .await
            .unwrap(),
    };
    tokio::spawn(async move { publish_paced(&own, msgs, rate).await })
}

/// Waits until the producers' `total` rows are stored and nothing is left
/// pending, then checks there is not one row more.
async fn stored_exactly_once(tb: &TestBus, db: &TestDb, total: i64, what: &str, why: &str) {
    wait_until(what, Duration::from_secs(180), || async {
        db.producer_rows().await >= total
    })
    .await;
    wait_until(
        "the consumer has nothing pending",
        Duration::from_secs(60),
        || drained(tb, "sink"),
    )
    .await;
    assert_eq!(db.producer_rows().await, total, "{why}");
}

/// Publishes `msgs` at about `rate` per second.
async fn publish_paced(tb: &TestBus, msgs: Vec<Decoded>, rate: u64) {
    let mut p = tb.bus.publisher(256);
    let start = tokio::time::Instant::now();
    for (i, m) in msgs.iter().enumerate() {
        let due = start + Duration::from_micros(i as u64 * 1_000_000 / rate);
        tokio::time::sleep_until(due).await;
        let subject = m.subject(&tb.bus.subjects).unwrap();
        p.publish_raw(
            subject,
            arb_runtime::headers::to_map(&m.headers(ContentType::Msgpack)),
            m.encode(ContentType::Msgpack).unwrap(),
        )
        .await
        .unwrap();
    }
    p.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_messages_flow_loses_and_duplicates_nothing() {
    let tb = TestBus::new("sink_kill").await;
    let db = TestDb::new("sink_kill").await;
    let environment = env(&tb, &db.url);
    let args = sink_args("sink");
    let mut sink = Proc::spawn("arb-sink", &args, &environment);

    let msgs = messages(12_000, from_nanos(1_763_900_000_000_000_000));
    let total = msgs.len() as i64;
    let publisher = spawn_paced_publisher(&tb, msgs, 3_000).await;

    let mut kills = 0;
    let mut seen_between_kills = Vec::new();
    while kills < 3 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        sink.kill9().await;
        kills += 1;
        seen_between_kills.push(db.producer_rows().await);
        sink = Proc::spawn("arb-sink", &args, &environment);
    }
    publisher.await.unwrap();
    stored_exactly_once(
        &tb,
        &db,
        total,
        "every message stored after the kills",
        "row count equals distinct messages published",
    )
    .await;
    assert!(
        seen_between_kills.windows(2).any(|w| w[1] > w[0]),
        "the sink was writing between the kills: {seen_between_kills:?}"
    );
    assert!(sink.terminate().await.success());
    tb.cleanup().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_off_then_back_the_sink_recovers_by_itself() {
    let tb = TestBus::new("sink_pgcut").await;
    let db = TestDb::new("sink_pgcut").await;
    let upstream = {
        let u = url::Url::parse(&db.url).unwrap();
        format!(
            "{}:{}",
            u.host_str().unwrap_or("127.0.0.1"),
            u.port().unwrap_or(5432)
        )
    };
    let proxy = CutProxy::start(&upstream).await;
    let mut sink = Proc::spawn(
        "arb-sink",
        &sink_args("sink"),
        &env(&tb, &db.url_via(proxy.port)),
    );

    let msgs = messages(6_000, from_nanos(1_763_900_000_000_000_000));
    let total = msgs.len() as i64;
    let publisher = spawn_paced_publisher(&tb, msgs, 1_000).await;

    wait_until(
        "some rows before the cut",
        Duration::from_secs(60),
        || async { db.producer_rows().await > 200 },
    )
    .await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(4)).await;
    // While PostgreSQL is unreachable nothing is acked: the backlog grows.
    let (pending, ack_pending) = tb.consumer_backlog(StreamKind::Md, "sink").await.unwrap();
    assert!(
        pending + ack_pending as u64 > 0,
        "messages are held, not acked, during the outage"
    );
    let during = db.producer_rows().await;
    assert!(
        during < total,
        "the outage happened while messages were flowing"
    );
    assert!(
        sink.is_running(),
        "the sink does not exit on a lost database"
    );
    proxy.restore();

    publisher.await.unwrap();
    stored_exactly_once(
        &tb,
        &db,
        total,
        "every message stored after the outage",
        "nothing lost, nothing duplicated",
    )
    .await;
    assert!(sink.terminate().await.success());
    tb.cleanup().await;
    db.cleanup().await;
}
