//! Coinbase Advanced Trade `level2` with `heartbeats`: a snapshot resets the
//! symbol's book; `sequence_num` counts every message of the connection, so a
//! skipped number means something was lost: publish `resync` (gap) and
//! resubscribe `level2`, which sends fresh snapshots. A message that cannot
//! be applied in full spent its number too: it is a gap, and none of its
//! events is applied.

pub mod fees;
pub mod symbols;
pub mod sync;
pub mod wire;

use arb_contract::Level;
use arb_contract::model::{ChecksumStatus, FeedState, ResyncReason};
use arb_contract::time::Timestamp;
use serde::Deserialize;
use serde_json::json;

use crate::adapter::{Action, Adapter, BookOut, BookSettings};
use crate::book::BookSideKind;
use crate::error::{FrameError, FrameResult};
use crate::symbol_table::SymbolTable;
use sync::{CoinbaseBook, SeqCheck, SeqTracker};
use wire::{CoinbaseEnvelope, CoinbaseL2Event, CoinbaseL2Type, CoinbaseSubscriptions};

pub const VENUE: &str = "coinbase";

/// The Coinbase protocol, pure.
pub struct CoinbaseAdapter {
    url: String,
    /// Keyed by product id (`BTC-USD`).
    books: SymbolTable<CoinbaseBook>,
    out: BookOut,
    seq: SeqTracker,
}

impl CoinbaseAdapter {
    pub fn new(url: &str, cfg: &BookSettings) -> Self {
        let levels = cfg.book_levels.max(cfg.top);
        let books = SymbolTable::new(cfg.symbols.iter().cloned(), symbols::product_id, || {
            CoinbaseBook::new(levels)
        });
        CoinbaseAdapter {
            url: url.to_owned(),
            books,
            out: BookOut::new(VENUE, cfg.top),
            seq: SeqTracker::default(),
        }
    }

    fn level2(&self, kind: &str) -> String {
        let products: Vec<&str> = self.books.wires().collect();
        json!({"type": kind, "product_ids": products, "channel": "level2"}).to_string()
    }

    fn unsync_all(&mut self) {
        for b in self.books.states_mut() {
            b.reset();
        }
    }

    /// The stream is behind the venue's (a skipped sequence number, or a
    /// message that cannot be applied in full): drop every book, report,
    /// and subscribe again for fresh snapshots.
    fn gap(&mut self, detail: String, out: &mut Vec<Action>) {
        self.unsync_all();
        out.push(Action::resync(None, ResyncReason::Gap, detail));
        out.push(Action::Send(self.level2("unsubscribe")));
        out.push(Action::Send(self.level2("subscribe")));
    }

    /// Reads every event of an `l2_data` message, all or nothing.
    fn parse_l2(&self, env: &CoinbaseEnvelope) -> FrameResult<Vec<ParsedEvent>> {
        let mut parsed = Vec::with_capacity(env.events.len());
        for raw in &env.events {
            let ev = CoinbaseL2Event::deserialize(raw)?;
            let Some(i) = self.books.find(&ev.product_id) else {
                return Err(FrameError::Invalid(format!(
                    "level2 for unsubscribed product {}",
                    ev.product_id
                )));
            };
            let levels = ev
                .updates
                .iter()
                .map(<(BookSideKind, Level)>::try_from)
                .collect::<Result<Vec<_>, _>>()?;
            parsed.push(ParsedEvent {
                book: i,
                kind: ev.kind,
                levels,
            });
        }
        Ok(parsed)
    }

    fn on_l2(
        &mut self,
        env: &CoinbaseEnvelope,
        received: Timestamp,
        out: &mut Vec<Action>,
    ) -> FrameResult {
        let parsed = self.parse_l2(env).and_then(|p| {
            let ts = crate::wire::optional_ts(env.timestamp.as_deref())?;
            Ok((p, ts))
        });
        let (events, exchange_ts) = match parsed {
            Ok(p) => p,
            Err(e) => {
                // Its sequence number is spent: the books cannot follow.
                self.gap(format!("unusable level2 message: {e}"), out);
                return Err(e);
            }
        };
        for ev in events {
            if !self.books[ev.book].apply(ev.kind, &ev.levels) {
                continue;
            }
            out.push(self.out.book(
                &self.books[ev.book].book,
                self.books.symbol(ev.book),
                exchange_ts,
                received,
                env.sequence_num,
                ChecksumStatus::NotProvided,
            ));
        }
        Ok(())
    }
}

/// One `l2_data` event, read and checked, not yet applied.
struct ParsedEvent {
    book: usize,
    kind: CoinbaseL2Type,
    levels: Vec<(BookSideKind, Level)>,
}

impl Adapter for CoinbaseAdapter {
    const VENUE: &'static str = VENUE;

    fn url(&self) -> String {
        self.url.clone()
    }

    fn on_connect(&mut self, out: &mut Vec<Action>) {
        self.unsync_all();
        self.seq.reset();
        out.push(Action::Send(self.level2("subscribe")));
        out.push(Action::Send(
            json!({"type": "subscribe", "channel": "heartbeats"}).to_string(),
        ));
    }

    fn on_text(&mut self, text: &str, received: Timestamp, out: &mut Vec<Action>) -> FrameResult {
        let env: CoinbaseEnvelope = serde_json::from_str(text)?;
        if env.kind.as_deref() == Some("error") {
            out.push(Action::Audit {
                kind: "venue_error".into(),
                message: env.message.unwrap_or_else(|| text.to_owned()),
            });
            return Ok(());
        }
        if let Some(seq) = env.sequence_num {
            match self.seq.check(seq) {
                SeqCheck::First | SeqCheck::Next => {}
                SeqCheck::Old => return Ok(()),
                SeqCheck::Gap { expected, got } => {
                    self.gap(
                        format!("sequence_num gap: expected {expected}, got {got}"),
                        out,
                    );
                    // This message belongs to the lost stretch too.
                    return Ok(());
                }
            }
        }
        match env.channel.as_deref() {
            Some("l2_data") => self.on_l2(&env, received, out),
            Some("subscriptions") => {
                for e in &env.events {
                    let s = CoinbaseSubscriptions::deserialize(e)?;
                    for p in s.subscriptions.get("level2").into_iter().flatten() {
                        if let Some(i) = self.books.find(p) {
                            out.push(Action::status(
                                Some(self.books.symbol(i).clone()),
                                FeedState::Subscribed,
                                None,
                                None,
                            ));
                        }
                    }
                }
                Ok(())
            }
            Some("heartbeats") => Ok(()),
            Some(other) => Err(FrameError::Unknown(format!("channel {other:?}"))),
            None => Err(FrameError::Unknown("no channel".into())),
        }
    }
}

#[cfg(test)]
mod tests;
