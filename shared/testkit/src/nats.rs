//! A `nats-server` of the test's own, started from the repo's
//! `nats/nats-server.conf` on free ports with its own store directory, for
//! tests that kill NATS under a running process. Ready when its monitoring
//! endpoint says JetStream is up; killed when dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::bus::TestBus;
use crate::wait::WAIT;
use crate::{free_port, unique};

/// The nats-server binary: `$NATS_SERVER_BIN`, else the first of the
/// places `.ci/run` and Debian install it, else `nats-server` on the PATH.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER_BIN") {
        return PathBuf::from(p);
    }
    for p in [
        "/usr/local/bin/nats-server",
        "/usr/bin/nats-server",
        "/usr/sbin/nats-server",
    ] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    PathBuf::from("nats-server")
}

/// The repo's server configuration, with `store` as the JetStream store.
fn config(store: &Path) -> PathBuf {
    let conf = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../nats/nats-server.conf"),
    )
    .expect("nats/nats-server.conf");
    assert!(
        conf.contains("store_dir: \"/data\""),
        "nats/nats-server.conf sets the JetStream store dir to /data"
    );
    let conf = conf.replace(
        "store_dir: \"/data\"",
        &format!("store_dir: {:?}", store.display().to_string()),
    );
    let path = store.with_extension("conf");
    std::fs::write(&path, conf).expect("write the test's nats config");
    path
}

/// A private nats-server.
pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    pub monitor: u16,
    pub store: PathBuf,
}

impl NatsServer {
    /// Starts a server with a fresh store on free ports and waits until
    /// JetStream is ready.
    pub async fn start() -> NatsServer {
        let store = std::env::temp_dir().join(unique("nats_store"));
        let mut s = NatsServer {
            child: None,
            port: free_port(),
            monitor: free_port(),
            store,
        };
        s.restart().await;
        s
    }

    /// A started server and a [`TestBus`] named `name` on it.
    pub async fn with_bus(name: &str) -> (NatsServer, TestBus) {
        let nats = NatsServer::start().await;
        let tb = TestBus::on(&nats.url(), name).await;
        (nats, tb)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on the same ports and store; waits until ready.
    pub async fn restart(&mut self) {
        self.kill().await;
        let conf = config(&self.store);
        let child = Command::new(binary())
            .args([
                "-c",
                conf.to_str().expect("a UTF-8 temp dir"),
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-m",
                &self.monitor.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} (install nats-server, or set NATS_SERVER_BIN): {e}",
                    binary().display()
                )
            });
        self.child = Some(child);
        self.wait_ready().await;
    }

    /// SIGKILL: no chance to flush anything.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Polls the monitoring endpoint until JetStream answers healthy.
    async fn wait_ready(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if self.healthy().await {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "nats-server on port {} not healthy within {WAIT:?}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn healthy(&self) -> bool {
        let Ok(mut tcp) = tokio::net::TcpStream::connect(("127.0.0.1", self.monitor)).await else {
            return false;
        };
        let req = "GET /healthz?js-enabled-only=true HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        if tcp.write_all(req.as_bytes()).await.is_err() {
            return false;
        }
        let mut reply = Vec::new();
        let _ = tcp.read_to_end(&mut reply).await;
        reply.starts_with(b"HTTP/1.0 200") || reply.starts_with(b"HTTP/1.1 200")
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.store);
        let _ = std::fs::remove_file(self.store.with_extension("conf"));
    }
}
