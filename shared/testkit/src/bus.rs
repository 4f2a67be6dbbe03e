//! The tests' NATS: the shared server at `NATS_URL`, a subject prefix (and
//! so streams) of each test's own on it, and what a test asks of its streams.

use std::time::Duration;

use arb_contract::codec::{ContentType, Decoded, Headers};
use arb_contract::subject::StreamKind;
use arb_runtime::bus::Bus;
use arb_runtime::config::{NatsArgs, StreamArgs};
use async_nats::jetstream::stream::Stream;

use crate::nats::NatsUser;
use crate::unique;

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// The tests' stream limits. No byte limit: JetStream reserves a stream's
/// `max_bytes` against the server's whole store when the stream is made, so
/// byte limits on each test's own streams fail with "insufficient storage
/// resources" once a few are open on a machine short of disk (CI did). An
/// hour's age instead: what a test leaves behind (a killed run) ages out.
pub fn test_stream_args() -> StreamArgs {
    let hour = Duration::from_secs(3600);
    StreamArgs {
        md_max_bytes: -1,
        arb_max_bytes: -1,
        exec_max_bytes: -1,
        sys_max_bytes: -1,
        md_max_age: hour,
        arb_max_age: hour,
        exec_max_age: hour,
        sys_max_age: hour,
        ..StreamArgs::default()
    }
}

/// The executor's runtime configuration bucket (`arb_exec::settings::BUCKET`)
/// and the revisions per key `arbctl` keeps in it.
pub const CONFIG_BUCKET: &str = "arb_config";
const CONFIG_HISTORY: i64 = 64;

/// Generous: a durable catching up on thousands of messages on a loaded
/// machine. A wait that ends in a panic, never a timing assertion.
pub const CATCH_UP: Duration = Duration::from_secs(180);

/// A subject prefix of a test's own.
pub fn test_prefix(name: &str) -> String {
    format!("t.{}", unique(name))
}

/// A core NATS subscription to `subject`, flushed: the server has it before
/// anything the test then starts can publish.
pub async fn subscribe(bus: &Bus, subject: String) -> async_nats::Subscriber {
    let sub = bus
        .client
        .subscribe(subject)
        .await
        .expect("cannot subscribe");
    bus.client.flush().await.expect("NATS flush");
    sub
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

    /// A test prefix on the server at `url` (a private one, say), connected
    /// as the operator of the repo's NATS config (which creates the
    /// streams; a server without users ignores the credentials).
    pub async fn on(url: &str, name: &str) -> TestBus {
        let prefix = test_prefix(name);
        let args = NatsUser::operator().apply(NatsArgs {
            nats_url: url.to_owned(),
            subject_prefix: Some(prefix.clone()),
            ..NatsArgs::default()
        });
        let bus = Bus::connect_once(&args, name).await.unwrap_or_else(|e| {
            panic!("these tests need NATS with JetStream at {url} (start nats-server -js): {e}")
        });
        bus.ensure_streams(&test_stream_args())
            .await
            .expect("cannot create streams");
        TestBus { prefix, args, bus }
    }

    /// A new connection under the same prefix (to a restarted server, or
    /// one of a publisher's own).
    pub async fn reconnect(&self, name: &str) -> TestBus {
        let bus = Bus::connect_once(&self.args, name)
            .await
            .unwrap_or_else(|e| panic!("cannot reconnect to {}: {e}", self.args.nats_url));
        TestBus {
            prefix: self.prefix.clone(),
            args: self.args.clone(),
            bus,
        }
    }

    /// One of this prefix's streams.
    pub async fn stream(&self, kind: StreamKind) -> Stream {
        let name = self.bus.subjects.stream_name(kind);
        self.bus
            .js
            .get_stream(&name)
            .await
            .unwrap_or_else(|e| panic!("no stream {name}: {e}"))
    }

    /// Messages stored in one of this prefix's streams.
    pub async fn stream_messages(&self, kind: StreamKind) -> u64 {
        let mut s = self.stream(kind).await;
        s.info().await.expect("stream info").state.messages
    }

    /// Publishes each message on its subject as MessagePack with the
    /// contract's headers, then waits until JetStream has stored them all.
    pub async fn publish_all(&self, msgs: &[Decoded]) {
        self.publish_each(msgs, None, |_, _| {}).await;
    }

    /// [`TestBus::publish_all`] with each message's headers changed by
    /// `edit` first (another `Nats-Msg-Id`, say).
    pub async fn publish_all_with(&self, msgs: &[Decoded], edit: impl Fn(&Decoded, &mut Headers)) {
        self.publish_each(msgs, None, edit).await;
    }

    /// [`TestBus::publish_all`] at about `rate` messages a second.
    pub async fn publish_paced(&self, msgs: &[Decoded], rate: u64) {
        self.publish_each(msgs, Some(rate), |_, _| {}).await;
    }

    async fn publish_each(
        &self,
        msgs: &[Decoded],
        rate: Option<u64>,
        edit: impl Fn(&Decoded, &mut Headers),
    ) {
        let mut p = self.bus.publisher(256);
        let start = tokio::time::Instant::now();
        for (i, m) in msgs.iter().enumerate() {
            if let Some(rate) = rate {
                let due = start + Duration::from_micros(i as u64 * 1_000_000 / rate);
                tokio::time::sleep_until(due).await;
            }
            let mut headers = m.headers(ContentType::Msgpack);
            edit(m, &mut headers);
            p.publish_raw(
                m.subject(&self.bus.subjects).expect("a subject"),
                arb_runtime::headers::to_map(&headers),
                m.encode(ContentType::Msgpack).expect("encode"),
            )
            .await
            .expect("publish");
        }
        p.flush().await.expect("JetStream acks");
    }

    /// Whether a durable consumer has nothing pending and nothing unacked.
    pub async fn caught_up(&self, kind: StreamKind, durable: &str) -> bool {
        self.consumer_backlog(kind, durable).await == Some((0, 0))
    }

    /// Whether `durable` has caught up on every stream: for the sink, which
    /// acks only after the commit, whatever it was going to write is written.
    pub async fn all_caught_up(&self, durable: &str) -> bool {
        for kind in StreamKind::ALL {
            if !self.caught_up(kind, durable).await {
                return false;
            }
        }
        true
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
        let s = self.bus.js.get_stream(self.bus.subjects.stream_name(kind));
        s.await.ok()?.consumer_info(durable).await.ok()
    }

    /// Waits until `durable` has caught up on every stream; panics naming
    /// `what` if it has not within [`CATCH_UP`].
    pub async fn wait_caught_up(&self, durable: &str, what: &str) {
        crate::wait::wait_until(what, CATCH_UP, || self.all_caught_up(durable)).await;
    }

    /// Waits until `durable` has caught up on one stream.
    pub async fn wait_caught_up_on(&self, kind: StreamKind, durable: &str, what: &str) {
        crate::wait::wait_until(what, CATCH_UP, || self.caught_up(kind, durable)).await;
    }

    /// The executor's `arb_config` bucket under this prefix, created as
    /// `arbctl streams --ensure` does (the executor only opens it).
    pub async fn ensure_config_bucket(&self) -> async_nats::jetstream::kv::Store {
        arb_runtime::kv::bucket(&self.bus, CONFIG_BUCKET, CONFIG_HISTORY)
            .await
            .expect("cannot create the arb_config bucket")
    }

    /// Deletes this prefix's streams and its `arb_config` bucket.
    pub async fn cleanup(&self) {
        for kind in StreamKind::ALL {
            let _ = self
                .bus
                .js
                .delete_stream(self.bus.subjects.stream_name(kind))
                .await;
        }
        let _ = self
            .bus
            .js
            .delete_key_value(self.bus.subjects.bucket_name(CONFIG_BUCKET))
            .await;
        self.bus.drain().await;
    }
}
