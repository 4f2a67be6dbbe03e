//! `bus::consume`, the loop a new consumer is written with: acks what the
//! handler took, dead-letters what it rejects, redelivers what it asked to retry.
#![allow(unused_crate_dependencies)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use arb_contract::codec;
use arb_contract::sample;
use arb_contract::subject::StreamKind;
use arb_runtime::bus::{self, HandleError};
use arb_testkit::*;

/// Publishes `n` sample opportunities; returns the publisher, not yet flushed.
async fn publish_opportunities(tb: &TestBus, n: u64) -> bus::Publisher {
    let ts = messages::t0();
    let mut p = tb.bus.publisher(64);
    for i in 0..n {
        p.publish(&sample::opportunity(i, ts)).await.unwrap();
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_acks_dead_letters_and_retries() {
    let tb = TestBus::new("consume").await;
    let mut p = publish_opportunities(&tb, 20).await;
    let subject = tb
        .bus
        .subjects
        .opportunity(arb_contract::OpportunityKind::Cross, "bad")
        .unwrap();
    p.publish_raw(
        subject,
        arb_runtime::headers::header_map([(codec::CONTENT_TYPE, codec::MSGPACK)]),
        "garbage".into(),
    )
    .await
    .unwrap();
    p.flush().await.unwrap();

    let filter = tb.bus.subjects.with_prefix("arb.opp.>");
    let consumer = tb
        .bus
        .durable_consumer(
            StreamKind::Arb,
            "printer",
            vec![filter],
            100,
            Duration::from_secs(30),
            async_nats::jetstream::consumer::AckPolicy::Explicit,
        )
        .await
        .unwrap();
    let seen = Arc::new(AtomicU32::new(0));
    let retried_once = Arc::new(AtomicU32::new(0));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (s2, r2) = (seen.clone(), retried_once.clone());
    let bus2 = tb.bus.clone();
    let task = tokio::spawn(async move {
        bus::consume(
            &bus2,
            consumer,
            async {
                let _ = stop_rx.await;
            },
            move |msg| {
                let (seen, retried) = (s2.clone(), r2.clone());
                async move {
                    let outcome = match arb_runtime::headers::decode::<arb_contract::Opportunity>(
                        msg.headers.as_ref(),
                        &msg.payload,
                    ) {
                        Err(e) => Err(HandleError::from(e)),
                        // The first delivery of one message fails as if a dependency were down.
                        Ok(o)
                            if o.id == sample::opportunity(3, messages::t0()).id
                                && retried.fetch_add(1, Ordering::SeqCst) == 0 =>
                        {
                            Err(HandleError::Retry("db down".into()))
                        }
                        Ok(_) => {
                            seen.fetch_add(1, Ordering::SeqCst);
                            Ok(())
                        }
                    };
                    (msg, outcome)
                }
            },
        )
        .await
    });
    wait_until(
        "20 good messages handled",
        Duration::from_secs(30),
        || async { seen.load(Ordering::SeqCst) == 20 },
    )
    .await;
    wait_until("nothing pending", Duration::from_secs(30), || {
        tb.caught_up(StreamKind::Arb, "printer")
    })
    .await;
    let _ = stop_tx.send(());
    let acked = task.await.unwrap().unwrap();
    assert_eq!(acked, 20);
    assert_eq!(
        retried_once.load(Ordering::SeqCst),
        2,
        "the retried message came back once"
    );

    // The garbage went to sys.dlq.consume with its reason and raw bytes.
    let dlq = tb
        .stream(StreamKind::Sys)
        .await
        .get_last_raw_message_by_subject(&tb.bus.subjects.dlq("consume").unwrap())
        .await
        .unwrap();
    let letter: arb_contract::DeadLetter =
        arb_runtime::headers::decode(Some(&dlq.headers), &dlq.payload).unwrap();
    assert_eq!(letter.payload, b"garbage");
    assert!(letter.reason.contains("msgpack"), "{}", letter.reason);
    tb.cleanup().await;
}

#[tokio::test]
async fn publisher_settles_arrived_acks_before_its_window_fills() {
    let tb = TestBus::new("publisher").await;
    let ts = messages::t0();
    let mut p = tb.bus.publisher(10_000);
    for n in 0..10 {
        p.publish(&sample::pnl(n, ts)).await.unwrap();
    }
    // Each publish first settles what has already been acknowledged: no flush,
    // and the window is far from full.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while p.published() < 10 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "acks were not settled before the window filled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        p.publish(&sample::pnl(1_000 + p.published(), ts))
            .await
            .unwrap();
    }
    p.flush().await.unwrap();
    assert_eq!(tb.stream_messages(StreamKind::Exec).await, p.published());
    tb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_takes_new_limits_and_keeps_its_place() {
    use arb_runtime::bus::AckPolicy;
    use futures::StreamExt;
    let tb = TestBus::new("consumer-limits").await;
    publish_opportunities(&tb, 10).await.flush().await.unwrap();
    let filter = vec![tb.bus.subjects.with_prefix("arb.opp.>")];
    let open = |max_ack_pending: i64, ack_wait: u64| {
        tb.bus.durable_consumer(
            StreamKind::Arb,
            "limits",
            filter.clone(),
            max_ack_pending,
            Duration::from_secs(ack_wait),
            AckPolicy::All,
        )
    };
    let first = open(100, 30).await.unwrap();
    // Take and ack the first 4 messages.
    let mut msgs = first.fetch().max_messages(4).messages().await.unwrap();
    let mut last = None;
    while let Some(m) = msgs.next().await {
        last = Some(m.unwrap());
    }
    last.expect("4 messages").double_ack().await.unwrap();

    let mut again = open(5_000, 45).await.unwrap();
    let info = again.info().await.unwrap();
    assert_eq!(info.config.max_ack_pending, 5_000, "the new window applies");
    assert_eq!(info.config.ack_wait, Duration::from_secs(45));
    assert_eq!(
        info.ack_floor.stream_sequence, 4,
        "acked messages stay acked"
    );
    assert_eq!(info.num_pending, 6, "the rest are still to come");
    tb.cleanup().await;
}
