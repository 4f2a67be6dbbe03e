#![allow(unused_crate_dependencies)] // integration tests see every dependency of the crate
//! The simulator is a pure function of its seed: one seed gives the same
//! books byte for byte on the wire, ids included (they derive from the seed,
//! venue, symbol and sequence, not from a clock or a random source), and
//! another seed gives other books with other ids.

use std::collections::HashSet;
use std::time::Duration;

use arb_contract::codec;
use arb_contract::{BookSnapshot, Symbol};
use arb_venues::sim::SimGenerator;

const BOOKS: usize = 600;

fn books(seed: u64) -> Vec<BookSnapshot> {
    let venues: Vec<String> = ["sim-a", "sim-b", "sim-c"].map(String::from).to_vec();
    let symbols: Vec<Symbol> = ["BTC/USD", "ETH/USD", "ETH/BTC"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let mut sim = SimGenerator::new(
        seed,
        &venues,
        &symbols,
        10,
        "2026-01-01T00:00:00Z".parse().unwrap(),
        Duration::from_millis(100),
    );
    (0..BOOKS).map(|_| sim.next_book()).collect()
}

fn encoded(books: &[BookSnapshot]) -> Vec<Vec<u8>> {
    books
        .iter()
        .map(|b| codec::encode(b).expect("a book encodes").to_vec())
        .collect()
}

#[test]
fn one_seed_gives_byte_identical_books_ids_included() {
    let (first, second) = (books(42), books(42));
    let (a, b) = (encoded(&first), encoded(&second));
    assert_eq!(a.len(), BOOKS);
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            x == y,
            "book {i} differs between two runs of seed 42:\n{:?}\n{:?}",
            first[i],
            second[i]
        );
    }
    // The ids are real ids: one per book, none nil.
    let ids: HashSet<_> = first.iter().map(|b| b.id).collect();
    assert_eq!(ids.len(), BOOKS, "two books share an id");
    assert!(first.iter().all(|b| !b.id.is_nil()));
}

#[test]
fn another_seed_gives_other_books_and_other_ids() {
    let (first, other) = (books(42), books(43));
    // The same venues, symbols and times, in the same order ...
    for (x, y) in first.iter().zip(&other) {
        assert_eq!(
            (&x.venue, &x.symbol, x.exchange_ts, x.sequence),
            (&y.venue, &y.symbol, y.exchange_ts, y.sequence)
        );
    }
    // ... but other prices and sizes, and no id in common.
    let levels = |b: &BookSnapshot| (b.bids.clone(), b.asks.clone());
    let differ = first
        .iter()
        .zip(&other)
        .filter(|(x, y)| levels(x) != levels(y))
        .count();
    assert!(
        differ > BOOKS / 2,
        "only {differ} of {BOOKS} books differ between seeds 42 and 43"
    );
    let ids: HashSet<_> = first.iter().map(|b| b.id).collect();
    assert!(
        other.iter().all(|b| !ids.contains(&b.id)),
        "a book of seed 43 has the id of a book of seed 42"
    );
    assert_ne!(encoded(&first), encoded(&other));
}
