//! What a run produced: the hash over every event, the summary figures, the
//! per-trade points and the episode spans of a [`JobResult`].

use std::collections::{BTreeMap, HashMap};

use arb_contract::codec::Decoded;

use arb_contract::{EpisodeState, Message, Opportunity, OrderStatus, TradeStatus};
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::result::{EpisodeSpan, JobResult, Summary, TradePoint};
use crate::run::{Outcome, bump};

/// RFC 3339 in UTC with nanoseconds, as the job results write times.
pub use arb_contract::time::rfc3339;

/// Feeds every event into the hash and the figures.
pub(crate) struct Recorder {
    currency: String,
    keep: bool,
    pub(crate) books: u64,
    pub(crate) statuses: u64,
    opportunities: BTreeMap<String, u64>,
    trades: BTreeMap<String, u64>,
    rejected: BTreeMap<String, u64>,
    realized: Decimal,
    fees: Decimal,
    expected: Decimal,
    captured: Decimal,
    peak: Decimal,
    max_drawdown: Decimal,
    wins: u64,
    with_fills: u64,
    hash: Sha256,
    /// Each event's MessagePack bytes, written here and hashed: one buffer
    /// for the run rather than one allocation per event.
    buf: Vec<u8>,
    events: u64,
    kept: Vec<Decoded>,
    opps: Vec<Opportunity>,
    points: Vec<TradePoint>,
    episodes: Vec<EpisodeSpan>,
    open: HashMap<Uuid, usize>,
    /// The label of the trade under way.
    label: String,
    /// A wire encoding that failed (never expected: the engine's messages
    /// are plain data); counted so that it cannot pass unseen.
    encode_errors: u64,
}

impl Recorder {
    pub(crate) fn new(currency: String, keep: bool) -> Self {
        Recorder {
            currency,
            keep,
            books: 0,
            statuses: 0,
            opportunities: BTreeMap::new(),
            trades: BTreeMap::new(),
            rejected: BTreeMap::new(),
            realized: Decimal::ZERO,
            fees: Decimal::ZERO,
            expected: Decimal::ZERO,
            captured: Decimal::ZERO,
            peak: Decimal::ZERO,
            max_drawdown: Decimal::ZERO,
            wins: 0,
            with_fills: 0,
            hash: Sha256::new(),
            buf: Vec::new(),
            events: 0,
            kept: Vec::new(),
            opps: Vec::new(),
            points: Vec::new(),
            episodes: Vec::new(),
            open: HashMap::new(),
            label: String::new(),
            encode_errors: 0,
        }
    }

    pub(crate) fn label(&mut self, label: String) {
        self.label = label;
    }

    /// Hashes one event: its schema, then its MessagePack bytes, each
    /// length-prefixed so that no two sequences of events hash alike.
    fn hash(&mut self, m: &Decoded) {
        self.hash_message(m.schema(), m);
    }

    /// [`Recorder::hash`] of a message with schema `schema`, given as the
    /// message itself or as a [`Decoded`] holding it. The bytes are those of
    /// `Decoded::encode(ContentType::Msgpack)`, the wire form: that is
    /// `rmp_serde::to_vec_named` of the message, i.e. `write_named` into a
    /// new `Vec`; here into the cleared buffer, which gives the same bytes.
    /// `Decoded` serializes untagged, as the message it holds, so either
    /// form writes the same. (`encodes_as_the_codec_does` checks both.)
    fn hash_message<M: Serialize + ?Sized>(&mut self, schema: &str, m: &M) {
        self.events += 1;
        self.buf.clear();
        match rmp_serde::encode::write_named(&mut self.buf, m) {
            Ok(()) => {
                let schema = schema.as_bytes();
                self.hash.update((schema.len() as u64).to_le_bytes());
                self.hash.update(schema);
                self.hash.update((self.buf.len() as u64).to_le_bytes());
                self.hash.update(&self.buf);
            }
            Err(_) => self.encode_errors += 1,
        }
    }

    pub(crate) fn opportunity(&mut self, opp: &Opportunity) {
        bump(&mut self.opportunities, opp.state.as_str());
        let peak = opp.peak_edge_bps.unwrap_or(opp.net_edge_bps);
        match opp.state {
            EpisodeState::Open => {
                self.open.insert(opp.episode_id, self.episodes.len());
                self.episodes.push(EpisodeSpan {
                    episode_id: opp.episode_id.to_string(),
                    key: opp.key.clone(),
                    opened: rfc3339(&opp.opened_ts.unwrap_or(opp.book_ts)),
                    closed: None,
                    duration_ms: None,
                    peak_edge_bps: peak,
                });
            }
            EpisodeState::Update | EpisodeState::Close => {
                if let Some(&i) = self.open.get(&opp.episode_id) {
                    let span = &mut self.episodes[i];
                    span.peak_edge_bps = span.peak_edge_bps.max(peak);
                    if opp.state == EpisodeState::Close {
                        span.closed = Some(rfc3339(&opp.book_ts));
                        span.duration_ms = opp.duration_ms;
                        self.open.remove(&opp.episode_id);
                    }
                }
            }
        }
        // Hashed as the message itself: no `Decoded` (a copy of the
        // opportunity) unless it is kept.
        self.hash_message(Opportunity::SCHEMA, opp);
        if self.keep {
            self.opps.push(opp.clone());
            self.kept.push(Decoded::Opportunity(opp.clone()));
        }
    }

    pub(crate) fn events(&mut self, events: Vec<Decoded>) {
        for m in events {
            self.event(&m);
            if self.keep {
                self.kept.push(m);
            }
        }
    }

    fn event(&mut self, m: &Decoded) {
        self.hash(m);
        match m {
            Decoded::Order(o) if o.status == OrderStatus::Rejected => {
                bump(&mut self.rejected, o.reason.as_deref().unwrap_or("unknown"));
            }
            Decoded::Trade(t) => {
                bump(&mut self.trades, t.status.as_str());
                if t.currency != self.currency {
                    return;
                }
                let expected = t.expected_profit.unwrap_or(Decimal::ZERO);
                self.expected += expected;
                self.captured += t.realized_pnl;
                if t.status != TradeStatus::Failed {
                    self.with_fills += 1;
                    if t.realized_pnl > Decimal::ZERO {
                        self.wins += 1;
                    }
                }
                self.points.push(TradePoint {
                    ts: rfc3339(&t.ts),
                    trade_id: t.id.to_string(),
                    episode_id: t.episode_id.map(|e| e.to_string()),
                    strategy: t.strategy.clone(),
                    label: std::mem::take(&mut self.label),
                    status: t.status.as_str().to_owned(),
                    currency: t.currency.clone(),
                    expected_profit: expected,
                    realized_pnl: t.realized_pnl,
                    fees: t.fees,
                    // Set by the trade's P&L event, which follows.
                    cumulative: self.realized + t.realized_pnl,
                    drawdown: Decimal::ZERO,
                });
            }
            Decoded::Pnl(p) if p.currency == self.currency => {
                self.realized += p.realized;
                self.fees += p.fees;
                self.peak = self.peak.max(self.realized);
                let drawdown = self.peak - self.realized;
                self.max_drawdown = self.max_drawdown.max(drawdown);
                let id = p.trade_id.map(|t| t.to_string());
                if let Some(point) = self.points.last_mut()
                    && id.as_deref() == Some(point.trade_id.as_str())
                {
                    point.cumulative = self.realized;
                    point.drawdown = drawdown;
                }
            }
            _ => {}
        }
    }

    pub(crate) fn finish(self) -> Outcome {
        let mut rejected = self.rejected;
        if self.encode_errors > 0 {
            rejected.insert("encode_errors".to_owned(), self.encode_errors);
        }
        let win_rate = (self.with_fills > 0)
            .then(|| Decimal::from(self.wins) / Decimal::from(self.with_fills))
            .map(|r| r.round_dp(4));
        let summary = Summary {
            books: self.books,
            statuses: self.statuses,
            opportunities: self.opportunities,
            trades: self.trades,
            rejected,
            currency: self.currency,
            realized_pnl: self.realized,
            fees: self.fees,
            max_drawdown: self.max_drawdown,
            win_rate,
            expected_profit: self.expected,
            captured_profit: self.captured,
            events: self.events,
            hash: hex(&self.hash.finalize()),
        };
        Outcome {
            result: JobResult {
                summary,
                trades: self.points,
                episodes: self.episodes,
            },
            events: self.kept,
            opportunities: self.opps,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arb_contract::codec::ContentType;
    use arb_contract::sample;

    /// The bytes [`Recorder::hash`] feeds its digest, as the recorder
    /// worked before it reused a buffer: a fresh `Decoded::encode`.
    fn digest_of_fresh_encodings(events: &[Decoded]) -> String {
        let mut hash = Sha256::new();
        for m in events {
            let bytes = m.encode(ContentType::Msgpack).unwrap();
            let schema = m.schema().as_bytes();
            hash.update((schema.len() as u64).to_le_bytes());
            hash.update(schema);
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(&bytes);
        }
        hex(&hash.finalize())
    }

    #[test]
    fn encodes_as_the_codec_does() {
        let ts: arb_contract::time::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        // Every type of the contract, several times over: a long message
        // after a short one must not keep any of the long one's bytes.
        let events: Vec<Decoded> = (0..52).map(|n| sample::mixed(n, ts)).collect();
        let mut r = Recorder::new("USD".into(), false);
        for m in &events {
            r.buf.clear();
            rmp_serde::encode::write_named(&mut r.buf, m).unwrap();
            assert_eq!(
                r.buf,
                m.encode(ContentType::Msgpack).unwrap(),
                "{}",
                m.schema()
            );
            if let Decoded::Opportunity(o) = m {
                r.buf.clear();
                rmp_serde::encode::write_named(&mut r.buf, o).unwrap();
                assert_eq!(r.buf, m.encode(ContentType::Msgpack).unwrap());
            }
        }
        for m in &events {
            match m {
                Decoded::Opportunity(o) => r.opportunity(o),
                m => r.hash(m),
            }
        }
        let summary = r.finish().result.summary;
        assert_eq!(summary.events, events.len() as u64);
        assert_eq!(summary.hash, digest_of_fresh_encodings(&events));
    }
}
