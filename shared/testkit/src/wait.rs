//! Waiting on readiness signals instead of sleeping: a condition polled
//! until it holds (with a generous limit that only ever fails a test, never
//! times one), the first heartbeat of a service.

use std::time::Duration;

/// Polls `check` until it returns true or `limit` passes; panics with `what` then.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Generous: a wait that ends in a panic, never a timing assertion.
pub const WAIT: Duration = Duration::from_secs(30);

/// Waits for the first `sys.state.<service>` heartbeat on `bus` (the
/// service is up and publishing); returns it.
pub async fn first_heartbeat(
    bus: &arb_runtime::bus::Bus,
    service: &str,
) -> arb_contract::RuntimeState {
    use futures::StreamExt;
    let subject = bus.subjects.state(service).expect("a valid service name");
    let mut sub = crate::bus::subscribe(bus, subject.clone()).await;
    let msg = tokio::time::timeout(WAIT, sub.next())
        .await
        .unwrap_or_else(|_| panic!("no heartbeat on {subject} within {WAIT:?}"))
        .expect("subscription ended");
    arb_runtime::headers::decode(msg.headers.as_ref(), &msg.payload)
        .unwrap_or_else(|e| panic!("bad heartbeat on {subject}: {e}"))
}
