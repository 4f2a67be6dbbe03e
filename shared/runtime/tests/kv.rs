//! The KV watch helper against the real NATS: current values first, then a
//! `Ready` marker, then each change; an empty bucket is ready at once; a
//! key's history, oldest first, as deep as the bucket keeps it.
#![allow(unused_crate_dependencies)]

use std::time::Duration;

use arb_runtime::kv::{self, KvEvent, KvOperation};
use arb_testkit::TestBus;
use bytes::Bytes;
use futures::StreamExt;

async fn next(
    w: &mut (impl futures::Stream<Item = Result<KvEvent, arb_runtime::BusError>> + Unpin),
) -> KvEvent {
    tokio::time::timeout(Duration::from_secs(30), w.next())
        .await
        .expect("a KV event within 30 s")
        .expect("the watch goes on")
        .expect("no watch error")
}

fn put_of(e: &KvEvent) -> Option<(&str, &[u8])> {
    match e {
        KvEvent::Put { key, value, .. } => Some((key.as_str(), value.as_ref())),
        _ => None,
    }
}

#[tokio::test]
async fn current_values_first_then_ready_then_changes() {
    let tb = TestBus::new("kv").await;
    let store = kv::bucket(&tb.bus, "arb_config", 8).await.expect("bucket");
    assert!(
        store.name.ends_with("_arb_config") && store.name.starts_with("t_"),
        "the bucket is under the test's prefix: {}",
        store.name
    );
    kv::put(&store, "trading_state", Bytes::from("active"))
        .await
        .unwrap();
    kv::put(&store, "max_open_trades", Bytes::from("3"))
        .await
        .unwrap();
    // A superseded value is not part of the current state.
    kv::put(&store, "max_open_trades", Bytes::from("5"))
        .await
        .unwrap();

    let mut w = Box::pin(kv::watch(&store).await.expect("watch"));
    let mut current = [next(&mut w).await, next(&mut w).await];
    current.sort_by_key(|e| format!("{e:?}"));
    let current: Vec<_> = current.iter().filter_map(put_of).collect();
    assert_eq!(
        current,
        vec![
            ("max_open_trades", &b"5"[..]),
            ("trading_state", &b"active"[..]),
        ]
    );
    assert_eq!(next(&mut w).await, KvEvent::Ready);

    kv::put(&store, "trading_state", Bytes::from("halted"))
        .await
        .unwrap();
    let e = next(&mut w).await;
    assert_eq!(put_of(&e), Some(("trading_state", &b"halted"[..])));
    store.delete("max_open_trades").await.unwrap();
    assert!(matches!(next(&mut w).await, KvEvent::Delete { key, .. } if key == "max_open_trades"));

    let empty = kv::bucket(&tb.bus, "arb_empty", 1).await.expect("bucket");
    let mut w = Box::pin(kv::watch(&empty).await.expect("watch"));
    assert_eq!(
        next(&mut w).await,
        KvEvent::Ready,
        "an empty bucket is ready at once"
    );
    kv::put(&empty, "k", Bytes::from("v")).await.unwrap();
    assert_eq!(put_of(&next(&mut w).await), Some(("k", &b"v"[..])));

    for b in [&store.name, &empty.name] {
        let _ = tb.bus.js.delete_key_value(b).await;
    }
    tb.cleanup().await;
}

#[tokio::test]
async fn a_bad_key_is_refused_as_permanent() {
    let tb = TestBus::new("kv_bad").await;
    let store = kv::bucket(&tb.bus, "arb_config", 1).await.expect("bucket");
    let e = kv::put(&store, "no spaces allowed", Bytes::from("x"))
        .await
        .unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    let _ = tb.bus.js.delete_key_value(&store.name).await;
    tb.cleanup().await;
}

#[tokio::test]
async fn history_lists_every_kept_revision_oldest_first() {
    let tb = TestBus::new("kv_history").await;
    let store = kv::bucket(&tb.bus, "arb_config", 3).await.expect("bucket");
    assert!(
        kv::history(&store, "trading_state")
            .await
            .unwrap()
            .is_empty(),
        "a key never written has no history"
    );
    let mut revisions = Vec::new();
    for v in ["active", "reducing", "halted"] {
        revisions.push(
            kv::put(&store, "trading_state", Bytes::from(v))
                .await
                .unwrap(),
        );
    }
    kv::put(&store, "limits", Bytes::from("{}")).await.unwrap();
    let h = kv::history(&store, "trading_state").await.expect("history");
    let got: Vec<_> = h
        .iter()
        .map(|r| (r.key.as_str(), r.value.as_ref(), r.revision, r.operation))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "trading_state",
                &b"active"[..],
                revisions[0],
                KvOperation::Put
            ),
            (
                "trading_state",
                &b"reducing"[..],
                revisions[1],
                KvOperation::Put
            ),
            (
                "trading_state",
                &b"halted"[..],
                revisions[2],
                KvOperation::Put
            ),
        ]
    );
    assert!(h.windows(2).all(|w| w[0].created <= w[1].created));

    // A delete is a revision too; the oldest falls out past the bucket's history of 3.
    store.delete("trading_state").await.unwrap();
    let h = kv::history(&store, "trading_state").await.expect("history");
    let ops: Vec<_> = h.iter().map(|r| (r.revision, r.operation)).collect();
    assert_eq!(ops.len(), 3, "{ops:?}");
    assert_eq!(ops[0], (revisions[1], KvOperation::Put));
    assert_eq!(ops[2].1, KvOperation::Delete);
    assert_eq!(KvOperation::Delete.as_str(), "delete");

    let e = kv::history(&store, "no spaces").await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    let _ = tb.bus.js.delete_key_value(&store.name).await;
    tb.cleanup().await;
}
