//! The command line itself: every command is there, bad input is a clear
//! error with exit code 2, secrets stay out of the output. (Its database and
//! NATS behaviour is tested end to end in `tests/tests/arbctl.rs`.)
#![allow(unused_crate_dependencies)]

use std::process::Command;

fn arbctl(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arbctl"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn help_lists_every_command() {
    let (code, text) = arbctl(&["--help"]);
    assert_eq!(code, Some(0));
    for cmd in ["db", "tap", "pub", "streams", "status"] {
        assert!(text.contains(cmd), "{cmd} missing from:\n{text}");
    }
    let (_, text) = arbctl(&["db", "--help"]);
    for cmd in ["migrate", "verify", "prune"] {
        assert!(text.contains(cmd), "{cmd} missing from:\n{text}");
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let (code, text) = arbctl(&[
        "db",
        "prune",
        "--older-than",
        "soon",
        "--database-url",
        "postgres://x@127.0.0.1:1/x",
    ]);
    assert_eq!(code, Some(2));
    assert!(text.contains("bad duration"), "{text}");
    let (code, text) = arbctl(&["frobnicate"]);
    assert_eq!(code, Some(2));
    assert!(text.contains("unrecognized subcommand"), "{text}");
    let (code, text) = arbctl(&[
        "pub",
        "md.book.kraken.BTC-USD",
        "not json",
        "--nats-url",
        "nats://127.0.0.1:1",
    ]);
    assert_eq!(code, Some(2), "{text}");
}

#[test]
fn a_password_in_the_url_never_appears() {
    let (code, text) = arbctl(&[
        "db",
        "verify",
        "--database-url",
        "postgres://arb:hunter2@127.0.0.1:1/arb",
    ]);
    assert_eq!(code, Some(2));
    assert!(
        text.contains("failed to connect") && !text.contains("hunter2"),
        "{text}"
    );
}
