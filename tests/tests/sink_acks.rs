//! The sink's batch acks (`AckPolicy::All`, one ack per commit) against the
//! real NATS and PostgreSQL: the ack floor never passes a message that is not
//! in the database.
#![allow(unused_crate_dependencies)]

use std::collections::HashSet;
use std::time::Duration;

use arb_contract::Decoded;
use arb_contract::subject::StreamKind;
use arb_runtime::bus::AckPolicy;
use arb_testkit::*;
use async_nats::jetstream::consumer::PullConsumer;
use futures::StreamExt;

async fn md_consumer(tb: &TestBus, policy: AckPolicy) -> PullConsumer {
    tb.bus
        .durable_consumer(
            StreamKind::Md,
            "sink",
            vec![tb.bus.subjects.stream_filter(StreamKind::Md)],
            10_000,
            // Far longer than the test: no redelivery can be what saves it.
            Duration::from_secs(600),
            policy,
        )
        .await
        .unwrap()
}

/// Takes `n` deliveries and never acks them, like a process killed mid-batch.
async fn take_and_die(consumer: &PullConsumer, n: usize) -> Vec<async_nats::jetstream::Message> {
    let mut got = Vec::new();
    let mut batch = consumer
        .fetch()
        .max_messages(n)
        .expires(Duration::from_secs(5))
        .messages()
        .await
        .unwrap();
    while let Some(m) = batch.next().await {
        got.push(m.unwrap());
    }
    assert_eq!(got.len(), n, "the first process received its batch");
    got
}

async fn stored_ids(db: &TestDb) -> HashSet<uuid::Uuid> {
    db.ids("market_snapshots").await.into_iter().collect()
}

/// Waits until `expected` are stored and the consumer has nothing pending;
/// returns its state then.
async fn settled(
    tb: &TestBus,
    db: &TestDb,
    expected: &HashSet<uuid::Uuid>,
) -> async_nats::jetstream::consumer::Info {
    wait_until("every message stored", Duration::from_secs(60), || async {
        stored_ids(db).await.len() >= expected.len()
    })
    .await;
    wait_until("nothing pending", Duration::from_secs(60), || {
        tb.caught_up(StreamKind::Md, "sink")
    })
    .await;
    assert_eq!(&stored_ids(db).await, expected);
    tb.consumer_info(StreamKind::Md, "sink")
        .await
        .expect("the sink's consumer")
}

/// Before the sink under test: the test's bus and database, the sink's MD
/// durable as an earlier process made it (acking with `policy`), and books
/// `0..n` published.
async fn earlier_process(
    name: &str,
    policy: AckPolicy,
    n: u64,
) -> (TestBus, TestDb, PullConsumer, Vec<Decoded>) {
    let (tb, db) = bus_and_db(name).await;
    let consumer = md_consumer(&tb, policy).await;
    let books = messages::books(0, n);
    tb.publish_all(&books).await;
    (tb, db, consumer, books)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_a_dead_process_never_committed_are_written_before_they_are_acked() {
    let (tb, db, consumer, first) = earlier_process("acks_gap", AckPolicy::All, 300).await;
    // A sink that received 100 messages and was killed before its commit.
    drop(take_and_die(&consumer, 100).await);
    // A message no process has received yet is deleted from the stream: it
    // cannot be written, and must not hold the ack floor back for ever.
    let stream = tb.stream(StreamKind::Md).await;
    assert!(stream.delete_message(200).await.unwrap());
    let deleted_id = first[199].id();

    // The new sink is handed messages 101.. first; its ack must not cover 1..=100.
    let mut sink = Proc::sink(&tb, &db.url);
    let second = messages::books(300, 200);
    tb.publish_all(&second).await;

    let mut expected = messages::ids(&first);
    expected.extend(messages::ids(&second));
    expected.remove(&deleted_id);
    // Every message stored, the dead process's deliveries too, and the ack
    // floor past the deleted message.
    let info = settled(&tb, &db, &expected).await;
    assert_eq!(
        info.ack_floor.stream_sequence, 500,
        "one ack floor over all 500 sequences"
    );
    teardown(&mut sink, tb, db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_with_explicit_acks_is_recreated_at_its_ack_floor() {
    let (tb, db, consumer, msgs) = earlier_process("acks_migrate", AckPolicy::Explicit, 100).await;
    // An earlier sink (explicit acks) stored and acked 30, and held 10 more.
    let taken = take_and_die(&consumer, 40).await;
    for m in &taken[..30] {
        m.double_ack().await.unwrap();
    }
    drop(taken);

    let mut sink = Proc::sink(&tb, &db.url);
    // Everything from the old ack floor on, the 10 held ones too.
    let info = settled(&tb, &db, &messages::ids(&msgs[30..])).await;
    assert_eq!(info.config.ack_policy, AckPolicy::All);
    assert_eq!(info.ack_floor.stream_sequence, 100);
    teardown(&mut sink, tb, db).await;
}
