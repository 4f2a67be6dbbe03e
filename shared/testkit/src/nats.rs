//! A `nats-server` of the test's own, started from the repo's
//! `nats/nats-server.conf` on free ports with its own store directory, for
//! tests that kill NATS under a running process or check the users'
//! permissions. Its users get the development credentials of
//! `.env.example` ([`NatsUser`]); a test connects as the operator unless it
//! tests another user. Ready when its monitoring endpoint says JetStream is
//! up; killed when dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use arb_runtime::config::NatsArgs;

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

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The development values of `.env.example` (the NATS users' names and
/// passwords), as the server's configuration reads them from its environment.
pub fn dev_env() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join(".env.example")).expect(".env.example");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// One of the NATS users of `nats/nats-server.conf` with its development
/// password (`.env.example`) and the inbox prefix it is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsUser {
    pub user: String,
    pub password: String,
    /// `_INBOX.<service>` (whatever the user's name); `None` (the client's
    /// `_INBOX`) for the operator.
    pub inbox_prefix: Option<String>,
}

impl NatsUser {
    /// The user of `service` as `.env.example` names it: `feed`, `detector`,
    /// `executor`, `sink`, `replay`, `tap`, or `arbctl` (the operator).
    pub fn of(service: &str) -> NatsUser {
        let env = dev_env();
        let var = |what: &str| {
            let key = format!("NATS_{}_{what}", service.to_ascii_uppercase());
            env.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!(".env.example has no {key}"))
        };
        let user = var("USER");
        NatsUser {
            inbox_prefix: (service != "arbctl").then(|| format!("_INBOX.{service}")),
            password: var("PASSWORD"),
            user,
        }
    }

    /// The operator, allowed everything.
    pub fn operator() -> NatsUser {
        NatsUser::of("arbctl")
    }

    /// A process's environment for this user: NATS_USER, NATS_PASSWORD and
    /// NATS_INBOX_PREFIX.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("NATS_USER", self.user.clone()),
            ("NATS_PASSWORD", self.password.clone()),
        ];
        if let Some(p) = &self.inbox_prefix {
            env.push(("NATS_INBOX_PREFIX", p.clone()));
        }
        env
    }

    /// `args` with this user's credentials and inbox prefix.
    pub fn apply(&self, args: NatsArgs) -> NatsArgs {
        NatsArgs {
            nats_user: Some(self.user.clone()),
            nats_password: Some(arb_runtime::secret::Secret::new(self.password.clone())),
            nats_inbox_prefix: self.inbox_prefix.clone(),
            ..args
        }
    }
}

/// The repo's server configuration, with `store` as the JetStream store.
fn config(store: &Path) -> PathBuf {
    let conf = std::fs::read_to_string(repo().join("nats/nats-server.conf"))
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

/// Why a server did not come up.
enum Ready {
    Exited(String),
    Timeout,
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
        // A free port is only free when it is picked: a server started by a
        // test running beside this one may take it first. Such a server
        // exits at once; this one then tries other ports.
        for _ in 0..3 {
            s.spawn();
            match s.wait_ready().await {
                Ok(()) => return s,
                Err(Ready::Exited(why)) => {
                    eprintln!(
                        "nats-server on ports {}/{} {why}; other ports",
                        s.port, s.monitor
                    );
                    s.port = free_port();
                    s.monitor = free_port();
                }
                Err(Ready::Timeout) => s.not_ready("not healthy within the limit"),
            }
        }
        s.not_ready("exited three times")
    }

    fn not_ready(&self, why: &str) -> ! {
        let log = self.log_text();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "nats-server on port {} {why} ({WAIT:?}); its log ends:\n{}",
            self.port,
            tail.join("\n")
        )
    }

    /// A started server and a [`TestBus`] named `name` on it, as the operator.
    pub async fn with_bus(name: &str) -> (NatsServer, TestBus) {
        let nats = NatsServer::start().await;
        let tb = TestBus::on(&nats.url(), name).await;
        (nats, tb)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// What the server has logged (its standard error) since it first started.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.store.with_extension("log")).unwrap_or_default()
    }

    /// (Re)starts the server on the same ports and store; waits until ready.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.spawn();
        match self.wait_ready().await {
            Ok(()) => {}
            Err(Ready::Exited(why)) => self.not_ready(&why),
            Err(Ready::Timeout) => self.not_ready("not healthy within the limit"),
        }
    }

    fn spawn(&mut self) {
        let conf = config(&self.store);
        // Appended across restarts: what the server refused (permissions
        // violations) stays readable, [`NatsServer::log_text`].
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.store.with_extension("log"))
            .expect("the nats-server log file");
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
            // The users' credentials, which the configuration reads from
            // its environment.
            .envs(dev_env())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} (install nats-server, or set NATS_SERVER_BIN): {e}",
                    binary().display()
                )
            });
        self.child = Some(child);
    }

    /// SIGKILL: no chance to flush anything.
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Polls the monitoring endpoint until JetStream answers healthy, or
    /// the server exits, or [`WAIT`] passes.
    async fn wait_ready(&mut self) -> Result<(), Ready> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                self.child = None;
                return Err(Ready::Exited(format!("exited ({status})")));
            }
            if self.healthy().await {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Ready::Timeout);
            }
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
        let _ = std::fs::remove_file(self.store.with_extension("log"));
    }
}
