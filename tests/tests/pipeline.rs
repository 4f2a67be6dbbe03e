//! The pipeline end to end with the real binaries: `arb-feed --venue sim`
//! (seeded, with dislocations) → `arb-detector` (cross and triangular) →
//! `arb-sink` → PostgreSQL. Opportunities appear on NATS and in the
//! opportunities table, once per episode; a book that fails validation is
//! dead-lettered by the detector, stored by the sink in audit_events, and
//! opens nothing.
#![allow(unused_crate_dependencies)]

use std::collections::BTreeMap;
use std::time::Duration;

use arb_contract::subject::StreamKind;
use arb_contract::time::{Timestamp, from_nanos};
use arb_contract::{
    BookSnapshot, ChecksumStatus, EpisodeState, Level, Opportunity, OpportunityKind, RuntimeState,
};
use arb_testkit::*;
use futures::StreamExt;

/// Books the sim feed publishes.
const BOOKS: u64 = 3000;
/// Feed states it publishes for its 3 venues × 3 symbols: connected and
/// stopped per venue, subscribed per venue and symbol.
const STATUSES: u64 = 3 + 9 + 3;
const DETECTORS: [&str; 2] = ["detector-cross", "detector-triangular"];

/// An `arb-detector` with the tests' stream limits (those of [`sink_args`]).
fn detector(strategy: &str, environment: &[(&str, String)]) -> Proc {
    let mut args = detector_args(strategy);
    args.extend(strings(&["--min-net-edge-bps", "5"]));
    args.extend(stream_limit_args());
    Proc::spawn("arb-detector", &args, environment)
}

/// Reads heartbeats until the latest one of each detector satisfies `done`;
/// returns those.
async fn heartbeats_until(
    beats: &mut async_nats::Subscriber,
    done: impl Fn(&RuntimeState) -> bool,
) -> BTreeMap<String, RuntimeState> {
    let mut latest: BTreeMap<String, RuntimeState> = BTreeMap::new();
    while !DETECTORS.iter().all(|d| latest.get(*d).is_some_and(&done)) {
        let m = tokio::time::timeout(WAIT, beats.next())
            .await
            .unwrap_or_else(|_| panic!("no heartbeat within {WAIT:?}; latest: {latest:#?}"))
            .expect("subscription open");
        let state: RuntimeState = arb_runtime::headers::decode(m.headers.as_ref(), &m.payload)
            .expect("a valid heartbeat");
        if DETECTORS.contains(&state.service.as_str()) {
            latest.insert(state.service.clone(), state);
        }
    }
    latest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_feed_to_detectors_to_sink_once_per_episode() {
    let (tb, db) = bus_and_db("pipeline").await;
    let environment = env(&tb, &db.url);
    let mut opps = subscribe(&tb.bus, tb.bus.subjects.with_prefix("arb.opp.>")).await;
    let mut beats = subscribe(&tb.bus, tb.bus.subjects.with_prefix("sys.state.>")).await;

    let mut sink = Proc::sink(&tb, &db.url);
    let mut cross = detector("cross", &environment);
    let mut triangular = detector("triangular", &environment);
    // A detector's first heartbeat follows its flushed subscriptions (core
    // NATS: a book sent before would be missed).
    first_heartbeat(&tb.bus, "detector-cross").await;
    first_heartbeat(&tb.bus, "detector-triangular").await;

    let feed_args = strings(&[
        "--venue",
        "sim",
        "--symbols",
        "BTC/USD,ETH/USD,ETH/BTC",
        "--sim-venues",
        "sim-a,sim-b,sim-c",
        "--seed",
        "42",
        "--rate",
        "1000",
        "--count",
        &BOOKS.to_string(),
    ]);
    let mut feed = Proc::spawn("arb-feed", &feed_args, &environment);
    let status = tokio::time::timeout(Duration::from_secs(60), feed.child.wait())
        .await
        .expect("feed finished")
        .unwrap();
    assert!(
        status.success(),
        "the sim feed stops by itself after --count"
    );

    // Both detectors have read every book, and the feed's last words (one
    // status per venue that it stopped, which closes their episodes).
    let read_all = |s: &RuntimeState| {
        s.counters.get("books") >= Some(&BOOKS) && s.counters.get("statuses") >= Some(&STATUSES)
    };
    heartbeats_until(&mut beats, read_all).await;
    cross.stop().await;
    triangular.stop().await;
    // Their last heartbeats (after the closes at shutdown, with no episode
    // left open) count every opportunity they published.
    let last = heartbeats_until(&mut beats, |s| {
        read_all(s) && s.counters.get("open_episodes") == Some(&0)
    })
    .await;
    let published: u64 = last
        .values()
        .flat_map(|s| {
            [
                "opportunities_open",
                "opportunities_update",
                "opportunities_close",
            ]
            .map(|c| s.counters.get(c).copied().unwrap_or(0))
        })
        .sum();

    // Everything published on arb.opp.>, as seen on NATS.
    let mut on_nats: Vec<Opportunity> = Vec::new();
    while on_nats.len() < published as usize {
        let m = tokio::time::timeout(WAIT, opps.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} of the {published} opportunities the detectors counted arrived",
                    on_nats.len()
                )
            })
            .expect("subscription open");
        on_nats.push(
            arb_runtime::headers::decode(m.headers.as_ref(), &m.payload)
                .expect("a valid opportunity"),
        );
    }
    assert!(
        !on_nats.is_empty(),
        "the seeded dislocations produced opportunities"
    );
    for kind in [OpportunityKind::Cross, OpportunityKind::Triangular] {
        assert!(
            on_nats
                .iter()
                .any(|o| o.kind == kind && o.state == EpisodeState::Open),
            "a {kind:?} episode opened"
        );
    }

    // Once per episode: one open, then only updates past the tolerance, then one close.
    let mut episodes: BTreeMap<uuid::Uuid, Vec<EpisodeState>> = BTreeMap::new();
    for o in &on_nats {
        episodes.entry(o.episode_id).or_default().push(o.state);
        assert!(
            o.net_edge_bps > rust_decimal::Decimal::from(5) || o.state == EpisodeState::Close,
            "{o:?}"
        );
        assert!(
            o.received_ts.is_some() && o.published_ts.is_some(),
            "latency stamps on every message"
        );
    }
    for (id, states) in &episodes {
        assert_eq!(
            states.first(),
            Some(&EpisodeState::Open),
            "episode {id}: {states:?}"
        );
        assert_eq!(
            states.last(),
            Some(&EpisodeState::Close),
            "episode {id}: {states:?}"
        );
        assert_eq!(
            states.iter().filter(|s| **s == EpisodeState::Open).count(),
            1,
            "episode {id}: {states:?}"
        );
        assert_eq!(
            states.iter().filter(|s| **s == EpisodeState::Close).count(),
            1,
            "episode {id}: {states:?}"
        );
    }
    assert!(
        on_nats.len() < BOOKS as usize / 4,
        "{} messages for {BOOKS} books: not one per tick",
        on_nats.len()
    );

    // The same messages, each once, in the opportunities table.
    wait_until(
        "the sink stored every opportunity",
        Duration::from_secs(60),
        || async {
            db.count("opportunities").await as usize >= on_nats.len()
                && tb.caught_up(StreamKind::Arb, "sink").await
        },
    )
    .await;
    let rows: Vec<(uuid::Uuid, uuid::Uuid, String)> =
        sqlx::query_as("SELECT id, episode_id, state FROM opportunities")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(rows.len(), on_nats.len());
    for o in &on_nats {
        assert!(
            rows.iter()
                .any(|(id, ep, st)| *id == o.id && *ep == o.episode_id && st == o.state.as_str())
        );
    }
    let opens: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT episode_id FROM opportunities WHERE state = 'open' GROUP BY episode_id HAVING count(*) > 1) d",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(opens, 0, "no episode opened twice in the table");
    assert!(
        db.count("market_snapshots").await >= BOOKS as i64,
        "the books were stored too"
    );

    teardown(&mut sink, tb, db).await;
}

fn at_ms(ms: i64) -> Timestamp {
    from_nanos(1_800_000_000_000_000_000 + ms * 1_000_000)
}

/// A BTC/USD book of `venue` at `ms` (exchange time; received 1 ms later,
/// sequence `ms`), levels as (price, size) text.
fn book(venue: &str, ms: i64, bids: &[(&str, &str)], asks: &[(&str, &str)]) -> BookSnapshot {
    let levels = |l: &[(&str, &str)]| {
        l.iter()
            .map(|(p, q)| Level::new(p.parse().unwrap(), q.parse().unwrap()))
            .collect()
    };
    BookSnapshot {
        id: arb_contract::ids::derive(at_ms(ms), &[b"pipeline-book", venue.as_bytes()]),
        received_ts: at_ms(ms + 1),
        sequence: Some(ms as u64),
        checksum: ChecksumStatus::NotProvided,
        bids: levels(bids),
        asks: levels(asks),
        // The venue, the symbol and the exchange time as the sample has them.
        ..arb_contract::sample::book(0, venue, "BTC/USD", 0, at_ms(ms))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_book_is_dead_lettered_stored_in_audit_events_and_opens_nothing() {
    let (tb, db) = bus_and_db("pipeline_invalid").await;
    let environment = env(&tb, &db.url);
    let mut sink = Proc::sink(&tb, &db.url);
    let mut cross = detector("cross", &environment);
    first_heartbeat(&tb.bus, "detector-cross").await;

    // sim-a asks 100 and sim-b bids 101: a cross opportunity, were sim-b's
    // book not invalid (its second ask is below its first).
    let sim_a = book("sim-a", 0, &[("99", "1")], &[("100", "1")]);
    let bad = book(
        "sim-b",
        10,
        &[("101", "1")],
        &[("102", "1"), ("101.5", "1")],
    );
    let mut publisher = tb.bus.publisher(16);
    for b in [&sim_a, &bad] {
        publisher.publish(b).await.expect("publish"); // encoded as it is: not checked
    }
    publisher.flush().await.expect("acks");

    // The detector's dead letter reaches audit_events through the sink.
    let letters = || async {
        sqlx::query_as::<_, (String, Option<String>, Option<Vec<u8>>)>(
            "SELECT message, subject, payload FROM audit_events \
             WHERE service = 'detector-cross' AND kind = 'dead_letter'",
        )
        .fetch_all(&db.pool)
        .await
        .expect("query audit_events")
    };
    wait_until(
        "the detector's dead letter in audit_events",
        WAIT,
        || async { !letters().await.is_empty() },
    )
    .await;
    let rows = letters().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (reason, subject, payload) = &rows[0];
    assert_eq!(
        reason,
        "invalid message: ask level 1: price 101.5 does not come above the one before it"
    );
    assert_eq!(
        subject.as_deref(),
        Some(
            tb.bus
                .subjects
                .with_prefix("md.book.sim-b.BTC-USD")
                .as_str()
        )
    );
    assert_eq!(
        payload.as_deref(),
        Some(&arb_contract::codec::encode(&bad).unwrap()[..]),
        "the letter keeps the book's bytes"
    );

    // The same pair made valid opens an opportunity: the only one.
    let good = book(
        "sim-b",
        20,
        &[("101", "1")],
        &[("102", "1"), ("102.5", "1")],
    );
    publisher.publish(&good).await.expect("publish");
    publisher.flush().await.expect("acks");
    let opportunities = || async {
        sqlx::query_as::<_, (uuid::Uuid, String, chrono::DateTime<chrono::Utc>)>(
            "SELECT episode_id, state, book_ts FROM opportunities ORDER BY book_ts, state DESC",
        )
        .fetch_all(&db.pool)
        .await
        .expect("query opportunities")
    };
    // Opened (the detector has the book), then stopped, which closes it.
    wait_until("the open in opportunities", WAIT, || async {
        !opportunities().await.is_empty()
    })
    .await;
    cross.stop().await;
    wait_until("the open and the close in opportunities", WAIT, || async {
        opportunities().await.len() >= 2
    })
    .await;
    let rows = opportunities().await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (rows[0].1.as_str(), rows[0].2),
        ("open", at_ms(20)),
        "{rows:?}"
    );
    assert_eq!(rows[1].1, "close", "{rows:?}");
    assert_eq!(rows[0].0, rows[1].0, "one episode");

    // The sink refuses the bad book from the MD stream too: it is no
    // snapshot, and the sink's own dead letter says why.
    wait_until("the sink's dead letter of the MD copy", WAIT, || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM audit_events WHERE service = 'sink' AND kind = 'dead_letter'",
        )
        .fetch_one(&db.pool)
        .await
        .expect("count")
            == 1
    })
    .await;
    wait_until("the sink caught up on MD", WAIT, || {
        tb.caught_up(StreamKind::Md, "sink")
    })
    .await;
    assert_eq!(
        db.count("market_snapshots").await,
        2,
        "the two valid books only"
    );

    teardown(&mut sink, tb, db).await;
}
