//! The publishing edge: books, statuses, audit records and the heartbeat go
//! to JetStream through one bounded [`Publisher`]. A failed publish is logged
//! and counted; it never stops the feed.

use std::collections::BTreeMap;
use std::time::Duration;

use arb_contract::model::{
    AuditEvent, BookSnapshot, FeedState, FeedStatus, ResyncReason, Severity,
};
use arb_contract::{IdGen, Message, Symbol};
use arb_runtime::bus::{Heartbeat, Publisher};
use arb_runtime::clock;
use tokio::time::Instant;

use crate::ratelimit::{Offer, RateLimiter};

/// Raw frames in audit records are cut to this many bytes.
pub const AUDIT_PAYLOAD_MAX: usize = 4096;

/// What the feed has done since it started, published in the heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub frames: u64,
    pub books_published: u64,
    pub books_rate_limited: u64,
    pub resyncs: u64,
    pub garbage_frames: u64,
    pub unknown_frames: u64,
    pub reconnects: u64,
    pub connect_failures: u64,
    pub stale: u64,
    pub pings: u64,
    pub publish_errors: u64,
}

impl Counters {
    pub fn to_map(&self) -> BTreeMap<String, u64> {
        [
            ("frames", self.frames),
            ("books_published", self.books_published),
            ("books_rate_limited", self.books_rate_limited),
            ("resyncs", self.resyncs),
            ("garbage_frames", self.garbage_frames),
            ("unknown_frames", self.unknown_frames),
            ("reconnects", self.reconnects),
            ("connect_failures", self.connect_failures),
            ("stale", self.stale),
            ("pings", self.pings),
            ("publish_errors", self.publish_errors),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

/// The feed's outbound side.
pub struct Out {
    service: String,
    ids: IdGen,
    publisher: Publisher,
    heartbeat: Heartbeat,
    pub counters: Counters,
    limiter: RateLimiter,
}

impl Out {
    /// `service` names the feed in `sys.state.<service>` and `sys.audit.<service>`.
    pub fn new(service: &str, publisher: Publisher, min_interval: Duration) -> Self {
        Out {
            service: service.to_owned(),
            ids: IdGen::new(service),
            publisher,
            heartbeat: Heartbeat::new(service, env!("CARGO_PKG_VERSION")),
            counters: Counters::default(),
            limiter: RateLimiter::new(min_interval),
        }
    }

    async fn send<M: Message>(&mut self, msg: &M) -> bool {
        match self.publisher.publish(msg).await {
            Ok(()) => true,
            Err(e) => {
                self.counters.publish_errors += 1;
                tracing::warn!(error = %e, "publish failed");
                false
            }
        }
    }

    /// Publishes a book now, or, under the per-symbol rate limit, holds the
    /// latest one for [`Out::flush_due`].
    pub async fn book(&mut self, book: BookSnapshot) {
        match self.limiter.offer(book, Instant::now()) {
            Offer::Publish(b) => self.publish_book(b).await,
            Offer::Held { replaced } => {
                if replaced {
                    self.counters.books_rate_limited += 1;
                }
            }
        }
    }

    /// Publishes held books whose interval has passed.
    pub async fn flush_due(&mut self) {
        for b in self.limiter.due(Instant::now()) {
            self.publish_book(b).await;
        }
    }

    async fn publish_book(&mut self, book: BookSnapshot) {
        if self.send(&book).await {
            self.counters.books_published += 1;
        }
    }

    pub async fn status(
        &mut self,
        venue: &str,
        symbol: Option<Symbol>,
        state: FeedState,
        reason: Option<ResyncReason>,
        detail: Option<String>,
    ) {
        if state == FeedState::Resync {
            self.counters.resyncs += 1;
            self.limiter.discard(venue, symbol.as_ref());
        }
        let sym = symbol.as_ref().map(|s| s.to_string());
        if state == FeedState::Resync {
            tracing::warn!(venue, symbol = ?sym, ?reason, ?detail, "book resync");
        } else {
            tracing::info!(venue, symbol = ?sym, ?state, ?detail, "feed status");
        }
        let ts = clock::now();
        let s = FeedStatus {
            id: self.ids.next(ts),
            ts,
            venue: venue.to_owned(),
            symbol,
            state,
            reason,
            detail,
        };
        self.send(&s).await;
    }

    /// An audit record on `sys.audit.<service>`; `payload` is cut to [`AUDIT_PAYLOAD_MAX`].
    pub async fn audit(
        &mut self,
        venue: &str,
        kind: &str,
        severity: Severity,
        message: String,
        payload: Option<&[u8]>,
    ) {
        let payload = payload.map(|p| p[..p.len().min(AUDIT_PAYLOAD_MAX)].to_vec());
        let ts = clock::now();
        let e = AuditEvent {
            id: self.ids.next(ts),
            ts,
            service: self.service.clone(),
            kind: kind.to_owned(),
            severity,
            message,
            subject: None,
            detail: serde_json::json!({ "venue": venue }),
            payload,
        };
        self.send(&e).await;
    }

    pub async fn heartbeat(&mut self) {
        let state = self
            .heartbeat
            .state(self.counters.to_map(), BTreeMap::new());
        self.send(&state).await;
    }

    /// Publishes what is pending and waits for every ack.
    pub async fn flush(&mut self) {
        for b in self.limiter.drain() {
            self.publish_book(b).await;
        }
        if let Err(e) = self.publisher.flush().await {
            self.counters.publish_errors += 1;
            tracing::warn!(error = %e, "flush failed");
        }
    }
}
