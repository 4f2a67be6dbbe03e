//! Binance's local-book synchronization, exactly as docs/exchanges.md gives it:
//! buffer diff events, take a snapshot (last update id L), snapshot again if
//! it is older than the first buffered event, drop events with `u <= L`,
//! require the first applied event to bridge `U <= L+1 <= u`, then apply each
//! event whose `U` is the local id + 1 at most; a later `U` is a gap: discard
//! the book and start over. Pure: no I/O, no clock.

use arb_contract::Level;

use crate::book::OrderBook;

/// One `depthUpdate` event.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthEvent {
    /// `U`: first update id in the event.
    pub first: u64,
    /// `u`: last update id in the event.
    pub last: u64,
    /// `E`: event time, milliseconds since the epoch.
    pub event_ms: i64,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

/// A `depth` snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthSnapshot {
    pub last_update_id: u64,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

/// What one input did to the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Kept until a snapshot arrives.
    Buffered,
    /// Older than the book: dropped.
    Ignored,
    /// Applied: the book changed.
    Applied,
    /// A snapshot (and the buffered events after it) made the book valid.
    Synced,
    /// The snapshot is older than the book needs (the first buffered event,
    /// or an unusable one it must be past): take another.
    SnapshotTooOld { snapshot: u64, first_needed: u64 },
    /// An event skipped update ids: the book was discarded; take a new snapshot.
    Gap { expected: u64, got: u64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitingSnapshot,
    Synced { last_id: u64 },
}

/// One symbol's book and where it stands in the procedure.
#[derive(Debug, Clone)]
pub struct BinanceSync {
    state: State,
    pub book: OrderBook,
    buffer: Vec<DepthEvent>,
    max_buffer: usize,
    last_event_ms: Option<i64>,
    /// The last update id of an event that could not be applied: no snapshot
    /// from before it can be brought up to date.
    spent: Option<u64>,
}

impl BinanceSync {
    pub fn new(levels: usize) -> Self {
        BinanceSync {
            state: State::AwaitingSnapshot,
            book: OrderBook::new(levels),
            buffer: Vec::new(),
            max_buffer: 10_000,
            last_event_ms: None,
            spent: None,
        }
    }

    /// Back to the start: no book, nothing buffered.
    pub fn reset(&mut self) {
        self.state = State::AwaitingSnapshot;
        self.book.clear();
        self.buffer.clear();
        self.last_event_ms = None;
        self.spent = None;
    }

    /// An event whose levels cannot be applied spent the update ids up to
    /// `last`: back to the start, and only a snapshot at `last` or later
    /// can sync the book again.
    pub fn discard_through(&mut self, last: u64) {
        self.reset();
        self.spent = Some(last);
    }

    pub fn is_synced(&self) -> bool {
        matches!(self.state, State::Synced { .. })
    }

    /// The update id the book is at, once synced.
    pub fn last_id(&self) -> Option<u64> {
        match self.state {
            State::Synced { last_id } => Some(last_id),
            State::AwaitingSnapshot => None,
        }
    }

    /// Event time of the last event applied.
    pub fn last_event_ms(&self) -> Option<i64> {
        self.last_event_ms
    }

    pub fn on_event(&mut self, ev: DepthEvent) -> Step {
        match self.state {
            State::AwaitingSnapshot => {
                if self.buffer.len() >= self.max_buffer {
                    self.buffer.remove(0);
                }
                self.buffer.push(ev);
                Step::Buffered
            }
            State::Synced { last_id } => self.apply(last_id, ev),
        }
    }

    fn apply(&mut self, last_id: u64, ev: DepthEvent) -> Step {
        if ev.last <= last_id {
            return Step::Ignored;
        }
        if ev.first > last_id + 1 {
            let got = ev.first;
            self.reset();
            // The event that revealed the gap may be the first of the next sync.
            self.buffer.push(ev);
            return Step::Gap {
                expected: last_id + 1,
                got,
            };
        }
        for l in &ev.bids {
            self.book.bids.apply(l.price, l.qty);
        }
        for l in &ev.asks {
            self.book.asks.apply(l.price, l.qty);
        }
        self.book.truncate();
        self.state = State::Synced { last_id: ev.last };
        self.last_event_ms = Some(ev.event_ms);
        Step::Applied
    }

    pub fn on_snapshot(&mut self, snap: DepthSnapshot) -> Step {
        if self.is_synced() {
            // A late reply for a book already in sync.
            return Step::Ignored;
        }
        // The first update id the book must take after the snapshot: the
        // first buffered event's U, or the one after an unusable event.
        let needed = self.spent.map(|u| u + 1).into_iter();
        let first_needed = needed.chain(self.buffer.first().map(|e| e.first)).max();
        if let Some(first_needed) = first_needed {
            // L+1 < U: events between the snapshot and the buffer are missing.
            if snap.last_update_id + 1 < first_needed {
                return Step::SnapshotTooOld {
                    snapshot: snap.last_update_id,
                    first_needed,
                };
            }
        }
        self.spent = None;
        self.book.reset(&snap.bids, &snap.asks);
        self.state = State::Synced {
            last_id: snap.last_update_id,
        };
        for ev in std::mem::take(&mut self.buffer) {
            let last_id = self.last_id().unwrap_or(0);
            if let gap @ Step::Gap { .. } = self.apply(last_id, ev) {
                return gap;
            }
        }
        Step::Synced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv(p: i64, q: i64) -> Level {
        Level::new(p.into(), q.into())
    }

    fn ev(first: u64, last: u64, bid: (i64, i64)) -> DepthEvent {
        DepthEvent {
            first,
            last,
            event_ms: last as i64,
            bids: vec![lv(bid.0, bid.1)],
            asks: vec![],
        }
    }

    fn snap(l: u64) -> DepthSnapshot {
        DepthSnapshot {
            last_update_id: l,
            bids: vec![lv(100, 1)],
            asks: vec![lv(101, 1)],
        }
    }

    fn gap(expected: u64, got: u64) -> Step {
        Step::Gap { expected, got }
    }

    fn too_old(snapshot: u64, first_needed: u64) -> Step {
        Step::SnapshotTooOld {
            snapshot,
            first_needed,
        }
    }

    enum In {
        E(DepthEvent),
        S(DepthSnapshot),
        /// An event that could not be applied spent the ids up to this one.
        Spent(u64),
    }

    #[test]
    fn procedure_table() {
        use In::*;
        type Case = (&'static str, Vec<(In, Step)>, Option<u64>, Vec<Level>);
        let cases: Vec<Case> = vec![
            (
                "stale buffered events dropped, bridging event applied",
                vec![
                    (E(ev(90, 95, (99, 9))), Step::Buffered),
                    (E(ev(96, 102, (98, 8))), Step::Buffered),
                    (E(ev(103, 104, (97, 7))), Step::Buffered),
                    (S(snap(100)), Step::Synced),
                    (E(ev(105, 105, (96, 6))), Step::Applied),
                ],
                Some(105),
                // 99 came from a dropped event (u=95 <= 100), the others applied.
                vec![lv(100, 1), lv(98, 8), lv(97, 7), lv(96, 6)],
            ),
            (
                "snapshot older than the buffer: take another",
                vec![
                    (E(ev(200, 210, (99, 9))), Step::Buffered),
                    (S(snap(150)), too_old(150, 200)),
                    (S(snap(205)), Step::Synced),
                ],
                Some(210),
                vec![lv(100, 1), lv(99, 9)],
            ),
            (
                "a gap discards the book, the next snapshot restores it",
                vec![
                    (S(snap(10)), Step::Synced),
                    (E(ev(11, 12, (99, 1))), Step::Applied),
                    (E(ev(5, 12, (98, 1))), Step::Ignored),
                    (E(ev(14, 15, (97, 1))), gap(13, 14)),
                    (E(ev(16, 16, (96, 1))), Step::Buffered),
                    (S(snap(15)), Step::Synced),
                ],
                Some(16),
                vec![lv(100, 1), lv(96, 1)],
            ),
            (
                "a gap right after the snapshot (first event does not bridge)",
                vec![
                    (E(ev(20, 25, (99, 1))), Step::Buffered),
                    (S(snap(19)), Step::Synced),
                    (E(ev(27, 28, (98, 1))), gap(26, 27)),
                ],
                None,
                vec![],
            ),
            (
                "after an unusable event only a later snapshot syncs",
                vec![
                    (S(snap(10)), Step::Synced),
                    (Spent(12), Step::Ignored),
                    (S(snap(11)), too_old(11, 13)),
                    (E(ev(13, 13, (99, 1))), Step::Buffered),
                    (S(snap(12)), Step::Synced),
                ],
                Some(13),
                vec![lv(100, 1), lv(99, 1)],
            ),
            (
                "qty 0 removes",
                vec![
                    (S(snap(1)), Step::Synced),
                    (E(ev(2, 2, (100, 0))), Step::Applied),
                ],
                Some(2),
                vec![],
            ),
        ];
        for (name, steps, last, bids) in cases {
            let mut s = BinanceSync::new(100);
            for (i, (input, want)) in steps.into_iter().enumerate() {
                let got = match input {
                    E(e) => s.on_event(e),
                    S(x) => s.on_snapshot(x),
                    Spent(u) => {
                        s.discard_through(u);
                        assert!(s.book.bids.is_empty(), "{name}: the book is dropped");
                        Step::Ignored
                    }
                };
                assert_eq!(got, want, "{name}: step {i}");
            }
            assert_eq!(s.last_id(), last, "{name}");
            assert_eq!(s.book.bids.top(100), bids, "{name}");
        }
    }
}
