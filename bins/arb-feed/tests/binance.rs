//! Binance spot diff depth against mock stream and WebSocket API servers,
//! with the feed publishing to the real NATS.
#![allow(unused_crate_dependencies)]

mod common;

use arb_contract::BookSnapshot;
use arb_contract::model::{FeedState, ResyncReason};
use common::*;
use serde_json::{Value, json};

fn levels(ls: &[Px]) -> Value {
    json!(ls.iter().map(|(p, q)| [p, q]).collect::<Vec<_>>())
}

/// A `depthUpdate` on the combined stream; its levels are JSON as given.
fn depth_event(symbol: &str, first: u64, last: u64, bids: Value, asks: Value) -> String {
    json!({
        "stream": format!("{}@depth@100ms", symbol.to_ascii_lowercase()),
        "data": {"e": "depthUpdate", "E": 1_767_225_600_000u64 + last, "s": symbol, "U": first, "u": last,
                 "b": bids, "a": asks}
    })
    .to_string()
}

/// Sends `symbol`'s event `first..=last` with well-formed levels.
async fn send_event(
    ws: &mut Ws,
    symbol: &str,
    (first, last): (u64, u64),
    bids: &[Px],
    asks: &[Px],
) {
    send(
        ws,
        depth_event(symbol, first, last, levels(bids), levels(asks)),
    )
    .await;
}

/// A `depth` snapshot the API server answers with: symbol, lastUpdateId, bids, asks.
type Snapshot<'a> = (&'a str, u64, &'a [Px], &'a [Px]);

/// Answers one `depth` request on the API server from `snapshots`; returns
/// the symbol asked for.
async fn answer_depth(api: &mut MockServer, snapshots: &[Snapshot<'_>]) -> String {
    let (_, mut ws) = api.accept().await;
    let req = recv_json(&mut ws).await;
    assert_eq!(
        (&req["method"], &req["params"]["limit"]),
        (&json!("depth"), &json!(10)),
        "{req}"
    );
    let symbol = req["params"]["symbol"].as_str().unwrap().to_owned();
    let (_, l, bids, asks) = snapshots
        .iter()
        .find(|s| s.0 == symbol)
        .expect("unexpected symbol");
    let result = json!({"lastUpdateId": l, "bids": levels(bids), "asks": levels(asks)});
    send(
        &mut ws,
        json!({"id": req["id"], "status": 200, "result": result, "rateLimits": []}).to_string(),
    )
    .await;
    symbol
}

/// Answers the snapshot requests of every symbol, in whatever order they come.
async fn answer_each(api: &mut MockServer, snapshots: &[Snapshot<'_>]) {
    let mut asked = Vec::new();
    for _ in snapshots {
        asked.push(answer_depth(api, snapshots).await);
    }
    asked.sort();
    let mut want: Vec<&str> = snapshots.iter().map(|s| s.0).collect();
    want.sort();
    assert_eq!(asked, want);
}

/// The next book of `symbol` at update id `seq`.
async fn book_at(h: &mut Harness, symbol: &str, seq: u64) -> BookSnapshot {
    let what = format!("{symbol} at update id {seq}");
    h.book(&what, |b| {
        b.symbol.to_string() == symbol && b.sequence == Some(seq)
    })
    .await
}

/// A feed on `symbols` against fresh stream and API mock servers,
/// connected to the stream.
async fn connected(symbols: &str) -> (Harness, MockServer, MockServer, Ws, String) {
    let mut h = Harness::new().await;
    let mut stream = MockServer::start().await;
    let api = MockServer::start().await;
    h.start_venue(
        "binance",
        symbols,
        &[
            "--binance-stream-url",
            &stream.url,
            "--binance-api-url",
            &api.url,
        ],
    );
    let (path, ws) = stream.accept().await;
    (h, stream, api, ws, path)
}

#[tokio::test]
async fn sync_procedure_gap_resync_and_reconnect() {
    let (mut h, mut stream, mut api, mut ws, path) = connected("BTC/USDT,ETH/USDT").await;
    assert_eq!(
        path, "/stream?streams=btcusdt@depth@100ms/ethusdt@depth@100ms",
        "one combined stream for all symbols"
    );

    // Events around a snapshot at L=100: 90..95 is stale, 96..102 bridges, 103..104 follows.
    send_event(&mut ws, "BTCUSDT", (90, 95), &[("99.00", "9")], &[]).await;
    send_event(&mut ws, "BTCUSDT", (96, 102), &[("98.00", "8")], &[]).await;
    send_event(
        &mut ws,
        "BTCUSDT",
        (103, 104),
        &[],
        &[("101.00", "0"), ("102.50", "1")],
    )
    .await;
    answer_each(
        &mut api,
        &[
            ("BTCUSDT", 100, &[("100.00", "1")], &[("101.00", "1")]),
            ("ETHUSDT", 50, &[("10.00", "1")], &[("11.00", "2")]),
        ],
    )
    .await;

    let mut btc = Model::new(1000);
    btc.apply(&[("100", "1"), ("98", "8")], &[("102.5", "1")]);
    let b = book_at(&mut h, "BTC/USDT", 104).await;
    btc.assert_matches(&b, 10);
    assert_eq!(b.venue, "binance");
    assert_eq!(
        b.exchange_ts,
        chrono::DateTime::from_timestamp_millis(1_767_225_600_104)
    );
    let eth = book_at(&mut h, "ETH/USDT", 50).await;
    assert_eq!(
        (eth.bids, eth.asks),
        (vec![lv("10", "1")], vec![lv("11", "2")])
    );
    assert!(
        !h.books_seen()
            .any(|b| b.bids.iter().any(|l| l.price == d("99"))),
        "the stale event (u <= L) must never be applied"
    );

    // A gap: 105 is missing.
    send_event(&mut ws, "BTCUSDT", (106, 107), &[("97", "1")], &[]).await;
    h.resync(Some("BTC/USDT"), ResyncReason::Gap).await;
    assert_eq!(
        answer_depth(
            &mut api,
            &[("BTCUSDT", 110, &[("200", "1")], &[("201", "1")])]
        )
        .await,
        "BTCUSDT"
    );
    send_event(&mut ws, "BTCUSDT", (111, 111), &[("199", "2")], &[]).await;
    let b = book_at(&mut h, "BTC/USDT", 111).await;
    assert_eq!(
        (b.bids, b.asks),
        (vec![lv("200", "1"), lv("199", "2")], vec![lv("201", "1")])
    );

    // The stream drops: reconnect, new snapshots for every symbol, correct books again.
    drop(ws);
    h.status("disconnected", |s| s.state == FeedState::Disconnected)
        .await;
    let (_, mut ws) = stream.accept().await;
    answer_each(
        &mut api,
        &[
            ("BTCUSDT", 300, &[("300", "3")], &[("301", "3")]),
            ("ETHUSDT", 70, &[("12", "1")], &[("13", "1")]),
        ],
    )
    .await;
    send_event(
        &mut ws,
        "BTCUSDT",
        (301, 302),
        &[("300", "0"), ("299", "4")],
        &[],
    )
    .await;
    let b = book_at(&mut h, "BTC/USDT", 302).await;
    assert_eq!(
        (b.bids, b.asks),
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
    send_event(&mut ws, "BTCUSDT", (303, 303), &[("298", "5")], &[]).await;
    let b = book_at(&mut h, "BTC/USDT", 303).await;
    assert_eq!(b.bids, vec![lv("299", "4"), lv("298", "5")]);
    h.finish().await;
}

/// The rule: a depth event whose update ids are spent but whose levels
/// cannot be applied (here a price that is no number, after a good level)
/// is a gap: resync, a new snapshot, and no book until one taken after the
/// event; a snapshot from before it is refused and taken again.
#[tokio::test]
async fn an_unusable_depth_event_is_a_gap_until_a_snapshot_after_it() {
    let (mut h, _stream, mut api, mut ws, _) = connected("BTC/USDT").await;
    answer_depth(
        &mut api,
        &[("BTCUSDT", 100, &[("100", "1")], &[("101", "1")])],
    )
    .await;
    let mut btc = Model::new(1000);
    btc.reset(&[("100", "1")], &[("101", "1")]);
    btc.assert_matches(&book_at(&mut h, "BTC/USDT", 100).await, 10);
    send_event(&mut ws, "BTCUSDT", (101, 101), &[("99", "2")], &[]).await;
    btc.apply(&[("99", "2")], &[]);
    btc.assert_matches(&book_at(&mut h, "BTC/USDT", 101).await, 10);

    send(
        &mut ws,
        depth_event(
            "BTCUSDT",
            102,
            103,
            json!([["98", "3.33"], ["abc", "1"]]),
            json!([]),
        ),
    )
    .await;
    h.resync(Some("BTC/USDT"), ResyncReason::Gap).await;
    // The events after it wait; a snapshot from before it cannot be brought past it.
    send_event(&mut ws, "BTCUSDT", (104, 104), &[("97", "4")], &[]).await;
    answer_depth(&mut api, &[("BTCUSDT", 102, &[("100", "1")], &[])]).await;
    // Asked again: a snapshot at 103 syncs the book, with the buffered event on it.
    answer_depth(
        &mut api,
        &[("BTCUSDT", 103, &[("100", "5")], &[("101", "1")])],
    )
    .await;
    btc.reset(&[("100", "5"), ("97", "4")], &[("101", "1")]);
    btc.assert_matches(&book_at(&mut h, "BTC/USDT", 104).await, 10);
    let since = h.books_since_resync();
    assert!(
        since.iter().all(|b| b.bids.contains(&lv("100", "5"))),
        "every book since the resync comes from the new snapshot: {since:?}"
    );
    send_event(
        &mut ws,
        "BTCUSDT",
        (105, 105),
        &[("97", "0")],
        &[("101.5", "2")],
    )
    .await;
    btc.apply(&[("97", "0")], &[("101.5", "2")]);
    btc.assert_matches(&book_at(&mut h, "BTC/USDT", 105).await, 10);
    assert!(
        !h.books_seen()
            .any(|b| b.bids.iter().any(|l| l.qty == d("3.33"))),
        "nothing of the unusable event is applied"
    );
    h.finish().await;
}
