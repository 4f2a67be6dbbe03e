//! Binance spot diff depth: many symbols on one combined-stream connection
//! (`/stream?streams=a@depth@100ms/b@depth@100ms`), snapshots from the
//! WebSocket API `depth` method, and the synchronization procedure of
//! [`sync`]. A sequence gap publishes `resync` (gap) and starts the symbol over.

pub mod sync;
pub mod wire;

use std::collections::HashMap;
use std::time::Duration;

use arb_shared::Symbol;
use arb_shared::model::{ChecksumStatus, FeedState, ResyncReason};
use arb_shared::time::Timestamp;
use serde_json::{Value, json};

use crate::config::Config;
use crate::error::FrameError;
use crate::runner::{Action, Adapter};
use sync::{BinanceSync, DepthEvent, DepthSnapshot, Step};
use wire::{BinanceApiReply, BinanceCombined, BinanceDepthUpdate};

pub const VENUE: &str = "binance";

/// `BTC/USDT` → `BTCUSDT`.
pub fn wire_symbol(s: &Symbol) -> String {
    format!("{}{}", s.base(), s.quote())
}

struct SymbolBook {
    symbol: Symbol,
    wire: String,
    sync: BinanceSync,
    announced: bool,
}

/// The Binance protocol, pure.
pub struct BinanceAdapter {
    stream_url: String,
    api_url: String,
    snapshot_limit: usize,
    top: usize,
    books: Vec<SymbolBook>,
    index: HashMap<String, usize>,
    request_id: u64,
}

impl BinanceAdapter {
    pub fn new(cfg: &Config) -> Self {
        let mut index = HashMap::new();
        let books = cfg
            .symbols
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let wire = wire_symbol(s);
                index.insert(wire.clone(), i);
                SymbolBook {
                    symbol: s.clone(),
                    wire,
                    sync: BinanceSync::new(cfg.book_levels.max(cfg.depth)),
                    announced: false,
                }
            })
            .collect();
        BinanceAdapter {
            stream_url: cfg.binance_stream_url.trim_end_matches('/').to_owned(),
            api_url: cfg.binance_api_url.clone(),
            snapshot_limit: crate::config::round_up_depth(
                cfg.depth,
                &crate::config::BINANCE_LIMITS,
            ),
            top: cfg.top,
            books,
            index,
            request_id: 0,
        }
    }

    fn request_snapshot(&mut self, i: usize, delay: Duration, out: &mut Vec<Action>) {
        self.request_id += 1;
        let wire = self.books[i].wire.clone();
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
                let b = &mut self.books[i];
                if !b.announced {
                    b.announced = true;
                    out.push(Action::status(
                        Some(b.symbol.clone()),
                        FeedState::Subscribed,
                        None,
                        None,
                    ));
                }
                let ts = b
                    .sync
                    .last_event_ms()
                    .and_then(chrono::DateTime::from_timestamp_millis);
                out.push(Action::Book(b.sync.book.snapshot(
                    VENUE,
                    &b.symbol,
                    self.top,
                    ts,
                    received,
                    b.sync.last_id(),
                    ChecksumStatus::NotProvided,
                )));
            }
            Step::SnapshotTooOld {
                snapshot,
                first_buffered,
            } => {
                tracing::info!(symbol = %self.books[i].symbol, snapshot, first_buffered, "snapshot older than the buffered events, taking another");
                self.request_snapshot(i, Duration::from_millis(250), out);
            }
            Step::Gap { expected, got } => {
                let b = &mut self.books[i];
                b.announced = false;
                out.push(Action::status(
                    Some(b.symbol.clone()),
                    FeedState::Resync,
                    Some(ResyncReason::Gap),
                    Some(format!("update id gap: expected {expected}, got {got}")),
                ));
                self.request_snapshot(i, Duration::ZERO, out);
            }
        }
    }
}

impl Adapter for BinanceAdapter {
    fn venue(&self) -> &str {
        VENUE
    }

    fn url(&self) -> String {
        let streams: Vec<String> = self
            .books
            .iter()
            .map(|b| format!("{}@depth@100ms", b.wire.to_ascii_lowercase()))
            .collect();
        format!("{}/stream?streams={}", self.stream_url, streams.join("/"))
    }

    fn api_url(&self) -> Option<String> {
        Some(self.api_url.clone())
    }

    fn on_connect(&mut self, out: &mut Vec<Action>) {
        for i in 0..self.books.len() {
            self.books[i].sync.reset();
            self.books[i].announced = false;
            self.request_snapshot(i, Duration::ZERO, out);
        }
    }

    fn on_text(
        &mut self,
        text: &str,
        received: Timestamp,
        out: &mut Vec<Action>,
    ) -> Result<(), FrameError> {
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
        let Some(&i) = self.index.get(&update.symbol.to_ascii_uppercase()) else {
            return Err(FrameError::Invalid(format!(
                "depth for unsubscribed symbol {}",
                update.symbol
            )));
        };
        let ev = DepthEvent::try_from(update)?;
        let step = self.books[i].sync.on_event(ev);
        self.after(i, step, received, out);
        Ok(())
    }

    fn on_api(
        &mut self,
        key: &str,
        reply: Result<String, String>,
        received: Timestamp,
        out: &mut Vec<Action>,
    ) {
        let Some(&i) = self.index.get(key) else {
            return;
        };
        let parsed = reply.and_then(|text| {
            let r: BinanceApiReply =
                serde_json::from_str(&text).map_err(|e| format!("bad depth reply: {e}"))?;
            match (r.status, r.result) {
                (Some(200) | None, Some(result)) => {
                    DepthSnapshot::try_from(result).map_err(|e| e.to_string())
                }
                (status, _) => Err(format!(
                    "depth refused: status {status:?}, error {}",
                    r.error.unwrap_or_default()
                )),
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
                    message: format!("{}: {e}", self.books[i].symbol),
                });
                self.request_snapshot(i, Duration::from_secs(1), out);
            }
        }
    }
}
