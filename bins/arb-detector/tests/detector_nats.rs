//! The real `arb-detector` binary against the real NATS at
//! nats://127.0.0.1:4222 (or `NATS_URL`), each test under its own subject
//! prefix: books in, one `open` and one `close` per episode out; a bad payload
//! is dead-lettered and the detector keeps going.
#![allow(unused_crate_dependencies)]

use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::Duration;

use arb_contract::subject::StreamKind;
use arb_contract::time::{Timestamp, from_nanos};
use arb_contract::{
    BookSnapshot, ChecksumStatus, DeadLetter, EpisodeState, Level, Opportunity, OpportunityKind,
    RuntimeState, Side,
};
use arb_runtime::bus::Bus;
use arb_runtime::config::{NatsArgs, StreamArgs};
use futures::StreamExt;
use rust_decimal::Decimal;

/// How long to wait for a message before failing (never a speed assertion).
const WAIT: Duration = Duration::from_secs(30);

fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn small_streams() -> StreamArgs {
    StreamArgs {
        md_max_age: Duration::from_secs(3600),
        md_max_bytes: 64 << 20,
        arb_max_age: Duration::from_secs(3600),
        arb_max_bytes: 16 << 20,
        exec_max_age: Duration::from_secs(3600),
        exec_max_bytes: 16 << 20,
        sys_max_age: Duration::from_secs(3600),
        sys_max_bytes: 16 << 20,
        duplicate_window: Duration::from_secs(60),
    }
}

const STREAM_FLAGS: [&str; 8] = [
    "--md-max-bytes=64MiB",
    "--md-max-age=1h",
    "--arb-max-bytes=16MiB",
    "--arb-max-age=1h",
    "--exec-max-bytes=16MiB",
    "--exec-max-age=1h",
    "--sys-max-bytes=16MiB",
    "--sys-max-age=1h",
];

/// Kills the child if the test fails before stopping it.
struct Detector(Option<Child>);

impl Drop for Detector {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Detector {
    fn start(prefix: &str, args: &[&str]) -> Detector {
        let child = Command::new(env!("CARGO_BIN_EXE_arb-detector"))
            .env("NATS_URL", nats_url())
            .env("RUST_LOG", "warn")
            .arg("--subject-prefix")
            .arg(prefix)
            .arg("--heartbeat-interval=1s")
            .args(STREAM_FLAGS)
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .expect("cannot start the arb-detector binary");
        Detector(Some(child))
    }

    /// SIGTERM, then the exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.0.take().expect("detector already stopped");
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .expect("cannot run kill");
        assert!(ok.success(), "kill -TERM failed");
        for _ in 0..300 {
            if let Some(status) = child.try_wait().expect("cannot wait for the detector") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        panic!("the detector did not exit within 30 s of SIGTERM");
    }
}

struct Setup {
    bus: Bus,
    prefix: String,
}

impl Setup {
    async fn new() -> Setup {
        let prefix = format!("t.det.{}", uuid::Uuid::now_v7().simple());
        let args = NatsArgs {
            nats_url: nats_url(),
            subject_prefix: Some(prefix.clone()),
            ..NatsArgs::default()
        };
        let bus = Bus::connect_once(&args, "detector-test")
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "this test needs NATS with JetStream at {} (set NATS_URL): {e}",
                    nats_url()
                )
            });
        bus.ensure_streams(&small_streams())
            .await
            .expect("cannot create the test streams");
        Setup { bus, prefix }
    }

    async fn subscribe(&self, pattern: &str) -> async_nats::Subscriber {
        let s = self
            .bus
            .client
            .subscribe(self.bus.subjects.with_prefix(pattern))
            .await
            .expect("cannot subscribe");
        self.bus.client.flush().await.expect("cannot flush");
        s
    }

    async fn cleanup(self) {
        for kind in StreamKind::ALL {
            let _ = self
                .bus
                .js
                .delete_stream(self.bus.subjects.stream_name(kind))
                .await;
        }
        self.bus.drain().await;
    }
}

async fn next(sub: &mut async_nats::Subscriber, what: &str) -> async_nats::Message {
    match tokio::time::timeout(WAIT, sub.next()).await {
        Ok(Some(m)) => m,
        Ok(None) => panic!("subscription closed while waiting for {what}"),
        Err(_) => panic!("no {what} within {WAIT:?}"),
    }
}

async fn next_opp(sub: &mut async_nats::Subscriber, what: &str) -> Opportunity {
    let m = next(sub, what).await;
    arb_runtime::headers::decode(m.headers.as_ref(), &m.payload)
        .expect("opportunity does not decode")
}

/// Waits for the first heartbeat: the detector is subscribed by then.
async fn wait_ready(hb: &mut async_nats::Subscriber, strategy: &str) {
    let m = next(hb, "the detector's heartbeat").await;
    let state: RuntimeState = arb_runtime::headers::decode(m.headers.as_ref(), &m.payload).unwrap();
    assert_eq!(state.service, format!("detector-{strategy}"));
}

fn at_ms(ms: i64) -> Timestamp {
    from_nanos(1_800_000_000_000_000_000 + ms * 1_000_000)
}

fn book(venue: &str, symbol: &str, ms: i64, bid: (&str, &str), ask: (&str, &str)) -> BookSnapshot {
    BookSnapshot {
        id: uuid::Uuid::now_v7(),
        venue: venue.into(),
        symbol: symbol.parse().unwrap(),
        exchange_ts: Some(at_ms(ms)),
        received_ts: at_ms(ms + 1),
        sequence: Some(ms as u64),
        checksum: ChecksumStatus::NotProvided,
        bids: vec![Level::new(dec(bid.0), dec(bid.1))],
        asks: vec![Level::new(dec(ask.0), dec(ask.1))],
    }
}

async fn publish_books(setup: &Setup, books: &[BookSnapshot]) {
    let mut p = setup.bus.publisher(16);
    for b in books {
        p.publish(b).await.expect("cannot publish a book");
    }
    p.flush().await.expect("book publishes not acknowledged");
}

#[tokio::test]
async fn cross_episode_opens_once_closes_once_and_survives_a_bad_payload() {
    let setup = Setup::new().await;
    let mut opps = setup.subscribe("arb.opp.>").await;
    let mut letters = setup.subscribe("sys.dlq.detector-cross").await;
    let mut hb = setup.subscribe("sys.state.detector-cross").await;
    let mut det = Detector::start(
        &setup.prefix,
        &[
            "--strategy=cross",
            "--fee=sim-a=0.001,sim-b=0.002",
            "--min-net-edge-bps=5",
            "--edge-tolerance-bps=2",
            "--max-book-age=10s",
        ],
    );
    wait_ready(&mut hb, "cross").await;

    // sim-a asks 100, sim-b bids 101: buy a, sell b. Net of fees:
    // 101 × 0.998 − 100 × 1.001 = 0.698 on 100 → 69.8 bp; gross 100 bp.
    // Then the same prices on new ticks (no message), then b's bid falls (close).
    let first = vec![
        book("sim-a", "BTC/USD", 0, ("99", "1"), ("100", "1")),
        book("sim-b", "BTC/USD", 10, ("101", "1"), ("102", "1")),
        book("sim-a", "BTC/USD", 20, ("99", "1"), ("100", "1")),
        book("sim-b", "BTC/USD", 30, ("101", "1"), ("102", "1")),
        book("sim-b", "BTC/USD", 40, ("101.01", "1"), ("102", "1")),
        book("sim-b", "BTC/USD", 50, ("100.2", "1"), ("102", "1")),
    ];
    publish_books(&setup, &first).await;

    // A bad payload on a book subject.
    let bad_subject = setup.bus.subjects.with_prefix("md.book.sim-a.BTC-USD");
    setup
        .bus
        .client
        .publish(bad_subject.clone(), "this is not a book".into())
        .await
        .unwrap();
    setup.bus.client.flush().await.unwrap();

    // Then a second dislocation on ETH: it must still be detected.
    let second = vec![
        book("sim-a", "ETH/USD", 60, ("9", "2"), ("10", "2")),
        book("sim-b", "ETH/USD", 70, ("10.2", "1"), ("10.5", "1")),
    ];
    publish_books(&setup, &second).await;

    // Messages arrive in the order the books were processed, so everything
    // the first books caused is in before the second episode's open.
    let mut got = Vec::new();
    loop {
        let o = next_opp(&mut opps, "an opportunity").await;
        let done = o.key.starts_with("ETH-USD") && o.state == EpisodeState::Open;
        got.push(o);
        if done {
            break;
        }
    }
    let btc: Vec<&Opportunity> = got
        .iter()
        .filter(|o| o.key.starts_with("BTC-USD"))
        .collect();
    let states: Vec<(&str, EpisodeState)> = btc.iter().map(|o| (o.key.as_str(), o.state)).collect();
    assert_eq!(
        states,
        vec![
            ("BTC-USD_sim-a_sim-b", EpisodeState::Open),
            ("BTC-USD_sim-a_sim-b", EpisodeState::Close)
        ],
        "exactly one open and one close, nothing per tick: {got:#?}"
    );
    let (open, close) = (btc[0], btc[1]);
    assert_eq!(open.episode_id, close.episode_id);
    assert_ne!(open.id, close.id);
    assert_eq!(open.kind, OpportunityKind::Cross);
    assert_eq!(open.net_edge_bps, dec("69.8"));
    assert_eq!(open.gross_edge_bps, dec("100"));
    assert_eq!(open.expected_profit, dec("0.698"));
    assert_eq!(open.notional, dec("100"));
    assert_eq!(open.currency, "USD");
    assert_eq!(open.legs.len(), 2);
    let (buy, sell) = (&open.legs[0], &open.legs[1]);
    assert_eq!(
        (
            buy.venue.as_str(),
            buy.side,
            buy.qty,
            buy.vwap,
            buy.fee_rate
        ),
        ("sim-a", Side::Buy, dec("1"), dec("100"), dec("0.001"))
    );
    assert_eq!(
        (
            sell.venue.as_str(),
            sell.side,
            sell.qty,
            sell.vwap,
            sell.fee_rate
        ),
        ("sim-b", Side::Sell, dec("1"), dec("101"), dec("0.002"))
    );
    // Latency can be read off the message: book time, receive, publish.
    assert_eq!(open.book_ts, at_ms(10));
    let (rx, tx) = (open.received_ts.unwrap(), open.published_ts.unwrap());
    assert!(tx >= rx, "published before received");
    assert_eq!(close.book_ts, at_ms(50));
    assert_eq!(close.duration_ms, Some(40));
    // 101.01 × 0.998 − 100.1 = 0.70798: 70.798 bp, within the 2 bp tolerance
    // of 69.8 (no update) but the peak.
    assert_eq!(close.peak_edge_bps, Some(dec("70.798")));
    assert_eq!(close.opened_ts, Some(at_ms(10)));

    let eth = got.last().unwrap();
    assert_eq!(eth.key, "ETH-USD_sim-a_sim-b");
    assert_ne!(eth.episode_id, open.episode_id);

    // The bad payload was dead-lettered with its reason.
    let m = next(&mut letters, "a dead letter for the bad payload").await;
    let letter: DeadLetter = arb_runtime::headers::decode(m.headers.as_ref(), &m.payload).unwrap();
    assert_eq!(letter.service, "detector-cross");
    assert_eq!(letter.subject, bad_subject);
    assert!(letter.reason.contains("msgpack"), "{}", letter.reason);
    assert_eq!(letter.payload, b"this is not a book");

    // SIGTERM: the open ETH episode is closed, and the process exits 0.
    let status = det.stop();
    assert!(status.success(), "detector exited with {status}");
    let last = next_opp(&mut opps, "the close at shutdown").await;
    assert_eq!(
        (last.key.as_str(), last.state, last.episode_id),
        ("ETH-USD_sim-a_sim-b", EpisodeState::Close, eth.episode_id)
    );
    setup.cleanup().await;
}

#[tokio::test]
async fn triangular_episode_opens_and_closes() {
    let setup = Setup::new().await;
    let mut opps = setup.subscribe("arb.opp.triangular.>").await;
    let mut hb = setup.subscribe("sys.state.detector-triangular").await;
    let mut det = Detector::start(
        &setup.prefix,
        &[
            "--strategy=triangular",
            "--start-currency=USD",
            "--default-fee=0.001",
            "--min-net-edge-bps=5",
        ],
    );
    wait_ready(&mut hb, "triangular").await;
    // USD → BTC (ask 100) → ETH (ask 0.05) → USD (bid 5.1): 200 bp gross,
    // 1.02 × 0.999³ → 169.4306 bp net; then ETH/USD's bid falls to 5.0.
    let books = vec![
        book("sim-c", "BTC/USD", 0, ("99", "1"), ("100", "1")),
        book("sim-c", "ETH/BTC", 0, ("0.049", "10"), ("0.05", "10")),
        book("sim-c", "ETH/USD", 0, ("5.1", "100"), ("5.2", "100")),
        book("sim-c", "ETH/USD", 10, ("5.0", "100"), ("5.2", "100")),
    ];
    publish_books(&setup, &books).await;
    let open = next_opp(&mut opps, "the triangular open").await;
    let close = next_opp(&mut opps, "the triangular close").await;
    assert_eq!(
        (open.state, close.state),
        (EpisodeState::Open, EpisodeState::Close)
    );
    assert_eq!(open.key, "sim-c_USD-BTC-ETH");
    assert_eq!(open.episode_id, close.episode_id);
    assert_eq!(open.net_edge_bps, dec("169.4306"));
    assert_eq!(open.gross_edge_bps, dec("200"));
    assert_eq!(open.legs.len(), 3);
    assert_eq!(close.duration_ms, Some(10));
    let status = det.stop();
    assert!(status.success(), "detector exited with {status}");
    setup.cleanup().await;
}

#[tokio::test]
async fn core_publish_opportunities_are_still_stored_by_the_arb_stream() {
    let setup = Setup::new().await;
    let mut opps = setup.subscribe("arb.opp.>").await;
    let mut hb = setup.subscribe("sys.state.detector-cross").await;
    let mut det = Detector::start(
        &setup.prefix,
        &[
            "--strategy=cross",
            "--core-publish",
            "--fee=sim-a=0.001,sim-b=0.002",
        ],
    );
    wait_ready(&mut hb, "cross").await;
    publish_books(
        &setup,
        &[
            book("sim-a", "BTC/USD", 0, ("99", "1"), ("100", "1")),
            book("sim-b", "BTC/USD", 10, ("101", "1"), ("102", "1")),
        ],
    )
    .await;
    let open = next_opp(&mut opps, "the open").await;
    assert_eq!(
        (open.key.as_str(), open.state),
        ("BTC-USD_sim-a_sim-b", EpisodeState::Open)
    );
    let stream = setup
        .bus
        .js
        .get_stream(setup.bus.subjects.stream_name(StreamKind::Arb))
        .await
        .expect("the ARB stream exists");
    let subject = setup
        .bus
        .subjects
        .opportunity(OpportunityKind::Cross, "BTC-USD_sim-a_sim-b")
        .unwrap();
    // The stream stores it on its own schedule: poll for it (a deadline for
    // failing, not a speed assertion).
    let mut stored = None;
    for _ in 0..100 {
        if let Ok(m) = stream.get_last_raw_message_by_subject(&subject).await {
            stored = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stored = stored.expect("the opportunity was not stored by the ARB stream");
    let stored: Opportunity = arb_runtime::headers::decode(Some(&stored.headers), &stored.payload)
        .expect("stored opportunity decodes");
    assert_eq!(stored.id, open.id);
    assert_eq!(stored.net_edge_bps, dec("69.8"));
    let status = det.stop();
    assert!(status.success(), "detector exited with {status}");
    setup.cleanup().await;
}
