use super::*;
use crate::testing::{Model, Px, assert_gap, books, one_book, sends, settings, t0};
use serde_json::Value;

const TS: &str = "2023-02-09T20:32:50.714964855Z";

/// An `l2_data` event: `(side, price, qty)` updates, values as given.
fn event(kind: &str, product: &str, ups: &[(&str, &str, &str)]) -> Value {
    let updates: Vec<_> = ups
        .iter()
        .map(|(s, p, q)| json!({"side": s, "event_time": TS, "price_level": p, "new_quantity": q}))
        .collect();
    json!({"type": kind, "product_id": product, "updates": updates})
}

/// `(price, qty)` levels as `(side, price, qty)` updates.
fn ups<'a>(bids: &[Px<'a>], asks: &[Px<'a>]) -> Vec<(&'a str, &'a str, &'a str)> {
    let side = |s, ls: &[Px<'a>]| ls.iter().map(move |(p, q)| (s, *p, *q)).collect::<Vec<_>>();
    [side("bid", bids), side("offer", asks)].concat()
}

/// A connected adapter, the `sequence_num` of the next message, and a
/// model of each product's book; `case` names the scenario in failures.
struct Stream {
    a: CoinbaseAdapter,
    seq: u64,
    models: std::collections::HashMap<&'static str, Model>,
    case: &'static str,
}

impl Stream {
    fn new(case: &'static str) -> Stream {
        let cfg = settings(&["BTC-USD", "ETH-USD"]);
        let mut a = CoinbaseAdapter::new("ws://x", &cfg);
        let mut out = Vec::new();
        a.on_connect(&mut out);
        let s = sends(&out);
        assert_eq!(
            s[0],
            json!({"type": "subscribe", "product_ids": ["BTC-USD", "ETH-USD"], "channel": "level2"})
        );
        assert_eq!(s[1]["channel"], "heartbeats");
        let models = ["BTC-USD", "ETH-USD"].map(|p| (p, Model::new(1000))).into();
        Stream {
            a,
            seq: 0,
            models,
            case,
        }
    }

    /// The next message, with `events`, written at `ts`: how the adapter
    /// took it, and what it asked for.
    fn send_at(&mut self, ts: &str, events: &[Value]) -> (FrameResult, Vec<Action>) {
        let msg = json!({"channel": "l2_data", "client_id": "", "timestamp": ts,
                         "sequence_num": self.seq, "events": events});
        self.seq += 1;
        let mut out = Vec::new();
        (self.a.on_text(&msg.to_string(), t0(), &mut out), out)
    }

    #[track_caller]
    fn send(&mut self, events: &[Value]) -> Vec<Action> {
        match self.send_at(TS, events) {
            (Ok(()), out) => out,
            (Err(e), _) => panic!("{}: {e}", self.case),
        }
    }

    /// `product`'s snapshot or update as the next message: it publishes
    /// the product's book as modelled, changed the same way.
    #[track_caller]
    fn book(&mut self, kind: &str, product: &'static str, bids: &[Px], asks: &[Px]) {
        let b = one_book(&self.send(&[event(kind, product, &ups(bids, asks))]));
        assert_eq!(b.sequence, Some(self.seq - 1), "{}", self.case);
        assert_eq!(b.exchange_ts, crate::wire::parse_ts(TS), "{}", self.case);
        let m = self.models.get_mut(product).unwrap();
        m.apply(kind, bids, asks);
        m.assert_top(&b, 10, self.case);
    }

    /// The next message publishes nothing.
    #[track_caller]
    fn quiet(&mut self, events: &[Value]) {
        let out = self.send(events);
        assert!(books(&out).is_empty(), "{}: {out:?}", self.case);
    }
}

/// The actions of a gap: resync for the whole connection, level2
/// resubscribed, no book.
#[track_caller]
fn assert_resubscribed(out: &[Action], case: &str) {
    assert_gap(out, None, case);
    let sent: Vec<_> = sends(out)
        .iter()
        .map(|s| (s["type"].clone(), s["channel"].clone()))
        .collect();
    assert_eq!(
        sent,
        [
            (json!("unsubscribe"), json!("level2")),
            (json!("subscribe"), json!("level2"))
        ],
        "{case}"
    );
}

#[test]
fn snapshot_resets_updates_apply_gap_resubscribes() {
    let mut s = Stream::new("level2");
    s.quiet(&[event("update", "BTC-USD", &[("bid", "1", "1")])]);
    s.book("snapshot", "BTC-USD", &[("100", "1")], &[("101", "2")]);
    s.book("update", "BTC-USD", &[("100.5", "3")], &[("101", "0")]);
    // A second snapshot replaces everything.
    s.book("snapshot", "BTC-USD", &[("90", "1")], &[]);
    // Three messages lost.
    s.seq += 3;
    let out = s.send(&[event("update", "BTC-USD", &[("bid", "91", "1")])]);
    assert_resubscribed(&out, "a sequence gap");
    s.quiet(&[event("update", "BTC-USD", &[("bid", "92", "1")])]);
    s.book("snapshot", "BTC-USD", &[("95", "1")], &[]);
    // An old number is skipped, garbage and unknown channels are errors.
    s.seq -= 1;
    s.quiet(&[event("update", "BTC-USD", &[("bid", "96", "1")])]);
    let mut out = Vec::new();
    assert!(s.a.on_text("{{{", t0(), &mut out).is_err());
    let ticker = r#"{"channel":"ticker","sequence_num":10,"events":[]}"#;
    assert!(matches!(
        s.a.on_text(ticker, t0(), &mut out),
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
    let btc = |ups: &[(&str, &str, &str)]| event("update", "BTC-USD", ups);
    // (case, the message's time, its events)
    let cases: [(&str, &str, Vec<Value>); 9] = [
        (
            "a price that is no number",
            TS,
            vec![btc(&[("bid", "100.25", "1"), ("bid", "abc", "1")])],
        ),
        ("a zero price", TS, vec![btc(&[("offer", "0", "1")])]),
        (
            "a negative quantity",
            TS,
            vec![btc(&[("bid", "100.25", "-2")])],
        ),
        (
            "an unknown side",
            TS,
            vec![btc(&[("middle", "100.25", "1")])],
        ),
        (
            "an unknown product",
            TS,
            vec![event("update", "DOGE-USD", &[("bid", "1", "1")])],
        ),
        (
            "an unknown event type",
            TS,
            vec![event("delta", "BTC-USD", &[("bid", "1", "1")])],
        ),
        (
            "an unreadable time",
            "noon",
            vec![btc(&[("bid", "99", "1")])],
        ),
        (
            "a good event, then a bad one",
            TS,
            vec![good.clone(), btc(&[("bid", "-1", "1")])],
        ),
        (
            "a good event, then another product's bad one",
            TS,
            vec![
                good.clone(),
                event("update", "ETH-USD", &[("offer", "x", "1")]),
            ],
        ),
    ];
    for (case, ts, events) in cases {
        let mut s = Stream::new(case);
        s.book(
            "snapshot",
            "BTC-USD",
            &[("100", "1"), ("99.5", "2")],
            &[("101", "1")],
        );
        s.book("snapshot", "ETH-USD", &[("10", "1")], &[("11", "1")]);
        s.book("update", "BTC-USD", &[("100", "3")], &[]);

        let (taken, out) = s.send_at(ts, &events);
        assert!(taken.is_err(), "{case}: reported as a bad frame");
        assert_resubscribed(&out, case);
        // Updates of the old subscription are not applied, to either product.
        s.quiet(&[
            good.clone(),
            event("update", "ETH-USD", &[("bid", "10", "2")]),
        ]);

        // Fresh snapshots, then updates, flow again; nothing of the unusable
        // message (BTC 100.5 x 7) is in them.
        s.book("snapshot", "BTC-USD", &[("100", "2")], &[("100.75", "1")]);
        s.book("update", "BTC-USD", &[("100.25", "1")], &[]);
        s.quiet(&[event("update", "ETH-USD", &[("bid", "10", "2")])]);
        s.book("snapshot", "ETH-USD", &[("10.5", "1")], &[("11", "3")]);
    }
}

/// Every event of a good message is applied, each publishing its product's book.
#[test]
fn a_message_of_several_good_events_applies_them_all() {
    let mut s = Stream::new("several events");
    let out = s.send(&[
        event("snapshot", "BTC-USD", &[("bid", "100", "1")]),
        event("snapshot", "ETH-USD", &[("offer", "11", "1")]),
        event(
            "update",
            "BTC-USD",
            &[("bid", "100", "0"), ("bid", "99", "2")],
        ),
    ]);
    let got: Vec<String> = books(&out).iter().map(|b| b.symbol.to_string()).collect();
    assert_eq!(got, ["BTC/USD", "ETH/USD", "BTC/USD"]);
    let (mut btc, mut eth) = (Model::new(1000), Model::new(1000));
    btc.apply("snapshot", &[("100", "1")], &[]);
    eth.apply("snapshot", &[], &[("11", "1")]);
    btc.assert_top(books(&out)[0], 10, "BTC snapshot");
    eth.assert_top(books(&out)[1], 10, "ETH snapshot");
    btc.apply("update", &[("100", "0"), ("99", "2")], &[]);
    btc.assert_top(books(&out)[2], 10, "BTC update");
}
