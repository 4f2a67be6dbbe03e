//! Where a backtest's history comes from: the MD stream (an ordered
//! consumer, books and feed states in stream order) or PostgreSQL's
//! `market_snapshots` (books only, in event-time order).

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use arb_backtest::Input;
use arb_contract::codec::Decoded;
use arb_contract::subject::StreamKind;
use arb_contract::time::Timestamp;
use arb_contract::{BookSnapshot, ChecksumStatus, Level, Symbol};
use arb_runtime::bus::Bus;
use arb_runtime::headers;
use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use futures::StreamExt;
use rust_decimal::Decimal;
use sqlx::PgPool;
use uuid::Uuid;

/// How long a read may stall before it is called a fault.
pub(crate) const READ_STALL: Duration = Duration::from_secs(30);

pub use crate::publish::Bound;

/// Where to read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceKind {
    Jetstream,
    Postgres,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Jetstream => "jetstream",
            SourceKind::Postgres => "postgres",
        }
    }
}

/// A loaded history and where it came from.
#[derive(Debug)]
pub struct History {
    pub inputs: Vec<Input>,
    /// Messages in the range that could not be used (undecodable, or not a
    /// book or feed state).
    pub skipped: u64,
    /// Stream sequences (JetStream) of the first and last message read.
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Recording times (JetStream) of the first and last message read.
    pub first_recorded: Option<Timestamp>,
    pub last_recorded: Option<Timestamp>,
}

impl History {
    /// The earliest and latest event time of the books (of every input
    /// when there is no book). Books, not feed states: feeds stamp their
    /// states on the wall clock, and the simulator's books carry simulated
    /// time, so the books' times are the market's.
    pub fn event_range(&self) -> Option<(Timestamp, Timestamp)> {
        let books = self.inputs.iter().filter(|i| matches!(i, Input::Book(_)));
        let range = |mut times: Box<dyn Iterator<Item = Timestamp> + '_>| {
            let first = times.next()?;
            Some(times.fold((first, first), |(lo, hi), t| (lo.min(t), hi.max(t))))
        };
        range(Box::new(books.map(Input::event_time)))
            .or_else(|| range(Box::new(self.inputs.iter().map(Input::event_time))))
    }

    pub fn books(&self) -> usize {
        self.inputs
            .iter()
            .filter(|i| matches!(i, Input::Book(_)))
            .count()
    }
}

/// Reads the MD stream of the bus's prefix from `from` to `to` (as
/// `arb-replay publish` reads a range: a sequence `to` is included, a time
/// `to` is not; times are stored times), or to its last message when the
/// read starts.
pub async fn jetstream(
    bus: &Bus,
    from: Option<Bound>,
    to: Option<Bound>,
) -> anyhow::Result<History> {
    let name = bus.subjects.stream_name(StreamKind::Md);
    let mut stream = bus
        .js
        .get_stream(&name)
        .await
        .with_context(|| format!("no stream {name} to read books from"))?;
    let state = stream.info().await.context("MD stream info")?.state.clone();
    let mut history = History {
        inputs: Vec::new(),
        skipped: 0,
        first_seq: None,
        last_seq: None,
        first_recorded: None,
        last_recorded: None,
    };
    let end = match to {
        Some(Bound::Seq(s)) => s.min(state.last_sequence),
        _ => state.last_sequence,
    };
    let deliver = match from {
        None => DeliverPolicy::All,
        Some(Bound::Seq(s)) => DeliverPolicy::ByStartSequence {
            start_sequence: s.max(1),
        },
        Some(Bound::Time(t)) => from_time(t)?,
    };
    let after_end = match from {
        Some(Bound::Seq(s)) => s > end,
        Some(Bound::Time(t)) => t > from_offset(state.last_timestamp),
        None => false,
    };
    if state.messages == 0 || end < state.first_sequence || after_end {
        return Ok(history);
    }
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: deliver,
            ..Default::default()
        })
        .await
        .with_context(|| format!("ordered consumer on {name}"))?;
    let mut msgs = consumer
        .messages()
        .await
        .with_context(|| format!("reading {name}"))?;
    let until = match to {
        Some(Bound::Time(t)) => Some(t),
        _ => None,
    };
    loop {
        // The range ends at or before the stream's last message (fixed
        // when the read started), so a silence here is a fault, not the end.
        let next = tokio::time::timeout(READ_STALL, msgs.next()).await;
        let m = match next {
            Ok(Some(m)) => m.with_context(|| format!("reading {name}"))?,
            Ok(None) => break,
            Err(_) => {
                anyhow::bail!("{name}: nothing delivered for {READ_STALL:?} before sequence {end}")
            }
        };
        let info = m
            .info()
            .map_err(|e| anyhow::anyhow!("{name}: message without stream info: {e}"))?;
        let seq = info.stream_sequence;
        let recorded = from_offset(info.published);
        if seq > end || until.is_some_and(|u| recorded >= u) {
            break;
        }
        history.first_seq.get_or_insert(seq);
        history.first_recorded.get_or_insert(recorded);
        history.last_seq = Some(seq);
        history.last_recorded = Some(recorded);
        match headers::decode_any(&bus.subjects, &m.subject, m.headers.as_ref(), &m.payload) {
            Ok(Decoded::Book(b)) => history.inputs.push(Input::Book(b)),
            Ok(Decoded::Status(s)) => history.inputs.push(Input::Status(s)),
            Ok(_) | Err(_) => history.skipped += 1,
        }
        if seq >= end || info.pending == 0 {
            break;
        }
    }
    Ok(history)
}

/// Delivery from the first message stored at or after `t`.
pub(crate) fn from_time(t: Timestamp) -> anyhow::Result<DeliverPolicy> {
    let nanos = i128::from(arb_contract::time::to_nanos(&t));
    Ok(DeliverPolicy::ByStartTime {
        start_time: time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .context("start time out of range")?,
    })
}

/// A JetStream time as the contract's.
pub(crate) fn from_offset(t: time::OffsetDateTime) -> Timestamp {
    let nanos = t.unix_timestamp_nanos();
    arb_contract::time::from_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
}

/// One `market_snapshots` row.
#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    ts: Timestamp,
    received_ts: Timestamp,
    venue: String,
    symbol: String,
    sequence: Option<i64>,
    checksum: String,
    bid_prices: Vec<Decimal>,
    bid_sizes: Vec<Decimal>,
    ask_prices: Vec<Decimal>,
    ask_sizes: Vec<Decimal>,
}

/// Books from `market_snapshots` with event time in `[from, to)`, in event
/// time order (ties by id, so the order is the same every time).
pub async fn postgres(
    pool: &PgPool,
    from: Option<Bound>,
    to: Option<Bound>,
) -> anyhow::Result<History> {
    let time = |b: Option<Bound>, what: &str| match b {
        None => Ok(None),
        Some(Bound::Time(t)) => Ok(Some(t)),
        Some(Bound::Seq(_)) => Err(anyhow::anyhow!(
            "--{what}: the postgres source takes RFC 3339 times, not stream sequences"
        )),
    };
    let (from, to) = (time(from, "from")?, time(to, "to")?);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, ts, received_ts, venue, symbol, sequence, checksum, \
                bid_prices, bid_sizes, ask_prices, ask_sizes \
         FROM market_snapshots \
         WHERE ($1::timestamptz IS NULL OR ts >= $1) AND ($2::timestamptz IS NULL OR ts < $2) \
         ORDER BY ts, id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .context("reading market_snapshots")?;
    let mut history = History {
        inputs: Vec::with_capacity(rows.len()),
        skipped: 0,
        first_seq: None,
        last_seq: None,
        first_recorded: None,
        last_recorded: None,
    };
    for r in rows {
        match book(r) {
            Some(b) => history.inputs.push(Input::Book(b)),
            None => history.skipped += 1,
        }
    }
    Ok(history)
}

/// The book a row stores. The table keeps the event time, not whether the
/// venue sent it: a time other than the receive time was the venue's.
fn book(r: Row) -> Option<BookSnapshot> {
    let levels = |p: Vec<Decimal>, q: Vec<Decimal>| -> Option<Vec<Level>> {
        (p.len() == q.len()).then(|| {
            p.into_iter()
                .zip(q)
                .map(|(p, q)| Level::new(p, q))
                .collect()
        })
    };
    Some(BookSnapshot {
        id: r.id,
        venue: r.venue,
        symbol: Symbol::from_str(&r.symbol).ok()?,
        exchange_ts: (r.ts != r.received_ts).then_some(r.ts),
        received_ts: r.received_ts,
        sequence: r.sequence.and_then(|s| u64::try_from(s).ok()),
        checksum: ChecksumStatus::from_name(r.checksum.as_bytes())?,
        bids: levels(r.bid_prices, r.bid_sizes)?,
        asks: levels(r.ask_prices, r.ask_sizes)?,
    })
}
