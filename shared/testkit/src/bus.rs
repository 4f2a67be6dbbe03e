//! The tests' NATS: the shared server at `NATS_URL`, a subject prefix (and
//! so streams) of each test's own on it, and what a test asks of its streams.

use arb_contract::subject::StreamKind;
use arb_runtime::bus::Bus;
use arb_runtime::config::{NatsArgs, StreamArgs};

use crate::unique;

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// Small stream limits: the test server is shared.
pub fn test_stream_args() -> StreamArgs {
    StreamArgs {
        md_max_bytes: 256 << 20,
        arb_max_bytes: 64 << 20,
        exec_max_bytes: 64 << 20,
        sys_max_bytes: 64 << 20,
        ..StreamArgs::default()
    }
}

/// A subject prefix with its own streams on the real NATS server.
pub struct TestBus {
    pub prefix: String,
    pub args: NatsArgs,
    pub bus: Bus,
}

impl TestBus {
    pub async fn new(name: &str) -> TestBus {
        TestBus::on(&nats_url(), name).await
    }

    /// A test prefix on the server at `url` (a private one, say).
    pub async fn on(url: &str, name: &str) -> TestBus {
        let prefix = format!("t.{}", unique(name));
        let args = NatsArgs {
            nats_url: url.to_owned(),
            subject_prefix: Some(prefix.clone()),
            ..NatsArgs::default()
        };
        let bus = Bus::connect_once(&args, name).await.unwrap_or_else(|e| {
            panic!("these tests need NATS with JetStream at {url} (start nats-server -js): {e}")
        });
        bus.ensure_streams(&test_stream_args())
            .await
            .expect("cannot create streams");
        TestBus { prefix, args, bus }
    }

    /// Messages stored in one of this prefix's streams.
    pub async fn stream_messages(&self, kind: StreamKind) -> u64 {
        let mut s = self
            .bus
            .js
            .get_stream(self.bus.subjects.stream_name(kind))
            .await
            .expect("stream");
        s.info().await.expect("stream info").state.messages
    }

    /// (pending, ack pending) of a durable consumer.
    pub async fn consumer_backlog(&self, kind: StreamKind, durable: &str) -> Option<(u64, usize)> {
        let info = self.consumer_info(kind, durable).await?;
        Some((info.num_pending, info.num_ack_pending))
    }

    /// A durable consumer's state and configuration, as the server reports them.
    pub async fn consumer_info(
        &self,
        kind: StreamKind,
        durable: &str,
    ) -> Option<async_nats::jetstream::consumer::Info> {
        let s = self
            .bus
            .js
            .get_stream(self.bus.subjects.stream_name(kind))
            .await
            .ok()?;
        s.consumer_info(durable).await.ok()
    }

    /// Deletes this prefix's streams.
    pub async fn cleanup(&self) {
        for kind in StreamKind::ALL {
            let _ = self
                .bus
                .js
                .delete_stream(self.bus.subjects.stream_name(kind))
                .await;
        }
        self.bus.drain().await;
    }
}
