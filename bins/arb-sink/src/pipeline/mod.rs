//! One pipeline per stream: a reader pulls from the durable consumer, decodes
//! each message and encodes its row straight into the batch's COPY data
//! (flushed on size or age); a writer streams each batch into PostgreSQL in
//! one transaction and dead-letters what cannot be decoded or stored. The
//! consumer acks with `AckPolicy::All`: after each commit one ack covers
//! everything up to the ack floor, which [`AckTracker`] moves only over
//! committed sequences; sequences this process never received (a crashed
//! process's deliveries, messages the client dropped) are fetched from the
//! stream by sequence and written first.
//! While PostgreSQL is down the writer holds the batch, retries with backoff
//! and keeps the messages' ack deadline alive; nothing is acked, so nothing is
//! lost.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::AckPolicy;
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::RawMessageErrorKind;
use async_nats::jetstream::{self, AckKind};
use backoff::backoff::Backoff;
use bytes::Bytes;
use chrono::NaiveDate;
use futures::StreamExt;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::time::Instant;

use arb_contract::codec::{ContentType, Decoded};
use arb_contract::model::{BookSnapshot, DeadLetter, StreamPlace};
use arb_contract::subject::StreamKind;
use arb_contract::{CodecError, Message};
use arb_runtime::bus::{Bus, backoff_policy, server_time};
use arb_runtime::{clock, headers};

use crate::acks::AckTracker;
use crate::config::SinkConfig;
use crate::rows::{BufferPool, CopyRows, Table};
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
    /// COPY buffers reused from batch to batch.
    pub buffers: BufferPool,
}

/// A message from the stream: delivered by the consumer (it carries the ack
/// handle), or fetched by sequence to fill a gap.
#[allow(clippy::large_enum_variant)] // boxing would allocate per delivered message; fetched ones are rare
enum Source {
    Delivered(jetstream::Message),
    Fetched { stream: String, msg: StreamMessage },
}

impl Source {
    fn subject(&self) -> &str {
        match self {
            Source::Delivered(m) => &m.subject,
            Source::Fetched { msg, .. } => &msg.subject,
        }
    }

    fn headers(&self) -> Option<&HeaderMap> {
        match self {
            Source::Delivered(m) => m.headers.as_ref(),
            Source::Fetched { msg, .. } => Some(&msg.headers),
        }
    }

    fn payload(&self) -> &Bytes {
        match self {
            Source::Delivered(m) => &m.payload,
            Source::Fetched { msg, .. } => &msg.payload,
        }
    }

    /// Where the message sits in its stream.
    fn place(&self) -> Option<StreamPlace> {
        match self {
            Source::Delivered(m) => arb_runtime::bus::stream_place(m),
            Source::Fetched { stream, msg } => Some(StreamPlace {
                stream: stream.clone(),
                seq: msg.sequence,
                stored: server_time(msg.time.unix_timestamp_nanos()),
            }),
        }
    }

    fn delivery(&self) -> Option<&jetstream::Message> {
        match self {
            Source::Delivered(m) => Some(m),
            Source::Fetched { .. } => None,
        }
    }

    fn into_delivery(self) -> Option<jetstream::Message> {
        match self {
            Source::Delivered(m) => Some(m),
            Source::Fetched { .. } => None,
        }
    }
}

/// A message in a batch, with its stream sequence (for the ack floor).
struct Entry {
    seq: Option<u64>,
    src: Source,
}

impl Entry {
    /// The entry, and whether it is a redelivery (the reply subject is parsed once).
    fn new(src: Source) -> (Self, bool) {
        let (seq, redelivered) = match &src {
            Source::Delivered(m) => match m.info() {
                Ok(i) => (Some(i.stream_sequence), i.delivered > 1),
                Err(_) => (None, false),
            },
            Source::Fetched { msg, .. } => (Some(msg.sequence), false),
        };
        (Entry { seq, src }, redelivered)
    }
}

/// A message the sink gives up on, with the dead letter that records it.
struct Rejected {
    entry: Entry,
    letter: DeadLetter,
}

fn reject(ctx: &Ctx, entry: Entry, reason: String) -> Rejected {
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

fn decode(ctx: &Ctx, src: &Source) -> Result<Decoded, CodecError> {
    headers::decode_any(
        &ctx.bus.subjects,
        src.subject(),
        src.headers(),
        src.payload(),
    )
}

/// A batch being filled by the reader: rows are encoded as messages arrive.
struct Batch {
    groups: BTreeMap<Table, CopyRows>,
    good: Vec<Entry>,
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

    fn entries(&self) -> impl Iterator<Item = &Entry> {
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

    fn add(&mut self, ctx: &Ctx, src: Source) {
        if self.started.is_none() {
            self.started = Some(Instant::now());
        }
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

type Tracker = Arc<std::sync::Mutex<AckTracker<jetstream::Message>>>;

fn lock(tracker: &Tracker) -> std::sync::MutexGuard<'_, AckTracker<jetstream::Message>> {
    // The tracker's state stays consistent even if a holder panicked.
    tracker.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a stream's reader, writer and gap filler share.
struct Lane {
    ctx: Arc<Ctx>,
    kind: StreamKind,
    tracker: Tracker,
    /// The gap filler's way to the writer: weak, so that the channel closes
    /// when the reader (which holds the strong sender) is done.
    tx: mpsc::WeakSender<Batch>,
    filling: AtomicBool,
}

impl Lane {
    /// Hands a batch to the writer; its sequences are in flight from now on.
    async fn dispatch(&self, tx: &mpsc::Sender<Batch>, batch: Batch) -> bool {
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
    async fn committed(self: &Arc<Self>, entries: Vec<Entry>) {
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
    async fn fill_gaps(&self) -> Result<(), String> {
        let name = self.ctx.bus.subjects.stream_name(self.kind);
        let mut stream = self
            .ctx
            .bus
            .js
            .get_stream(&name)
            .await
            .map_err(|e| e.to_string())?;
        let first = stream
            .info()
            .await
            .map_err(|e| e.to_string())?
            .state
            .first_sequence;
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

/// Where the ack floor starts: the consumer's, or just below where a
/// consumer created at a sequence starts (its reported floor is 0 until the
/// first ack).
fn start_floor(info: &jetstream::consumer::Info) -> u64 {
    let start = match info.config.deliver_policy {
        jetstream::consumer::DeliverPolicy::ByStartSequence { start_sequence } => {
            start_sequence.saturating_sub(1)
        }
        _ => 0,
    };
    info.ack_floor.stream_sequence.max(start)
}

/// One `AckPolicy::All` ack: everything up to this delivery is committed.
async fn ack_all(ack: Option<(u64, jetstream::Message)>) {
    if let Some((seq, m)) = ack
        && let Err(e) = m.ack().await
    {
        tracing::warn!(seq, error = %e, "ack failed; the messages will be redelivered and dropped as duplicates");
    }
}

/// Batches' worth of messages each pull asks the server for.
const PULL_BATCHES: usize = 4;
/// Batches waiting between the reader and the writers.
const QUEUED_BATCHES: usize = 2;

/// The consumer's `max_ack_pending`: how many delivered messages may wait for
/// their ack. It must cover everything the sink can hold at once (a pull's
/// worth in the client, the batch being filled, the queued ones, one per
/// writer) and the committed ones whose ack waits for an earlier batch, twice
/// over; at the bare sum the server paused deliveries until an ack came and
/// the sink ran a tenth slower. Memory is bounded by the sink's own queue,
/// not by this.
fn ack_window(batch_size: usize, writers: usize) -> usize {
    let held = PULL_BATCHES + 1 + QUEUED_BATCHES + writers.max(1);
    (batch_size.max(1) * held * 2).max(10_000)
}

/// Reads one stream until shutdown, handing batches to its writer.
pub async fn run_stream(ctx: Arc<Ctx>, kind: StreamKind, mut shutdown: watch::Receiver<bool>) {
    let (tx, rx) = mpsc::channel::<Batch>(QUEUED_BATCHES);
    let lane = Arc::new(Lane {
        ctx: ctx.clone(),
        kind,
        tracker: Arc::new(std::sync::Mutex::new(AckTracker::new(0))),
        tx: tx.downgrade(),
        filling: AtomicBool::new(false),
    });
    let rx = Arc::new(Mutex::new(rx));
    let writers: Vec<_> = (0..ctx.cfg.writers.max(1))
        .map(|_| tokio::spawn(write_loop(lane.clone(), rx.clone(), shutdown.clone())))
        .collect();
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
                ack_window(batch_size, ctx.cfg.writers) as i64,
                ctx.cfg.ack_wait,
                AckPolicy::All,
            )
            .await;
        let messages = match consumer {
            Ok(c) => {
                lock(&lane.tracker).raise_floor(start_floor(c.cached_info()));
                c.stream()
                    .max_messages_per_batch(batch_size * PULL_BATCHES)
                    .heartbeat(Duration::from_secs(5))
                    .expires(Duration::from_secs(30))
                    .messages()
                    .await
                    .map_err(|e| e.to_string())
            }
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
                        batch.add(&ctx, Source::Delivered(msg));
                        batch.len() >= batch_size
                    }
                },
            };
            if full
                && batch.len() > 0
                && !lane
                    .dispatch(&tx, std::mem::replace(&mut batch, Batch::new(batch_size)))
                    .await
            {
                break 'connect;
            }
        }
    }
    // Shutting down: what was read is still written (and acked) before exit.
    if batch.len() > 0 {
        lane.dispatch(&tx, batch).await;
    }
    // The writer ends once this sender (and a gap filler's, if one runs) is gone.
    drop(tx);
    for w in writers {
        if let Err(e) = w.await {
            tracing::error!(error = %e, "writer task failed");
        }
    }
}

/// Takes batches from the reader and writes them, each writer on its own
/// connection (so one batch's COPY overlaps another's commit); acks after each
/// commit, as far as the ack floor has moved.
async fn write_loop(
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
