//! `arb-replay` against the real NATS (`NATS_URL`), on a stream of its own
//! filled with N simulated books (10 levels a side, three venues, three
//! symbols, MessagePack with the contract's headers, as `arb-feed --venue
//! sim` publishes them):
//!
//! - publish: the bare rate of an ordered consumer reading the whole stream,
//!   beside the rate of `arb-replay publish --speed max` over the same
//!   stream (read, re-headed, published to JetStream, every ack in); the
//!   ratio is the share of the bare read the replay keeps. For scale, the
//!   rate at which the server takes the same messages when nothing reads
//!   (built beforehand, JetStream async publishes into a stream of their
//!   own): what JetStream ingest alone costs on this machine.
//!
//! - backtest ([`backtest_bench`]): books per second on one core through
//!   decode + detector + paper executor, each stage beside it, and the
//!   memory a loaded history takes per million books.
//!
//! `cargo bench -p arb-replay --bench replay` (`N`, `ROUNDS`, `MAX_INFLIGHT`,
//! `BACKTEST_BOOKS`, `PARTS=publish|backtest` to change it). Medians of rounds are printed, never asserted.
#![allow(unused_crate_dependencies)]

#[path = "parts/backtest.rs"]
mod backtest_bench;

/// The allocator the arb-replay binary runs with.
#[global_allocator]
static GLOBAL: arb_replay::Allocator = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use arb_contract::Symbol;
use arb_contract::subject::StreamKind;
use arb_replay::publish::{self, PublishArgs, Speed};
use arb_testkit::{TestBus, test_stream_args};
use arb_venues::sim::SimGenerator;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use futures::StreamExt;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// What every section of the benchmark runs on: a test bus whose MD stream
/// holds `n` books.
struct Bench {
    tb: TestBus,
    n: u64,
    rounds: usize,
    /// Mean stored size of a book message (payload and headers), bytes.
    book_bytes: u64,
}

impl Bench {
    async fn setup() -> Bench {
        let n = env_or("N", 200_000u64);
        let rounds = env_or("ROUNDS", 3usize).max(1);
        let tb = TestBus::new("bench-replay").await;
        let t = Instant::now();
        fill_books(&tb, n).await;
        let mut md = tb.stream(StreamKind::Md).await;
        let state = md.info().await.expect("stream info").state.clone();
        assert_eq!(state.messages, n, "the MD stream holds the books");
        eprintln!(
            "filled {} with {n} books in {:.1} s",
            md.cached_info().config.name,
            t.elapsed().as_secs_f64()
        );
        Bench {
            tb,
            n,
            rounds,
            book_bytes: state.bytes / n.max(1),
        }
    }

    async fn teardown(self) {
        self.tb.cleanup().await;
    }
}

/// `n` books from the simulator, published as the feed publishes them.
async fn fill_books(tb: &TestBus, n: u64) {
    let venues: Vec<String> = ["sim-a", "sim-b", "sim-c"].map(String::from).to_vec();
    let symbols: Vec<Symbol> = ["BTC/USD", "ETH/USD", "ETH/BTC"]
        .iter()
        .map(|s| s.parse().expect("a symbol"))
        .collect();
    let start = arb_testkit::messages::t0();
    let mut sim = SimGenerator::new(7, &venues, &symbols, 10, start, Duration::from_millis(1));
    let mut p = tb.bus.publisher(4096);
    for _ in 0..n {
        p.publish(&sim.next_book()).await.expect("publish a book");
    }
    p.flush().await.expect("book publishes acknowledged");
}

/// One pass of an ordered consumer over the whole stream: messages a second.
async fn bare_read(b: &Bench) -> f64 {
    let stream = b.tb.stream(StreamKind::Md).await;
    let t = Instant::now();
    let consumer = stream
        .create_consumer(OrderedConfig::default())
        .await
        .expect("an ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut got = 0u64;
    while let Some(m) = messages.next().await {
        let m = m.expect("a message");
        got += 1;
        if m.info().expect("metadata").pending == 0 {
            break;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(got, b.n);
    b.n as f64 / secs
}

/// One `arb-replay publish --speed max` of the whole stream onto a new run:
/// messages a second, start-up included.
async fn replay_max(b: &Bench, round: usize) -> f64 {
    let run = format!("bench-{round}-{}", uuid::Uuid::now_v7().simple());
    let args = PublishArgs {
        run: Some(run.clone()),
        speed: Speed::Max,
        max_inflight: env_or("MAX_INFLIGHT", PublishArgs::default().max_inflight),
        nats: b.tb.args.clone(),
        streams: test_stream_args(),
        ..PublishArgs::default()
    };
    let t = Instant::now();
    let outcome = publish::replay(args, std::future::pending())
        .await
        .expect("the replay");
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(
        outcome.published, b.n,
        "every book replayed and acknowledged"
    );
    let target = publish::target_subjects(&run).expect("a run id");
    for kind in StreamKind::ALL {
        let _ = b.tb.bus.js.delete_stream(target.stream_name(kind)).await;
    }
    b.n as f64 / secs
}

/// The stream's messages as the replay would publish them (its headers
/// added), under the prefix `ingest.<id>`, for [`ingest_only`].
async fn prepared(b: &Bench, prefix: &str) -> Vec<(String, async_nats::HeaderMap, bytes::Bytes)> {
    let stream = b.tb.stream(StreamKind::Md).await;
    let consumer = stream
        .create_consumer(OrderedConfig::default())
        .await
        .expect("an ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut out = Vec::with_capacity(b.n as usize);
    while let Some(m) = messages.next().await {
        let m = m.expect("a message");
        let (seq, pending) = {
            let i = m.info().expect("metadata");
            (i.stream_sequence, i.pending)
        };
        let rest =
            b.tb.bus
                .subjects
                .strip_prefix(&m.subject)
                .expect("prefixed");
        let mut h = m.headers.clone().unwrap_or_default();
        h.insert("Nats-Msg-Id", publish::message_id("ingest", "MD", seq));
        h.insert(publish::REPLAY_SEQ, seq.to_string());
        h.insert(publish::REPLAY_SUBJECT, m.subject.as_str());
        out.push((format!("{prefix}.{rest}"), h, m.payload.clone()));
        if pending == 0 {
            break;
        }
    }
    out
}

/// JetStream ingest alone: the same messages, built beforehand, published
/// as JetStream async publishes with 4096 acks in flight into a stream
/// nothing reads.
async fn ingest_only(b: &Bench, round: usize) -> f64 {
    let prefix = format!("ingest.r{round}{}", uuid::Uuid::now_v7().simple());
    let msgs = prepared(b, &prefix).await;
    let bus = arb_runtime::bus::Bus {
        subjects: arb_contract::Subjects::new(Some(&prefix)).expect("a prefix"),
        ..b.tb.bus.clone()
    };
    let limits = test_stream_args();
    bus.ensure_stream(
        StreamKind::Md,
        limits.limits(StreamKind::Md),
        limits.duplicate_window,
    )
    .await
    .expect("the ingest stream");
    const WINDOW: usize = 4096;
    let js = async_nats::jetstream::context::ContextBuilder::new()
        .max_ack_inflight(WINDOW)
        .build(bus.client.clone());
    let mut acks = std::collections::VecDeque::with_capacity(WINDOW);
    let t = Instant::now();
    for (subject, headers, payload) in msgs {
        if acks.len() >= WINDOW {
            let ack: async_nats::jetstream::context::PublishAckFuture =
                acks.pop_front().expect("an ack");
            ack.await.expect("an ack");
        }
        acks.push_back(
            js.publish_with_headers(subject, headers, payload)
                .await
                .expect("publish"),
        );
    }
    for ack in acks {
        ack.await.expect("an ack");
    }
    let secs = t.elapsed().as_secs_f64();
    let _ = bus
        .js
        .delete_stream(bus.subjects.stream_name(StreamKind::Md))
        .await;
    b.n as f64 / secs
}

/// The replay's publish rate beside the bare read rate.
async fn bench_publish(b: &Bench) {
    let (mut reads, mut replays, mut ingests) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..b.rounds {
        let read = bare_read(b).await;
        let replay = replay_max(b, round).await;
        let ingest = ingest_only(b, round).await;
        eprintln!(
            "round {round}: bare read {read:>9.0} msg/s, replay {replay:>9.0} msg/s ({:.0} %), \
             ingest alone {ingest:>9.0} msg/s",
            100.0 * replay / read
        );
        reads.push(read);
        replays.push(replay);
        ingests.push(ingest);
    }
    let (read, replay, ingest) = (median(reads), median(replays), median(ingests));
    println!(
        "\narb-replay publish: {} books of ~{} B, medians of {} rounds",
        b.n, b.book_bytes, b.rounds
    );
    println!("  ordered consumer, bare read      {read:>10.0} msg/s");
    println!("  replay publish --speed max       {replay:>10.0} msg/s");
    println!(
        "  replay / bare read               {:>10.0} %",
        100.0 * replay / read
    );
    println!(
        "  for scale: JetStream ingest alone {ingest:>9.0} msg/s (nothing read; replay {:.0} % of it)",
        100.0 * replay / ingest
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `PARTS=publish` or `PARTS=backtest` runs one half.
    let parts = std::env::var("PARTS").unwrap_or_else(|_| "publish,backtest".into());
    if parts.contains("publish") {
        let bench = Bench::setup().await;
        bench_publish(&bench).await;
        bench.teardown().await;
    }
    if !parts.contains("backtest") {
        return;
    }
    backtest_bench::bench_backtest(
        env_or("BACKTEST_BOOKS", 1_000_000usize),
        env_or("ROUNDS", 3usize).max(1),
    );
}
