//! Kraken WebSocket v2: the `instrument` channel for each pair's precision,
//! the `book` channel for snapshots and updates, the CRC32 checksum checked
//! after every message. A mismatch publishes `resync` (checksum), drops the
//! book and resubscribes the symbol; a message that cannot be applied in
//! full (a bad level, an unreadable time) does the same as a gap. Nothing
//! from the broken state is published.

pub mod checksum;
pub mod fees;
pub mod symbols;
pub mod sync;
pub mod wire;

use std::collections::HashMap;

use arb_contract::model::{ChecksumStatus, FeedState, ResyncReason};
use arb_contract::time::Timestamp;
use arb_contract::{Level, Symbol};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::adapter::{Action, Adapter, BookOut, BookSettings};
use crate::error::{FrameError, FrameResult};
use crate::symbol_table::SymbolTable;
use checksum::Precision;
use sync::{KrakenBook, SyncStep};
use wire::{
    KrakenBookData, KrakenBookMsg, KrakenBookType, KrakenInstrumentMsg, KrakenMethodReply,
    quote_numbers,
};

pub const VENUE: &str = "kraken";

/// Book depths Kraken's `book` channel accepts.
pub const DEPTHS: [usize; 5] = [10, 25, 100, 500, 1000];

/// The Kraken protocol, pure.
pub struct KrakenAdapter {
    url: String,
    depth: usize,
    /// Keyed by Kraken's name of the pair (`BTC/USD`).
    books: SymbolTable<KrakenBook>,
    out: BookOut,
    precision: HashMap<Symbol, Precision>,
    book_subscribed: bool,
}

impl KrakenAdapter {
    /// Serves `settings.symbols` (Kraken spellings such as `XBT/USD` are
    /// read as the contract's `BTC/USD`); the depth is rounded up to one
    /// Kraken accepts ([`DEPTHS`]).
    pub fn new(url: String, settings: &BookSettings) -> Self {
        let depth = crate::book::round_up_depth(settings.depth, &DEPTHS);
        let symbols = settings
            .symbols
            .iter()
            .map(|s| symbols::symbol(&s.to_string()).unwrap_or_else(|_| s.clone()));
        KrakenAdapter {
            url,
            depth,
            books: SymbolTable::new(symbols, symbols::wire_name, || KrakenBook::new(depth)),
            out: BookOut::new(VENUE, settings.top),
            precision: HashMap::new(),
            book_subscribed: false,
        }
    }

    /// The depth subscribed (the configured one rounded up to what Kraken takes).
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The symbols served, in the contract's spelling.
    pub fn symbols(&self) -> impl Iterator<Item = &Symbol> {
        self.books.symbols()
    }

    /// The book a frame names, in v2's spelling or an older one (`XBT/USD`).
    fn find(&self, wire: &str) -> Option<usize> {
        self.books
            .find(wire)
            .or_else(|| self.books.position(&symbols::symbol(wire).ok()?))
    }

    fn book_request<'a>(&self, method: &str, wires: impl IntoIterator<Item = &'a str>) -> String {
        let wires: Vec<&str> = wires.into_iter().collect();
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
        out.push(Action::Send(
            self.book_request("subscribe", self.books.wires()),
        ));
    }

    /// The symbol's book is wrong or cannot be kept: report, forget it and
    /// subscribe again (the new subscription starts with a snapshot).
    fn resync(&mut self, i: usize, reason: ResyncReason, detail: String, out: &mut Vec<Action>) {
        self.books[i].reset();
        let (symbol, wire) = (self.books.symbol(i), self.books.wire(i));
        out.push(Action::resync(Some(symbol.clone()), reason, detail));
        out.push(Action::Send(self.book_request("unsubscribe", [wire])));
        out.push(Action::Send(self.book_request("subscribe", [wire])));
    }

    fn on_book(
        &mut self,
        msg: KrakenBookMsg,
        received: Timestamp,
        out: &mut Vec<Action>,
    ) -> FrameResult {
        let mut unknown = Vec::new();
        let mut unusable = None;
        for entry in msg.data {
            // The symbol first: an entry that cannot be read still names its book.
            let named = entry.get("symbol").and_then(Value::as_str);
            let Some(i) = named.and_then(|s| self.find(s)) else {
                unknown.push(named.map_or_else(|| entry.to_string(), str::to_owned));
                continue;
            };
            let applied = KrakenBookData::deserialize(entry)
                .map_err(FrameError::from)
                .and_then(|data| self.apply(i, msg.kind, data, received, out));
            if let Err(e) = applied {
                // A message that cannot be applied in full leaves the book
                // behind the venue's: as good as a gap.
                let detail = format!("unusable book message: {e}");
                self.resync(i, ResyncReason::Gap, detail, out);
                unusable = Some(e);
            }
        }
        if let Some(e) = unusable {
            return Err(e);
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
    ) -> FrameResult {
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
        let ts = crate::wire::optional_ts(data.timestamp.as_deref())?;
        let precision = self.precision.get(self.books.symbol(i));
        let precision = precision.copied().unwrap_or_default();
        match self.books[i].apply(kind, &bids, &asks, data.checksum, ts, precision) {
            SyncStep::Ignored => {}
            SyncStep::Mismatch { venue, local } => {
                let detail =
                    format!("checksum mismatch after {kind:?}: venue {venue} local {local}");
                self.resync(i, ResyncReason::Checksum, detail, out);
            }
            SyncStep::Synced => out.push(self.out.book(
                &self.books[i].book,
                self.books.symbol(i),
                self.books[i].exchange_ts(),
                received,
                None,
                ChecksumStatus::Verified,
            )),
        }
        Ok(())
    }

    fn on_instrument(&mut self, msg: KrakenInstrumentMsg, out: &mut Vec<Action>) {
        for p in msg.data.pairs {
            let Ok(sym) = symbols::symbol(&p.symbol) else {
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
                        .map(|i| self.books.symbol(i).clone());
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
    const VENUE: &'static str = VENUE;

    fn url(&self) -> String {
        self.url.clone()
    }

    fn on_connect(&mut self, out: &mut Vec<Action>) {
        for b in self.books.states_mut() {
            b.reset();
        }
        self.book_subscribed = false;
        out.push(Action::Send(
            json!({"method": "subscribe", "params": {"channel": "instrument", "snapshot": true}})
                .to_string(),
        ));
    }

    fn on_text(&mut self, text: &str, received: Timestamp, out: &mut Vec<Action>) -> FrameResult {
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
