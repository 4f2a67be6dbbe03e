//! What the detector's tests share: the real `arb-detector` binary as a
//! child process ([`Proc`]) on a test bus of its own ([`TestBus`]: a subject
//! prefix and streams on the real NATS), books built by hand, and waits
//! on on what the detector publishes.
#![allow(dead_code, unreachable_pub)]

use std::str::FromStr;

use arb_contract::time::{Timestamp, from_nanos};
use arb_contract::{BookSnapshot, DeadLetter, Level, Message, Opportunity, ids, sample};
use arb_testkit::{Proc, TestBus, WAIT, first_heartbeat, nats_url, stream_limit_args};
use futures::StreamExt;
use rust_decimal::Decimal;

/// The real `arb-detector` on a test bus of its own, and the opportunities
/// it publishes.
pub struct Detector {
    pub tb: TestBus,
    pub opps: async_nats::Subscriber,
    proc: Proc,
}

impl Detector {
    /// Starts `arb-detector --strategy=<strategy>` with `args`, and waits for
    /// its first heartbeat: it is subscribed to books by then (it flushes its
    /// subscriptions before its first beat).
    pub async fn start(strategy: &str, args: &[&str]) -> Detector {
        let tb = TestBus::new(&format!("detector-{strategy}")).await;
        let opps = subscribe(&tb, "arb.opp.>").await;
        let args: Vec<String> = [
            format!("--strategy={strategy}"),
            "--heartbeat-interval=1s".into(),
        ]
        .into_iter()
        .chain(stream_limit_args())
        .chain(args.iter().map(|s| s.to_string()))
        .collect();
        let env = [
            ("NATS_URL", nats_url()),
            ("ARB_SUBJECT_PREFIX", tb.prefix.clone()),
        ];
        let proc = Proc::spawn("arb-detector", &args, &env);
        let service = format!("detector-{strategy}");
        let state = first_heartbeat(&tb.bus, &service).await;
        assert_eq!(state.service, service);
        Detector { tb, opps, proc }
    }

    /// SIGTERM: the detector closes its open episodes and exits 0.
    pub async fn stop(&mut self) {
        let status = self.proc.terminate().await;
        assert!(status.success(), "detector exited with {status}");
    }
}

/// A core NATS subscription under the test's prefix, known to the server
/// when this returns.
pub async fn subscribe(tb: &TestBus, pattern: &str) -> async_nats::Subscriber {
    let s = tb
        .bus
        .client
        .subscribe(tb.bus.subjects.with_prefix(pattern))
        .await
        .expect("cannot subscribe");
    tb.bus.client.flush().await.expect("cannot flush");
    s
}

pub async fn next(sub: &mut async_nats::Subscriber, what: &str) -> async_nats::Message {
    match tokio::time::timeout(WAIT, sub.next()).await {
        Ok(Some(m)) => m,
        Ok(None) => panic!("subscription closed while waiting for {what}"),
        Err(_) => panic!("no {what} within {WAIT:?}"),
    }
}

/// The next message on `sub`, decoded (and so validated).
pub async fn next_msg<M: Message>(sub: &mut async_nats::Subscriber, what: &str) -> M {
    let m = next(sub, what).await;
    arb_runtime::headers::decode(m.headers.as_ref(), &m.payload)
        .unwrap_or_else(|e| panic!("{what} does not decode: {e}"))
}

pub async fn next_opp(sub: &mut async_nats::Subscriber, what: &str) -> Opportunity {
    next_msg(sub, what).await
}

pub async fn next_letter(sub: &mut async_nats::Subscriber, what: &str) -> DeadLetter {
    next_msg(sub, what).await
}

pub fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// A `(price, size)` level as text.
pub type Px<'a> = (&'a str, &'a str);

pub fn at_ms(ms: i64) -> Timestamp {
    from_nanos(1_800_000_000_000_000_000 + ms * 1_000_000)
}

pub fn level((price, size): Px) -> Level {
    Level::new(dec(price), dec(size))
}

/// A one-level book of `venue` and `symbol` at `ms` (exchange time), its id
/// derived from those; the contract's sample book for the rest.
pub fn book(venue: &str, symbol: &str, ms: i64, bid: Px, ask: Px) -> BookSnapshot {
    let mut b = sample::book(0, venue, symbol, 0, at_ms(ms));
    b.id = ids::derive(
        at_ms(ms),
        &[b"test-book", venue.as_bytes(), symbol.as_bytes()],
    );
    (b.bids, b.asks) = (vec![level(bid)], vec![level(ask)]);
    b
}

/// Publishes the books on their subjects, as a feed does (JetStream, so the
/// MD stream stores them too), and waits for the stream's acks. The
/// publisher encodes without checking, so an invalid book goes out as it is.
pub async fn publish_books(tb: &TestBus, books: &[BookSnapshot]) {
    let mut p = tb.bus.publisher(16);
    for b in books {
        p.publish(b).await.expect("cannot publish a book");
    }
    p.flush().await.expect("book publishes not acknowledged");
}
