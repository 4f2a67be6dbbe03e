//! Errors of the detector process.

use arb_shared::{BusError, SubjectError};

#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error("bad configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    Subject(#[from] SubjectError),
}

impl DetectorError {
    /// Configuration and subject errors never go away by retrying.
    pub fn is_retryable(&self) -> bool {
        match self {
            DetectorError::Bus(e) => e.is_retryable(),
            DetectorError::Config(_) | DetectorError::Subject(_) => false,
        }
    }
}
