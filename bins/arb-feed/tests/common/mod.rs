//! Test harness: a unique subject prefix on the real NATS, a subscriber that
//! decodes what the feed publishes, a mock WebSocket server on 127.0.0.1, the
//! feed run in-process through `arb_feed::run`, and an independent model of
//! the expected book.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::time::Duration;

use arb_contract::model::{
    AuditEvent, BookSnapshot, FeedState, FeedStatus, ResyncReason, RuntimeState,
};
use arb_contract::subject::StreamKind;
use arb_contract::{Decoded, Level, Subjects};
use arb_feed::Config;
use arb_runtime::bus::Bus;
use arb_runtime::config::{NatsArgs, StreamArgs};
use clap::Parser;
use futures::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

pub const NATS_URL: &str = "nats://127.0.0.1:4222";
/// Generous: a wait that ends in a panic, never a timing assertion.
pub const WAIT: Duration = Duration::from_secs(30);

pub fn small_streams() -> StreamArgs {
    let hour = Duration::from_secs(3600);
    StreamArgs {
        md_max_age: hour,
        arb_max_age: hour,
        exec_max_age: hour,
        sys_max_age: hour,
        md_max_bytes: 64 << 20,
        arb_max_bytes: 16 << 20,
        exec_max_bytes: 16 << 20,
        sys_max_bytes: 16 << 20,
        ..StreamArgs::default()
    }
}

pub struct Harness {
    pub prefix: String,
    pub subjects: Subjects,
    pub bus: Bus,
    sub: async_nats::Subscriber,
    /// Everything received so far, in order.
    pub seen: Vec<Decoded>,
    feed: Option<(
        oneshot::Sender<()>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    )>,
}

impl Harness {
    pub async fn new() -> Harness {
        let prefix = format!("t.feed.{}", uuid::Uuid::now_v7().simple());
        let args = NatsArgs {
            nats_url: NATS_URL.into(),
            subject_prefix: Some(prefix.clone()),
            ..NatsArgs::default()
        };
        let bus = Bus::connect_once(&args, "feed-test").await.unwrap_or_else(|e| {
            panic!("these tests need NATS with JetStream at {NATS_URL} (e.g. `docker compose up -d nats`): {e}")
        });
        bus.ensure_streams(&small_streams())
            .await
            .expect("cannot create the test's JetStream streams");
        let sub = bus
            .client
            .subscribe(format!("{prefix}.>"))
            .await
            .expect("cannot subscribe on NATS");
        bus.client.flush().await.expect("NATS flush");
        Harness {
            subjects: bus.subjects.clone(),
            prefix,
            bus,
            sub,
            seen: Vec::new(),
            feed: None,
        }
    }

    /// The test's NATS, its prefix and small, expiring stream limits: the
    /// flags every feed under test starts with (in-process or as the binary).
    pub fn bus_args(&self) -> Vec<&str> {
        vec![
            "--nats-url",
            NATS_URL,
            "--subject-prefix",
            &self.prefix,
            "--md-max-bytes",
            "64MiB",
            "--sys-max-bytes",
            "16MiB",
            "--md-max-age",
            "1h",
            "--sys-max-age",
            "1h",
        ]
    }

    /// The feed's configuration: [`Harness::bus_args`], fast reconnects, then `args`.
    pub fn config(&self, args: &[&str]) -> Config {
        let mut all = vec!["arb-feed"];
        all.extend(self.bus_args());
        all.extend_from_slice(&[
            "--heartbeat-interval",
            "1s",
            "--reconnect-initial",
            "50ms",
            "--reconnect-max",
            "200ms",
        ]);
        all.extend_from_slice(args);
        Config::try_parse_from(all).expect("bad test flags")
    }

    /// Starts `arb_feed::run` in-process.
    pub fn start(&mut self, args: &[&str]) {
        let cfg = self.config(args);
        let (tx, rx) = oneshot::channel::<()>();
        let h = tokio::spawn(arb_feed::run(cfg, async move {
            let _ = rx.await;
        }));
        self.feed = Some((tx, h));
    }

    /// Shuts the feed down the way SIGTERM does and checks it returned Ok.
    pub async fn stop(&mut self) {
        if let Some((tx, h)) = self.feed.take() {
            let _ = tx.send(());
            tokio::time::timeout(WAIT, h)
                .await
                .expect("feed did not stop")
                .expect("feed task panicked")
                .expect("feed returned an error");
        }
    }

    /// The next message the feed published.
    pub async fn next(&mut self) -> Decoded {
        let msg = tokio::time::timeout(WAIT, self.sub.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "nothing published for {WAIT:?}; seen so far: {:#?}",
                    self.seen.iter().rev().take(5).collect::<Vec<_>>()
                )
            })
            .expect("NATS subscription ended");
        let d = arb_runtime::headers::decode_any(
            &self.subjects,
            &msg.subject,
            msg.headers.as_ref(),
            &msg.payload,
        )
        .unwrap_or_else(|e| panic!("cannot decode {}: {e}", msg.subject));
        self.seen.push(d.clone());
        d
    }

    /// Reads until `f` matches; returns the match.
    pub async fn wait_for<T>(&mut self, what: &str, mut f: impl FnMut(&Decoded) -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if tokio::time::Instant::now() > deadline {
                panic!("gave up waiting for {what}");
            }
            let d = self.next().await;
            if let Some(t) = f(&d) {
                return t;
            }
        }
    }

    pub async fn book(
        &mut self,
        what: &str,
        mut f: impl FnMut(&BookSnapshot) -> bool,
    ) -> BookSnapshot {
        self.wait_for(what, |d| match d {
            Decoded::Book(b) if f(b) => Some(b.clone()),
            _ => None,
        })
        .await
    }

    pub async fn status(
        &mut self,
        what: &str,
        mut f: impl FnMut(&FeedStatus) -> bool,
    ) -> FeedStatus {
        self.wait_for(what, |d| match d {
            Decoded::Status(s) if f(s) => Some(s.clone()),
            _ => None,
        })
        .await
    }

    pub async fn audit(
        &mut self,
        what: &str,
        mut f: impl FnMut(&AuditEvent) -> bool,
    ) -> AuditEvent {
        self.wait_for(what, |d| match d {
            Decoded::Audit(a) if f(a) => Some(a.clone()),
            _ => None,
        })
        .await
    }

    pub async fn heartbeat(
        &mut self,
        what: &str,
        mut f: impl FnMut(&RuntimeState) -> bool,
    ) -> RuntimeState {
        self.wait_for(what, |d| match d {
            Decoded::State(s) if f(s) => Some(s.clone()),
            _ => None,
        })
        .await
    }

    /// Stops the feed and deletes the test's streams.
    pub async fn finish(mut self) {
        self.stop().await;
        for k in StreamKind::ALL {
            let _ = self
                .bus
                .js
                .delete_stream(self.subjects.stream_name(k))
                .await;
        }
    }
}

pub fn is_state(s: &FeedStatus, state: FeedState, reason: Option<ResyncReason>) -> bool {
    s.state == state && s.reason == reason
}

// ---------- mock WebSocket server ----------

pub type Ws = WebSocketStream<TcpStream>;

pub struct MockServer {
    pub url: String,
    conns: mpsc::Receiver<(String, Ws)>,
}

impl MockServer {
    pub async fn start() -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind mock server");
        let url = format!("ws://{}", listener.local_addr().unwrap());
        let (tx, conns) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut path = String::new();
                    #[allow(clippy::result_large_err)]
                    let cb = |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                              resp| {
                        path = req.uri().to_string();
                        Ok(resp)
                    };
                    if let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, cb).await {
                        let _ = tx.send((path, ws)).await;
                    }
                });
            }
        });
        MockServer { url, conns }
    }

    /// The next connection the feed opens, with its request path.
    pub async fn accept(&mut self) -> (String, Ws) {
        tokio::time::timeout(WAIT, self.conns.recv())
            .await
            .expect("the feed did not connect to the mock server")
            .expect("mock server stopped")
    }
}

/// The next text frame from the feed, as JSON.
pub async fn recv_json(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("the feed sent nothing")
            .expect("connection closed")
            .expect("read error");
        if let Message::Text(t) = m {
            return serde_json::from_str(t.as_str()).expect("the feed sent invalid JSON");
        }
    }
}

pub async fn send(ws: &mut Ws, text: impl Into<String>) {
    ws.send(Message::text(text.into()))
        .await
        .expect("mock send");
}

// ---------- an independent book model ----------

pub fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub fn lv(p: &str, q: &str) -> Level {
    Level::new(d(p), d(q))
}

/// A plainly correct book: maps, re-truncated after each message.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub bids: BTreeMap<Decimal, Decimal>,
    pub asks: BTreeMap<Decimal, Decimal>,
    pub depth: usize,
}

impl Model {
    pub fn new(depth: usize) -> Self {
        Model {
            depth,
            ..Default::default()
        }
    }

    pub fn apply(&mut self, bids: &[(&str, &str)], asks: &[(&str, &str)]) {
        for (p, q) in bids {
            if d(q).is_zero() {
                self.bids.remove(&d(p));
            } else {
                self.bids.insert(d(p), d(q));
            }
        }
        for (p, q) in asks {
            if d(q).is_zero() {
                self.asks.remove(&d(p));
            } else {
                self.asks.insert(d(p), d(q));
            }
        }
        while self.bids.len() > self.depth {
            self.bids.pop_first();
        }
        while self.asks.len() > self.depth {
            self.asks.pop_last();
        }
    }

    pub fn top_bids(&self, n: usize) -> Vec<Level> {
        self.bids
            .iter()
            .rev()
            .take(n)
            .map(|(p, q)| Level::new(*p, *q))
            .collect()
    }

    pub fn top_asks(&self, n: usize) -> Vec<Level> {
        self.asks
            .iter()
            .take(n)
            .map(|(p, q)| Level::new(*p, *q))
            .collect()
    }

    /// Kraken's checksum, written the way its documentation describes it, with strings.
    pub fn kraken_checksum(&self, price_dp: usize, qty_dp: usize) -> u32 {
        let mut s = String::new();
        let fmt = |v: &Decimal, dp: usize| {
            let t = format!("{v:.dp$}").replace('.', "");
            t.trim_start_matches('0').to_owned()
        };
        for (p, q) in self.asks.iter().take(10) {
            s += &fmt(p, price_dp);
            s += &fmt(q, qty_dp);
        }
        for (p, q) in self.bids.iter().rev().take(10) {
            s += &fmt(p, price_dp);
            s += &fmt(q, qty_dp);
        }
        crc32fast::hash(s.as_bytes())
    }

    pub fn matches(&self, b: &BookSnapshot, top: usize) -> bool {
        b.bids == self.top_bids(top) && b.asks == self.top_asks(top)
    }
}
