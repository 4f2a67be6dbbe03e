//! The shape every venue adapter has: a pure state machine that the feed's
//! I/O loop drives with frames and replies, and that answers with
//! [`Action`]s for the loop to carry out. No sockets, no clock: the loop
//! stamps each frame's receive time and passes it in.

use std::time::Duration;

use arb_contract::model::{BookSnapshot, ChecksumStatus, FeedState, ResyncReason};
use arb_contract::time::Timestamp;
use arb_contract::{IdGen, Symbol};

use crate::book::OrderBook;
use crate::error::{ApiResult, FrameResult};

/// What every adapter is configured with besides its endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookSettings {
    /// The symbols to serve, in the contract's spelling.
    pub symbols: Vec<Symbol>,
    /// Depth subscribed at the venue (Kraken `depth`, Binance snapshot `limit`).
    pub depth: usize,
    /// Levels per side kept locally for full-depth diff feeds (Binance, Coinbase).
    pub book_levels: usize,
    /// Levels per side published in each snapshot.
    pub top: usize,
}

/// What an adapter asks the loop to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send a text frame on the market-data connection.
    Send(String),
    /// Publish a book.
    Book(BookSnapshot),
    /// Publish a status on `md.status.<venue>`.
    Status {
        symbol: Option<Symbol>,
        state: FeedState,
        reason: Option<ResyncReason>,
        detail: Option<String>,
    },
    /// Send `request` to the venue's request/response endpoint after `delay`;
    /// the reply comes back through [`Adapter::on_api`] with `key`.
    Api {
        key: String,
        request: String,
        delay: Duration,
    },
    /// An audit record without a raw frame.
    Audit { kind: String, message: String },
    /// Drop the connection and start again.
    Reconnect(String),
}

impl Action {
    pub fn status(
        symbol: Option<Symbol>,
        state: FeedState,
        reason: Option<ResyncReason>,
        detail: Option<String>,
    ) -> Self {
        Action::Status {
            symbol,
            state,
            reason,
            detail,
        }
    }

    /// The book (of `symbol`, or of every symbol) is behind the venue's and
    /// is not published again until it is rebuilt.
    pub fn resync(symbol: Option<Symbol>, reason: ResyncReason, detail: String) -> Self {
        Action::status(symbol, FeedState::Resync, Some(reason), Some(detail))
    }
}

/// How an adapter publishes its local books: the venue they are from, how
/// many levels per side go out, and the ids derived for them.
#[derive(Debug, Clone)]
pub struct BookOut {
    venue: &'static str,
    top: usize,
    ids: IdGen,
}

impl BookOut {
    pub fn new(venue: &'static str, top: usize) -> Self {
        BookOut {
            venue,
            top,
            ids: IdGen::new(&format!("book.{venue}")),
        }
    }

    /// The top levels of `symbol`'s `book`, received at `received`, as a
    /// book to publish.
    pub fn book(
        &mut self,
        book: &OrderBook,
        symbol: &Symbol,
        exchange_ts: Option<Timestamp>,
        received: Timestamp,
        sequence: Option<u64>,
        checksum: ChecksumStatus,
    ) -> Action {
        Action::Book(book.snapshot(
            self.ids.next(received),
            self.venue,
            symbol,
            self.top,
            exchange_ts,
            received,
            sequence,
            checksum,
        ))
    }
}

/// A venue's protocol: pure, driven by the loop.
pub trait Adapter: Send {
    /// The venue's name in subjects and messages.
    const VENUE: &'static str;
    fn venue(&self) -> &str {
        Self::VENUE
    }
    /// The market-data endpoint to connect to.
    fn url(&self) -> String;
    /// The request/response endpoint, for venues that take snapshots there.
    fn api_url(&self) -> Option<String> {
        None
    }
    /// A new connection: forget every book and push the subscribe frames.
    fn on_connect(&mut self, out: &mut Vec<Action>);
    /// One text frame, received at `received`.
    fn on_text(&mut self, text: &str, received: Timestamp, out: &mut Vec<Action>) -> FrameResult;
    /// The reply to an [`Action::Api`] request.
    fn on_api(&mut self, key: &str, reply: ApiResult, received: Timestamp, out: &mut Vec<Action>) {
        let _ = (key, reply, received, out);
    }
}
