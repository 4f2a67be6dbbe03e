//! Start-up reads of a replay against JetStream, each retried with backoff
//! while its fault may pass: the source stream, a stored time turned into a
//! sequence, the consumer that reads the range; and, on the run's side, the
//! check that its stream names are its own and where an earlier attempt of
//! the run got to.

use std::future::Future;
use std::time::Duration;

use anyhow::{anyhow, bail};
use arb_contract::subject::{StreamKind, Subjects};
use arb_runtime::Fault;
use arb_runtime::retry::until_ok;
use async_nats::jetstream::consumer::Consumer;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::stream::{ConsumerErrorKind, LastRawMessageErrorKind, Stream};
use async_nats::jetstream::{self, ErrorCode};
use futures::StreamExt;
use futures::future::Shared;

use super::plan::subject_matches;
use super::{REPLAY_SEQ, REPLAY_STREAM};

/// A start-up step that failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum StartError {
    #[error("no stream {0}")]
    NoStream(String),
    #[error("{what}: {source}")]
    Nats {
        what: String,
        fault: Fault,
        #[source]
        source: async_nats::Error,
    },
}

impl StartError {
    fn nats(what: impl Into<String>, fault: Fault, source: impl Into<async_nats::Error>) -> Self {
        StartError::Nats {
            what: what.into(),
            fault,
            source: source.into(),
        }
    }

    /// Whether the step is worth trying again: only a fault that may pass.
    pub(super) fn is_retryable(&self) -> bool {
        matches!(
            self,
            StartError::Nats {
                fault: Fault::Transient,
                ..
            }
        )
    }
}

fn stream_not_found(e: &jetstream::Error) -> bool {
    e.error_code() == ErrorCode::STREAM_NOT_FOUND
}

/// A failed stream lookup: a refusal other than busy / not ready is
/// permanent; a request that got no answer is not.
fn get_stream_error(name: &str, e: jetstream::context::GetStreamError) -> StartError {
    let fault = match e.kind() {
        GetStreamErrorKind::JetStream(api) if stream_not_found(&api) => {
            return StartError::NoStream(name.to_owned());
        }
        GetStreamErrorKind::JetStream(api) => Fault::of_api(&api),
        GetStreamErrorKind::Request => Fault::Transient,
        GetStreamErrorKind::EmptyName | GetStreamErrorKind::InvalidStreamName => Fault::Permanent,
    };
    StartError::nats(format!("stream {name}"), fault, e)
}

fn consumer_fault(kind: &ConsumerErrorKind) -> Fault {
    match kind {
        ConsumerErrorKind::JetStream(api) => Fault::of_api(api),
        ConsumerErrorKind::TimedOut | ConsumerErrorKind::Request => Fault::Transient,
        ConsumerErrorKind::InvalidConsumerType
        | ConsumerErrorKind::InvalidName
        | ConsumerErrorKind::Other => Fault::Permanent,
    }
}

/// The stream of `kind` under `subjects`; `None`: stopped while retrying.
/// A stream that does not exist is an error that says which and why.
pub(super) async fn open<F: Future<Output = ()>>(
    js: &jetstream::Context,
    subjects: &Subjects,
    kind: StreamKind,
    shutdown: &Shared<F>,
) -> anyhow::Result<Option<Stream>> {
    let name = subjects.stream_name(kind);
    let found = until_ok(
        &format!("looking up the stream {name}"),
        shutdown.clone(),
        StartError::is_retryable,
        || async {
            js.get_stream(&name)
                .await
                .map_err(|e| get_stream_error(&name, e))
        },
    )
    .await;
    match found {
        Ok(s) => Ok(s),
        Err(StartError::NoStream(_)) => bail!(
            "no stream {name} to replay: the {} stream of subject prefix {:?} does not exist \
             (check --subject-prefix / ARB_SUBJECT_PREFIX and --stream)",
            kind.base_name(),
            subjects.prefix().unwrap_or("")
        ),
        Err(e) => Err(anyhow!(e)),
    }
}

/// An ordered consumer on `stream` with `config`; `None`: stopped first.
pub(super) async fn consumer<F: Future<Output = ()>>(
    stream: &Stream,
    config: OrderedConfig,
    shutdown: &Shared<F>,
) -> anyhow::Result<Option<Consumer<OrderedConfig>>> {
    let name = &stream.cached_info().config.name;
    let c = until_ok(
        &format!("creating a consumer on {name}"),
        shutdown.clone(),
        StartError::is_retryable,
        || async {
            stream.create_consumer(config.clone()).await.map_err(|e| {
                StartError::nats(
                    format!("a consumer on {name}"),
                    consumer_fault(&e.kind()),
                    e,
                )
            })
        },
    )
    .await?;
    Ok(c)
}

/// The first sequence stored at or after `t` (any subject); `None`: none is
/// (or stopped first).
pub(super) async fn first_stored_at_or_after<F: Future<Output = ()>>(
    stream: &Stream,
    t: chrono::DateTime<chrono::Utc>,
    shutdown: &Shared<F>,
) -> anyhow::Result<Option<u64>> {
    let deliver_policy = crate::backtest::source::from_time(t)?;
    let name = &stream.cached_info().config.name;
    let probe = until_ok(
        &format!("finding {t} in {name}"),
        shutdown.clone(),
        StartError::is_retryable,
        || async {
            let c = stream
                .create_consumer(OrderedConfig {
                    deliver_policy,
                    headers_only: true,
                    ..Default::default()
                })
                .await
                .map_err(|e| {
                    StartError::nats(
                        format!("a consumer on {name}"),
                        consumer_fault(&e.kind()),
                        e,
                    )
                })?;
            let consumer_name = c.cached_info().name.clone();
            let found = if c.cached_info().num_pending == 0 {
                Ok(None)
            } else {
                first_sequence(c).await
            };
            super::job::forget_consumer(stream, &consumer_name).await;
            found.map_err(|e| StartError::nats(format!("reading {name}"), Fault::Transient, e))
        },
    )
    .await?;
    Ok(probe.flatten())
}

async fn first_sequence(c: Consumer<OrderedConfig>) -> Result<Option<u64>, async_nats::Error> {
    let mut messages = c.messages().await?;
    match tokio::time::timeout(Duration::from_secs(10), messages.next()).await {
        Ok(Some(Ok(m))) => Ok(Some(m.info()?.stream_sequence)),
        Ok(Some(Err(e))) => Err(e.into()),
        Ok(None) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The run's stream names ignore case and turn `-` into `_`: a stream of
/// that name made for other subjects belongs to another run, and ensuring
/// ours would take it over. `false`: stopped first.
pub(super) async fn check_run_streams<F: Future<Output = ()>>(
    js: &jetstream::Context,
    target: &Subjects,
    run: &str,
    shutdown: &Shared<F>,
) -> anyhow::Result<bool> {
    for kind in StreamKind::ALL {
        let name = target.stream_name(kind);
        let want = target.stream_filter(kind);
        let got = until_ok(
            &format!("looking up the stream {name}"),
            shutdown.clone(),
            StartError::is_retryable,
            || async {
                match js.get_stream(&name).await {
                    Ok(s) => Ok(Some(s.cached_info().config.subjects.clone())),
                    Err(e) => match get_stream_error(&name, e) {
                        StartError::NoStream(_) => Ok(None),
                        e => Err(e),
                    },
                }
            },
        )
        .await?;
        match got {
            None => return Ok(false),
            Some(Some(subjects)) if subjects != [want.clone()] => bail!(
                "the run {run:?} collides with another: stream {name} exists for {subjects:?}, \
                 not {want} (stream names ignore case and `-` / `_`); choose another --run"
            ),
            Some(_) => {}
        }
    }
    Ok(true)
}

/// The original sequence of the last message the run's stream `target`
/// holds on `pattern`, replayed from `source_stream`. Messages other
/// processes of the run published there (a heartbeat) are stepped over; a
/// replay of another stream there is an error.
pub(super) async fn last_replayed(
    target: &Stream,
    pattern: &str,
    source_stream: &str,
    run: &str,
) -> anyhow::Result<Option<u64>> {
    use LastRawMessageErrorKind as K;
    let name = &target.cached_info().config.name;
    let mut msg = match target.get_last_raw_message_by_subject(pattern).await {
        Ok(m) => m,
        Err(e) if e.kind() == K::NoMessageFound => return Ok(None),
        Err(e) => {
            return Err(anyhow!(e).context(format!("cannot read the last message of {name}")));
        }
    };
    loop {
        if subject_matches(pattern, &msg.subject)
            && let Some(seq) = msg.headers.get(REPLAY_SEQ)
        {
            let from = msg
                .headers
                .get(REPLAY_STREAM)
                .map(|v| v.as_str())
                .unwrap_or("");
            if from != source_stream {
                bail!(
                    "the run {run:?} already holds a replay of stream {from:?} on {pattern}, \
                     not of {source_stream}; choose another --run"
                );
            }
            let seq = seq.as_str().parse::<u64>().map_err(|_| {
                anyhow!(
                    "{name} seq {}: a bad {REPLAY_SEQ} header {seq:?}",
                    msg.sequence
                )
            })?;
            return Ok(Some(seq));
        }
        // Step back to the previous message (sequences may have gaps).
        let mut prev = msg.sequence;
        msg = loop {
            if prev <= 1 {
                return Ok(None);
            }
            prev -= 1;
            match target.get_raw_message(prev).await {
                Ok(m) => break m,
                Err(e) if e.kind() == K::NoMessageFound => continue,
                Err(e) => {
                    return Err(anyhow!(e).context(format!("cannot read {name} seq {prev}")));
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, err_code: u64) -> jetstream::Error {
        serde_json::from_value(
            serde_json::json!({"code": code, "err_code": err_code, "description": "x"}),
        )
        .unwrap()
    }

    #[test]
    fn start_errors_are_retried_only_when_transient() {
        let io = || std::io::Error::other("x");
        assert!(StartError::nats("s", Fault::Transient, io()).is_retryable());
        assert!(!StartError::nats("s", Fault::Permanent, io()).is_retryable());
        assert!(!StartError::NoStream("MD".into()).is_retryable());
        let get = |k| get_stream_error("MD", jetstream::context::GetStreamError::new(k));
        let cases = [
            (
                get(GetStreamErrorKind::JetStream(api(404, 10059))),
                "no stream",
                false,
            ),
            (
                get(GetStreamErrorKind::JetStream(api(503, 10039))),
                "stream MD",
                true,
            ),
            (
                get(GetStreamErrorKind::JetStream(api(400, 10025))),
                "stream MD",
                false,
            ),
            (get(GetStreamErrorKind::Request), "stream MD", true),
            (
                get(GetStreamErrorKind::InvalidStreamName),
                "stream MD",
                false,
            ),
        ];
        for (e, shown, retryable) in cases {
            assert!(e.to_string().starts_with(shown), "{e}");
            assert_eq!(e.is_retryable(), retryable, "{e}");
        }
        for (kind, fault) in [
            (ConsumerErrorKind::TimedOut, Fault::Transient),
            (ConsumerErrorKind::Request, Fault::Transient),
            (
                ConsumerErrorKind::JetStream(api(503, 10039)),
                Fault::Transient,
            ),
            (
                ConsumerErrorKind::JetStream(api(400, 10093)),
                Fault::Permanent,
            ),
            (ConsumerErrorKind::InvalidName, Fault::Permanent),
        ] {
            assert_eq!(consumer_fault(&kind), fault, "{kind:?}");
        }
    }
}
