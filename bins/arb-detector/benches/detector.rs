//! `cargo bench -p arb-detector --bench detector` (about a minute after the build)
//!
//! 1. Detector time per book update, in process, no I/O: cross-venue with
//!    5 venues × 50 symbols, triangular on a 300-symbol graph (with 10 bp
//!    fees, and with none so that far more cycles pass the f64 pre-screen and
//!    are walked in Decimal).
//! 2. Tick-to-opportunity latency over NATS on loopback: a book published
//!    with core NATS → the detector loop (`arb_detector::run` on its own
//!    thread and current-thread runtime, as the binary runs it) → the
//!    opportunity received by a subscriber; beside, measured in the same run
//!    with the same payload size and headers: the bare publish → receive hop,
//!    the same on a subject a stream stores, and the path's two hops with a
//!    process that only forwards each message in place of the detector. At
//!    1,000 and 10,000 updates/s for 3 s each, with opportunities published to
//!    JetStream (the default) and with `--core-publish`. Sender, receiver and
//!    forwarder each have their own thread, current-thread runtime and NATS
//!    connection, as separate processes would; the sender paces each message
//!    to its own due time. The path is split at the detector's received /
//!    published stamps (wall clock).
//!
//! Needs NATS with JetStream at `NATS_URL` (default nats://127.0.0.1:4222).
#![allow(unused_crate_dependencies)]

use std::time::{Duration, Instant};

use arb_contract::codec;
use arb_contract::codec::Message as _;
use arb_contract::subject::StreamKind;
use arb_contract::time::{Timestamp, from_nanos, to_nanos};
use arb_contract::{BookSnapshot, ChecksumStatus, Level, Opportunity, Symbol};
use arb_detect::{CrossDetector, Detector, DetectorConfig, Fees, TriangularDetector};
use arb_detector::config::Config;
use arb_runtime::bus::Bus;
use arb_runtime::clock::{new_id, now};
use arb_runtime::config::{NatsArgs, StreamArgs};
use arb_testkit::nats_url;
use clap::Parser;
use futures::StreamExt;
use hdrhistogram::Histogram;
use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

const EPOCH_NS: i64 = 1_800_000_000_000_000_000;

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn f(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn d(x: f64, dp: u32) -> Decimal {
    Decimal::from_f64(x).unwrap_or_default().round_dp(dp)
}

/// A 10-level book around `mid` with a relative half-spread and 1 bp steps.
fn synth_book(
    rng: &mut Rng,
    venue: &str,
    symbol: &Symbol,
    mid: f64,
    half_spread: f64,
    ts: Timestamp,
) -> BookSnapshot {
    let dp = if mid < 0.01 {
        10
    } else if mid < 10.0 {
        8
    } else {
        4
    };
    let mut bids = Vec::with_capacity(10);
    let mut asks = Vec::with_capacity(10);
    for i in 0..10 {
        let step = mid * 1e-4 * i as f64;
        bids.push(Level::new(
            d(mid * (1.0 - half_spread) - step, dp),
            d(0.1 + 2.0 * rng.f(), 4),
        ));
        asks.push(Level::new(
            d(mid * (1.0 + half_spread) + step, dp),
            d(0.1 + 2.0 * rng.f(), 4),
        ));
    }
    BookSnapshot {
        id: new_id(),
        venue: venue.to_owned(),
        symbol: symbol.clone(),
        exchange_ts: Some(ts),
        received_ts: ts,
        sequence: None,
        checksum: ChecksumStatus::NotProvided,
        bids,
        asks,
    }
}

fn hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1_000.0
}

struct DetRow {
    name: String,
    h: Histogram<u64>,
    opps: usize,
    note: String,
}

fn bench_cross(updates: usize) -> DetRow {
    let venues = ["sim-a", "sim-b", "sim-c", "sim-d", "sim-e"];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let symbols: Vec<(Symbol, f64)> = (0..50)
        .map(|i| {
            let s = Symbol::new(&format!("C{i}"), "USD").expect("symbol");
            (s, 1.0 + 1000.0 * rng.f())
        })
        .collect();
    let cfg = DetectorConfig {
        max_book_age: Duration::from_secs(3600),
        fees: Fees::flat(Decimal::new(10, 4)),
        ..DetectorConfig::default()
    };
    let mut det = CrossDetector::new(cfg);
    let mut ms = 0i64;
    // Every venue and symbol once, so each update has four other venues to pair with.
    for v in venues {
        for (s, mid) in &symbols {
            ms += 1;
            det.on_book(&synth_book(
                &mut rng,
                v,
                s,
                *mid,
                1e-4,
                from_nanos(EPOCH_NS + ms * 1_000),
            ));
        }
    }
    let mut h = hist();
    let mut opps = 0;
    for _ in 0..updates {
        ms += 1;
        let v = venues[rng.below(venues.len())];
        let (s, mid) = &symbols[rng.below(symbols.len())];
        // ±15 bp between venues: the best levels often cross before fees,
        // now and then after them too.
        let m = mid * (1.0 + (rng.f() - 0.5) * 30e-4);
        let book = synth_book(&mut rng, v, s, m, 1e-4, from_nanos(EPOCH_NS + ms * 1_000));
        let t0 = Instant::now();
        let out = det.on_book(&book);
        let dt = t0.elapsed();
        opps += out.len();
        h.record(dt.as_nanos() as u64).ok();
    }
    DetRow {
        name: "cross, 5 venues × 50 symbols".into(),
        h,
        opps,
        note: "8 ordered venue pairs per update; fees 10 bp/side".into(),
    }
}

fn bench_triangular(updates: usize, fee: Decimal, label: &str) -> DetRow {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let quotes = [("USD", 1.0), ("BTC", 60_000.0), ("ETH", 3_000.0)];
    // 99 coins × 3 quotes + BTC/USD, ETH/USD, ETH/BTC = 300 symbols.
    let mut symbols: Vec<(Symbol, f64)> = vec![
        (Symbol::new("BTC", "USD").expect("symbol"), 60_000.0),
        (Symbol::new("ETH", "USD").expect("symbol"), 3_000.0),
        (Symbol::new("ETH", "BTC").expect("symbol"), 0.05),
    ];
    for i in 0..99 {
        let usd = 0.5 + 500.0 * rng.f();
        for (q, qusd) in quotes {
            symbols.push((
                Symbol::new(&format!("A{i}"), q).expect("symbol"),
                usd / qusd,
            ));
        }
    }
    assert_eq!(symbols.len(), 300);
    let cfg = DetectorConfig {
        max_book_age: Duration::from_secs(3600),
        fees: Fees::flat(fee),
        start_currencies: vec!["USD".into()],
        ..DetectorConfig::default()
    };
    let mut det = TriangularDetector::new(cfg);
    let mut ms = 0i64;
    for (s, mid) in &symbols {
        ms += 1;
        det.on_book(&synth_book(
            &mut rng,
            "sim-a",
            s,
            *mid,
            1e-4,
            from_nanos(EPOCH_NS + ms * 1_000),
        ));
    }
    let triangles = det.strategy().triangle_count();
    let (c0, p0) = (
        det.strategy().cycles_considered(),
        det.strategy().cycles_priced(),
    );
    let mut h = hist();
    let mut opps = 0;
    for _ in 0..updates {
        ms += 1;
        let (s, mid) = &symbols[rng.below(symbols.len())];
        // ±10 bp of noise per book.
        let m = mid * (1.0 + (rng.f() - 0.5) * 20e-4);
        let book = synth_book(
            &mut rng,
            "sim-a",
            s,
            m,
            1e-4,
            from_nanos(EPOCH_NS + ms * 1_000),
        );
        let t0 = Instant::now();
        let out = det.on_book(&book);
        let dt = t0.elapsed();
        opps += out.len();
        h.record(dt.as_nanos() as u64).ok();
    }
    let (c, p) = (
        det.strategy().cycles_considered() - c0,
        det.strategy().cycles_priced() - p0,
    );
    DetRow {
        name: format!("triangular, 300 symbols, {label}"),
        h,
        opps,
        note: format!(
            "{triangles} triangles; {:.1} cycles/update, {:.1} % priced in Decimal after the f64 pre-screen",
            c as f64 / updates as f64,
            100.0 * p as f64 / c.max(1) as f64
        ),
    }
}

/// Monotonic nanoseconds since the first call, comparable across threads.
fn mono() -> u64 {
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    T0.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn wall() -> i64 {
    to_nanos(&now())
}

/// A current-thread runtime on a thread of its own, as each process of the
/// pipeline runs its NATS client (no cross-thread wake-ups inside a client).
fn on_thread<T: Send + 'static>(
    f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f())
    })
}

async fn join<T: Send + 'static>(h: std::thread::JoinHandle<T>) -> T {
    tokio::task::spawn_blocking(move || h.join().expect("bench thread"))
        .await
        .expect("join")
}

type Outgoing = (String, async_nats::HeaderMap, bytes::Bytes);

/// Publishes message `i` at `i / rate` s from a thread and client of its
/// own, each at its own due time (a thread sleep, not tokio's 1 ms timer,
/// so 10,000/s is 100 µs apart and not bursts of ten), stamping the send
/// time (monotonic and wall clock) just before the publish.
async fn paced(rate: u32, msgs: Vec<Outgoing>) -> Vec<(u64, i64)> {
    let url = nats_url();
    join(on_thread(move || {
        Box::pin(async move {
            let client = async_nats::connect(&url).await.expect("connect");
            let per = Duration::from_secs_f64(1.0 / f64::from(rate));
            let mut sent = Vec::with_capacity(msgs.len());
            let start = Instant::now();
            for (i, (subject, headers, payload)) in msgs.into_iter().enumerate() {
                let due = start + per * i as u32;
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                sent.push((mono(), wall()));
                client
                    .publish_with_headers(subject, headers, payload)
                    .await
                    .expect("publish");
                // Let the connection task write it now.
                tokio::task::yield_now().await;
            }
            client.flush().await.expect("flush");
            sent
        })
    }))
    .await
}

/// Runs `each` on up to `n` messages of `subject` (publishing what it
/// returns), from a thread and client of its own; stops after `n` or 3 s of
/// silence. Returns once the
/// subscription is in place (the handle yields what `each` kept).
async fn subscribed<T: Send + 'static>(
    subject: String,
    n: usize,
    mut each: impl FnMut(async_nats::Message, &mut Vec<T>) -> Option<Outgoing> + Send + 'static,
) -> std::thread::JoinHandle<Vec<T>> {
    let url = nats_url();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let h = on_thread(move || {
        Box::pin(async move {
            let client = async_nats::connect(&url).await.expect("connect");
            let mut sub = client.subscribe(subject).await.expect("subscribe");
            client.flush().await.expect("flush");
            let _ = ready_tx.send(());
            let mut kept = Vec::with_capacity(n);
            for _ in 0..n {
                match tokio::time::timeout(Duration::from_secs(3), sub.next()).await {
                    Ok(Some(m)) => {
                        if let Some((to, headers, payload)) = each(m, &mut kept) {
                            client
                                .publish_with_headers(to, headers, payload)
                                .await
                                .expect("publish");
                        }
                    }
                    _ => break,
                }
            }
            client.flush().await.expect("flush");
            kept
        })
    });
    ready_rx.await.expect("subscriber started");
    h
}

/// Receives up to `n` messages on `subject`: (monotonic, wall) receive time
/// and the message.
async fn receiver(
    subject: String,
    n: usize,
) -> std::thread::JoinHandle<Vec<(u64, i64, async_nats::Message)>> {
    subscribed(subject, n, |m, got| {
        got.push((mono(), wall(), m));
        None
    })
    .await
}

/// A process that forwards every message unchanged: the path's two NATS
/// hops with nothing in between.
async fn relay(from: String, to: String, n: usize) -> std::thread::JoinHandle<Vec<()>> {
    subscribed(from, n, move |m, _: &mut Vec<()>| {
        Some((to.clone(), m.headers.unwrap_or_default(), m.payload))
    })
    .await
}

fn book_ts(seq: usize) -> Timestamp {
    from_nanos(EPOCH_NS + seq as i64 * 1_000)
}

fn seq_of(ts: &Timestamp) -> usize {
    ((to_nanos(ts) - EPOCH_NS) / 1_000) as usize
}

/// Payloads of book size that carry their index in the first 8 bytes.
fn numbered(subject: &str, n: usize, len: usize, headers: &async_nats::HeaderMap) -> Vec<Outgoing> {
    (0..n)
        .map(|i| {
            let mut p = vec![0u8; len.max(8)];
            p[..8].copy_from_slice(&(i as u64).to_le_bytes());
            (subject.to_owned(), headers.clone(), p.into())
        })
        .collect()
}

fn index_of(m: &async_nats::Message) -> usize {
    u64::from_le_bytes(m.payload[..8].try_into().unwrap_or([0; 8])) as usize
}

/// Publish → receive of book-sized payloads, directly or through `relay`.
async fn hop(
    subject: &str,
    via_relay: Option<&str>,
    rate: u32,
    n: usize,
    payload_len: usize,
    headers: &async_nats::HeaderMap,
) -> (Histogram<u64>, usize) {
    let out = via_relay.unwrap_or(subject).to_owned();
    let rx = receiver(out.clone(), n).await;
    let fwd = match via_relay {
        Some(to) => Some(relay(subject.to_owned(), to.to_owned(), n).await),
        None => None,
    };
    let sent = paced(rate, numbered(subject, n, payload_len, headers)).await;
    let got = join(rx).await;
    if let Some(f) = fwd {
        join(f).await;
    }
    let mut h = hist();
    for (t, _, m) in &got {
        if let Some((s, _)) = sent.get(index_of(m)) {
            h.record(t.saturating_sub(*s).max(1)).ok();
        }
    }
    (h, got.len())
}

struct DetHists {
    /// Book sent → opportunity received.
    path: Histogram<u64>,
    /// Detector's received → published stamps.
    inside: Histogram<u64>,
    /// Book sent → detector's received stamp (wall clock).
    hop_in: Histogram<u64>,
    /// Detector's published stamp → opportunity received (wall clock).
    hop_out: Histogram<u64>,
    got: usize,
}

/// Book published → opportunity received, through the detector loop.
async fn detector_hop(prefix: &str, rate: u32, n: usize, first_seq: usize) -> DetHists {
    let subjects = arb_contract::Subjects::new(Some(prefix)).expect("prefix");
    let rx = receiver(subjects.with_prefix("arb.opp.>"), n).await;
    let symbol = Symbol::new("BTC", "USD").expect("symbol");
    let subject = subjects.book("sim-b", &symbol).expect("subject");
    // sim-b's bid alternates 101 / 101.5 against sim-a's ask 100: every book
    // moves the net edge by ~50 bp, past the 2 bp tolerance, so each one
    // publishes an update (the first an open).
    let books: Vec<Outgoing> = (0..n)
        .map(|i| {
            let seq = first_seq + i;
            let bid = if seq.is_multiple_of(2) {
                Decimal::new(101, 0)
            } else {
                Decimal::new(1015, 1)
            };
            let b = BookSnapshot {
                id: new_id(),
                venue: "sim-b".into(),
                symbol: symbol.clone(),
                exchange_ts: Some(book_ts(seq)),
                received_ts: book_ts(seq),
                sequence: Some(seq as u64),
                checksum: ChecksumStatus::NotProvided,
                bids: vec![Level::new(bid, Decimal::ONE)],
                asks: vec![Level::new(Decimal::new(102, 0), Decimal::ONE)],
            };
            (
                subject.clone(),
                arb_runtime::headers::to_map(&codec::headers(&b, codec::ContentType::Msgpack)),
                codec::encode(&b).expect("encode"),
            )
        })
        .collect();
    let sent = paced(rate, books).await;
    let got = join(rx).await;
    let (mut path, mut inside, mut hop_in, mut hop_out) = (hist(), hist(), hist(), hist());
    let mut matched = 0;
    for (t, w, m) in &got {
        let Ok(o) = arb_runtime::headers::decode::<Opportunity>(m.headers.as_ref(), &m.payload)
        else {
            continue;
        };
        let Some(&(s_mono, s_wall)) = seq_of(&o.book_ts)
            .checked_sub(first_seq)
            .and_then(|i| sent.get(i))
        else {
            continue;
        };
        matched += 1;
        path.record(t.saturating_sub(s_mono).max(1)).ok();
        if let (Some(r), Some(p)) = (o.received_ts, o.published_ts) {
            let (r, p) = (to_nanos(&r), to_nanos(&p));
            inside.record((p - r).max(1) as u64).ok();
            hop_in.record((r - s_wall).max(1) as u64).ok();
            hop_out.record((w - p).max(1) as u64).ok();
        }
    }
    DetHists {
        path,
        inside,
        hop_in,
        hop_out,
        got: matched,
    }
}

struct LatRow {
    rate: u32,
    sent: usize,
    /// Publish → receive, one hop.
    bare: (Histogram<u64>, usize),
    /// The same on a subject a JetStream stream stores, as book subjects are.
    stored: (Histogram<u64>, usize),
    /// Publish → a forwarding process → receive: the path's two hops with
    /// nothing in between.
    relay: (Histogram<u64>, usize),
    det: DetHists,
}

fn small_stream_flags() -> [&'static str; 8] {
    [
        "--md-max-bytes=64MiB",
        "--md-max-age=1h",
        "--arb-max-bytes=64MiB",
        "--arb-max-age=1h",
        "--exec-max-bytes=16MiB",
        "--exec-max-age=1h",
        "--sys-max-bytes=16MiB",
        "--sys-max-age=1h",
    ]
}

async fn latency(rates: &[(u32, usize)], core_publish: bool) -> anyhow::Result<Vec<LatRow>> {
    let prefix = format!("bench.det.{}", uuid::Uuid::now_v7().simple());
    let url = nats_url();
    let tx = async_nats::connect(&url)
        .await
        .map_err(|e| anyhow::anyhow!("the NATS part needs NATS with JetStream at {url}: {e}"))?;
    let mut argv = vec![
        "arb-detector".to_owned(),
        "--strategy=cross".into(),
        format!("--subject-prefix={prefix}"),
        format!("--nats-url={url}"),
        "--max-book-age=1h".into(),
        "--fee=sim-a=0.001,sim-b=0.001".into(),
        "--edge-tolerance-bps=2".into(),
        "--heartbeat-interval=1s".into(),
    ];
    argv.extend(small_stream_flags().iter().map(|s| s.to_string()));
    if core_publish {
        argv.push("--core-publish".into());
    }
    let config = Config::try_parse_from(argv)?;
    let bus_args = NatsArgs {
        nats_url: url.clone(),
        subject_prefix: Some(prefix.clone()),
        ..NatsArgs::default()
    };
    let bus = Bus::connect_once(&bus_args, "detector-bench").await?;
    let streams = StreamArgs {
        md_max_bytes: 64 << 20,
        md_max_age: Duration::from_secs(3600),
        arb_max_bytes: 64 << 20,
        arb_max_age: Duration::from_secs(3600),
        exec_max_bytes: 16 << 20,
        exec_max_age: Duration::from_secs(3600),
        sys_max_bytes: 16 << 20,
        sys_max_age: Duration::from_secs(3600),
        duplicate_window: Duration::from_secs(60),
    };
    bus.ensure_streams(&streams).await?;
    let mut hb = tx
        .subscribe(bus.subjects.with_prefix("sys.state.detector-cross"))
        .await?;
    tx.flush().await?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // The detector loop on its own thread and current-thread runtime, as the
    // binary runs it.
    let detector = std::thread::spawn(move || -> anyhow::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(arb_detector::run(config, async move {
            let _ = stop_rx.await;
        }))
    });
    tokio::time::timeout(Duration::from_secs(30), hb.next())
        .await
        .map_err(|_| anyhow::anyhow!("the detector did not start"))?;
    // sim-a's standing book: ask 100.
    let a = BookSnapshot {
        id: new_id(),
        venue: "sim-a".into(),
        symbol: Symbol::new("BTC", "USD")?,
        exchange_ts: Some(book_ts(0)),
        received_ts: book_ts(0),
        sequence: None,
        checksum: ChecksumStatus::NotProvided,
        bids: vec![Level::new(Decimal::new(99, 0), Decimal::ONE)],
        asks: vec![Level::new(Decimal::new(100, 0), Decimal::ONE)],
    };
    let headers = arb_runtime::headers::to_map(&codec::headers(&a, codec::ContentType::Msgpack));
    tx.publish_with_headers(
        a.subject(&bus.subjects)?,
        headers.clone(),
        codec::encode(&a)?,
    )
    .await?;
    tx.flush().await?;
    let payload_len = codec::encode(&a)?.len();
    let bare = bus.subjects.with_prefix("bench.bare");
    // The same hop on a subject the MD stream stores, as book subjects are.
    let stored = bus.subjects.with_prefix("md.bench.bare");
    let relay_in = bus.subjects.with_prefix("md.bench.relay-in");
    let relay_out = bus.subjects.with_prefix("arb.bench.relay-out");

    let mut rows = Vec::new();
    let mut seq = 1;
    for &(rate, n) in rates {
        // Warm-up, untimed: a short burst through each path.
        let _ = hop(
            &relay_in,
            Some(&relay_out),
            rate,
            n / 20,
            payload_len,
            &headers,
        )
        .await;
        let _ = detector_hop(&prefix, rate, n / 20, seq).await;
        seq += n / 20;
        let bare_h = hop(&bare, None, rate, n, payload_len, &headers).await;
        let stored_h = hop(&stored, None, rate, n, payload_len, &headers).await;
        let relay_h = hop(&relay_in, Some(&relay_out), rate, n, payload_len, &headers).await;
        let det = detector_hop(&prefix, rate, n, seq).await;
        seq += n;
        rows.push(LatRow {
            rate,
            sent: n,
            bare: bare_h,
            stored: stored_h,
            relay: relay_h,
            det,
        });
    }
    let _ = stop_tx.send(());
    detector
        .join()
        .map_err(|_| anyhow::anyhow!("the detector thread panicked"))??;
    for kind in StreamKind::ALL {
        let _ = bus.js.delete_stream(bus.subjects.stream_name(kind)).await;
    }
    bus.drain().await;
    Ok(rows)
}

fn print_latency(lat: &[LatRow]) {
    println!("| rate /s | path | sent | received | p50 µs | p99 µs | max µs |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    for r in lat {
        for (name, h, got) in [
            ("bare NATS publish → receive (one hop)", &r.bare.0, r.bare.1),
            (
                "bare hop on a subject a stream stores",
                &r.stored.0,
                r.stored.1,
            ),
            (
                "publish → forwarding process → receive (two bare hops)",
                &r.relay.0,
                r.relay.1,
            ),
            ("book → detector → opportunity", &r.det.path, r.det.got),
            (
                "  of which: book sent → detector received stamp",
                &r.det.hop_in,
                r.det.got,
            ),
            (
                "  of which: inside the detector (received → published stamps)",
                &r.det.inside,
                r.det.got,
            ),
            (
                "  of which: detector published stamp → opportunity received",
                &r.det.hop_out,
                r.det.got,
            ),
        ] {
            println!(
                "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} |",
                r.rate,
                name,
                r.sent,
                got,
                us(h.value_at_quantile(0.5)),
                us(h.value_at_quantile(0.99)),
                us(h.max())
            );
        }
    }
    for r in lat {
        let bare = us(r.bare.0.value_at_quantile(0.5));
        let relay = us(r.relay.0.value_at_quantile(0.5));
        let det = us(r.det.path.value_at_quantile(0.5));
        println!(
            "{} /s p50: detector path − bare hop = {:.1} µs (target < 50 µs: {}); detector path − forwarding process (the same two hops) = {:.1} µs",
            r.rate,
            det - bare,
            if det - bare < 50.0 { "met" } else { "NOT met" },
            det - relay,
        );
    }
}

fn main() -> anyhow::Result<()> {
    println!(
        "arb-detector benchmark (release build, {} CPUs)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!("1. Detector time per book update (in process, no I/O)");
    let rows = vec![
        bench_cross(100_000),
        bench_triangular(100_000, Decimal::new(10, 4), "fees 10 bp/leg"),
        bench_triangular(100_000, Decimal::ZERO, "no fees (more cycles priced)"),
    ];
    println!("| case | updates | median µs | p99 µs | max µs | messages | note |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.1} | {} | {} |",
            r.name,
            r.h.len(),
            us(r.h.value_at_quantile(0.5)),
            us(r.h.value_at_quantile(0.99)),
            us(r.h.max()),
            r.opps,
            r.note
        );
    }
    let tri_median = us(rows[1].h.value_at_quantile(0.5));
    println!(
        "target: triangular median < 5 µs per update: {} ({tri_median:.2} µs)",
        if tri_median < 5.0 { "met" } else { "NOT met" }
    );
    println!();

    println!("2. Tick-to-opportunity latency over NATS on loopback");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    for (core, mode) in [
        (
            false,
            "opportunities published to JetStream (default; acks settled lazily, up to --max-inflight 4096 outstanding)",
        ),
        (
            true,
            "opportunities published with core NATS (`--core-publish`; the ARB stream still stores them)",
        ),
    ] {
        let lat = rt.block_on(latency(&[(1_000, 3_000), (10_000, 30_000)], core))?;
        println!();
        println!("{mode}:");
        print_latency(&lat);
    }
    Ok(())
}
