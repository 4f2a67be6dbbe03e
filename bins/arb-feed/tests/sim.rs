//! The `sim` venue, run as the real binary against the real NATS.
#![allow(unused_crate_dependencies)]

mod common;

use std::collections::BTreeSet;

use arb_contract::model::{BookSnapshot, FeedState};
use arb_testkit::Proc;
use common::*;

/// The `arb-feed` binary on the harness's bus, simulating.
fn feed(h: &Harness, args: &[&str]) -> Proc {
    let sim = ["--venue", "sim"].iter().chain(args).map(|s| s.to_string());
    let args: Vec<String> = h.bus_args().into_iter().chain(sim).collect();
    Proc::spawn("arb-feed", &args, &[("RUST_LOG", "warn".into())])
}

/// Runs the simulator to `--count` books and returns them with their ids cleared.
async fn run_sim(seed: &str, count: usize) -> Vec<BookSnapshot> {
    let mut h = Harness::new().await;
    let n = count.to_string();
    let mut feed = feed(&h, &["--seed", seed, "--count", &n, "--rate", "0"]);
    let mut books = Vec::new();
    while books.len() < count {
        if let arb_contract::Decoded::Book(mut b) = h.next().await {
            b.id = uuid::Uuid::nil();
            books.push(b);
        }
    }
    let status = feed
        .exit_within(WAIT)
        .await
        .expect("arb-feed did not stop after --count");
    assert!(status.success(), "arb-feed exited with {status}");
    h.finish().await;
    books
}

#[tokio::test]
async fn same_seed_gives_the_same_books() {
    let (a, b, c) = tokio::join!(run_sim("7", 90), run_sim("7", 90), run_sim("8", 90));
    assert_eq!(a.len(), 90);
    assert_eq!(a, b, "the same seed must give the same books");
    assert_ne!(a, c, "another seed gives other books");
    let venues: BTreeSet<&str> = a.iter().map(|b| b.venue.as_str()).collect();
    assert_eq!(venues, BTreeSet::from(["sim-a", "sim-b", "sim-c"]));
    let symbols: BTreeSet<String> = a.iter().map(|b| b.symbol.to_string()).collect();
    assert_eq!(
        symbols,
        BTreeSet::from([
            "BTC/USD".to_owned(),
            "ETH/BTC".to_owned(),
            "ETH/USD".to_owned()
        ])
    );
    assert!(
        a.iter()
            .all(|b| b.bids.len() == 10 && b.asks.len() == 10 && !b.is_crossed())
    );
    assert_eq!(
        a[0].exchange_ts,
        Some("2026-01-01T00:00:00Z".parse().unwrap()),
        "event time starts at --sim-start"
    );
}

#[tokio::test]
async fn sigterm_stops_the_feed_cleanly() {
    let mut h = Harness::new().await;
    let mut feed = feed(&h, &["--rate", "20", "--sim-venues", "sim-x"]);
    h.book("a sim book", |b| b.venue == "sim-x").await;
    let status = feed.terminate().await;
    assert!(
        status.success(),
        "arb-feed exited with {status}: {}",
        feed.log_text()
    );
    h.status("disconnected on shutdown", |s| {
        s.venue == "sim-x" && s.state == FeedState::Disconnected
    })
    .await;
    h.finish().await;
}
