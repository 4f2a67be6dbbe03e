//! Binance spot diff depth against mock stream and WebSocket API servers,
//! with the feed publishing to the real NATS.
#![allow(unused_crate_dependencies)]

mod common;

use arb_contract::model::{FeedState, ResyncReason};
use common::*;
use serde_json::{Value, json};

fn depth_event(
    symbol: &str,
    first: u64,
    last: u64,
    bids: &[(&str, &str)],
    asks: &[(&str, &str)],
) -> String {
    json!({
        "stream": format!("{}@depth@100ms", symbol.to_ascii_lowercase()),
        "data": {"e": "depthUpdate", "E": 1_767_225_600_000u64 + last, "s": symbol, "U": first, "u": last,
                 "b": bids, "a": asks}
    })
    .to_string()
}

/// Answers one `depth` request on the API server; returns the symbol asked for.
async fn answer_depth(api: &mut MockServer, snapshots: &[(&str, u64, Value, Value)]) -> String {
    let (_, mut ws) = api.accept().await;
    let req = recv_json(&mut ws).await;
    assert_eq!(req["method"], "depth", "{req}");
    assert_eq!(req["params"]["limit"], 10);
    let symbol = req["params"]["symbol"].as_str().unwrap().to_owned();
    let (_, l, bids, asks) = snapshots
        .iter()
        .find(|s| s.0 == symbol)
        .expect("unexpected symbol");
    send(&mut ws, json!({"id": req["id"], "status": 200, "result": {"lastUpdateId": l, "bids": bids, "asks": asks}, "rateLimits": []}).to_string()).await;
    symbol
}

fn is_sym(b: &arb_contract::BookSnapshot, s: &str) -> bool {
    b.symbol.to_string() == s
}

#[tokio::test]
async fn sync_procedure_gap_resync_and_reconnect() {
    let mut h = Harness::new().await;
    let mut stream = MockServer::start().await;
    let mut api = MockServer::start().await;
    h.start(&[
        "--venue",
        "binance",
        "--symbols",
        "BTC/USDT,ETH/USDT",
        "--binance-stream-url",
        &stream.url,
        "--binance-api-url",
        &api.url,
    ]);
    let (path, mut ws) = stream.accept().await;
    assert_eq!(
        path, "/stream?streams=btcusdt@depth@100ms/ethusdt@depth@100ms",
        "one combined stream for all symbols"
    );

    // Events around a snapshot at L=100: 90..95 is stale, 96..102 bridges, 103..104 follows.
    send(
        &mut ws,
        depth_event("BTCUSDT", 90, 95, &[("99.00", "9")], &[]),
    )
    .await;
    send(
        &mut ws,
        depth_event("BTCUSDT", 96, 102, &[("98.00", "8")], &[]),
    )
    .await;
    send(
        &mut ws,
        depth_event(
            "BTCUSDT",
            103,
            104,
            &[],
            &[("101.00", "0"), ("102.50", "1")],
        ),
    )
    .await;
    let snaps = [
        (
            "BTCUSDT",
            100,
            json!([["100.00", "1"]]),
            json!([["101.00", "1"]]),
        ),
        (
            "ETHUSDT",
            50,
            json!([["10.00", "1"]]),
            json!([["11.00", "2"]]),
        ),
    ];
    let mut asked = vec![
        answer_depth(&mut api, &snaps).await,
        answer_depth(&mut api, &snaps).await,
    ];
    asked.sort();
    assert_eq!(asked, ["BTCUSDT", "ETHUSDT"]);

    let mut btc = Model::new(1000);
    btc.apply(&[("100", "1"), ("98", "8")], &[("102.5", "1")]);
    let b = h
        .book("BTC at update id 104", |b| {
            is_sym(b, "BTC/USDT") && b.sequence == Some(104)
        })
        .await;
    assert!(btc.matches(&b, 10), "{b:?}");
    assert_eq!(b.venue, "binance");
    assert_eq!(
        b.exchange_ts,
        chrono::DateTime::from_timestamp_millis(1_767_225_600_104)
    );
    let eth = h.book("ETH snapshot", |b| is_sym(b, "ETH/USDT")).await;
    assert_eq!(
        (eth.bids.clone(), eth.asks.clone(), eth.sequence),
        (vec![lv("10", "1")], vec![lv("11", "2")], Some(50))
    );
    assert!(
        !h.seen.iter().any(|x| matches!(x, arb_contract::Decoded::Book(b) if b.bids.iter().any(|l| l.price == d("99")))),
        "the stale event (u <= L) must never be applied"
    );

    // A gap: 105 is missing.
    send(
        &mut ws,
        depth_event("BTCUSDT", 106, 107, &[("97", "1")], &[]),
    )
    .await;
    let s = h
        .status("gap resync", |s| s.state == FeedState::Resync)
        .await;
    assert_eq!(s.reason, Some(ResyncReason::Gap));
    assert_eq!(s.symbol.unwrap().to_string(), "BTC/USDT");
    let snaps2 = [("BTCUSDT", 110, json!([["200", "1"]]), json!([["201", "1"]]))];
    assert_eq!(answer_depth(&mut api, &snaps2).await, "BTCUSDT");
    send(
        &mut ws,
        depth_event("BTCUSDT", 111, 111, &[("199", "2")], &[]),
    )
    .await;
    let b = h
        .book("BTC after resync", |b| {
            is_sym(b, "BTC/USDT") && b.sequence == Some(111)
        })
        .await;
    assert_eq!(b.bids, vec![lv("200", "1"), lv("199", "2")]);
    assert_eq!(b.asks, vec![lv("201", "1")]);

    // The stream drops: reconnect, new snapshots for every symbol, correct books again.
    drop(ws);
    h.status("disconnected", |s| s.state == FeedState::Disconnected)
        .await;
    let (_, mut ws) = stream.accept().await;
    let snaps3 = [
        ("BTCUSDT", 300, json!([["300", "3"]]), json!([["301", "3"]])),
        ("ETHUSDT", 70, json!([["12", "1"]]), json!([["13", "1"]])),
    ];
    answer_depth(&mut api, &snaps3).await;
    answer_depth(&mut api, &snaps3).await;
    send(
        &mut ws,
        depth_event("BTCUSDT", 301, 302, &[("300", "0"), ("299", "4")], &[]),
    )
    .await;
    let b = h
        .book("BTC after reconnect", |b| {
            is_sym(b, "BTC/USDT") && b.sequence == Some(302)
        })
        .await;
    assert_eq!(
        (b.bids.clone(), b.asks.clone()),
        (vec![lv("299", "4")], vec![lv("301", "3")])
    );

    // Garbage on the stream: an audit record with the raw frame, and the feed keeps going.
    send(
        &mut ws,
        "{\"stream\": \"btcusdt@depth@100ms\", \"data\": [not json",
    )
    .await;
    let a = h
        .audit("garbage frame audited", |a| a.kind == "garbage_frame")
        .await;
    assert_eq!(a.service, "feed-binance");
    assert!(
        String::from_utf8_lossy(a.payload.as_deref().unwrap_or_default()).contains("[not json"),
        "the raw frame is kept: {a:?}"
    );
    send(
        &mut ws,
        depth_event("BTCUSDT", 303, 303, &[("298", "5")], &[]),
    )
    .await;
    let b = h
        .book("BTC after the garbage", |b| {
            is_sym(b, "BTC/USDT") && b.sequence == Some(303)
        })
        .await;
    assert_eq!(b.bids, vec![lv("299", "4"), lv("298", "5")]);
    h.finish().await;
}
