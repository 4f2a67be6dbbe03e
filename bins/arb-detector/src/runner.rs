//! The NATS boundary around a detector: core-NATS subscriptions on books and
//! feed states (a detector only needs the latest book, so a missed tick is not
//! data loss, and core NATS is the shortest hop), decode, detect, stamp the
//! receive and publish times, publish to JetStream. A payload that cannot be
//! decoded, or decodes to a message that fails the contract's checks, is
//! never used: it is dead-lettered on `sys.dlq.detector-<strategy>` (at a
//! limited rate; the rest are counted).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use arb_contract::subject::StreamKind;
use arb_contract::time::Timestamp;
use arb_contract::{
    BookSnapshot, CodecError, DeadLetter, EpisodeState, FeedStatus, Message, Opportunity,
};
use arb_detect::{Detector, detector};
use arb_runtime::bus::{Bus, FLUSH_DEADLINE, Heartbeat, Publisher};
use arb_runtime::retry::until_ok;
use arb_runtime::{BusError, clock, headers};
use futures::{FutureExt, StreamExt};

use crate::config::Config;

/// At most this many bytes of a bad payload go into its dead letter.
const DEAD_LETTER_PAYLOAD_MAX: usize = 4096;

#[derive(Debug, Default, Clone)]
struct Counters {
    books: u64,
    statuses: u64,
    bad_payloads: u64,
    opened: u64,
    updated: u64,
    closed: u64,
    publish_errors: u64,
    dead_letters: u64,
    dead_letters_suppressed: u64,
}

impl Counters {
    fn map(&self, open_episodes: usize) -> BTreeMap<String, u64> {
        [
            ("books", self.books),
            ("statuses", self.statuses),
            ("bad_payloads", self.bad_payloads),
            ("opportunities_open", self.opened),
            ("opportunities_update", self.updated),
            ("opportunities_close", self.closed),
            ("publish_errors", self.publish_errors),
            ("dead_letters", self.dead_letters),
            ("dead_letters_suppressed", self.dead_letters_suppressed),
            ("open_episodes", open_episodes as u64),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// A token bucket: `burst` dead letters at once, then one per `every`. On
/// tokio's clock, so a test with a paused clock drives it.
struct RateLimit {
    burst: f64,
    tokens: f64,
    per_sec: f64,
    last: tokio::time::Instant,
}

impl RateLimit {
    fn new(burst: u32, every: Duration) -> Self {
        RateLimit {
            burst: f64::from(burst),
            tokens: f64::from(burst),
            per_sec: 1.0 / every.as_secs_f64().max(1e-3),
            last: tokio::time::Instant::now(),
        }
    }

    fn allow(&mut self) -> bool {
        self.allow_at(tokio::time::Instant::now())
    }

    /// Whether one more may go at `now`.
    fn allow_at(&mut self, now: tokio::time::Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + dt * self.per_sec).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Runner {
    service: String,
    detector: Box<dyn Detector>,
    publisher: Publisher,
    /// Set with `--core-publish`: opportunities go out as core NATS publishes.
    core: Option<(async_nats::Client, arb_contract::Subjects)>,
    counters: Counters,
    dead_letter_limit: RateLimit,
}

impl Runner {
    async fn on_book(&mut self, msg: async_nats::Message) {
        self.on_message(msg, |r, book: &BookSnapshot| {
            r.counters.books += 1;
            r.detector.on_book(book)
        })
        .await;
    }

    async fn on_status(&mut self, msg: async_nats::Message) {
        self.on_message(msg, |r, status: &FeedStatus| {
            r.counters.statuses += 1;
            r.detector.on_status(status)
        })
        .await;
    }

    /// Decodes `msg` as an `M` and publishes what `detect` makes of it; a
    /// payload that does not decode is dead-lettered instead.
    async fn on_message<M: Message>(
        &mut self,
        msg: async_nats::Message,
        detect: impl FnOnce(&mut Self, &M) -> Vec<Opportunity>,
    ) {
        let received = clock::now();
        match headers::decode::<M>(msg.headers.as_ref(), &msg.payload) {
            Ok(m) => {
                let out = detect(self, &m);
                self.publish(out, received).await;
            }
            Err(e) => self.bad_payload(&msg, &e, received).await,
        }
    }

    async fn publish(&mut self, out: Vec<Opportunity>, received: Timestamp) {
        for mut opp in out {
            opp.received_ts = Some(received);
            opp.published_ts = Some(clock::now());
            let sent: Result<(), Box<dyn std::error::Error + Send + Sync>> = match &self.core {
                None => self.publisher.publish(&opp).await.map_err(Into::into),
                Some((client, subjects)) => publish_core(client, subjects, &opp)
                    .await
                    .map_err(Into::into),
            };
            match sent {
                Ok(()) => match opp.state {
                    EpisodeState::Open => self.counters.opened += 1,
                    EpisodeState::Update => self.counters.updated += 1,
                    EpisodeState::Close => self.counters.closed += 1,
                },
                Err(e) => {
                    self.counters.publish_errors += 1;
                    tracing::warn!(key = %opp.key, state = opp.state.as_str(), error = %e, "cannot publish opportunity");
                }
            }
        }
    }

    /// A message that cannot be used: dead-lettered with its reason (the
    /// sink stores it in audit_events), never partly used.
    async fn bad_payload(
        &mut self,
        msg: &async_nats::Message,
        e: &CodecError,
        received: Timestamp,
    ) {
        self.counters.bad_payloads += 1;
        if !self.dead_letter_limit.allow() {
            self.counters.dead_letters_suppressed += 1;
            tracing::debug!(subject = %msg.subject, error = %e, "bad payload (dead letter suppressed)");
            return;
        }
        tracing::warn!(subject = %msg.subject, error = %e, "bad payload, dead-lettered");
        let payload = &msg.payload[..msg.payload.len().min(DEAD_LETTER_PAYLOAD_MAX)];
        let letter = DeadLetter::new(
            &self.service,
            &msg.subject,
            headers::strings(msg.headers.as_ref()),
            payload,
            e.to_string(),
            None,
            received,
        );
        match self.publisher.publish(&letter).await {
            Ok(()) => self.counters.dead_letters += 1,
            Err(e) => {
                self.counters.publish_errors += 1;
                tracing::warn!(error = %e, "cannot publish dead letter");
            }
        }
    }

    async fn heartbeat(&mut self, hb: &Heartbeat) {
        let state = hb.state(
            self.counters.map(self.detector.open_episodes()),
            BTreeMap::new(),
        );
        if let Err(e) = self.publisher.publish(&state).await {
            self.counters.publish_errors += 1;
            tracing::warn!(error = %e, "cannot publish heartbeat");
        }
    }
}

/// A core NATS publish with the contract's headers; the ARB stream stores it
/// all the same, but nothing waits for (or retries on) a stream ack.
async fn publish_core(
    client: &async_nats::Client,
    subjects: &arb_contract::Subjects,
    opp: &Opportunity,
) -> Result<(), CorePublishError> {
    use arb_contract::codec;
    let subject = opp.subject(subjects)?;
    let headers = headers::to_map(&codec::headers(opp, codec::ContentType::Msgpack));
    let payload = codec::encode(opp)?;
    client
        .publish_with_headers(subject, headers, payload)
        .await?;
    Ok(())
}

/// A core NATS publish that failed.
#[derive(Debug, thiserror::Error)]
enum CorePublishError {
    #[error(transparent)]
    Subject(#[from] arb_contract::SubjectError),
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(transparent)]
    Publish(#[from] async_nats::PublishError),
}

pub(crate) async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    // Shared: the loop stops on it between messages, and it also bounds a
    // handler that is stuck on a publish when it comes (see below).
    let shutdown = shutdown.shared();
    let strategy = config.detect.strategy.as_str();
    let service = format!("detector-{strategy}");
    let det = detector(config.detect.strategy.kind(), config.detector()?);

    let bus = tokio::select! {
        _ = shutdown.clone() => return Ok(()),
        bus = Bus::connect(&config.nats, &service, None) => bus.context("failed to connect to NATS")?,
    };
    // The streams it publishes to, made by the operator (`arbctl streams
    // --ensure`); JetStream may still be starting or the operator not done
    // yet: retry with backoff, not exit. Books come by core NATS.
    let streams = until_ok(
        "checking the JetStream streams",
        shutdown.clone(),
        BusError::is_retryable,
        || bus.check_streams(&[StreamKind::Arb, StreamKind::Sys], &config.streams),
    )
    .await
    .context("the JetStream streams")?;
    if streams.is_none() {
        bus.drain().await;
        return Ok(());
    }
    let books_subject = bus.subjects.with_prefix(&config.books);
    let status_subject = bus.subjects.with_prefix("md.status.>");
    let mut books = bus
        .client
        .subscribe(books_subject.clone())
        .await
        .with_context(|| format!("failed to subscribe to {books_subject}"))?;
    let mut statuses = bus
        .client
        .subscribe(status_subject.clone())
        .await
        .with_context(|| format!("failed to subscribe to {status_subject}"))?;
    // Make sure the server has the subscriptions before we report ready.
    bus.client
        .flush()
        .await
        .context("failed to flush the NATS connection")?;
    tracing::info!(strategy, books = %books_subject, status = %status_subject, "detector running");

    let hb = Heartbeat::new(&service, env!("CARGO_PKG_VERSION"));
    let mut runner = Runner {
        service: service.clone(),
        detector: det,
        publisher: bus.publisher(config.max_inflight),
        core: config
            .core_publish
            .then(|| (bus.client.clone(), bus.subjects.clone())),
        counters: Counters::default(),
        dead_letter_limit: RateLimit::new(5, Duration::from_secs(1)),
    };
    let mut tick = tokio::time::interval(config.heartbeat_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state_subject = bus.subjects.state(&service)?;

    let serve = async {
        loop {
            tokio::select! {
                biased;
                _ = shutdown.clone() => break,
                Some(msg) = books.next() => runner.on_book(msg).await,
                Some(msg) = statuses.next() => runner.on_status(msg).await,
                _ = tick.tick() => {
                    runner.heartbeat(&hb).await;
                    tracing::debug!(subject = %state_subject, "heartbeat");
                }
            }
        }
    };
    let deadline =
        arb_runtime::shutdown::serve_within(serve, shutdown.clone(), FLUSH_DEADLINE).await;

    tracing::info!("shutting down: closing open episodes, flushing, draining");
    // Bounded, from the shutdown on: with NATS down, publishing and flushing
    // would wait for ever.
    let tail = async {
        let _ = books.unsubscribe().await;
        let _ = statuses.unsubscribe().await;
        let closes = runner.detector.close_all();
        runner.publish(closes, clock::now()).await;
        runner.heartbeat(&hb).await;
        if let Err(e) = runner.publisher.flush().await {
            tracing::warn!(error = %e, "some publishes were not acknowledged");
        }
    };
    if tokio::time::timeout_at(deadline, tail).await.is_err() {
        tracing::warn!(deadline = ?FLUSH_DEADLINE, "NATS did not take the last publishes in time");
    }
    bus.drain().await;
    tracing::info!(counters = ?runner.counters, "detector stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn dead_letters_on_a_paused_clock_a_burst_then_one_per_interval() {
        let every = Duration::from_secs(1);
        let mut limit = RateLimit::new(5, every);
        let burst: Vec<bool> = (0..6).map(|_| limit.allow()).collect();
        assert_eq!(
            burst,
            [true, true, true, true, true, false],
            "5 at once, not 6"
        );
        tokio::time::advance(every / 2).await;
        assert!(!limit.allow(), "half an interval builds no whole token");
        tokio::time::advance(every / 2).await;
        assert!(limit.allow(), "a whole interval builds one");
        assert!(!limit.allow(), "and only one");
    }

    #[test]
    fn dead_letters_come_in_a_burst_then_one_per_interval() {
        let mut limit = RateLimit::new(5, Duration::from_secs(1));
        let t0 = limit.last;
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // The burst at once, then nothing until a token has built up.
        let burst: Vec<bool> = (0..7).map(|_| limit.allow_at(t0)).collect();
        assert_eq!(burst, [true, true, true, true, true, false, false]);
        assert!(!limit.allow_at(at(500)), "half an interval is not enough");
        assert!(limit.allow_at(at(1_000)), "one per interval");
        assert!(!limit.allow_at(at(1_000)));
        assert!(!limit.allow_at(at(1_500)));
        assert!(limit.allow_at(at(2_000)));
        // A long quiet spell refills the bucket only up to the burst.
        let later: Vec<bool> = (0..7).map(|_| limit.allow_at(at(60_000))).collect();
        assert_eq!(later, [true, true, true, true, true, false, false]);
        // A clock that seems to go back refills nothing.
        assert!(!limit.allow_at(at(30_000)));
        assert!(!limit.allow_at(at(60_000)));
    }
}
