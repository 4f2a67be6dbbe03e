//! `arbctl tap` through the real binary against the real NATS: books and an
//! opportunity published while two taps run, one printing times as RFC 3339
//! (the default), one with `--raw`. With `RUST_LOG` unset, standard output
//! holds nothing but the JSON lines and nothing below a warning is logged.
#![allow(unused_crate_dependencies)]

use std::process::Stdio;

use arb_contract::codec::Decoded;
use arb_contract::sample;
use arb_contract::time::{Timestamp, to_nanos};
use arb_testkit::messages::{at, books};
use arb_testkit::*;
use chrono::SecondsFormat;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::{Duration, Instant, timeout};

struct Tap {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    /// Every line it printed, as printed.
    printed: Vec<String>,
}

impl Tap {
    fn spawn(tb: &TestBus, extra: &[&str]) -> Tap {
        let mut child = Command::new(env!("CARGO_BIN_EXE_arbctl"))
            .args(["tap", ">"])
            .args(extra)
            .env("NATS_URL", &tb.args.nats_url)
            .env("ARB_SUBJECT_PREFIX", &tb.prefix)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run arbctl tap");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Tap {
            child,
            lines,
            printed: Vec::new(),
        }
    }

    /// Reads what it prints until it has been quiet for `quiet`.
    async fn read_until_quiet(&mut self, quiet: Duration) {
        while let Ok(line) = timeout(quiet, self.lines.next_line()).await {
            match line.expect("read tap's output") {
                Some(l) => self.printed.push(l),
                None => panic!("tap ended early; it printed {:?}", self.printed),
            }
        }
    }

    fn json(&self) -> Vec<Value> {
        self.printed
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
            .collect()
    }

    /// The body of the line that printed the message with `id`.
    fn body_of(&self, id: &str) -> Option<Value> {
        self.json()
            .into_iter()
            .map(|v| v["body"].clone())
            .find(|b| b["id"] == id)
    }

    /// SIGTERM; it exits 0. Returns what it wrote to standard error.
    async fn stop(&mut self) -> String {
        let pid = self.child.id().unwrap().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        let mut stderr = String::new();
        let mut err = self.child.stderr.take().unwrap();
        let status = timeout(WAIT, async {
            // Whatever it printed before it stopped belongs to its output too.
            while let Some(l) = self.lines.next_line().await.unwrap() {
                self.printed.push(l);
            }
            err.read_to_string(&mut stderr).await.unwrap();
            self.child.wait().await.unwrap()
        })
        .await
        .expect("tap did not stop on SIGTERM");
        assert!(status.success(), "tap exited with {status}: {stderr}");
        stderr
    }
}

/// The time fields of what the test publishes, by wire name (what the
/// contract declares, written out here on purpose rather than taken from arbctl).
fn times(msg: &Decoded) -> Vec<(&'static str, Timestamp)> {
    let some = |v: Vec<(&'static str, Option<Timestamp>)>| {
        v.into_iter()
            .filter_map(|(k, t)| t.map(|t| (k, t)))
            .collect()
    };
    match msg {
        Decoded::Book(b) => some(vec![
            ("received_ts", Some(b.received_ts)),
            ("exchange_ts", b.exchange_ts),
        ]),
        Decoded::Opportunity(o) => some(vec![
            ("book_ts", Some(o.book_ts)),
            ("received_ts", o.received_ts),
            ("published_ts", o.published_ts),
            ("opened_ts", o.opened_ts),
        ]),
        other => panic!(
            "the test publishes books and opportunities, not {}",
            other.schema()
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tap_prints_clean_json_lines_with_rfc3339_or_raw_times() {
    let tb = TestBus::new("ctl_tap_times").await;
    let mut text = Tap::spawn(&tb, &[]);
    let mut raw = Tap::spawn(&tb, &["--raw"]);

    // Each tap is subscribed once it prints a probe (a book published again
    // until both have: the stream keeps it once, subscribers see every copy).
    let probe = books(0, 1);
    let deadline = Instant::now() + WAIT;
    while text.printed.is_empty() || raw.printed.is_empty() {
        assert!(Instant::now() < deadline, "the taps print nothing");
        tb.publish_all(&probe).await;
        text.read_until_quiet(Duration::from_millis(200)).await;
        raw.read_until_quiet(Duration::from_millis(200)).await;
    }

    let mut msgs = books(1, 3);
    msgs.push(Decoded::Opportunity(sample::opportunity(7, at(7))));
    tb.publish_all(&msgs).await;
    let ids: Vec<String> = msgs.iter().map(|m| m.id().to_string()).collect();
    for tap in [&mut text, &mut raw] {
        let deadline = Instant::now() + WAIT;
        while !ids.iter().all(|id| tap.body_of(id).is_some()) {
            assert!(
                Instant::now() < deadline,
                "not all printed: {:?}",
                tap.printed
            );
            tap.read_until_quiet(Duration::from_millis(200)).await;
        }
    }
    let text_err = text.stop().await;
    let raw_err = raw.stop().await;

    for msg in msgs.iter().chain(&probe) {
        let fields = times(msg);
        assert!(!fields.is_empty());
        let id = msg.id().to_string();
        let t = text.body_of(&id).unwrap();
        let r = raw.body_of(&id).unwrap();
        for (name, want) in fields {
            let shown = t[name]
                .as_str()
                .unwrap_or_else(|| panic!("{name} is not text: {t}"));
            assert_eq!(
                shown,
                want.to_rfc3339_opts(SecondsFormat::Nanos, true),
                "{name}"
            );
            let back = chrono::DateTime::parse_from_rfc3339(shown)
                .unwrap()
                .to_utc();
            assert_eq!(back, want, "{name} reads back as the published time");
            assert_eq!(
                r[name].as_i64(),
                Some(to_nanos(&want)),
                "{name} with --raw: {r}"
            );
        }
        // Only the times differ.
        let mut t = t.clone();
        for (name, _) in times(msg) {
            t[name] = r[name].clone();
        }
        assert_eq!(t, r);
    }

    // Standard output: JSON lines only, every one a tapped message.
    for tap in [&text, &raw] {
        for v in tap.json() {
            assert!(
                v["subject"].as_str().unwrap().starts_with(&tb.prefix),
                "{v}"
            );
            assert!(v.get("body").is_some(), "{v}");
        }
    }
    // Standard error: nothing below a warning with RUST_LOG unset.
    for err in [text_err, raw_err] {
        for level in ["TRACE", "DEBUG", "INFO"] {
            assert!(!err.contains(level), "{level} logged by default:\n{err}");
        }
    }
    tb.cleanup().await;
}
