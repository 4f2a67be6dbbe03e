use super::*;
use crate::testing::{Model, Px, assert_gap, books, sends, settings, t0};
use arb_contract::BookSnapshot;
use serde_json::Value;

fn adapter() -> CoinbaseAdapter {
    CoinbaseAdapter::new("ws://x", &settings(&["BTC-USD", "ETH-USD"]))
}

/// An `l2_data` event: `(side, price, qty)` updates, values as given.
fn event(kind: &str, product: &str, ups: &[(&str, &str, &str)]) -> Value {
    let updates: Vec<_> = ups
        .iter()
        .map(|(s, p, q)| json!({"side": s, "event_time": "2023-02-09T20:32:50.714964855Z", "price_level": p, "new_quantity": q}))
        .collect();
    json!({"type": kind, "product_id": product, "updates": updates})
}

fn message(seq: u64, events: &[Value]) -> String {
    json!({"channel": "l2_data", "client_id": "", "timestamp": "2023-02-09T20:32:50.714964855Z",
           "sequence_num": seq, "events": events})
    .to_string()
}

fn l2(seq: u64, kind: &str, product: &str, ups: &[(&str, &str, &str)]) -> String {
    message(seq, &[event(kind, product, ups)])
}

/// `(price, qty)` levels as `(side, price, qty)` updates.
fn ups<'a>(bids: &[Px<'a>], asks: &[Px<'a>]) -> Vec<(&'a str, &'a str, &'a str)> {
    let side = |s, ls: &[Px<'a>]| ls.iter().map(move |(p, q)| (s, *p, *q)).collect::<Vec<_>>();
    [side("bid", bids), side("offer", asks)].concat()
}

/// Feeds a frame, which must be used.
#[track_caller]
fn text(a: &mut CoinbaseAdapter, frame: &str) -> Vec<Action> {
    let mut out = Vec::new();
    a.on_text(frame, t0(), &mut out).unwrap();
    out
}

#[track_caller]
fn one_book(out: &[Action]) -> BookSnapshot {
    let b = books(out);
    assert_eq!(b.len(), 1, "{out:?}");
    b[0].clone()
}

#[test]
fn snapshot_resets_updates_apply_gap_resubscribes() {
    let mut a = adapter();
    let mut out = Vec::new();
    a.on_connect(&mut out);
    assert_eq!(out.len(), 2);
    let top = |out: &[Action]| match out.last() {
        Some(Action::Book(b)) => (b.bids.clone(), b.asks.clone(), b.sequence),
        other => panic!("no book: {other:?}"),
    };
    let lv = |p: &str, q: &str| Level::new(p.parse().unwrap(), q.parse().unwrap());
    out = text(&mut a, &l2(0, "update", "BTC-USD", &[("bid", "1", "1")]));
    assert!(out.is_empty(), "an update before the snapshot is ignored");
    text(
        &mut a,
        &l2(
            1,
            "snapshot",
            "BTC-USD",
            &[("bid", "100", "1"), ("offer", "101", "2")],
        ),
    );
    out = text(
        &mut a,
        &l2(
            2,
            "update",
            "BTC-USD",
            &[("bid", "100.5", "3"), ("offer", "101", "0")],
        ),
    );
    assert_eq!(
        top(&out),
        (vec![lv("100.5", "3"), lv("100", "1")], vec![], Some(2))
    );
    // A second snapshot replaces everything.
    out = text(&mut a, &l2(3, "snapshot", "BTC-USD", &[("bid", "90", "1")]));
    assert_eq!(top(&out), (vec![lv("90", "1")], vec![], Some(3)));
    // A gap: resync status and resubscription, no book.
    out = text(&mut a, &l2(7, "update", "BTC-USD", &[("bid", "91", "1")]));
    assert_gap(&out, None, "sequence gap");
    let s = sends(&out);
    assert_eq!(
        (s[0]["type"].as_str(), s[1]["type"].as_str()),
        (Some("unsubscribe"), Some("subscribe"))
    );
    out = text(&mut a, &l2(8, "update", "BTC-USD", &[("bid", "92", "1")]));
    assert!(out.is_empty(), "updates wait for the new snapshot");
    out = text(&mut a, &l2(9, "snapshot", "BTC-USD", &[("bid", "95", "1")]));
    assert_eq!(top(&out), (vec![lv("95", "1")], vec![], Some(9)));
    // Garbage and unknown.
    assert!(a.on_text("{{{", t0(), &mut out).is_err());
    assert!(matches!(
        a.on_text(
            r#"{"channel":"ticker","sequence_num":10,"events":[]}"#,
            t0(),
            &mut out
        ),
        Err(FrameError::Unknown(_))
    ));
}

/// The rule: an `l2_data` message that cannot be applied in full spent its
/// sequence number, so it is a gap: every book is dropped, nothing of the
/// message is applied (not even its good events), and no book goes out
/// until a product's fresh snapshot.
#[test]
fn an_unusable_level2_message_is_a_gap_and_applies_nothing() {
    let good = event("update", "BTC-USD", &[("bid", "100.5", "7")]);
    let bad = |ups: &[(&str, &str, &str)]| event("update", "BTC-USD", ups);
    let cases: [(&str, String); 9] = [
        (
            "a price that is no number",
            message(4, &[bad(&[("bid", "100.25", "1"), ("bid", "abc", "1")])]),
        ),
        ("a zero price", message(4, &[bad(&[("offer", "0", "1")])])),
        (
            "a negative quantity",
            message(4, &[bad(&[("bid", "100.25", "-2")])]),
        ),
        (
            "an unknown side",
            message(4, &[bad(&[("middle", "100.25", "1")])]),
        ),
        (
            "an unknown product",
            message(4, &[event("update", "DOGE-USD", &[("bid", "1", "1")])]),
        ),
        (
            "an unknown event type",
            message(4, &[event("delta", "BTC-USD", &[("bid", "1", "1")])]),
        ),
        (
            "an unreadable time",
            l2(4, "update", "BTC-USD", &[("bid", "99", "1")]).replace("2023-02-09T20", "noon"),
        ),
        (
            "a good event, then a bad one",
            message(4, &[good.clone(), bad(&[("bid", "-1", "1")])]),
        ),
        (
            "a good event, then another product's bad one",
            message(
                4,
                &[
                    good.clone(),
                    event("update", "ETH-USD", &[("offer", "x", "1")]),
                ],
            ),
        ),
    ];
    for (case, frame) in cases {
        let mut a = adapter();
        a.on_connect(&mut Vec::new());
        let (mut btc, mut eth) = (Model::new(1000), Model::new(1000));
        btc.snapshot(&[("100", "1"), ("99.5", "2")], &[("101", "1")]);
        eth.snapshot(&[("10", "1")], &[("11", "1")]);
        btc.assert_top(
            &one_book(&text(
                &mut a,
                &l2(
                    1,
                    "snapshot",
                    "BTC-USD",
                    &ups(&[("100", "1"), ("99.5", "2")], &[("101", "1")]),
                ),
            )),
            10,
            case,
        );
        eth.assert_top(
            &one_book(&text(
                &mut a,
                &l2(
                    2,
                    "snapshot",
                    "ETH-USD",
                    &ups(&[("10", "1")], &[("11", "1")]),
                ),
            )),
            10,
            case,
        );
        btc.update(&[("100", "3")], &[]);
        btc.assert_top(
            &one_book(&text(
                &mut a,
                &l2(3, "update", "BTC-USD", &[("bid", "100", "3")]),
            )),
            10,
            case,
        );

        let mut out = Vec::new();
        assert!(
            a.on_text(&frame, t0(), &mut out).is_err(),
            "{case}: reported as a bad frame"
        );
        assert_gap(&out, None, case);
        let s = sends(&out);
        assert_eq!(
            s.iter()
                .map(|s| (s["type"].as_str().unwrap(), s["channel"].as_str().unwrap()))
                .collect::<Vec<_>>(),
            [("unsubscribe", "level2"), ("subscribe", "level2")],
            "{case}: level2 resubscribed"
        );
        // Updates of the old subscription are not applied, to either product.
        let out = text(
            &mut a,
            &message(
                5,
                &[
                    good.clone(),
                    event("update", "ETH-USD", &[("bid", "10", "2")]),
                ],
            ),
        );
        assert!(
            books(&out).is_empty(),
            "{case}: a book before a snapshot: {out:?}"
        );

        // Fresh snapshots, then updates, flow again; none of the unusable
        // message (100.5 x 7) is in them.
        btc.snapshot(&[("100", "2")], &[("100.75", "1")]);
        let b = one_book(&text(
            &mut a,
            &l2(
                6,
                "snapshot",
                "BTC-USD",
                &ups(&[("100", "2")], &[("100.75", "1")]),
            ),
        ));
        assert_eq!(b.sequence, Some(6));
        btc.assert_top(&b, 10, case);
        btc.update(&[("100.25", "1")], &[]);
        btc.assert_top(
            &one_book(&text(
                &mut a,
                &l2(7, "update", "BTC-USD", &[("bid", "100.25", "1")]),
            )),
            10,
            case,
        );
        assert!(
            books(&text(
                &mut a,
                &l2(8, "update", "ETH-USD", &[("bid", "10", "2")])
            ))
            .is_empty(),
            "{case}: ETH waits for its snapshot"
        );
        eth.snapshot(&[("10.5", "1")], &[("11", "3")]);
        eth.assert_top(
            &one_book(&text(
                &mut a,
                &l2(
                    9,
                    "snapshot",
                    "ETH-USD",
                    &ups(&[("10.5", "1")], &[("11", "3")]),
                ),
            )),
            10,
            case,
        );
    }
}

/// Every event of a good message is applied, each publishing its product's book.
#[test]
fn a_message_of_several_good_events_applies_them_all() {
    let mut a = adapter();
    a.on_connect(&mut Vec::new());
    let frame = message(
        1,
        &[
            event("snapshot", "BTC-USD", &[("bid", "100", "1")]),
            event("snapshot", "ETH-USD", &[("offer", "11", "1")]),
            event(
                "update",
                "BTC-USD",
                &[("bid", "100", "0"), ("bid", "99", "2")],
            ),
        ],
    );
    let out = text(&mut a, &frame);
    let got: Vec<(String, usize, usize)> = books(&out)
        .iter()
        .map(|b| (b.symbol.to_string(), b.bids.len(), b.asks.len()))
        .collect();
    assert_eq!(
        got,
        [
            ("BTC/USD".into(), 1, 0),
            ("ETH/USD".into(), 0, 1),
            ("BTC/USD".into(), 1, 0)
        ]
    );
    let mut btc = Model::new(1000);
    btc.snapshot(&[("100", "1")], &[]);
    btc.update(&[("100", "0"), ("99", "2")], &[]);
    btc.assert_top(books(&out)[2], 10, "the last BTC book");
}
