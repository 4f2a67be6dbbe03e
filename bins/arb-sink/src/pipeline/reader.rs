//! A stream's reader: pulls from the sink's durable consumer (created, or
//! recreated with `AckPolicy::All`, on each connect), adds each message to
//! the batch being filled and hands the batch to the writers when it holds
//! `batch_size` messages or its first message is `batch_max_age` old.
//! Reconnects with backoff; on shutdown what was read is still written.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::consumer::AckPolicy;
use backoff::backoff::Backoff;
use futures::StreamExt;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::time::Instant;

use arb_contract::subject::StreamKind;
use arb_runtime::bus::backoff_policy;

use super::Ctx;
use super::batch::Batch;
use super::lane::{Lane, lock};
use super::source::Source;
use super::writer::write_loop;

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
    let lane = Lane::new(ctx.clone(), kind, &tx);
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
        let messages: Result<_, async_nats::Error> = match consumer {
            Ok(c) => {
                lock(&lane.tracker).raise_floor(start_floor(c.cached_info()));
                c.stream()
                    .max_messages_per_batch(batch_size * PULL_BATCHES)
                    .heartbeat(Duration::from_secs(5))
                    .expires(Duration::from_secs(30))
                    .messages()
                    .await
                    .map_err(Into::into)
            }
            Err(e) => Err(e.into()),
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
            let flush_at = batch.due(ctx.cfg.batch_max_age);
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
