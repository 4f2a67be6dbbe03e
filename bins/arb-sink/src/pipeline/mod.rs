//! One pipeline per stream: a reader pulls from the durable consumer, decodes
//! each message and encodes its row straight into the batch's COPY data
//! (flushed on size or age); a writer streams each batch into PostgreSQL in
//! one transaction and dead-letters what cannot be decoded or stored. The
//! consumer acks with `AckPolicy::All`: after each commit one ack covers
//! everything up to the ack floor, which [`AckTracker`](crate::acks::AckTracker)
//! moves only over committed sequences; sequences this process never received
//! (a crashed process's deliveries, messages the client dropped) are fetched
//! from the stream by sequence and written first.
//! While PostgreSQL is down the writer holds the batch, retries with backoff
//! and keeps the messages' ack deadline alive; nothing is acked, so nothing is
//! lost.
//!
//! One role per file: `source.rs` (a message and its place in the stream),
//! `batch.rs` (the batch being filled, its dead letters), `reader.rs` (the
//! pull loop, batching by size and age), `writer.rs` (writing with retry, one
//! by one when a batch is refused), `lane.rs` (what a stream's reader, writers
//! and gap filler share: dispatch, the ack floor, gap filling) and
//! `counters.rs` (what the heartbeat reports).

mod batch;
mod counters;
mod lane;
mod reader;
mod source;
mod writer;

pub use counters::Counters;
pub use reader::run_stream;

use tokio::sync::Mutex;

use arb_runtime::bus::Bus;

use crate::config::SinkConfig;
use crate::rows::BufferPool;
use crate::store::Partitions;

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
