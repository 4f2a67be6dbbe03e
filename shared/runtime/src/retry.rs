//! Start-up steps that may meet a transient fault (JetStream still starting,
//! PostgreSQL not up yet): retried with exponential backoff and jitter while
//! the fault is transient, ended at once by a permanent one, and abandoned
//! when the process is told to stop.

use std::future::Future;
use std::time::Duration;

use backoff::backoff::Backoff;

use crate::bus::backoff_policy;

/// Runs `op` until it succeeds (`Ok(Some(_))`), fails with an error
/// `is_retryable` calls permanent (`Err`), or `stop` resolves first
/// (`Ok(None)`). Each retry is logged with `what`.
pub async fn until_ok<T, E, F, Fut>(
    what: &str,
    stop: impl Future<Output = ()>,
    is_retryable: impl Fn(&E) -> bool,
    mut op: F,
) -> Result<Option<T>, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut stop = std::pin::pin!(stop);
    let mut policy = backoff_policy(Duration::from_millis(200), Duration::from_secs(10));
    loop {
        match op().await {
            Ok(v) => return Ok(Some(v)),
            Err(e) if is_retryable(&e) => {
                let wait = policy.next_backoff().unwrap_or(Duration::from_secs(10));
                tracing::warn!(error = %e, ?wait, "{what} failed, retrying");
                tokio::select! {
                    _ = &mut stop => return Ok(None),
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Fault(bool);

    impl std::fmt::Display for Fault {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "fault (transient: {})", self.0)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_faults_stops_at_permanent_ones_and_on_stop() {
        let mut calls = 0;
        let got = until_ok(
            "step",
            std::future::pending(),
            |e: &Fault| e.0,
            || {
                calls += 1;
                let n = calls;
                async move { if n < 3 { Err(Fault(true)) } else { Ok(n) } }
            },
        )
        .await;
        assert_eq!(got, Ok(Some(3)), "two transient faults, then success");

        let mut calls = 0;
        let got = until_ok(
            "step",
            std::future::pending(),
            |e: &Fault| e.0,
            || {
                calls += 1;
                async { Err::<(), _>(Fault(false)) }
            },
        )
        .await;
        assert_eq!(
            (got, calls),
            (Err(Fault(false)), 1),
            "a permanent fault is not retried"
        );

        let got = until_ok(
            "step",
            std::future::ready(()),
            |e: &Fault| e.0,
            || async { Err::<(), _>(Fault(true)) },
        )
        .await;
        assert_eq!(got, Ok(None), "stopping ends the retries");
    }
}
