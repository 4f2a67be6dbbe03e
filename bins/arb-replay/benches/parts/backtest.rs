//! The backtest half of the replay benchmark: books per second on one core
//! through decode + detector + paper executor (target ≥ 500,000/s), with
//! each stage alone beside it so the figures say where the time goes, and
//! the memory a loaded history takes per million books.

use std::str::FromStr;
use std::time::{Duration, Instant};

use arb_backtest::{Input, Params, Run};
use arb_contract::codec::{self, ContentType, WireHeaders};
use arb_contract::{BookSnapshot, Symbol};
use arb_detect::{DetectorConfig, StrategyKind};
use arb_exec::engine::{EngineConfig, LegMode, Live};
use arb_exec::latency::Latency;
use arb_exec::ledger::StartingBalances;
use arb_exec::rules::VenueRules;
use bytes::Bytes;

const VENUES: [&str; 3] = ["sim-a", "sim-b", "sim-c"];
const SYMBOLS: [&str; 3] = ["BTC/USD", "ETH/USD", "ETH/BTC"];

fn sim_books(n: usize) -> Vec<BookSnapshot> {
    let venues: Vec<String> = VENUES.iter().map(|v| (*v).to_owned()).collect();
    let symbols: Vec<Symbol> = SYMBOLS.iter().map(|s| s.parse().unwrap()).collect();
    let mut sim = arb_venues::sim::SimGenerator::new(
        42,
        &venues,
        &symbols,
        10,
        "2026-11-30T00:00:00Z".parse().unwrap(),
        Duration::from_millis(10),
    );
    (0..n).map(|_| sim.next_book()).collect()
}

fn params() -> Params {
    Params {
        strategy: StrategyKind::Cross,
        detector: DetectorConfig::default(),
        engine: EngineConfig {
            seed: 1,
            legs: LegMode::Concurrent,
            slippage_bps: rust_decimal::Decimal::new(5, 0),
            valuation: "USD".into(),
            rules: VenueRules::parse("").unwrap(),
            balances: VENUES
                .iter()
                .map(|v| {
                    StartingBalances::from_str(&format!("{v}:USD=1000000,BTC=20,ETH=300")).unwrap()
                })
                .collect(),
            floors: Default::default(),
            transfers: Default::default(),
            history: Duration::from_secs(60),
        },
        live: Live {
            default_latency: Latency::new(Duration::from_millis(20), Duration::from_millis(10)),
            ..Live::default()
        },
        keep_events: false,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Books per second decoding every payload once.
fn decode_round(payloads: &[Bytes]) -> f64 {
    let t = Instant::now();
    let mut n = 0usize;
    for p in payloads {
        n += decode(p).bids.len();
    }
    std::hint::black_box(n);
    payloads.len() as f64 / t.elapsed().as_secs_f64()
}

fn decode(payload: &Bytes) -> BookSnapshot {
    let headers = WireHeaders {
        content_type: Some(ContentType::Msgpack.as_str()),
        schema: None,
    };
    codec::decode::<BookSnapshot>(headers, payload).expect("a book")
}

/// Prints the backtest figures: `books` books per round, `rounds` rounds.
pub(crate) fn bench_backtest(books: usize, rounds: usize) {
    println!(
        "\n== backtest on one core: {books} sim books (3 venues x 3 symbols, 10 levels), {rounds} rounds"
    );
    let before = rss_kib();
    let held = sim_books(books);
    let after = rss_kib();
    let per_million_mib =
        (after.saturating_sub(before)) as f64 / 1024.0 * 1_000_000.0 / books as f64;
    let payloads: Vec<Bytes> = held.iter().map(|b| codec::encode(b).unwrap()).collect();
    let wire_bytes: usize = payloads.iter().map(Bytes::len).sum();

    let mut decode_only = Vec::new();
    let mut detect_exec = Vec::new();
    let mut whole = Vec::new();
    let mut trades = 0;
    // `STAGES=whole` (or `decode`, `engine`, comma-separated) runs only
    // those, for a profiler; the hash check needs both `engine` and `whole`.
    let stages = std::env::var("STAGES").unwrap_or_else(|_| "decode,engine,whole".into());
    let stage = |s: &str| stages.split(',').any(|x| x.trim() == s);
    for _ in 0..rounds {
        if stage("decode") {
            decode_only.push(decode_round(&payloads));
        }
        let out = stage("engine").then(|| {
            let inputs: Vec<Input> = held.iter().cloned().map(Input::Book).collect();
            let t = Instant::now();
            let mut run = Run::new(params()).unwrap();
            for i in inputs {
                run.feed(i);
            }
            let out = run.finish();
            detect_exec.push(books as f64 / t.elapsed().as_secs_f64());
            out
        });
        if stage("whole") {
            let t = Instant::now();
            let mut run = Run::new(params()).unwrap();
            for p in &payloads {
                run.feed(Input::Book(decode(p)));
            }
            let out2 = run.finish();
            whole.push(books as f64 / t.elapsed().as_secs_f64());
            trades = out2.result.summary.trades.values().sum::<u64>();
            if let Some(out) = out {
                assert_eq!(out.result.summary.hash, out2.result.summary.hash);
            }
        }
    }
    let med = |v: Vec<f64>| if v.is_empty() { f64::NAN } else { median(v) };
    let (decode_only, detect_exec, whole) = (med(decode_only), med(detect_exec), med(whole));
    println!("| stage | books/s (median of {rounds}) |");
    println!("|---|---:|");
    println!(
        "| decode (MessagePack → BookSnapshot) | {:.0} |",
        decode_only
    );
    println!(
        "| detector + paper executor (decoded books) | {:.0} |",
        detect_exec
    );
    println!("| decode + detector + paper executor | {:.0} |", whole);
    println!(
        "trades per round: {trades}; wire size {:.0} bytes/book",
        wire_bytes as f64 / books as f64
    );
    println!(
        "memory: decoded books held: {per_million_mib:.0} MiB per million (RSS {before} → {after} KiB)"
    );
}
