//! Each message's row: the values of its table's columns, in COPY order,
//! from a decoded message or, for a MessagePack book, straight from the fast
//! reader ([`crate::book`]). Both ways write the same bytes for a book (the
//! tests below check it).

use postgres_types::Type;
use serde_json::json;

use super::{CopyRows, EncodeError};
use crate::book::{self, BookHead};
use crate::numeric::{Numeric, NumericArray, NumericValue};
use arb_contract::Message as _;
use arb_contract::codec::Decoded;
use arb_contract::model::*;
use arb_contract::time::Timestamp;

impl CopyRows {
    /// Appends the row of `msg`, which must belong to this table. On error
    /// nothing of the row is kept.
    pub fn push(&mut self, msg: &Decoded, subject: &str) -> Result<(), EncodeError> {
        self.row(msg.schema(), |rows| rows.encode(msg, subject))
    }

    /// Appends the row of a MessagePack `book_snapshot` payload if the fast
    /// reader ([`crate::book`]) takes it, and returns its event time; `None`
    /// (and nothing written) leaves the message to [`Decoded::decode`] and
    /// [`CopyRows::push`], which store it the same way or say what is wrong.
    pub fn push_msgpack_book(&mut self, payload: &[u8]) -> Option<Timestamp> {
        let mut levels = std::mem::take(&mut self.levels);
        let written = book::read(payload, &mut levels).and_then(|(head, n_bids)| {
            let (bids, asks) = levels.split_at(n_bids);
            self.row(BookSnapshot::SCHEMA, |rows| {
                rows.book(&head, bids, asks, |l| &l.0, |l| &l.1)
            })
            .ok()
            .map(|()| head.event_ts())
        });
        self.levels = levels;
        written
    }

    /// A market_snapshots row, from a decoded book or the fast reader's.
    fn book<L: Sync, N: NumericValue + std::fmt::Debug + Sync>(
        &mut self,
        head: &BookHead<'_>,
        bids: &[L],
        asks: &[L],
        price: fn(&L) -> &N,
        qty: fn(&L) -> &N,
    ) -> Result<(), EncodeError> {
        self.uuid(&head.id)?;
        self.ts(&head.event_ts())?;
        self.ts(&head.received_ts)?;
        self.text(head.venue)?;
        self.text(head.symbol)?;
        self.int8_from_u64("sequence", head.sequence)?;
        self.text(head.checksum.as_str())?;
        self.field(&Type::NUMERIC, &bids.first().map(price).map(Numeric))?;
        self.field(&Type::NUMERIC, &asks.first().map(price).map(Numeric))?;
        for (side, get) in [(bids, price), (bids, qty), (asks, price), (asks, qty)] {
            self.field(&Type::NUMERIC_ARRAY, &NumericArray(side, get))?;
        }
        Ok(())
    }

    fn encode(&mut self, msg: &Decoded, subject: &str) -> Result<(), EncodeError> {
        match msg {
            Decoded::Book(b) => {
                let symbol = b.symbol.to_string();
                let head = BookHead {
                    id: b.id,
                    exchange_ts: b.exchange_ts,
                    received_ts: b.received_ts,
                    venue: &b.venue,
                    symbol: &symbol,
                    sequence: b.sequence,
                    checksum: b.checksum,
                };
                self.book(&head, &b.bids, &b.asks, |l| &l.price, |l| &l.qty)
            }
            Decoded::Opportunity(o) => {
                self.uuid(&o.id)?;
                self.uuid(&o.episode_id)?;
                self.text(o.kind.as_str())?;
                self.text(&o.key)?;
                self.text(o.state.as_str())?;
                self.ts(&o.book_ts)?;
                self.opt_ts(&o.received_ts)?;
                self.opt_ts(&o.published_ts)?;
                self.text(&o.currency)?;
                self.num(&o.notional)?;
                self.num(&o.gross_edge_bps)?;
                self.num(&o.net_edge_bps)?;
                self.num(&o.expected_profit)?;
                self.opt_num(&o.peak_edge_bps)?;
                self.opt_ts(&o.opened_ts)?;
                self.int8(o.duration_ms)?;
                self.json(&o.legs)
            }
            Decoded::Order(o) => {
                self.uuid(&o.id)?;
                self.ts(&o.ts)?;
                self.uuid(&o.order_id)?;
                self.opt_text(o.venue_order_id.as_deref())?;
                self.opt_uuid(&o.trade_id)?;
                self.opt_uuid(&o.opportunity_id)?;
                self.opt_uuid(&o.episode_id)?;
                self.text(&o.strategy)?;
                self.text(&o.venue)?;
                self.text(&o.symbol.to_string())?;
                self.text(o.side.as_str())?;
                self.text(match o.order_type {
                    OrderType::Market => "market",
                    OrderType::Limit => "limit",
                })?;
                self.text(o.status.as_str())?;
                self.opt_num(&o.price)?;
                self.num(&o.qty)?;
                self.num(&o.filled_qty)?;
                self.num(&o.filled_notional)?;
                self.opt_num(&o.avg_fill_price)?;
                self.num(&o.fee)?;
                self.opt_text(o.fee_currency.as_deref())?;
                self.opt_text(o.reason.as_deref())
            }
            Decoded::Trade(t) => {
                self.uuid(&t.id)?;
                self.ts(&t.ts)?;
                self.opt_uuid(&t.opportunity_id)?;
                self.opt_uuid(&t.episode_id)?;
                self.text(&t.strategy)?;
                self.text(t.status.as_str())?;
                self.text(&t.currency)?;
                self.num(&t.notional)?;
                self.num(&t.fees)?;
                self.num(&t.realized_pnl)?;
                self.opt_num(&t.expected_profit)?;
                self.int8(t.decision_latency_us)?;
                self.json(&t.legs)
            }
            Decoded::Pnl(p) => {
                self.uuid(&p.id)?;
                self.ts(&p.ts)?;
                self.text(&p.strategy)?;
                self.opt_uuid(&p.trade_id)?;
                self.text(&p.currency)?;
                self.num(&p.realized)?;
                self.num(&p.unrealized)?;
                self.num(&p.fees)?;
                self.num(&p.cumulative_realized)
            }
            Decoded::Portfolio(p) => {
                self.uuid(&p.id)?;
                self.ts(&p.ts)?;
                self.text(&p.venue)?;
                self.json(&p.balances)?;
                self.opt_text(p.valuation_currency.as_deref())?;
                self.opt_num(&p.total_value)
            }
            Decoded::Transfer(t) => {
                self.uuid(&t.id)?;
                self.ts(&t.ts)?;
                self.uuid(&t.transfer_id)?;
                self.text(&t.asset)?;
                self.text(&t.from_venue)?;
                self.text(&t.to_venue)?;
                self.num(&t.amount)?;
                self.num(&t.fee)?;
                self.text(t.status.as_str())?;
                self.ts(&t.sent_ts)?;
                self.ts(&t.arrives_ts)?;
                self.opt_num(&t.cost)?;
                self.opt_text(t.currency.as_deref())
            }
            Decoded::Audit(a) => self.audit_row(AuditRow {
                id: a.id,
                ts: a.ts,
                service: &a.service,
                kind: &a.kind,
                severity: a.severity,
                message: &a.message,
                subject: Some(a.subject.as_deref().unwrap_or(subject)),
                detail: a.detail.clone(),
                payload: a.payload.as_deref(),
            }),
            Decoded::Status(s) => {
                let severity = match s.state {
                    FeedState::Resync | FeedState::Disconnected => Severity::Warn,
                    _ => Severity::Info,
                };
                let mut message = format!("{} {:?}", s.venue, s.state).to_lowercase();
                if let Some(sym) = &s.symbol {
                    message.push_str(&format!(" {sym}"));
                }
                if let Some(r) = s.reason {
                    message.push_str(&format!(" ({r:?})").to_lowercase());
                }
                self.audit_row(AuditRow {
                    id: s.id,
                    ts: s.ts,
                    service: "feed",
                    kind: "feed_status",
                    severity,
                    message: &message,
                    subject: Some(subject),
                    detail: serde_json::to_value(s).unwrap_or_default(),
                    payload: None,
                })
            }
            Decoded::DeadLetter(d) => self.audit_row(AuditRow {
                id: d.id,
                ts: d.ts,
                service: &d.service,
                kind: "dead_letter",
                severity: Severity::Error,
                message: &d.reason,
                subject: Some(&d.subject),
                detail: json!({"headers": d.headers, "stream": d.stream, "stream_seq": d.stream_seq}),
                payload: Some(&d.payload),
            }),
            Decoded::State(s) => {
                self.uuid(&s.id)?;
                self.ts(&s.ts)?;
                self.text(&s.service)?;
                self.text(&s.instance)?;
                self.text(&s.version)?;
                self.ts(&s.started_at)?;
                self.int8_from_u64("uptime_secs", Some(s.uptime_secs))?;
                self.json(&s.counters)?;
                self.json(&s.lag)?;
                self.json(&s.detail)
            }
        }
    }

    fn audit_row(&mut self, r: AuditRow<'_>) -> Result<(), EncodeError> {
        self.uuid(&r.id)?;
        self.ts(&r.ts)?;
        self.text(r.service)?;
        self.text(r.kind)?;
        self.text(r.severity.as_str())?;
        self.text(r.message)?;
        self.opt_text(r.subject)?;
        self.json(&r.detail)?;
        self.field(&Type::BYTEA, &r.payload)
    }
}

struct AuditRow<'a> {
    id: uuid::Uuid,
    ts: Timestamp,
    service: &'a str,
    kind: &'a str,
    severity: Severity,
    message: &'a str,
    subject: Option<&'a str>,
    detail: serde_json::Value,
    payload: Option<&'a [u8]>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::Table;
    use crate::rows::copy::COPY_SIGNATURE;
    use arb_contract::sample;
    use arb_contract::time::from_nanos;
    use bytes::Bytes;
    use rust_decimal::Decimal;

    #[test]
    fn every_message_type_has_a_table_and_encodes_every_column() {
        let ts = from_nanos(1_763_900_000_000_000_000);
        let mut tables = std::collections::BTreeSet::new();
        // sample::mixed cycles through every message type in 13 steps.
        for n in 0..13 {
            let msg = sample::mixed(n, ts);
            let table = Table::of(&msg);
            tables.insert(table);
            let mut rows = CopyRows::new(table);
            rows.push(&msg, "x.y")
                .unwrap_or_else(|e| panic!("{}: {e}", msg.schema()));
            assert_eq!(rows.len(), 1);
            let bytes = rows.finish();
            assert!(bytes.starts_with(COPY_SIGNATURE));
            assert_eq!(&bytes[bytes.len() - 2..], &[0xff, 0xff], "trailer");
            let ncols = i16::from_be_bytes([bytes[19], bytes[20]]);
            assert_eq!(ncols as usize, table.columns().len(), "{}", table.name());
        }
        assert_eq!(
            tables.into_iter().collect::<Vec<_>>(),
            Table::ALL,
            "every table has a message type"
        );
    }

    #[test]
    fn a_message_stored_field_by_field_has_a_column_for_every_field() {
        let ts = from_nanos(1_763_900_000_000_000_000);
        for n in 0..13 {
            let msg = sample::mixed(n, ts);
            let table = Table::of(&msg);
            // A book's levels are split into arrays; audit_events takes
            // three message types, each its own way.
            if matches!(table, Table::MarketSnapshots | Table::AuditEvents) {
                continue;
            }
            let json = msg.encode(arb_contract::codec::ContentType::Json).unwrap();
            let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
            let mut fields: Vec<&str> = value
                .as_object()
                .expect("a map")
                .keys()
                .map(String::as_str)
                .collect();
            let mut columns = table.columns().to_vec();
            fields.sort_unstable();
            columns.sort_unstable();
            assert_eq!(columns, fields, "{}", table.name());
        }
    }

    /// The row the general decoder writes for a MessagePack book, if it reads one.
    fn decoded_row(payload: &[u8]) -> Option<Bytes> {
        let b =
            arb_contract::codec::decode::<BookSnapshot>(arb_contract::WireHeaders::NONE, payload)
                .ok()?;
        let mut rows = CopyRows::new(Table::MarketSnapshots);
        rows.push(&Decoded::Book(b), "s").ok()?;
        Some(rows.finish())
    }

    fn fast_row(payload: &[u8]) -> Option<(Timestamp, Bytes)> {
        let mut rows = CopyRows::new(Table::MarketSnapshots);
        let ts = rows.push_msgpack_book(payload)?;
        Some((ts, rows.finish()))
    }

    /// A book of random values: valid in most draws (random prices and
    /// sizes, put back in order), now and then one the contract refuses
    /// (a level not positive or out of order, an absurd time).
    fn random_book(rng: &mut rand::rngs::StdRng, n: u64) -> BookSnapshot {
        use rand::Rng;
        let ts = from_nanos(1_763_900_000_000_000_000 + rng.random_range(0..10i64.pow(15)));
        let venue = ["kraken", "binance", "coinbase", "sim"][rng.random_range(0..4)];
        let symbol = ["BTC/USD", "ETH/BTC", "XBT/EUR", "sol-usdt"][rng.random_range(0..4)];
        let mut b = sample::book(n, venue, symbol, rng.random_range(0..=25), ts);
        let dec = |rng: &mut rand::rngs::StdRng, positive: bool| {
            let m: i64 = match rng.random_range(0..3) {
                0 => rng.random_range(1..10_000_000),
                1 if !positive => rng.random_range(-1_000_000..1_000_000),
                _ => rng.random_range(1..i64::MAX),
            };
            Decimal::new(m, rng.random_range(0..=18))
        };
        let valid = rng.random_range(0..4) != 0;
        for l in b.bids.iter_mut().chain(b.asks.iter_mut()) {
            if rng.random_range(0..3) == 0 {
                l.price = dec(rng, valid);
                l.qty = dec(rng, valid);
            }
        }
        if valid {
            b.bids.sort_by_key(|l| std::cmp::Reverse(l.price));
            b.bids.dedup_by(|x, y| x.price == y.price);
            b.asks.sort_by_key(|l| l.price);
            b.asks.dedup_by(|x, y| x.price == y.price);
        }
        let sane = 946_684_800_000_000_000..7_258_118_400_000_000_000i64;
        b.exchange_ts = rng.random::<bool>().then(|| {
            from_nanos(if valid {
                rng.random_range(sane)
            } else {
                rng.random_range(-10i64.pow(18)..10i64.pow(18))
            })
        });
        b.sequence = match rng.random_range(0..4) {
            0 => None,
            1 => Some(rng.random()),
            _ => Some(rng.random_range(0..1 << 40)),
        };
        b.checksum = if rng.random() {
            ChecksumStatus::Verified
        } else {
            ChecksumStatus::NotProvided
        };
        b
    }

    #[test]
    fn the_fast_book_reader_writes_the_rows_the_decoder_does() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let (mut fast, mut fell_back, mut refused, mut mutants_taken) = (0, 0, 0, 0);
        for n in 0..3_000 {
            let b = random_book(&mut rng, n);
            let payload = if n % 10 == 0 {
                // Now and then the id as text, as another language may write
                // it: both readers take it.
                let v = serde_json::to_value(&b).expect("json");
                rmp_serde::to_vec_named(&v).expect("encodes").into()
            } else {
                arb_contract::codec::encode(&b).expect("encodes")
            };
            let want = decoded_row(&payload);
            refused += usize::from(want.is_none());
            match fast_row(&payload) {
                Some((ts, row)) => {
                    fast += 1;
                    assert_eq!(Some(row), want, "{b:?}");
                    assert_eq!(ts, arb_contract::Message::event_time(&b));
                }
                None => fell_back += 1,
            }
            // Damaged payloads: whatever the fast reader takes, the decoder
            // takes too and stores the same way.
            for _ in 0..20 {
                let mut bad = payload.to_vec();
                match rng.random_range(0..3) {
                    0 => {
                        let i = rng.random_range(0..bad.len());
                        bad[i] ^= 1 << rng.random_range(0..8);
                    }
                    1 => bad.truncate(rng.random_range(0..bad.len())),
                    _ => bad.insert(rng.random_range(0..=bad.len()), rng.random()),
                }
                if let Some((_, row)) = fast_row(&bad) {
                    mutants_taken += 1;
                    assert_eq!(Some(row), decoded_row(&bad), "{bad:?}");
                }
            }
        }
        // Invalid books, and those with a sequence above 2^63, go the general
        // way (which refuses the invalid ones).
        assert!(
            fast > 1_500 && fell_back > 0 && refused > 300,
            "{fast} fast, {fell_back} not, {refused} refused"
        );
        assert!(
            mutants_taken > 1_000,
            "{mutants_taken} damaged payloads still read"
        );
    }
}
