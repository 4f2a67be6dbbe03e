//! A NATS server of the test's own (`arb_testkit::NatsServer`, from
//! `nats/nats-server.conf`), killed with SIGKILL while the sink runs, then
//! restarted on the same store: the sink rides out the outage, reconnects by
//! itself, and nothing is lost or duplicated.
#![allow(unused_crate_dependencies)]

use std::time::Duration;

use arb_contract::codec::ContentType;
use arb_contract::sample;
use arb_contract::subject::StreamKind;
use arb_contract::time::from_nanos;
use arb_runtime::bus::Bus;
use arb_testkit::*;

/// What the sink's readers log when their pulls stop hearing from the
/// server: NATS is gone and the sink has noticed.
const NATS_GONE: &str = "missed idle heartbeat";

async fn publish(bus: &Bus, from: u64, to: u64) {
    let ts = from_nanos(1_763_900_000_000_000_000);
    let mut p = bus.publisher(256);
    for n in from..to {
        let m = sample::mixed(n, ts + chrono::Duration::milliseconds(n as i64));
        p.publish_raw(
            m.subject(&bus.subjects).unwrap(),
            arb_runtime::headers::to_map(&m.headers(ContentType::Msgpack)),
            m.encode(ContentType::Msgpack).unwrap(),
        )
        .await
        .unwrap();
    }
    p.flush().await.unwrap();
}

/// Every one of the sink's durables has nothing pending and nothing
/// unacked: whatever it was going to write (a redelivery included) is
/// written, since it acks only after the commit.
async fn all_acked(tb: &TestBus) -> bool {
    for kind in StreamKind::ALL {
        if tb.consumer_backlog(kind, "sink").await != Some((0, 0)) {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_killed_and_restarted_the_sink_recovers_by_itself() {
    let mut nats = NatsServer::start().await;
    let tb = TestBus::on(&nats.url(), "nats_fault").await;
    let db = TestDb::new("nats_fault").await;
    let environment = vec![
        ("NATS_URL", nats.url()),
        ("ARB_SUBJECT_PREFIX", tb.prefix.clone()),
        ("DATABASE_URL", db.url.clone()),
    ];
    let mut sink = Proc::spawn("arb-sink", &sink_args("sink"), &environment);
    first_heartbeat(&tb.bus, "sink").await;

    publish(&tb.bus, 0, 2_000).await;
    wait_until(
        "the first 2,000 stored and acked",
        Duration::from_secs(60),
        || async { db.producer_rows().await == 2_000 && all_acked(&tb).await },
    )
    .await;

    nats.kill().await;
    wait_until("the sink noticing that NATS is gone", WAIT, || {
        let seen = sink.log_text().contains(NATS_GONE);
        async move { seen }
    })
    .await;
    assert!(
        sink.is_running(),
        "the sink does not exit when NATS goes away; its log:\n{}",
        sink.log_text()
    );

    nats.restart().await;
    let tb = TestBus {
        bus: Bus::connect_once(&tb.args, "nats_fault")
            .await
            .expect("the restarted nats-server"),
        ..tb
    };
    // Back: heartbeating again on the restarted server.
    first_heartbeat(&tb.bus, "sink").await;

    publish(&tb.bus, 2_000, 4_000).await;
    wait_until(
        "everything stored and acked after the restart",
        Duration::from_secs(90),
        || async { db.producer_rows().await >= 4_000 && all_acked(&tb).await },
    )
    .await;
    assert_eq!(
        db.producer_rows().await,
        4_000,
        "nothing lost, nothing duplicated"
    );
    assert!(sink.terminate().await.success());

    tb.cleanup().await;
    db.cleanup().await;
}
