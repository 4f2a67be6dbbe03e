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
    Invalid(#[from] ValidationError),
}

impl CodecError {
    /// The message itself is at fault (it cannot be decoded, or decodes to
    /// something that cannot be right): retrying never helps, the consumer
    /// dead-letters it. `Encode` is the producer's own fault instead.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, CodecError::Encode(_))
    }
}

/// A decoded message that cannot be right; it is never partly used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ValidationError {
    #[error("{side} level {index}: {what} {value} is not positive")]
    NotPositive {
        side: &'static str,
        index: usize,
        what: &'static str,
        value: String,
    },
    #[error("{side} level {index}: price {price} does not come {order} the one before it")]
    Unsorted {
        side: &'static str,
        index: usize,
        price: String,
        order: &'static str,
    },
    #[error("{field} {value} is outside 2000-01-01 .. 2200-01-01")]
    AbsurdTime { field: &'static str, value: String },
    #[error("{field} {value} is out of range: {why}")]
    OutOfRange {
        field: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{kind} opportunity: {why}")]
    Legs { kind: &'static str, why: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_errors_blame_the_input_except_encoding() {
        let bad_json = serde_json::from_str::<u8>("x").unwrap_err();
        let bad_mp = rmp_serde::from_slice::<u8>(&[0xc1]).unwrap_err();
        let enc = rmp_serde::encode::Error::Syntax("x".into());
        let cases: Vec<(CodecError, bool)> = vec![
            (CodecError::UnknownSchema("x".into()), true),
            (
                CodecError::WrongSchema {
                    expected: "a".into(),
                    got: "b".into(),
                },
                true,
            ),
            (
                CodecError::UnsupportedVersion {
                    schema: "a".into(),
                    version: 9,
                    supported: 1,
                },
                true,
            ),
            (CodecError::UnsupportedContentType("text/csv".into()), true),
            (CodecError::NoSchema("x".into()), true),
            (CodecError::BadMsgpack(bad_mp), true),
            (CodecError::BadJson(bad_json), true),
            (
                CodecError::Invalid(ValidationError::Empty { field: "venue" }),
                true,
            ),
            (CodecError::Encode(enc), false),
        ];
        for (e, bad_input) in cases {
            assert_eq!(e.is_bad_input(), bad_input, "{e}");
        }
    }
}
