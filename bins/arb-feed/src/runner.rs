//! The I/O loop around a venue adapter: connect, subscribe, read frames,
//! hand them to the pure adapter, carry out what it asks (send, publish,
//! resubscribe, fetch a snapshot), and reconnect with exponential backoff and
//! jitter when the connection drops or goes stale.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use arb_contract::model::{FeedState, ResyncReason, Severity};
use arb_runtime::bus::backoff_policy;
use arb_runtime::clock;
use backoff::backoff::Backoff;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use arb_venues::{Action, Adapter, ApiError, FrameError};

use crate::config::Config;
use crate::publish::Out;

type ApiReply = (u64, String, Result<String, ApiError>);

/// Runs `adapter` until `shutdown` resolves.
pub async fn run_ws<A: Adapter>(
    mut adapter: A,
    cfg: &Config,
    out: &mut Out,
    mut shutdown: Pin<&mut impl Future<Output = ()>>,
) {
    let venue = adapter.venue().to_owned();
    let mut policy = backoff_policy(cfg.reconnect_initial, cfg.reconnect_max);
    let (api_tx, mut api_rx) = mpsc::channel::<ApiReply>(64);
    let mut epoch = 0u64;
    let mut heartbeat = tokio::time::interval(cfg.heartbeat_interval);
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let flush_every = if cfg.min_interval.is_zero() {
        Duration::from_secs(3600)
    } else {
        cfg.min_interval
    };
    let mut flush_tick = tokio::time::interval(flush_every);
    flush_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);

    'outer: loop {
        let url = adapter.url();
        tracing::info!(%venue, %url, "connecting");
        let attempt = tokio::select! {
            _ = &mut shutdown => break 'outer,
            r = tokio::time::timeout(cfg.connect_timeout, tokio_tungstenite::connect_async(url.as_str())) => r,
        };
        let reason = match attempt {
            Ok(Ok((ws, _))) => Ok(ws),
            Ok(Err(e)) => Err(format!("connect failed: {e}")),
            Err(_) => Err("connect timed out".to_owned()),
        };
        let ws = match reason {
            Ok(ws) => ws,
            Err(reason) => {
                out.counters.connect_failures += 1;
                let wait = policy.next_backoff().unwrap_or(Duration::from_secs(30));
                tracing::warn!(%venue, %reason, ?wait, "cannot connect, retrying");
                // Keep the heartbeat going while the venue is unreachable.
                out.heartbeat().await;
                let detail = format!("{reason}; retrying in {wait:?}");
                if disconnected(&venue, out, detail, wait, &mut shutdown).await {
                    break 'outer;
                }
                continue;
            }
        };
        epoch += 1;
        out.status(&venue, None, FeedState::Connected, None, Some(url.clone()))
            .await;
        let (mut sink, mut stream) = ws.split();
        let mut actions = Vec::new();
        adapter.on_connect(&mut actions);
        let mut last_frame = Instant::now();
        let mut healthy = false;

        let reason: String = 'conn: loop {
            for action in actions.drain(..) {
                match action {
                    Action::Send(text) => {
                        if let Err(e) = sink.send(WsMessage::text(text)).await {
                            break 'conn format!("send failed: {e}");
                        }
                    }
                    Action::Book(b) => out.book(b).await,
                    Action::Status {
                        symbol,
                        state,
                        reason,
                        detail,
                    } => out.status(&venue, symbol, state, reason, detail).await,
                    Action::Api {
                        key,
                        request,
                        delay,
                    } => {
                        spawn_api(
                            adapter.api_url(),
                            epoch,
                            key,
                            request,
                            delay,
                            cfg.connect_timeout,
                            api_tx.clone(),
                        );
                    }
                    Action::Audit { kind, message } => {
                        out.audit(&venue, &kind, Severity::Warn, message, None)
                            .await
                    }
                    Action::Reconnect(r) => break 'conn r,
                }
            }
            let stale_at = last_frame + cfg.stale_timeout;
            tokio::select! {
                biased;
                _ = &mut shutdown => {
                    let _ = sink.send(WsMessage::Close(None)).await;
                    break 'outer;
                }
                msg = stream.next() => {
                    let msg = match msg {
                        None => break 'conn "connection closed".into(),
                        Some(Err(e)) => break 'conn format!("read failed: {e}"),
                        Some(Ok(m)) => m,
                    };
                    last_frame = Instant::now();
                    out.counters.frames += 1;
                    match msg {
                        WsMessage::Text(t) => {
                            let received = clock::now();
                            match adapter.on_text(t.as_str(), received, &mut actions) {
                                Ok(()) => {
                                    if !healthy {
                                        healthy = true;
                                        policy.reset();
                                    }
                                }
                                Err(e) => report_bad_frame(&venue, out, &e, t.as_bytes()).await,
                            }
                        }
                        WsMessage::Binary(b) => {
                            report_bad_frame(&venue, out, &FrameError::Binary(b.len()), &b).await
                        }
                        // tungstenite queues the Pong and sends it with the next read or write.
                        WsMessage::Ping(_) => out.counters.pings += 1,
                        WsMessage::Pong(_) | WsMessage::Frame(_) => {}
                        WsMessage::Close(f) => break 'conn format!("closed by the venue: {f:?}"),
                    }
                }
                Some((ep, key, reply)) = api_rx.recv() => {
                    if ep == epoch {
                        adapter.on_api(&key, reply, clock::now(), &mut actions);
                    }
                }
                _ = tokio::time::sleep_until(stale_at) => {
                    out.counters.stale += 1;
                    let detail = format!("no frame for {:?}", cfg.stale_timeout);
                    out.status(&venue, None, FeedState::Resync, Some(ResyncReason::Stale), Some(detail)).await;
                    break 'conn "stale".into();
                }
                _ = heartbeat.tick() => out.heartbeat().await,
                _ = flush_tick.tick() => out.flush_due().await,
            }
        };
        drop(sink);
        drop(stream);
        out.counters.reconnects += 1;
        let wait = policy.next_backoff().unwrap_or(cfg.reconnect_max);
        tracing::warn!(%venue, %reason, ?wait, "connection lost, reconnecting");
        let detail = format!("{reason}; reconnecting in {wait:?}");
        if disconnected(&venue, out, detail, wait, &mut shutdown).await {
            break 'outer;
        }
    }
    out.status(
        &venue,
        None,
        FeedState::Disconnected,
        None,
        Some("shutdown".into()),
    )
    .await;
}

/// Reports the venue disconnected (`detail` says why and when the next try
/// comes) and waits `wait` for it; true when the shutdown came first.
async fn disconnected(
    venue: &str,
    out: &mut Out,
    detail: String,
    wait: Duration,
    shutdown: &mut Pin<&mut impl Future<Output = ()>>,
) -> bool {
    out.status(venue, None, FeedState::Disconnected, None, Some(detail))
        .await;
    tokio::select! {
        _ = shutdown.as_mut() => true,
        _ = tokio::time::sleep(wait) => false,
    }
}

async fn report_bad_frame(venue: &str, out: &mut Out, e: &FrameError, raw: &[u8]) {
    match e {
        FrameError::Unknown(_) => out.counters.unknown_frames += 1,
        _ => out.counters.garbage_frames += 1,
    }
    let shown = String::from_utf8_lossy(&raw[..raw.len().min(200)]).into_owned();
    tracing::warn!(venue, error = %e, frame = %shown, "frame skipped");
    out.audit(
        venue,
        e.audit_kind(),
        Severity::Warn,
        e.to_string(),
        Some(raw),
    )
    .await;
}

/// One request on a short-lived connection to the request/response endpoint.
fn spawn_api(
    url: Option<String>,
    epoch: u64,
    key: String,
    request: String,
    delay: Duration,
    timeout: Duration,
    tx: mpsc::Sender<ApiReply>,
) {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let reply = match url {
            None => Err(ApiError::NoEndpoint),
            Some(url) => tokio::time::timeout(timeout * 2, api_request(&url, request))
                .await
                .unwrap_or(Err(ApiError::TimedOut(timeout * 2))),
        };
        let _ = tx.send((epoch, key, reply)).await;
    });
}

async fn api_request(url: &str, request: String) -> Result<String, ApiError> {
    let transport = |e: tokio_tungstenite::tungstenite::Error| ApiError::Transport(Box::new(e));
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(transport)?;
    ws.send(WsMessage::text(request)).await.map_err(transport)?;
    let reply = loop {
        match ws.next().await {
            None | Some(Ok(WsMessage::Close(_))) => return Err(ApiError::Closed),
            Some(Err(e)) => return Err(transport(e)),
            Some(Ok(WsMessage::Text(t))) => break t.as_str().to_owned(),
            Some(Ok(_)) => continue,
        }
    };
    let _ = ws.close(None).await;
    Ok(reply)
}
