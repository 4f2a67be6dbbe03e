//! One pipeline per stream: a reader pulls from the durable consumer, decodes
//! each message and encodes its row straight into the batch's COPY data
//! (flushed on size or age); a writer streams each batch into PostgreSQL in
//! one transaction, dead-letters what cannot be decoded or stored, and acks
//! each message only after the commit. (Not one `AckPolicy::All` ack per
//! batch: after a crash, the new process's first ack would also cover the
//! messages the dead one had received and never committed. The SIGKILL test
//! catches that.)
//! While PostgreSQL is down the writer holds the batch, retries with backoff
//! and keeps the messages' ack deadline alive; nothing is acked, so nothing is
//! lost.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use backoff::backoff::Backoff;
use bytes::Bytes;
use chrono::NaiveDate;
use futures::StreamExt;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::time::Instant;

use arb_shared::bus::{Bus, backoff_policy};
use arb_shared::codec::{Decoded, header_strings};
use arb_shared::model::{DeadLetter, id_at, new_id, stable_hash};
use arb_shared::subject::StreamKind;
use arb_shared::{Message, time};

use crate::config::SinkConfig;
use crate::rows::{CopyRows, Table};
use crate::store::{self, Partitions};

/// What the sink has done, for the heartbeat.
#[derive(Default)]
pub struct Counters {
    rows: [AtomicU64; 8],
    pub messages: AtomicU64,
    pub batches: AtomicU64,
    pub dead_letters: AtomicU64,
    pub db_errors: AtomicU64,
    pub redelivered: AtomicU64,
}

impl Counters {
    fn add_rows(&self, written: BTreeMap<Table, u64>) {
        for (t, n) in written {
            let i = Table::ALL.iter().position(|x| *x == t).unwrap_or(0);
            self.rows[i].fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for (i, t) in Table::ALL.iter().enumerate() {
            m.insert(
                format!("rows.{}", t.name()),
                self.rows[i].load(Ordering::Relaxed),
            );
        }
        for (k, v) in [
            ("messages", &self.messages),
            ("batches", &self.batches),
            ("dead_letters", &self.dead_letters),
            ("errors.db", &self.db_errors),
            ("redelivered", &self.redelivered),
        ] {
            m.insert(k.to_owned(), v.load(Ordering::Relaxed));
        }
        m
    }
}

/// Everything the pipelines share.
pub struct Ctx {
    pub bus: Bus,
    pub pool: sqlx::PgPool,
    pub cfg: SinkConfig,
    pub counters: Counters,
    pub partitions: Mutex<Partitions>,
}

/// A message the sink gives up on, with the dead letter that records it.
struct Rejected {
    msg: jetstream::Message,
    letter: DeadLetter,
}

fn reject(ctx: &Ctx, msg: jetstream::Message, reason: String) -> Rejected {
    let (stream, stream_seq, published) = match msg.info() {
        Ok(i) => (
            Some(i.stream.to_owned()),
            Some(i.stream_sequence),
            Some(i.published),
        ),
        Err(_) => (None, None, None),
    };
    // Derived from where the message sits in its stream, so a redelivery of the
    // same bad message maps to the same audit row.
    let id = match (&stream, stream_seq, published) {
        (Some(s), Some(seq), Some(p)) => {
            let at = time::from_nanos(p.unix_timestamp_nanos().clamp(0, i64::MAX as i128) as i64);
            id_at(
                at,
                stable_hash(&[ctx.cfg.service.as_bytes(), s.as_bytes(), &seq.to_be_bytes()]),
            )
        }
        _ => new_id(),
    };
    let letter = DeadLetter {
        id,
        ts: time::now(),
        service: ctx.cfg.service.clone(),
        subject: msg.subject.to_string(),
        reason,
        headers: header_strings(msg.headers.as_ref()),
        stream,
        stream_seq,
        payload: msg.payload.to_vec(),
    };
    Rejected { msg, letter }
}

fn decode(ctx: &Ctx, msg: &jetstream::Message) -> Result<Decoded, String> {
    Decoded::decode(
        &ctx.bus.subjects,
        &msg.subject,
        msg.headers.as_ref(),
        &msg.payload,
    )
    .map_err(|e| e.to_string())
}

/// A batch being filled by the reader: rows are encoded as messages arrive.
struct Batch {
    groups: BTreeMap<Table, CopyRows>,
    good: Vec<jetstream::Message>,
    rejected: Vec<Rejected>,
    days: BTreeSet<NaiveDate>,
    started: Option<Instant>,
}

impl Batch {
    fn new(capacity: usize) -> Self {
        Batch {
            groups: BTreeMap::new(),
            good: Vec::with_capacity(capacity),
            rejected: Vec::new(),
            days: BTreeSet::new(),
            started: None,
        }
    }

    fn len(&self) -> usize {
        self.good.len() + self.rejected.len()
    }

    fn add(&mut self, ctx: &Ctx, msg: jetstream::Message) {
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
        if msg.info().is_ok_and(|i| i.delivered > 1) {
            ctx.counters.redelivered.fetch_add(1, Ordering::Relaxed);
        }
        let decoded = match decode(ctx, &msg) {
            Ok(d) => d,
            Err(reason) => return self.rejected.push(reject(ctx, msg, reason)),
        };
        let table = Table::of(&decoded);
        let rows = self
            .groups
            .entry(table)
            .or_insert_with(|| CopyRows::new(table));
        match rows.push(&decoded, &msg.subject) {
            Ok(()) => {
                if let Decoded::Book(b) = &decoded {
                    self.days.insert(b.event_time().date_naive());
                }
                self.good.push(msg);
            }
            Err(e) => self.rejected.push(reject(ctx, msg, e.to_string())),
        }
    }

    /// The COPY data, with the dead letters' audit rows in the same transaction.
    fn tables(&mut self) -> Vec<(Table, Bytes)> {
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

fn dead_letter_rows(rejected: &[Rejected]) -> Option<(Table, Bytes)> {
    let mut rows = CopyRows::new(Table::AuditEvents);
    for r in rejected {
        if let Err(e) = rows.push(&Decoded::DeadLetter(r.letter.clone()), &r.letter.subject) {
            tracing::error!(error = %e, "cannot encode a dead letter");
        }
    }
    (!rows.is_empty()).then(|| (Table::AuditEvents, rows.finish()))
}

/// Reads one stream until shutdown, handing batches to its writer.
pub async fn run_stream(ctx: Arc<Ctx>, kind: StreamKind, mut shutdown: watch::Receiver<bool>) {
    let (tx, rx) = mpsc::channel::<Batch>(1);
    let writer = tokio::spawn(write_loop(ctx.clone(), kind, rx, shutdown.clone()));
    let batch_size = ctx.cfg.batch_size.max(1);
    let mut policy = backoff_policy(Duration::from_millis(200), Duration::from_secs(10));
    let mut batch = Batch::new(batch_size);
    'connect: while !*shutdown.borrow() {
        let consumer = ctx
            .bus
            .durable_consumer(
                kind,
                &ctx.cfg.durable,
                vec![ctx.bus.subjects.stream_filter(kind)],
                (batch_size * 8).max(10_000) as i64,
                ctx.cfg.ack_wait,
            )
            .await;
        let messages = match consumer {
            Ok(c) => c
                .stream()
                .max_messages_per_batch(batch_size)
                .heartbeat(Duration::from_secs(5))
                .expires(Duration::from_secs(30))
                .messages()
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let mut messages = match messages {
            Ok(m) => m,
            Err(e) => {
                let wait = policy.next_backoff().unwrap_or(Duration::from_secs(10));
                tracing::warn!(stream = kind.base_name(), error = %e, ?wait, "cannot consume, retrying");
                tokio::select! {
                    _ = shutdown.changed() => break,
                    _ = tokio::time::sleep(wait) => continue,
                }
            }
        };
        policy.reset();
        loop {
            let flush_at = batch.started.map(|s| s + ctx.cfg.batch_max_age);
            let full = tokio::select! {
                _ = shutdown.changed() => break 'connect,
                _ = tokio::time::sleep_until(flush_at.unwrap_or_else(Instant::now)), if flush_at.is_some() => true,
                next = messages.next() => match next {
                    None => continue 'connect,
                    Some(Err(e)) => {
                        tracing::warn!(stream = kind.base_name(), error = %e, "pull error");
                        false
                    }
                    Some(Ok(msg)) => {
                        batch.add(&ctx, msg);
                        batch.len() >= batch_size
                    }
                },
            };
            if full
                && batch.len() > 0
                && tx
                    .send(std::mem::replace(&mut batch, Batch::new(batch_size)))
                    .await
                    .is_err()
            {
                break 'connect;
            }
        }
    }
    // Shutting down: what was read is still written (and acked) before exit.
    if batch.len() > 0 {
        let _ = tx.send(batch).await;
    }
    drop(tx);
    if let Err(e) = writer.await {
        tracing::error!(error = %e, "writer task failed");
    }
}

/// Writes batches in order; hands committed messages to an acker task so the
/// next COPY starts right after a commit.
async fn write_loop(
    ctx: Arc<Ctx>,
    kind: StreamKind,
    mut rx: mpsc::Receiver<Batch>,
    shutdown: watch::Receiver<bool>,
) {
    let (ack_tx, mut ack_rx) = mpsc::channel::<Vec<jetstream::Message>>(4);
    let acker = tokio::spawn(async move {
        while let Some(msgs) = ack_rx.recv().await {
            for m in msgs {
                if let Err(e) = m.ack().await {
                    tracing::warn!(error = %e, "ack failed; the message will be redelivered and dropped as a duplicate");
                }
            }
        }
    });
    while let Some(batch) = rx.recv().await {
        if let Some(committed) = write_batch(&ctx, kind, batch, &shutdown).await {
            let _ = ack_tx.send(committed).await;
        }
    }
    drop(ack_tx);
    let _ = acker.await;
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
            Err(e) if arb_shared::db::is_retryable(&e) || is_missing_partition(&e) => {
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
) -> Option<Vec<jetstream::Message>> {
    let n = batch.len() as u64;
    let tables = batch.tables();
    let pending: Vec<&jetstream::Message> = batch
        .good
        .iter()
        .chain(batch.rejected.iter().map(|r| &r.msg))
        .collect();
    match write_retrying(ctx, kind, &batch.days, &tables, &pending, shutdown).await {
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
    for msg in std::mem::take(&mut batch.good) {
        let Ok(decoded) = decode(ctx, &msg) else {
            continue;
        };
        let table = Table::of(&decoded);
        let mut rows = CopyRows::new(table);
        if rows.push(&decoded, &msg.subject).is_err() {
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
            &[&msg],
            shutdown,
        )
        .await
        {
            WriteOutcome::Committed(w) => {
                ctx.counters.add_rows(w);
                kept.push(msg);
            }
            WriteOutcome::Refused(e) => {
                batch
                    .rejected
                    .push(reject(ctx, msg, format!("database refused: {e}")))
            }
            WriteOutcome::Abandoned => return false,
        }
    }
    batch.good = kept;
    // The dead letters are stored on their own.
    if let Some(rows) = dead_letter_rows(&batch.rejected) {
        let pending: Vec<&jetstream::Message> = batch.rejected.iter().map(|r| &r.msg).collect();
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

/// After the commit: publish the dead letters and terminate their messages;
/// returns the rest, to be acked.
async fn finish(ctx: &Ctx, batch: Batch) -> Vec<jetstream::Message> {
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
        for r in &batch.rejected {
            if let Err(e) = r.msg.ack_with(AckKind::Term).await {
                tracing::warn!(error = %e, "term failed; the message will come back and map to the same audit row");
            }
        }
    }
    batch.good
}
