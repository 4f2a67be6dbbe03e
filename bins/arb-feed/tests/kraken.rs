//! Kraken v2 against a local mock server speaking the documented protocol,
//! with the feed publishing to the real NATS.
#![allow(unused_crate_dependencies)]

mod common;

use arb_contract::model::{ChecksumStatus, FeedState, ResyncReason};
use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const INSTRUMENT: &str = r#"{"channel":"instrument","type":"snapshot","data":{"assets":[{"id":"BTC","status":"enabled"}],"pairs":[{"symbol":"BTC/USD","base":"BTC","quote":"USD","status":"online","qty_precision":8,"qty_increment":0.00000001,"price_precision":1,"price_increment":0.1},{"symbol":"ETH/USD","base":"ETH","quote":"USD","status":"online","qty_precision":8,"price_precision":2}]}}"#;

// Kraken's documented vector, as JSON numbers arrive: trailing zeros dropped.
const VEC_ASKS: [(&str, &str); 10] = [
    ("45285.2", "0.001"),
    ("45286.4", "1.54571953"),
    ("45286.6", "1.54571109"),
    ("45289.6", "1.54560911"),
    ("45290.2", "0.1589066"),
    ("45291.8", "1.54553491"),
    ("45294.7", "0.04454749"),
    ("45296.1", "0.3538"),
    ("45297.5", "0.09945542"),
    ("45299.5", "0.18772827"),
];
const VEC_BIDS: [(&str, &str); 10] = [
    ("45283.5", "0.1"),
    ("45283.4", "1.54582015"),
    ("45282.1", "0.1"),
    ("45281", "0.1"),
    ("45280.3", "1.54592586"),
    ("45279", "0.0799"),
    ("45277.6", "0.03310103"),
    ("45277.5", "0.3"),
    ("45277.3", "1.54602737"),
    ("45276.6", "0.15445238"),
];

fn book_frame(
    kind: &str,
    symbol: &str,
    bids: &[(&str, &str)],
    asks: &[(&str, &str)],
    checksum: u32,
) -> String {
    let side = |ls: &[(&str, &str)]| {
        ls.iter()
            .map(|(p, q)| format!(r#"{{"price":{p},"qty":{q}}}"#))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"channel":"book","type":"{kind}","data":[{{"symbol":"{symbol}","bids":[{}],"asks":[{}],"checksum":{checksum},"timestamp":"2026-01-01T00:00:00.123456Z"}}]}}"#,
        side(bids),
        side(asks)
    )
}

/// Instrument first, then the book subscription, acked per symbol.
async fn handshake(ws: &mut Ws) -> Value {
    let m = recv_json(ws).await;
    assert_eq!(m["method"], "subscribe");
    assert_eq!(m["params"]["channel"], "instrument", "{m}");
    send(ws, INSTRUMENT).await;
    let sub = recv_json(ws).await;
    assert_eq!(sub["method"], "subscribe");
    assert_eq!(sub["params"]["channel"], "book", "{sub}");
    assert_eq!(sub["params"]["depth"], 10);
    for s in sub["params"]["symbol"].as_array().unwrap() {
        send(ws, json!({"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,"symbol":s},"success":true,"time_in":"2026-01-01T00:00:00Z","time_out":"2026-01-01T00:00:00Z"}).to_string()).await;
    }
    sub
}

fn vector_model() -> Model {
    let mut m = Model::new(10);
    m.apply(&VEC_BIDS, &VEC_ASKS);
    m
}

async fn start(h: &mut Harness, server: &MockServer, extra: &[&str]) {
    let mut args = vec![
        "--venue",
        "kraken",
        "--symbols",
        "XBT/USD,ETH/USD",
        "--kraken-url",
        &server.url,
    ];
    args.extend_from_slice(extra);
    h.start(&args);
}

/// A feed connected to the mock server, subscribed, with the documented
/// checksum vector's snapshot of BTC/USD published.
async fn connected_with_vector_snapshot() -> (Harness, MockServer, Ws) {
    let mut h = Harness::new().await;
    let mut server = MockServer::start().await;
    start(&mut h, &server, &[]).await;
    let (_, mut ws) = server.accept().await;
    handshake(&mut ws).await;
    send(
        &mut ws,
        book_frame("snapshot", "BTC/USD", &VEC_BIDS, &VEC_ASKS, 3310070434),
    )
    .await;
    h.book("BTC snapshot", |b| b.symbol.to_string() == "BTC/USD")
        .await;
    (h, server, ws)
}

#[tokio::test]
async fn snapshot_and_updates_publish_verified_books_level_by_level() {
    let mut h = Harness::new().await;
    let mut server = MockServer::start().await;
    start(&mut h, &server, &[]).await;
    let (_, mut ws) = server.accept().await;
    let sub = handshake(&mut ws).await;
    assert_eq!(
        sub["params"]["symbol"],
        json!(["BTC/USD", "ETH/USD"]),
        "XBT is asked for as BTC/USD on v2"
    );
    h.status("subscribed BTC/USD", |s| {
        s.state == FeedState::Subscribed
            && s.symbol
                .as_ref()
                .is_some_and(|x| x.to_string() == "BTC/USD")
    })
    .await;

    // The documented vector with trailing zeros dropped verifies thanks to `instrument`.
    let mut btc = vector_model();
    assert_eq!(
        btc.kraken_checksum(1, 8),
        3310070434,
        "the model agrees with Kraken's vector"
    );
    send(
        &mut ws,
        book_frame("snapshot", "BTC/USD", &VEC_BIDS, &VEC_ASKS, 3310070434),
    )
    .await;
    let b = h
        .book("BTC snapshot", |b| b.symbol.to_string() == "BTC/USD")
        .await;
    assert_eq!(b.venue, "kraken");
    assert_eq!(b.checksum, ChecksumStatus::Verified);
    assert_eq!(b.bids, btc.top_bids(10));
    assert_eq!(b.asks, btc.top_asks(10));
    assert_eq!(
        b.exchange_ts,
        Some("2026-01-01T00:00:00.123456Z".parse().unwrap())
    );

    // Updates: a better bid pushes the worst out of depth 10; a delete; a size change.
    type Levels = Vec<(&'static str, &'static str)>;
    let updates: Vec<(Levels, Levels)> = vec![
        (vec![("45284", "2")], vec![]),
        (vec![], vec![("45285.2", "0")]),
        (
            vec![("45283.4", "0.5")],
            vec![("45285", "1.25"), ("45299.5", "0")],
        ),
    ];
    for (bids, asks) in updates {
        btc.apply(&bids, &asks);
        send(
            &mut ws,
            book_frame("update", "BTC/USD", &bids, &asks, btc.kraken_checksum(1, 8)),
        )
        .await;
        let b = h
            .book("BTC update", |b| b.symbol.to_string() == "BTC/USD")
            .await;
        assert_eq!(b.checksum, ChecksumStatus::Verified);
        assert_eq!(b.bids, btc.top_bids(10));
        assert_eq!(b.asks, btc.top_asks(10));
    }

    // A second symbol on the same connection, prices with two decimals sent short.
    let mut eth = Model::new(10);
    let (eb, ea) = (
        vec![("2000.5", "1.5"), ("2000.1", "0.25")],
        vec![("2001", "3"), ("2002.25", "0.1")],
    );
    eth.apply(&eb, &ea);
    send(
        &mut ws,
        book_frame("snapshot", "ETH/USD", &eb, &ea, eth.kraken_checksum(2, 8)),
    )
    .await;
    let b = h
        .book("ETH snapshot", |b| b.symbol.to_string() == "ETH/USD")
        .await;
    assert!(eth.matches(&b, 10));
    assert_eq!(b.checksum, ChecksumStatus::Verified);
    assert!(
        !h.seen
            .iter()
            .any(|d| matches!(d, arb_contract::Decoded::Status(s) if s.state == FeedState::Resync)),
        "no resync expected"
    );
    h.finish().await;
}

#[tokio::test]
async fn wrong_checksum_resyncs_and_recovers_without_publishing_the_broken_book() {
    let (mut h, _server, mut ws) = connected_with_vector_snapshot().await;

    // An update whose checksum does not match the book.
    send(
        &mut ws,
        book_frame("update", "BTC/USD", &[("45283.5", "5")], &[], 12345),
    )
    .await;
    let s = h.status("resync", |s| s.state == FeedState::Resync).await;
    assert_eq!(s.reason, Some(ResyncReason::Checksum));
    assert_eq!(s.symbol.unwrap().to_string(), "BTC/USD");
    // The feed resubscribes the symbol.
    let un = recv_json(&mut ws).await;
    assert_eq!(
        (un["method"].as_str(), un["params"]["symbol"].clone()),
        (Some("unsubscribe"), json!(["BTC/USD"]))
    );
    let re = recv_json(&mut ws).await;
    assert_eq!(
        (re["method"].as_str(), re["params"]["symbol"].clone()),
        (Some("subscribe"), json!(["BTC/USD"]))
    );
    // A late update of the old subscription is not applied.
    send(
        &mut ws,
        book_frame("update", "BTC/USD", &[("45283.5", "6")], &[], 1),
    )
    .await;
    let mut fresh = Model::new(10);
    let (fb, fa) = (
        vec![("45300", "1"), ("45299.9", "2")],
        vec![("45300.1", "0.5")],
    );
    fresh.apply(&fb, &fa);
    send(
        &mut ws,
        book_frame("snapshot", "BTC/USD", &fb, &fa, fresh.kraken_checksum(1, 8)),
    )
    .await;
    // The first BTC book after the resync is the fresh snapshot, verified.
    let b = h
        .book("BTC book after resync", |b| {
            b.symbol.to_string() == "BTC/USD"
        })
        .await;
    assert_eq!(b.checksum, ChecksumStatus::Verified);
    assert!(fresh.matches(&b, 10), "{b:?}");
    assert!(!h.seen.iter().any(|x| matches!(x, arb_contract::Decoded::Book(b) if b.bids.iter().any(|l| l.qty == d("5") || l.qty == d("6")))));
    h.finish().await;
}

#[tokio::test]
async fn dropped_connection_reconnects_resubscribes_and_publishes_again() {
    let (mut h, mut server, ws) = connected_with_vector_snapshot().await;
    // Mid-stream, the server goes away.
    drop(ws);
    h.status("disconnected", |s| s.state == FeedState::Disconnected)
        .await;
    let (_, mut ws) = server.accept().await;
    h.status("connected again", |s| s.state == FeedState::Connected)
        .await;
    let sub = handshake(&mut ws).await;
    assert_eq!(
        sub["params"]["symbol"],
        json!(["BTC/USD", "ETH/USD"]),
        "every symbol resubscribed"
    );
    let mut m = Model::new(10);
    let (bids, asks) = (vec![("45100", "1")], vec![("45101.5", "2")]);
    m.apply(&bids, &asks);
    send(
        &mut ws,
        book_frame("snapshot", "BTC/USD", &bids, &asks, m.kraken_checksum(1, 8)),
    )
    .await;
    let b = h
        .book("BTC book after reconnect", |b| {
            b.symbol.to_string() == "BTC/USD"
        })
        .await;
    assert!(m.matches(&b, 10));
    let hb = h
        .heartbeat("heartbeat counting the reconnect", |s| {
            s.counters.get("reconnects").copied().unwrap_or(0) >= 1
        })
        .await;
    assert_eq!(hb.service, "feed-kraken");
    h.finish().await;
}

#[tokio::test]
async fn garbage_is_audited_pings_answered_and_the_feed_keeps_going() {
    let (mut h, _server, mut ws) = connected_with_vector_snapshot().await;
    let mut m = vector_model();

    let garbage = "}}not json{{ \u{1}";
    send(&mut ws, garbage).await;
    let a = h
        .audit("garbage audit", |a| a.kind == "garbage_frame")
        .await;
    assert_eq!(a.service, "feed-kraken");
    assert_eq!(a.payload.as_deref(), Some(garbage.as_bytes()));
    send(
        &mut ws,
        r#"{"channel":"somethingnew","type":"update","data":[]}"#,
    )
    .await;
    h.audit("unknown frame audit", |a| a.kind == "unknown_frame")
        .await;

    ws.send(Message::Ping(b"hi".to_vec().into())).await.unwrap();
    let pong = tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(pong, Message::Pong(b"hi".to_vec().into()));

    m.apply(&[("45283.5", "0.7")], &[]);
    send(
        &mut ws,
        book_frame(
            "update",
            "BTC/USD",
            &[("45283.5", "0.7")],
            &[],
            m.kraken_checksum(1, 8),
        ),
    )
    .await;
    let b = h
        .book("book after garbage", |b| b.symbol.to_string() == "BTC/USD")
        .await;
    assert!(m.matches(&b, 10));
    h.heartbeat("heartbeat counting garbage", |s| {
        s.counters.get("garbage_frames") == Some(&1) && s.counters.get("unknown_frames") == Some(&1)
    })
    .await;
    h.finish().await;
}

#[tokio::test]
async fn stale_feed_is_reported_and_reconnected() {
    let mut h = Harness::new().await;
    let mut server = MockServer::start().await;
    start(&mut h, &server, &["--stale-timeout", "1s"]).await;
    let (_, mut ws) = server.accept().await;
    handshake(&mut ws).await;
    // Then silence.
    let s = h.status("stale", |s| s.state == FeedState::Resync).await;
    assert_eq!(s.reason, Some(ResyncReason::Stale));
    let (_, mut ws2) = server.accept().await;
    handshake(&mut ws2).await;
    send(
        &mut ws2,
        book_frame("snapshot", "BTC/USD", &VEC_BIDS, &VEC_ASKS, 3310070434),
    )
    .await;
    let b = h
        .book("book after stale reconnect", |b| {
            b.symbol.to_string() == "BTC/USD"
        })
        .await;
    assert!(vector_model().matches(&b, 10));
    drop(ws);
    h.finish().await;
}

#[tokio::test]
async fn per_symbol_rate_limit_publishes_the_latest_state_when_due() {
    let mut h = Harness::new().await;
    let mut server = MockServer::start().await;
    // An interval longer than the test: only the first book goes out at once,
    // the latest pending one when the feed flushes on shutdown.
    start(&mut h, &server, &["--min-interval", "1h"]).await;
    let (_, mut ws) = server.accept().await;
    handshake(&mut ws).await;
    let mut m = vector_model();
    send(
        &mut ws,
        book_frame("snapshot", "BTC/USD", &VEC_BIDS, &VEC_ASKS, 3310070434),
    )
    .await;
    let first = h
        .book("first book", |b| b.symbol.to_string() == "BTC/USD")
        .await;
    assert!(m.matches(&first, 10));
    for qty in ["1", "2", "3"] {
        m.apply(&[("45283.5", qty)], &[]);
        send(
            &mut ws,
            book_frame(
                "update",
                "BTC/USD",
                &[("45283.5", qty)],
                &[],
                m.kraken_checksum(1, 8),
            ),
        )
        .await;
    }
    // The heartbeat shows the updates were processed and held back.
    h.heartbeat("updates held back", |s| {
        s.counters.get("books_rate_limited") == Some(&2)
    })
    .await;
    h.stop().await;
    let last = h
        .book("pending book flushed on shutdown", |b| {
            b.symbol.to_string() == "BTC/USD"
        })
        .await;
    assert!(
        m.matches(&last, 10),
        "the latest state, not an intermediate one"
    );
    let btc_books = h
        .seen
        .iter()
        .filter(
            |d| matches!(d, arb_contract::Decoded::Book(b) if b.symbol.to_string() == "BTC/USD"),
        )
        .count();
    assert_eq!(btc_books, 2);
    h.finish().await;
}
