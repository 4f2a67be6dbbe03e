//! arb-sink: consumes every JetStream stream of the pipeline with a durable
//! pull consumer and writes it to PostgreSQL in batches, acking only after the
//! commit. Nothing is lost (no ack before the commit), nothing is duplicated
//! (the message id is the key, ON CONFLICT DO NOTHING).
#![forbid(unsafe_code)]

pub mod acks;
pub mod book;
pub mod config;
pub mod numeric;
pub mod pipeline;
pub mod rows;
pub mod store;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{Mutex, watch};

use arb_contract::subject::StreamKind;
use arb_runtime::BusError;
use arb_runtime::db::DbError;

use arb_runtime::bus::{Bus, FLUSH_DEADLINE, Heartbeat};
use arb_runtime::clock;
use arb_runtime::retry::until_ok;
use arb_runtime::secret::redact_url;

pub use config::SinkConfig;

// Used by the integration tests only.
#[cfg(test)]
use arb_testkit as _;

/// The allocator the sink runs with (`#[global_allocator]` in the binary and
/// the benchmark): mimalloc. The sink allocates and frees a few small
/// buffers per message; with glibc's malloc that was a tenth of its CPU.
pub type Allocator = mimalloc::MiMalloc;
use pipeline::{Counters, Ctx};

/// Resolves when the sink's stop flag changes.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.changed().await;
}

/// Runs the sink until `shutdown` resolves; then finishes the batches in
/// flight, acks what was committed, and drains the NATS connection.
pub async fn run(cfg: SinkConfig, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);

    // A malformed URL is known before anything connects.
    let pool = arb_runtime::db::pool(cfg.database_url.expose(), cfg.db_connections, "arb-sink")
        .context("DATABASE_URL cannot be used")?;
    let bus = tokio::select! {
        bus = Bus::connect(&cfg.nats, &cfg.service, None) => bus.context("failed to connect to NATS")?,
        _ = &mut shutdown => return Ok(()),
    };
    tracing::info!(nats = %redact_url(&cfg.nats.nats_url), db = %redact_url(cfg.database_url.expose()),
        durable = %cfg.durable, batch_size = cfg.batch_size, batch_max_age = ?cfg.batch_max_age, "arb-sink starting");

    let ctx = Arc::new(Ctx {
        bus: bus.clone(),
        pool: pool.clone(),
        cfg: cfg.clone(),
        counters: Counters::default(),
        partitions: Mutex::new(store::Partitions::default()),
        // Enough for every writer's batch and the batch being filled, per stream.
        buffers: rows::BufferPool::new(
            cfg.stream_kinds.len() * (cfg.writers.max(1) + 1) * 2 + rows::Table::ALL.len(),
        ),
    });

    let setup = async {
        let mut rx = stop_rx.clone();
        // The streams it reads, and SYS for its dead letters and heartbeats,
        // made by the operator (`arbctl streams --ensure`): wait for them.
        let mut kinds = cfg.stream_kinds.clone();
        if !kinds.contains(&StreamKind::Sys) {
            kinds.push(StreamKind::Sys);
        }
        let streams = until_ok(
            "checking the JetStream streams",
            stopped(&mut rx),
            BusError::is_retryable,
            || bus.check_streams(&kinds, &cfg.streams),
        )
        .await
        .context("the JetStream streams")?;
        if streams.is_none() {
            return Ok(None);
        }
        if cfg.migrate {
            let done = until_ok(
                "migrating the database",
                stopped(&mut rx),
                DbError::is_retryable,
                || arb_runtime::db::migrate(&pool),
            )
            .await
            .context("cannot migrate the database")?;
            if done.is_none() {
                return Ok(None);
            }
            tracing::info!("database schema is current");
        }
        until_ok(
            "creating market_snapshots partitions",
            stopped(&mut rx),
            arb_runtime::db::is_retryable,
            || async {
                let today = clock::now().date_naive();
                ctx.partitions
                    .lock()
                    .await
                    .ensure_ahead(&pool, today, cfg.partitions_ahead)
                    .await
            },
        )
        .await
        .context("cannot create market_snapshots partitions")
    };
    let ready = tokio::select! {
        r = setup => r?.is_some(),
        _ = &mut shutdown => false,
    };
    if !ready {
        bus.drain().await;
        return Ok(());
    }

    let mut tasks = Vec::new();
    for kind in cfg.stream_kinds.iter().copied() {
        tasks.push(tokio::spawn(pipeline::run_stream(
            ctx.clone(),
            kind,
            stop_rx.clone(),
        )));
    }
    let heartbeat = tokio::spawn(heartbeat_loop(ctx.clone(), stop_rx.clone()));

    shutdown.await;
    tracing::info!("stopping: finishing the batches in flight");
    let _ = stop_tx.send(true);
    // What was read is written and acked, within a deadline: with NATS or
    // PostgreSQL down it would wait for ever. Past it nothing more is acked,
    // and JetStream redelivers what was not.
    let finish = async {
        for t in tasks {
            let _ = t.await;
        }
        let _ = heartbeat.await;
    };
    if tokio::time::timeout(FLUSH_DEADLINE, finish).await.is_err() {
        tracing::warn!(deadline = ?FLUSH_DEADLINE, "batches still in flight at the deadline are left to redelivery");
    }
    bus.drain().await;
    let _ = tokio::time::timeout(Duration::from_millis(500), pool.close()).await;
    tracing::info!(counters = ?ctx.counters.snapshot(), "arb-sink stopped");
    Ok(())
}

/// Publishes `sys.state.<service>` with rows per table, batches, errors and
/// consumer lag; keeps partitions created ahead as days pass.
async fn heartbeat_loop(ctx: Arc<Ctx>, mut stop: watch::Receiver<bool>) {
    let beat = Heartbeat::new(&ctx.cfg.service, env!("CARGO_PKG_VERSION"));
    let mut publisher = ctx.bus.publisher(16);
    let mut tick = tokio::time::interval(ctx.cfg.heartbeat_interval);
    loop {
        let last = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.changed() => true,
        };
        let mut lag = std::collections::BTreeMap::new();
        for kind in &ctx.cfg.stream_kinds {
            let name = ctx.bus.subjects.stream_name(*kind);
            if let Ok(stream) = ctx.bus.js.get_stream(&name).await
                && let Ok(info) = stream.consumer_info(&ctx.cfg.durable).await
            {
                lag.insert(name, info.num_pending + info.num_ack_pending as u64);
            }
        }
        let state = beat.state(ctx.counters.snapshot(), lag);
        if let Err(e) = publisher.publish(&state).await {
            tracing::warn!(error = %e, "heartbeat not published");
        }
        let _ = publisher.flush().await;
        if last {
            return;
        }
        let today = clock::now().date_naive();
        if let Err(e) = ctx
            .partitions
            .lock()
            .await
            .ensure_ahead(&ctx.pool, today, ctx.cfg.partitions_ahead)
            .await
        {
            tracing::warn!(error = %e, "cannot create partitions ahead");
        }
    }
}
