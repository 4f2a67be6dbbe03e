//! Coinbase Advanced Trade `level2` against a mock server, with the feed
//! publishing to the real NATS.
#![allow(unused_crate_dependencies)]

mod common;

use arb_contract::model::{FeedState, ResyncReason};
use common::*;
use serde_json::json;

fn l2(seq: u64, kind: &str, product: &str, ups: &[(&str, &str, &str)]) -> String {
    let updates: Vec<_> = ups
        .iter()
        .map(|(s, p, q)| json!({"side": s, "event_time": "2026-01-01T00:00:00Z", "price_level": p, "new_quantity": q}))
        .collect();
    json!({"channel": "l2_data", "client_id": "", "timestamp": "2026-01-01T00:00:01.5Z", "sequence_num": seq,
           "events": [{"type": kind, "product_id": product, "updates": updates}]})
    .to_string()
}

async fn expect_subscribe(ws: &mut Ws) {
    let m = recv_json(ws).await;
    assert_eq!(
        (m["type"].as_str(), m["channel"].as_str()),
        (Some("subscribe"), Some("level2")),
        "{m}"
    );
    assert_eq!(m["product_ids"], json!(["BTC-USD", "ETH-USD"]));
    let hb = recv_json(ws).await;
    assert_eq!(hb["channel"], "heartbeats", "{hb}");
}

#[tokio::test]
async fn snapshot_updates_reset_gap_resubscribe_and_reconnect() {
    let mut h = Harness::new().await;
    let mut server = MockServer::start().await;
    h.start(&[
        "--venue",
        "coinbase",
        "--symbols",
        "BTC/USD,ETH/USD",
        "--coinbase-url",
        &server.url,
    ]);
    let (_, mut ws) = server.accept().await;
    expect_subscribe(&mut ws).await;
    send(&mut ws, json!({"channel":"subscriptions","timestamp":"2026-01-01T00:00:00Z","sequence_num":0,"events":[{"subscriptions":{"level2":["BTC-USD","ETH-USD"],"heartbeats":["heartbeats"]}}]}).to_string()).await;
    h.status("subscribed", |s| s.state == FeedState::Subscribed)
        .await;

    let mut btc = Model::new(1000);
    let snap = [
        ("bid", "100.00", "1"),
        ("bid", "99.50", "2"),
        ("offer", "100.50", "3"),
        ("offer", "101", "1"),
    ];
    send(&mut ws, l2(1, "snapshot", "BTC-USD", &snap)).await;
    btc.apply(
        &[("100", "1"), ("99.5", "2")],
        &[("100.5", "3"), ("101", "1")],
    );
    send(
        &mut ws,
        l2(
            2,
            "update",
            "BTC-USD",
            &[("bid", "100.00", "0"), ("offer", "100.25", "0.5")],
        ),
    )
    .await;
    btc.apply(&[("100", "0")], &[("100.25", "0.5")]);
    send(
        &mut ws,
        l2(
            3,
            "snapshot",
            "ETH-USD",
            &[("bid", "10", "1"), ("offer", "11", "1")],
        ),
    )
    .await;
    send(&mut ws, json!({"channel":"heartbeats","timestamp":"2026-01-01T00:00:02Z","sequence_num":4,"events":[{"current_time":"x","heartbeat_counter":1}]}).to_string()).await;
    send(
        &mut ws,
        l2(5, "update", "BTC-USD", &[("bid", "99.75", "4")]),
    )
    .await;
    btc.apply(&[("99.75", "4")], &[]);
    let b = h
        .book("BTC at 5", |b| {
            b.symbol.to_string() == "BTC/USD" && b.sequence == Some(5)
        })
        .await;
    assert!(btc.matches(&b, 10), "{b:?}");
    assert_eq!(b.venue, "coinbase");
    assert_eq!(
        b.exchange_ts,
        Some("2026-01-01T00:00:01.5Z".parse().unwrap())
    );
    // Published before BTC's update 5, so already among what was seen.
    let e = h
        .seen
        .iter()
        .find_map(|d| match d {
            arb_contract::Decoded::Book(b) if b.symbol.to_string() == "ETH/USD" => Some(b.clone()),
            _ => None,
        })
        .expect("ETH book");
    assert_eq!(
        (e.bids.clone(), e.asks.clone()),
        (vec![lv("10", "1")], vec![lv("11", "1")])
    );

    // A snapshot resets the book: nothing of the old levels survives.
    send(
        &mut ws,
        l2(
            6,
            "snapshot",
            "BTC-USD",
            &[("bid", "90", "1"), ("offer", "91", "1")],
        ),
    )
    .await;
    let b = h
        .book("BTC reset", |b| {
            b.symbol.to_string() == "BTC/USD" && b.sequence == Some(6)
        })
        .await;
    assert_eq!(
        (b.bids.clone(), b.asks.clone()),
        (vec![lv("90", "1")], vec![lv("91", "1")])
    );

    // A sequence gap (7, 8 lost): resync and resubscribe.
    send(&mut ws, l2(9, "update", "BTC-USD", &[("bid", "89", "1")])).await;
    let s = h.status("gap", |s| s.state == FeedState::Resync).await;
    assert_eq!(s.reason, Some(ResyncReason::Gap));
    let un = recv_json(&mut ws).await;
    assert_eq!(
        (un["type"].as_str(), un["channel"].as_str()),
        (Some("unsubscribe"), Some("level2"))
    );
    let re = recv_json(&mut ws).await;
    assert_eq!(
        (re["type"].as_str(), re["channel"].as_str()),
        (Some("subscribe"), Some("level2"))
    );
    send(&mut ws, l2(10, "update", "BTC-USD", &[("bid", "88", "1")])).await;
    send(
        &mut ws,
        l2(
            11,
            "snapshot",
            "BTC-USD",
            &[("bid", "95", "1"), ("offer", "96", "2")],
        ),
    )
    .await;
    let b = h
        .book("BTC after resubscribe", |b| {
            b.symbol.to_string() == "BTC/USD"
        })
        .await;
    assert_eq!(
        b.sequence,
        Some(11),
        "no book between the gap and the new snapshot"
    );
    assert_eq!(
        (b.bids.clone(), b.asks.clone()),
        (vec![lv("95", "1")], vec![lv("96", "2")])
    );

    // Garbage is audited, the connection goes on.
    send(&mut ws, "<html>502</html>").await;
    let a = h.audit("garbage", |a| a.kind == "garbage_frame").await;
    assert_eq!(a.payload.as_deref(), Some(&b"<html>502</html>"[..]));

    // Dropped mid-stream: reconnect and resubscribe; sequence numbers start over.
    drop(ws);
    h.status("disconnected", |s| s.state == FeedState::Disconnected)
        .await;
    let (_, mut ws) = server.accept().await;
    expect_subscribe(&mut ws).await;
    send(
        &mut ws,
        l2(
            0,
            "snapshot",
            "BTC-USD",
            &[("bid", "70", "1"), ("offer", "71", "1")],
        ),
    )
    .await;
    send(
        &mut ws,
        l2(1, "update", "BTC-USD", &[("offer", "70.5", "1")]),
    )
    .await;
    let b = h
        .book("BTC after reconnect", |b| {
            b.symbol.to_string() == "BTC/USD" && b.sequence == Some(1)
        })
        .await;
    assert_eq!(
        (b.bids.clone(), b.asks.clone()),
        (vec![lv("70", "1")], vec![lv("70.5", "1"), lv("71", "1")])
    );
    h.finish().await;
}
