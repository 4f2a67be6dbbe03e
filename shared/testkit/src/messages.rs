//! What the tests publish: the contract's samples, message `n` stamped `n`
//! milliseconds after [`t0`], so every run publishes the same messages.

use std::collections::HashSet;

use arb_contract::codec::Decoded;
use arb_contract::sample;
use arb_contract::time::{Timestamp, from_nanos};

/// The tests' first event time.
pub fn t0() -> Timestamp {
    from_nanos(1_763_900_000_000_000_000)
}

/// `n` milliseconds after [`t0`].
pub fn at(n: u64) -> Timestamp {
    from_nanos(1_763_900_000_000_000_000 + n as i64 * 1_000_000)
}

/// Kraken BTC/USD books `from..from + n`, 3 levels a side.
pub fn books(from: u64, n: u64) -> Vec<Decoded> {
    (from..from + n)
        .map(|i| Decoded::Book(sample::book(i, "kraken", "BTC/USD", 3, at(i))))
        .collect()
}

/// Messages `from..from + n` of every kind ([`sample::mixed`]).
pub fn mixed(from: u64, n: u64) -> Vec<Decoded> {
    (from..from + n).map(|i| sample::mixed(i, at(i))).collect()
}

/// The messages' ids.
pub fn ids(msgs: &[Decoded]) -> HashSet<uuid::Uuid> {
    msgs.iter().map(Decoded::id).collect()
}
