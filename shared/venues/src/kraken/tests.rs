use super::*;
use crate::testing::{Model, Px, assert_gap, books, feed, one_book, resyncs, sends, settings, t0};
use crate::wire::parse_ts;
use checksum::checksum_levels;
use checksum::example::{self, ASKS, BIDS};

fn adapter() -> KrakenAdapter {
    KrakenAdapter::new("ws://x".into(), &settings(&["XBT/USD", "ETH/USD"]))
}

/// A book frame with JSON numbers written as given (no trailing zeros added).
fn frame(kind: &str, symbol: &str, bids: &[Px], asks: &[Px], checksum: u32) -> String {
    message(kind, &[entry(symbol, bids, asks, &checksum.to_string())])
}

fn message(kind: &str, entries: &[String]) -> String {
    let data = entries.join(",");
    format!(r#"{{"channel":"book","type":"{kind}","data":[{data}]}}"#)
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

const BTC: Precision = example::PRECISION;
const ETH: Precision = Precision {
    price: Some(2),
    qty: Some(8),
};

/// Kraken's checksum of the model's book.
fn crc(m: &Model, p: Precision) -> u32 {
    checksum_levels(m.asks(), m.bids(), p)
}

/// A pair's frames, with the model of its book.
#[derive(Clone)]
struct Pair {
    symbol: &'static str,
    precision: Precision,
    model: Model,
}

impl Pair {
    fn new(symbol: &'static str, precision: Precision) -> Pair {
        Pair {
            symbol,
            precision,
            model: Model::new(10),
        }
    }

    /// The entry of a change, checksummed as the model is after it.
    fn entry(&mut self, kind: &str, bids: &[Px], asks: &[Px]) -> String {
        self.model.apply(kind, bids, asks);
        let crc = crc(&self.model, self.precision).to_string();
        entry(self.symbol, bids, asks, &crc)
    }

    fn frame(&mut self, kind: &str, bids: &[Px], asks: &[Px]) -> String {
        message(kind, &[self.entry(kind, bids, asks)])
    }

    /// Sends a change: the adapter publishes the model's book, verified.
    #[track_caller]
    fn book(&mut self, a: &mut KrakenAdapter, kind: &str, bids: &[Px], asks: &[Px], case: &str) {
        let b = one_book(&feed(a, &self.frame(kind, bids, asks)));
        assert_eq!(
            (b.symbol.to_string(), b.checksum),
            (self.symbol.into(), ChecksumStatus::Verified),
            "{case}"
        );
        self.model.assert_top(&b, 10, case);
    }
}

/// An adapter past the instrument data, with BTC/USD at the documented
/// vector and ETH/USD at a small book.
fn synced() -> (KrakenAdapter, Pair, Pair) {
    let mut a = adapter();
    let mut out = Vec::new();
    a.on_connect(&mut out);
    a.on_text(INSTRUMENT, t0(), &mut out).unwrap();
    let mut btc = Pair::new("BTC/USD", BTC);
    btc.book(&mut a, "snapshot", &BIDS, &ASKS, "BTC/USD");
    let mut eth = Pair::new("ETH/USD", ETH);
    eth.book(
        &mut a,
        "snapshot",
        &[("2000.5", "1")],
        &[("2001", "2")],
        "ETH/USD",
    );
    (a, btc, eth)
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
    let b = one_book(&feed(
        &mut a,
        &frame("snapshot", "BTC/USD", &BIDS, &ASKS, 3310070434),
    ));
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
    let (mut a, btc, _) = synced();
    let mut m = btc.model;
    for (name, kind, bids, asks, sent, publish, resync) in steps {
        if publish {
            m.apply(kind, bids, asks);
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
        let (mut a, mut btc, mut eth) = synced();
        let mut out = Vec::new();
        let f = message("update", &[bad]);
        assert!(
            a.on_text(&f, t0(), &mut out).is_err(),
            "{case}: reported as a bad frame"
        );
        assert_gap(&out, Some("BTC/USD"), case);
        let sent: Vec<_> = sends(&out)
            .iter()
            .map(|s| (s["method"].clone(), s["params"]["symbol"].clone()))
            .collect();
        assert_eq!(
            sent,
            [
                (json!("unsubscribe"), json!(["BTC/USD"])),
                (json!("subscribe"), json!(["BTC/USD"]))
            ],
            "{case}: BTC/USD alone resubscribed"
        );

        // An update that would fit the book from before the bad message is not applied.
        let stale = btc.clone().frame("update", &[("45283.5", "9")], &[]);
        assert!(
            books(&feed(&mut a, &stale)).is_empty(),
            "{case}: a book before the snapshot"
        );
        // The other symbol goes on.
        eth.book(&mut a, "update", &[("2000.5", "3")], &[], case);

        // The fresh snapshot, then updates, flow again.
        btc.book(
            &mut a,
            "snapshot",
            &[("45300", "1"), ("45299.9", "2")],
            &[("45300.1", "0.5")],
            case,
        );
        btc.book(
            &mut a,
            "update",
            &[("45299.9", "0")],
            &[("45301", "4")],
            case,
        );
    }
}

/// Kraken checks each symbol on its own: a bad entry for one symbol in a
/// message does not hold back another symbol's good entry.
#[test]
fn a_bad_entry_resyncs_only_its_symbol() {
    let (mut a, _, mut eth) = synced();
    let bad = entry("BTC/USD", &[("0", "1")], &[], "1");
    let f = message(
        "update",
        &[bad, eth.entry("update", &[("2000.5", "4")], &[])],
    );
    let mut out = Vec::new();
    assert!(a.on_text(&f, t0(), &mut out).is_err());
    let btc: Symbol = "BTC/USD".parse().unwrap();
    assert_eq!(resyncs(&out, ResyncReason::Gap), [Some(&btc)]);
    eth.model.assert_top(&one_book(&out), 10, "the good entry");
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
