#![allow(unused_crate_dependencies)] // integration tests see every dependency of the crate
//! A backtest over seeded sim books: the same history and parameters give
//! the same events and hash; one parameter changed changes them; the
//! summary's figures are those of the events the run produced.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use arb_backtest::{Input, Params, Run};
use arb_contract::codec::Decoded;
use arb_contract::time::Timestamp;
use arb_contract::{EpisodeState, FeedState, FeedStatus, Symbol};
use arb_detect::{DetectorConfig, Fees, StrategyKind};
use arb_exec::engine::{EngineConfig, LegMode, Live};
use arb_exec::latency::Latency;
use arb_exec::ledger::StartingBalances;
use arb_exec::rules::VenueRules;
use arb_venues::sim::SimGenerator;
use rust_decimal::Decimal;

const VENUES: [&str; 3] = ["sim-a", "sim-b", "sim-c"];
const SYMBOLS: [&str; 3] = ["BTC/USD", "ETH/USD", "ETH/BTC"];

fn start() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

/// Seeded sim books with a resync of one venue every 500 books.
fn history(seed: u64, books: usize) -> Vec<Input> {
    let venues: Vec<String> = VENUES.iter().map(|v| (*v).to_owned()).collect();
    let symbols: Vec<Symbol> = SYMBOLS.iter().map(|s| s.parse().unwrap()).collect();
    let mut sim = SimGenerator::new(
        seed,
        &venues,
        &symbols,
        10,
        start(),
        Duration::from_millis(20),
    );
    let mut out = Vec::with_capacity(books + books / 500);
    for i in 0..books {
        if i > 0 && i % 500 == 0 {
            let venue = VENUES[(i / 500) % VENUES.len()];
            out.push(Input::Status(FeedStatus {
                id: arb_contract::ids::derive(sim.now(), &[b"resync", venue.as_bytes()]),
                ts: sim.now(),
                venue: venue.into(),
                symbol: None,
                state: FeedState::Resync,
                reason: None,
                detail: None,
            }));
        }
        out.push(Input::Book(sim.next_book()));
    }
    out
}

fn params(strategy: StrategyKind, min_edge_bps: i64) -> Params {
    let balances = VENUES
        .iter()
        .map(|v| StartingBalances::from_str(&format!("{v}:USD=100000,BTC=2,ETH=30")).unwrap())
        .collect();
    Params {
        strategy,
        detector: DetectorConfig {
            min_net_edge_bps: Decimal::new(min_edge_bps, 0),
            fees: Fees::flat(Decimal::new(5, 4)),
            ..DetectorConfig::default()
        },
        engine: EngineConfig {
            seed: 1,
            legs: LegMode::Concurrent,
            slippage_bps: Decimal::new(5, 0),
            valuation: "USD".into(),
            rules: VenueRules::parse("").unwrap(),
            balances,
            floors: BTreeMap::new(),
            transfers: BTreeMap::new(),
            history: Duration::from_secs(60),
        },
        live: Live {
            default_latency: Latency::new(Duration::from_millis(20), Duration::from_millis(10)),
            ..Live::default()
        },
        keep_events: true,
    }
}

#[test]
fn the_same_history_gives_the_same_events_and_hash_and_a_parameter_changes_them() {
    let h = history(7, 6_000);
    let a = Run::over(params(StrategyKind::Cross, 2), &h).unwrap();
    let b = Run::over(params(StrategyKind::Cross, 2), &h).unwrap();
    let trades: u64 = a.result.summary.trades.values().sum();
    assert!(
        trades >= 3,
        "the sim's dislocations should make trades: {:?}",
        a.result.summary
    );
    assert_eq!(a.result, b.result, "the same input, the same result");
    assert_eq!(a.events, b.events, "the same input, the same events");
    assert_eq!(a.result.summary.hash.len(), 64);

    let c = Run::over(params(StrategyKind::Cross, 4), &h).unwrap();
    assert_ne!(
        a.result.summary.hash, c.result.summary.hash,
        "another threshold, another run"
    );
    let mut later = params(StrategyKind::Cross, 2);
    later.live.default_latency = Latency::new(Duration::from_millis(200), Duration::ZERO);
    let d = Run::over(later, &h).unwrap();
    assert_ne!(
        a.result.summary.hash, d.result.summary.hash,
        "another latency, another run"
    );

    // Another history gives another hash too.
    let e = Run::over(params(StrategyKind::Cross, 2), &history(8, 6_000)).unwrap();
    assert_ne!(a.result.summary.hash, e.result.summary.hash);
}

#[test]
fn the_summary_is_made_of_the_events_produced() {
    let h = history(11, 6_000);
    let out = Run::over(params(StrategyKind::Cross, 2), &h).unwrap();
    let s = &out.result.summary;
    assert_eq!(s.books, 6_000);
    assert_eq!(s.statuses, 11);
    assert_eq!(s.events, out.events.len() as u64);

    let mut opps: BTreeMap<String, u64> = BTreeMap::new();
    let (mut realized, mut fees) = (Decimal::ZERO, Decimal::ZERO);
    let mut trades: BTreeMap<String, u64> = BTreeMap::new();
    let mut last_cumulative = Decimal::ZERO;
    for m in &out.events {
        match m {
            Decoded::Opportunity(o) => {
                *opps.entry(o.state.as_str().into()).or_default() += 1;
                assert_eq!(o.received_ts, o.published_ts, "stamped from the recording");
            }
            Decoded::Trade(t) => *trades.entry(t.status.as_str().into()).or_default() += 1,
            Decoded::Pnl(p) => {
                realized += p.realized;
                fees += p.fees;
                last_cumulative = p.cumulative_realized;
            }
            _ => {}
        }
    }
    assert_eq!(s.opportunities, opps);
    assert_eq!(s.trades, trades);
    assert_eq!(s.realized_pnl, realized);
    assert_eq!(s.fees, fees);
    assert_eq!(
        realized, last_cumulative,
        "one strategy: its cumulative P&L is the total"
    );
    assert!(s.fees > Decimal::ZERO);

    // The per-trade points: one per trade, cumulative and drawdown as the
    // running sum makes them, the largest drawdown the summary's.
    assert_eq!(out.result.trades.len() as u64, trades.values().sum::<u64>());
    let (mut cum, mut peak, mut max_dd) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    for p in &out.result.trades {
        cum += p.realized_pnl;
        peak = peak.max(cum);
        max_dd = max_dd.max(peak - cum);
        assert_eq!(p.cumulative, cum, "{}", p.trade_id);
        assert_eq!(p.drawdown, peak - cum);
        assert!(
            p.label.contains('→') && p.label.ends_with("-USD") || p.label.contains("BTC-USD"),
            "{}",
            p.label
        );
    }
    assert_eq!(s.max_drawdown, max_dd);
    let filled = out
        .result
        .trades
        .iter()
        .filter(|p| p.status != "failed")
        .count();
    let wins = out
        .result
        .trades
        .iter()
        .filter(|p| p.realized_pnl > Decimal::ZERO)
        .count();
    if filled > 0 {
        assert_eq!(
            s.win_rate,
            Some((Decimal::from(wins) / Decimal::from(filled)).round_dp(4))
        );
    }
    assert_eq!(
        s.expected_profit,
        out.result
            .trades
            .iter()
            .map(|p| p.expected_profit)
            .sum::<Decimal>()
    );
    assert_eq!(
        s.captured_profit, realized,
        "no transfers: trades are all of the P&L"
    );

    // Episodes: one span per open; closed ones carry their duration.
    let opened = opps.get(EpisodeState::Open.as_str()).copied().unwrap_or(0);
    assert_eq!(out.result.episodes.len() as u64, opened);
    let closed = out
        .result
        .episodes
        .iter()
        .filter(|e| e.closed.is_some())
        .count() as u64;
    assert_eq!(closed, opps.get("close").copied().unwrap_or(0));
    assert!(
        out.result
            .episodes
            .iter()
            .all(|e| e.closed.is_none() == e.duration_ms.is_none())
    );
}

#[test]
fn triangles_run_through_the_same_engine() {
    let h = history(3, 6_000);
    let mut p = params(StrategyKind::Triangular, 1);
    p.detector.fees = Fees::flat(Decimal::ZERO);
    let a = Run::over(p.clone(), &h).unwrap();
    let b = Run::over(p, &h).unwrap();
    assert_eq!(a.result, b.result);
    let opened = a
        .result
        .summary
        .opportunities
        .get("open")
        .copied()
        .unwrap_or(0);
    assert!(opened > 0, "{:?}", a.result.summary);
    for t in &a.result.trades {
        assert!(
            t.label.contains("USD→") && t.label.ends_with("→USD"),
            "{}",
            t.label
        );
    }
}
