//! Errors of the feed's processing logic, with a classifier for the I/O loop.

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

    /// Garbage is counted and skipped; it never ends the connection.
    pub fn is_terminal(&self) -> bool {
        false
    }
}
