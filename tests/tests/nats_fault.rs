//! A NATS server of the test's own (`arb_testkit::NatsServer`, from
//! `nats/nats-server.conf`), killed with SIGKILL while the sink runs, then
//! restarted on the same store: the sink rides out the outage, reconnects by
//! itself, and nothing is lost or duplicated.
#![allow(unused_crate_dependencies)]

use std::time::Duration;

use arb_testkit::*;

/// What the sink's readers log when their pulls stop hearing from the
/// server: NATS is gone and the sink has noticed.
const NATS_GONE: &str = "missed idle heartbeat";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_killed_and_restarted_the_sink_recovers_by_itself() {
    let (mut nats, tb) = NatsServer::with_bus("nats_fault").await;
    let db = TestDb::new("nats_fault").await;
    let mut sink = Proc::sink(&tb, &db.url);
    first_heartbeat(&tb.bus, "sink").await;

    tb.publish_all(&messages::mixed(0, 2_000)).await;
    // Caught up on every stream: whatever the sink was going to write (a
    // redelivery included) is written, since it acks only after the commit.
    wait_until(
        "the first 2,000 stored and acked",
        Duration::from_secs(60),
        || async { db.producer_rows().await == 2_000 && tb.all_caught_up("sink").await },
    )
    .await;

    nats.kill().await;
    // The sink does not exit when NATS goes away.
    sink.wait_logged("noticing that NATS is gone", |log| log.contains(NATS_GONE))
        .await;

    nats.restart().await;
    let tb = tb.reconnect("nats_fault").await;
    // Back: heartbeating again on the restarted server.
    first_heartbeat(&tb.bus, "sink").await;

    tb.publish_all(&messages::mixed(2_000, 2_000)).await;
    wait_until(
        "everything stored and acked after the restart",
        Duration::from_secs(90),
        || async { db.producer_rows().await >= 4_000 && tb.all_caught_up("sink").await },
    )
    .await;
    assert_eq!(
        db.producer_rows().await,
        4_000,
        "nothing lost, nothing duplicated"
    );
    teardown(&mut sink, tb, db).await;
}
