use super::*;
use crate::testing::{Model, Px, assert_gap, books, feed, one_book, settings, t0};

fn adapter() -> BinanceAdapter {
    BinanceAdapter::new(
        "ws://stream/",
        "ws://api",
        &settings(&["BTC/USDT", "ETH/USDT"]),
    )
}

/// A `depthUpdate` on the combined stream; levels are JSON as given.
fn event(symbol: &str, first: u64, last: u64, bids: Value, asks: Value) -> String {
    json!({
        "stream": format!("{}@depth@100ms", symbol.to_ascii_lowercase()),
        "data": {"e": "depthUpdate", "E": 1_767_225_600_000u64 + last, "s": symbol,
                 "U": first, "u": last, "b": bids, "a": asks}
    })
    .to_string()
}

fn levels(ls: &[Px]) -> Value {
    json!(ls.iter().map(|(p, q)| [p, q]).collect::<Vec<_>>())
}

/// The WebSocket API's reply to `depth`.
fn reply(last_update_id: u64, bids: &[Px], asks: &[Px]) -> ApiResult {
    Ok(json!({"id": "x", "status": 200, "rateLimits": [],
              "result": {"lastUpdateId": last_update_id, "bids": levels(bids), "asks": levels(asks)}})
    .to_string())
}

/// The symbols whose snapshot is asked for, with their delays.
fn snapshot_requests(out: &[Action]) -> Vec<(&str, Duration)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Api {
                key,
                request,
                delay,
            } => {
                let r: Value = serde_json::from_str(request).unwrap();
                assert_eq!(r["method"], "depth");
                assert_eq!(r["params"]["symbol"], key.as_str());
                Some((key.as_str(), *delay))
            }
            _ => None,
        })
        .collect()
}

fn snapshot(a: &mut BinanceAdapter, key: &str, reply: ApiResult) -> Vec<Action> {
    let mut out = Vec::new();
    a.on_api(key, reply, t0(), &mut out);
    out
}

/// A symbol on the stream: the update id its book is at, the model of it,
/// and the bids of the events sent before its snapshot (by last update id).
struct Sym {
    wire: &'static str,
    last: u64,
    model: Model,
    buffered: Vec<(u64, Vec<Px<'static>>)>,
}

impl Sym {
    /// Not synced yet: its first snapshot sets `last`.
    fn new(wire: &'static str) -> Self {
        Sym {
            wire,
            last: 0,
            model: Model::new(1000),
            buffered: Vec::new(),
        }
    }

    /// Sends an event before the book is synced: nothing is published; the
    /// next snapshot it is newer than brings it in.
    #[track_caller]
    fn buffer(
        &mut self,
        a: &mut BinanceAdapter,
        ids: (u64, u64),
        bids: &[Px<'static>],
        case: &str,
    ) {
        let f = event(self.wire, ids.0, ids.1, levels(bids), json!([]));
        assert!(
            books(&feed(a, &f)).is_empty(),
            "{case}: a book before the snapshot"
        );
        self.buffered.push((ids.1, bids.to_vec()));
    }

    /// Answers its snapshot request with a book at `snapshot_id`: the
    /// adapter publishes it with the buffered events newer than it applied.
    /// Returns the update id the book is at, where its next event goes on from.
    #[track_caller]
    fn snapshot(
        &mut self,
        a: &mut BinanceAdapter,
        snapshot_id: u64,
        bids: &[Px],
        asks: &[Px],
        case: &str,
    ) -> u64 {
        self.model.snapshot(bids, asks);
        for (last, bids) in std::mem::take(&mut self.buffered) {
            if last > snapshot_id {
                self.model.update(&bids, &[]);
            }
        }
        let b = one_book(&snapshot(a, self.wire, reply(snapshot_id, bids, asks)));
        self.model.assert_top(&b, 10, case);
        self.last = b.sequence.expect("a Binance book has an update id");
        self.last
    }

    /// Sends its next event, one id long: the adapter publishes the model's
    /// book, changed the same way, at that id.
    #[track_caller]
    fn book(&mut self, a: &mut BinanceAdapter, bids: &[Px], asks: &[Px], case: &str) {
        self.last += 1;
        self.model.update(bids, asks);
        let f = event(self.wire, self.last, self.last, levels(bids), levels(asks));
        let b = one_book(&feed(a, &f));
        assert_eq!(b.sequence, Some(self.last), "{case}");
        assert_eq!(
            b.exchange_ts,
            chrono::DateTime::from_timestamp_millis(1_767_225_600_000 + self.last as i64)
        );
        self.model.assert_top(&b, 10, case);
    }
}

/// Connected, BTC/USDT synced at update id 104 and ETH/USDT at 50.
fn synced() -> (BinanceAdapter, Sym, Sym) {
    let mut a = adapter();
    assert_eq!(
        a.url(),
        "ws://stream/stream?streams=btcusdt@depth@100ms/ethusdt@depth@100ms"
    );
    let mut out = Vec::new();
    a.on_connect(&mut out);
    assert_eq!(
        snapshot_requests(&out),
        [("BTCUSDT", Duration::ZERO), ("ETHUSDT", Duration::ZERO)]
    );
    // Buffered: 90..95 is older than the snapshot, 96..104 bridges it.
    let mut btc = Sym::new("BTCUSDT");
    btc.buffer(&mut a, (90, 95), &[("99", "9")], "BTC");
    btc.buffer(&mut a, (96, 104), &[("98", "8")], "BTC");
    let at = btc.snapshot(&mut a, 100, &[("100", "1")], &[("101", "1")], "BTC");
    assert_eq!(at, 104, "96..104 applied on the snapshot");
    let mut eth = Sym::new("ETHUSDT");
    assert_eq!(
        eth.snapshot(&mut a, 50, &[("10", "1")], &[("11", "2")], "ETH"),
        50
    );
    (a, btc, eth)
}

#[test]
fn synced_events_apply_in_order_and_a_skipped_id_is_a_gap() {
    let (mut a, mut btc, _) = synced();
    btc.book(&mut a, &[("100", "0")], &[("100.5", "2")], "applied");
    // 106 is missing.
    let out = feed(
        &mut a,
        &event("BTCUSDT", 107, 107, levels(&[("97", "1")]), json!([])),
    );
    assert_gap(&out, Some("BTC/USDT"), "skipped id");
    assert_eq!(snapshot_requests(&out), [("BTCUSDT", Duration::ZERO)]);
}

/// The rule: an event whose ids are spent but whose levels cannot be
/// applied is a gap for its symbol; no book of it goes out until a
/// snapshot taken after that event.
#[test]
fn an_unusable_depth_event_is_a_gap_for_its_symbol() {
    let good = json!(["97", "1"]);
    // (case, U, u, bids, asks): every event spends the ids up to 106.
    let cases: [(&str, u64, u64, Value, Value); 7] = [
        (
            "a price that is no number",
            105,
            106,
            json!([good, ["abc", "1"]]),
            json!([]),
        ),
        (
            "a zero price",
            105,
            106,
            json!([good, ["0", "1"]]),
            json!([]),
        ),
        (
            "a negative price",
            105,
            106,
            json!([]),
            json!([["-101", "1"]]),
        ),
        (
            "a negative quantity",
            105,
            106,
            json!([good]),
            json!([["101", "-1"]]),
        ),
        (
            "a level of three values",
            105,
            106,
            json!([["97", "1", "2"]]),
            json!([]),
        ),
        (
            "a level that is no pair",
            105,
            106,
            json!([good, "97"]),
            json!([]),
        ),
        ("U after u", 106, 105, json!([good]), json!([])),
    ];
    for (case, first, last, bids, asks) in cases {
        let (mut a, mut btc, mut eth) = synced();
        let mut out = Vec::new();
        let bad = event("BTCUSDT", first, last, bids, asks);
        assert!(
            a.on_text(&bad, t0(), &mut out).is_err(),
            "{case}: reported as a bad frame"
        );
        assert_gap(&out, Some("BTC/USDT"), case);
        assert_eq!(
            snapshot_requests(&out),
            [("BTCUSDT", Duration::ZERO)],
            "{case}"
        );

        // A snapshot from before the unusable event cannot be brought past it.
        let out = snapshot(&mut a, "BTCUSDT", reply(105, &[("100", "1")], &[]));
        assert!(
            books(&out).is_empty(),
            "{case}: a book from before the gap: {out:?}"
        );
        assert_eq!(snapshot_requests(&out).len(), 1, "{case}: another snapshot");
        // Events after it wait for the snapshot; the other symbol goes on.
        btc.buffer(&mut a, (107, 107), &[("96", "1")], case);
        eth.book(&mut a, &[("10.5", "1")], &[], case);

        // A snapshot taken after the unusable event rebuilds the book, with
        // the event buffered since.
        let at = btc.snapshot(&mut a, 106, &[("200", "1")], &[("201", "1")], case);
        assert_eq!(at, 107, "{case}");
        btc.book(&mut a, &[("199", "2")], &[("201", "0")], case);
    }
}

#[test]
fn frames_that_name_no_book_of_ours_change_nothing() {
    let (mut a, _, _) = synced();
    for (frame, unknown) in [
        ("{", false),
        (r#"{"result":null,"id":1}"#, false),
        (r#"{"foo":1}"#, true),
        (r#"{"e":"trade","E":1,"s":"BTCUSDT","U":1,"u":1}"#, true),
    ] {
        let mut out = Vec::new();
        match a.on_text(frame, t0(), &mut out) {
            Ok(()) => assert!(!unknown, "{frame}"),
            Err(e) => assert_eq!(matches!(e, FrameError::Unknown(_)), unknown, "{frame}: {e}"),
        }
        assert!(out.is_empty(), "{frame}: {out:?}");
    }
    // Another symbol's event, unusable or not, is none of our books' business.
    let mut out = Vec::new();
    let f = event("BNBBTC", 1, 2, json!([["0", "1"]]), json!([]));
    assert!(matches!(
        a.on_text(&f, t0(), &mut out),
        Err(FrameError::Invalid(_))
    ));
    assert!(out.is_empty(), "{out:?}");
}
