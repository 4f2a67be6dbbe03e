//! Errors of the detector process.

use arb_contract::SubjectError;
use arb_runtime::BusError;

#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error("bad configuration: {0}")]
    Config(&'static str),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifier_table() {
        let cases: Vec<(DetectorError, bool)> = vec![
            (DetectorError::Config("no start currency"), false),
            (
                DetectorError::Subject(SubjectError::BadSymbol("x".into())),
                false,
            ),
            (
                DetectorError::Bus(BusError::Deadline(std::time::Duration::ZERO)),
                true,
            ),
            (
                DetectorError::Bus(BusError::Credentials {
                    path: "/nope".into(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                }),
                false,
            ),
        ];
        for (e, retryable) in cases {
            assert_eq!(e.is_retryable(), retryable, "{e}");
        }
    }
}
