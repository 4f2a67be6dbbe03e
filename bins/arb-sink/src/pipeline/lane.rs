//! What a stream's reader, writers and gap filler share: the ack tracker and
//! the way to the writers. Batches are dispatched through it, commits move
//! the ack floor and send the one `AckPolicy::All` ack, and sequences under
//! the floor this process never received are fetched from the stream and
//! written (gap filling) before anything is acked past them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_nats::jetstream;
use async_nats::jetstream::stream::RawMessageErrorKind;
use futures::StreamExt;
use tokio::sync::mpsc;

use arb_contract::subject::StreamKind;

use super::Ctx;
use super::batch::Batch;
use super::source::{Entry, Source};
use crate::acks::AckTracker;

pub(super) type Tracker = Arc<std::sync::Mutex<AckTracker<jetstream::Message>>>;

pub(super) fn lock(tracker: &Tracker) -> std::sync::MutexGuard<'_, AckTracker<jetstream::Message>> {
    // The tracker's state stays consistent even if a holder panicked.
    tracker.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a stream's reader, writer and gap filler share.
pub(super) struct Lane {
    pub(super) ctx: Arc<Ctx>,
    pub(super) kind: StreamKind,
    pub(super) tracker: Tracker,
    /// The gap filler's way to the writer: weak, so that the channel closes
    /// when the reader (which holds the strong sender) is done.
    tx: mpsc::WeakSender<Batch>,
    filling: AtomicBool,
}

impl Lane {
    /// The lane of stream `kind`, whose batches go to the writers through `tx`.
    pub(super) fn new(ctx: Arc<Ctx>, kind: StreamKind, tx: &mpsc::Sender<Batch>) -> Arc<Lane> {
        Arc::new(Lane {
            ctx,
            kind,
            tracker: Arc::new(std::sync::Mutex::new(AckTracker::new(0))),
            tx: tx.downgrade(),
            filling: AtomicBool::new(false),
        })
    }

    /// Hands a batch to the writer; its sequences are in flight from now on.
    pub(super) async fn dispatch(&self, tx: &mpsc::Sender<Batch>, batch: Batch) -> bool {
        {
            let mut t = lock(&self.tracker);
            for seq in batch.entries().filter_map(|e| e.seq) {
                t.dispatched(seq);
            }
        }
        tx.send(batch).await.is_ok()
    }

    /// After a commit: moves the ack floor over the committed sequences, acks
    /// once up to it, and starts filling gaps below it if there are any.
    pub(super) async fn committed(self: &Arc<Self>, entries: Vec<Entry>) {
        // One handle per batch is enough to ack it (its newest delivery); the
        // other messages are dropped here, outside the lock, instead of
        // moving through the tracker.
        let mut seqs = Vec::with_capacity(entries.len());
        let mut newest: Option<(u64, jetstream::Message)> = None;
        for e in entries {
            let Some(seq) = e.seq else { continue };
            seqs.push(seq);
            if newest.as_ref().is_none_or(|(n, _)| seq > *n)
                && let Some(m) = e.src.into_delivery()
            {
                newest = Some((seq, m));
            }
        }
        let (ack, gaps) = {
            let mut t = lock(&self.tracker);
            for seq in seqs {
                let handle = match &newest {
                    Some((n, _)) if *n == seq => newest.take().map(|(_, m)| m),
                    _ => None,
                };
                t.committed(seq, handle);
            }
            (t.take_ack(), !t.gaps(1).is_empty())
        };
        ack_all(ack).await;
        if gaps && !self.filling.swap(true, Ordering::AcqRel) {
            let lane = self.clone();
            tokio::spawn(async move {
                if let Err(e) = lane.fill_gaps().await {
                    tracing::warn!(stream = lane.kind.base_name(), error = %e,
                        "cannot fill the gaps under the ack floor yet; retrying after the next commit");
                }
                lane.filling.store(false, Ordering::Release);
            });
        }
    }

    /// Settles what needs no write (under the server's ack floor, or gone from
    /// the stream) and fetches the rest by sequence, as one batch to the writer.
    async fn fill_gaps(&self) -> Result<(), async_nats::Error> {
        let name = self.ctx.bus.subjects.stream_name(self.kind);
        let mut stream = self.ctx.bus.js.get_stream(&name).await?;
        let first = stream.info().await?.state.first_sequence;
        // Not the server's ack floor: besides acks it also moves when a message
        // pending here is deleted from the stream, and that is no proof that
        // the sequences below it are stored. A fetch settles each for sure.
        let limit = self.ctx.cfg.batch_size.max(1);
        let (ack, gaps) = {
            let mut t = lock(&self.tracker);
            t.raise_floor(first.saturating_sub(1));
            (t.take_ack(), t.gaps(limit))
        };
        ack_all(ack).await;
        if gaps.is_empty() {
            return Ok(());
        }
        tracing::info!(
            stream = self.kind.base_name(),
            first = gaps[0],
            count = gaps.len(),
            "fetching messages under the ack floor this process never received"
        );
        let fetched: Vec<_> = futures::stream::iter(gaps)
            .map(|seq| {
                let stream = &stream;
                async move { (seq, stream.get_raw_message(seq).await) }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        let mut batch = Batch::new(fetched.len());
        let mut settled = Vec::new();
        for (seq, r) in fetched {
            match r {
                Ok(msg) => batch.add(
                    &self.ctx,
                    Source::Fetched {
                        stream: name.clone(),
                        msg,
                    },
                ),
                Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => settled.push(seq),
                Err(e) => {
                    tracing::warn!(stream = self.kind.base_name(), seq, error = %e, "cannot fetch a message");
                }
            }
        }
        let ack = {
            let mut t = lock(&self.tracker);
            for seq in settled {
                t.settled(seq);
            }
            t.take_ack()
        };
        ack_all(ack).await;
        if batch.len() > 0
            && let Some(tx) = self.tx.upgrade()
        {
            self.dispatch(&tx, batch).await;
        }
        Ok(())
    }
}

/// One `AckPolicy::All` ack: everything up to this delivery is committed.
async fn ack_all(ack: Option<(u64, jetstream::Message)>) {
    if let Some((seq, m)) = ack
        && let Err(e) = m.ack().await
    {
        tracing::warn!(seq, error = %e, "ack failed; the messages will be redelivered and dropped as duplicates");
    }
}
