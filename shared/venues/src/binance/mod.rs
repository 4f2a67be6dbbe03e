//! Binance spot diff depth: many symbols on one combined-stream connection
//! (`/stream?streams=a@depth@100ms/b@depth@100ms`), snapshots from the
//! WebSocket API `depth` method, and the synchronization procedure of
//! [`sync`]. A sequence gap publishes `resync` (gap) and starts the symbol
//! over, and so does an event whose levels cannot be applied: its update ids
//! are spent all the same.

pub mod fees;
pub mod symbols;
pub mod sync;
pub mod wire;

use std::time::Duration;

use arb_contract::model::{ChecksumStatus, FeedState, ResyncReason};
use arb_contract::time::Timestamp;
use serde_json::{Value, json};

use crate::adapter::{Action, Adapter, BookOut, BookSettings};
use crate::error::{ApiError, ApiResult, FrameError, FrameResult};
use crate::symbol_table::SymbolTable;
use sync::{BinanceSync, DepthEvent, DepthSnapshot, Step};
use wire::{BinanceApiReply, BinanceCombined, BinanceDepthUpdate};

pub const VENUE: &str = "binance";

/// Snapshot limits Binance's `depth` accepts.
pub const SNAPSHOT_LIMITS: [usize; 8] = [5, 10, 20, 50, 100, 500, 1000, 5000];

/// One symbol's book, and whether its `subscribed` status went out since
/// it last synced.
struct SymbolBook {
    sync: BinanceSync,
    announced: bool,
}

/// Why a `depth` snapshot could not be used.
#[derive(Debug, thiserror::Error)]
enum SnapshotError {
    #[error(transparent)]
    Api(ApiError),
    #[error("bad depth reply: {0}")]
    Reply(serde_json::Error),
    #[error("depth refused: status {status:?}, error {error}")]
    Refused {
        status: Option<u16>,
        error: serde_json::Value,
    },
    #[error(transparent)]
    Levels(FrameError),
}

/// The Binance protocol, pure.
pub struct BinanceAdapter {
    stream_url: String,
    api_url: String,
    snapshot_limit: usize,
    /// Keyed by Binance's upper-case symbol (`BTCUSDT`).
    books: SymbolTable<SymbolBook>,
    out: BookOut,
    request_id: u64,
}

impl BinanceAdapter {
    /// `stream_url` is the market-data base (`/stream?streams=...` is
    /// appended), `api_url` the WebSocket API that serves `depth` snapshots.
    pub fn new(stream_url: &str, api_url: &str, cfg: &BookSettings) -> Self {
        let levels = cfg.book_levels.max(cfg.depth);
        let books = SymbolTable::new(cfg.symbols.iter().cloned(), symbols::wire_symbol, || {
            SymbolBook {
                sync: BinanceSync::new(levels),
                announced: false,
            }
        });
        BinanceAdapter {
            stream_url: stream_url.trim_end_matches('/').to_owned(),
            api_url: api_url.to_owned(),
            snapshot_limit: crate::book::round_up_depth(cfg.depth, &SNAPSHOT_LIMITS),
            books,
            out: BookOut::new(VENUE, cfg.top),
            request_id: 0,
        }
    }

    fn request_snapshot(&mut self, i: usize, delay: Duration, out: &mut Vec<Action>) {
        self.request_id += 1;
        let wire = self.books.wire(i).to_owned();
        let request = json!({
            "id": format!("depth-{}-{}", wire, self.request_id),
            "method": "depth",
            "params": {"symbol": wire, "limit": self.snapshot_limit},
        })
        .to_string();
        out.push(Action::Api {
            key: wire,
            request,
            delay,
        });
    }

    fn after(&mut self, i: usize, step: Step, received: Timestamp, out: &mut Vec<Action>) {
        match step {
            Step::Buffered | Step::Ignored => {}
            Step::Applied | Step::Synced => {
                if !std::mem::replace(&mut self.books[i].announced, true) {
                    let symbol = Some(self.books.symbol(i).clone());
                    out.push(Action::status(symbol, FeedState::Subscribed, None, None));
                }
                let sync = &self.books[i].sync;
                let ts = sync
                    .last_event_ms()
                    .and_then(chrono::DateTime::from_timestamp_millis);
                out.push(self.out.book(
                    &sync.book,
                    self.books.symbol(i),
                    ts,
                    received,
                    sync.last_id(),
                    ChecksumStatus::NotProvided,
                ));
            }
            Step::SnapshotTooOld {
                snapshot,
                first_needed,
            } => {
                let symbol = self.books.symbol(i);
                tracing::info!(%symbol, snapshot, first_needed, "snapshot too old for the book, taking another");
                self.request_snapshot(i, Duration::from_millis(250), out);
            }
            Step::Gap { expected, got } => {
                let detail = format!("update id gap: expected {expected}, got {got}");
                self.gap(i, detail, out);
            }
        }
    }

    /// The symbol's book was dropped, behind the venue's (skipped update
    /// ids, or an event whose ids are spent but whose levels cannot be
    /// applied): report it and rebuild it from a new snapshot.
    fn gap(&mut self, i: usize, detail: String, out: &mut Vec<Action>) {
        self.books[i].announced = false;
        let symbol = Some(self.books.symbol(i).clone());
        out.push(Action::resync(symbol, ResyncReason::Gap, detail));
        self.request_snapshot(i, Duration::ZERO, out);
    }
}

impl Adapter for BinanceAdapter {
    const VENUE: &'static str = VENUE;

    fn url(&self) -> String {
        let streams: Vec<String> = self.books.symbols().map(symbols::depth_stream).collect();
        format!("{}/stream?streams={}", self.stream_url, streams.join("/"))
    }

    fn api_url(&self) -> Option<String> {
        Some(self.api_url.clone())
    }

    fn on_connect(&mut self, out: &mut Vec<Action>) {
        for i in 0..self.books.len() {
            let b = &mut self.books[i];
            b.sync.reset();
            b.announced = false;
            self.request_snapshot(i, Duration::ZERO, out);
        }
    }

    fn on_text(&mut self, text: &str, received: Timestamp, out: &mut Vec<Action>) -> FrameResult {
        let v: Value = serde_json::from_str(text)?;
        let update = if v.get("stream").is_some() {
            serde_json::from_value::<BinanceCombined<BinanceDepthUpdate>>(v)?.data
        } else if v.get("e").is_some() {
            serde_json::from_value::<BinanceDepthUpdate>(v)?
        } else if v.get("id").is_some() && v.get("result").is_some() {
            // A reply to a live SUBSCRIBE request.
            return Ok(());
        } else {
            return Err(FrameError::Unknown("not a depth event".into()));
        };
        if update.event != "depthUpdate" {
            return Err(FrameError::Unknown(format!("event {:?}", update.event)));
        }
        let Some(i) = self.books.find(&update.symbol.to_ascii_uppercase()) else {
            return Err(FrameError::Invalid(format!(
                "depth for unsubscribed symbol {}",
                update.symbol
            )));
        };
        let spent = update.first.max(update.last);
        match DepthEvent::try_from(update) {
            Ok(ev) => {
                let step = self.books[i].sync.on_event(ev);
                self.after(i, step, received, out);
                Ok(())
            }
            Err(e) => {
                // The event's update ids are spent but its levels cannot be
                // applied: the book would run on behind the venue's.
                self.books[i].sync.discard_through(spent);
                self.gap(i, format!("unusable depth event: {e}"), out);
                Err(e)
            }
        }
    }

    fn on_api(&mut self, key: &str, reply: ApiResult, received: Timestamp, out: &mut Vec<Action>) {
        let Some(i) = self.books.find(key) else {
            return;
        };
        let parsed = reply.map_err(SnapshotError::Api).and_then(|text| {
            let r: BinanceApiReply = serde_json::from_str(&text).map_err(SnapshotError::Reply)?;
            match (r.status, r.result) {
                (Some(200) | None, Some(result)) => {
                    DepthSnapshot::try_from(result).map_err(SnapshotError::Levels)
                }
                (status, _) => Err(SnapshotError::Refused {
                    status,
                    error: r.error.unwrap_or_default(),
                }),
            }
        });
        match parsed {
            Ok(snap) => {
                let step = self.books[i].sync.on_snapshot(snap);
                self.after(i, step, received, out);
            }
            Err(e) => {
                out.push(Action::Audit {
                    kind: "snapshot_failed".into(),
                    message: format!("{}: {e}", self.books.symbol(i)),
                });
                self.request_snapshot(i, Duration::from_secs(1), out);
            }
        }
    }
}

#[cfg(test)]
mod tests;
