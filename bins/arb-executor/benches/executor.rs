#![allow(unused_crate_dependencies)]
//! The executor's latencies against the real NATS (`NATS_URL`), the executor
//! running in this process on a prefix of its own:
//!
//! - decision latency: an opportunity published → its first order event
//!   received, beside the bare hop (a JetStream publish → a subscriber) in
//!   the same run; the difference is the executor's own time;
//! - kill switch: a `trading_state` write to the KV bucket → the executor's
//!   audit record of it received.
//!
//! `cargo bench -p arb-executor --bench executor` (ROUNDS, N to change the
//! size). Medians of rounds are printed, never asserted.

use std::time::{Duration, Instant};

use arb_contract::codec::{ContentType, Decoded};
use arb_contract::{BookSnapshot, Opportunity};
use arb_testkit::{TestBus, first_heartbeat, stream_limit_args, subscribe};
use clap::Parser;
use futures::StreamExt;
use hdrhistogram::Histogram;

#[path = "../tests/common/mod.rs"]
mod common;

/// The book both legs trade on, deep enough for every round.
fn book(venue: &str) -> BookSnapshot {
    match venue {
        "sim-a" => common::book(venue, 1, "99.9", "100", "50"),
        _ => common::book(venue, 1, "101", "101.1", "50"),
    }
}

/// Episode `n`, on the books' time; 2 USD a leg (the sim venues' minimum
/// notional is 1).
fn opportunity(n: u64) -> Opportunity {
    common::opportunity(u128::from(n), 1, "sim-a", "0.02")
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

async fn publish(tb: &TestBus, m: &Decoded) -> Instant {
    let subject = m.subject(&tb.bus.subjects).unwrap();
    let headers = arb_runtime::headers::to_map(&m.headers(ContentType::Msgpack));
    let t = Instant::now();
    tb.bus
        .js
        .publish_with_headers(subject, headers, m.encode(ContentType::Msgpack).unwrap())
        .await
        .unwrap()
        .await
        .unwrap();
    t
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let n: u64 = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let tb = TestBus::new("bench-executor").await;
    // The operator's (`arbctl streams --ensure`): the executor only opens it.
    tb.ensure_config_bucket().await;
    let mut args = vec![
        "arb-executor".to_owned(),
        format!("--nats-url={}", tb.args.nats_url),
        format!("--subject-prefix={}", tb.prefix),
        // The bare hop's subject (`arb.opp.hop.x`) is not read.
        "--opportunities=arb.opp.cross.>".into(),
        "--latency=0ms".into(),
        "--latency-jitter=0ms".into(),
        "--heartbeat-interval=1s".into(),
        "--balance=sim-a:USD=100000000,BTC=1000".into(),
        "--balance=sim-b:USD=100000000,BTC=1000".into(),
    ];
    args.extend(stream_limit_args());
    let config = arb_executor::Config::parse_from(args);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let exe = tokio::spawn(arb_executor::run(config, async {
        let _ = stopped.await;
    }));
    first_heartbeat(&tb.bus, "executor").await;
    tb.publish_all(&[Decoded::Book(book("sim-a")), Decoded::Book(book("sim-b"))])
        .await;

    let mut orders = subscribe(&tb.bus, tb.bus.subjects.with_prefix("exec.order.>")).await;
    let mut hops = subscribe(&tb.bus, tb.bus.subjects.with_prefix("arb.opp.hop.>")).await;
    let mut audit = subscribe(&tb.bus, tb.bus.subjects.with_prefix("sys.audit.executor")).await;
    let store = arb_runtime::kv::bucket(&tb.bus, "arb_config", 64)
        .await
        .unwrap();

    let (mut d50, mut d99, mut h50, mut h99, mut k50, mut k99) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut next = 0u64;
    for round in 0..rounds {
        let (mut dec, mut hop, mut kv) = (
            Histogram::<u64>::new(3).unwrap(),
            Histogram::<u64>::new(3).unwrap(),
            Histogram::<u64>::new(3).unwrap(),
        );
        for _ in 0..n {
            // The bare hop: the same kind of message, on a subject the
            // executor does not read, to a core subscriber.
            let mut o = opportunity(next);
            o.key = "hop".into();
            // Another id, or JetStream would drop the real one as a duplicate.
            o.id = uuid::Uuid::from_u128(0xdead_0000 + u128::from(next));
            let m = Decoded::Opportunity(o.clone());
            let subject = tb.bus.subjects.with_prefix("arb.opp.hop.x");
            let headers = arb_runtime::headers::to_map(&m.headers(ContentType::Msgpack));
            let t = Instant::now();
            tb.bus
                .js
                .publish_with_headers(subject, headers, m.encode(ContentType::Msgpack).unwrap())
                .await
                .unwrap();
            hops.next().await.unwrap();
            hop.record(us(t.elapsed())).unwrap();

            let t = publish(&tb, &Decoded::Opportunity(opportunity(next))).await;
            // Its first order event (a leg's `new`), then the rest of the trade.
            let first = orders.next().await.unwrap();
            dec.record(us(t.elapsed())).unwrap();
            let first: arb_contract::OrderEvent =
                arb_runtime::headers::decode(first.headers.as_ref(), &first.payload).unwrap();
            assert_eq!(
                first.status,
                arb_contract::OrderStatus::New,
                "not traded: {:?}",
                first.reason
            );
            for _ in 0..3 {
                orders.next().await.unwrap();
            }
            next += 1;
        }
        for i in 0..(n / 10).max(4) {
            let state = if i % 2 == 0 { "halted" } else { "active" };
            let t = Instant::now();
            arb_runtime::kv::put(&store, "trading_state", bytes::Bytes::from(state))
                .await
                .unwrap();
            audit.next().await.unwrap();
            kv.record(us(t.elapsed())).unwrap();
        }
        println!(
            "round {round}: decision p50 {} us p99 {} us | bare hop p50 {} us p99 {} us | kv write -> halt applied p50 {} us p99 {} us",
            dec.value_at_quantile(0.5),
            dec.value_at_quantile(0.99),
            hop.value_at_quantile(0.5),
            hop.value_at_quantile(0.99),
            kv.value_at_quantile(0.5),
            kv.value_at_quantile(0.99)
        );
        d50.push(dec.value_at_quantile(0.5));
        d99.push(dec.value_at_quantile(0.99));
        h50.push(hop.value_at_quantile(0.5));
        h99.push(hop.value_at_quantile(0.99));
        k50.push(kv.value_at_quantile(0.5));
        k99.push(kv.value_at_quantile(0.99));
    }
    let (d50, d99, h50, h99) = (median(d50), median(d99), median(h50), median(h99));
    println!(
        "medians of {rounds} rounds of {n}: decision latency p50 {d50} us, p99 {d99} us; bare NATS hop p50 {h50} us, p99 {h99} us; over the hop p50 {} us, p99 {} us; kv write -> halt applied p50 {} us, p99 {} us",
        d50.saturating_sub(h50),
        d99.saturating_sub(h99),
        median(k50),
        median(k99)
    );
    let _ = stop.send(());
    let _ = exe.await;
    tb.cleanup().await;
}
