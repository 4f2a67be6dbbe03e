//! One pipeline per stream: a reader pulls from the durable consumer and
//! decodes into batches (flushed on size or age); a writer stores each batch
//! in one transaction, dead-letters what cannot be decoded or stored, and acks
//! only after the commit. While PostgreSQL is down the writer holds the batch,
//! retries with backoff and keeps the messages' ack deadline alive; nothing is
//! acked, so nothing is lost.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind};
use backoff::backoff::Backoff;
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
    fn add_rows(&self, t: Table, n: u64) {
        let i = Table::ALL.iter().position(|x| *x == t).unwrap_or(0);
        self.rows[i].fetch_add(n, Ordering::Relaxed);
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

struct Item {
    msg: jetstream::Message,
    decoded: Result<Decoded, String>,
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

/// Reads one stream until shutdown, handing batches to its writer.
pub async fn run_stream(ctx: Arc<Ctx>, kind: StreamKind, mut shutdown: watch::Receiver<bool>) {
    let (tx, rx) = mpsc::channel::<Vec<Item>>(1);
    let writer = tokio::spawn(write_loop(ctx.clone(), kind, rx, shutdown.clone()));
    let batch_size = ctx.cfg.batch_size.max(1);
    let mut policy = backoff_policy(Duration::from_millis(200), Duration::from_secs(10));
    let mut buf: Vec<Item> = Vec::with_capacity(batch_size);
    let mut deadline: Option<Instant> = None;
    'connect: while !*shutdown.borrow() {
        let consumer = ctx
            .bus
            .durable_consumer(
                kind,
                &ctx.cfg.durable,
                vec![ctx.bus.subjects.stream_filter(kind)],
                (batch_size * 4) as i64,
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
            let flush_at = deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                _ = shutdown.changed() => break 'connect,
                _ = tokio::time::sleep_until(flush_at), if deadline.is_some() => {
                    deadline = None;
                    if tx.send(std::mem::replace(&mut buf, Vec::with_capacity(batch_size))).await.is_err() {
                        break 'connect;
                    }
                }
                next = messages.next() => match next {
                    None => continue 'connect,
                    Some(Err(e)) => {
                        tracing::warn!(stream = kind.base_name(), error = %e, "pull error");
                        continue;
                    }
                    Some(Ok(msg)) => {
                        let decoded = decode(&ctx, &msg);
                        buf.push(Item { msg, decoded });
                        if deadline.is_none() {
                            deadline = Some(Instant::now() + ctx.cfg.batch_max_age);
                        }
                        if buf.len() >= batch_size {
                            deadline = None;
                            if tx.send(std::mem::replace(&mut buf, Vec::with_capacity(batch_size))).await.is_err() {
                                break 'connect;
                            }
                        }
                    }
                },
            }
        }
    }
    // Shutting down: what was read is still written (and acked) before exit.
    if !buf.is_empty() {
        let _ = tx.send(buf).await;
    }
    drop(tx);
    if let Err(e) = writer.await {
        tracing::error!(error = %e, "writer task failed");
    }
}

async fn write_loop(
    ctx: Arc<Ctx>,
    kind: StreamKind,
    mut rx: mpsc::Receiver<Vec<Item>>,
    shutdown: watch::Receiver<bool>,
) {
    while let Some(items) = rx.recv().await {
        write_items(&ctx, kind, items, &shutdown).await;
    }
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

/// Groups messages into COPY data per table; a message that cannot be
/// encoded moves from `good` to `rejected`. Dead letters are added to the
/// audit rows so they are stored in the same transaction as the batch.
fn encode(
    ctx: &Ctx,
    good: &mut Vec<(jetstream::Message, Decoded)>,
    rejected: &mut Vec<Rejected>,
) -> Vec<(Table, bytes::Bytes)> {
    let mut groups: BTreeMap<Table, CopyRows> = BTreeMap::new();
    let mut kept = Vec::with_capacity(good.len());
    for (msg, decoded) in good.drain(..) {
        let table = Table::of(&decoded);
        let rows = groups.entry(table).or_insert_with(|| CopyRows::new(table));
        match rows.push(&decoded, &msg.subject) {
            Ok(()) => kept.push((msg, decoded)),
            Err(e) => rejected.push(reject(ctx, msg, e.to_string())),
        }
    }
    *good = kept;
    for r in rejected.iter() {
        let rows = groups
            .entry(Table::AuditEvents)
            .or_insert_with(|| CopyRows::new(Table::AuditEvents));
        if let Err(e) = rows.push(&Decoded::DeadLetter(r.letter.clone()), &r.letter.subject) {
            tracing::error!(error = %e, "cannot encode a dead letter");
        }
    }
    groups
        .into_iter()
        .filter(|(_, r)| !r.is_empty())
        .map(|(t, r)| (t, r.finish()))
        .collect()
}

fn book_days(good: &[(jetstream::Message, Decoded)]) -> Vec<chrono::NaiveDate> {
    let mut days: Vec<_> = good
        .iter()
        .filter_map(|(_, d)| match d {
            Decoded::Book(b) => Some(b.event_time().date_naive()),
            _ => None,
        })
        .collect();
    days.sort();
    days.dedup();
    days
}

enum WriteOutcome {
    Committed(BTreeMap<Table, u64>),
    /// The data itself is refused (not a connection problem).
    Refused(sqlx::Error),
    /// Shutdown came while the database was unreachable.
    Abandoned,
}

/// Writes with retry and backoff while the error is transient; keeps the
/// messages' ack deadline alive meanwhile.
async fn write_retrying(
    ctx: &Ctx,
    kind: StreamKind,
    good: &[(jetstream::Message, Decoded)],
    tables: &[(Table, bytes::Bytes)],
    pending: &[&jetstream::Message],
    shutdown: &watch::Receiver<bool>,
) -> WriteOutcome {
    let mut policy = backoff_policy(Duration::from_millis(100), Duration::from_secs(5));
    let mut last_progress = Instant::now();
    loop {
        let days = book_days(good);
        let result = async {
            if !days.is_empty() {
                ctx.partitions.lock().await.ensure(&ctx.pool, days).await?;
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
                if *shutdown.borrow() {
                    return WriteOutcome::Abandoned;
                }
                let mut sd = shutdown.clone();
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

fn is_missing_partition(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23514")
        && db.message().contains("no partition"))
}

async fn write_items(
    ctx: &Ctx,
    kind: StreamKind,
    items: Vec<Item>,
    shutdown: &watch::Receiver<bool>,
) {
    let n = items.len() as u64;
    let mut rejected = Vec::new();
    let mut good = Vec::with_capacity(items.len());
    for item in items {
        if item.msg.info().is_ok_and(|i| i.delivered > 1) {
            ctx.counters.redelivered.fetch_add(1, Ordering::Relaxed);
        }
        match item.decoded {
            Ok(d) => good.push((item.msg, d)),
            Err(reason) => rejected.push(reject(ctx, item.msg, reason)),
        }
    }
    let tables = encode(ctx, &mut good, &mut rejected);
    let all: Vec<&jetstream::Message> = good
        .iter()
        .map(|(m, _)| m)
        .chain(rejected.iter().map(|r| &r.msg))
        .collect();
    match write_retrying(ctx, kind, &good, &tables, &all, shutdown).await {
        WriteOutcome::Committed(written) => {
            for (t, k) in written {
                ctx.counters.add_rows(t, k);
            }
        }
        WriteOutcome::Abandoned => {
            tracing::warn!(
                stream = kind.base_name(),
                messages = n,
                "shutdown before the batch could be stored; JetStream will redeliver it"
            );
            return;
        }
        WriteOutcome::Refused(e) => {
            tracing::warn!(stream = kind.base_name(), error = %e, "batch refused; writing its messages one by one to find the bad ones");
            if !write_one_by_one(ctx, kind, &good, &mut rejected, shutdown).await {
                return;
            }
        }
    }
    ctx.counters.batches.fetch_add(1, Ordering::Relaxed);
    ctx.counters.messages.fetch_add(n, Ordering::Relaxed);
    finish(ctx, good.into_iter().map(|(m, _)| m), rejected).await;
}

/// Stores each message in its own transaction; a message the database refuses
/// is dead-lettered with the database's reason. Returns false on shutdown.
async fn write_one_by_one(
    ctx: &Ctx,
    kind: StreamKind,
    good: &[(jetstream::Message, Decoded)],
    rejected: &mut Vec<Rejected>,
    shutdown: &watch::Receiver<bool>,
) -> bool {
    let already: std::collections::HashSet<u64> = rejected
        .iter()
        .filter_map(|r| r.msg.info().ok().map(|i| i.stream_sequence))
        .collect();
    for (msg, decoded) in good {
        if msg
            .info()
            .is_ok_and(|i| already.contains(&i.stream_sequence))
        {
            continue;
        }
        let table = Table::of(decoded);
        let mut rows = CopyRows::new(table);
        if rows.push(decoded, &msg.subject).is_err() {
            continue;
        }
        let single = [(table, rows.finish())];
        let one = [(msg.clone(), decoded.clone())];
        match write_retrying(ctx, kind, &one, &single, &[msg], shutdown).await {
            WriteOutcome::Committed(w) => {
                w.into_iter().for_each(|(t, k)| ctx.counters.add_rows(t, k))
            }
            WriteOutcome::Refused(e) => {
                rejected.push(reject(ctx, msg.clone(), format!("database refused: {e}")))
            }
            WriteOutcome::Abandoned => return false,
        }
    }
    // The dead letters found here are stored on their own.
    let mut rows = CopyRows::new(Table::AuditEvents);
    for r in rejected.iter() {
        let _ = rows.push(&Decoded::DeadLetter(r.letter.clone()), &r.letter.subject);
    }
    if !rows.is_empty() {
        let data = [(Table::AuditEvents, rows.finish())];
        let pending: Vec<&jetstream::Message> = rejected.iter().map(|r| &r.msg).collect();
        match write_retrying(ctx, kind, &[], &data, &pending, shutdown).await {
            WriteOutcome::Committed(w) => {
                w.into_iter().for_each(|(t, k)| ctx.counters.add_rows(t, k))
            }
            WriteOutcome::Refused(e) => {
                tracing::error!(error = %e, "cannot store dead letters; leaving them to redelivery");
                return false;
            }
            WriteOutcome::Abandoned => return false,
        }
    }
    true
}

/// After the commit: publish dead letters, terminate their messages, ack the rest.
async fn finish(
    ctx: &Ctx,
    good: impl Iterator<Item = jetstream::Message>,
    rejected: Vec<Rejected>,
) {
    let rejected_seqs: std::collections::HashSet<u64> = rejected
        .iter()
        .filter_map(|r| r.msg.info().ok().map(|i| i.stream_sequence))
        .collect();
    if !rejected.is_empty() {
        let mut publisher = ctx.bus.publisher(256);
        for r in &rejected {
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
            .fetch_add(rejected.len() as u64, Ordering::Relaxed);
        for r in &rejected {
            if let Err(e) = r.msg.ack_with(AckKind::Term).await {
                tracing::warn!(error = %e, "term failed; the message will come back and be dead-lettered again (same row)");
            }
        }
    }
    for m in good {
        if m.info()
            .is_ok_and(|i| rejected_seqs.contains(&i.stream_sequence))
        {
            continue;
        }
        if let Err(e) = m.ack().await {
            tracing::warn!(error = %e, "ack failed; the message will be redelivered and dropped as a duplicate");
        }
    }
}
