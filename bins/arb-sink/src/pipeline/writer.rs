//! A stream's writers: each takes batches from the reader and writes one per
//! transaction on its own connection, retrying with backoff while
//! PostgreSQL is unreachable (the messages' ack deadline kept alive), then
//! publishes the batch's dead letters and reports the commit to the lane,
//! which acks. A batch the database refuses is written again message by
//! message, and only the messages it refuses are dead-lettered.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use backoff::backoff::Backoff;
use bytes::Bytes;
use chrono::NaiveDate;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::time::Instant;

use arb_contract::Message;
use arb_contract::codec::Decoded;
use arb_contract::subject::StreamKind;
use arb_runtime::bus::backoff_policy;

use super::Ctx;
use super::batch::{Batch, dead_letter_rows, reject};
use super::lane::Lane;
use super::source::{Entry, decode};
use crate::rows::{CopyRows, Table};
use crate::store;

/// Takes batches from the reader and writes them, each writer on its own
/// connection (so one batch's COPY overlaps another's commit); acks after each
/// commit, as far as the ack floor has moved.
pub(super) async fn write_loop(
    lane: Arc<Lane>,
    rx: Arc<Mutex<mpsc::Receiver<Batch>>>,
    shutdown: watch::Receiver<bool>,
) {
    loop {
        let Some(batch) = rx.lock().await.recv().await else {
            break;
        };
        if let Some(committed) = write_batch(&lane.ctx, lane.kind, batch, &shutdown).await {
            lane.committed(committed).await;
        }
    }
}

enum WriteOutcome {
    Committed(BTreeMap<Table, u64>),
    /// The data itself is refused (not a connection problem).
    Refused(sqlx::Error),
    /// Shutdown came while the database was unreachable.
    Abandoned,
}

fn is_missing_partition(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23514")
        && db.message().contains("no partition"))
}

/// Writes with retry and backoff while the error is transient; keeps the
/// messages' ack deadline alive meanwhile.
async fn write_retrying(
    ctx: &Ctx,
    kind: StreamKind,
    days: &BTreeSet<NaiveDate>,
    tables: &[(Table, Bytes)],
    pending: &[&jetstream::Message],
    shutdown: &watch::Receiver<bool>,
) -> WriteOutcome {
    let mut policy = backoff_policy(Duration::from_millis(100), Duration::from_secs(5));
    let mut last_progress = Instant::now();
    loop {
        let result = async {
            if !days.is_empty() {
                ctx.partitions
                    .lock()
                    .await
                    .ensure(&ctx.pool, days.iter().copied())
                    .await?;
            }
            store::write_batch(&ctx.pool, ctx.cfg.write_mode, tables).await
        }
        .await;
        match result {
            Ok(written) => return WriteOutcome::Committed(written),
            Err(e) if arb_runtime::db::is_retryable(&e) || is_missing_partition(&e) => {
                ctx.counters.db_errors.fetch_add(1, Ordering::Relaxed);
                if is_missing_partition(&e) {
                    ctx.partitions.lock().await.forget();
                }
                let wait = policy.next_backoff().unwrap_or(Duration::from_secs(5));
                tracing::warn!(stream = kind.base_name(), error = %e, ?wait, messages = pending.len(),
                    "PostgreSQL write failed, holding the batch and retrying");
                if last_progress.elapsed() > ctx.cfg.ack_wait / 3 {
                    for m in pending {
                        let _ = m.ack_with(AckKind::Progress).await;
                    }
                    last_progress = Instant::now();
                }
                let mut sd = shutdown.clone();
                if *sd.borrow() {
                    return WriteOutcome::Abandoned;
                }
                tokio::select! {
                    _ = sd.changed() => return WriteOutcome::Abandoned,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            Err(e) => {
                ctx.counters.db_errors.fetch_add(1, Ordering::Relaxed);
                return WriteOutcome::Refused(e);
            }
        }
    }
}

/// Stores a batch; returns its committed messages, to be acked.
async fn write_batch(
    ctx: &Ctx,
    kind: StreamKind,
    mut batch: Batch,
    shutdown: &watch::Receiver<bool>,
) -> Option<Vec<Entry>> {
    let n = batch.len() as u64;
    let tables = batch.tables();
    let pending: Vec<&jetstream::Message> =
        batch.entries().filter_map(|e| e.src.delivery()).collect();
    let outcome = write_retrying(ctx, kind, &batch.days, &tables, &pending, shutdown).await;
    drop(pending);
    for (_, data) in tables {
        ctx.buffers.give(data);
    }
    match outcome {
        WriteOutcome::Committed(written) => ctx.counters.add_rows(written),
        WriteOutcome::Abandoned => {
            tracing::warn!(
                stream = kind.base_name(),
                messages = n,
                "shutdown before the batch could be stored; JetStream will redeliver it"
            );
            return None;
        }
        WriteOutcome::Refused(e) => {
            tracing::warn!(stream = kind.base_name(), error = %e,
                "batch refused; writing its messages one by one to find the bad ones");
            if !write_one_by_one(ctx, kind, &mut batch, shutdown).await {
                return None;
            }
        }
    }
    ctx.counters.batches.fetch_add(1, Ordering::Relaxed);
    ctx.counters.messages.fetch_add(n, Ordering::Relaxed);
    Some(finish(ctx, batch).await)
}

/// Stores each message in its own transaction; a message the database refuses
/// is dead-lettered with the database's reason. Returns false on shutdown.
async fn write_one_by_one(
    ctx: &Ctx,
    kind: StreamKind,
    batch: &mut Batch,
    shutdown: &watch::Receiver<bool>,
) -> bool {
    let mut kept = Vec::with_capacity(batch.good.len());
    for entry in std::mem::take(&mut batch.good) {
        let Ok(decoded) = decode(ctx, &entry.src) else {
            continue;
        };
        let table = Table::of(&decoded);
        let mut rows = CopyRows::new(table);
        if rows.push(&decoded, entry.src.subject()).is_err() {
            continue;
        }
        let days: BTreeSet<NaiveDate> = match &decoded {
            Decoded::Book(b) => [b.event_time().date_naive()].into(),
            _ => BTreeSet::new(),
        };
        match write_retrying(
            ctx,
            kind,
            &days,
            &[(table, rows.finish())],
            &entry.src.delivery().into_iter().collect::<Vec<_>>(),
            shutdown,
        )
        .await
        {
            WriteOutcome::Committed(w) => {
                ctx.counters.add_rows(w);
                kept.push(entry);
            }
            WriteOutcome::Refused(e) => {
                batch
                    .rejected
                    .push(reject(ctx, entry, format!("database refused: {e}")))
            }
            WriteOutcome::Abandoned => return false,
        }
    }
    batch.good = kept;
    // The dead letters are stored on their own.
    if let Some(rows) = dead_letter_rows(&batch.rejected) {
        let pending: Vec<&jetstream::Message> = batch
            .rejected
            .iter()
            .filter_map(|r| r.entry.src.delivery())
            .collect();
        match write_retrying(ctx, kind, &BTreeSet::new(), &[rows], &pending, shutdown).await {
            WriteOutcome::Committed(w) => ctx.counters.add_rows(w),
            WriteOutcome::Refused(e) => {
                tracing::error!(error = %e, "cannot store dead letters; leaving them to redelivery");
                return false;
            }
            WriteOutcome::Abandoned => return false,
        }
    }
    true
}

/// After the commit: publishes the dead letters; returns every message of
/// the batch, stored or dead-lettered, for the ack floor. (No `Term`: with
/// `AckPolicy::All` it would acknowledge everything below it too.)
async fn finish(ctx: &Ctx, batch: Batch) -> Vec<Entry> {
    if !batch.rejected.is_empty() {
        let mut publisher = ctx.bus.publisher(256);
        for r in &batch.rejected {
            tracing::warn!(subject = %r.letter.subject, reason = %r.letter.reason, "dead-lettered");
            if let Err(e) = publisher.publish(&r.letter).await {
                tracing::error!(error = %e, "dead letter stored in audit_events but not published");
            }
        }
        if let Err(e) = publisher.flush().await {
            tracing::error!(error = %e, "dead letters stored in audit_events but not all published");
        }
        ctx.counters
            .dead_letters
            .fetch_add(batch.rejected.len() as u64, Ordering::Relaxed);
    }
    let mut entries = batch.good;
    entries.extend(batch.rejected.into_iter().map(|r| r.entry));
    entries
}
