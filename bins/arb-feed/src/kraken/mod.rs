//! Kraken WebSocket v2: the `instrument` channel for each pair's precision,
//! the `book` channel for snapshots and updates, the CRC32 checksum checked
//! after every message. A mismatch publishes `resync` (checksum), drops the
//! book and resubscribes the symbol; nothing from the broken state is published.

pub mod book;
pub mod wire;

use std::collections::HashMap;

use arb_shared::model::{ChecksumStatus, FeedState, ResyncReason};
use arb_shared::time::Timestamp;
use arb_shared::{Level, Symbol};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::book::{BookSideKind, OrderBook};
use crate::error::FrameError;
use crate::runner::{Action, Adapter};
use book::{Precision, checksum};
use wire::{
    KrakenBookData, KrakenBookMsg, KrakenBookType, KrakenInstrumentMsg, KrakenMethodReply,
    parse_ts, quote_numbers,
};

pub const VENUE: &str = "kraken";

struct SymbolBook {
    symbol: Symbol,
    /// Kraken's name of the pair (`BTC/USD`).
    wire: String,
    book: OrderBook,
    /// A snapshot arrived and every checksum since matched.
    synced: bool,
    exchange_ts: Option<Timestamp>,
}

/// The Kraken protocol, pure.
pub struct KrakenAdapter {
    url: String,
    depth: usize,
    top: usize,
    books: Vec<SymbolBook>,
    index: HashMap<String, usize>,
    precision: HashMap<Symbol, Precision>,
    book_subscribed: bool,
}

impl KrakenAdapter {
    pub fn new(url: String, symbols: &[Symbol], depth: usize, top: usize) -> Self {
        let mut index = HashMap::new();
        let books = symbols
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let wire = s.to_string();
                index.insert(wire.clone(), i);
                SymbolBook {
                    symbol: s.clone(),
                    wire,
                    book: OrderBook::new(depth),
                    synced: false,
                    exchange_ts: None,
                }
            })
            .collect();
        KrakenAdapter {
            url,
            depth,
            top,
            books,
            index,
            precision: HashMap::new(),
            book_subscribed: false,
        }
    }

    fn find(&self, wire: &str) -> Option<usize> {
        self.index.get(wire).copied().or_else(|| {
            let s: Symbol = wire.parse().ok()?;
            self.books.iter().position(|b| b.symbol == s)
        })
    }

    fn book_request(&self, method: &str, wires: Vec<String>) -> String {
        let mut params = json!({"channel": "book", "symbol": wires, "depth": self.depth});
        if method == "subscribe" {
            params["snapshot"] = json!(true);
        }
        json!({"method": method, "params": params}).to_string()
    }

    fn subscribe_books(&mut self, out: &mut Vec<Action>) {
        if self.book_subscribed {
            return;
        }
        self.book_subscribed = true;
        let wires = self.books.iter().map(|b| b.wire.clone()).collect();
        out.push(Action::Send(self.book_request("subscribe", wires)));
    }

    /// The symbol's book is wrong: report, forget it and subscribe again.
    fn resync(&mut self, i: usize, detail: String, out: &mut Vec<Action>) {
        let b = &mut self.books[i];
        b.synced = false;
        b.book.clear();
        let wire = b.wire.clone();
        out.push(Action::status(
            Some(b.symbol.clone()),
            FeedState::Resync,
            Some(ResyncReason::Checksum),
            Some(detail),
        ));
        out.push(Action::Send(
            self.book_request("unsubscribe", vec![wire.clone()]),
        ));
        out.push(Action::Send(self.book_request("subscribe", vec![wire])));
    }

    fn on_book(
        &mut self,
        msg: KrakenBookMsg,
        received: Timestamp,
        out: &mut Vec<Action>,
    ) -> Result<(), FrameError> {
        let mut unknown = Vec::new();
        for data in msg.data {
            let Some(i) = self.find(&data.symbol) else {
                unknown.push(data.symbol);
                continue;
            };
            self.apply(i, msg.kind, data, received, out)?;
        }
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Invalid(format!(
                "book for unsubscribed symbols {unknown:?}"
            )))
        }
    }

    fn apply(
        &mut self,
        i: usize,
        kind: KrakenBookType,
        data: KrakenBookData,
        received: Timestamp,
        out: &mut Vec<Action>,
    ) -> Result<(), FrameError> {
        // Validate the whole message before touching the book.
        let bids: Vec<Level> = data
            .bids
            .iter()
            .map(Level::try_from)
            .collect::<Result<_, _>>()?;
        let asks: Vec<Level> = data
            .asks
            .iter()
            .map(Level::try_from)
            .collect::<Result<_, _>>()?;
        let precision = self
            .precision
            .get(&self.books[i].symbol)
            .copied()
            .unwrap_or_default();
        let b = &mut self.books[i];
        match kind {
            KrakenBookType::Snapshot => b.book.clear(),
            // Updates before the (re)subscription's snapshot belong to a state we dropped.
            KrakenBookType::Update if !b.synced => return Ok(()),
            KrakenBookType::Update => {}
        }
        for l in &bids {
            b.book.apply(BookSideKind::Bid, l.price, l.qty);
        }
        for l in &asks {
            b.book.apply(BookSideKind::Ask, l.price, l.qty);
        }
        b.book.truncate();
        if let Some(ts) = data.timestamp.as_deref().and_then(parse_ts) {
            b.exchange_ts = Some(ts);
        }
        let local = checksum(&b.book, precision);
        if local != data.checksum {
            let detail = format!(
                "checksum mismatch after {kind:?}: venue {} local {local}",
                data.checksum
            );
            self.resync(i, detail, out);
            return Ok(());
        }
        b.synced = true;
        out.push(Action::Book(b.book.snapshot(
            VENUE,
            &b.symbol,
            self.top,
            b.exchange_ts,
            received,
            None,
            ChecksumStatus::Verified,
        )));
        Ok(())
    }

    fn on_instrument(&mut self, msg: KrakenInstrumentMsg, out: &mut Vec<Action>) {
        for p in msg.data.pairs {
            let Ok(sym) = p.symbol.parse::<Symbol>() else {
                continue;
            };
            let e = self.precision.entry(sym).or_default();
            if p.price_precision.is_some() {
                e.price = p.price_precision;
            }
            if p.qty_precision.is_some() {
                e.qty = p.qty_precision;
            }
        }
        self.subscribe_books(out);
    }

    fn on_reply(&mut self, r: KrakenMethodReply, raw: &Value, out: &mut Vec<Action>) {
        match (r.method.as_str(), r.success) {
            ("subscribe", Some(true)) => {
                let result = r.result.unwrap_or(wire::KrakenMethodResult {
                    channel: None,
                    symbol: None,
                });
                if result.channel.as_deref() == Some("book") {
                    let symbol = result
                        .symbol
                        .and_then(|s| self.find(&s))
                        .map(|i| self.books[i].symbol.clone());
                    out.push(Action::status(symbol, FeedState::Subscribed, None, None));
                }
            }
            ("subscribe", _) => {
                out.push(Action::Audit {
                    kind: "venue_error".into(),
                    message: format!(
                        "subscribe refused: {}; reply {raw}",
                        r.error.unwrap_or_default()
                    ),
                });
                // Without instrument data the checksum falls back to the text's own precision.
                self.subscribe_books(out);
            }
            (_, Some(false)) => out.push(Action::Audit {
                kind: "venue_error".into(),
                message: format!("{} failed: {}", r.method, r.error.unwrap_or_default()),
            }),
            _ => {}
        }
    }
}

impl Adapter for KrakenAdapter {
    fn venue(&self) -> &str {
        VENUE
    }

    fn url(&self) -> String {
        self.url.clone()
    }

    fn on_connect(&mut self, out: &mut Vec<Action>) {
        for b in &mut self.books {
            b.book.clear();
            b.synced = false;
        }
        self.book_subscribed = false;
        out.push(Action::Send(
            json!({"method": "subscribe", "params": {"channel": "instrument", "snapshot": true}})
                .to_string(),
        ));
    }

    fn on_text(
        &mut self,
        text: &str,
        received: Timestamp,
        out: &mut Vec<Action>,
    ) -> Result<(), FrameError> {
        let v: Value = serde_json::from_str(&quote_numbers(text))?;
        if let Some(channel) = v.get("channel").and_then(Value::as_str) {
            return match channel {
                "book" => self.on_book(KrakenBookMsg::deserialize(v)?, received, out),
                "instrument" => {
                    self.on_instrument(KrakenInstrumentMsg::deserialize(v)?, out);
                    Ok(())
                }
                "heartbeat" | "status" => Ok(()),
                other => Err(FrameError::Unknown(format!("channel {other:?}"))),
            };
        }
        if v.get("method").is_some() {
            let r = KrakenMethodReply::deserialize(&v)?;
            self.on_reply(r, &v, out);
            return Ok(());
        }
        Err(FrameError::Unknown(
            "neither a channel message nor a reply".into(),
        ))
    }
}

#[cfg(test)]
mod tests;
