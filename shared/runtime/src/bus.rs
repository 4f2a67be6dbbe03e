//! NATS and JetStream plumbing: connecting with backoff, the four streams,
//! a publisher with a bounded number of acks in flight, durable pull
//! consumers, a consume loop that acks only after the handler succeeded, and
//! the runtime-state heartbeat.

pub use async_nats::jetstream::consumer::AckPolicy;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::time::{Duration, Instant};

use arb_contract::codec::{self, ContentType, Decoded, Message};
use arb_contract::model::{DeadLetter, RuntimeState, StreamPlace};
use arb_contract::subject::{StreamKind, Subjects};
use arb_contract::time;
use async_nats::jetstream::{self, AckKind, consumer::PullConsumer, context::PublishAckFuture};
use async_nats::{Client, ConnectOptions, HeaderMap};
use bytes::Bytes;
use futures::StreamExt;

use crate::clock;
use crate::config::{NatsArgs, StreamArgs, StreamLimits};
use crate::error::{BusError, Fault};
use crate::headers;
use crate::secret::redact_url;

/// After its shutdown signal a process gives its last publishes this long to
/// be acknowledged, then [`DRAIN_DEADLINE`] to drain the connection; past
/// them it exits anyway, within a few seconds even with NATS down. Nothing
/// is lost: what it did not ack is redelivered by JetStream, and what it
/// could not publish was never acked upstream.
pub const FLUSH_DEADLINE: Duration = Duration::from_secs(2);
/// See [`FLUSH_DEADLINE`].
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(1);

fn create_stream_fault(e: &jetstream::context::CreateStreamError) -> Fault {
    use jetstream::context::CreateStreamErrorKind as K;
    match e.kind() {
        K::JetStream(api) => Fault::of_api(&api),
        K::EmptyStreamName | K::InvalidStreamName | K::DomainAndExternalSet => Fault::Permanent,
        K::JetStreamUnavailable | K::TimedOut | K::Response | K::NotFound | K::ResponseParse => {
            Fault::Transient
        }
    }
}

pub(crate) fn get_stream_fault(e: &jetstream::context::GetStreamError) -> Fault {
    use jetstream::context::GetStreamErrorKind as K;
    match e.kind() {
        K::JetStream(api) => Fault::of_api(&api),
        K::EmptyName | K::InvalidStreamName => Fault::Permanent,
        K::Request => Fault::Transient,
    }
}

/// The server's "stream not found" (404, JetStream error 10059).
pub fn is_not_found(e: &jetstream::context::GetStreamError) -> bool {
    use jetstream::context::GetStreamErrorKind as K;
    matches!(e.kind(), K::JetStream(api)
        if api.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND)
}

fn consumer_fault(e: &jetstream::stream::ConsumerError) -> Fault {
    use jetstream::stream::ConsumerErrorKind as K;
    match e.kind() {
        K::JetStream(api) => Fault::of_api(&api),
        K::InvalidConsumerType | K::InvalidName => Fault::Permanent,
        K::TimedOut | K::Request | K::Other => Fault::Transient,
    }
}

/// Exponential backoff with jitter, capped at `max`, retrying forever.
pub fn backoff_policy(initial: Duration, max: Duration) -> backoff::ExponentialBackoff {
    backoff::ExponentialBackoff {
        initial_interval: initial,
        max_interval: max,
        randomization_factor: 0.3,
        multiplier: 2.0,
        max_elapsed_time: None,
        ..Default::default()
    }
}

/// A connection to NATS with its JetStream context and subject space.
#[derive(Clone)]
pub struct Bus {
    pub client: Client,
    pub js: jetstream::Context,
    pub subjects: Subjects,
    pub service: String,
}

impl Bus {
    async fn options(args: &NatsArgs, service: &str) -> Result<ConnectOptions, BusError> {
        let mut opts = ConnectOptions::new()
            .name(service)
            .connection_timeout(Duration::from_secs(5))
            .event_callback(|event| async move {
                match &event {
                    // A permissions violation (a publish or subscription
                    // this user may not make) or refused credentials: the
                    // process's own log should say so, not only the server's.
                    async_nats::Event::ServerError(_) => {
                        tracing::warn!(%event, "NATS connection event")
                    }
                    _ => tracing::debug!(%event, "NATS connection event"),
                }
            });
        if let Some(prefix) = args.inbox_prefix()? {
            opts = opts.custom_inbox_prefix(prefix);
        }
        if let (Some(u), Some(p)) = (&args.nats_user, &args.nats_password) {
            opts = opts.user_and_password(u.clone(), p.expose().to_owned());
        } else {
            // Credentials in the URL go to the client as options, never in
            // the URL it is given: the client logs its server addresses.
            match url_credentials(&args.nats_url).1 {
                Some(UrlAuth::UserPassword(u, p)) => opts = opts.user_and_password(u, p),
                Some(UrlAuth::Token(t)) => opts = opts.token(t),
                None => {}
            }
        }
        if let Some(creds) = &args.nats_creds {
            opts = opts
                .credentials_file(creds)
                .await
                .map_err(|source| BusError::Credentials {
                    path: creds.clone(),
                    source,
                })?;
        }
        Ok(opts)
    }

    /// One attempt to connect; for CLIs and tests that should fail at once.
    pub async fn connect_once(args: &NatsArgs, service: &str) -> Result<Bus, BusError> {
        let subjects = args.subjects()?;
        let opts = Self::options(args, service).await?;
        let client = opts
            .connect(url_credentials(&args.nats_url).0.as_str())
            .await
            .map_err(|source| BusError::Connect {
                url: redact_url(&args.nats_url),
                source,
            })?;
        let js = jetstream::new(client.clone());
        Ok(Bus {
            client,
            js,
            subjects,
            service: service.to_owned(),
        })
    }

    /// Connects, retrying with exponential backoff and jitter until NATS
    /// answers or `give_up_after` passes (`None`: never give up).
    pub async fn connect(
        args: &NatsArgs,
        service: &str,
        give_up_after: Option<Duration>,
    ) -> Result<Bus, BusError> {
        let mut policy = backoff_policy(Duration::from_millis(200), Duration::from_secs(10));
        policy.max_elapsed_time = give_up_after;
        let url = redact_url(&args.nats_url);
        backoff::future::retry(policy, || async {
            Self::connect_once(args, service).await.map_err(|e| {
                if e.is_retryable() {
                    tracing::warn!(%url, error = %e, "NATS not reachable, retrying");
                    backoff::Error::transient(e)
                } else {
                    backoff::Error::permanent(e)
                }
            })
        })
        .await
    }

    /// Creates the stream, or updates its limits, idempotently: the
    /// operator's (`arbctl streams --ensure`) and the tests'; with the NATS
    /// users on, the services may not (they [`Bus::check_stream`]).
    pub async fn ensure_stream(
        &self,
        kind: StreamKind,
        limits: StreamLimits,
        duplicate_window: Duration,
    ) -> Result<(), BusError> {
        let name = self.subjects.stream_name(kind);
        let config = jetstream::stream::Config {
            name: name.clone(),
            subjects: vec![self.subjects.stream_filter(kind)],
            max_age: limits.max_age,
            max_bytes: limits.max_bytes,
            duplicate_window: duplicate_window.min(limits.max_age),
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        };
        self.js
            .create_or_update_stream(config)
            .await
            .map_err(|e| BusError::stream(&name, create_stream_fault(&e), e))?;
        Ok(())
    }

    /// All four streams of the pipeline with their configured limits.
    pub async fn ensure_streams(&self, args: &StreamArgs) -> Result<(), BusError> {
        for kind in StreamKind::ALL {
            self.ensure_stream(kind, args.limits(kind), args.duplicate_window)
                .await?;
        }
        Ok(())
    }

    /// Checks that the stream of `kind` exists as the pipeline makes it (its
    /// subjects, on file), without creating or changing it: since NATS users
    /// have their own permissions only the operator creates streams
    /// (`arbctl streams --ensure`). Missing: [`BusError::Missing`],
    /// retryable, naming the command that creates it. Limits other than
    /// `limits` are logged, not refused: they are the operator's choice.
    pub async fn check_stream(
        &self,
        kind: StreamKind,
        limits: StreamLimits,
        duplicate_window: Duration,
    ) -> Result<(), BusError> {
        let name = self.subjects.stream_name(kind);
        let stream = match self.js.get_stream(&name).await {
            Ok(s) => s,
            Err(e) if is_not_found(&e) => {
                return Err(BusError::Missing {
                    what: format!("JetStream stream {name}"),
                    ensure: self.ensure_command(),
                });
            }
            Err(e) => return Err(BusError::stream(&name, get_stream_fault(&e), e)),
        };
        let config = &stream.cached_info().config;
        let want = self.subjects.stream_filter(kind);
        let mismatch = |problem: String| BusError::StreamMismatch {
            stream: name.clone(),
            problem,
        };
        if !config.subjects.contains(&want) {
            return Err(mismatch(format!(
                "it stores {:?}, not {want}",
                config.subjects
            )));
        }
        if config.storage != jetstream::stream::StorageType::File {
            return Err(mismatch(format!(
                "it is kept in {:?} storage, not on file",
                config.storage
            )));
        }
        let window = duplicate_window.min(limits.max_age);
        if config.max_age != limits.max_age
            || config.max_bytes != limits.max_bytes
            || config.duplicate_window != window
        {
            tracing::info!(stream = %name, max_age = ?config.max_age, max_bytes = config.max_bytes,
                duplicate_window = ?config.duplicate_window, configured_max_age = ?limits.max_age,
                configured_max_bytes = limits.max_bytes, configured_duplicate_window = ?window,
                "the stream's limits are not the configured ones; `{}` with these sets them",
                self.ensure_command());
        }
        Ok(())
    }

    /// [`Bus::check_stream`] for each of `kinds`, with their configured
    /// limits. Every one is looked at: a stream that is wrong is reported
    /// (permanent) before one that is missing (retryable).
    pub async fn check_streams(
        &self,
        kinds: &[StreamKind],
        args: &StreamArgs,
    ) -> Result<(), BusError> {
        let mut missing = None;
        for &kind in kinds {
            match self
                .check_stream(kind, args.limits(kind), args.duplicate_window)
                .await
            {
                Ok(()) => {}
                Err(e @ BusError::Missing { .. }) => {
                    missing.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        missing.map_or(Ok(()), Err)
    }

    /// The operator's command that creates this subject space's streams
    /// and bucket.
    pub fn ensure_command(&self) -> String {
        match self.subjects.prefix() {
            None => "arbctl streams --ensure".to_owned(),
            Some(p) => format!("arbctl streams --ensure --subject-prefix {p}"),
        }
    }

    /// A durable pull consumer on one stream.
    pub async fn durable_consumer(
        &self,
        kind: StreamKind,
        durable: &str,
        filter_subjects: Vec<String>,
        max_ack_pending: i64,
        ack_wait: Duration,
        ack_policy: jetstream::consumer::AckPolicy,
    ) -> Result<PullConsumer, BusError> {
        let stream_name = self.subjects.stream_name(kind);
        let name = format!("{stream_name}/{durable}");
        let err =
            |e: jetstream::stream::ConsumerError| BusError::consumer(&name, consumer_fault(&e), e);
        let stream = self
            .js
            .get_stream(&stream_name)
            .await
            .map_err(|e| BusError::stream(&stream_name, get_stream_fault(&e), e))?;
        let mut config = jetstream::consumer::pull::Config {
            durable_name: Some(durable.to_owned()),
            ack_policy,
            ack_wait,
            max_ack_pending,
            max_deliver: -1,
            filter_subjects,
            ..Default::default()
        };
        let mut consumer: PullConsumer = stream
            .get_or_create_consumer(durable, config.clone())
            .await
            .map_err(err)?;
        let info = consumer.cached_info();
        if info.config.ack_policy != ack_policy {
            // JetStream cannot change a consumer's ack policy: recreate it where
            // the old one's ack floor is, so nothing unacked is skipped.
            let start = info.ack_floor.stream_sequence + 1;
            tracing::warn!(consumer = %format!("{stream_name}/{durable}"), old = ?info.config.ack_policy,
                new = ?ack_policy, start, "recreating the consumer with a new ack policy");
            stream
                .delete_consumer(durable)
                .await
                .map_err(|e| BusError::consumer(&name, consumer_fault(&e), e))?;
            config.deliver_policy = jetstream::consumer::DeliverPolicy::ByStartSequence {
                start_sequence: start,
            };
            consumer = stream.create_consumer(config).await.map_err(err)?;
        } else if info.config.max_ack_pending != max_ack_pending || info.config.ack_wait != ack_wait
        {
            // A durable made by an earlier version or with other flags: its
            // limits follow the configuration, its position stays.
            config.deliver_policy = info.config.deliver_policy;
            match stream.create_consumer(config).await {
                Ok(updated) => consumer = updated,
                Err(e) => {
                    tracing::warn!(consumer = %format!("{stream_name}/{durable}"), error = %e,
                    "cannot update the consumer's max_ack_pending / ack_wait; using it as it is")
                }
            }
        }
        Ok(consumer)
    }

    pub fn publisher(&self, max_inflight: usize) -> Publisher {
        Publisher::new(self.js.clone(), self.subjects.clone(), max_inflight)
    }

    /// Publishes a dead letter for a stream message this service gives up on.
    pub async fn dead_letter(
        &self,
        msg: &jetstream::Message,
        reason: &str,
    ) -> Result<(), BusError> {
        let dl = DeadLetter::new(
            &self.service,
            &msg.subject,
            headers::strings(msg.headers.as_ref()),
            &msg.payload,
            reason,
            stream_place(msg),
            clock::now(),
        );
        let mut p = self.publisher(1);
        p.publish(&dl).await?;
        p.flush().await
    }

    /// Flushes and closes the connection, waiting at most [`DRAIN_DEADLINE`]
    /// (with NATS down a drain would wait for ever).
    pub async fn drain(&self) {
        match tokio::time::timeout(DRAIN_DEADLINE, self.client.drain()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "NATS drain failed"),
            Err(_) => tracing::warn!(
                deadline = ?DRAIN_DEADLINE,
                "NATS drain did not finish in time; exiting without it"
            ),
        }
    }
}

/// Where a delivered JetStream message sits in its stream.
pub fn stream_place(msg: &jetstream::Message) -> Option<StreamPlace> {
    let i = msg.info().ok()?;
    Some(StreamPlace {
        stream: i.stream.to_owned(),
        seq: i.stream_sequence,
        stored: server_time(i.published.unix_timestamp_nanos()),
    })
}

/// A NATS server time (nanoseconds since the epoch) as a contract timestamp.
pub fn server_time(nanos: i128) -> time::Timestamp {
    time::from_nanos(nanos.clamp(0, i64::MAX as i128) as i64)
}

type AckResult = Result<jetstream::publish::PublishAck, jetstream::context::PublishError>;

struct Pending {
    subject: String,
    headers: HeaderMap,
    payload: Bytes,
    // A Mutex only to keep the publisher Sync; reached through get_mut, never locked.
    ack: std::sync::Mutex<futures::future::BoxFuture<'static, AckResult>>,
}

/// Publishes to JetStream keeping at most `max_inflight` acks outstanding.
/// A publish whose ack fails is sent again with the same `Nats-Msg-Id`, so
/// JetStream stores it once.
pub struct Publisher {
    js: jetstream::Context,
    subjects: Subjects,
    inflight: VecDeque<Pending>,
    max_inflight: usize,
    retries: u32,
    published: u64,
}

impl Publisher {
    pub fn new(js: jetstream::Context, subjects: Subjects, max_inflight: usize) -> Self {
        Publisher {
            js,
            subjects,
            inflight: VecDeque::new(),
            max_inflight: max_inflight.max(1),
            retries: 5,
            published: 0,
        }
    }

    pub fn subjects(&self) -> &Subjects {
        &self.subjects
    }

    /// Messages whose ack has arrived.
    pub fn published(&self) -> u64 {
        self.published
    }

    /// Publishes on the message's own subject.
    pub async fn publish<M: Message>(&mut self, msg: &M) -> Result<(), BusError> {
        let subject = msg.subject(&self.subjects)?;
        self.publish_to(subject, msg).await
    }

    /// Publishes on a given subject (e.g. a replay subject).
    pub async fn publish_to<M: Message>(
        &mut self,
        subject: String,
        msg: &M,
    ) -> Result<(), BusError> {
        let payload = codec::encode(msg)?;
        let headers = headers::to_map(&codec::headers(msg, ContentType::Msgpack));
        self.publish_raw(subject, headers, payload).await
    }

    /// Publishes a message of any contract type on its own subject.
    pub async fn publish_decoded(&mut self, msg: &Decoded) -> Result<(), BusError> {
        let subject = msg.subject(&self.subjects)?;
        let payload = msg.encode(ContentType::Msgpack)?;
        let headers = headers::to_map(&msg.headers(ContentType::Msgpack));
        self.publish_raw(subject, headers, payload).await
    }

    /// Publishes bytes as they are (tests use this for malformed payloads).
    pub async fn publish_raw(
        &mut self,
        subject: String,
        headers: HeaderMap,
        payload: Bytes,
    ) -> Result<(), BusError> {
        self.settle_ready().await?;
        while self.inflight.len() >= self.max_inflight {
            self.settle_one().await?;
        }
        let ack = std::sync::Mutex::new(Box::pin(std::future::IntoFuture::into_future(
            self.send(&subject, &headers, &payload).await?,
        ))
            as futures::future::BoxFuture<'static, AckResult>);
        self.inflight.push_back(Pending {
            subject,
            headers,
            payload,
            ack,
        });
        Ok(())
    }

    async fn send(
        &self,
        subject: &str,
        headers: &HeaderMap,
        payload: &Bytes,
    ) -> Result<PublishAckFuture, BusError> {
        self.js
            .publish_with_headers(subject.to_owned(), headers.clone(), payload.clone())
            .await
            .map_err(|source| BusError::Publish {
                subject: subject.to_owned(),
                source,
            })
    }

    /// Settles the acks that have already arrived, without waiting, so a
    /// failed publish is reported (and retried) promptly even when the window
    /// is far from full.
    async fn settle_ready(&mut self) -> Result<(), BusError> {
        while let Some(front) = self.inflight.front_mut() {
            let ack = front
                .ack
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let std::task::Poll::Ready(result) = futures::poll!(ack) else {
                return Ok(());
            };
            if let Some(p) = self.inflight.pop_front() {
                self.settle(p, result).await?;
            }
        }
        Ok(())
    }

    async fn settle_one(&mut self) -> Result<(), BusError> {
        let Some(mut p) = self.inflight.pop_front() else {
            return Ok(());
        };
        let result = p
            .ack
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .await;
        self.settle(p, result).await
    }

    /// Counts an acknowledged publish; sends a failed one again with the same
    /// `Nats-Msg-Id` until it is acknowledged or the retries run out.
    async fn settle(&mut self, p: Pending, mut result: AckResult) -> Result<(), BusError> {
        let mut delay = Duration::from_millis(50);
        for attempt in 1..=self.retries {
            let Err(e) = &result else { break };
            tracing::warn!(subject = %p.subject, attempt, error = %e, "publish not acknowledged, sending again");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
            result = match self.send(&p.subject, &p.headers, &p.payload).await {
                Ok(ack) => ack.await,
                Err(e) => {
                    tracing::warn!(error = %e, "republish failed");
                    continue;
                }
            };
        }
        result.map_err(|source| BusError::Publish {
            subject: p.subject,
            source,
        })?;
        self.published += 1;
        Ok(())
    }

    /// Waits for every outstanding ack.
    pub async fn flush(&mut self) -> Result<(), BusError> {
        while !self.inflight.is_empty() {
            self.settle_one().await?;
        }
        Ok(())
    }
}

/// A handler's own error, whatever its type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a handler of [`consume`] says about a message it could not process.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Try again later (a dependency is down): the message is nak'ed with a delay.
    #[error("retry: {0}")]
    Retry(#[source] BoxError),
    /// The message itself is bad: it is dead-lettered and terminated.
    #[error("reject: {0}")]
    Reject(#[source] BoxError),
}

impl HandleError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, HandleError::Retry(_))
    }
}

impl From<arb_contract::CodecError> for HandleError {
    /// A message that cannot be decoded is rejected; one this process failed
    /// to encode is retried.
    fn from(e: arb_contract::CodecError) -> Self {
        if e.is_bad_input() {
            HandleError::Reject(Box::new(e))
        } else {
            HandleError::Retry(Box::new(e))
        }
    }
}

/// Runs a durable pull consumer until `shutdown`: each message goes to
/// `handler`; `Ok` acks it, [`HandleError::Retry`] naks it with a delay,
/// [`HandleError::Reject`] dead-letters and terminates it. Returns the number
/// of messages acked.
pub async fn consume<F, Fut>(
    bus: &Bus,
    consumer: PullConsumer,
    shutdown: impl Future<Output = ()>,
    mut handler: F,
) -> Result<u64, BusError>
where
    F: FnMut(jetstream::Message) -> Fut,
    Fut: Future<Output = (jetstream::Message, Result<(), HandleError>)>,
{
    tokio::pin!(shutdown);
    let mut acked = 0u64;
    let mut policy = backoff_policy(Duration::from_millis(100), Duration::from_secs(5));
    'outer: loop {
        let mut messages = match consumer.messages().await {
            Ok(m) => m,
            Err(e) => {
                let wait = backoff::backoff::Backoff::next_backoff(&mut policy)
                    .unwrap_or(Duration::from_secs(5));
                tracing::warn!(error = %e, ?wait, "cannot pull messages, retrying");
                tokio::select! {
                    _ = &mut shutdown => break 'outer,
                    _ = tokio::time::sleep(wait) => continue,
                }
            }
        };
        loop {
            let next = tokio::select! {
                _ = &mut shutdown => break 'outer,
                next = messages.next() => next,
            };
            let msg = match next {
                None => continue 'outer,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "pull consumer error");
                    continue;
                }
                Some(Ok(m)) => m,
            };
            backoff::backoff::Backoff::reset(&mut policy);
            let (msg, outcome) = handler(msg).await;
            let ack = match outcome {
                Ok(()) => {
                    acked += 1;
                    msg.ack().await
                }
                Err(HandleError::Retry(reason)) => {
                    tracing::warn!(subject = %msg.subject, %reason, "message will be retried");
                    msg.ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                        .await
                }
                Err(HandleError::Reject(reason)) => {
                    tracing::warn!(subject = %msg.subject, %reason, "message rejected, dead-lettered");
                    match bus.dead_letter(&msg, &reason.to_string()).await {
                        Ok(()) => msg.ack_with(AckKind::Term).await,
                        // Not durable yet: let it come back rather than lose it.
                        Err(e) => msg
                            .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                            .await
                            .and(Err(e.into())),
                    }
                }
            };
            if let Err(e) = ack {
                tracing::warn!(error = %e, "ack failed; the message will be redelivered");
            }
        }
    }
    Ok(acked)
}

/// Builds the `sys.state.<service>` heartbeat.
pub struct Heartbeat {
    service: String,
    instance: String,
    version: String,
    started_at: time::Timestamp,
    started: Instant,
}

impl Heartbeat {
    pub fn new(service: &str, version: &str) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
        Heartbeat {
            service: service.to_owned(),
            instance: format!("{host}-{}", std::process::id()),
            version: version.to_owned(),
            started_at: clock::now(),
            started: Instant::now(),
        }
    }

    pub fn state(
        &self,
        counters: BTreeMap<String, u64>,
        lag: BTreeMap<String, u64>,
    ) -> RuntimeState {
        RuntimeState {
            id: clock::new_id(),
            ts: clock::now(),
            service: self.service.clone(),
            instance: self.instance.clone(),
            version: self.version.clone(),
            started_at: self.started_at,
            uptime_secs: self.started.elapsed().as_secs(),
            counters,
            lag,
            detail: serde_json::Value::Null,
        }
    }
}

/// What a NATS URL's `user:password@` or `token@` part gives.
#[derive(Debug, PartialEq, Eq)]
enum UrlAuth {
    UserPassword(String, String),
    Token(String),
}

/// The server list without credentials, and the first credentials found in
/// it (`nats://u:p@a:4222,nats://b:4222` → `nats://a:4222,nats://b:4222`).
fn url_credentials(urls: &str) -> (String, Option<UrlAuth>) {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut auth = None;
    let servers: Vec<String> = urls
        .split(',')
        .map(|one| {
            let one = one.trim();
            let Ok(mut u) = url::Url::parse(one) else {
                return one.to_owned();
            };
            if u.username().is_empty() && u.password().is_none() {
                return one.to_owned();
            }
            let found = match u.password() {
                Some(p) => UrlAuth::UserPassword(decode(u.username()), decode(p)),
                None => UrlAuth::Token(decode(u.username())),
            };
            auth.get_or_insert(found);
            let _ = u.set_username("");
            let _ = u.set_password(None);
            let bare = u.to_string();
            // Url adds a "/" path to a bare host; the input had none.
            if one.ends_with('/') {
                bare
            } else {
                bare.trim_end_matches('/').to_owned()
            }
        })
        .collect();
    (servers.join(","), auth)
}

#[cfg(test)]
mod tests {

    #[test]
    fn credentials_leave_the_url_for_the_client_options() {
        let (bare, auth) = url_credentials("nats://arb:p%40ss@127.0.0.1:4222");
        assert_eq!(bare, "nats://127.0.0.1:4222");
        assert_eq!(
            auth,
            Some(UrlAuth::UserPassword("arb".into(), "p@ss".into()))
        );
        let (bare, auth) = url_credentials("nats://tok@a:4222, nats://b:4222");
        assert_eq!(bare, "nats://a:4222,nats://b:4222");
        assert_eq!(auth, Some(UrlAuth::Token("tok".into())));
        let (bare, auth) = url_credentials("nats://127.0.0.1:4222");
        assert_eq!((bare.as_str(), auth), ("nats://127.0.0.1:4222", None));
        assert_eq!(url_credentials("127.0.0.1:4222").0, "127.0.0.1:4222");
    }
    use super::*;

    #[test]
    fn handle_error_classifier_table() {
        let bad = arb_contract::CodecError::UnknownSchema("x".into());
        let enc = arb_contract::CodecError::Encode(rmp_serde_encode_error());
        let cases: Vec<(HandleError, bool)> = vec![
            (HandleError::Retry("database down".into()), true),
            (HandleError::Reject("no such venue".into()), false),
            // A message that cannot be decoded is the message's fault ...
            (HandleError::from(bad), false),
            // ... one this process cannot encode is not.
            (HandleError::from(enc), true),
        ];
        for (e, retryable) in cases {
            assert_eq!(e.is_retryable(), retryable, "{e}");
        }
    }

    fn rmp_serde_encode_error() -> arb_contract::codec::EncodeError {
        arb_contract::codec::EncodeError::Syntax("x".into())
    }
}
