//! The NATS boundary around the engine: books from the MD stream (the
//! latest per subject first, then every new one), opportunities from a
//! durable consumer, runtime settings from the `arb_config` bucket, and the
//! engine's events published to JetStream. An opportunity is acked only once
//! JetStream has acknowledged every event it caused.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context;
use arb_contract::codec::Decoded;
use arb_contract::subject::StreamKind;
use arb_contract::{AuditEvent, Opportunity, Severity};
use arb_exec::engine::{Decision, Engine};
use arb_exec::settings::{self, BUCKET};
use arb_runtime::bus::{Bus, FLUSH_DEADLINE, Heartbeat, Publisher};
use arb_runtime::kv::{self, KvEvent};
use arb_runtime::retry::until_ok;
use arb_runtime::{BusError, clock, headers};
use async_nats::jetstream;
use async_nats::jetstream::consumer::DeliverPolicy;
use futures::{FutureExt, Stream, StreamExt};
use hdrhistogram::Histogram;

use crate::config::Config;

/// The service name: heartbeats on `sys.state.executor`, audit records on
/// `sys.audit.executor`, dead letters on `sys.dlq.executor`.
pub const SERVICE: &str = "executor";

type Books = std::pin::Pin<Box<dyn Stream<Item = Result<jetstream::Message, BoxErr>> + Send>>;
type Opps = std::pin::Pin<Box<dyn Stream<Item = Result<jetstream::Message, BoxErr>> + Send>>;
type Settings = std::pin::Pin<Box<dyn Stream<Item = Result<KvEvent, BusError>> + Send>>;
type BoxErr = Box<dyn std::error::Error + Send + Sync>;

struct Runner {
    engine: Engine,
    publisher: Publisher,
    bus: Bus,
    books: Books,
    settings: Settings,
    counters: BTreeMap<String, u64>,
    /// Wall time from an opportunity's delivery to its first order event's
    /// publish, in microseconds.
    decision: Histogram<u64>,
    fill_timeout: Duration,
}

/// What the loop waits for.
enum Input {
    Book(Box<jetstream::Message>),
    Setting(KvEvent),
    Ended(&'static str),
}

impl Runner {
    fn count(&mut self, name: &str) {
        *self.counters.entry(name.to_owned()).or_default() += 1;
    }

    async fn publish(&mut self, events: Vec<Decoded>) -> Result<(), BusError> {
        for m in events {
            self.publisher.publish_decoded(&m).await?;
        }
        Ok(())
    }

    async fn on_book(&mut self, msg: jetstream::Message) -> Result<(), BusError> {
        match headers::decode_any(
            &self.bus.subjects,
            &msg.subject,
            msg.headers.as_ref(),
            &msg.payload,
        ) {
            Ok(Decoded::Book(b)) => {
                self.count("books");
                // No event time yet (no history): the balances are announced
                // with the first book.
                let announce = self.engine.clock().is_none();
                let mut events = self.engine.on_book(b);
                if announce {
                    events.extend(self.engine.snapshots());
                }
                self.publish(events).await
            }
            Ok(_) | Err(_) => {
                // The feeds' and sink's concern: the MD stream's bad books are
                // dead-lettered by the sink; here they are only not used.
                self.count("books_unusable");
                Ok(())
            }
        }
    }

    /// A runtime setting: applied and audited, or refused and audited.
    async fn on_setting(&mut self, event: KvEvent) -> Result<(), BusError> {
        let KvEvent::Put {
            key,
            value,
            revision,
        } = event
        else {
            return Ok(());
        };
        let text = String::from_utf8_lossy(&value).into_owned();
        let (kind, severity, message, detail) = match settings::entry(&key, &value) {
            Ok((k, v)) => {
                let old = self.engine.apply(&k, &v);
                let new = v.to_text();
                tracing::info!(%key, old = old.as_deref().unwrap_or("-"), %new, revision, "setting applied");
                self.count("config_applied");
                (
                    "config_change",
                    Severity::Info,
                    format!("{key}: {} -> {new}", old.as_deref().unwrap_or("(default)")),
                    serde_json::json!({"key": key, "old": old, "new": new, "revision": revision}),
                )
            }
            Err(e) => {
                tracing::warn!(%key, value = %text, error = %e, "setting refused; the previous value stays");
                self.count("config_refused");
                (
                    "config_refused",
                    Severity::Warn,
                    format!("{key}: refused: {e}"),
                    serde_json::json!({"key": key, "value": text, "error": e.to_string(), "revision": revision}),
                )
            }
        };
        let now = clock::now();
        let audit = AuditEvent {
            id: clock::new_id(),
            ts: now,
            service: SERVICE.to_owned(),
            kind: kind.to_owned(),
            severity,
            message,
            subject: None,
            detail,
            payload: None,
        };
        self.publisher
            .publish_decoded(&Decoded::Audit(audit))
            .await?;
        self.publisher.flush().await
    }

    /// Waits for a setting or a book (settings first), or `timeout`. Never
    /// an opportunity: the main loop adds those, and while a trade is under
    /// way the next one waits in the consumer.
    async fn next_input(&mut self, timeout: Option<Duration>) -> Option<Input> {
        let sleep = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            s = self.settings.next() => Some(match s {
                Some(Ok(e)) => Input::Setting(e),
                Some(Err(e)) => { tracing::warn!(error = %e, "settings watch"); Input::Ended("settings") }
                None => Input::Ended("settings"),
            }),
            b = self.books.next() => Some(match b {
                Some(Ok(m)) => Input::Book(Box::new(m)),
                Some(Err(e)) => { tracing::warn!(error = %e, "book consumer"); Input::Ended("books") }
                None => Input::Ended("books"),
            }),
            _ = sleep => None,
        }
    }

    async fn on_input(&mut self, input: Input) -> anyhow::Result<()> {
        match input {
            Input::Book(m) => self.on_book(*m).await?,
            Input::Setting(e) => self.on_setting(e).await?,
            Input::Ended(what) => anyhow::bail!("the {what} subscription ended"),
        }
        Ok(())
    }

    /// One opportunity, start to end; acked once its events are stored.
    async fn on_opportunity(&mut self, msg: jetstream::Message) -> anyhow::Result<()> {
        let received = Instant::now();
        let opp = match headers::decode::<Opportunity>(msg.headers.as_ref(), &msg.payload) {
            Ok(o) => o,
            Err(e) => {
                self.count("bad_opportunities");
                tracing::warn!(subject = %msg.subject, error = %e, "bad opportunity, dead-lettered");
                self.bus.dead_letter(&msg, &e.to_string()).await?;
                ack(&msg).await;
                return Ok(());
            }
        };
        self.count("opportunities");
        // Its books may still be on their way on the book consumer: the
        // decision waits for them, within the fill timeout.
        let deadline = received + self.fill_timeout;
        while self.engine.behind(&opp) {
            let left = deadline.saturating_duration_since(Instant::now());
            let input = match left.is_zero() {
                true => None,
                false => self.next_input(Some(left)).await,
            };
            match input {
                Some(input) => self.on_input(input).await?,
                None => {
                    self.count("opportunities.books_late");
                    break;
                }
            }
        }
        match self.engine.decide(&opp) {
            Decision::Skip(_) => {}
            Decision::Rejected(events) => {
                self.publish(events).await?;
                self.decision_done(received);
            }
            Decision::Accepted(mut trade, events) => {
                self.publish(events).await?;
                self.decision_done(received);
                let mut force = false;
                loop {
                    let step = self.engine.progress(&mut trade, force);
                    self.publish(step.events).await?;
                    if step.done {
                        break;
                    }
                    force = false;
                    match self.next_input(Some(self.fill_timeout)).await {
                        Some(input) => self.on_input(input).await?,
                        None => {
                            // No book for the market since the order's arrival:
                            // it meets the latest one.
                            self.count("fills_forced");
                            force = true;
                        }
                    }
                }
            }
        }
        self.publisher.flush().await?;
        ack(&msg).await;
        Ok(())
    }

    fn decision_done(&mut self, received: Instant) {
        let us = u64::try_from(received.elapsed().as_micros()).unwrap_or(u64::MAX);
        let _ = self.decision.record(us.max(1));
    }

    async fn heartbeat(&mut self, hb: &Heartbeat) -> Result<(), BusError> {
        let mut counters = self.engine.counters().clone();
        counters.extend(self.counters.iter().map(|(k, v)| (k.clone(), *v)));
        let mut state = hb.state(counters, BTreeMap::new());
        let p = |q: f64| self.decision.value_at_quantile(q);
        state.detail = serde_json::json!({
            "mode": "paper",
            "trading_state": self.engine.live().trading.as_str(),
            "decision_latency_us": {"p50": p(0.5), "p99": p(0.99), "count": self.decision.len()},
        });
        self.publisher
            .publish_decoded(&Decoded::State(state))
            .await?;
        self.publisher.flush().await
    }
}

async fn ack(msg: &jetstream::Message) {
    if let Err(e) = msg.ack().await {
        tracing::warn!(error = %e, "ack failed; the opportunity will be redelivered (and skipped)");
    }
}

/// Every message the EXEC stream holds now, in order, into the engine.
async fn restore(bus: &Bus, engine: &mut Engine) -> anyhow::Result<Vec<Decoded>> {
    let name = bus.subjects.stream_name(StreamKind::Exec);
    let mut stream = bus
        .js
        .get_stream(&name)
        .await
        .with_context(|| format!("no stream {name}"))?;
    let state = stream
        .info()
        .await
        .context("EXEC stream info")?
        .state
        .clone();
    // Balances are the starting ones plus every trade and transfer since:
    // with the oldest messages gone (the stream's age or size limit, or a
    // partial purge), what is left would rebuild wrong balances, silently.
    // An emptied stream is a fresh start from `--balance`.
    if state.messages > 0 && state.first_sequence > 1 {
        anyhow::bail!(
            "the {name} stream no longer holds its first messages (it starts at #{}, {} \
             held): its age or size limit or a purge removed the rest, so the balances \
             cannot be rebuilt from it. Raise ARB_EXEC_MAX_AGE / ARB_EXEC_MAX_BYTES \
             before the stream fills, or purge it to start again from --balance",
            state.first_sequence,
            state.messages
        );
    }
    let last = state.last_sequence;
    let mut r = engine.restore();
    // Read up to the last message, if any is held (after a purge the last
    // sequence stays where it was, with nothing to read up to it).
    if state.messages > 0 {
        // Pushed to its inbox, like the books: a pull would need the right to
        // pull from consumers whose names the server makes up (anyone's).
        let consumer = stream
            .create_consumer(jetstream::consumer::push::OrderedConfig {
                deliver_subject: bus.client.new_inbox(),
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .context("history consumer on the EXEC stream")?;
        let mut msgs = consumer
            .messages()
            .await
            .context("reading the EXEC stream")?;
        while let Some(m) = msgs.next().await {
            let m = m.context("reading the EXEC stream")?;
            let seq = m.info().map(|i| i.stream_sequence).unwrap_or(last);
            if let Ok(d) =
                headers::decode_any(&bus.subjects, &m.subject, m.headers.as_ref(), &m.payload)
            {
                r.apply(&d)
                    .with_context(|| format!("restoring from {name} #{seq}"))?;
            }
            if seq >= last {
                break;
            }
        }
    }
    let applied = r.applied();
    let events = r.finish();
    tracing::info!(applied, "state restored from the EXEC stream");
    Ok(events)
}

pub(crate) async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let shutdown = shutdown.shared();
    let (engine_cfg, live) = config.engine()?;
    let engine = Engine::new(engine_cfg, live).context("executor configuration")?;

    let bus = tokio::select! {
        _ = shutdown.clone() => return Ok(()),
        bus = Bus::connect(&config.nats, SERVICE, None) => bus.context("failed to connect to NATS")?,
    };
    // The streams and the arb_config bucket are the operator's (`arbctl
    // streams --ensure`): wait for them with backoff, not exit.
    let ready = until_ok(
        "checking the JetStream streams and the arb_config bucket",
        shutdown.clone(),
        BusError::is_retryable,
        || async {
            bus.check_streams(&StreamKind::ALL, &config.streams).await?;
            kv::open(&bus, BUCKET).await
        },
    )
    .await
    .context("the JetStream streams and the arb_config bucket")?;
    let Some(store) = ready else {
        bus.drain().await;
        return Ok(());
    };
    let settings: Settings = Box::pin(kv::watch(&store).await.context("watching arb_config")?);

    // Books: the latest of every market first, then each new one.
    let md = bus.subjects.stream_name(StreamKind::Md);
    let books_filter = bus.subjects.with_prefix(&config.books);
    let book_consumer = bus
        .js
        .get_stream(&md)
        .await
        .with_context(|| format!("no stream {md}"))?
        .create_consumer(jetstream::consumer::push::OrderedConfig {
            deliver_subject: bus.client.new_inbox(),
            filter_subject: books_filter.clone(),
            deliver_policy: DeliverPolicy::LastPerSubject,
            ..Default::default()
        })
        .await
        .with_context(|| format!("book consumer on {md}"))?;
    let books: Books = Box::pin(
        book_consumer
            .messages()
            .await
            .context("book consumer")?
            .map(|m| m.map_err(|e| Box::new(e) as BoxErr)),
    );

    let hb = Heartbeat::new(SERVICE, env!("CARGO_PKG_VERSION"));
    let mut runner = Runner {
        engine,
        publisher: bus.publisher(1024),
        bus: bus.clone(),
        books,
        settings,
        counters: BTreeMap::new(),
        decision: Histogram::new(3).context("histogram")?,
        fill_timeout: config.fill_timeout,
    };
    // The current settings, before anything is traded.
    loop {
        match runner.settings.next().await {
            Some(Ok(KvEvent::Ready)) => break,
            Some(Ok(e)) => runner.on_setting(e).await?,
            Some(Err(e)) => return Err(e).context("reading arb_config"),
            None => anyhow::bail!("the arb_config watch ended"),
        }
    }
    let closing = restore(&bus, &mut runner.engine).await?;
    runner.publish(closing).await?;
    runner.publisher.flush().await?;

    let opp_filter = bus.subjects.with_prefix(&config.opportunities);
    let consumer = bus
        .durable_consumer(
            StreamKind::Arb,
            &config.durable,
            vec![opp_filter.clone()],
            config.max_ack_pending,
            config.ack_wait,
            jetstream::consumer::AckPolicy::Explicit,
        )
        .await
        .context("opportunity consumer")?;
    let mut opps: Opps = Box::pin(
        consumer
            .messages()
            .await
            .context("opportunity consumer")?
            .map(|m| m.map_err(|e| Box::new(e) as BoxErr)),
    );
    tracing::info!(opportunities = %opp_filter, books = %books_filter, "executor running (paper)");
    runner.heartbeat(&hb).await?;

    let mut beat = tokio::time::interval(config.heartbeat_interval);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut snap = tokio::time::interval(config.snapshot_interval);
    snap.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    beat.tick().await;
    snap.tick().await;

    let mut result: anyhow::Result<()> = Ok(());
    let serve = async {
        loop {
            let r: anyhow::Result<()> = tokio::select! {
                biased;
                // Settings and books first: a halt applies before the next
                // opportunity is read.
                Some(input) = runner.next_input(None) => runner.on_input(input).await,
                o = opps.next() => match o {
                    Some(Ok(m)) => runner.on_opportunity(m).await,
                    Some(Err(e)) => { tracing::warn!(error = %e, "opportunity consumer"); Ok(()) }
                    None => Err(anyhow::anyhow!("the opportunity consumer ended")),
                },
                _ = beat.tick() => runner.heartbeat(&hb).await.map_err(Into::into),
                _ = snap.tick() => {
                    let s = runner.engine.snapshots();
                    runner.publish(s).await.map_err(Into::into)
                }
            };
            if let Err(e) = r {
                result = Err(e);
                break;
            }
        }
    };
    let deadline =
        arb_runtime::shutdown::serve_within(serve, shutdown.clone(), FLUSH_DEADLINE).await;
    tracing::info!("shutting down: flushing, draining");
    let tail = async {
        // The balances as they are left.
        let s = runner.engine.snapshots();
        let _ = runner.publish(s).await;
        let _ = runner.heartbeat(&hb).await;
        let _ = runner.publisher.flush().await;
    };
    if tokio::time::timeout_at(deadline, tail).await.is_err() {
        tracing::warn!("NATS did not take the last publishes in time");
    }
    bus.drain().await;
    tracing::info!(counters = ?runner.engine.counters(), "executor stopped");
    result
}
