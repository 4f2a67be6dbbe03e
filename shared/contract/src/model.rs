//! The messages of the contract, one type per row of DESIGN.md's subject table.
//!
//! Every message carries a UUIDv7 `id` (also its `Nats-Msg-Id` and its primary
//! key in PostgreSQL) and an event time. Money and sizes are `Decimal`,
//! written as strings. Fields added later must be `#[serde(default)]` so old
//! messages still decode.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::codec::Message;
use crate::error::SubjectError;
use crate::subject::Subjects;
use crate::symbol::Symbol;
use crate::time::{Timestamp, nanos, nanos_opt};

/// Implements [`Message`] for a type with an `id` field: its schema name,
/// its event time and its subject, each from the message `m` (and the
/// subject space `s`).
macro_rules! message {
    ($ty:ty, $schema:literal, |$m:ident| $time:expr, |$m2:ident, $s:ident| $subject:expr) => {
        message!(
            $ty,
            $schema,
            |$m| $time,
            |$m2, $s| $subject,
            fast = |_p| None
        );
    };
    ($ty:ty, $schema:literal, |$m:ident| $time:expr, |$m2:ident, $s:ident| $subject:expr, fast = |$p:ident| $fast:expr) => {
        impl Message for $ty {
            const SCHEMA: &'static str = $schema;
            fn id(&self) -> Uuid {
                self.id
            }
            fn event_time(&self) -> Timestamp {
                let $m = self;
                $time
            }
            fn subject(&self, $s: &Subjects) -> Result<String, SubjectError> {
                let $m2 = self;
                $subject
            }
            fn read_msgpack_fast($p: &[u8]) -> Option<Self> {
                $fast
            }
        }
    };
}

/// One price level, written as `[price, qty]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "(Decimal, Decimal)", into = "(Decimal, Decimal)")]
pub struct Level {
    pub price: Decimal,
    pub qty: Decimal,
}

impl Level {
    pub fn new(price: Decimal, qty: Decimal) -> Self {
        Level { price, qty }
    }
}

impl From<(Decimal, Decimal)> for Level {
    fn from((price, qty): (Decimal, Decimal)) -> Self {
        Level { price, qty }
    }
}

impl From<Level> for (Decimal, Decimal) {
    fn from(l: Level) -> Self {
        (l.price, l.qty)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// Whether the venue's checksum was checked for the book state published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChecksumStatus {
    /// The venue sent a checksum and the local book matched it.
    Verified,
    /// The venue sends no checksum; the book was kept by sequence numbers alone.
    #[default]
    NotProvided,
}

impl ChecksumStatus {
    pub const ALL: [ChecksumStatus; 2] = [ChecksumStatus::Verified, ChecksumStatus::NotProvided];

    /// Its name on the wire (serde's) and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ChecksumStatus::Verified => "verified",
            ChecksumStatus::NotProvided => "not_provided",
        }
    }

    /// The status named `name` (as [`ChecksumStatus::as_str`] spells it).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().as_bytes() == name)
    }
}

/// `md.book.<venue>.<BASE-QUOTE>`: the top levels of a local order book after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BookSnapshot {
    #[serde(with = "crate::ids::uuid")]
    pub id: Uuid,
    pub venue: String,
    pub symbol: Symbol,
    /// The venue's time of the last change, when the venue sends one.
    #[serde(with = "nanos_opt", default)]
    pub exchange_ts: Option<Timestamp>,
    /// When the feed received the frame that produced this state.
    #[serde(with = "nanos")]
    pub received_ts: Timestamp,
    /// The venue's sequence or update id for this state, where it has one.
    #[serde(default)]
    pub sequence: Option<u64>,
    #[serde(default)]
    pub checksum: ChecksumStatus,
    /// Best first: bids descending, asks ascending.
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
}

impl BookSnapshot {
    pub fn best_bid(&self) -> Option<&Level> {
        self.bids.first()
    }

    pub fn best_ask(&self) -> Option<&Level> {
        self.asks.first()
    }

    /// A book whose best bid is at or above its best ask is not tradeable.
    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some(b), Some(a)) if b.price >= a.price)
    }
}

message!(
    BookSnapshot,
    "book_snapshot",
    |m| m.exchange_ts.unwrap_or(m.received_ts),
    |m, s| s.book(&m.venue, &m.symbol),
    fast = |payload| crate::fast::decode_book(payload)
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedState {
    Connected,
    Subscribed,
    Resync,
    Disconnected,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResyncReason {
    /// A sequence number was skipped.
    Gap,
    /// The local book disagreed with the venue's checksum.
    Checksum,
    /// Nothing arrived for longer than the stale timeout.
    Stale,
    /// The venue said so (a reset, a restart, an error message).
    Venue,
    #[serde(other)]
    Other,
}

/// `md.status.<venue>`: a change in a feed's connection or book state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedStatus {
    #[serde(with = "crate::ids::uuid")]
    pub id: Uuid,
    #[serde(with = "nanos")]
    pub ts: Timestamp,
    pub venue: String,
    #[serde(default)]
    pub symbol: Option<Symbol>,
    pub state: FeedState,
    #[serde(default)]
    pub reason: Option<ResyncReason>,
    #[serde(default)]
    pub detail: Option<String>,
}

message!(FeedStatus, "feed_status", |m| m.ts, |m, s| s
    .status(&m.venue));

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpportunityKind {
    Cross,
    Triangular,
}

impl OpportunityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpportunityKind::Cross => "cross",
            OpportunityKind::Triangular => "triangular",
        }
    }
}

/// Where an opportunity is in its life: one `open`, `update`s only when it
/// moves past a tolerance, one `close`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpisodeState {
    Open,
    Update,
    Close,
}

impl EpisodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            EpisodeState::Open => "open",
            EpisodeState::Update => "update",
            EpisodeState::Close => "close",
        }
    }
}

/// One leg of an opportunity: take liquidity on `venue` for `symbol`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpportunityLeg {
    pub venue: String,
    pub symbol: Symbol,
    pub side: Side,
    /// Quantity in the symbol's base currency.
    pub qty: Decimal,
    /// Volume-weighted average price over the levels the leg walks.
    pub vwap: Decimal,
    /// The worst level price the leg reaches (the limit for an IOC order).
    #[serde(default)]
    pub limit_price: Option<Decimal>,
    /// Taker fee rate applied, as a fraction (0.001 = 10 bp).
    #[serde(default)]
    pub fee_rate: Decimal,
}

/// `arb.opp.<kind>.<key>`: an arbitrage opportunity, net of fees and sized by depth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Opportunity {
    #[serde(with = "crate::ids::uuid")]
    pub id: Uuid,
    /// Stays the same from `open` to `close`.
    #[serde(with = "crate::ids::uuid")]
    pub episode_id: Uuid,
    pub kind: OpportunityKind,
    /// Names the opportunity within its kind, e.g. `BTC-USD_sim-a_sim-b`.
    pub key: String,
    pub state: EpisodeState,
    /// Exchange (event) time of the book update that produced this message.
    #[serde(with = "nanos")]
    pub book_ts: Timestamp,
    /// When the detector received that book.
    #[serde(with = "nanos_opt", default)]
    pub received_ts: Option<Timestamp>,
    /// When the detector published this message.
    #[serde(with = "nanos_opt", default)]
    pub published_ts: Option<Timestamp>,
    pub legs: Vec<OpportunityLeg>,
    /// The currency profit is counted in (the quote, or a triangle's start currency).
    pub currency: String,
    /// Amount of `currency` put in at the start of the cycle.
    pub notional: Decimal,
    pub gross_edge_bps: Decimal,
    pub net_edge_bps: Decimal,
    pub expected_profit: Decimal,
    /// Highest net edge seen in the episode so far.
    #[serde(default)]
    pub peak_edge_bps: Option<Decimal>,
    #[serde(with = "nanos_opt", default)]
    pub opened_ts: Option<Timestamp>,
    /// Set on `close`: how long the episode lasted, in event time.
    #[serde(default)]
    pub duration_ms: Option<i64>,
}

message!(Opportunity, "opportunity", |m| m.book_ts, |m, s| s
    .opportunity(m.kind, &m.key));

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    Market,
    Limit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    New,
    PartiallyFilled,
    Filled,
    Rejected,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::New => "new",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::Filled => "filled",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

/// `exec.order.<venue>.<BASE-QUOTE>`: a change in one order's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderEvent {
    #[serde(with = "crate::ids::uuid")]
    pub id: Uuid,
    #[serde(with = "nanos")]
    pub ts: Timestamp,
    #[serde(with = "crate::ids::uuid")]
    pub order_id: Uuid,
    #[serde(default)]
    pub venue_order_id: Option<String>,
    #[serde(with = "crate::ids::uuid_opt", default)]
    pub trade_id: Option<Uuid>,
    #[serde(with = "crate::ids::uuid_opt", default)]
    pub opportunity_id: Option<Uuid>,
    /// The episode the order's trade acts on.
    #[serde(with = "crate::ids::uuid_opt", default)]
    pub episode_id: Option<Uuid>,
    pub strategy: String,
    pub venue: String,
    pub symbol: Symbol,
    pub side: Side,
    pub order_type: OrderType,
    pub status: OrderStatus,
    #[serde(default)]
    pub price: Option<Decimal>,
    pub qty: Decimal,
    #[serde(default)]
    pub filled_qty: Decimal,
    /// Quote amount of what filled, exact (the sum of `qty × price` over the
    /// levels taken); `avg_fill_price` is this over `filled_qty`, rounded.
    #[serde(default)]
    pub filled_notional: Decimal,
    #[serde(default)]
    pub avg_fill_price: Option<Decimal>,
    #[serde(default)]
    pub fee: Decimal,
    #[serde(default)]
    pub fee_currency: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

message!(OrderEvent, "order_event", |m| m.ts, |m, s| s
    .order(&m.venue, &m.symbol));

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeStatus {
    /// Every leg filled in full.
    Completed,
    /// Some legs filled, some not: the position is left open.
    Partial,
    /// No leg filled.
    Failed,
    /// The legs filled unevenly and the leftover was flattened (the unwind
    /// legs): no position is left, and the P&L is what the unwind cost.
    Unwound,
}

impl TradeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TradeStatus::Completed => "completed",
            TradeStatus::Partial => "partial",
            TradeStatus::Failed => "failed",
            TradeStatus::Unwound => "unwound",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradeLeg {
    #[serde(with = "crate::ids::uuid")]
    pub order_id: Uuid,
    pub venue: String,
    pub symbol: Symbol,
    pub side: Side,
    /// Base quantity filled.
    pub qty: Decimal,
    /// The average fill price (`notional / qty`, rounded in its last digit
    /// when the quotient does not end).
    pub price: Decimal,
    /// Quote amount exchanged: the exact sum of `qty × price` over the
    /// levels taken. Balances are booked with this, never with `price`.
    #[serde(default)]
    pub notional: Decimal,
    #[serde(default)]
    pub fee: Decimal,
    #[serde(default)]
    pub fee_currency: Option<String>,
    /// An order that flattened leftover exposure, not one of the
    /// opportunity's legs.
    #[serde(default)]
    pub unwind: bool,
}

/// `exec.trade.<strategy>`: one arbitrage execution across its legs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TradeEvent {
    #[serde(with = "crate::ids::uuid")]
    pub id: Uuid,
    #[serde(with = "nanos")]
    pub ts: Timestamp,
    #[serde(with = "crate::ids::uuid_opt", default)]
    pub opportunity_id: Option<Uuid>,
    /// The episode acted on: at most one trade per episode.
    #[serde(with = "crate::ids::uuid_opt", default)]
    pub episode_id: Option<Uuid>,
    pub strategy: String,
    pub status: TradeStatus,
    pub legs: Vec<TradeLeg>,
    pub currency: String,
    pub notional: Decimal,
    #[serde(default)]
    pub fees: Decimal,
    pub realized_pnl: Decimal,
    #[serde(default)]
    pub expected_profit: Option<Decimal>,
    /// Event time from the opportunity's book to the executor's decision,
    /// in microseconds: how old the detector's view was when acted on.
    #[serde(default)]
    pub decision_latency_us: Option<i64>,
}

message!(TradeEvent, "trade_event", |m| m.ts, |m, s| s
    .trade(&m.strategy));

/// `exec.pnl.<strategy>`: a change in a strategy's profit and loss.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PnlEvent {
    #[serde(with = "crate::ids::uuid")]
    pub id: Uuid,
    #[serde(with = "nanos")]
    pub ts: Timestamp,
    pub strategy: String,
    #[serde(with = "crate::ids::uuid_opt", default)]
    pub trade_id: Option<Uuid>,
    pub currency: String,
    pub realized: Decimal,
    #[serde(default)]
    pub unrealized: Decimal,
    #[serde(default)]
    pub fees: Decimal,
    /// Realized P&L of the strategy since it started, after this event.
    pub cumulative_realized: Decimal,
}

message!(PnlEvent, "pnl_event", |m| m.ts, |m, s| s.pnl(&m.strategy));

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Balance {
    pub asset: String,
    pub free: Decimal,
    #[serde(default)]
    pub locked: Decimal,
}

/// `exec.portfolio.<venue>`: balances per asset on one venue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortfolioSnapshot {
    #[serde(with = "crate::ids::uuid")]
    pub id: Uuid,
    #[serde(with = "nanos")]
    pub ts: Timestamp,
    pub venue: String,
    pub balances: Vec<Balance>,
    #[serde(default)]
    pub valuation_currency: Option<String>,
    #[serde(default)]
    pub total_value: Option<Decimal>,
}

message!(PortfolioSnapshot, "portfolio_snapshot", |m| m.ts, |m, s| s
    .portfolio(&m.venue));

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferStatus {
    /// The amount and the fee left the sender.
    Sent,
    /// The amount reached the receiver.
    Arrived,
}

impl TransferStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferStatus::Sent => "sent",
            TransferStatus::Arrived => "arrived",
        }
    }
}

/// `exec.transfer.<ASSET>`: a (simulated) move of one asset between venues
/// that rebalances inventory, one event when sent and one on arrival.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferEvent {
    #[serde(with = "crate::ids::uuid")]
    pub id: Uuid,
    #[serde(with = "nanos")]
    pub ts: Timestamp,
    /// The same for both events of one transfer.
    #[serde(with = "crate::ids::uuid")]
    pub transfer_id: Uuid,
    pub asset: String,
    pub from_venue: String,
    pub to_venue: String,
    /// What reaches the receiver.
    pub amount: Decimal,
    /// The withdrawal fee, in `asset`, paid by the sender on top.
    pub fee: Decimal,
    pub status: TransferStatus,
    #[serde(with = "nanos")]
    pub sent_ts: Timestamp,
    #[serde(with = "nanos")]
    pub arrives_ts: Timestamp,
    /// The fee valued in `currency` at the time it was sent: the cost
    /// counted in P&L.
    #[serde(default)]
    pub cost: Option<Decimal>,
    #[serde(default)]
    pub currency: Option<String>,
}

message!(TransferEvent, "transfer_event", |m| m.ts, |m, s| s
    .transfer(&m.asset));

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Debug => "debug",
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Error => "error",
        }
    }
}

/// `sys.audit.<service>`: something an operator may need to look at later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    #[serde(with = "crate::ids::uuid")]
    pub id: Uuid,
    #[serde(with = "nanos")]
    pub ts: Timestamp,
    pub service: String,
    /// A short machine-readable name, e.g. `garbage_frame`, `kill_switch`.
    pub kind: String,
    #[serde(default)]
    pub severity: Severity,
    pub message: String,
    /// The subject the event is about, if any.
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub detail: serde_json::Value,
    /// Raw bytes the event is about (a garbage frame), if any.
    #[serde(default, with = "serde_bytes")]
    pub payload: Option<Vec<u8>>,
}

message!(AuditEvent, "audit_event", |m| m.ts, |m, s| s
    .audit(&m.service));

/// `sys.dlq.<service>`: a message a consumer could not decode or store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    #[serde(with = "crate::ids::uuid")]
    pub id: Uuid,
    #[serde(with = "nanos")]
    pub ts: Timestamp,
    /// The service that gave up on the message.
    pub service: String,
    /// The subject the message arrived on.
    pub subject: String,
    pub reason: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JetStream stream and sequence of the original, when it came from a stream.
    #[serde(default)]
    pub stream: Option<String>,
    #[serde(default)]
    pub stream_seq: Option<u64>,
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
}

/// Where a message sits in a JetStream stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPlace {
    pub stream: String,
    pub seq: u64,
    /// When the stream stored it.
    pub stored: Timestamp,
}

impl DeadLetter {
    /// The dead letter of a message `service` gives up on, by the one id
    /// rule every consumer follows: a message from a stream is named by
    /// (service, stream, sequence) at the time the stream stored it, so a
    /// redelivery (or a copy fetched by sequence) maps to the same record; a
    /// message from core NATS by (service, subject, payload) at `received`.
    /// The time of the letter is the same one, so the same message gives the
    /// same bytes.
    pub fn new(
        service: &str,
        subject: &str,
        headers: BTreeMap<String, String>,
        payload: &[u8],
        reason: impl Into<String>,
        place: Option<StreamPlace>,
        received: Timestamp,
    ) -> DeadLetter {
        let (id, ts) = match &place {
            Some(p) => (
                crate::ids::derive(
                    p.stored,
                    &[
                        service.as_bytes(),
                        p.stream.as_bytes(),
                        &p.seq.to_be_bytes(),
                    ],
                ),
                p.stored,
            ),
            None => (
                crate::ids::derive(received, &[service.as_bytes(), subject.as_bytes(), payload]),
                received,
            ),
        };
        let (stream, stream_seq) = place.map_or((None, None), |p| (Some(p.stream), Some(p.seq)));
        DeadLetter {
            id,
            ts,
            service: service.to_owned(),
            subject: subject.to_owned(),
            reason: reason.into(),
            headers,
            stream,
            stream_seq,
            payload: payload.to_vec(),
        }
    }
}

message!(DeadLetter, "dead_letter", |m| m.ts, |m, s| s
    .dlq(&m.service));

/// `sys.state.<service>`: a heartbeat with the service's counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeState {
    #[serde(with = "crate::ids::uuid")]
    pub id: Uuid,
    #[serde(with = "nanos")]
    pub ts: Timestamp,
    pub service: String,
    /// Distinguishes replicas of one service (host and pid by default).
    pub instance: String,
    pub version: String,
    #[serde(with = "nanos")]
    pub started_at: Timestamp,
    pub uptime_secs: u64,
    #[serde(default)]
    pub counters: BTreeMap<String, u64>,
    /// Messages not yet processed, per input (e.g. consumer pending counts).
    #[serde(default)]
    pub lag: BTreeMap<String, u64>,
    #[serde(default)]
    pub detail: serde_json::Value,
}

message!(RuntimeState, "runtime_state", |m| m.ts, |m, s| s
    .state(&m.service));
