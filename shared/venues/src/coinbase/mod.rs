//! Coinbase Advanced Trade `level2` with `heartbeats`: a snapshot resets the
//! symbol's book; `sequence_num` counts every message of the connection, so a
//! skipped number means something was lost: publish `resync` (gap) and
//! resubscribe `level2`, which sends fresh snapshots.

pub mod fees;
pub mod symbols;
pub mod sync;
pub mod wire;

use std::collections::HashMap;

use arb_contract::model::{ChecksumStatus, FeedState, ResyncReason};
use arb_contract::time::Timestamp;
use arb_contract::{IdGen, Level, Symbol};
use serde::Deserialize;
use serde_json::json;

use crate::adapter::{Action, Adapter, BookSettings};
use crate::book::{BookSideKind, OrderBook};
use crate::error::FrameError;
use crate::wire_time::parse_ts;
use sync::{SeqCheck, SeqTracker};
use wire::{CoinbaseEnvelope, CoinbaseL2Event, CoinbaseL2Type, CoinbaseSubscriptions};

pub const VENUE: &str = "coinbase";

struct SymbolBook {
    symbol: Symbol,
    product: String,
    book: OrderBook,
    synced: bool,
}

/// The Coinbase protocol, pure.
pub struct CoinbaseAdapter {
    url: String,
    top: usize,
    books: Vec<SymbolBook>,
    index: HashMap<String, usize>,
    seq: SeqTracker,
    ids: IdGen,
}

impl CoinbaseAdapter {
    pub fn new(url: &str, cfg: &BookSettings) -> Self {
        let mut index = HashMap::new();
        let books = cfg
            .symbols
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let product = symbols::product_id(s);
                index.insert(product.clone(), i);
                SymbolBook {
                    symbol: s.clone(),
                    product,
                    book: OrderBook::new(cfg.book_levels.max(cfg.top)),
                    synced: false,
                }
            })
            .collect();
        CoinbaseAdapter {
            url: url.to_owned(),
            top: cfg.top,
            books,
            index,
            seq: SeqTracker::default(),
            ids: IdGen::new(&format!("book.{VENUE}")),
        }
    }

    fn level2(&self, kind: &str) -> String {
        let products: Vec<&str> = self.books.iter().map(|b| b.product.as_str()).collect();
        json!({"type": kind, "product_ids": products, "channel": "level2"}).to_string()
    }

    fn unsync_all(&mut self) {
        for b in &mut self.books {
            b.synced = false;
            b.book.clear();
        }
    }

    /// The stream is behind the venue's (a skipped sequence number, or a
    /// message that cannot be applied in full): drop every book, report,
    /// and subscribe again for fresh snapshots.
    fn gap(&mut self, detail: String, out: &mut Vec<Action>) {
        self.unsync_all();
        out.push(Action::status(
            None,
            FeedState::Resync,
            Some(ResyncReason::Gap),
            Some(detail),
        ));
        out.push(Action::Send(self.level2("unsubscribe")));
        out.push(Action::Send(self.level2("subscribe")));
    }

    /// Reads every event of an `l2_data` message, all or nothing.
    fn parse_l2(&self, env: &CoinbaseEnvelope) -> Result<Vec<ParsedEvent>, FrameError> {
        let mut parsed = Vec::with_capacity(env.events.len());
        for raw in &env.events {
            let ev = CoinbaseL2Event::deserialize(raw)?;
            let Some(&i) = self.index.get(&ev.product_id) else {
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
    ) -> Result<(), FrameError> {
        let parsed = self.parse_l2(env).and_then(|p| {
            let ts = match env.timestamp.as_deref() {
                None => None,
                Some(t) => Some(
                    parse_ts(t).ok_or_else(|| FrameError::Invalid(format!("timestamp {t:?}")))?,
                ),
            };
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
            let b = &mut self.books[ev.book];
            match ev.kind {
                CoinbaseL2Type::Snapshot => {
                    b.book.clear();
                    b.synced = true;
                }
                CoinbaseL2Type::Update if !b.synced => continue,
                CoinbaseL2Type::Update => {}
            }
            for (side, l) in ev.levels {
                b.book.apply(side, l.price, l.qty);
            }
            b.book.truncate();
            out.push(Action::Book(b.book.snapshot(
                self.ids.next(received),
                VENUE,
                &b.symbol,
                self.top,
                exchange_ts,
                received,
                env.sequence_num,
                ChecksumStatus::NotProvided,
            )));
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
    fn venue(&self) -> &str {
        VENUE
    }

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

    fn on_text(
        &mut self,
        text: &str,
        received: Timestamp,
        out: &mut Vec<Action>,
    ) -> Result<(), FrameError> {
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
                        if let Some(&i) = self.index.get(p) {
                            out.push(Action::status(
                                Some(self.books[i].symbol.clone()),
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
mod tests {
    use super::*;

    fn adapter() -> CoinbaseAdapter {
        let cfg = BookSettings {
            symbols: vec!["BTC-USD".parse().unwrap(), "ETH-USD".parse().unwrap()],
            depth: 10,
            book_levels: 1000,
            top: 10,
        };
        CoinbaseAdapter::new("ws://x", &cfg)
    }

    fn l2(seq: u64, kind: &str, product: &str, ups: &[(&str, &str, &str)]) -> String {
        let updates: Vec<_> = ups
            .iter()
            .map(|(s, p, q)| json!({"side": s, "event_time": "2023-02-09T20:32:50.714964855Z", "price_level": p, "new_quantity": q}))
            .collect();
        json!({"channel": "l2_data", "client_id": "", "timestamp": "2023-02-09T20:32:50.714964855Z", "sequence_num": seq,
               "events": [{"type": kind, "product_id": product, "updates": updates}]})
        .to_string()
    }

    #[test]
    fn snapshot_resets_updates_apply_gap_resubscribes() {
        let mut a = adapter();
        let mut out = Vec::new();
        a.on_connect(&mut out);
        assert_eq!(out.len(), 2);
        let top = |out: &[Action]| match out.last() {
            Some(Action::Book(b)) => (b.bids.clone(), b.asks.clone(), b.sequence),
            other => panic!("no book: {other:?}"),
        };
        let lv = |p: &str, q: &str| Level::new(p.parse().unwrap(), q.parse().unwrap());
        out.clear();
        a.on_text(
            &l2(0, "update", "BTC-USD", &[("bid", "1", "1")]),
            Timestamp::default(),
            &mut out,
        )
        .unwrap();
        assert!(out.is_empty(), "an update before the snapshot is ignored");
        a.on_text(
            &l2(
                1,
                "snapshot",
                "BTC-USD",
                &[("bid", "100", "1"), ("offer", "101", "2")],
            ),
            Timestamp::default(),
            &mut out,
        )
        .unwrap();
        a.on_text(
            &l2(
                2,
                "update",
                "BTC-USD",
                &[("bid", "100.5", "3"), ("offer", "101", "0")],
            ),
            Timestamp::default(),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            top(&out),
            (vec![lv("100.5", "3"), lv("100", "1")], vec![], Some(2))
        );
        // A second snapshot replaces everything.
        a.on_text(
            &l2(3, "snapshot", "BTC-USD", &[("bid", "90", "1")]),
            Timestamp::default(),
            &mut out,
        )
        .unwrap();
        assert_eq!(top(&out), (vec![lv("90", "1")], vec![], Some(3)));
        // A gap: resync status and resubscription, no book.
        out.clear();
        a.on_text(
            &l2(7, "update", "BTC-USD", &[("bid", "91", "1")]),
            Timestamp::default(),
            &mut out,
        )
        .unwrap();
        assert!(matches!(
            out[0],
            Action::Status {
                state: FeedState::Resync,
                reason: Some(ResyncReason::Gap),
                ..
            }
        ));
        assert!(matches!(&out[1], Action::Send(s) if s.contains("unsubscribe")));
        assert!(matches!(&out[2], Action::Send(s) if s.contains("\"subscribe\"")));
        assert!(!out.iter().any(|a| matches!(a, Action::Book(_))));
        out.clear();
        a.on_text(
            &l2(8, "update", "BTC-USD", &[("bid", "92", "1")]),
            Timestamp::default(),
            &mut out,
        )
        .unwrap();
        assert!(out.is_empty(), "updates wait for the new snapshot");
        a.on_text(
            &l2(9, "snapshot", "BTC-USD", &[("bid", "95", "1")]),
            Timestamp::default(),
            &mut out,
        )
        .unwrap();
        assert_eq!(top(&out), (vec![lv("95", "1")], vec![], Some(9)));
        // Garbage and unknown.
        assert!(a.on_text("{{{", Timestamp::default(), &mut out).is_err());
        assert!(matches!(
            a.on_text(
                r#"{"channel":"ticker","sequence_num":10,"events":[]}"#,
                Timestamp::default(),
                &mut out
            ),
            Err(FrameError::Unknown(_))
        ));
    }
}
