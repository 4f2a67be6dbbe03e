//! What the tests publish: the contract's samples, message `n` stamped `n`
//! milliseconds after [`t0`], so every run publishes the same messages; and
//! books written out level by level ([`book_at`]).

use std::collections::HashSet;

use arb_contract::codec::Decoded;
use arb_contract::time::{Timestamp, from_nanos};
use arb_contract::{BookSnapshot, ChecksumStatus, Level, ids, sample};

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

/// `ms` milliseconds into the books' own clock (later than [`t0`]).
pub fn at_ms(ms: i64) -> Timestamp {
    from_nanos(1_800_000_000_000_000_000 + ms * 1_000_000)
}

/// A book of `venue` and `symbol` at `ms` (exchange time; received 1 ms
/// later, sequence `ms`), its id derived from those; levels as
/// (price, size) text.
pub fn book_at(
    venue: &str,
    symbol: &str,
    ms: i64,
    bids: &[(&str, &str)],
    asks: &[(&str, &str)],
) -> BookSnapshot {
    let levels = |l: &[(&str, &str)]| {
        l.iter()
            .map(|(p, q)| Level::new(p.parse().expect("a price"), q.parse().expect("a size")))
            .collect()
    };
    BookSnapshot {
        id: ids::derive(
            at_ms(ms),
            &[b"test-book", venue.as_bytes(), symbol.as_bytes()],
        ),
        received_ts: at_ms(ms + 1),
        sequence: Some(ms as u64),
        checksum: ChecksumStatus::NotProvided,
        bids: levels(bids),
        asks: levels(asks),
        // The venue, the symbol and the exchange time as the sample has them.
        ..sample::book(0, venue, symbol, 0, at_ms(ms))
    }
}
