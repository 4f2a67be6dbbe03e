use super::*;
use crate::book::{BookSideKind, OrderBook};
use arb_contract::time::from_nanos;
use checksum::checksum;
use rust_decimal::Decimal;

fn adapter() -> KrakenAdapter {
    let syms: Vec<Symbol> = ["XBT/USD", "ETH/USD"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    KrakenAdapter::new(
        "ws://x".into(),
        &BookSettings {
            symbols: syms,
            depth: 10,
            book_levels: 1000,
            top: 10,
        },
    )
}

/// A book frame with JSON numbers written as given (no trailing zeros added).
fn frame(
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
        r#"{{"channel":"book","type":"{kind}","data":[{{"symbol":"{symbol}","bids":[{}],"asks":[{}],"checksum":{checksum},"timestamp":"2023-10-06T17:35:55.440295Z"}}]}}"#,
        side(bids),
        side(asks)
    )
}

const INSTRUMENT: &str = r#"{"channel":"instrument","type":"snapshot","data":{"assets":[],"pairs":[{"symbol":"BTC/USD","base":"BTC","quote":"USD","price_precision":1,"qty_precision":8,"price_increment":0.1},{"symbol":"ETH/USD","price_precision":2,"qty_precision":8}]}}"#;

// The documented vector as JSON numbers: trailing zeros dropped.
const ASKS: [(&str, &str); 10] = [
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
const BIDS: [(&str, &str); 10] = [
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

fn t0() -> Timestamp {
    from_nanos(1)
}

fn books(actions: &[Action]) -> Vec<&arb_contract::BookSnapshot> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Book(b) => Some(b),
            _ => None,
        })
        .collect()
}

fn sends(actions: &[Action]) -> Vec<Value> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(s) => Some(serde_json::from_str(s).unwrap()),
            _ => None,
        })
        .collect()
}

fn resyncs(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::Status {
                    state: FeedState::Resync,
                    reason: Some(ResyncReason::Checksum),
                    ..
                }
            )
        })
        .count()
}

#[test]
fn connect_subscribes_instrument_then_books_with_depth() {
    let mut a = adapter();
    let mut out = Vec::new();
    a.on_connect(&mut out);
    assert_eq!(sends(&out)[0]["params"]["channel"], "instrument");
    out.clear();
    a.on_text(INSTRUMENT, t0(), &mut out).unwrap();
    let s = sends(&out);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["method"], "subscribe");
    assert_eq!(s[0]["params"]["channel"], "book");
    assert_eq!(s[0]["params"]["depth"], 10);
    assert_eq!(
        s[0]["params"]["symbol"],
        serde_json::json!(["BTC/USD", "ETH/USD"])
    );
    // The ack turns into a `subscribed` status for the symbol.
    out.clear();
    a.on_text(r#"{"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,"symbol":"BTC/USD"},"success":true,"time_in":"x","time_out":"y"}"#, t0(), &mut out).unwrap();
    assert!(
        matches!(&out[0], Action::Status { state: FeedState::Subscribed, symbol: Some(s), .. } if s.to_string() == "BTC/USD")
    );
}

#[test]
fn documented_vector_verifies_with_instrument_precision() {
    let mut a = adapter();
    let mut out = Vec::new();
    a.on_connect(&mut out);
    a.on_text(INSTRUMENT, t0(), &mut out).unwrap();
    out.clear();
    a.on_text(
        &frame("snapshot", "BTC/USD", &BIDS, &ASKS, 3310070434),
        t0(),
        &mut out,
    )
    .unwrap();
    let b = books(&out);
    assert_eq!(b.len(), 1, "{out:?}");
    assert_eq!(b[0].checksum, ChecksumStatus::Verified);
    assert_eq!(b[0].symbol.to_string(), "BTC/USD");
    assert_eq!(
        b[0].bids[0],
        Level::new("45283.5".parse().unwrap(), "0.1".parse().unwrap())
    );
    assert_eq!(b[0].asks[9].price, "45299.5".parse().unwrap());
    assert_eq!(b[0].exchange_ts, parse_ts("2023-10-06T17:35:55.440295Z"));
    assert_eq!(resyncs(&out), 0);
}

#[test]
fn without_precision_trailing_zeros_fail_and_resubscribe() {
    let mut a = adapter();
    let mut out = Vec::new();
    a.on_connect(&mut out);
    out.clear();
    a.on_text(
        &frame("snapshot", "BTC/USD", &BIDS, &ASKS, 3310070434),
        t0(),
        &mut out,
    )
    .unwrap();
    assert!(books(&out).is_empty());
    assert_eq!(resyncs(&out), 1);
    let s = sends(&out);
    assert_eq!(s[0]["method"], "unsubscribe");
    assert_eq!(s[1]["method"], "subscribe");
    assert_eq!(s[1]["params"]["symbol"], serde_json::json!(["BTC/USD"]));
}

#[test]
fn update_sequence_table() {
    // Each step: a frame, then whether a book is published and whether a resync follows.
    let mut a = adapter();
    let mut out = Vec::new();
    a.on_connect(&mut out);
    a.on_text(INSTRUMENT, t0(), &mut out).unwrap();
    let mut expect = OrderBook::new(10);
    let p = Precision {
        price: Some(1),
        qty: Some(8),
    };
    let d = |s: &str| s.parse::<Decimal>().unwrap();
    let mut steps: Vec<(String, bool, bool)> = Vec::new();
    // Snapshot.
    for (pr, q) in BIDS {
        expect.apply(BookSideKind::Bid, d(pr), d(q));
    }
    for (pr, q) in ASKS {
        expect.apply(BookSideKind::Ask, d(pr), d(q));
    }
    steps.push((
        frame("snapshot", "XBT/USD", &BIDS, &ASKS, checksum(&expect, p)),
        true,
        false,
    ));
    // A new best bid pushes the worst out (truncation to depth 10).
    expect.apply(BookSideKind::Bid, d("45284"), d("2"));
    expect.truncate();
    steps.push((
        frame(
            "update",
            "BTC/USD",
            &[("45284", "2")],
            &[],
            checksum(&expect, p),
        ),
        true,
        false,
    ));
    // A delete.
    expect.apply(BookSideKind::Ask, d("45285.2"), d("0"));
    steps.push((
        frame(
            "update",
            "BTC/USD",
            &[],
            &[("45285.2", "0")],
            checksum(&expect, p),
        ),
        true,
        false,
    ));
    // A wrong checksum: resync, nothing published.
    steps.push((
        frame("update", "BTC/USD", &[("45283.5", "7")], &[], 12345),
        false,
        true,
    ));
    // Updates before the new snapshot are ignored.
    steps.push((
        frame("update", "BTC/USD", &[("45283.5", "8")], &[], 1),
        false,
        false,
    ));
    // The snapshot after resubscribing restores the book.
    let mut fresh = OrderBook::new(10);
    fresh.apply(BookSideKind::Bid, d("100"), d("1"));
    fresh.apply(BookSideKind::Ask, d("101"), d("1"));
    steps.push((
        frame(
            "snapshot",
            "BTC/USD",
            &[("100", "1")],
            &[("101", "1")],
            checksum(&fresh, p),
        ),
        true,
        false,
    ));
    let mut last = None;
    for (i, (f, publish, resync)) in steps.into_iter().enumerate() {
        out.clear();
        a.on_text(&f, t0(), &mut out).unwrap();
        assert_eq!(books(&out).len(), usize::from(publish), "step {i}: {out:?}");
        assert_eq!(resyncs(&out), usize::from(resync), "step {i}");
        if let Some(b) = books(&out).first() {
            last = Some((*b).clone());
            if i == 2 {
                assert_eq!(b.bids, expect.bids.top(10));
                assert_eq!(b.asks, expect.asks.top(10));
            }
        }
    }
    let last = last.unwrap();
    assert_eq!(last.bids, fresh.bids.top(10));
    assert_eq!(last.asks, fresh.asks.top(10));
}

#[test]
fn bad_frames_are_errors_not_panics() {
    let mut a = adapter();
    let mut out = Vec::new();
    a.on_connect(&mut out);
    for (raw, unknown) in [
        ("not json at all", false),
        (r#"{"channel":"book","type":"snapshot","data":"x"}"#, false),
        (
            r#"{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD","bids":[{"price":-1,"qty":1}],"asks":[],"checksum":1}]}"#,
            false,
        ),
        (r#"{"channel":"ohlc","type":"update","data":[]}"#, true),
        (r#"{"foo":1}"#, true),
        ("\u{0}\u{1}", false),
    ] {
        let e = a.on_text(raw, t0(), &mut out).unwrap_err();
        assert_eq!(matches!(e, FrameError::Unknown(_)), unknown, "{raw}: {e}");
    }
    // Heartbeats and pongs are fine.
    a.on_text(r#"{"channel":"heartbeat"}"#, t0(), &mut out)
        .unwrap();
    a.on_text(
        r#"{"method":"pong","time_in":"a","time_out":"b"}"#,
        t0(),
        &mut out,
    )
    .unwrap();
}
