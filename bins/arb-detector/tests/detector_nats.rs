//! The real `arb-detector` binary against the real NATS at
//! nats://127.0.0.1:4222 (or `NATS_URL`), each test under its own subject
//! prefix: books in, one `open` and one `close` per episode out; a bad payload
//! is dead-lettered and the detector keeps going.
#![allow(unused_crate_dependencies)]

mod common;

use arb_contract::subject::StreamKind;
use arb_contract::{EpisodeState, Opportunity, OpportunityKind, Side};
use arb_testkit::{WAIT, wait_until};
use common::*;

#[tokio::test]
async fn cross_episode_opens_once_closes_once_and_survives_a_bad_payload() {
    let flags = [
        "--fee=sim-a=0.001,sim-b=0.002",
        "--min-net-edge-bps=5",
        "--edge-tolerance-bps=2",
        "--max-book-age=10s",
    ];
    let mut d = Detector::start("cross", &flags).await;
    let tb = &d.tb;
    let mut letters = subscribe(tb, "sys.dlq.detector-cross").await;

    // sim-a asks 100, sim-b bids 101: buy a, sell b. Net of fees:
    // 101 × 0.998 − 100 × 1.001 = 0.698 on 100 → 69.8 bp; gross 100 bp.
    // Then the same prices on new ticks (no message), then b's bid falls (close).
    let first = vec![
        book("sim-a", "BTC/USD", 0, ("99", "1"), ("100", "1")),
        book("sim-b", "BTC/USD", 10, ("101", "1"), ("102", "1")),
        book("sim-a", "BTC/USD", 20, ("99", "1"), ("100", "1")),
        book("sim-b", "BTC/USD", 30, ("101", "1"), ("102", "1")),
        book("sim-b", "BTC/USD", 40, ("101.01", "1"), ("102", "1")),
        book("sim-b", "BTC/USD", 50, ("100.2", "1"), ("102", "1")),
    ];
    publish_books(tb, &first).await;

    // A bad payload on a book subject.
    let bad_subject = tb.bus.subjects.with_prefix("md.book.sim-a.BTC-USD");
    tb.bus
        .client
        .publish(bad_subject.clone(), "this is not a book".into())
        .await
        .unwrap();
    tb.bus.client.flush().await.unwrap();

    // Then a second dislocation on ETH: it must still be detected.
    let second = vec![
        book("sim-a", "ETH/USD", 60, ("9", "2"), ("10", "2")),
        book("sim-b", "ETH/USD", 70, ("10.2", "1"), ("10.5", "1")),
    ];
    publish_books(tb, &second).await;

    // Messages arrive in the order the books were processed, so everything
    // the first books caused is in before the second episode's open.
    let mut got = Vec::new();
    loop {
        let o = next_opp(&mut d.opps, "an opportunity").await;
        let done = o.key.starts_with("ETH-USD") && o.state == EpisodeState::Open;
        got.push(o);
        if done {
            break;
        }
    }
    let btc: Vec<&Opportunity> = got
        .iter()
        .filter(|o| o.key.starts_with("BTC-USD"))
        .collect();
    let states: Vec<(&str, EpisodeState)> = btc.iter().map(|o| (o.key.as_str(), o.state)).collect();
    assert_eq!(
        states,
        vec![
            ("BTC-USD_sim-a_sim-b", EpisodeState::Open),
            ("BTC-USD_sim-a_sim-b", EpisodeState::Close)
        ],
        "exactly one open and one close, nothing per tick: {got:#?}"
    );
    let (open, close) = (btc[0], btc[1]);
    assert_eq!(open.episode_id, close.episode_id);
    assert_ne!(open.id, close.id);
    assert_eq!(open.kind, OpportunityKind::Cross);
    assert_eq!(open.net_edge_bps, dec("69.8"));
    assert_eq!(open.gross_edge_bps, dec("100"));
    assert_eq!(open.expected_profit, dec("0.698"));
    assert_eq!(open.notional, dec("100"));
    assert_eq!(open.currency, "USD");
    let legs: Vec<_> = open
        .legs
        .iter()
        .map(|l| (l.venue.as_str(), l.side, l.qty, l.vwap, l.fee_rate))
        .collect();
    assert_eq!(
        legs,
        [
            ("sim-a", Side::Buy, dec("1"), dec("100"), dec("0.001")),
            ("sim-b", Side::Sell, dec("1"), dec("101"), dec("0.002")),
        ],
        "buy on a, sell on b"
    );
    // Latency can be read off the message: book time, receive, publish.
    assert_eq!(open.book_ts, at_ms(10));
    let (rx, tx) = (open.received_ts.unwrap(), open.published_ts.unwrap());
    assert!(tx >= rx, "published before received");
    assert_eq!(close.book_ts, at_ms(50));
    assert_eq!(close.duration_ms, Some(40));
    // 101.01 × 0.998 − 100.1 = 0.70798: 70.798 bp, within the 2 bp tolerance
    // of 69.8 (no update) but the peak.
    assert_eq!(close.peak_edge_bps, Some(dec("70.798")));
    assert_eq!(close.opened_ts, Some(at_ms(10)));

    let eth = got.last().unwrap();
    assert_eq!(eth.key, "ETH-USD_sim-a_sim-b");
    assert_ne!(eth.episode_id, open.episode_id);

    // The bad payload was dead-lettered with its reason.
    let letter = next_letter(&mut letters, "a dead letter for the bad payload").await;
    assert_eq!(letter.service, "detector-cross");
    assert_eq!(letter.subject, bad_subject);
    assert!(letter.reason.contains("msgpack"), "{}", letter.reason);
    assert_eq!(letter.payload, b"this is not a book");

    // SIGTERM: the open ETH episode is closed, and the process exits 0.
    d.stop().await;
    let last = next_opp(&mut d.opps, "the close at shutdown").await;
    assert_eq!(
        (last.key.as_str(), last.state, last.episode_id),
        ("ETH-USD_sim-a_sim-b", EpisodeState::Close, eth.episode_id)
    );
    d.tb.cleanup().await;
}

#[tokio::test]
async fn triangular_episode_opens_and_closes() {
    let flags = [
        "--start-currency=USD",
        "--default-fee=0.001",
        "--min-net-edge-bps=5",
    ];
    let mut d = Detector::start("triangular", &flags).await;
    // USD → BTC (ask 100) → ETH (ask 0.05) → USD (bid 5.1): 200 bp gross,
    // 1.02 × 0.999³ → 169.4306 bp net; then ETH/USD's bid falls to 5.0.
    let books = vec![
        book("sim-c", "BTC/USD", 0, ("99", "1"), ("100", "1")),
        book("sim-c", "ETH/BTC", 0, ("0.049", "10"), ("0.05", "10")),
        book("sim-c", "ETH/USD", 0, ("5.1", "100"), ("5.2", "100")),
        book("sim-c", "ETH/USD", 10, ("5.0", "100"), ("5.2", "100")),
    ];
    publish_books(&d.tb, &books).await;
    let open = next_opp(&mut d.opps, "the triangular open").await;
    let close = next_opp(&mut d.opps, "the triangular close").await;
    assert_eq!(
        (open.state, close.state),
        (EpisodeState::Open, EpisodeState::Close)
    );
    assert_eq!(open.key, "sim-c_USD-BTC-ETH");
    assert_eq!(open.episode_id, close.episode_id);
    assert_eq!(open.net_edge_bps, dec("169.4306"));
    assert_eq!(open.gross_edge_bps, dec("200"));
    assert_eq!(open.legs.len(), 3);
    assert_eq!(close.duration_ms, Some(10));
    d.stop().await;
    d.tb.cleanup().await;
}

#[tokio::test]
async fn core_publish_opportunities_are_still_stored_by_the_arb_stream() {
    let flags = ["--core-publish", "--fee=sim-a=0.001,sim-b=0.002"];
    let mut d = Detector::start("cross", &flags).await;
    let tb = &d.tb;
    publish_books(
        tb,
        &[
            book("sim-a", "BTC/USD", 0, ("99", "1"), ("100", "1")),
            book("sim-b", "BTC/USD", 10, ("101", "1"), ("102", "1")),
        ],
    )
    .await;
    let open = next_opp(&mut d.opps, "the open").await;
    assert_eq!(
        (open.key.as_str(), open.state),
        ("BTC-USD_sim-a_sim-b", EpisodeState::Open)
    );
    let stream = tb
        .bus
        .js
        .get_stream(tb.bus.subjects.stream_name(StreamKind::Arb))
        .await
        .expect("the ARB stream exists");
    let subject = tb
        .bus
        .subjects
        .opportunity(OpportunityKind::Cross, "BTC-USD_sim-a_sim-b")
        .unwrap();
    // Nothing acks a core publish: the stream stores it on its own schedule.
    wait_until("the ARB stream stored the opportunity", WAIT, || async {
        stream
            .get_last_raw_message_by_subject(&subject)
            .await
            .is_ok()
    })
    .await;
    let stored = stream
        .get_last_raw_message_by_subject(&subject)
        .await
        .expect("the stored opportunity");
    let stored: Opportunity = arb_runtime::headers::decode(Some(&stored.headers), &stored.payload)
        .expect("stored opportunity decodes");
    assert_eq!(stored.id, open.id);
    assert_eq!(stored.net_edge_bps, dec("69.8"));
    d.stop().await;
    d.tb.cleanup().await;
}
