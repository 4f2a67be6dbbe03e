use super::*;
use crate::testing::{Model, Px, assert_gap, books, resyncs, sends, settings, t0};
use crate::wire::parse_ts;
use checksum::checksum_levels;

fn adapter() -> KrakenAdapter {
    KrakenAdapter::new("ws://x".into(), &settings(&["XBT/USD", "ETH/USD"]))
}

/// A book frame with JSON numbers written as given (no trailing zeros added).
fn frame(kind: &str, symbol: &str, bids: &[Px], asks: &[Px], checksum: u32) -> String {
    format!(
        r#"{{"channel":"book","type":"{kind}","data":[{}]}}"#,
        entry(symbol, bids, asks, &checksum.to_string())
    )
}

/// One symbol's part of a book frame; every value is written as given.
fn entry(symbol: &str, bids: &[Px], asks: &[Px], checksum: &str) -> String {
    let side = |ls: &[Px]| {
        ls.iter()
            .map(|(p, q)| format!(r#"{{"price":{p},"qty":{q}}}"#))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"symbol":"{symbol}","bids":[{}],"asks":[{}],"checksum":{checksum},"timestamp":"2023-10-06T17:35:55.440295Z"}}"#,
        side(bids),
        side(asks)
    )
}

const INSTRUMENT: &str = r#"{"channel":"instrument","type":"snapshot","data":{"assets":[],"pairs":[{"symbol":"BTC/USD","base":"BTC","quote":"USD","price_precision":1,"qty_precision":8,"price_increment":0.1},{"symbol":"ETH/USD","price_precision":2,"qty_precision":8}]}}"#;

const BTC: Precision = Precision {
    price: Some(1),
    qty: Some(8),
};
const ETH: Precision = Precision {
    price: Some(2),
    qty: Some(8),
};

// The documented vector as JSON numbers: trailing zeros dropped.
const ASKS: [Px; 10] = [
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
const BIDS: [Px; 10] = [
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

/// Kraken's checksum of the model's book.
fn crc(m: &Model, p: Precision) -> u32 {
    checksum_levels(m.asks(), m.bids(), p)
}

/// An adapter past the instrument data, with BTC/USD at the documented vector.
fn synced() -> (KrakenAdapter, Model) {
    let mut a = adapter();
    let mut out = Vec::new();
    a.on_connect(&mut out);
    a.on_text(INSTRUMENT, t0(), &mut out).unwrap();
    let mut m = Model::new(10);
    m.snapshot(&BIDS, &ASKS);
    out.clear();
    a.on_text(
        &frame("snapshot", "BTC/USD", &BIDS, &ASKS, crc(&m, BTC)),
        t0(),
        &mut out,
    )
    .unwrap();
    assert_eq!(books(&out).len(), 1, "{out:?}");
    (a, m)
}

/// Feeds `frame`, which must be used; returns the one book it published.
#[track_caller]
fn one_book(a: &mut KrakenAdapter, frame: &str) -> arb_contract::BookSnapshot {
    let mut out = Vec::new();
    a.on_text(frame, t0(), &mut out).unwrap();
    let b = books(&out);
    assert_eq!(b.len(), 1, "{out:?}");
    b[0].clone()
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
    assert_eq!(s[0]["params"]["symbol"], json!(["BTC/USD", "ETH/USD"]));
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
    let b = one_book(
        &mut a,
        &frame("snapshot", "BTC/USD", &BIDS, &ASKS, 3310070434),
    );
    assert_eq!(b.checksum, ChecksumStatus::Verified);
    assert_eq!(b.symbol.to_string(), "BTC/USD");
    let mut m = Model::new(10);
    m.snapshot(&BIDS, &ASKS);
    m.assert_top(&b, 10, "the documented vector");
    assert_eq!(b.exchange_ts, parse_ts("2023-10-06T17:35:55.440295Z"));
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
    assert_eq!(resyncs(&out, ResyncReason::Checksum).len(), 1);
    let s = sends(&out);
    assert_eq!(s[0]["method"], "unsubscribe");
    assert_eq!(s[1]["method"], "subscribe");
    assert_eq!(s[1]["params"]["symbol"], json!(["BTC/USD"]));
}

#[test]
fn update_sequence_table() {
    // Each step: a frame's type and levels, the checksum sent (None: the
    // model's), whether a book is published and whether a checksum resync follows.
    type Step = (
        &'static str,
        &'static str,
        &'static [Px<'static>],
        &'static [Px<'static>],
        Option<u32>,
        bool,
        bool,
    );
    let steps: [Step; 5] = [
        (
            "a new best bid pushes the worst out",
            "update",
            &[("45284", "2")],
            &[],
            None,
            true,
            false,
        ),
        (
            "a delete",
            "update",
            &[],
            &[("45285.2", "0")],
            None,
            true,
            false,
        ),
        (
            "a wrong checksum",
            "update",
            &[("45283.5", "7")],
            &[],
            Some(12345),
            false,
            true,
        ),
        (
            "an update before the new snapshot",
            "update",
            &[("45283.5", "8")],
            &[],
            Some(1),
            false,
            false,
        ),
        (
            "the snapshot after resubscribing",
            "snapshot",
            &[("100", "1")],
            &[("101", "1")],
            None,
            true,
            false,
        ),
    ];
    let (mut a, mut m) = synced();
    for (name, kind, bids, asks, sent, publish, resync) in steps {
        match (publish, kind) {
            (true, "snapshot") => m.snapshot(bids, asks),
            (true, _) => m.update(bids, asks),
            (false, _) => {}
        }
        let f = frame(
            kind,
            "BTC/USD",
            bids,
            asks,
            sent.unwrap_or_else(|| crc(&m, BTC)),
        );
        let mut out = Vec::new();
        a.on_text(&f, t0(), &mut out).unwrap();
        assert_eq!(books(&out).len(), usize::from(publish), "{name}: {out:?}");
        assert_eq!(
            resyncs(&out, ResyncReason::Checksum).len(),
            usize::from(resync),
            "{name}"
        );
        if let Some(b) = books(&out).first() {
            m.assert_top(b, 10, name);
        }
    }
}

/// The rule: a book message that cannot be applied in full resyncs its
/// symbol as a gap, and no book of it goes out until a fresh snapshot.
#[test]
fn an_unusable_book_message_resyncs_its_symbol_as_a_gap() {
    // (case, the BTC/USD entry of the update)
    let good = ("45283.5", "0.2");
    let cases: [(&str, String); 8] = [
        (
            "a price that is no number",
            entry("BTC/USD", &[good, ("45283.4.1", "1")], &[], "1"),
        ),
        ("a zero price", entry("BTC/USD", &[("0", "1")], &[], "1")),
        (
            "a negative price",
            entry("BTC/USD", &[], &[("-45290", "1")], "1"),
        ),
        (
            "a negative quantity",
            entry("BTC/USD", &[good, ("45283.4", "-1")], &[], "1"),
        ),
        (
            "a quantity that is no number",
            entry("BTC/USD", &[], &[("45290", "\"x\"")], "1"),
        ),
        (
            "a checksum that is no number",
            entry("BTC/USD", &[good], &[], "\"x\""),
        ),
        (
            "an unreadable time",
            entry("BTC/USD", &[good], &[], "1").replace("2023-10-06T17", "yesterday"),
        ),
        (
            "a zero price, the pair in its older spelling",
            entry("XBT/USD", &[("0", "0")], &[], "1"),
        ),
    ];
    for (case, bad) in cases {
        let (mut a, mut btc) = synced();
        let mut eth = Model::new(10);
        eth.snapshot(&[("2000.5", "1")], &[("2001", "2")]);
        one_book(
            &mut a,
            &frame(
                "snapshot",
                "ETH/USD",
                &[("2000.5", "1")],
                &[("2001", "2")],
                crc(&eth, ETH),
            ),
        );

        let mut out = Vec::new();
        let f = format!(r#"{{"channel":"book","type":"update","data":[{bad}]}}"#);
        assert!(
            a.on_text(&f, t0(), &mut out).is_err(),
            "{case}: reported as a bad frame"
        );
        assert_gap(&out, Some("BTC/USD"), case);
        let s = sends(&out);
        assert_eq!(
            s.iter()
                .map(|s| (s["method"].as_str().unwrap(), s["params"]["symbol"].clone()))
                .collect::<Vec<_>>(),
            [
                ("unsubscribe", json!(["BTC/USD"])),
                ("subscribe", json!(["BTC/USD"]))
            ],
            "{case}: BTC/USD alone resubscribed"
        );

        // An update that would fit the book from before the bad message is not applied.
        let mut stale = btc.clone();
        stale.update(&[("45283.5", "9")], &[]);
        out.clear();
        a.on_text(
            &frame(
                "update",
                "BTC/USD",
                &[("45283.5", "9")],
                &[],
                crc(&stale, BTC),
            ),
            t0(),
            &mut out,
        )
        .unwrap();
        assert!(
            books(&out).is_empty(),
            "{case}: a book before the snapshot: {out:?}"
        );
        // The other symbol goes on.
        eth.update(&[("2000.5", "3")], &[]);
        let b = one_book(
            &mut a,
            &frame("update", "ETH/USD", &[("2000.5", "3")], &[], crc(&eth, ETH)),
        );
        eth.assert_top(&b, 10, case);

        // The fresh snapshot, then updates, flow again.
        let (bids, asks) = ([("45300", "1"), ("45299.9", "2")], [("45300.1", "0.5")]);
        btc.snapshot(&bids, &asks);
        let b = one_book(
            &mut a,
            &frame("snapshot", "BTC/USD", &bids, &asks, crc(&btc, BTC)),
        );
        btc.assert_top(&b, 10, case);
        btc.update(&[("45299.9", "0")], &[("45301", "4")]);
        let b = one_book(
            &mut a,
            &frame(
                "update",
                "BTC/USD",
                &[("45299.9", "0")],
                &[("45301", "4")],
                crc(&btc, BTC),
            ),
        );
        btc.assert_top(&b, 10, case);
    }
}

/// Kraken checks each symbol on its own: a bad entry for one symbol in a
/// message does not hold back another symbol's good entry.
#[test]
fn a_bad_entry_resyncs_only_its_symbol() {
    let (mut a, _) = synced();
    let mut eth = Model::new(10);
    eth.snapshot(&[("2000.5", "1")], &[("2001", "2")]);
    let f = format!(
        r#"{{"channel":"book","type":"snapshot","data":[{},{}]}}"#,
        entry("BTC/USD", &[("0", "1")], &[], "1"),
        entry(
            "ETH/USD",
            &[("2000.5", "1")],
            &[("2001", "2")],
            &crc(&eth, ETH).to_string()
        ),
    );
    let mut out = Vec::new();
    assert!(a.on_text(&f, t0(), &mut out).is_err());
    assert_eq!(
        resyncs(&out, ResyncReason::Gap),
        [Some(&"BTC/USD".parse().unwrap())]
    );
    let b = books(&out);
    assert_eq!(b.len(), 1, "{out:?}");
    assert_eq!(b[0].symbol.to_string(), "ETH/USD");
    eth.assert_top(b[0], 10, "ETH/USD");
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
        (
            r#"{"channel":"book","type":"snapshot","data":[{"symbol":"DOGE/USD","bids":[],"asks":[],"checksum":1}]}"#,
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
