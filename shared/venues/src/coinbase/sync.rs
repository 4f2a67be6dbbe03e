//! Coinbase's book synchronization: `sequence_num` counts every message of
//! the connection, so a skipped number means something was lost, and a
//! `snapshot` event resets a product's book. Pure.

use arb_contract::Level;

use super::wire::CoinbaseL2Type;
use crate::book::{BookSideKind, OrderBook};

/// One product's book, and whether a snapshot started it.
#[derive(Debug, Clone)]
pub struct CoinbaseBook {
    pub book: OrderBook,
    synced: bool,
}

impl CoinbaseBook {
    pub fn new(levels: usize) -> Self {
        CoinbaseBook {
            book: OrderBook::new(levels),
            synced: false,
        }
    }

    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Forgets the book until the next snapshot.
    pub fn reset(&mut self) {
        self.synced = false;
        self.book.clear();
    }

    /// Applies one event's levels, already checked to be valid; false for
    /// an update before the snapshot, which changes nothing.
    pub fn apply(&mut self, kind: CoinbaseL2Type, levels: &[(BookSideKind, Level)]) -> bool {
        match kind {
            CoinbaseL2Type::Snapshot => {
                self.book.clear();
                self.synced = true;
            }
            CoinbaseL2Type::Update if !self.synced => return false,
            CoinbaseL2Type::Update => {}
        }
        for (side, l) in levels {
            self.book.apply(*side, l.price, l.qty);
        }
        self.book.truncate();
        true
    }
}

/// What a `sequence_num` says about the messages before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqCheck {
    First,
    Next,
    /// Already seen (or older): skip the message.
    Old,
    Gap {
        expected: u64,
        got: u64,
    },
}

/// Tracks the connection-wide `sequence_num`. Pure.
#[derive(Debug, Clone, Default)]
pub struct SeqTracker {
    last: Option<u64>,
}

impl SeqTracker {
    pub fn reset(&mut self) {
        self.last = None;
    }

    pub fn check(&mut self, seq: u64) -> SeqCheck {
        let r = match self.last {
            None => SeqCheck::First,
            Some(l) if seq == l + 1 => SeqCheck::Next,
            Some(l) if seq <= l => return SeqCheck::Old,
            Some(l) => SeqCheck::Gap {
                expected: l + 1,
                got: seq,
            },
        };
        self.last = Some(seq);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_tracker_table() {
        let mut t = SeqTracker::default();
        for (seq, want) in [
            (5, SeqCheck::First),
            (6, SeqCheck::Next),
            (6, SeqCheck::Old),
            (
                9,
                SeqCheck::Gap {
                    expected: 7,
                    got: 9,
                },
            ),
            (10, SeqCheck::Next),
        ] {
            assert_eq!(t.check(seq), want, "{seq}");
        }
    }
}
