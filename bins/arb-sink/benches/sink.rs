//! Throughput of 10-level book snapshots into market_snapshots, all measured
//! in one run against the local NATS and PostgreSQL:
//!
//! - raw binary COPY of pre-encoded rows in one transaction (the limit);
//! - the sink: messages already in JetStream, arb-sink started; timed from
//!   its first pull request (its start-up is printed apart) until every
//!   message is committed and acked;
//! - the sink's writer alone, per batch, for each candidate: COPY (the
//!   default), COPY through a staging table + INSERT … ON CONFLICT, and
//!   INSERT … SELECT FROM UNNEST;
//! - a naive writer: one INSERT and one transaction per message.
//!
//! `cargo bench -p arb-sink --bench sink` (ARB_BENCH_ROWS to change the size;
//! ARB_BENCH_QUICK=1 for raw COPY, the sink and naive only; RUST_LOG for the
//! sink's logs).
#![allow(unused_crate_dependencies)]

use std::time::{Duration, Instant};

use arb_contract::codec::Decoded;
use arb_contract::model::BookSnapshot;
use arb_contract::sample;
use arb_contract::subject::StreamKind;
use arb_contract::time::from_nanos;
use arb_runtime::bus::Bus;
use arb_runtime::config::{NatsArgs, StreamArgs};
use arb_sink::rows::{CopyRows, Table};
use arb_sink::store::{self, WriteMode};
use clap::Parser;
use rust_decimal::Decimal;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{Connection, Encode, PgPool, Postgres, Type};

const BATCH: usize = 2_000;

/// The allocator the arb-sink binary runs with: the sink runs in this process.
#[global_allocator]
static GLOBAL: arb_sink::Allocator = mimalloc::MiMalloc;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.to_owned())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

/// With `ARB_BENCH_PERF_CTL=<fifo>`, tells `perf record --control=fifo:<fifo> -D -1`
/// to profile only the sink's run (`enable` / `disable`).
fn perf_control(cmd: &str) {
    if let Ok(fifo) = std::env::var("ARB_BENCH_PERF_CTL") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(fifo) {
            let _ = writeln!(f, "{cmd}");
        }
    }
}

/// CPU seconds used so far by (this process, nats-server, PostgreSQL), from /proc.
fn cpu_seconds() -> [f64; 3] {
    fn ticks(stat: &str) -> Option<f64> {
        // Fields after the ")" that closes the command name: utime, stime, and the
        // reaped children's cutime, cstime (PostgreSQL backends that have exited).
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        (11..=14).map(|i| f.get(i)?.parse::<f64>().ok()).sum()
    }
    let hz = 100.0; // USER_HZ on Linux
    let mut out = [0.0; 3];
    out[0] = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| ticks(&s))
        .unwrap_or(0.0)
        / hz;
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            let slot = match comm.trim() {
                "nats-server" => 1,
                c if c.starts_with("postgres") => 2,
                _ => continue,
            };
            if let Some(t) = std::fs::read_to_string(e.path().join("stat"))
                .ok()
                .and_then(|s| ticks(&s))
            {
                out[slot] += t / hz;
            }
        }
    }
    out
}

/// The measurements, each with the CPU-seconds used while it ran.
struct Runs {
    results: Vec<(&'static str, usize, Duration)>,
    cpu: Vec<[f64; 3]>,
    /// CPU counters at the start of the current measurement.
    before: [f64; 3],
}

impl Runs {
    fn new() -> Self {
        Runs {
            results: Vec::new(),
            cpu: Vec::new(),
            before: cpu_seconds(),
        }
    }

    fn push(&mut self, r: (&'static str, usize, Duration)) {
        self.results.push(r);
    }

    /// A measurement taken elsewhere, with its CPU.
    fn record(&mut self, r: (&'static str, usize, Duration), cpu: [f64; 3]) {
        self.results.push(r);
        self.cpu.push(cpu);
        self.before = cpu_seconds();
    }

    /// Ends the measurement just pushed: records its CPU and starts the next.
    fn close(&mut self) {
        let after = cpu_seconds();
        self.cpu
            .push(std::array::from_fn(|i| after[i] - self.before[i]));
        self.before = cpu_seconds();
    }
}

fn cpu_since(before: [f64; 3]) -> [f64; 3] {
    let after = cpu_seconds();
    std::array::from_fn(|i| after[i] - before[i])
}

/// The median item by `key` (of an odd count; the upper one of an even).
fn median_by<T: Copy, K: PartialOrd>(items: &[T], key: impl Fn(&T) -> K) -> T {
    let mut sorted = items.to_vec();
    sorted.sort_by(|a, b| key(a).partial_cmp(&key(b)).expect("comparable"));
    sorted[sorted.len() / 2]
}

async fn truncate(pool: &PgPool) {
    sqlx::query("TRUNCATE market_snapshots")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("CHECKPOINT").execute(pool).await.ok();
}

async fn count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM market_snapshots")
        .fetch_one(pool)
        .await
        .unwrap()
}

fn encode(books: &[Decoded]) -> bytes::Bytes {
    let mut rows = CopyRows::new(Table::MarketSnapshots);
    for b in books {
        rows.push(b, "md.book.bench").unwrap();
    }
    rows.finish()
}

/// `cpu_before` is reset once the rows are encoded, so the CPU figures cover
/// the timed part only.
async fn raw_copy(pool: &PgPool, books: &[Decoded], cpu_before: &mut [f64; 3]) -> Duration {
    let data = encode(books);
    let mut conn = pool.acquire().await.unwrap();
    *cpu_before = cpu_seconds();
    let start = Instant::now();
    let mut tx = conn.begin().await.unwrap();
    let sql = format!(
        "COPY market_snapshots ({}) FROM STDIN (FORMAT binary)",
        Table::MarketSnapshots.column_list()
    );
    let mut copy = tx.copy_in_raw(&sql).await.unwrap();
    copy.send(data.as_ref()).await.unwrap();
    let n = copy.finish().await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(n as usize, books.len());
    start.elapsed()
}

async fn writer_batches(pool: &PgPool, books: &[Decoded], mode: WriteMode) -> Duration {
    let start = Instant::now();
    for chunk in books.chunks(BATCH) {
        let data = encode(chunk);
        store::write_batch(pool, mode, &[(Table::MarketSnapshots, data)])
            .await
            .unwrap();
    }
    start.elapsed()
}

async fn unnest_batches(pool: &PgPool, books: &[BookSnapshot]) -> Duration {
    let text = |v: &[Decimal]| {
        format!(
            "{{{}}}",
            v.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(",")
        )
    };
    let start = Instant::now();
    for chunk in books.chunks(BATCH) {
        let mut cols: (
            Vec<uuid::Uuid>,
            Vec<chrono::DateTime<chrono::Utc>>,
            Vec<chrono::DateTime<chrono::Utc>>,
        ) = Default::default();
        let (mut venue, mut symbol, mut seq, mut bb, mut ba) =
            (vec![], vec![], vec![], vec![], vec![]);
        let (mut bp, mut bs, mut ap, mut asz) = (vec![], vec![], vec![], vec![]);
        for b in chunk {
            cols.0.push(b.id);
            cols.1.push(b.exchange_ts.unwrap_or(b.received_ts));
            cols.2.push(b.received_ts);
            venue.push(b.venue.clone());
            symbol.push(b.symbol.to_string());
            seq.push(b.sequence.map(|s| s as i64));
            bb.push(b.bids.first().map(|l| l.price));
            ba.push(b.asks.first().map(|l| l.price));
            bp.push(text(&b.bids.iter().map(|l| l.price).collect::<Vec<_>>()));
            bs.push(text(&b.bids.iter().map(|l| l.qty).collect::<Vec<_>>()));
            ap.push(text(&b.asks.iter().map(|l| l.price).collect::<Vec<_>>()));
            asz.push(text(&b.asks.iter().map(|l| l.qty).collect::<Vec<_>>()));
        }
        let insert = sqlx::query(
            "INSERT INTO market_snapshots (id, ts, received_ts, venue, symbol, sequence, checksum, best_bid, best_ask,
                                           bid_prices, bid_sizes, ask_prices, ask_sizes)
             SELECT id, ts, rts, venue, symbol, seq, 'verified', bb, ba, bp::numeric[], bs::numeric[], ap::numeric[], asz::numeric[]
             FROM UNNEST($1::uuid[], $2::timestamptz[], $3::timestamptz[], $4::text[], $5::text[], $6::int8[],
                         $7::numeric[], $8::numeric[], $9::text[], $10::text[], $11::text[], $12::text[])
                  AS t(id, ts, rts, venue, symbol, seq, bb, ba, bp, bs, ap, asz)
             ON CONFLICT (id, ts) DO NOTHING",
        )
        .bind(&cols.0)
        .bind(&cols.1)
        .bind(&cols.2)
        .bind(&venue)
        .bind(&symbol)
        .bind(&seq)
        .bind(&bb)
        .bind(&ba);
        commit(pool, insert, [&bp, &bs, &ap, &asz]).await;
    }
    start.elapsed()
}

/// Binds the level arrays both inserts end with (bid prices, bid sizes, ask
/// prices, ask sizes) and commits the statement in a transaction of its own.
async fn commit<'q, T>(pool: &PgPool, insert: Query<'q, Postgres, PgArguments>, levels: [&'q T; 4])
where
    T: Encode<'q, Postgres> + Type<Postgres> + Sync,
{
    let insert = levels.into_iter().fold(insert, |q, side| q.bind(side));
    let mut tx = pool.begin().await.unwrap();
    insert.execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}

async fn naive(pool: &PgPool, books: &[BookSnapshot]) -> Duration {
    let start = Instant::now();
    for b in books {
        let bp: Vec<Decimal> = b.bids.iter().map(|l| l.price).collect();
        let bs: Vec<Decimal> = b.bids.iter().map(|l| l.qty).collect();
        let ap: Vec<Decimal> = b.asks.iter().map(|l| l.price).collect();
        let asz: Vec<Decimal> = b.asks.iter().map(|l| l.qty).collect();
        let insert = sqlx::query(
            "INSERT INTO market_snapshots (id, ts, received_ts, venue, symbol, sequence, checksum, best_bid, best_ask,
                                           bid_prices, bid_sizes, ask_prices, ask_sizes)
             VALUES ($1, $2, $3, $4, $5, $6, 'verified', $7, $8, $9, $10, $11, $12) ON CONFLICT (id, ts) DO NOTHING",
        )
        .bind(b.id)
        .bind(b.exchange_ts.unwrap_or(b.received_ts))
        .bind(b.received_ts)
        .bind(&b.venue)
        .bind(b.symbol.to_string())
        .bind(b.sequence.map(|s| s as i64))
        .bind(bp[0])
        .bind(ap[0]);
        commit(pool, insert, [&bp, &bs, &ap, &asz]).await;
    }
    start.elapsed()
}

/// The sink's run: from its first pull request (raw COPY's clock, too, starts
/// on a connection already open) to the ack of the last message; returns it
/// and the start-up before it (connecting, creating streams, partitions and
/// the consumer). `cpu_before` is reset when the clock starts, so the CPU
/// figures cover the timed part only.
async fn through_sink(
    tb_args: &NatsArgs,
    db_url: &str,
    pool: &PgPool,
    books: &[Decoded],
    streams: &StreamArgs,
    cpu_before: &mut [f64; 3],
) -> (Duration, Duration) {
    let bus = Bus::connect_once(tb_args, "bench").await.expect("NATS");
    let mut p = bus.publisher(1024);
    for b in books {
        let subject = b.subject(&bus.subjects).unwrap();
        p.publish_raw(
            subject,
            arb_runtime::headers::to_map(&b.headers(arb_contract::ContentType::Msgpack)),
            b.encode(arb_contract::ContentType::Msgpack).unwrap(),
        )
        .await
        .unwrap();
    }
    p.flush().await.unwrap();
    let durable = format!("bench-{}", uuid::Uuid::now_v7().simple());
    let extra: Vec<String> = std::env::var("ARB_BENCH_SINK_ARGS")
        .map(|v| v.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let cfg = arb_sink::SinkConfig::parse_from(
        [
            "arb-sink",
            "--database-url",
            db_url,
            "--durable",
            &durable,
            "--stream",
            "md",
            "--heartbeat-interval",
            "1h",
            "--md-max-bytes",
            &streams.md_max_bytes.to_string(),
            "--nats-url",
            &tb_args.nats_url,
            "--subject-prefix",
            tb_args.subject_prefix.as_deref().unwrap_or(""),
        ]
        .into_iter()
        .map(str::to_owned)
        .chain(extra),
    );
    use futures::StreamExt;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // The sink's acks, seen on the way to the server: the end is checked when
    // one passes, not by polling the server (whose CPU would count as the
    // sink's run) while the sink works.
    let stream_name = bus.subjects.stream_name(StreamKind::Md);
    let mut acks = bus
        .client
        .subscribe(format!("$JS.ACK.{stream_name}.{durable}.>"))
        .await
        .unwrap();
    // A copy of each pull request the sink sends: the first one starts the clock.
    let mut pulls = bus
        .client
        .subscribe(format!("$JS.API.CONSUMER.MSG.NEXT.{stream_name}.{durable}"))
        .await
        .unwrap();
    bus.client.flush().await.unwrap();
    perf_control("enable");
    let spawned = Instant::now();
    let sink = tokio::spawn(arb_sink::run(cfg, async move {
        let _ = stop_rx.await;
    }));
    pulls.next().await.expect("the sink's first pull request");
    let start = Instant::now();
    *cpu_before = cpu_seconds();
    drop(pulls);
    let stream = bus.js.get_stream(&stream_name).await.unwrap();
    loop {
        tokio::select! {
            _ = acks.next() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if let Ok(info) = stream.consumer_info(&durable).await
            && info.num_pending == 0
            && info.num_ack_pending == 0
            && info.delivered.stream_sequence > 0
        {
            break;
        }
    }
    let elapsed = start.elapsed();
    perf_control("disable");
    let _ = stop_tx.send(());
    sink.await.unwrap().unwrap();
    assert_eq!(
        count(pool).await as usize,
        books.len(),
        "the sink stored every message"
    );
    let _ = stream.delete_consumer(&durable).await;
    bus.drain().await;
    (elapsed, start - spawned)
}

/// The sink's CPU per message, no I/O: the general decoder alone, the
/// general decoder + COPY encode, and the fast book reader + COPY encode
/// (what the sink does with a MessagePack book).
fn cpu_per_message(books: &[Decoded]) -> [Duration; 3] {
    let subjects = arb_contract::Subjects::default();
    let payloads: Vec<(String, async_nats::HeaderMap, bytes::Bytes)> = books
        .iter()
        .map(|b| {
            (
                b.subject(&subjects).unwrap(),
                arb_runtime::headers::to_map(&b.headers(arb_contract::ContentType::Msgpack)),
                b.encode(arb_contract::ContentType::Msgpack).unwrap(),
            )
        })
        .collect();
    let start = Instant::now();
    let mut n = 0;
    for (s, h, p) in &payloads {
        n += arb_runtime::headers::decode_any(&subjects, s, Some(h), p).is_ok() as usize;
    }
    let decode = start.elapsed();
    assert_eq!(n, books.len());
    // In batches, each buffer reused as the sink reuses them.
    let buffers = arb_sink::rows::BufferPool::new(1);
    let start = Instant::now();
    for batch in payloads.chunks(BATCH) {
        let mut rows = CopyRows::with_buffer(Table::MarketSnapshots, buffers.take());
        for (s, h, p) in batch {
            let d = arb_runtime::headers::decode_any(&subjects, s, Some(h), p).unwrap();
            rows.push(&d, s).unwrap();
        }
        buffers.give(std::hint::black_box(rows.finish()));
    }
    let general = start.elapsed();
    let start = Instant::now();
    for batch in payloads.chunks(BATCH) {
        let mut rows = CopyRows::with_buffer(Table::MarketSnapshots, buffers.take());
        for (_, _, p) in batch {
            rows.push_msgpack_book(p)
                .expect("the fast reader takes the bench's books");
        }
        buffers.give(std::hint::black_box(rows.finish()));
    }
    [decode, general, start.elapsed()]
}

/// The NATS side alone: pull every message and ack it, no database.
async fn consume_only(tb_args: &NatsArgs, n: usize, ack_all: bool) -> Duration {
    use futures::StreamExt;
    let bus = Bus::connect_once(tb_args, "bench-consume")
        .await
        .expect("NATS");
    let durable = format!("bench-c-{}", uuid::Uuid::now_v7().simple());
    let policy = if ack_all {
        arb_runtime::bus::AckPolicy::All
    } else {
        arb_runtime::bus::AckPolicy::Explicit
    };
    let consumer = bus
        .durable_consumer(
            StreamKind::Md,
            &durable,
            vec![bus.subjects.stream_filter(StreamKind::Md)],
            20_000,
            Duration::from_secs(60),
            policy,
        )
        .await
        .unwrap();
    let start = Instant::now();
    let mut msgs = consumer
        .stream()
        .max_messages_per_batch(2_000)
        .messages()
        .await
        .unwrap();
    let mut seen = 0;
    while seen < n {
        let m = msgs.next().await.unwrap().unwrap();
        seen += 1;
        if !ack_all || seen % BATCH == 0 || seen == n {
            m.ack().await.unwrap();
        }
    }
    let elapsed = start.elapsed();
    let stream = bus
        .js
        .get_stream(bus.subjects.stream_name(StreamKind::Md))
        .await
        .unwrap();
    let _ = stream.delete_consumer(&durable).await;
    bus.drain().await;
    elapsed
}

#[tokio::main]
async fn main() {
    // The sink's own logs (a pause, a retry, gap filling) when RUST_LOG asks.
    if std::env::var_os("RUST_LOG").is_some() {
        arb_runtime::telemetry::init("bench");
    }
    let n: usize = std::env::var("ARB_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let naive_n = (n / 20).clamp(500, 5_000);
    let admin = arb_testkit::admin_database_url();
    let admin_pool = PgPool::connect(&admin)
        .await
        .expect("PostgreSQL (DATABASE_URL)");
    let db = format!("arb_bench_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {db}"))
        .execute(&admin_pool)
        .await
        .unwrap();
    let (server, _) = admin.split_once('?').unwrap_or((&admin, ""));
    let db_url = format!(
        "{}/{db}",
        server.rsplit_once('/').map(|(s, _)| s).unwrap_or(server)
    );
    let pool = arb_runtime::db::connect(&db_url, 4, Some(Duration::from_secs(10)))
        .await
        .unwrap();
    arb_runtime::db::migrate(&pool).await.unwrap();

    let ts0 = from_nanos(1_763_900_000_000_000_000);
    arb_runtime::db::ensure_partitions(&pool, ts0.date_naive(), 2)
        .await
        .unwrap();
    let books: Vec<BookSnapshot> = (0..n as u64)
        .map(|i| {
            sample::book(
                i,
                ["kraken", "binance", "coinbase"][(i % 3) as usize],
                "BTC/USD",
                10,
                ts0 + chrono::Duration::microseconds(i as i64 * 100),
            )
        })
        .collect();
    let decoded: Vec<Decoded> = books.iter().cloned().map(Decoded::Book).collect();

    let prefix = format!("bench.{}", uuid::Uuid::now_v7().simple());
    let nats = NatsArgs {
        nats_url: arb_testkit::nats_url(),
        subject_prefix: Some(prefix),
        ..NatsArgs::default()
    };
    let streams = StreamArgs {
        md_max_bytes: 2 << 30,
        ..StreamArgs::default()
    };
    let bus = Bus::connect_once(&nats, "bench").await.expect("NATS");
    bus.ensure_streams(&streams).await.unwrap();

    eprintln!("measuring {n} 10-level snapshots ({naive_n} for the naive writer)...");
    // Raw COPY and the sink take turns, ARB_BENCH_ROUNDS times (default 5),
    // and the table shows each one's median run: this machine's speed drifts
    // by ±20% from one minute to the next.
    let rounds: usize = std::env::var("ARB_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let mut raw_runs = Vec::new();
    let mut sink_runs = Vec::new();
    let mut startups = Vec::new();
    // sink / raw COPY per round, without and with the sink's start-up.
    let mut ratios = Vec::new();
    let mut ratios_with_startup = Vec::new();
    let md = bus
        .js
        .get_stream(bus.subjects.stream_name(StreamKind::Md))
        .await
        .unwrap();
    for round in 1..=rounds {
        // Each round the same: fresh ids into an emptied stream. (Republished
        // ids would be dropped by JetStream's duplicate window, and the sink
        // would read messages stored a round earlier instead of just
        // published, as when it keeps up with live traffic.)
        md.purge().await.unwrap();
        let decoded: Vec<Decoded> = books
            .iter()
            .map(|b| {
                let mut b = b.clone();
                b.id = uuid::Uuid::now_v7();
                Decoded::Book(b)
            })
            .collect();
        truncate(&pool).await;
        let mut before = cpu_seconds();
        let raw = raw_copy(&pool, &decoded, &mut before).await;
        raw_runs.push((raw, cpu_since(before)));
        truncate(&pool).await;
        let mut before = cpu_seconds();
        let (sink, startup) =
            through_sink(&nats, &db_url, &pool, &decoded, &streams, &mut before).await;
        sink_runs.push((sink, cpu_since(before)));
        startups.push(startup);
        ratios.push(raw.as_secs_f64() / sink.as_secs_f64());
        ratios_with_startup.push(raw.as_secs_f64() / (sink + startup).as_secs_f64());
        eprintln!(
            "round {round}/{rounds}: raw COPY {:.0} rows/s, sink {:.0} rows/s = {:.0}% \
             (start-up before the first pull {:.0} ms; with it {:.0}%)",
            n as f64 / raw.as_secs_f64(),
            n as f64 / sink.as_secs_f64(),
            100.0 * ratios[round - 1],
            startup.as_secs_f64() * 1e3,
            100.0 * ratios_with_startup[round - 1]
        );
    }
    let mut runs = Runs::new();
    let (raw, raw_cpu) = median_by(&raw_runs, |r| r.0);
    runs.record(
        ("raw binary COPY, one transaction (the limit)", n, raw),
        raw_cpu,
    );
    let (sink, sink_cpu) = median_by(&sink_runs, |r| r.0);
    runs.record(
        ("arb-sink: JetStream -> PostgreSQL, commit + ack", n, sink),
        sink_cpu,
    );
    // ARB_BENCH_QUICK=1: only raw COPY, the sink and naive (for profiling).
    let quick = std::env::var("ARB_BENCH_QUICK").is_ok_and(|v| v == "1");
    truncate(&pool).await;
    if !quick {
        runs.push((
            "JetStream pull + ack only, no database (NATS ceiling)",
            n,
            consume_only(&nats, n, false).await,
        ));
        runs.close();
        runs.push((
            "JetStream pull + one AckAll ack per 2,000, no database",
            n,
            consume_only(&nats, n, true).await,
        ));
        runs.close();
        truncate(&pool).await;
        runs.push((
            "sink writer: COPY per 2,000-row batch (default)",
            n,
            writer_batches(&pool, &decoded, WriteMode::Copy).await,
        ));
        runs.close();
        truncate(&pool).await;
        runs.push((
            "sink writer: staged COPY + INSERT ON CONFLICT",
            n,
            writer_batches(&pool, &decoded, WriteMode::Staged).await,
        ));
        runs.close();
        truncate(&pool).await;
        runs.push((
            "INSERT ... SELECT FROM UNNEST per 2,000 rows",
            n,
            unnest_batches(&pool, &books).await,
        ));
        runs.close();
        truncate(&pool).await;
    }
    runs.push((
        "naive: one INSERT + commit per message",
        naive_n,
        naive(&pool, &books[..naive_n]).await,
    ));
    runs.close();

    let [dec, dec_enc, fast_enc] = cpu_per_message(&decoded);
    let rate = |r: &(&str, usize, Duration)| r.1 as f64 / r.2.as_secs_f64();
    let (results, cpu) = (&runs.results, &runs.cpu);
    let copy_rate = rate(&results[0]);
    let naive_rate = rate(&results[results.len() - 1]);
    println!();
    println!(
        "| method | rows | seconds | rows/s | vs raw COPY | vs naive | CPU s: bench+sink / nats-server / postgres |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|");
    for (r, c) in results.iter().zip(cpu) {
        println!(
            "| {} | {} | {:.2} | {:.0} | {:.0}% | {:.1}x | {:.2} / {:.2} / {:.2} |",
            r.0,
            r.1,
            r.2.as_secs_f64(),
            rate(r),
            100.0 * rate(r) / copy_rate,
            rate(r) / naive_rate,
            c[0],
            c[1],
            c[2]
        );
    }
    let sink_rate = rate(&results[1]);
    println!();
    println!(
        "sink / raw COPY per round: {} (median {:.0}%)",
        ratios
            .iter()
            .map(|r| format!("{:.0}%", 100.0 * r))
            .collect::<Vec<_>>()
            .join(", "),
        100.0 * median_by(&ratios, |r| *r)
    );
    println!(
        "the sink's start-up before its first pull (not timed above): median {:.0} ms; \
         counting it, the sink is at {:.0}% of raw COPY (median of the rounds)",
        median_by(&startups, |d| *d).as_secs_f64() * 1e3,
        100.0 * median_by(&ratios_with_startup, |r| *r)
    );
    println!(
        "sink = {:.0}% of raw COPY (medians; target >= 80%), {:.1}x one-insert-per-message (target >= 30x); peak RSS of this process {:.0} MiB",
        100.0 * sink_rate / copy_rate,
        sink_rate / naive_rate,
        peak_rss_mib()
    );

    println!(
        "sink CPU per message, no I/O: general decode {:.2} us, general decode + COPY encode {:.2} us, \
         fast book reader + COPY encode (the sink's path) {:.2} us",
        dec.as_secs_f64() * 1e6 / n as f64,
        dec_enc.as_secs_f64() * 1e6 / n as f64,
        fast_enc.as_secs_f64() * 1e6 / n as f64
    );

    for kind in StreamKind::ALL {
        let _ = bus.js.delete_stream(bus.subjects.stream_name(kind)).await;
    }
    pool.close().await;
    let _ = sqlx::query(&format!("DROP DATABASE {db} WITH (FORCE)"))
        .execute(&admin_pool)
        .await;
}
