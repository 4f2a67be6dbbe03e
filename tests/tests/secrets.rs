//! No secret reaches a log line, an error or `Debug` output (issue 14, point
//! 6): every binary runs with a known password in its NATS and PostgreSQL
//! URLs (and in `NATS_PASSWORD`), at `RUST_LOG=trace`, once against servers
//! that are not there (the connection fails and is retried or reported) and
//! once against the real ones (it succeeds); all of its standard output and
//! standard error is scanned for the password.
//!
//! No binary takes an exchange API key yet (there is no live trading); when
//! one does, its key belongs in [`SECRETS`] too.
#![allow(unused_crate_dependencies)]

use std::process::Stdio;
use std::time::Duration;

use arb_testkit::*;

/// Letters and digits only, so that no URL encoding hides it.
fn password() -> String {
    format!("Pw{}", uuid::Uuid::now_v7().simple())
}

/// A URL with `user:password@` put in.
fn with_password(url: &str, user: &str, password: &str) -> String {
    let mut u = url::Url::parse(url).expect("a URL");
    u.set_username(user).expect("user");
    u.set_password(Some(password)).expect("password");
    u.to_string()
}

/// How a run ends.
enum Until {
    /// The process exits by itself.
    Exit,
    /// Its output has this; then SIGTERM.
    Logged(&'static str),
    /// `sys.state.<service>` heartbeats; then SIGTERM.
    Heartbeat(&'static str),
}

struct Case {
    bin: &'static str,
    args: Vec<String>,
    until: Until,
}

fn case(bin: &'static str, args: &[&str], until: Until) -> Case {
    Case {
        bin,
        args: strings(args),
        until,
    }
}

/// Runs one case with `env`; returns everything it wrote.
async fn run(tb: &TestBus, c: &Case, env: &[(&str, String)]) -> String {
    let out = std::env::temp_dir().join(unique(&format!("{}_out", c.bin)));
    let err = std::env::temp_dir().join(unique(&format!("{}_err", c.bin)));
    let mut cmd = tokio::process::Command::new(bin(c.bin));
    cmd.args(&c.args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .env("RUST_LOG", "trace")
        .env("NO_COLOR", "1")
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{}: {e}", c.bin));
    let text = || {
        format!(
            "{}{}",
            std::fs::read_to_string(&out).unwrap_or_default(),
            std::fs::read_to_string(&err).unwrap_or_default()
        )
    };
    let what = format!("{} {:?}", c.bin, c.args);
    match c.until {
        Until::Exit => {
            tokio::time::timeout(Duration::from_secs(60), child.wait())
                .await
                .unwrap_or_else(|_| panic!("{what} did not exit"))
                .unwrap();
        }
        Until::Logged(line) => {
            wait_until(&format!("{what} logs {line:?}"), WAIT, || async {
                text().contains(line)
            })
            .await;
        }
        Until::Heartbeat(service) => {
            first_heartbeat(&tb.bus, service).await;
        }
    }
    if let Some(pid) = child.id() {
        // SIGTERM: the shutdown path logs too.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        if tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
    let all = text();
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&err);
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_binary_shows_a_password_at_any_log_level_in_failure_or_success() {
    let (tb, db) = bus_and_db("secrets").await;
    // The executor's bucket, the operator's to create.
    tb.ensure_config_bucket().await;
    // Something to read: a book and a trade-free backtest history.
    tb.publish_all(&arb_testkit::messages::books(0, 3)).await;
    let secret = password();

    let nats_ok = with_password(&tb.args.nats_url, "arb", &secret);
    let nats_down = with_password(&format!("nats://127.0.0.1:{}", free_port()), "arb", &secret);
    let db_ok = with_password(&db.url, "postgres", &secret);
    let mut down = url::Url::parse(&db.url).unwrap();
    down.set_port(Some(free_port())).unwrap();
    let db_down = with_password(down.as_ref(), "postgres", &secret);

    let limits = stream_limit_args();
    let with_limits = |args: &[&str]| {
        let mut a = strings(args);
        a.extend(limits.iter().cloned());
        a
    };
    let service = |bin: &'static str, args: &[&str], beat: &'static str| Case {
        bin,
        args: with_limits(args),
        until: Until::Heartbeat(beat),
    };
    let hb = ["--heartbeat-interval", "1s"];
    let ok_cases = vec![
        service(
            "arb-feed",
            &[
                "--venue",
                "sim",
                "--rate",
                "50",
                "--heartbeat-interval",
                "1s",
            ],
            "feed-sim",
        ),
        service("arb-detector", &hb, "detector-cross"),
        service("arb-executor", &hb, "executor"),
        Case {
            bin: "arb-sink",
            args: sink_args("sink_secrets"),
            until: Until::Heartbeat("sink"),
        },
        case("arb-replay", &["backtest"], Until::Exit),
        Case {
            bin: "arb-replay",
            args: with_limits(&["publish", "--speed", "max", "--run", "secrets1"]),
            until: Until::Exit,
        },
        case("arbctl", &["db", "verify"], Until::Exit),
        case("arbctl", &["streams"], Until::Exit),
        case("arbctl", &["status"], Until::Exit),
        case("arbctl", &["pnl"], Until::Exit),
        case("arbctl", &["config", "get"], Until::Exit),
        case("arbctl", &["backtest", "list"], Until::Exit),
        case("arbctl", &["tap", "md.>", "--timeout", "1s"], Until::Exit),
    ];
    let down_cases = vec![
        case(
            "arb-feed",
            &["--venue", "sim"],
            Until::Logged("not reachable"),
        ),
        case("arb-detector", &[], Until::Logged("not reachable")),
        case("arb-executor", &[], Until::Logged("not reachable")),
        case("arb-sink", &[], Until::Logged("not reachable")),
        case("arb-replay", &["backtest"], Until::Logged("not reachable")),
        case("arb-replay", &["publish"], Until::Logged("not reachable")),
        case("arbctl", &["db", "verify"], Until::Exit),
        case("arbctl", &["streams"], Until::Exit),
        case("arbctl", &["status"], Until::Exit),
        case("arbctl", &["pnl"], Until::Exit),
        case("arbctl", &["tap", "md.>", "--timeout", "1s"], Until::Exit),
    ];

    let env = |nats: &str, database: &str| {
        vec![
            ("NATS_URL", nats.to_owned()),
            ("NATS_USER", "arb".to_owned()),
            ("NATS_PASSWORD", secret.clone()),
            ("ARB_SUBJECT_PREFIX", tb.prefix.clone()),
            ("DATABASE_URL", database.to_owned()),
        ]
    };
    for (cases, env) in [
        (&ok_cases, env(&nats_ok, &db_ok)),
        (&down_cases, env(&nats_down, &db_down)),
    ] {
        for c in cases {
            let all = run(&tb, c, &env).await;
            assert!(
                !all.contains(&secret),
                "{} {:?} showed the password:\n{}",
                c.bin,
                c.args,
                all.lines()
                    .filter(|l| l.contains(&secret))
                    .take(5)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            assert!(
                !all.is_empty(),
                "{} {:?} said nothing at trace level",
                c.bin,
                c.args
            );
        }
    }
    let _ = tb.bus.js.delete_stream("REPLAY_SECRETS1_MD").await;
    tb.cleanup().await;
    db.cleanup().await;
}
