//! Helpers for the end-to-end tests: where the services and binaries are, a
//! fresh database and subject prefix per test, child processes that die with
//! the test, and a TCP proxy a test can cut.
#![allow(unreachable_pub)]
#![allow(unused_crate_dependencies)] // the dependencies serve the test files in tests/

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arb_shared::bus::Bus;
use arb_shared::config::{NatsArgs, StreamArgs};
use arb_shared::subject::StreamKind;
use sqlx::PgPool;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// The server URL the tests create their databases on (an admin database).
pub fn admin_database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A name unique to this test run.
pub fn unique(name: &str) -> String {
    format!("{name}_{}", uuid::Uuid::now_v7().simple()).to_lowercase()
}

/// Small stream limits: the test server is shared.
pub fn test_stream_args() -> StreamArgs {
    StreamArgs {
        md_max_bytes: 256 << 20,
        arb_max_bytes: 64 << 20,
        exec_max_bytes: 64 << 20,
        sys_max_bytes: 64 << 20,
        ..StreamArgs::default()
    }
}

/// A subject prefix with its own streams on the real NATS server.
pub struct TestBus {
    pub prefix: String,
    pub args: NatsArgs,
    pub bus: Bus,
}

impl TestBus {
    pub async fn new(name: &str) -> TestBus {
        let prefix = format!("t.{}", unique(name));
        let args = NatsArgs {
            nats_url: nats_url(),
            subject_prefix: Some(prefix.clone()),
            ..NatsArgs::default()
        };
        let bus = Bus::connect_once(&args, name).await.unwrap_or_else(|e| {
            panic!(
                "these tests need NATS with JetStream at {} (start nats-server -js): {e}",
                nats_url()
            )
        });
        bus.ensure_streams(&test_stream_args())
            .await
            .expect("cannot create streams");
        TestBus { prefix, args, bus }
    }

    /// Messages stored in one of this prefix's streams.
    pub async fn stream_messages(&self, kind: StreamKind) -> u64 {
        let mut s = self
            .bus
            .js
            .get_stream(self.bus.subjects.stream_name(kind))
            .await
            .expect("stream");
        s.info().await.expect("stream info").state.messages
    }

    /// (pending, ack pending) of a durable consumer.
    pub async fn consumer_backlog(&self, kind: StreamKind, durable: &str) -> Option<(u64, usize)> {
        let info = self.consumer_info(kind, durable).await?;
        Some((info.num_pending, info.num_ack_pending))
    }

    /// A durable consumer's state and configuration, as the server reports them.
    pub async fn consumer_info(
        &self,
        kind: StreamKind,
        durable: &str,
    ) -> Option<async_nats::jetstream::consumer::Info> {
        let s = self
            .bus
            .js
            .get_stream(self.bus.subjects.stream_name(kind))
            .await
            .ok()?;
        s.consumer_info(durable).await.ok()
    }

    /// Deletes this prefix's streams.
    pub async fn cleanup(&self) {
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

/// A database of its own, migrated.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

fn with_database(url: &str, db: &str) -> String {
    let mut u = url::Url::parse(url).expect("DATABASE_URL is a URL");
    u.set_path(&format!("/{db}"));
    u.to_string()
}

impl TestDb {
    pub async fn new(name: &str) -> TestDb {
        let admin_url = admin_database_url();
        let admin = sqlx::PgPool::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("these tests need PostgreSQL at {admin_url} (set DATABASE_URL): {e}")
        });
        let db = unique(&format!("arb_{name}"));
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&admin)
            .await
            .expect("create database");
        admin.close().await;
        let url = with_database(&admin_url, &db);
        let pool = arb_shared::db::connect(&url, 4, Some(Duration::from_secs(10)))
            .await
            .expect("connect");
        arb_shared::db::migrate(&pool).await.expect("migrate");
        TestDb {
            name: db,
            url,
            pool,
        }
    }

    /// The URL of this database through another host:port (a proxy).
    pub fn url_via(&self, port: u16) -> String {
        let mut u = url::Url::parse(&self.url).expect("url");
        u.set_port(Some(port)).expect("port");
        u.to_string()
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    /// Rows stored for the messages a test published: every table the sink
    /// writes, less the sink's own heartbeats and dead letters.
    pub async fn producer_rows(&self) -> i64 {
        let mut n = 0;
        for t in [
            "market_snapshots",
            "opportunities",
            "orders",
            "trades",
            "pnl_events",
            "portfolio_snapshots",
            "audit_events WHERE service <> 'sink'",
            "runtime_state_snapshots WHERE service <> 'sink'",
        ] {
            n += self.count(t).await;
        }
        n
    }

    pub async fn cleanup(self) {
        self.pool.close().await;
        if let Ok(admin) = sqlx::PgPool::connect(&admin_database_url()).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&admin)
            .await;
        }
    }
}

/// The path of a workspace binary built next to the running test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo test --workspace` (it builds every binary)",
        path.display()
    );
    path
}

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
}

impl Proc {
    pub fn spawn(name: &str, args: &[String], env: &[(&str, String)]) -> Proc {
        let log = std::env::temp_dir().join(format!("{}.log", unique(name)));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(bin(name));
        cmd.args(args)
            .stdout(Stdio::null())
            .stderr(file)
            .kill_on_drop(true);
        cmd.env("RUST_LOG", "info,sqlx=warn").env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        eprintln!(
            "{name} started (pid {:?}), log at {}",
            child.id(),
            log.display()
        );
        Proc {
            child,
            name: name.to_owned(),
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL: no chance to flush or ack.
    pub async fn kill9(&mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGTERM, then wait for a clean exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("process did not stop within 30 s of SIGTERM")
            .expect("wait")
    }
}

/// Polls `check` until it returns true or `limit` passes; panics with `what` then.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A TCP proxy to `upstream` that the test can cut (every connection dropped,
/// new ones refused) and restore.
pub struct CutProxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    generation: Arc<tokio::sync::watch::Sender<u64>>,
}

impl CutProxy {
    pub async fn start(upstream: &str) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let (tx, _) = tokio::sync::watch::channel(0u64);
        let generation = Arc::new(tx);
        let (up2, gen2, upstream) = (up.clone(), generation.clone(), upstream.to_owned());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cut = gen2.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        CutProxy {
            port,
            up,
            generation,
        }
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// The standard arguments of an arb-sink under test.
pub fn sink_args(durable: &str) -> Vec<String> {
    [
        "--durable",
        durable,
        "--batch-size",
        "500",
        "--batch-max-age",
        "50ms",
        "--heartbeat-interval",
        "1s",
        "--md-max-bytes",
        "256MiB",
        "--arb-max-bytes",
        "64MiB",
        "--exec-max-bytes",
        "64MiB",
        "--sys-max-bytes",
        "64MiB",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The environment of a process under test.
pub fn env(tb: &TestBus, database_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("NATS_URL", nats_url()),
        ("ARB_SUBJECT_PREFIX", tb.prefix.clone()),
        ("DATABASE_URL", database_url.to_owned()),
    ]
}

/// The README's Rust examples compile as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
