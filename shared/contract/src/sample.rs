//! Deterministic sample messages of every type, for tests and benchmarks.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::codec::Decoded;
use crate::model::*;
use crate::symbol::Symbol;
use crate::time::{Timestamp, from_nanos};

fn d(mantissa: i64, scale: u32) -> Decimal {
    Decimal::new(mantissa, scale)
}

use crate::ids::id_at;

fn sym(s: &str) -> Symbol {
    s.parse().expect("sample symbols are valid")
}

/// A book of `depth` levels a side around `mid` (in cents), varying with `n`.
pub fn book(n: u64, venue: &str, symbol: &str, depth: usize, ts: Timestamp) -> BookSnapshot {
    let mid = 6_500_000 + (n % 1000) as i64;
    let bids = (0..depth as i64)
        .map(|i| {
            Level::new(
                d(mid - 5 - i * 10, 2),
                d(10_000 + i * 137 + n as i64 % 97, 4),
            )
        })
        .collect();
    let asks = (0..depth as i64)
        .map(|i| {
            Level::new(
                d(mid + 5 + i * 10, 2),
                d(12_000 + i * 71 + n as i64 % 89, 4),
            )
        })
        .collect();
    BookSnapshot {
        id: id_at(ts, n),
        venue: venue.to_owned(),
        symbol: sym(symbol),
        exchange_ts: Some(ts),
        received_ts: ts + chrono::Duration::microseconds(350),
        sequence: Some(1_000 + n),
        checksum: ChecksumStatus::Verified,
        bids,
        asks,
    }
}

pub fn feed_status(n: u64, ts: Timestamp) -> FeedStatus {
    FeedStatus {
        id: id_at(ts, n),
        ts,
        venue: "kraken".into(),
        symbol: Some(sym("BTC/USD")),
        state: FeedState::Resync,
        reason: Some(ResyncReason::Checksum),
        detail: Some(format!("checksum mismatch #{n}")),
    }
}

pub fn opportunity(n: u64, ts: Timestamp) -> Opportunity {
    let leg = |venue: &str, side, vwap, limit| OpportunityLeg {
        venue: venue.into(),
        symbol: sym("BTC/USD"),
        side,
        qty: d(5_000 + n as i64, 4),
        vwap: d(vwap, 2),
        limit_price: Some(d(limit, 2)),
        fee_rate: d(10, 4),
    };
    Opportunity {
        id: id_at(ts, n),
        episode_id: id_at(ts, n / 3 + 1_000_000),
        kind: OpportunityKind::Cross,
        key: "BTC-USD_sim-a_sim-b".into(),
        state: EpisodeState::Open,
        book_ts: ts,
        received_ts: Some(ts + chrono::Duration::microseconds(40)),
        published_ts: Some(ts + chrono::Duration::microseconds(55)),
        legs: vec![
            leg("sim-a", Side::Buy, 6_500_012, 6_500_020),
            leg("sim-b", Side::Sell, 6_520_050, 6_520_000),
        ],
        currency: "USD".into(),
        notional: d(32_500_060, 4),
        gross_edge_bps: d(3083, 2),
        net_edge_bps: d(1083, 2),
        expected_profit: d(352_035, 4),
        peak_edge_bps: Some(d(1083, 2)),
        opened_ts: Some(ts),
        duration_ms: None,
    }
}

pub fn order(n: u64, ts: Timestamp) -> OrderEvent {
    OrderEvent {
        id: id_at(ts, n),
        ts,
        order_id: id_at(ts, n + 7_000_000),
        venue_order_id: Some(format!("SIM-{n}")),
        trade_id: Some(id_at(ts, n + 8_000_000)),
        opportunity_id: Some(id_at(ts, n + 9_000_000)),
        episode_id: Some(id_at(ts, n + 10_000_000)),
        strategy: "cross".into(),
        venue: "sim-a".into(),
        symbol: sym("ETH/USD"),
        side: if n.is_multiple_of(2) {
            Side::Buy
        } else {
            Side::Sell
        },
        order_type: OrderType::Limit,
        status: OrderStatus::Filled,
        price: Some(d(345_067, 2)),
        qty: d(12_345, 4),
        filled_qty: d(12_345, 4),
        filled_notional: d(4_259_845_942_500, 9),
        avg_fill_price: Some(d(3_450_665, 3)),
        fee: d(42_600, 6),
        fee_currency: Some("USD".into()),
        reason: None,
    }
}

pub fn trade(n: u64, ts: Timestamp) -> TradeEvent {
    TradeEvent {
        id: id_at(ts, n),
        ts,
        opportunity_id: Some(id_at(ts, n + 9_000_000)),
        episode_id: Some(id_at(ts, n + 10_000_000)),
        strategy: "cross".into(),
        status: TradeStatus::Completed,
        legs: vec![TradeLeg {
            order_id: id_at(ts, n + 7_000_000),
            venue: "sim-a".into(),
            symbol: sym("ETH/USD"),
            side: Side::Buy,
            qty: d(12_345, 4),
            price: d(345_067, 2),
            notional: d(4_259_852_115, 6),
            fee: d(42_600, 6),
            fee_currency: Some("USD".into()),
            unwind: false,
        }],
        currency: "USD".into(),
        notional: d(42_598_521, 4),
        fees: d(85_200, 6),
        realized_pnl: d(1_234 + n as i64, 4),
        expected_profit: Some(d(1_500, 4)),
        decision_latency_us: Some(1_250 + n as i64),
    }
}

pub fn pnl(n: u64, ts: Timestamp) -> PnlEvent {
    PnlEvent {
        id: id_at(ts, n),
        ts,
        strategy: "cross".into(),
        trade_id: Some(id_at(ts, n + 8_000_000)),
        currency: "USD".into(),
        realized: d(1_234 + n as i64, 4),
        unrealized: d(-55, 2),
        fees: d(85_200, 6),
        cumulative_realized: d(987_654 + n as i64, 4),
    }
}

pub fn transfer(n: u64, ts: Timestamp) -> TransferEvent {
    TransferEvent {
        id: id_at(ts, n),
        ts,
        transfer_id: id_at(ts, n + 11_000_000),
        asset: "BTC".into(),
        from_venue: "sim-a".into(),
        to_venue: "sim-b".into(),
        amount: d(25 + n as i64, 2),
        fee: d(5, 4),
        status: TransferStatus::Sent,
        sent_ts: ts,
        arrives_ts: ts + chrono::Duration::minutes(10),
        cost: Some(d(3_250, 2)),
        currency: Some("USD".into()),
    }
}

pub fn portfolio(n: u64, ts: Timestamp) -> PortfolioSnapshot {
    PortfolioSnapshot {
        id: id_at(ts, n),
        ts,
        venue: "sim-b".into(),
        balances: vec![
            Balance {
                asset: "USD".into(),
                free: d(10_000_000 + n as i64, 2),
                locked: d(0, 0),
            },
            Balance {
                asset: "BTC".into(),
                free: d(150_000_000, 8),
                locked: d(1_000_000, 8),
            },
        ],
        valuation_currency: Some("USD".into()),
        total_value: Some(d(19_850_000 + n as i64, 2)),
    }
}

pub fn audit(n: u64, ts: Timestamp) -> AuditEvent {
    AuditEvent {
        id: id_at(ts, n),
        ts,
        service: "feed".into(),
        kind: "garbage_frame".into(),
        severity: Severity::Warn,
        message: format!("unparseable frame #{n}"),
        subject: Some("md.book.kraken.BTC-USD".into()),
        detail: serde_json::json!({"venue": "kraken", "len": 7}),
        payload: Some(b"\x00garbage".to_vec()),
    }
}

pub fn runtime_state(n: u64, ts: Timestamp) -> RuntimeState {
    RuntimeState {
        id: id_at(ts, n),
        ts,
        service: "detector-cross".into(),
        instance: "host-1".into(),
        version: "0.1.0".into(),
        started_at: from_nanos(1_700_000_000_000_000_000),
        uptime_secs: 60 + n,
        counters: BTreeMap::from([
            ("rows.market_snapshots".into(), 10 * n),
            ("batches".into(), n),
        ]),
        lag: BTreeMap::from([("MD".into(), 3)]),
        detail: serde_json::Value::Null,
    }
}

pub fn dead_letter(n: u64, ts: Timestamp) -> DeadLetter {
    DeadLetter {
        id: id_at(ts, n),
        ts,
        service: "executor".into(),
        subject: "md.book.kraken.BTC-USD".into(),
        reason: "bad msgpack payload".into(),
        headers: BTreeMap::from([("Content-Type".into(), "application/msgpack".into())]),
        stream: Some("MD".into()),
        stream_seq: Some(n),
        payload: vec![0xc1, 0x00, n as u8],
    }
}

/// The `n`-th message of a mix that cycles through every type of the
/// contract (books most often, as in a live run).
pub fn mixed(n: u64, ts: Timestamp) -> Decoded {
    match n % 13 {
        0..=2 => Decoded::Book(book(
            n,
            ["kraken", "binance", "sim-a"][(n % 3) as usize],
            "BTC/USD",
            10,
            ts,
        )),
        3 => Decoded::Status(feed_status(n, ts)),
        4 => Decoded::Opportunity(opportunity(n, ts)),
        5 => Decoded::Order(order(n, ts)),
        6 => Decoded::Trade(trade(n, ts)),
        7 => Decoded::Pnl(pnl(n, ts)),
        8 => Decoded::Portfolio(portfolio(n, ts)),
        9 => Decoded::Audit(audit(n, ts)),
        10 => Decoded::State(runtime_state(n, ts)),
        11 => Decoded::Transfer(transfer(n, ts)),
        _ => Decoded::DeadLetter(dead_letter(n, ts)),
    }
}

/// A message as another writer might lay it out: the JSON value `v` of a
/// message as a MessagePack map (keys in the value's order), with `id` as 16
/// bytes of binary, as `uuid` writes it. For tests of readers that take
/// payloads from producers other than this codec.
pub fn msgpack_with_binary_id(v: &serde_json::Value, id: &uuid::Uuid) -> Vec<u8> {
    let map = v.as_object().expect("a JSON object");
    let mut out = Vec::new();
    rmp::encode::write_map_len(&mut out, map.len() as u32).expect("writes to a Vec");
    for (k, val) in map {
        rmp::encode::write_str(&mut out, k).expect("writes to a Vec");
        if k == "id" {
            rmp::encode::write_bin(&mut out, id.as_bytes()).expect("writes to a Vec");
        } else {
            out.extend(rmp_serde::to_vec_named(val).expect("a JSON value encodes"));
        }
    }
    out
}
