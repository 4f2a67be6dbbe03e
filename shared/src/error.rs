//! Typed errors of the contract, each with a classifier so a consumer loop can
//! choose between ack, retry (nak) and dead-letter.

use thiserror::Error;

/// A subject or one of its tokens is not valid.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SubjectError {
    #[error("empty subject token for {what}")]
    EmptyToken { what: &'static str },
    #[error(
        "{what} token {token:?} cannot be a subject token (it holds '.', '*', '>' or white space)"
    )]
    BadToken { what: &'static str, token: String },
    #[error("symbol {0:?} is not of the form BASE/QUOTE or BASE-QUOTE")]
    BadSymbol(String),
    #[error("subject {0:?} is not part of the arbitrade contract")]
    Unknown(String),
}

/// A message could not be encoded or decoded.
#[derive(Debug, Error)]
pub enum CodecError {
    #[error("unknown schema {0:?}")]
    UnknownSchema(String),
    #[error("schema {got:?} where {expected:?} was expected")]
    WrongSchema { expected: String, got: String },
    #[error(
        "unsupported schema version {version} of {schema} (this build reads up to {supported})"
    )]
    UnsupportedVersion {
        schema: String,
        version: u32,
        supported: u32,
    },
    #[error("unsupported content type {0:?}")]
    UnsupportedContentType(String),
    #[error("no schema header and subject {0:?} does not tell the message type")]
    NoSchema(String),
    #[error("bad msgpack payload: {0}")]
    BadMsgpack(#[from] rmp_serde::decode::Error),
    #[error("bad JSON payload: {0}")]
    BadJson(#[from] serde_json::Error),
    #[error("failed to encode message: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    #[error("invalid message: {0}")]
    Invalid(String),
}

impl CodecError {
    /// A decoding error never goes away by retrying: the message is dead-lettered.
    pub fn is_terminal(&self) -> bool {
        true
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
    #[error("JetStream stream {stream}: {message}")]
    Stream { stream: String, message: String },
    #[error("JetStream consumer {consumer}: {message}")]
    Consumer { consumer: String, message: String },
    #[error("publish to {subject} failed: {message}")]
    Publish { subject: String, message: String },
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error(transparent)]
    Subject(#[from] SubjectError),
}

impl BusError {
    /// Faults of the connection or the server: worth retrying with backoff.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            BusError::Connect { .. }
                | BusError::Stream { .. }
                | BusError::Consumer { .. }
                | BusError::Publish { .. }
        )
    }
}
