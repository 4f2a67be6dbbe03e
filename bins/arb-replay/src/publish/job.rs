//! One replay, once its flags are read: the range found in the source
//! stream, the run's streams made, where an earlier attempt of the run got
//! to, then the messages read in order, paced, and handed to the publish
//! window, with a progress bar on a terminal.

use std::future::Future;
use std::io::IsTerminal;

use anyhow::{Context as _, anyhow, bail};
use arb_contract::subject::{StreamKind, Subjects};
use arb_runtime::bus::Bus;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use async_nats::jetstream::stream::Stream;
use futures::StreamExt;
use futures::future::Shared;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::time::Instant;

use super::mapping::{Mapper, Mapping};
use super::plan::{self, Bound, Span, Speed};
use super::window::Window;
use super::{ACK_DEADLINE, ACK_TIMEOUT, Outcome, PublishArgs, source};

/// The parts of a replay known once the flags are read.
pub(super) struct Job<'a> {
    pub(super) bus: &'a Bus,
    pub(super) args: &'a PublishArgs,
    pub(super) source: Subjects,
    pub(super) target: Subjects,
    pub(super) kind: StreamKind,
    /// The subjects replayed, without the prefix (`md.>` for all of MD).
    pub(super) pattern: &'a str,
    pub(super) filtered: bool,
    pub(super) run: &'a str,
}

/// Where the messages read go.
struct Out<'a> {
    mapping: &'a Mapping,
    window: &'a mut Window<Mapper>,
    bar: &'a ProgressBar,
}

impl Job<'_> {
    /// Finds the range, makes the run's streams, reads where an earlier
    /// attempt got to, then plays what is left.
    pub(super) async fn replay<F: Future<Output = ()>>(
        &self,
        shutdown: Shared<F>,
        outcome: &mut Outcome,
    ) -> anyhow::Result<()> {
        let js = &self.bus.js;
        let stream_name = self.source.stream_name(self.kind);
        let Some(source_stream) = source::open(js, &self.source, self.kind, &shutdown).await?
        else {
            outcome.interrupted = true;
            return Ok(());
        };
        let state = source_stream.cached_info().state.clone();

        // The range as sequences, its end fixed now.
        let Some(start) = self
            .resolve_from(&source_stream, state.first_sequence, &shutdown)
            .await?
        else {
            tracing::info!(stream = %stream_name, "nothing stored at or after --from");
            return Ok(());
        };
        let end = self
            .resolve_to(&source_stream, state.last_sequence, &shutdown)
            .await?;

        // The run's streams, and how far an earlier attempt got.
        if !source::check_run_streams(js, &self.target, self.run, &shutdown).await? {
            outcome.interrupted = true;
            return Ok(());
        }
        let target_bus = Bus {
            subjects: self.target.clone(),
            ..self.bus.clone()
        };
        let ensured = crate::run_streams(&target_bus, &self.args.streams, shutdown.clone())
            .await
            .context("the run's streams")?;
        if ensured.is_none() {
            outcome.interrupted = true;
            return Ok(());
        }
        let target_name = self.target.stream_name(self.kind);
        let target_stream = js
            .get_stream(&target_name)
            .await
            .with_context(|| format!("cannot read the run's stream {target_name}"))?;
        let target_pattern = self.target.with_prefix(self.pattern);
        let resume_after =
            source::last_replayed(&target_stream, &target_pattern, &stream_name, self.run).await?;
        let Some(span) = plan::plan(start, end, resume_after) else {
            tracing::info!(stream = %stream_name, start, end, ?resume_after, "nothing (left) to replay");
            return Ok(());
        };
        tracing::info!(
            run = self.run, stream = %stream_name, subjects = %self.source.with_prefix(self.pattern),
            first = span.first, last = span.last, ?resume_after, speed = %self.args.speed,
            "replaying onto {target_pattern}"
        );

        // Read from the first sequence on.
        let config = OrderedConfig {
            filter_subject: if self.filtered {
                self.source.with_prefix(self.pattern)
            } else {
                String::new()
            },
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: span.first,
            },
            ..Default::default()
        };
        let Some(consumer) = source::consumer(&source_stream, config, &shutdown).await? else {
            outcome.interrupted = true;
            return Ok(());
        };
        let info = consumer.cached_info();
        let consumer_name = info.name.clone();
        if info.num_pending == 0 {
            tracing::info!(stream = %stream_name, "no message of the range matches the subjects");
            forget_consumer(&source_stream, &consumer_name).await;
            return Ok(());
        }
        let expected = info.num_pending.min(span.count());
        let messages = consumer
            .messages()
            .await
            .with_context(|| format!("cannot read {stream_name}"))?;

        let mapping = Mapping::new(self.source.clone(), self.run, &stream_name);
        let mapper = Mapper {
            stream: source_stream.clone(),
            mapping: mapping.clone(),
        };
        let mut window = Window::new(
            self.bus.client.clone(),
            mapper,
            self.args.max_inflight as usize,
            ACK_TIMEOUT,
        )
        .await?;
        let bar = progress_bar(expected);
        let out = Out {
            mapping: &mapping,
            window: &mut window,
            bar: &bar,
        };
        let played = self
            .play(messages, span, out, shutdown.clone(), outcome)
            .await;
        // Every ack in before the summary; after a stop, within a deadline.
        let flushed = if outcome.interrupted || played.is_err() {
            match tokio::time::timeout(ACK_DEADLINE, window.flush()).await {
                Ok(r) => r,
                Err(_) => Err(anyhow!(
                    "{} publishes not acknowledged within {ACK_DEADLINE:?} of the stop \
                     (a restart resumes after what the run's stream holds)",
                    window.in_flight()
                )),
            }
        } else {
            window.flush().await
        };
        bar.finish_and_clear();
        let acked = window.acked();
        outcome.published = acked.stored + acked.duplicates;
        outcome.duplicates = acked.duplicates;
        outcome.out_of_order = acked.out_of_order;
        outcome.last_seq = acked.last_seq;
        if outcome.published == 0 {
            outcome.first_seq = None;
        }
        forget_consumer(&source_stream, &consumer_name).await;
        played.and(flushed)
    }

    /// Reads the span in order and hands each message to the window, paced.
    async fn play(
        &self,
        mut messages: Ordered,
        span: Span,
        out: Out<'_>,
        shutdown: Shared<impl Future<Output = ()>>,
        outcome: &mut Outcome,
    ) -> anyhow::Result<()> {
        let Out {
            mapping,
            window,
            bar,
        } = out;
        let mut stop = std::pin::pin!(shutdown);
        let mut origin: Option<(i128, Instant)> = None;
        let mut errors = 0u32;
        let mut sent = 0u64;
        loop {
            let next = tokio::select! {
                biased;
                _ = &mut stop => {
                    outcome.interrupted = true;
                    break;
                }
                next = messages.next() => next,
            };
            let mut msg = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    errors += 1;
                    tracing::warn!(error = %e, "reading the stream failed");
                    if errors > 10 {
                        bail!("reading the stream keeps failing: {e}");
                    }
                    continue;
                }
                None => bail!("the stream's consumer ended before the range did"),
            };
            errors = 0;
            let (seq, pending, stored) = {
                let i = msg
                    .info()
                    .map_err(|e| anyhow!("a message without stream metadata: {e}"))?;
                (
                    i.stream_sequence,
                    i.pending,
                    i.published.unix_timestamp_nanos(),
                )
            };
            if seq > span.last {
                break;
            }
            if let Speed::Times(_) = self.args.speed {
                let (t0, w0) = *origin.get_or_insert((stored, Instant::now()));
                if let Some(after) = plan::due_after(stored - t0, self.args.speed) {
                    let due = w0 + after;
                    if due > Instant::now() {
                        tokio::select! {
                            biased;
                            _ = &mut stop => {
                                outcome.interrupted = true;
                                break;
                            }
                            _ = tokio::time::sleep_until(due) => {}
                        }
                    }
                }
            }
            let m = &mut msg.message;
            let payload = std::mem::take(&mut m.payload);
            let out = mapping.outgoing(seq, &m.subject, m.headers.take(), payload, stored);
            window.send(seq, out).await?;
            outcome.first_seq.get_or_insert(seq);
            sent += 1;
            if sent.is_multiple_of(256) {
                bar.set_position(sent);
            }
            if seq >= span.last || pending == 0 {
                break;
            }
        }
        bar.set_position(sent);
        Ok(())
    }

    /// The first sequence at or after `--from`; `None`: nothing there.
    async fn resolve_from(
        &self,
        stream: &Stream,
        first: u64,
        shutdown: &Shared<impl Future<Output = ()>>,
    ) -> anyhow::Result<Option<u64>> {
        match self.args.from {
            None => Ok(Some(first.max(1))),
            Some(Bound::Seq(s)) => Ok(Some(s)),
            Some(Bound::Time(t)) => source::first_stored_at_or_after(stream, t, shutdown).await,
        }
    }

    /// The last sequence of the range, at most the stream's last now.
    async fn resolve_to(
        &self,
        stream: &Stream,
        last: u64,
        shutdown: &Shared<impl Future<Output = ()>>,
    ) -> anyhow::Result<u64> {
        Ok(match self.args.to {
            None => last,
            Some(Bound::Seq(s)) => s.min(last),
            Some(Bound::Time(t)) => {
                match source::first_stored_at_or_after(stream, t, shutdown).await? {
                    Some(s) => (s - 1).min(last),
                    None => last,
                }
            }
        })
    }
}

/// A bar on stderr when it is a terminal (messages, rate, ETA); else none.
fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{elapsed_precise} {wide_bar} {human_pos}/{human_len} msgs  {per_sec}  eta {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// Deletes a read-only consumer of ours, if this user may (the replay user
/// may not: it expires on its own once idle), without waiting long.
pub(crate) async fn forget_consumer(stream: &async_nats::jetstream::stream::Stream, name: &str) {
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(1),
        stream.delete_consumer(name),
    )
    .await;
}
