//! Coinbase Advanced Trade `level2` against a mock server, with the feed
//! publishing to the real NATS.
#![allow(unused_crate_dependencies)]

mod common;

use arb_contract::BookSnapshot;
use arb_contract::model::{AuditEvent, FeedState, ResyncReason};
use common::*;
use serde_json::{Value, json};

/// One `l2_data` event; prices and quantities are written as given.
fn event(kind: &str, product: &str, bids: &[Px], asks: &[Px]) -> Value {
    let side = |side, ls: &[Px]| {
        let ups = ls.iter().map(move |(p, q)| {
            json!({"side": side, "event_time": "2026-01-01T00:00:00Z", "price_level": p, "new_quantity": q})
        });
        ups.collect::<Vec<_>>()
    };
    let updates = [side("bid", bids), side("offer", asks)].concat();
    json!({"type": kind, "product_id": product, "updates": updates})
}

fn message(seq: u64, events: &[Value]) -> String {
    json!({"channel": "l2_data", "client_id": "", "timestamp": "2026-01-01T00:00:01.5Z", "sequence_num": seq,
           "events": events})
    .to_string()
}

/// One message of a script: `(type, product, bids, asks)`.
type Step = (&'static str, &'static str, &'static [Px], &'static [Px]);

/// The mock venue's side of a connection: the next `sequence_num`, and a
/// model of each product's book as its messages describe it.
struct Venue {
    ws: Ws,
    seq: u64,
    models: std::collections::HashMap<&'static str, Model>,
}

impl Venue {
    fn new(ws: Ws, seq: u64) -> Venue {
        let models = ["BTC-USD", "ETH-USD"].map(|p| (p, Model::new(1000))).into();
        Venue { ws, seq, models }
    }

    /// The next message, with `events`; the models do not follow.
    async fn send(&mut self, events: &[Value]) {
        send(&mut self.ws, message(self.seq, events)).await;
        self.seq += 1;
    }

    /// `product`'s snapshot or update as the next message; its model follows.
    async fn l2(&mut self, kind: &str, product: &'static str, bids: &[Px], asks: &[Px]) {
        let m = self.models.get_mut(product).unwrap();
        m.change(kind, bids, asks);
        self.send(&[event(kind, product, bids, asks)]).await;
    }

    /// The same, and the feed publishes the product's book as modelled at
    /// that `sequence_num`.
    async fn book(&mut self, h: &mut Harness, (kind, product, bids, asks): Step) -> BookSnapshot {
        self.l2(kind, product, bids, asks).await;
        let b = self.published(h, product, self.seq - 1).await;
        assert_eq!(
            b.exchange_ts,
            Some("2026-01-01T00:00:01.5Z".parse().unwrap())
        );
        b
    }

    /// Sends each step in turn, and the feed publishes each one's book.
    async fn books(&mut self, h: &mut Harness, steps: &[Step]) {
        for &step in steps {
            self.book(h, step).await;
        }
    }

    /// The book of `product` at `seq` the feed publishes: as modelled.
    async fn published(&self, h: &mut Harness, product: &str, seq: u64) -> BookSnapshot {
        let symbol = product.replace('-', "/");
        let what = format!("{symbol} at {seq}");
        let b = h
            .book(&what, |b| {
                b.symbol.to_string() == symbol && b.sequence == Some(seq)
            })
            .await;
        assert_eq!(b.venue, "coinbase");
        self.models[product].assert_matches(&b, 10);
        b
    }
}

/// The feed (re)subscribes: `level2` for every product, then `heartbeats`
/// unless it is a resubscription after a gap.
async fn expect_subscribe(ws: &mut Ws, kinds: &[&str]) {
    for kind in kinds {
        let m = recv_json(ws).await;
        assert_eq!(
            (m["type"].as_str(), m["channel"].as_str()),
            (Some(*kind), Some("level2")),
            "{m}"
        );
        assert_eq!(m["product_ids"], json!(["BTC-USD", "ETH-USD"]));
    }
    if kinds == ["subscribe"] {
        let hb = recv_json(ws).await;
        assert_eq!(hb["channel"], "heartbeats", "{hb}");
    }
}

/// A feed on BTC/USD and ETH/USD connected to the mock server, subscribed.
async fn subscribed() -> (Harness, MockServer, Ws) {
    let mut h = Harness::new().await;
    let mut server = MockServer::start().await;
    h.start_venue(
        "coinbase",
        "BTC/USD,ETH/USD",
        &["--coinbase-url", &server.url],
    );
    let (_, mut ws) = server.accept().await;
    expect_subscribe(&mut ws, &["subscribe"]).await;
    send(&mut ws, json!({"channel":"subscriptions","timestamp":"2026-01-01T00:00:00Z","sequence_num":0,"events":[{"subscriptions":{"level2":["BTC-USD","ETH-USD"],"heartbeats":["heartbeats"]}}]}).to_string()).await;
    h.status("subscribed", |s| s.state == FeedState::Subscribed)
        .await;
    (h, server, ws)
}

#[tokio::test]
async fn snapshot_updates_reset_gap_resubscribe_and_reconnect() {
    let (mut h, mut server, ws) = subscribed().await;
    let mut cb = Venue::new(ws, 1);
    let (bids, asks) = (
        &[("100.00", "1"), ("99.50", "2")],
        &[("100.50", "3"), ("101", "1")],
    );
    cb.l2("snapshot", "BTC-USD", bids, asks).await;
    cb.l2(
        "update",
        "BTC-USD",
        &[("100.00", "0")],
        &[("100.25", "0.5")],
    )
    .await;
    cb.l2("snapshot", "ETH-USD", &[("10", "1")], &[("11", "1")])
        .await;
    send(&mut cb.ws, json!({"channel":"heartbeats","timestamp":"2026-01-01T00:00:02Z","sequence_num":4,"events":[{"current_time":"x","heartbeat_counter":1}]}).to_string()).await;
    cb.seq += 1;
    cb.book(&mut h, ("update", "BTC-USD", &[("99.75", "4")], &[]))
        .await;
    // Published before BTC's update 5, so already among what was seen.
    let e = h.books_seen().find(|b| b.symbol.to_string() == "ETH/USD");
    cb.models["ETH-USD"].assert_matches(e.expect("ETH book"), 10);

    // A snapshot resets the book: nothing of the old levels survives.
    let b = cb
        .book(
            &mut h,
            ("snapshot", "BTC-USD", &[("90", "1")], &[("91", "1")]),
        )
        .await;
    assert_eq!((b.bids, b.asks), (vec![lv("90", "1")], vec![lv("91", "1")]));

    // A sequence gap (7, 8 lost): resync and resubscribe.
    cb.seq += 2;
    cb.send(&[event("update", "BTC-USD", &[("89", "1")], &[])])
        .await;
    h.resync(None, ResyncReason::Gap).await;
    expect_subscribe(&mut cb.ws, &["unsubscribe", "subscribe"]).await;
    cb.send(&[event("update", "BTC-USD", &[("88", "1")], &[])])
        .await;
    cb.book(
        &mut h,
        ("snapshot", "BTC-USD", &[("95", "1")], &[("96", "2")]),
    )
    .await;
    assert_eq!(
        h.books_since_resync().len(),
        1,
        "no book between the gap and the new snapshot"
    );

    // Garbage is audited, the connection goes on.
    send(&mut cb.ws, "<html>502</html>").await;
    let a = h.audit("garbage", |a| a.kind == "garbage_frame").await;
    assert_eq!(a.payload.as_deref(), Some(&b"<html>502</html>"[..]));

    // Dropped mid-stream: reconnect and resubscribe; sequence numbers start over.
    drop(cb);
    h.status("disconnected", |s| s.state == FeedState::Disconnected)
        .await;
    let (_, mut ws) = server.accept().await;
    expect_subscribe(&mut ws, &["subscribe"]).await;
    let mut cb = Venue::new(ws, 0);
    cb.l2("snapshot", "BTC-USD", &[("70", "1")], &[("71", "1")])
        .await;
    let b = cb
        .book(&mut h, ("update", "BTC-USD", &[], &[("70.5", "1")]))
        .await;
    assert_eq!(
        (b.bids, b.asks),
        (vec![lv("70", "1")], vec![lv("70.5", "1"), lv("71", "1")])
    );
    h.finish().await;
}

/// The rule, with Coinbase's multi-event messages: a message whose first
/// event is good and whose second cannot be applied (a price that is no
/// number) spent its sequence number, so it is a gap: resync, resubscribe,
/// and nothing of it is applied, not even the good event; no book until a
/// product's fresh snapshot.
#[tokio::test]
async fn a_message_with_an_unusable_event_is_a_gap_and_applies_none_of_it() {
    let (mut h, _server, ws) = subscribed().await;
    let mut cb = Venue::new(ws, 1);
    cb.books(
        &mut h,
        &[
            ("snapshot", "BTC-USD", &[("100", "1")], &[("101", "1")]),
            ("snapshot", "ETH-USD", &[("10", "1")], &[("11", "1")]),
        ],
    )
    .await;

    let good = event("update", "BTC-USD", &[("100.5", "7.77")], &[]);
    let bad = message(
        cb.seq,
        &[good, event("update", "ETH-USD", &[], &[("x", "1")])],
    );
    send(&mut cb.ws, bad.clone()).await;
    cb.seq += 1;
    h.resync(None, ResyncReason::Gap).await;
    expect_subscribe(&mut cb.ws, &["unsubscribe", "subscribe"]).await;
    let audited = |a: &AuditEvent| a.payload.as_deref() == Some(bad.as_bytes());
    h.find("the unusable message audited", audited).await;

    // Updates of the old subscription wait for the fresh snapshots.
    cb.send(&[event("update", "BTC-USD", &[("100.25", "1")], &[])])
        .await;
    cb.books(
        &mut h,
        &[
            ("snapshot", "BTC-USD", &[("100", "2")], &[("100.75", "1")]),
            ("update", "BTC-USD", &[("100.5", "3")], &[]),
            ("snapshot", "ETH-USD", &[("10.5", "1")], &[("11", "3")]),
        ],
    )
    .await;
    let since: Vec<u64> = h
        .books_since_resync()
        .iter()
        .map(|b| b.sequence.unwrap())
        .collect();
    assert_eq!(since, [5, 6, 7], "books only from the fresh snapshots on");
    let applied = h
        .books_seen()
        .any(|b| b.bids.iter().any(|l| l.qty == d("7.77")));
    assert!(
        !applied,
        "the good event of the unusable message was not applied"
    );
    h.finish().await;
}
