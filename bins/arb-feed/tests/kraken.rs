//! Kraken v2 against a local mock server speaking the documented protocol,
//! with the feed publishing to the real NATS.
#![allow(unused_crate_dependencies)]

mod common;

use arb_contract::model::{AuditEvent, ChecksumStatus, FeedState, ResyncReason};
use arb_venues::kraken::checksum::example;
use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const INSTRUMENT: &str = r#"{"channel":"instrument","type":"snapshot","data":{"assets":[{"id":"BTC","status":"enabled"}],"pairs":[{"symbol":"BTC/USD","base":"BTC","quote":"USD","status":"online","qty_precision":8,"qty_increment":0.00000001,"price_precision":1,"price_increment":0.1},{"symbol":"ETH/USD","base":"ETH","quote":"USD","status":"online","qty_precision":8,"price_precision":2}]}}"#;

/// A `book` frame; prices and quantities are written as JSON numbers, as given.
fn book_frame(kind: &str, symbol: &str, bids: &[Px], asks: &[Px], checksum: u32) -> String {
    let side = |ls: &[Px]| {
        let levels: Vec<String> = ls
            .iter()
            .map(|(p, q)| format!(r#"{{"price":{p},"qty":{q}}}"#))
            .collect();
        levels.join(",")
    };
    format!(
        r#"{{"channel":"book","type":"{kind}","data":[{{"symbol":"{symbol}","bids":[{}],"asks":[{}],"checksum":{checksum},"timestamp":"2026-01-01T00:00:00.123456Z"}}]}}"#,
        side(bids),
        side(asks)
    )
}

/// A pair on the mock server: its frames carry the checksum of the model
/// of its book (written with the pair's precision, from `INSTRUMENT`).
struct Pair {
    symbol: &'static str,
    decimals: (usize, usize),
    model: Model,
}

impl Pair {
    fn btc() -> Pair {
        Pair {
            symbol: "BTC/USD",
            decimals: (1, 8),
            model: Model::new(10),
        }
    }

    fn eth() -> Pair {
        Pair {
            symbol: "ETH/USD",
            decimals: (2, 8),
            model: Model::new(10),
        }
    }

    /// A snapshot or an update, applied to the model.
    fn frame(&mut self, kind: &str, bids: &[Px], asks: &[Px]) -> String {
        self.model.change(kind, bids, asks);
        let (price_dp, qty_dp) = self.decimals;
        book_frame(
            kind,
            self.symbol,
            bids,
            asks,
            self.model.kraken_checksum(price_dp, qty_dp),
        )
    }

    /// Sends a change: the feed publishes the model's book, verified.
    async fn book(&mut self, h: &mut Harness, ws: &mut Ws, kind: &str, bids: &[Px], asks: &[Px]) {
        send(ws, self.frame(kind, bids, asks)).await;
        let b = h.book_of(self.symbol).await;
        assert_eq!(
            (b.venue.as_str(), b.checksum),
            ("kraken", ChecksumStatus::Verified)
        );
        self.model.assert_matches(&b, 10);
    }
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

/// The feed resubscribes `symbol` alone: unsubscribe, then subscribe.
async fn expect_resubscribe(ws: &mut Ws, symbol: &str) {
    for method in ["unsubscribe", "subscribe"] {
        let m = recv_json(ws).await;
        assert_eq!(
            (m["method"].as_str(), &m["params"]["symbol"]),
            (Some(method), &json!([symbol])),
            "{m}"
        );
    }
}

/// A feed on XBT/USD and ETH/USD, connected to the mock server.
async fn connected(extra: &[&str]) -> (Harness, MockServer, Ws) {
    let mut h = Harness::new().await;
    let mut server = MockServer::start().await;
    let mut args = vec!["--kraken-url", &server.url];
    args.extend_from_slice(extra);
    h.start_venue("kraken", "XBT/USD,ETH/USD", &args);
    let (_, ws) = server.accept().await;
    (h, server, ws)
}

/// A feed subscribed, with the documented checksum vector's snapshot of
/// BTC/USD published.
async fn connected_with_vector_snapshot() -> (Harness, MockServer, Ws, Pair) {
    let (mut h, server, mut ws) = connected(&[]).await;
    handshake(&mut ws).await;
    let mut btc = Pair::btc();
    btc.book(&mut h, &mut ws, "snapshot", &example::BIDS, &example::ASKS)
        .await;
    (h, server, ws, btc)
}

#[tokio::test]
async fn snapshot_and_updates_publish_verified_books_level_by_level() {
    let (mut h, _server, mut ws) = connected(&[]).await;
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
    let mut btc = Pair::btc();
    let snapshot = btc.frame("snapshot", &example::BIDS, &example::ASKS);
    assert_eq!(
        btc.model.kraken_checksum(1, 8),
        example::CHECKSUM,
        "the model agrees with Kraken's vector"
    );
    send(&mut ws, snapshot).await;
    let b = h.book_of("BTC/USD").await;
    assert_eq!(b.checksum, ChecksumStatus::Verified);
    btc.model.assert_matches(&b, 10);
    assert_eq!(
        b.exchange_ts,
        Some("2026-01-01T00:00:00.123456Z".parse().unwrap())
    );

    // Updates: a better bid pushes the worst out of depth 10; a delete; a size change.
    btc.book(&mut h, &mut ws, "update", &[("45284", "2")], &[])
        .await;
    btc.book(&mut h, &mut ws, "update", &[], &[("45285.2", "0")])
        .await;
    btc.book(
        &mut h,
        &mut ws,
        "update",
        &[("45283.4", "0.5")],
        &[("45285", "1.25"), ("45299.5", "0")],
    )
    .await;

    // A second symbol on the same connection, prices with two decimals sent short.
    let mut eth = Pair::eth();
    eth.book(
        &mut h,
        &mut ws,
        "snapshot",
        &[("2000.5", "1.5"), ("2000.1", "0.25")],
        &[("2001", "3"), ("2002.25", "0.1")],
    )
    .await;
    assert!(
        !h.seen
            .iter()
            .any(|d| matches!(d, arb_contract::Decoded::Status(s) if s.state == FeedState::Resync)),
        "no resync expected"
    );
    h.finish().await;
}

/// After BTC/USD's resync the feed resubscribes it; a `late` frame of the
/// old subscription is not applied; the first BTC book is the fresh
/// snapshot, and updates on it follow. No book ever held the quantities
/// `never` (of the frames that broke the book or came late).
async fn recovers_from_the_fresh_snapshot(
    h: &mut Harness,
    ws: &mut Ws,
    btc: &mut Pair,
    late: String,
    never: &[&str],
) {
    expect_resubscribe(ws, "BTC/USD").await;
    send(ws, late).await;
    btc.book(
        h,
        ws,
        "snapshot",
        &[("45300", "1"), ("45299.9", "2")],
        &[("45300.1", "0.5")],
    )
    .await;
    btc.book(h, ws, "update", &[("45299.9", "0")], &[("45301", "4")])
        .await;
    let since = h.books_since_resync();
    assert!(
        since.iter().all(|b| b.bids[0] == lv("45300", "1")),
        "every book since the resync comes from the fresh snapshot: {since:?}"
    );
    let held = |b: &&arb_contract::BookSnapshot| {
        b.bids.iter().any(|l| never.iter().any(|q| l.qty == d(q)))
    };
    assert_eq!(h.books_seen().find(held), None);
}

#[tokio::test]
async fn wrong_checksum_resyncs_and_recovers_without_publishing_the_broken_book() {
    let (mut h, _server, mut ws, mut btc) = connected_with_vector_snapshot().await;
    // An update whose checksum does not match the book.
    send(
        &mut ws,
        book_frame("update", "BTC/USD", &[("45283.5", "5")], &[], 12345),
    )
    .await;
    h.resync(Some("BTC/USD"), ResyncReason::Checksum).await;
    let late = book_frame("update", "BTC/USD", &[("45283.5", "6")], &[], 1);
    recovers_from_the_fresh_snapshot(&mut h, &mut ws, &mut btc, late, &["5", "6"]).await;
    h.finish().await;
}

/// The rule: a book message that cannot be applied in full (here a price
/// that is no number, after a good level) resyncs its symbol as a gap, and
/// no book of it is published until the fresh snapshot, not even one an
/// update that fits the old book would give.
#[tokio::test]
async fn an_unusable_book_message_resyncs_as_a_gap_until_a_fresh_snapshot() {
    let (mut h, _server, mut ws, mut btc) = connected_with_vector_snapshot().await;
    btc.book(&mut h, &mut ws, "update", &[("45283.5", "0.2")], &[])
        .await;

    let bad = book_frame(
        "update",
        "BTC/USD",
        &[("45283.4", "0.333"), ("45283.3.1", "1")],
        &[],
        1,
    );
    send(&mut ws, bad.clone()).await;
    h.resync(Some("BTC/USD"), ResyncReason::Gap).await;
    h.find("the unusable frame audited", |a: &AuditEvent| {
        a.kind == "garbage_frame" && a.payload.as_deref() == Some(bad.as_bytes())
    })
    .await;
    // An update that fits the book from before the bad message.
    let mut old = Pair {
        model: btc.model.clone(),
        ..Pair::btc()
    };
    let late = old.frame("update", &[("45283.5", "9.99")], &[]);
    recovers_from_the_fresh_snapshot(&mut h, &mut ws, &mut btc, late, &["9.99", "0.333"]).await;
    h.heartbeat("the resync counted", |s| {
        s.counters.get("resyncs") == Some(&1)
    })
    .await;
    h.finish().await;
}

#[tokio::test]
async fn dropped_connection_reconnects_resubscribes_and_publishes_again() {
    let (mut h, mut server, ws, _) = connected_with_vector_snapshot().await;
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
    Pair::btc()
        .book(
            &mut h,
            &mut ws,
            "snapshot",
            &[("45100", "1")],
            &[("45101.5", "2")],
        )
        .await;
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
    let (mut h, _server, mut ws, mut btc) = connected_with_vector_snapshot().await;

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

    btc.book(&mut h, &mut ws, "update", &[("45283.5", "0.7")], &[])
        .await;
    h.heartbeat("heartbeat counting garbage", |s| {
        s.counters.get("garbage_frames") == Some(&1) && s.counters.get("unknown_frames") == Some(&1)
    })
    .await;
    h.finish().await;
}

#[tokio::test]
async fn stale_feed_is_reported_and_reconnected() {
    let (mut h, mut server, mut ws) = connected(&["--stale-timeout", "1s"]).await;
    handshake(&mut ws).await;
    // Then silence.
    h.resync(None, ResyncReason::Stale).await;
    let (_, mut ws2) = server.accept().await;
    handshake(&mut ws2).await;
    Pair::btc()
        .book(&mut h, &mut ws2, "snapshot", &example::BIDS, &example::ASKS)
        .await;
    drop(ws);
    h.finish().await;
}

#[tokio::test]
async fn per_symbol_rate_limit_publishes_the_latest_state_when_due() {
    // An interval longer than the test: only the first book goes out at once,
    // the latest pending one when the feed flushes on shutdown.
    let (mut h, _server, mut ws) = connected(&["--min-interval", "1h"]).await;
    handshake(&mut ws).await;
    let mut btc = Pair::btc();
    btc.book(&mut h, &mut ws, "snapshot", &example::BIDS, &example::ASKS)
        .await;
    for qty in ["1", "2", "3"] {
        send(&mut ws, btc.frame("update", &[("45283.5", qty)], &[])).await;
    }
    // The heartbeat shows the updates were processed and held back.
    h.heartbeat("updates held back", |s| {
        s.counters.get("books_rate_limited") == Some(&2)
    })
    .await;
    h.stop().await;
    let last = h.book_of("BTC/USD").await;
    btc.model.assert_matches(&last, 10);
    assert_eq!(
        h.books_seen()
            .filter(|b| b.symbol.to_string() == "BTC/USD")
            .count(),
        2
    );
    h.finish().await;
}
