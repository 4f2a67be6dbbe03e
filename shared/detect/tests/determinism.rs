#![allow(unused_crate_dependencies)] // integration tests see every dependency of the crate
//! The detectors are pure: the same books (and feed states), fed through
//! fresh detectors, give the same opportunity messages byte for byte, ids
//! included, for the cross-venue and the triangular strategy alike. This is
//! what makes a replay or a backtest reproduce a live run.

use std::time::Duration;

use arb_contract::codec;
use arb_contract::time::Timestamp;
use arb_contract::{BookSnapshot, EpisodeState, FeedState, FeedStatus, Opportunity, Symbol};
use arb_detect::{DetectorConfig, Fees, StrategyKind, detector};
use arb_venues::sim::SimGenerator;
use rust_decimal::Decimal;

/// What a detector is fed.
enum Input {
    Book(BookSnapshot),
    Status(FeedStatus),
}

const VENUES: [&str; 3] = ["sim-a", "sim-b", "sim-c"];
const SYMBOLS: [&str; 3] = ["BTC/USD", "ETH/USD", "ETH/BTC"];
/// Books in the sequence (9 venue × symbol books per round).
const BOOKS: usize = 900;

fn start() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

/// Seeded sim books, with a resync of one venue after every 100 books, each
/// venue in turn (it closes that venue's episodes; its next book makes it
/// usable again).
fn inputs(seed: u64) -> Vec<Input> {
    let venues: Vec<String> = VENUES.iter().map(|v| (*v).to_owned()).collect();
    let symbols: Vec<Symbol> = SYMBOLS.iter().map(|s| s.parse().unwrap()).collect();
    let mut sim = SimGenerator::new(
        seed,
        &venues,
        &symbols,
        10,
        start(),
        Duration::from_millis(100),
    );
    let mut out = Vec::with_capacity(BOOKS + BOOKS / 100);
    for i in 0..BOOKS {
        if i > 0 && i % 100 == 0 {
            let venue = VENUES[(i / 100) % VENUES.len()];
            out.push(Input::Status(FeedStatus {
                id: arb_contract::ids::derive(sim.now(), &[b"resync", venue.as_bytes()]),
                ts: sim.now(),
                venue: venue.into(),
                symbol: None,
                state: FeedState::Resync,
                reason: None,
                detail: None,
            }));
        }
        out.push(Input::Book(sim.next_book()));
    }
    out
}

/// Low fees and threshold, so the sim's dislocations open many episodes.
fn config() -> DetectorConfig {
    DetectorConfig {
        min_net_edge_bps: Decimal::new(1, 0),
        fees: Fees::flat(Decimal::new(2, 4)),
        edge_tolerance_bps: Decimal::new(1, 0),
        ..DetectorConfig::default()
    }
}

/// What a fresh detector published for a sequence of inputs.
struct Run {
    /// Every message, then the closes at shutdown.
    opps: Vec<Opportunity>,
    /// The same, each encoded as it goes on the wire.
    bytes: Vec<Vec<u8>>,
    /// Messages the feeds' resyncs caused.
    on_status: usize,
}

fn run(strategy: StrategyKind, inputs: &[Input]) -> Run {
    let mut d = detector(strategy, config());
    let (mut opps, mut on_status) = (Vec::new(), 0);
    for input in inputs {
        match input {
            Input::Book(b) => opps.extend(d.on_book(b)),
            Input::Status(s) => {
                let closed = d.on_status(s);
                on_status += closed.len();
                opps.extend(closed);
            }
        }
    }
    opps.extend(d.close_all());
    let bytes = opps
        .iter()
        .map(|o| codec::encode(o).expect("an opportunity encodes").to_vec())
        .collect();
    Run {
        opps,
        bytes,
        on_status,
    }
}

fn count(opps: &[Opportunity], state: EpisodeState) -> usize {
    opps.iter().filter(|o| o.state == state).count()
}

#[test]
fn same_books_give_byte_identical_opportunities_ids_included() {
    let books = inputs(42);
    let other_seed = inputs(7);
    for strategy in [StrategyKind::Cross, StrategyKind::Triangular] {
        let first = run(strategy, &books);
        let second = run(strategy, &books);
        let opps = &first.opps;
        let (open, update, close) = (
            count(opps, EpisodeState::Open),
            count(opps, EpisodeState::Update),
            count(opps, EpisodeState::Close),
        );
        // A sequence that exercises every path: episodes open, update past
        // the tolerance, close (on their own, on the resync, at shutdown).
        assert!(
            open >= 10 && update >= 10 && close == open,
            "{strategy:?}: too little happened to show anything: {open} open, {update} update, {close} close"
        );
        assert!(
            first.on_status > 0,
            "{strategy:?}: the resyncs closed nothing"
        );
        eprintln!(
            "{strategy:?}: {open} open, {update} update, {close} close ({} on a resync)",
            first.on_status
        );
        // Every message has an id of its own; episodes have theirs.
        let mut ids: Vec<_> = opps.iter().map(|o| o.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(
            ids.len(),
            opps.len(),
            "{strategy:?}: two messages share an id"
        );
        let mut episodes: Vec<_> = opps.iter().map(|o| o.episode_id).collect();
        episodes.sort();
        episodes.dedup();
        assert_eq!(episodes.len(), open, "{strategy:?}: one id per episode");

        assert_eq!(first.bytes.len(), second.bytes.len(), "{strategy:?}");
        for (i, (a, b)) in first.bytes.iter().zip(&second.bytes).enumerate() {
            assert!(
                a == b,
                "{strategy:?}: message {i} differs between two runs on the same books:\n{:?}\n{:?}",
                first.opps[i],
                second.opps[i]
            );
        }
        // Not a constant: other books give other messages.
        assert_ne!(
            first.bytes,
            run(strategy, &other_seed).bytes,
            "{strategy:?}: another seed gave the same messages"
        );
    }
}
