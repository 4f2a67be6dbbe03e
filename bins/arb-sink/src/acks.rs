//! Crash-safe batch acks for an `AckPolicy::All` consumer.
//!
//! With `AckPolicy::All` one ack of stream sequence `S` acknowledges every
//! message up to `S`, so the sink sends one ack per committed batch instead of
//! one per message (half the NATS server's CPU in the benchmark). That is
//! only safe if, when `S` is acked, every sequence up to `S` is durable. A
//! plain "ack the batch's last message" breaks that: after a crash the new
//! process is handed new messages first, and its first ack would also cover
//! the messages the dead process had received and never committed.
//!
//! The [`AckTracker`] keeps the rule: the ack floor only moves over a
//! sequence once it is committed, or known not to need it (no longer in the
//! stream, not on the consumer's subjects, or already under the server's ack
//! floor, which only a committed sequence can be under). Sequences that were
//! never delivered to this process (a dead process's deliveries, messages the
//! client dropped) show up as gaps below what was committed; the pipeline
//! fetches them from the stream by sequence and writes them like any other
//! message, so nothing waits for a redelivery.
//!
//! Pure bookkeeping, no I/O: the pipeline feeds it and sends the acks.

use std::collections::{BTreeMap, BTreeSet};

/// What one consumer has committed, above its ack floor. `H` is the handle an
/// ack is sent with (a delivered message); fetched messages have none, and a
/// caller may hand over only some handles (say the newest of each batch):
/// acking any committed sequence at or under the floor is safe, so fewer
/// handles only mean that an ack may wait for the next one.
#[derive(Debug)]
pub struct AckTracker<H> {
    floor: u64,
    in_flight: BTreeSet<u64>,
    done: BTreeSet<u64>,
    /// Handles of committed sequences above the floor.
    handles: BTreeMap<u64, H>,
    /// The newest delivered message the floor has moved over, not yet acked.
    to_ack: Option<(u64, H)>,
}

impl<H> AckTracker<H> {
    /// Starts at the consumer's ack floor as the server reports it.
    pub fn new(floor: u64) -> Self {
        AckTracker {
            floor,
            in_flight: BTreeSet::new(),
            done: BTreeSet::new(),
            handles: BTreeMap::new(),
            to_ack: None,
        }
    }

    /// Every sequence up to here is durable (or needs nothing).
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// Sequences handed to a writer and not yet committed.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// `seq` was handed to a writer.
    pub fn dispatched(&mut self, seq: u64) {
        if seq > self.floor {
            self.in_flight.insert(seq);
        }
    }

    /// `seq` is committed; `handle` is its delivery, if it was delivered.
    pub fn committed(&mut self, seq: u64, handle: Option<H>) {
        self.in_flight.remove(&seq);
        if seq <= self.floor {
            return;
        }
        self.done.insert(seq);
        // A fetched copy's `None` leaves a delivery already given in place.
        if let Some(h) = handle {
            self.handles.insert(seq, h);
        }
        if seq == self.floor + 1 {
            self.advance();
        }
    }

    /// `seq` needs no write: not in the stream any more, or not ours.
    pub fn settled(&mut self, seq: u64) {
        self.committed(seq, None);
    }

    /// Everything up to `floor` is durable elsewhere or gone: the server's ack
    /// floor (moved only by a committed ack), or the stream's first sequence
    /// minus one.
    pub fn raise_floor(&mut self, floor: u64) {
        if floor <= self.floor {
            return;
        }
        self.floor = floor;
        self.done = self.done.split_off(&(floor + 1));
        // Acks at or below the new floor would be no-ops on the server.
        self.handles = self.handles.split_off(&(floor + 1));
        self.in_flight = self.in_flight.split_off(&(floor + 1));
        if self.to_ack.as_ref().is_some_and(|(s, _)| *s <= floor) {
            self.to_ack = None;
        }
        self.advance();
    }

    /// Moves the floor over the committed run just above it; the newest
    /// handle it passes becomes the ack.
    fn advance(&mut self) {
        let start = self.floor;
        while self.done.first() == Some(&(self.floor + 1)) {
            self.done.pop_first();
            self.floor += 1;
        }
        if self.floor == start {
            return;
        }
        let above = self.handles.split_off(&(self.floor + 1));
        if let Some(newest) = std::mem::replace(&mut self.handles, above).pop_last() {
            self.to_ack = Some(newest);
        }
    }

    /// The delivery to ack (with `AckPolicy::All`) now that the floor has
    /// moved over it, and its sequence. Everything up to it is durable.
    pub fn take_ack(&mut self) -> Option<(u64, H)> {
        self.to_ack.take()
    }

    /// Up to `limit` sequences below the highest committed one that are
    /// neither committed nor in flight: deliveries this process never had.
    pub fn gaps(&self, limit: usize) -> Vec<u64> {
        let Some(&top) = self.done.last() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut seq = self.floor + 1;
        while seq < top && out.len() < limit {
            if !self.done.contains(&seq) && !self.in_flight.contains(&seq) {
                out.push(seq);
            }
            seq += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tracker at `floor` with `seqs` dispatched. A delivery's handle is
    /// its own sequence number, so an ack names the delivery it acks.
    fn tracker(floor: u64, seqs: &[u64]) -> AckTracker<u64> {
        let mut t = AckTracker::new(floor);
        for &s in seqs {
            t.dispatched(s);
        }
        t
    }

    /// Commits `seqs`, each with its delivery's handle.
    fn commit(t: &mut AckTracker<u64>, seqs: &[u64]) {
        for &s in seqs {
            t.committed(s, Some(s));
        }
    }

    #[test]
    fn in_order_commits_ack_the_last_delivery_once() {
        let mut t = tracker(0, &[1, 2, 3]);
        assert_eq!(t.take_ack(), None, "nothing is committed yet");
        commit(&mut t, &[1, 2, 3]);
        assert_eq!(t.take_ack(), Some((3, 3)));
        assert_eq!(t.take_ack(), None, "an ack is handed out once");
        assert_eq!(t.floor(), 3);
        assert!(t.gaps(10).is_empty());
    }

    #[test]
    fn a_later_batch_committed_first_waits_for_the_earlier_one() {
        let mut t = tracker(10, &[11, 12, 13, 14]);
        commit(&mut t, &[13, 14]);
        assert_eq!(t.take_ack(), None, "11 and 12 are not durable yet");
        assert!(t.gaps(10).is_empty(), "in flight is not a gap");
        commit(&mut t, &[11]);
        assert_eq!(t.take_ack(), Some((11, 11)));
        commit(&mut t, &[12]);
        assert_eq!(t.take_ack(), Some((14, 14)));
    }

    #[test]
    fn deliveries_a_dead_process_held_are_gaps_and_block_the_ack() {
        // The server's floor is 100; a dead process had 101..=103 and never
        // committed them; this process is handed 104.. first.
        let mut t = tracker(100, &[104, 105]);
        commit(&mut t, &[104, 105]);
        assert_eq!(t.take_ack(), None, "an ack now would cover 101..=103");
        assert_eq!(t.gaps(10), vec![101, 102, 103]);
        assert_eq!(t.gaps(2), vec![101, 102], "the limit holds");
        // The pipeline fetches them from the stream and writes them.
        for s in [101, 102, 103] {
            t.dispatched(s);
        }
        assert!(t.gaps(10).is_empty(), "fetched and in flight");
        t.committed(101, None);
        t.settled(102); // deleted from the stream meanwhile
        assert_eq!(t.take_ack(), None, "fetched copies carry no delivery");
        t.committed(103, None);
        assert_eq!(t.take_ack(), Some((105, 105)));
        assert_eq!(t.floor(), 105);
    }

    #[test]
    fn one_handle_per_batch_is_enough_to_ack_it() {
        let mut t = tracker(0, &[1, 2, 3, 4, 5]);
        // Batch 1..=3 hands over only its newest delivery.
        t.committed(1, None);
        t.committed(2, None);
        assert_eq!(t.take_ack(), None, "no handle at or under the floor yet");
        commit(&mut t, &[3]);
        assert_eq!(t.take_ack(), Some((3, 3)));
        // Batch 4..=5 commits 5 first: its handle waits for 4.
        commit(&mut t, &[5]);
        assert_eq!(t.take_ack(), None);
        t.committed(4, None);
        assert_eq!(t.take_ack(), Some((5, 5)));
        assert_eq!(t.floor(), 5);
    }

    #[test]
    fn a_fetched_copy_does_not_replace_the_delivery() {
        let mut t = tracker(0, &[]);
        commit(&mut t, &[2]);
        t.committed(2, None);
        t.committed(1, None);
        assert_eq!(t.take_ack(), Some((2, 2)));
    }

    #[test]
    fn the_servers_floor_settles_what_another_process_committed() {
        let mut t = tracker(0, &[3, 10]);
        commit(&mut t, &[6, 7, 9]);
        assert_eq!(t.gaps(10), vec![1, 2, 4, 5, 8]);
        t.raise_floor(5);
        assert_eq!(t.take_ack(), Some((7, 7)), "6 and 7 follow the new floor");
        assert_eq!(t.gaps(10), vec![8]);
        assert_eq!(t.in_flight(), 1, "3 is under the floor now; 10 is not");
        t.raise_floor(4);
        assert_eq!(t.floor(), 7, "the floor never goes back");
        commit(&mut t, &[3]);
        assert_eq!(t.take_ack(), None, "a commit under the floor acks nothing");
    }

    #[test]
    fn raising_the_floor_over_uncommitted_deliveries_acks_the_newest_above() {
        let mut t = tracker(0, &[]);
        commit(&mut t, &[2]);
        t.raise_floor(3);
        assert_eq!(t.take_ack(), None, "acking 2 under a floor of 3 is a no-op");
        commit(&mut t, &[4]);
        assert_eq!(t.take_ack(), Some((4, 4)));
    }
}
