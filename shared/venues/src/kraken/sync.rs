//! Kraken's book synchronization for one symbol: a `snapshot` resets the
//! book, each `update` applies its levels (size 0 deletes) and the book is cut
//! to the subscribed depth, and after every message the CRC32 checksum of
//! the top ten levels must match the venue's. Updates before the first
//! snapshot belong to a state that was dropped. Pure.

use arb_contract::Level;
use arb_contract::time::Timestamp;

use super::checksum::{Precision, checksum};
use super::wire::KrakenBookType;
use crate::book::{BookSideKind, OrderBook};

/// What one book message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncStep {
    /// An update before the snapshot: nothing changed.
    Ignored,
    /// Applied and the checksum matched: the book may be published.
    Synced,
    /// The checksum did not match: the book was dropped; resubscribe.
    Mismatch { venue: u32, local: u32 },
}

/// One symbol's local book and whether it is in sync.
#[derive(Debug, Clone)]
pub struct KrakenBook {
    pub book: OrderBook,
    synced: bool,
    exchange_ts: Option<Timestamp>,
}

impl KrakenBook {
    pub fn new(depth: usize) -> Self {
        KrakenBook {
            book: OrderBook::new(depth),
            synced: false,
            exchange_ts: None,
        }
    }

    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// The venue's time of the last change applied.
    pub fn exchange_ts(&self) -> Option<Timestamp> {
        self.exchange_ts
    }

    /// Forgets the book until the next snapshot.
    pub fn reset(&mut self) {
        self.synced = false;
        self.book.clear();
    }

    /// Applies one message's levels, already checked to be valid.
    pub fn apply(
        &mut self,
        kind: KrakenBookType,
        bids: &[Level],
        asks: &[Level],
        venue_checksum: u32,
        ts: Option<Timestamp>,
        precision: Precision,
    ) -> SyncStep {
        match kind {
            KrakenBookType::Snapshot => self.book.clear(),
            KrakenBookType::Update if !self.synced => return SyncStep::Ignored,
            KrakenBookType::Update => {}
        }
        for l in bids {
            self.book.apply(BookSideKind::Bid, l.price, l.qty);
        }
        for l in asks {
            self.book.apply(BookSideKind::Ask, l.price, l.qty);
        }
        self.book.truncate();
        if ts.is_some() {
            self.exchange_ts = ts;
        }
        let local = checksum(&self.book, precision);
        if local != venue_checksum {
            self.reset();
            return SyncStep::Mismatch {
                venue: venue_checksum,
                local,
            };
        }
        self.synced = true;
        SyncStep::Synced
    }
}
