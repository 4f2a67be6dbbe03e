//! The sink's options; each flag has an environment variable behind it.

use std::time::Duration;

use arb_contract::subject::StreamKind;

use arb_runtime::config::{NatsArgs, StreamArgs, parse_duration, parse_stream};
use arb_runtime::secret::Secret;

use crate::store::WriteMode;

/// `arb-sink`: every stream from JetStream to PostgreSQL.
#[derive(clap::Parser, Debug, Clone)]
#[command(version, about)]
pub struct SinkConfig {
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub streams: StreamArgs,
    /// PostgreSQL URL; its password is never logged.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Secret,
    /// Durable consumer name; a second sink with another name (and another
    /// database) is a mirror.
    #[arg(long, env = "ARB_SINK_DURABLE", default_value = "sink")]
    pub durable: String,
    /// Which streams to consume.
    #[arg(long = "stream", env = "ARB_SINK_STREAMS", value_delimiter = ',', value_parser = parse_stream,
          default_value = "md,arb,exec,sys")]
    pub stream_kinds: Vec<StreamKind>,
    /// A batch is written when it holds this many messages...
    #[arg(long, env = "ARB_SINK_BATCH_SIZE", default_value_t = 2000)]
    pub batch_size: usize,
    /// ...or when its first message is this old.
    #[arg(long, env = "ARB_SINK_BATCH_MAX_AGE", value_parser = parse_duration, default_value = "200ms")]
    pub batch_max_age: Duration,
    /// How long JetStream waits for an ack before redelivering.
    #[arg(long, env = "ARB_SINK_ACK_WAIT", value_parser = parse_duration, default_value = "60s")]
    pub ack_wait: Duration,
    /// Batches written at once per stream, each on its own connection.
    #[arg(long, env = "ARB_SINK_WRITERS", default_value_t = 2)]
    pub writers: usize,
    #[arg(long, env = "ARB_SINK_WRITE_MODE", value_enum, default_value = "copy")]
    pub write_mode: WriteMode,
    /// Apply pending migrations at start-up.
    #[arg(long, env = "ARB_SINK_MIGRATE", default_value_t = false)]
    pub migrate: bool,
    /// Days of market_snapshots partitions to keep created ahead of today.
    #[arg(long, env = "ARB_SINK_PARTITIONS_AHEAD", default_value_t = 3)]
    pub partitions_ahead: u32,
    /// How often to publish the `sys.state.sink` heartbeat.
    #[arg(long, env = "ARB_SINK_HEARTBEAT", value_parser = parse_duration, default_value = "5s")]
    pub heartbeat_interval: Duration,
    #[arg(long, env = "ARB_SINK_DB_CONNECTIONS", default_value_t = 8)]
    pub db_connections: u32,
    /// The name used in `sys.state.<service>`, `sys.dlq.<service>` and audit rows.
    #[arg(long, env = "ARB_SINK_SERVICE", default_value = "sink")]
    pub service: String,
}
