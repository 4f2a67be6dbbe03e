//! The real binaries under test: where they are, and child processes that
//! die with the test, log to a file of their own, and can be stopped with
//! SIGTERM or SIGKILL.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::args::{env, sink_args};
use crate::bus::TestBus;
use crate::unique;
use crate::wait::{WAIT, wait_until};

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
    /// Where its standard error goes.
    pub log: PathBuf,
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
            log,
        }
    }

    /// An arb-sink (durable `sink`) on `tb` writing to the database at
    /// `database_url`.
    pub fn sink(tb: &TestBus, database_url: &str) -> Proc {
        Proc::spawn("arb-sink", &sink_args("sink"), &env(tb, database_url))
    }

    /// What it has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until its log satisfies `check` (`what` names that in the
    /// panic if it never does); it must still be running then.
    pub async fn wait_logged(&mut self, what: &str, check: impl Fn(&str) -> bool) {
        wait_until(&format!("{} {what}", self.name), WAIT, || {
            let seen = check(&self.log_text());
            async move { seen }
        })
        .await;
        assert!(
            self.is_running(),
            "{} exited instead; its log:\n{}",
            self.name,
            self.log_text()
        );
    }

    /// Waits for it to exit by itself, for at most `limit`: its exit status,
    /// or `None` if it still runs.
    pub async fn exit_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        match tokio::time::timeout(limit, self.child.wait()).await {
            Ok(status) => Some(status.expect("wait")),
            Err(_) => None,
        }
    }

    /// Sends SIGTERM without waiting.
    pub fn sigterm(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
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
        self.sigterm();
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("process did not stop within 30 s of SIGTERM")
            .expect("wait")
    }

    /// SIGTERM, and a clean exit with success.
    pub async fn stop(&mut self) {
        let status = self.terminate().await;
        assert!(
            status.success(),
            "{} exited with {status} on SIGTERM; its log:\n{}",
            self.name,
            self.log_text()
        );
    }
}
