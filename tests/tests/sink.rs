//! End-to-end tests of arb-sink: the real binary against the real NATS and
//! PostgreSQL, each test with its own subject prefix, streams and database.
#![allow(unused_crate_dependencies)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use arb_contract::codec::{self, ARB_SCHEMA, CONTENT_TYPE, ContentType, Decoded, NATS_MSG_ID};
use arb_contract::model::{BookSnapshot, RuntimeState};
use arb_contract::sample;
use arb_contract::subject::StreamKind;
use arb_contract::time::from_nanos;
use arb_testkit::*;
use bytes::Bytes;
use futures::StreamExt;
use rust_decimal::Decimal;

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
        // Exact amounts keep their scale: NUMERIC's text is the Decimal's.
        Decoded::Order(o) => (
            "orders",
            format!(
                "{}|{}|{}|{}",
                o.side.as_str(),
                o.avg_fill_price.unwrap_or_default(),
                o.filled_notional,
                o.episode_id.map(|e| e.to_string()).unwrap_or_default()
            ),
        ),
        Decoded::Trade(t) => (
            "trades",
            format!(
                "{}|{}|{}|{}|{}",
                t.realized_pnl,
                t.episode_id.map(|e| e.to_string()).unwrap_or_default(),
                t.decision_latency_us
                    .map(|us| us.to_string())
                    .unwrap_or_default(),
                t.legs[0].notional,
                t.legs[0].unwind
            ),
        ),
        Decoded::Pnl(p) => ("pnl_events", format!("{}", p.cumulative_realized)),
        Decoded::Portfolio(p) => (
            "portfolio_snapshots",
            format!("{}", p.total_value.unwrap_or_default()),
        ),
        Decoded::Transfer(x) => (
            "transfers",
            format!(
                "{}|{}|{}|{}|{}|{}|{}|{}",
                x.transfer_id,
                x.asset,
                x.from_venue,
                x.to_venue,
                x.status.as_str(),
                x.amount,
                x.fee,
                x.cost.map(|c| c.to_string()).unwrap_or_default()
            ),
        ),
        Decoded::Audit(a) => ("audit_events", format!("{}|{}", a.kind, a.message)),
        Decoded::Status(_) => ("audit_events", "feed_status|".into()),
        Decoded::DeadLetter(d) => ("audit_events", format!("dead_letter|{}", d.reason)),
        Decoded::State(s) => ("runtime_state_snapshots", format!("{}", s.uptime_secs)),
    }
}

/// What the database holds, read back in the same shape as `expected_row`.
async fn stored_rows(db: &TestDb) -> HashMap<uuid::Uuid, (&'static str, String)> {
    let queries: [(&'static str, &str); 9] = [
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
            "SELECT id, side || '|' || avg_fill_price::text || '|' || filled_notional::text \
             || '|' || coalesce(episode_id::text, '') FROM orders",
        ),
        (
            "trades",
            "SELECT id, realized_pnl::text || '|' || coalesce(episode_id::text, '') || '|' \
             || coalesce(decision_latency_us::text, '') || '|' || (legs->0->>'notional') \
             || '|' || (legs->0->>'unwind') FROM trades",
        ),
        (
            "pnl_events",
            "SELECT id, cumulative_realized::text FROM pnl_events",
        ),
        (
            "portfolio_snapshots",
            "SELECT id, total_value::text FROM portfolio_snapshots",
        ),
        (
            "transfers",
            "SELECT id, transfer_id::text || '|' || asset || '|' || from_venue || '|' || to_venue \
             || '|' || status || '|' || amount::text || '|' || fee::text || '|' \
             || coalesce(cost::text, '') FROM transfers",
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

/// `args` with `flag` set to `value` instead of what it had.
fn with_flag(mut args: Vec<String>, flag: &str, value: &str) -> Vec<String> {
    let at = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} is not among {args:?}"));
    args[at + 1] = value.to_owned();
    args
}

/// The sink's heartbeats (`sys.state.sink`) as they come, from a
/// subscription made before the sink starts.
struct Heartbeats(async_nats::Subscriber);

impl Heartbeats {
    async fn subscribe(tb: &TestBus) -> Heartbeats {
        let subject = tb.bus.subjects.state("sink").expect("a valid service");
        Heartbeats(subscribe(&tb.bus, subject).await)
    }

    /// The next heartbeat for which `ok` holds (the ones before it are skipped).
    async fn wait_for(&mut self, what: &str, ok: impl Fn(&RuntimeState) -> bool) -> RuntimeState {
        let wait = async {
            while let Some(msg) = self.0.next().await {
                let state: RuntimeState =
                    arb_runtime::headers::decode(msg.headers.as_ref(), &msg.payload)
                        .expect("a sink heartbeat");
                if ok(&state) {
                    return state;
                }
            }
            panic!("the heartbeat subscription ended waiting for: {what}")
        };
        tokio::time::timeout(Duration::from_secs(90), wait)
            .await
            .unwrap_or_else(|_| panic!("no heartbeat within 90 s shows: {what}"))
    }
}

fn counter(state: &RuntimeState, name: &str) -> u64 {
    state.counters.get(name).copied().unwrap_or(0)
}

/// Whether `state` comes from the process `sink` (its instance is `<host>-<pid>`).
fn from_process(state: &RuntimeState, sink: &Proc) -> bool {
    sink.child
        .id()
        .is_some_and(|pid| state.instance.rsplit('-').next() == Some(pid.to_string().as_str()))
}

/// The sink consumer's ack floor on every stream.
async fn ack_floors(tb: &TestBus) -> Vec<u64> {
    let mut floors = Vec::new();
    for kind in StreamKind::ALL {
        let info = tb.consumer_info(kind, "sink").await;
        floors.push(info.map_or(0, |i| i.ack_floor.stream_sequence));
    }
    floors
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_mixed_messages_land_once_with_their_values_and_never_twice() {
    let (tb, db, mut sink) = with_sink("sink_mixed").await;

    let msgs = messages::mixed(0, 10_000);
    let expected: HashMap<uuid::Uuid, (&'static str, String)> =
        msgs.iter().map(|m| (m.id(), expected_row(m))).collect();
    assert_eq!(expected.len(), 10_000, "sample ids are distinct");
    tb.publish_all(&msgs).await;

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
    tb.publish_all(&msgs).await;
    assert_eq!(
        tb.stream_messages(StreamKind::Md).await,
        before,
        "JetStream de-duplicates by Nats-Msg-Id"
    );
    // ...and under new Nats-Msg-Ids (a producer that lost its state) they reach the sink, which drops them.
    tb.publish_all_with(&msgs, |m, h| {
        h.insert(NATS_MSG_ID, format!("{}-again", m.id()))
    })
    .await;
    assert!(
        tb.stream_messages(StreamKind::Md).await > before,
        "the copies are in the stream"
    );
    tb.wait_caught_up("sink", "the sink consumed the copies")
        .await;
    assert_eq!(db.producer_rows().await, 10_000, "no duplicate rows");
    assert_eq!(stored_rows(&db).await.len(), stored.len());

    // The heartbeat reports rows per table: a stored one counts every book
    // row, each once (the copies wrote none).
    let books = db.count("market_snapshots").await;
    assert!(books > 0);
    wait_until(
        "a stored sink heartbeat counts every market_snapshots row",
        Duration::from_secs(30),
        || async {
            sqlx::query_scalar::<_, Option<i64>>(
                "SELECT max((counters->>'rows.market_snapshots')::bigint) \
                 FROM runtime_state_snapshots WHERE service = 'sink'",
            )
            .fetch_one(&db.pool)
            .await
            .unwrap()
                == Some(books)
        },
    )
    .await;

    teardown(&mut sink, tb, db).await;
}

/// Garbage of five kinds, by `i`: the (schema, content type) headers, if
/// any, and a payload that does not decode under them.
fn malformed(i: u64) -> (Option<async_nats::HeaderMap>, Bytes) {
    let kind = i as usize % 5;
    let headers = [
        Some(("book_snapshot/1", codec::MSGPACK)),
        Some(("book_snapshot/1", codec::JSON)),
        Some(("no_such_thing/1", codec::MSGPACK)),
        Some(("book_snapshot/7", codec::MSGPACK)),
        None,
    ][kind];
    let payload = match kind {
        0 => format!("\u{c1}not msgpack {i}"),
        1 => format!("{{\"venue\": \"x\", \"n\": {i}"),
        2 => format!("unknown schema {i}"),
        3 => format!("future version {i}"),
        _ => format!("{{\"venue\": \"kraken\", \"symbol\": \"BTC/USD\", \"missing\": {i}}}"),
    };
    let headers = headers.map(|(schema, ct)| {
        arb_runtime::headers::header_map([(ARB_SCHEMA, schema), (CONTENT_TYPE, ct)])
    });
    (headers, Bytes::from(payload))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_payloads_are_dead_lettered_and_the_sink_keeps_going() {
    let (tb, db, mut sink) = with_sink("sink_dlq").await;
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
            let b = sample::book(i, "kraken", "BTC/USD", 10, messages::at(i));
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
    let dlq_subject = tb.bus.subjects.dlq("sink").unwrap();
    let mut consumer = tb
        .stream(StreamKind::Sys)
        .await
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: dlq_subject,
            ..Default::default()
        })
        .await
        .unwrap();
    // Acked only after their dead letters are published: once nothing is
    // left unacked, every one of them is on sys.dlq.sink.
    tb.wait_caught_up("sink", "no malformed message left unacked")
        .await;
    assert_eq!(
        consumer.info().await.unwrap().num_pending,
        100,
        "100 messages on sys.dlq.sink"
    );

    // Still running, still storing.
    assert!(sink.is_running(), "the sink survived the garbage");
    let late = sample::book(99_999, "kraken", "BTC/USD", 10, messages::t0());
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

    teardown(&mut sink, tb, db).await;
}

/// Publishes `msgs` at about `rate` per second from a connection of its own.
async fn spawn_paced_publisher(
    tb: &TestBus,
    msgs: Vec<Decoded>,
    rate: u64,
) -> tokio::task::JoinHandle<()> {
    let own = tb.reconnect("publisher").await;
    tokio::spawn(async move { own.publish_paced(&msgs, rate).await })
}

/// Waits until the producers' `total` rows are stored and nothing is left
/// pending, then checks there is not one row more.
async fn stored_exactly_once(tb: &TestBus, db: &TestDb, total: i64, what: &str, why: &str) {
    wait_until(what, Duration::from_secs(180), || async {
        db.producer_rows().await >= total
    })
    .await;
    tb.wait_caught_up("sink", "the consumer has nothing pending")
        .await;
    assert_eq!(db.producer_rows().await, total, "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_messages_flow_loses_and_duplicates_nothing() {
    let (tb, db) = bus_and_db("sink_kill").await;
    let environment = env(&tb, &db.url);
    let args = with_flag(sink_args("sink"), "--heartbeat-interval", "250ms");
    let mut beats = Heartbeats::subscribe(&tb).await;
    let mut sink = Proc::spawn("arb-sink", &args, &environment);

    let msgs = messages::mixed(0, 12_000);
    let total = msgs.len() as i64;
    let publisher = spawn_paced_publisher(&tb, msgs, 3_000).await;

    let mut kills = 0;
    let mut seen_between_kills = Vec::new();
    while kills < 3 {
        // Each process is killed once it has committed batches of its own,
        // as its heartbeat reports, so every kill hits a sink at work.
        beats
            .wait_for("the running sink has committed a batch", |s| {
                from_process(s, &sink) && counter(s, "batches") > 0
            })
            .await;
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
    teardown(&mut sink, tb, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cut_off_then_back_the_sink_recovers_by_itself() {
    let (tb, db) = bus_and_db("sink_pgcut").await;
    let upstream = {
        let u = url::Url::parse(&db.url).unwrap();
        format!(
            "{}:{}",
            u.host_str().unwrap_or("127.0.0.1"),
            u.port().unwrap_or(5432)
        )
    };
    let proxy = CutProxy::start(&upstream).await;
    let mut beats = Heartbeats::subscribe(&tb).await;
    let mut sink = Proc::spawn(
        "arb-sink",
        &with_flag(sink_args("sink"), "--heartbeat-interval", "250ms"),
        &env(&tb, &db.url_via(proxy.port)),
    );

    let msgs = messages::mixed(0, 6_000);
    let total = msgs.len() as i64;
    let publisher = spawn_paced_publisher(&tb, msgs, 1_000).await;

    wait_until(
        "some rows before the cut",
        Duration::from_secs(60),
        || async { db.producer_rows().await > 200 },
    )
    .await;
    proxy.cut();
    let cut_at = chrono::Utc::now();
    // The sink's own account of the outage: its writes fail and it keeps
    // retrying. Between two failed retries nothing is committed or acked.
    let after_cut = beats
        .wait_for("a heartbeat after the cut", |s| s.ts > cut_at)
        .await;
    let failing = beats
        .wait_for("a write failed after the cut", |s| {
            counter(s, "errors.db") > counter(&after_cut, "errors.db")
        })
        .await;
    let (floors, rows) = (ack_floors(&tb).await, db.producer_rows().await);
    let retried = beats
        .wait_for("the sink retried and failed again", |s| {
            counter(s, "errors.db") > counter(&failing, "errors.db")
        })
        .await;
    assert_eq!(
        counter(&retried, "messages"),
        counter(&failing, "messages"),
        "nothing committed while PostgreSQL is unreachable"
    );
    assert_eq!(
        ack_floors(&tb).await,
        floors,
        "nothing acked while PostgreSQL is unreachable"
    );
    assert_eq!(db.producer_rows().await, rows, "nothing stored meanwhile");
    // The messages are held, so the backlog is there.
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
    teardown(&mut sink, tb, db).await;
}

/// Publishes each payload on its book's subject with the contract's headers,
/// under its own `Nats-Msg-Id`.
async fn publish_books(tb: &TestBus, books: &[(&BookSnapshot, String, Bytes)]) {
    let mut p = tb.bus.publisher(256);
    for (b, msg_id, payload) in books {
        let mut h = codec::headers(*b, ContentType::Msgpack);
        h.insert(NATS_MSG_ID, msg_id.clone());
        p.publish_raw(
            tb.bus.subjects.book(&b.venue, &b.symbol).unwrap(),
            arb_runtime::headers::to_map(&h),
            payload.clone(),
        )
        .await
        .unwrap();
    }
    p.flush().await.unwrap();
}

async fn dead_letters(db: &TestDb) -> Vec<(String, String, Vec<u8>, String)> {
    sqlx::query_as(
        "SELECT service, message, payload, subject FROM audit_events WHERE kind = 'dead_letter'",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_books_are_dead_lettered_and_never_stored() {
    let (tb, db, mut sink) = with_sink("sink_invalid").await;
    let book = |n: u64| sample::book(n, "kraken", "BTC/USD", 5, messages::at(n));
    // Valid books, each then broken in one way; the reason the sink must give.
    let mut invalid: Vec<(BookSnapshot, String)> = Vec::new();
    let mut b = book(1);
    b.bids[1].qty = Decimal::new(-1, 0);
    invalid.push((b, "bid level 1: size -1 is not positive".into()));
    let mut b = book(2);
    b.asks[0].price = Decimal::ZERO;
    invalid.push((b, "ask level 0: price 0 is not positive".into()));
    let mut b = book(3);
    b.bids.swap(0, 2);
    let why = format!(
        "bid level 1: price {} does not come below the one before it",
        b.bids[1].price
    );
    invalid.push((b, why));
    let mut b = book(4);
    b.asks[2].price = b.asks[1].price;
    let why = format!(
        "ask level 2: price {} does not come above the one before it",
        b.asks[2].price
    );
    invalid.push((b, why));
    let mut b = book(5);
    b.received_ts = from_nanos(1_000);
    invalid.push((
        b,
        "received_ts 1970-01-01T00:00:00.000001+00:00 is outside 2000-01-01".into(),
    ));
    let mut b = book(6);
    b.exchange_ts = Some("2250-01-01T00:00:00Z".parse().unwrap());
    invalid.push((
        b,
        "exchange_ts 2250-01-01T00:00:00+00:00 is outside 2000-01-01".into(),
    ));
    let valid: Vec<BookSnapshot> = (100..120).map(book).collect();

    // The invalid books among valid ones, as proper MessagePack with the
    // contract's headers (encoding does not validate).
    let mut out: Vec<(&BookSnapshot, String, Bytes)> = Vec::new();
    for (i, b) in valid.iter().enumerate() {
        out.push((b, b.id.to_string(), codec::encode(b).unwrap()));
        if let Some((bad, _)) = invalid.get(i / 3).filter(|_| i % 3 == 1) {
            out.push((bad, bad.id.to_string(), codec::encode(bad).unwrap()));
        }
    }
    assert_eq!(out.len(), valid.len() + invalid.len());
    publish_books(&tb, &out).await;

    // Once the sink has acked the whole stream, every book is either stored
    // or dead-lettered.
    tb.wait_caught_up("sink", "the sink has acked the whole stream")
        .await;

    let stored: HashSet<uuid::Uuid> = db.ids("market_snapshots").await.into_iter().collect();
    assert_eq!(
        stored,
        valid.iter().map(|b| b.id).collect::<HashSet<_>>(),
        "every valid book stored, no invalid one"
    );
    let letters = dead_letters(&db).await;
    assert_eq!(
        letters.len(),
        invalid.len(),
        "one dead letter per invalid book"
    );
    let subject = tb
        .bus
        .subjects
        .book("kraken", &"BTC/USD".parse().unwrap())
        .unwrap();
    for (b, why) in &invalid {
        assert!(!stored.contains(&b.id), "invalid book {} stored", b.id);
        let payload = codec::encode(b).unwrap();
        let (service, reason, _, subj) =
            letters.iter().find(|l| l.2 == payload).unwrap_or_else(|| {
                panic!("no dead letter holds the book that should fail with {why:?}")
            });
        assert_eq!((service.as_str(), subj), ("sink", &subject));
        assert!(
            reason.contains(why.as_str()),
            "dead letter reason {reason:?} does not say {why:?}"
        );
    }
    teardown(&mut sink, tb, db).await;
}

/// MessagePack with named fields of a JSON value, compact as `rmp_serde`
/// writes it. From `serde_json::to_value` of a message this is what a
/// producer in another language sends: the id as text, money as text, times
/// as integers. `bin_id` writes the top-level `id` as 16 bytes of binary
/// instead, as this workspace's producers do.
fn msgpack(v: &serde_json::Value, bin_id: Option<uuid::Uuid>) -> Bytes {
    fn len(out: &mut Vec<u8>, n: usize, fix: (u8, usize), m16: u8, m32: u8) {
        if n < fix.1 {
            out.push(fix.0 | n as u8);
        } else if let Ok(n) = u16::try_from(n) {
            out.push(m16);
            out.extend(n.to_be_bytes());
        } else {
            out.push(m32);
            out.extend((n as u32).to_be_bytes());
        }
    }
    fn str(out: &mut Vec<u8>, s: &str) {
        if s.len() < 32 {
            out.push(0xa0 | s.len() as u8);
        } else if let Ok(n) = u8::try_from(s.len()) {
            out.extend([0xd9, n]);
        } else {
            len(out, s.len(), (0, 0), 0xda, 0xdb);
        }
        out.extend(s.as_bytes());
    }
    fn value(out: &mut Vec<u8>, v: &serde_json::Value) {
        use serde_json::Value;
        match v {
            Value::Null => out.push(0xc0),
            Value::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) if u < 128 => out.push(u as u8),
                (Some(u), _) => {
                    out.push(0xcf);
                    out.extend(u.to_be_bytes());
                }
                (None, Some(i)) if i >= -32 => out.push(i as i8 as u8),
                (None, Some(i)) => {
                    out.push(0xd3);
                    out.extend(i.to_be_bytes());
                }
                _ => {
                    out.push(0xcb);
                    out.extend(n.as_f64().unwrap().to_be_bytes());
                }
            },
            Value::String(s) => str(out, s),
            Value::Array(a) => {
                len(out, a.len(), (0x90, 16), 0xdc, 0xdd);
                a.iter().for_each(|x| value(out, x));
            }
            Value::Object(m) => {
                len(out, m.len(), (0x80, 16), 0xde, 0xdf);
                for (k, x) in m {
                    str(out, k);
                    value(out, x);
                }
            }
        }
    }
    let mut out = Vec::new();
    let map = v.as_object().expect("an object");
    len(&mut out, map.len(), (0x80, 16), 0xde, 0xdf);
    for (k, x) in map {
        str(&mut out, k);
        match bin_id {
            Some(id) if k == "id" => {
                out.extend([0xc4, 16]);
                out.extend(id.as_bytes());
            }
            _ => value(&mut out, x),
        }
    }
    Bytes::from(out)
}

/// The stored row of `id`, every column, as JSON.
async fn snapshot_row(db: &TestDb, id: uuid::Uuid) -> Option<serde_json::Value> {
    sqlx::query_scalar::<_, serde_json::Value>(
        "SELECT row_to_json(m)::jsonb FROM market_snapshots m WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&db.pool)
    .await
    .unwrap()
}

/// Publishes `payload` and returns its stored row, then deletes the row so
/// the same book can be stored again from another payload.
async fn stored_then_deleted(
    tb: &TestBus,
    db: &TestDb,
    b: &BookSnapshot,
    msg_id: &str,
    payload: Bytes,
) -> serde_json::Value {
    publish_books(tb, &[(b, msg_id.to_owned(), payload)]).await;
    wait_until(
        &format!("{msg_id} stored"),
        Duration::from_secs(30),
        || async { snapshot_row(db, b.id).await.is_some() },
    )
    .await;
    let row = snapshot_row(db, b.id).await.unwrap();
    sqlx::query("DELETE FROM market_snapshots WHERE id = $1")
        .bind(b.id)
        .execute(&db.pool)
        .await
        .unwrap();
    row
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_book_whose_id_is_text_is_stored_like_one_with_a_binary_id() {
    let (tb, db, mut sink) = with_sink("sink_text_id").await;
    let b = sample::book(7, "binance", "ETH/USD", 10, messages::t0());
    let json = serde_json::to_value(&b).unwrap();
    assert_eq!(json["id"], b.id.to_string(), "as JSON the id is text");
    let text_id = msgpack(&json, None);
    let id_text = b.id.to_string();
    assert!(
        text_id
            .windows(id_text.len())
            .any(|w| w == id_text.as_bytes())
            && !text_id.windows(16).any(|w| w == b.id.as_bytes()),
        "the payload holds the id as text only"
    );
    // The same book with its times as RFC 3339 text: the fast reader leaves
    // it to the general decoder, which must read the text id too.
    let mut timed = json.clone();
    timed["received_ts"] = b.received_ts.to_rfc3339().into();
    timed["exchange_ts"] = b.exchange_ts.unwrap().to_rfc3339().into();
    let cases = [
        ("msgpack", codec::encode(&b).unwrap(), text_id),
        (
            "rfc3339",
            msgpack(&timed, Some(b.id)),
            msgpack(&timed, None),
        ),
    ];
    let mut rows = Vec::new();
    for (case, binary, text) in cases {
        // Each under a Nats-Msg-Id of its own, or JetStream would drop it.
        let from_text = stored_then_deleted(&tb, &db, &b, &format!("{case}-text"), text).await;
        let from_binary =
            stored_then_deleted(&tb, &db, &b, &format!("{case}-binary"), binary).await;
        assert_eq!(from_text, from_binary, "{case}: the same row either way");
        assert_eq!(from_text["id"], id_text);
        assert_eq!(
            (&from_text["venue"], &from_text["symbol"]),
            (&"binance".into(), &"ETH/USD".into())
        );
        assert_eq!(from_text["bid_prices"].as_array().map(Vec::len), Some(10));
        assert_eq!(
            from_text["ask_sizes"][9].to_string(),
            b.asks[9].qty.to_string(),
            "{case}"
        );
        rows.push(from_text);
    }
    assert_eq!(
        rows[0], rows[1],
        "times as integers or as text: the same row"
    );
    tb.wait_caught_up("sink", "the sink has acked the whole stream")
        .await;
    assert!(dead_letters(&db).await.is_empty(), "no book was refused");
    teardown(&mut sink, tb, db).await;
}
