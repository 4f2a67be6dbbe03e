//! The pure crates stay pure: the contract builds with no NATS client, no
//! async runtime and no command-line parser, and no processing crate reads
//! the wall clock or a random source (seeded generators aside), so the same
//! input gives the same bytes out in a live run and in a replay.
#![allow(unused_crate_dependencies)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

#[test]
fn the_contract_has_no_async_runtime_nats_client_or_cli_parser() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace())
        .args([
            "tree",
            "-p",
            "arb-contract",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"arb-contract"), "{tree}");
    assert!(
        crates.contains(&"serde"),
        "the tree lists dependencies: {tree}"
    );
    for banned in ["async-nats", "tokio", "clap", "sqlx"] {
        assert!(
            !crates.contains(&banned),
            "arb-contract depends on {banned}:\n{tree}"
        );
    }
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("readable source dir") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            out.extend(sources(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

#[test]
fn processing_crates_read_no_clock_and_no_random_source() {
    let banned = [
        "Utc::now",
        "Local::now",
        "SystemTime::now",
        "Instant::now",
        "now_v7",
        "new_v4",
        "thread_rng",
        "rand::rng(",
        "from_entropy",
        "from_os_rng",
        "OsRng",
    ];
    let mut checked = 0;
    for krate in [
        "shared/contract/src",
        "shared/detect/src",
        "shared/venues/src",
        "shared/exec/src",
    ] {
        for file in sources(&workspace().join(krate)) {
            let text = std::fs::read_to_string(&file).expect("readable source");
            checked += 1;
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                for b in banned {
                    assert!(
                        !code.contains(b),
                        "{}:{}: `{b}` in a processing crate: pass times and ids in",
                        file.display(),
                        n + 1
                    );
                }
            }
        }
    }
    assert!(checked > 20, "only {checked} files checked");
}
