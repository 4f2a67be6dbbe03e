//! `arb-replay publish`: a stream's history, or a slice of it, played back
//! in stream order onto `replay.<run>.<original subject>`, so that processes
//! started with the subject prefix `replay.<run>` run on it as on live data
//! (into streams `REPLAY_<RUN>_*`) while live consumers see none of it.
//!
//! - Source: the `--stream` of the stack named by the subject prefix, read
//!   with an ordered pull consumer from the first sequence of the range; the
//!   end is fixed when the replay starts (`--to`, else the stream's last
//!   sequence then), so a replay of a stream that keeps growing ends.
//! - Payloads and the contract's headers pass through as they are (nothing
//!   is decoded); each message gets `Nats-Msg-Id: <run>:<stream>:<seq>` and
//!   the `Arb-Replay-*` headers naming its original sequence, subject,
//!   stream and stored time.
//! - A run only moves forward: a restart resumes after the last message the
//!   run's target stream holds on the replayed subjects, so it adds nothing
//!   even long after JetStream's duplicate window; the message ids cover the
//!   publishes in flight when it stopped.
//! - Pacing follows the stored times (JetStream's), divided by `--speed`.
//!
//! [`plan`] holds the pure rules (bounds, speed, run id, what is left to
//! do), [`job`] the replay itself, [`source`] the start-up reads of the
//! stream and of the run,
//! [`mapping`] what a replayed message looks like, [`window`] the pipelined
//! publishes.

mod job;
mod mapping;
mod plan;
mod source;
mod window;

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use arb_contract::subject::{StreamKind, Subjects};
use arb_runtime::bus::Bus;
use arb_runtime::config::{NatsArgs, StreamArgs};
use futures::FutureExt;
use tokio::time::Instant;

pub(crate) use plan::parse_run;
pub use plan::{Bound, Span, Speed, subject_matches};

/// The original stream sequence of a replayed message.
pub const REPLAY_SEQ: &str = "Arb-Replay-Seq";
/// The original subject (with the source's prefix, as stored).
pub const REPLAY_SUBJECT: &str = "Arb-Replay-Subject";
/// The stream it was read from (`MD`, `T_42_MD`).
pub const REPLAY_STREAM: &str = "Arb-Replay-Stream";
/// When the source stream stored it, in nanoseconds since the Unix epoch.
pub const REPLAY_TIME: &str = "Arb-Replay-Time";

/// The exit code of a replay stopped by SIGINT / SIGTERM before the end of
/// its range (128 + SIGINT, as shells report it): what was published is
/// acknowledged, and the same command resumes after it.
pub const EXIT_INTERRUPTED: u8 = 130;

/// A publish whose ack has not come within this is sent again.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// After a stop signal the acks in flight get this long.
const ACK_DEADLINE: Duration = Duration::from_secs(10);

/// The name on the NATS connection.
const SERVICE: &str = "arb-replay";

/// Options of `arb-replay publish`.
#[derive(clap::Args, Debug, Clone)]
pub struct PublishArgs {
    /// The stream to replay: md, arb, exec or sys (of the stack named by
    /// --subject-prefix).
    #[arg(long, env = "ARB_REPLAY_STREAM", value_parser = plan::parse_stream, default_value = "md")]
    pub stream: StreamKind,
    /// Only subjects matching this pattern, written without the prefix
    /// (e.g. `md.book.kraken.>`).
    #[arg(long, env = "ARB_REPLAY_SUBJECT")]
    pub subject: Option<String>,
    /// The first message: a stream sequence (`1200`) or an RFC 3339 time,
    /// the first message stored at or after it. Default: the stream's first.
    #[arg(long, env = "ARB_REPLAY_FROM")]
    pub from: Option<Bound>,
    /// The last message: a stream sequence (included) or an RFC 3339 time
    /// (messages stored before it). Default, and at most: the stream's last
    /// message when the replay starts.
    #[arg(long, env = "ARB_REPLAY_TO")]
    pub to: Option<Bound>,
    /// The run: messages go to `replay.<run>.<subject>`, streams
    /// `REPLAY_<RUN>_*`. Letters, digits, `-`, `_`. Default: a new UUIDv7.
    /// The same run again resumes where it stopped.
    #[arg(long, env = "ARB_REPLAY_RUN", value_parser = plan::parse_run)]
    pub run: Option<String>,
    /// `1` keeps the recorded pacing (the stored times), `10` is ten times
    /// faster, `max` as fast as the server takes them.
    #[arg(long, env = "ARB_REPLAY_SPEED", default_value = "1")]
    pub speed: Speed,
    /// Publishes whose ack has not arrived, at most.
    #[arg(long, env = "ARB_REPLAY_MAX_INFLIGHT", default_value = "4096",
          value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_inflight: u32,
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Limits of the run's `REPLAY_<RUN>_*` streams.
    #[command(flatten)]
    pub streams: StreamArgs,
}

impl Default for PublishArgs {
    fn default() -> Self {
        arb_runtime::config::defaults()
    }
}

/// The subject space of a run: prefix `replay.<run>`.
pub fn target_subjects(run: &str) -> anyhow::Result<Subjects> {
    plan::parse_run(run)?;
    Ok(Subjects::new(Some(&format!("replay.{run}")))?)
}

/// The `Nats-Msg-Id` of original sequence `seq` of `stream` in `run`.
pub fn message_id(run: &str, stream: &str, seq: u64) -> String {
    format!("{run}:{stream}:{seq}")
}

/// What a replay did, for its summary line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub run: String,
    /// Messages published and acknowledged.
    pub published: u64,
    /// ... of which JetStream already held (a restart inside its window).
    pub duplicates: u64,
    /// Stored ahead of one published before them (only after a resend).
    pub out_of_order: u64,
    /// The original sequences of the first and last message published.
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub elapsed: Duration,
    pub interrupted: bool,
}

/// Runs a replay; `Ok(0)` when the range is complete, `Ok(130)` when
/// `shutdown` stopped it first ([`EXIT_INTERRUPTED`]), `Err` when it cannot
/// be done (no such stream, a bad range, NATS refusing).
pub async fn run(
    args: PublishArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<ExitCode> {
    let outcome = replay(args, shutdown).await?;
    println!("{}", summary(&outcome));
    Ok(if outcome.interrupted {
        ExitCode::from(EXIT_INTERRUPTED)
    } else {
        ExitCode::SUCCESS
    })
}

/// [`run`] without the summary line: what the replay did.
pub async fn replay(
    args: PublishArgs,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Outcome> {
    let shutdown = shutdown.shared();
    let started = Instant::now();
    plan::check_order(args.from, args.to)?;
    let run = match &args.run {
        Some(r) => plan::parse_run(r)?,
        None => uuid::Uuid::now_v7().simple().to_string(),
    };
    let mut outcome = Outcome {
        run: run.clone(),
        published: 0,
        duplicates: 0,
        out_of_order: 0,
        first_seq: None,
        last_seq: None,
        elapsed: Duration::ZERO,
        interrupted: false,
    };
    let source = args.nats.subjects().context("bad --subject-prefix")?;
    let target = target_subjects(&run)?;
    let kind = args.stream;
    let pattern = args
        .subject
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let whole = format!("{}.>", kind.root());
    if let Some(p) = pattern
        && source.stream_of(&source.with_prefix(p)) != Some(kind)
    {
        bail!(
            "--subject {p:?} is not in the {} stream (its subjects start with `{}.`)",
            kind.base_name(),
            kind.root()
        );
    }
    let pattern = pattern.unwrap_or(&whole);

    let bus = tokio::select! {
        _ = shutdown.clone() => {
            outcome.interrupted = true;
            return Ok(outcome);
        }
        bus = Bus::connect(&args.nats, SERVICE, None) => bus.context("failed to connect to NATS")?,
    };
    let job = job::Job {
        bus: &bus,
        args: &args,
        source,
        target,
        kind,
        pattern,
        filtered: args.subject.is_some(),
        run: &run,
    };
    let result = job.replay(shutdown, &mut outcome).await;
    bus.drain().await;
    outcome.elapsed = started.elapsed();
    result.map(|()| outcome)
}

/// One line: what was replayed, from where to where, how fast.
pub fn summary(o: &Outcome) -> String {
    let secs = o.elapsed.as_secs_f64();
    let mut s = match (o.first_seq, o.last_seq) {
        (Some(first), Some(last)) => format!(
            "replayed {} messages (original seq {first}..{last}) onto replay.{}.* in {secs:.2} s, {:.0} msg/s",
            o.published,
            o.run,
            o.published as f64 / secs.max(1e-9)
        ),
        _ => format!("replayed nothing onto replay.{}.*", o.run),
    };
    if o.duplicates > 0 {
        s.push_str(&format!(
            ", {} already stored by an earlier attempt",
            o.duplicates
        ));
    }
    if o.out_of_order > 0 {
        s.push_str(&format!(
            ", {} stored out of order after a resend",
            o.out_of_order
        ));
    }
    s.push_str(&format!("; run {}", o.run));
    if o.interrupted {
        s.push_str(&format!(" (interrupted: `--run {}` resumes it)", o.run));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_names_the_run_the_range_and_the_rate() {
        let mut o = Outcome {
            run: "r1".into(),
            published: 2000,
            duplicates: 0,
            out_of_order: 0,
            first_seq: Some(101),
            last_seq: Some(2100),
            elapsed: Duration::from_millis(500),
            interrupted: false,
        };
        assert_eq!(
            summary(&o),
            "replayed 2000 messages (original seq 101..2100) onto replay.r1.* in 0.50 s, 4000 msg/s; run r1"
        );
        o.interrupted = true;
        o.duplicates = 5;
        let s = summary(&o);
        assert!(
            s.contains("5 already stored") && s.ends_with("(interrupted: `--run r1` resumes it)"),
            "{s}"
        );
        o.published = 0;
        o.first_seq = None;
        o.last_seq = None;
        assert!(summary(&o).starts_with("replayed nothing onto replay.r1.*"));
    }
}
