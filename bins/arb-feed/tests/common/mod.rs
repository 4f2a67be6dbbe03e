//! What the feed's tests share: a test bus of their own on the real NATS
//! ([`TestBus`]: a subject prefix and its streams, at `NATS_URL`), a
//! subscriber that decodes everything the feed publishes under it, the feed
//! run in-process through `arb_feed::run`, the kit's mock venue server
//! ([`MockServer`]), and an independent model of the expected book.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use arb_contract::model::{
    AuditEvent, BookSnapshot, FeedState, FeedStatus, ResyncReason, RuntimeState,
};
use arb_contract::{Decoded, Level};
use arb_feed::Config;
use arb_testkit::{TestBus, nats_url, stream_limit_args};
use clap::Parser;
use futures::StreamExt;
use rust_decimal::Decimal;
use tokio::sync::oneshot;

pub use arb_testkit::WAIT;
#[allow(unused_imports)] // the sim's tests have no venue server
pub use arb_testkit::ws::{MockServer, Ws, recv_json, send};

/// A message the feed publishes, picked out of everything decoded.
pub trait Published: Clone {
    fn pick(d: &Decoded) -> Option<&Self>;
}

macro_rules! published {
    ($($ty:ty => $variant:ident),+ $(,)?) => {$(
        impl Published for $ty {
            fn pick(d: &Decoded) -> Option<&Self> {
                match d {
                    Decoded::$variant(m) => Some(m),
                    _ => None,
                }
            }
        }
    )+};
}

published!(BookSnapshot => Book, FeedStatus => Status, AuditEvent => Audit, RuntimeState => State);

pub struct Harness {
    pub tb: TestBus,
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
        let tb = TestBus::new("feed").await;
        let sub = tb
            .bus
            .client
            .subscribe(format!("{}.>", tb.prefix))
            .await
            .expect("cannot subscribe on NATS");
        tb.bus.client.flush().await.expect("NATS flush");
        Harness {
            tb,
            sub,
            seen: Vec::new(),
            feed: None,
        }
    }

    /// The test's NATS and prefix, and its streams' limits (the kit's, so
    /// the feed's check of its streams finds the limits it is given): the
    /// flags every feed under test starts with, in-process or as the binary.
    pub fn bus_args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--nats-url={}", nats_url()),
            format!("--subject-prefix={}", self.tb.prefix),
        ];
        args.extend(stream_limit_args());
        args
    }

    /// The feed's configuration: [`Harness::bus_args`], fast reconnects, then `args`.
    pub fn config(&self, args: &[&str]) -> Config {
        let fast = [
            "--heartbeat-interval=1s",
            "--reconnect-initial=50ms",
            "--reconnect-max=200ms",
        ];
        let all = ["arb-feed".to_owned()]
            .into_iter()
            .chain(self.bus_args())
            .chain(fast.iter().chain(args).map(|s| s.to_string()));
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

    /// Starts the feed for `venue` and `symbols` with `args`.
    pub fn start_venue(&mut self, venue: &str, symbols: &str, args: &[&str]) {
        let mut all = vec!["--venue", venue, "--symbols", symbols];
        all.extend_from_slice(args);
        self.start(&all);
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
            &self.tb.bus.subjects,
            &msg.subject,
            msg.headers.as_ref(),
            &msg.payload,
        )
        .unwrap_or_else(|e| panic!("cannot decode {}: {e}", msg.subject));
        self.seen.push(d.clone());
        d
    }

    /// Reads until a `T` for which `f` holds; returns it.
    pub async fn wait<T: Published>(&mut self, what: &str, mut f: impl FnMut(&T) -> bool) -> T {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if tokio::time::Instant::now() > deadline {
                panic!("gave up waiting for {what}");
            }
            let d = self.next().await;
            if let Some(m) = T::pick(&d).filter(|m| f(m)) {
                return m.clone();
            }
        }
    }

    /// The first `T` seen so far for which `f` holds, else the next one:
    /// for a message whose order among the others does not matter.
    pub async fn find<T: Published>(&mut self, what: &str, mut f: impl FnMut(&T) -> bool) -> T {
        match self.seen.iter().filter_map(T::pick).find(|m| f(m)) {
            Some(m) => m.clone(),
            None => self.wait(what, f).await,
        }
    }

    pub async fn book(&mut self, what: &str, f: impl FnMut(&BookSnapshot) -> bool) -> BookSnapshot {
        self.wait(what, f).await
    }

    /// The next book of `symbol`.
    pub async fn book_of(&mut self, symbol: &str) -> BookSnapshot {
        self.book(symbol, |b| b.symbol.to_string() == symbol).await
    }

    pub async fn status(&mut self, what: &str, f: impl FnMut(&FeedStatus) -> bool) -> FeedStatus {
        self.wait(what, f).await
    }

    /// The next `resync` status, of `symbol` (`None`: the whole feed) and
    /// for `reason`.
    pub async fn resync(&mut self, symbol: Option<&str>, reason: ResyncReason) -> FeedStatus {
        let s = self
            .status("resync", |s| s.state == FeedState::Resync)
            .await;
        assert_eq!(s.reason, Some(reason), "{s:?}");
        assert_eq!(
            s.symbol.as_ref().map(|s| s.to_string()).as_deref(),
            symbol,
            "{s:?}"
        );
        s
    }

    pub async fn audit(&mut self, what: &str, f: impl FnMut(&AuditEvent) -> bool) -> AuditEvent {
        self.wait(what, f).await
    }

    pub async fn heartbeat(
        &mut self,
        what: &str,
        f: impl FnMut(&RuntimeState) -> bool,
    ) -> RuntimeState {
        self.wait(what, f).await
    }

    /// The books seen so far, oldest first.
    pub fn books_seen(&self) -> impl Iterator<Item = &BookSnapshot> {
        self.seen.iter().filter_map(BookSnapshot::pick)
    }

    /// The books seen since the last `resync` status, oldest first.
    pub fn books_since_resync(&self) -> Vec<&BookSnapshot> {
        let resync =
            |d: &Decoded| FeedStatus::pick(d).is_some_and(|s| s.state == FeedState::Resync);
        let since = self.seen.iter().rposition(resync).expect("no resync seen");
        self.seen[since..]
            .iter()
            .filter_map(BookSnapshot::pick)
            .collect()
    }

    /// Stops the feed and deletes the test's streams.
    pub async fn finish(mut self) {
        self.stop().await;
        self.tb.cleanup().await;
    }
}

// ---------- an independent book model ----------

pub fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub fn lv(p: &str, q: &str) -> Level {
    Level::new(d(p), d(q))
}

/// `(price, qty)` as the tests write them.
pub type Px = (&'static str, &'static str);

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

    pub fn apply(&mut self, bids: &[Px], asks: &[Px]) {
        for (side, levels) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
            for (p, q) in levels {
                if d(q).is_zero() {
                    side.remove(&d(p));
                } else {
                    side.insert(d(p), d(q));
                }
            }
        }
        while self.bids.len() > self.depth {
            self.bids.pop_first();
        }
        while self.asks.len() > self.depth {
            self.asks.pop_last();
        }
    }

    /// A snapshot: the book is replaced.
    pub fn reset(&mut self, bids: &[Px], asks: &[Px]) {
        self.bids.clear();
        self.asks.clear();
        self.apply(bids, asks);
    }

    /// A venue's `"snapshot"` replaces the book, anything else updates it.
    pub fn change(&mut self, kind: &str, bids: &[Px], asks: &[Px]) {
        if kind == "snapshot" {
            self.reset(bids, asks);
        } else {
            self.apply(bids, asks);
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

    /// Checks that `b` holds the model's best `top` levels.
    #[track_caller]
    pub fn assert_matches(&self, b: &BookSnapshot, top: usize) {
        assert_eq!(
            (&b.bids, &b.asks),
            (&self.top_bids(top), &self.top_asks(top)),
            "{b:?}"
        );
    }
}
