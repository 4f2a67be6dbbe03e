//! Errors of the runtime, each keeping what went wrong as a kind (and the
//! client's typed error as its source), with a classifier a loop uses to
//! choose between retrying with backoff and giving up with a clear message.

use std::path::PathBuf;

use arb_contract::{CodecError, SubjectError};
use async_nats::jetstream;
use thiserror::Error;

/// Whether a fault may go away by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A timeout, a lost connection, JetStream still starting: retry with backoff.
    Transient,
    /// A refusal that will be the same next time (a bad name, a config that
    /// conflicts with the stream's): report it and stop.
    Permanent,
}

impl Fault {
    /// A JetStream API error: 408 (timeout), 429 (busy) and 503
    /// (JetStream temporarily unavailable, no responders yet) pass; every
    /// other code is the server refusing the request.
    pub fn of_api(e: &jetstream::Error) -> Fault {
        match e.code() {
            408 | 429 | 503 => Fault::Transient,
            _ => Fault::Permanent,
        }
    }
}

/// A failure talking to NATS / JetStream.
#[derive(Debug, Error)]
pub enum BusError {
    #[error("failed to connect to NATS at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: async_nats::ConnectError,
    },
    #[error("cannot read the NATS credentials file {}: {source}", path.display())]
    Credentials {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("JetStream stream {stream}: {source}")]
    Stream {
        stream: String,
        fault: Fault,
        #[source]
        source: async_nats::Error,
    },
    /// A stream or bucket that a process only checks for is not there (yet):
    /// retryable, since the operator may be about to create it.
    #[error("{what} does not exist: the operator creates it with `{ensure}`")]
    Missing { what: String, ensure: String },
    /// A stream exists but not as the pipeline makes it.
    #[error(
        "JetStream stream {stream} is not one of the pipeline's streams: {problem} (see `arbctl streams`)"
    )]
    StreamMismatch { stream: String, problem: String },
    #[error("JetStream consumer {consumer}: {source}")]
    Consumer {
        consumer: String,
        fault: Fault,
        #[source]
        source: async_nats::Error,
    },
    #[error("NATS KV bucket {bucket}: {source}")]
    Kv {
        bucket: String,
        fault: Fault,
        #[source]
        source: async_nats::Error,
    },
    #[error("publish to {subject} failed: {source}")]
    Publish {
        subject: String,
        #[source]
        source: jetstream::context::PublishError,
    },
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(transparent)]
    Subject(#[from] SubjectError),
}

impl BusError {
    /// Faults of the connection or the server that may pass: worth retrying
    /// with backoff. A malformed URL, refused credentials, an unreadable
    /// credentials file, a conflicting stream configuration, a message the
    /// server will never take: not.
    pub fn is_retryable(&self) -> bool {
        use async_nats::ConnectErrorKind as C;
        use jetstream::context::PublishErrorKind as P;
        match self {
            BusError::Connect { source, .. } => matches!(
                source.kind(),
                C::Dns | C::TimedOut | C::Io | C::MaxReconnects
            ),
            BusError::Credentials { .. } => false,
            BusError::Missing { .. } => true,
            BusError::StreamMismatch { .. } => false,
            BusError::Stream { fault, .. }
            | BusError::Consumer { fault, .. }
            | BusError::Kv { fault, .. } => *fault == Fault::Transient,
            BusError::Publish { source, .. } => matches!(
                source.kind(),
                P::TimedOut | P::BrokenPipe | P::MaxAckPending | P::StreamNotFound | P::Other
            ),
            BusError::Codec(_) | BusError::Subject(_) => false,
        }
    }

    pub(crate) fn stream(stream: &str, fault: Fault, source: impl Into<async_nats::Error>) -> Self {
        BusError::Stream {
            stream: stream.to_owned(),
            fault,
            source: source.into(),
        }
    }

    pub(crate) fn consumer(
        consumer: &str,
        fault: Fault,
        source: impl Into<async_nats::Error>,
    ) -> Self {
        BusError::Consumer {
            consumer: consumer.to_owned(),
            fault,
            source: source.into(),
        }
    }
}

/// A configuration value that cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConfigError {
    #[error("bad duration {value:?}: {reason}")]
    Duration { value: String, reason: String },
    #[error("bad size {value:?}: {reason}")]
    Size { value: String, reason: &'static str },
    #[error("bad {what} {value:?}: {reason}")]
    Value {
        what: &'static str,
        value: String,
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_nats::ConnectErrorKind as C;
    use jetstream::context::PublishErrorKind as P;

    fn api(code: u16) -> jetstream::Error {
        serde_json::from_value(
            serde_json::json!({"code": code, "err_code": 10_000 + code, "description": "x"}),
        )
        .expect("a JetStream API error")
    }

    #[test]
    fn bus_error_classifier_table() {
        let connect = |k| BusError::Connect {
            url: "nats://x".into(),
            source: async_nats::ConnectError::new(k),
        };
        let publish = |k| BusError::Publish {
            subject: "s".into(),
            source: jetstream::context::PublishError::new(k),
        };
        let stream = |f| BusError::stream("MD", f, std::io::Error::other("x"));
        let consumer = |f| BusError::consumer("MD/sink", f, std::io::Error::other("x"));
        let cases: Vec<(BusError, bool)> = vec![
            (connect(C::Io), true),
            (connect(C::TimedOut), true),
            (connect(C::Dns), true),
            (connect(C::MaxReconnects), true),
            (connect(C::ServerParse), false),
            (connect(C::Authentication), false),
            (connect(C::AuthorizationViolation), false),
            (connect(C::Tls), false),
            (
                BusError::Credentials {
                    path: "/nope".into(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                },
                false,
            ),
            (
                BusError::Missing {
                    what: "JetStream stream MD".into(),
                    ensure: "arbctl streams --ensure".into(),
                },
                true,
            ),
            (
                BusError::StreamMismatch {
                    stream: "MD".into(),
                    problem: "memory".into(),
                },
                false,
            ),
            (stream(Fault::Transient), true),
            (stream(Fault::Permanent), false),
            (consumer(Fault::Transient), true),
            (consumer(Fault::Permanent), false),
            (
                BusError::Kv {
                    bucket: "arb_config".into(),
                    fault: Fault::Permanent,
                    source: std::io::Error::other("x").into(),
                },
                false,
            ),
            (publish(P::TimedOut), true),
            (publish(P::BrokenPipe), true),
            (publish(P::StreamNotFound), true),
            (publish(P::MaxPayloadExceeded), false),
            (publish(P::WrongLastSequence), false),
            (publish(P::WrongLastMessageId), false),
            (
                BusError::Subject(SubjectError::EmptyToken { what: "venue" }),
                false,
            ),
            (
                BusError::Codec(CodecError::UnknownSchema("x".into())),
                false,
            ),
        ];
        for (e, retryable) in cases {
            assert_eq!(e.is_retryable(), retryable, "{e}");
        }
    }

    #[test]
    fn api_faults_by_code() {
        for (code, fault) in [
            (503, Fault::Transient),
            (408, Fault::Transient),
            (429, Fault::Transient),
            (400, Fault::Permanent),
            (404, Fault::Permanent),
            (500, Fault::Permanent),
        ] {
            assert_eq!(Fault::of_api(&api(code)), fault, "{code}");
        }
    }
}
