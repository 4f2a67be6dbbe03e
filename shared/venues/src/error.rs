//! Errors of the venues' processing: frames that cannot be used, and
//! request/response calls that failed.

use thiserror::Error;

/// A frame from a venue that the feed could not use.
#[derive(Debug, Error)]
pub enum FrameError {
    /// Not JSON, or JSON of the wrong shape for its channel.
    #[error("malformed frame: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Valid JSON, but values that cannot be right (negative size, bad symbol).
    #[error("invalid frame: {0}")]
    Invalid(String),
    /// A well-formed frame of a kind the adapter does not know.
    #[error("unknown frame: {0}")]
    Unknown(String),
    /// A binary frame where the venue sends text.
    #[error("unexpected binary frame of {0} bytes")]
    Binary(usize),
}

impl FrameError {
    /// The `kind` of the audit record this error produces.
    pub fn audit_kind(&self) -> &'static str {
        match self {
            FrameError::Unknown(_) => "unknown_frame",
            _ => "garbage_frame",
        }
    }
}

/// How handling a frame went: `Err` says why the frame was not used (the
/// loop audits it).
pub type FrameResult<T = ()> = Result<T, FrameError>;

/// The reply to a request on a venue's request/response endpoint.
pub type ApiResult = Result<String, ApiError>;

/// A request to a venue's request/response endpoint that got no usable reply.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("this venue has no request endpoint")]
    NoEndpoint,
    #[error("no reply within {0:?}")]
    TimedOut(std::time::Duration),
    #[error("connection closed before the reply")]
    Closed,
    /// The transport failed (connect, send, read); the I/O loop's own error.
    #[error("{0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_frames_and_garbage_are_audited_apart() {
        let bad_json = serde_json::from_str::<u8>("{").unwrap_err();
        for (e, kind) in [
            (FrameError::Malformed(bad_json), "garbage_frame"),
            (FrameError::Invalid("size -1".into()), "garbage_frame"),
            (FrameError::Binary(3), "garbage_frame"),
            (
                FrameError::Unknown("channel ticker".into()),
                "unknown_frame",
            ),
        ] {
            assert_eq!(e.audit_kind(), kind, "{e}");
        }
    }
}
