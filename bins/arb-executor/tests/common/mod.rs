//! What the executor's end-to-end tests and its benchmark share: one-level
//! BTC/USD books and cross opportunities built by hand, and the orderly end
//! of a pipeline run.
#![allow(dead_code, unreachable_pub)]

use std::str::FromStr;

use arb_contract::subject::StreamKind;
use arb_contract::time::{Timestamp, from_nanos};
use arb_contract::{
    BookSnapshot, ChecksumStatus, EpisodeState, Level, Opportunity, OpportunityKind,
    OpportunityLeg, Side, Symbol,
};
use arb_testkit::{CATCH_UP, Proc, TestBus};
use rust_decimal::Decimal;

pub fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// `ms` milliseconds into the tests' event time.
pub fn at(ms: i64) -> Timestamp {
    from_nanos(1_800_000_000_000_000_000 + ms * 1_000_000)
}

fn btc() -> Symbol {
    Symbol::new("BTC", "USD").unwrap()
}

/// A BTC/USD book of one level a side, `depth` BTC each.
pub fn book(venue: &str, ms: i64, bid: &str, ask: &str, depth: &str) -> BookSnapshot {
    let ts = at(ms);
    BookSnapshot {
        id: arb_contract::ids::derive(ts, &[venue.as_bytes(), b"test"]),
        venue: venue.into(),
        symbol: btc(),
        exchange_ts: None,
        received_ts: ts,
        sequence: None,
        checksum: ChecksumStatus::NotProvided,
        bids: vec![Level::new(d(bid), d(depth))],
        asks: vec![Level::new(d(ask), d(depth))],
    }
}

/// Episode `n`: buy `qty` BTC on `buy_venue` at 100, sell it on sim-b at 101.
pub fn opportunity(n: u128, ms: i64, buy_venue: &str, qty: &str) -> Opportunity {
    let leg = |venue: &str, side, price: &str| OpportunityLeg {
        venue: venue.into(),
        symbol: btc(),
        side,
        qty: d(qty),
        vwap: d(price),
        limit_price: Some(d(price)),
        fee_rate: d("0.001"),
    };
    Opportunity {
        id: uuid::Uuid::from_u128(0xabc0_0000 + n),
        episode_id: uuid::Uuid::from_u128(0xe000_0000 + n),
        kind: OpportunityKind::Cross,
        key: "BTC-USD".into(),
        state: EpisodeState::Open,
        book_ts: at(ms),
        received_ts: None,
        published_ts: None,
        legs: vec![
            leg(buy_venue, Side::Buy, "100"),
            leg("sim-b", Side::Sell, "101"),
        ],
        currency: "USD".into(),
        notional: d(qty) * d("100"),
        gross_edge_bps: d("100"),
        net_edge_bps: d("80"),
        expected_profit: d(qty) * d("0.799"),
        peak_edge_bps: None,
        opened_ts: None,
        duration_ms: None,
    }
}

/// The end of a pipeline run: the feed done, the executor through every
/// opportunity, the executor and detector stopped, the sink through every
/// stream and stopped.
pub async fn finish(
    tb: &TestBus,
    feed: &mut Proc,
    exe: &mut Proc,
    det: &mut Proc,
    sink: &mut Proc,
) {
    let status = tokio::time::timeout(CATCH_UP, feed.child.wait())
        .await
        .expect("feed done")
        .unwrap();
    assert!(status.success());
    tb.wait_caught_up_on(
        StreamKind::Arb,
        "executor-paper",
        "the executor read every opportunity",
    )
    .await;
    exe.stop().await;
    det.stop().await;
    tb.wait_caught_up("sink", "the sink stored everything")
        .await;
    sink.stop().await;
}
