//! The batch a reader fills: each message's row is encoded into its table's
//! COPY data as the message arrives (MessagePack books through the fast
//! reader), and what cannot be decoded or encoded becomes a dead letter,
//! stored in the same transaction as the batch.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use chrono::NaiveDate;
use tokio::time::Instant;

use arb_contract::Message;
use arb_contract::codec::{ContentType, Decoded};
use arb_contract::model::{BookSnapshot, DeadLetter};
use arb_runtime::{clock, headers};

use super::Ctx;
use super::source::{Entry, Source};
use crate::rows::{CopyRows, Table};

/// A message the sink gives up on, with the dead letter that records it.
pub(super) struct Rejected {
    pub(super) entry: Entry,
    pub(super) letter: DeadLetter,
}

pub(super) fn reject(ctx: &Ctx, entry: Entry, reason: String) -> Rejected {
    // The contract's one id rule: from where the message sits in its stream,
    // so a redelivery of the same bad message (or a fetched copy) maps to the
    // same audit row.
    let letter = DeadLetter::new(
        &ctx.cfg.service,
        entry.src.subject(),
        headers::strings(entry.src.headers()),
        entry.src.payload(),
        reason,
        entry.src.place(),
        clock::now(),
    );
    Rejected { entry, letter }
}

/// A batch being filled by the reader: rows are encoded as messages arrive.
pub(super) struct Batch {
    groups: BTreeMap<Table, CopyRows>,
    /// The messages whose rows are in `groups`.
    pub(super) good: Vec<Entry>,
    pub(super) rejected: Vec<Rejected>,
    /// The days of its books, whose partitions must exist.
    pub(super) days: BTreeSet<NaiveDate>,
    /// When its first message came.
    started: Option<Instant>,
}

impl Batch {
    pub(super) fn new(capacity: usize) -> Self {
        Batch {
            groups: BTreeMap::new(),
            good: Vec::with_capacity(capacity),
            rejected: Vec::new(),
            days: BTreeSet::new(),
            started: None,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.good.len() + self.rejected.len()
    }

    /// When the batch must be written however full it is: once its first
    /// message is `max_age` old. `None` while it is empty.
    pub(super) fn due(&self, max_age: Duration) -> Option<Instant> {
        self.started.map(|s| s + max_age)
    }

    /// A message came: the batch's age counts from the first one.
    fn arrived(&mut self) {
        self.started.get_or_insert_with(Instant::now);
    }

    pub(super) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.good
            .iter()
            .chain(self.rejected.iter().map(|r| &r.entry))
    }

    /// The rows of `table` in this batch, in a pooled buffer.
    fn rows(&mut self, ctx: &Ctx, table: Table) -> &mut CopyRows {
        self.groups
            .entry(table)
            .or_insert_with(|| CopyRows::with_buffer(table, ctx.buffers.take()))
    }

    /// Adds a message: its row, or the dead letter that says why it has none.
    pub(super) fn add(&mut self, ctx: &Ctx, src: Source) {
        self.arrived();
        let (entry, redelivered) = Entry::new(src);
        if redelivered {
            ctx.counters.redelivered.fetch_add(1, Ordering::Relaxed);
        }
        let src = &entry.src;
        let decoded = match Decoded::schema_of(
            &ctx.bus.subjects,
            src.subject(),
            headers::wire(src.headers()),
            src.payload(),
        ) {
            Ok((ct, name, version)) => {
                // MessagePack books go through the fast reader first.
                if ct == ContentType::Msgpack
                    && name == BookSnapshot::SCHEMA
                    && version <= BookSnapshot::VERSION
                    && let Some(ts) = self
                        .rows(ctx, Table::MarketSnapshots)
                        .push_msgpack_book(src.payload())
                {
                    self.days.insert(ts.date_naive());
                    self.good.push(entry);
                    return;
                }
                Decoded::decode_schema(ct, name, version, src.payload())
            }
            Err(e) => Err(e),
        };
        let decoded = match decoded {
            Ok(d) => d,
            Err(e) => return self.rejected.push(reject(ctx, entry, e.to_string())),
        };
        let table = Table::of(&decoded);
        match self.rows(ctx, table).push(&decoded, entry.src.subject()) {
            Ok(()) => {
                if let Decoded::Book(b) = &decoded {
                    self.days.insert(b.event_time().date_naive());
                }
                self.good.push(entry);
            }
            Err(e) => self.rejected.push(reject(ctx, entry, e.to_string())),
        }
    }

    /// The COPY data, with the dead letters' audit rows in the same transaction.
    pub(super) fn tables(&mut self) -> Vec<(Table, Bytes)> {
        let mut out: Vec<(Table, Bytes)> = std::mem::take(&mut self.groups)
            .into_iter()
            .filter(|(_, r)| !r.is_empty())
            .map(|(t, r)| (t, r.finish()))
            .collect();
        if let Some(letters) = dead_letter_rows(&self.rejected) {
            out.push(letters);
        }
        out
    }
}

/// The dead letters' audit_events rows.
pub(super) fn dead_letter_rows(rejected: &[Rejected]) -> Option<(Table, Bytes)> {
    let mut rows = CopyRows::new(Table::AuditEvents);
    for r in rejected {
        if let Err(e) = rows.push(&Decoded::DeadLetter(r.letter.clone()), &r.letter.subject) {
            tracing::error!(error = %e, "cannot encode a dead letter");
        }
    }
    (!rows.is_empty()).then(|| (Table::AuditEvents, rows.finish()))
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    /// The reader writes a batch out when `due` says, however full it is:
    /// once its first message is `max_age` old, and not before.
    #[tokio::test(start_paused = true)]
    async fn a_batch_is_due_when_its_first_message_is_max_age_old() {
        let max_age = Duration::from_millis(500);
        let mut batch = Batch::new(8);
        assert_eq!(batch.due(max_age), None, "an empty batch is never due");
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(batch.due(max_age), None, "nor does waiting make it so");

        batch.arrived();
        let first = Instant::now();
        tokio::time::advance(max_age / 2).await;
        batch.arrived();
        assert_eq!(
            batch.due(max_age),
            Some(first + max_age),
            "a later message does not make the batch younger"
        );

        // The reader sleeps until then.
        let due = batch.due(max_age).expect("a batch with messages is due");
        let mut flush = std::pin::pin!(tokio::time::sleep_until(due));
        tokio::time::advance(max_age / 2 - Duration::from_millis(1)).await;
        assert!(
            flush.as_mut().now_or_never().is_none(),
            "not due 1 ms before"
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(flush.as_mut().now_or_never().is_some(), "due at max_age");
    }
}
