//! The shutdown signal every binary passes to its `run`.

/// Resolves on SIGINT or SIGTERM.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops this process");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
            _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs a service's loop `serve` and bounds its stop: once `signal` resolves,
/// the work in hand gets `grace` more, then it is dropped (with NATS down a
/// publish would wait for ever). Returns the instant by which the final
/// flush must end as well, `grace` after the signal (or after `serve` ended on
/// its own), so the whole shutdown takes `grace` at most.
pub async fn serve_within(
    serve: impl Future<Output = ()>,
    signal: impl Future<Output = ()>,
    grace: std::time::Duration,
) -> tokio::time::Instant {
    let mut serve = std::pin::pin!(serve);
    tokio::select! {
        biased;
        () = &mut serve => tokio::time::Instant::now() + grace,
        () = signal => {
            let deadline = tokio::time::Instant::now() + grace;
            if tokio::time::timeout_at(deadline, &mut serve).await.is_err() {
                tracing::warn!(?grace, "the work in hand at shutdown was dropped: NATS did not take its publishes in time");
            }
            deadline
        }
    }
}
