//! The pipeline end to end with the real binaries: `arb-feed --venue sim`
//! (seeded, with dislocations) → `arb-detector` (cross and triangular) →
//! `arb-sink` → PostgreSQL. Opportunities appear on NATS and in the
//! opportunities table, once per episode.
#![allow(unused_crate_dependencies)]

use std::collections::BTreeMap;
use std::time::Duration;

use arb_contract::subject::StreamKind;
use arb_contract::{EpisodeState, Opportunity, OpportunityKind};
use arb_testkit::*;
use futures::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_feed_to_detectors_to_sink_once_per_episode() {
    let tb = TestBus::new("pipeline").await;
    let db = TestDb::new("pipeline").await;
    let environment = env(&tb, &db.url);
    let mut opps = tb
        .bus
        .client
        .subscribe(tb.bus.subjects.with_prefix("arb.opp.>"))
        .await
        .unwrap();
    tb.bus.client.flush().await.unwrap();

    let mut sink = Proc::spawn("arb-sink", &sink_args("sink"), &environment);
    let detector = |strategy: &str| {
        let args: Vec<String> = [
            "--strategy",
            strategy,
            "--min-net-edge-bps",
            "5",
            "--heartbeat-interval",
            "1s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Proc::spawn("arb-detector", &args, &environment)
    };
    let mut cross = detector("cross");
    let mut triangular = detector("triangular");
    tokio::time::sleep(Duration::from_millis(700)).await; // detectors subscribed (core NATS)

    let feed_args: Vec<String> = [
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
        "3000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut feed = Proc::spawn("arb-feed", &feed_args, &environment);
    let status = tokio::time::timeout(Duration::from_secs(60), feed.child.wait())
        .await
        .expect("feed finished")
        .unwrap();
    assert!(
        status.success(),
        "the sim feed stops by itself after --count"
    );

    // Stopping the detectors closes the episodes still open.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(cross.terminate().await.success());
    assert!(triangular.terminate().await.success());

    // Everything published on arb.opp.>, as seen on NATS.
    let mut on_nats: Vec<Opportunity> = Vec::new();
    while let Ok(Some(m)) = tokio::time::timeout(Duration::from_secs(2), opps.next()).await {
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
        on_nats.len() < 3000 / 4,
        "{} messages for 3,000 books: not one per tick",
        on_nats.len()
    );

    // The same messages, each once, in the opportunities table.
    wait_until(
        "the sink stored every opportunity",
        Duration::from_secs(60),
        || async {
            db.count("opportunities").await as usize >= on_nats.len()
                && tb.consumer_backlog(StreamKind::Arb, "sink").await == Some((0, 0))
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
        db.count("market_snapshots").await >= 3000,
        "the books were stored too"
    );

    assert!(sink.terminate().await.success());
    tb.cleanup().await;
    db.cleanup().await;
}
