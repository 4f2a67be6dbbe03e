//! `arbctl db backup | restore | nuke` through the real binary against the
//! real PostgreSQL: every table filled, backup → nuke → restore gives the
//! same rows (and grants, sequences, partitions), into the same database
//! and into a new one; retention keeps exactly N; a corrupted, truncated or
//! unvouched dump is refused before anything is touched; nuke's guard rails;
//! `--every` until SIGTERM; the password never on a command line.
#![allow(unused_crate_dependencies)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use arb_runtime::db::TABLES;
use arb_testkit::{Proc, TestDb, admin_database_url, strings, unique};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::process::Command;

async fn arbctl(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arbctl"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        // Nothing from the developer's shell: the test says where to go.
        .env_remove("DATABASE_URL")
        .env_remove("PG_DUMP")
        .env_remove("PG_RESTORE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().await.expect("run arbctl")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs arbctl, expecting `code`; returns all it printed.
async fn expect(code: i32, args: &[&str]) -> String {
    let out = arbctl(args, &[]).await;
    assert_eq!(
        out.status.code(),
        Some(code),
        "arbctl {args:?}: {}",
        text(&out)
    );
    text(&out)
}

/// `arbctl db backup`; the dump it wrote.
async fn backup(url: &str, dir: &Path, retention: Option<&str>) -> PathBuf {
    let dir = dir.to_str().unwrap();
    let mut args = vec!["db", "backup", "--dir", dir, "--database-url", url];
    if let Some(n) = retention {
        args.extend(["--retention", n]);
    }
    let out = expect(0, &args).await;
    let line = out.lines().find(|l| l.starts_with("backup ")).expect(&out);
    PathBuf::from(line["backup ".len()..].split(" (").next().unwrap())
}

async fn restore(code: i32, dump: &Path, into: &str) -> String {
    expect(
        code,
        &["db", "restore", dump.to_str().unwrap(), "--into", into],
    )
    .await
}

fn sum_path(dump: &Path) -> PathBuf {
    PathBuf::from(format!("{}.sha256", dump.display()))
}

fn sha256(path: &Path) -> String {
    format!("{:x}", Sha256::digest(std::fs::read(path).unwrap()))
}

/// A new database with nothing in it (not migrated), dropped at the end.
struct EmptyDb {
    name: String,
    url: String,
}

impl EmptyDb {
    async fn new(name: &str) -> EmptyDb {
        let admin = PgPool::connect(&admin_database_url())
            .await
            .expect("PostgreSQL");
        let name = unique(&format!("arb_{name}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let mut u = url::Url::parse(&admin_database_url()).unwrap();
        u.set_path(&format!("/{name}"));
        EmptyDb {
            name,
            url: u.to_string(),
        }
    }

    async fn cleanup(self) {
        let admin = PgPool::connect(&admin_database_url()).await.unwrap();
        let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = sqlx::query(&drop).execute(&admin).await;
    }
}

/// Rows in every table (and two days of market_snapshots partitions), with
/// NULLs, quotes, non-ASCII, bytea, arrays, JSON and long decimals.
const FILL: &str = r#"
SELECT arb_ensure_market_partitions('2026-12-01', 2);
INSERT INTO config_sections (name, description) VALUES
    ('fees', 'Trading fees'), ('risk', NULL), ('ünïcode ✓', 'quote '' and "double"');
INSERT INTO config_settings (key, section_id, value, description) VALUES
    ('fees.kraken', 1, '{"taker_bps": 26, "maker_bps": 16}', 'Kraken'),
    ('risk.max_notional', 2, '10000.50', NULL),
    ('orphan', NULL, '[1, "two", null]', NULL);
INSERT INTO config_pairings (base_asset, quote_asset, venues, min_notional, enabled) VALUES
    ('BTC', 'USD', '{kraken,binance}', 10.5, true), ('ETH', 'USD', '{}', NULL, false),
    ('ETH', 'BTC', '{coinbase}', 0.000001, true);
INSERT INTO config_backtesting_defaults (fees, params) VALUES ('{"kraken": 26}', '{"sweep": [5, 10]}');
INSERT INTO market_snapshots (id, ts, received_ts, venue, symbol, sequence, checksum, best_bid,
                              best_ask, bid_prices, bid_sizes, ask_prices, ask_sizes)
SELECT gen_random_uuid(), t, t + interval '1.234 ms', 'sim-' || (g % 3), 'BTC/USD',
       CASE WHEN g % 5 = 0 THEN NULL ELSE g END, md5(g::text), 60000 + g * 0.01,
       60000.5 + g * 0.01, ARRAY[60000 + g * 0.01, 59999.5], ARRAY[0.1, 1.23456789012345678],
       ARRAY[60000.5 + g * 0.01, 60001], ARRAY[0.2, 3]
FROM generate_series(1, 300) g,
     LATERAL (SELECT timestamptz '2026-12-01 00:00:00+00' + g * interval '7 min 13.123456 s') x(t);
INSERT INTO opportunities (id, episode_id, kind, key, state, book_ts, received_ts, published_ts,
                           currency, notional, gross_edge_bps, net_edge_bps, expected_profit,
                           peak_edge_bps, opened_ts, duration_ms, legs)
SELECT gen_random_uuid(), gen_random_uuid(), 'cross', 'BTC/USD', (ARRAY['open', 'update', 'close'])[1 + g % 3],
       now() - g * interval '1 s', now(), NULL, 'USD', 1000 + g, 12.5, 3.25, 0.325, NULL, NULL,
       g * 10, jsonb_build_array(jsonb_build_object('venue', 'sim-a', 'side', 'buy'))
FROM generate_series(1, 20) g;
INSERT INTO trades (id, ts, opportunity_id, strategy, status, currency, notional, fees,
                    realized_pnl, expected_profit, legs, episode_id, decision_latency_us)
SELECT gen_random_uuid(), now() - g * interval '1 min', gen_random_uuid(), 'cross', 'filled', 'USD',
       1000, 0.52, -0.123456789012, NULL, '[]', NULL, g * 7
FROM generate_series(1, 10) g;
INSERT INTO orders (id, ts, order_id, trade_id, strategy, venue, symbol, side, order_type, status,
                    price, qty, filled_qty, avg_fill_price, fee, fee_currency, filled_notional)
SELECT gen_random_uuid(), now(), gen_random_uuid(), NULL, 'cross', 'sim-a', 'BTC/USD',
       CASE WHEN g % 2 = 0 THEN 'buy' ELSE 'sell' END, 'limit', 'filled', 60000, 0.01, 0.01,
       60000, 0.156, 'USD', 600
FROM generate_series(1, 10) g;
INSERT INTO pnl_events (id, ts, strategy, currency, realized, unrealized, fees, cumulative_realized)
SELECT gen_random_uuid(), now(), 'cross', 'USD', g, 0, 0.1, g * (g + 1) / 2 FROM generate_series(1, 10) g;
INSERT INTO portfolio_snapshots (id, ts, venue, balances, valuation_currency, total_value)
SELECT gen_random_uuid(), now(), 'sim-a', '{"USD": "100000", "BTC": "2"}', 'USD', 220000.01
FROM generate_series(1, 5) g;
INSERT INTO transfers (id, ts, transfer_id, asset, from_venue, to_venue, amount, fee, status,
                       sent_ts, arrives_ts, cost, currency)
SELECT gen_random_uuid(), now(), gen_random_uuid(), 'BTC', 'sim-a', 'sim-b', 0.5, 0.0005,
       CASE WHEN g % 2 = 0 THEN 'sent' ELSE 'arrived' END, now(), now() + interval '30 min', 30, 'USD'
FROM generate_series(1, 4) g;
INSERT INTO audit_events (id, ts, service, kind, severity, message, subject, detail, payload) VALUES
    (gen_random_uuid(), now(), 'sink', 'dead_letter', 'error', 'bad message', 'md.book.x', '{"n": 1}', '\x00ff10'::bytea),
    (gen_random_uuid(), now(), 'feed-sim', 'status', 'info', 'line
break', NULL, 'null', NULL);
INSERT INTO runtime_state_snapshots (id, ts, service, instance, version, started_at, uptime_secs, counters, lag)
SELECT gen_random_uuid(), now(), 'sink', 'i-' || g, '0.1.0', now() - interval '1 h', 3600, '{"rows": 5}', '{}'
FROM generate_series(1, 3) g;
INSERT INTO account_snapshots (venue, fee_tier, maker_fee, taker_fee, volume_30d, balances, raw) VALUES
    ('kraken', 'tier 1', 0.0016, 0.0026, 12345.678, '[{"asset": "USD"}]', NULL);
INSERT INTO backtest_jobs (strategy, replay_from, replay_to, params, result, status) VALUES
    ('cross', now() - interval '1 day', now(), '{"min_net_edge_bps": 5}', '{"trades": 3}', 'completed'),
    ('triangular', now() - interval '1 day', now(), '{}', NULL, 'pending');
"#;

async fn fill(db: &TestDb) {
    sqlx::raw_sql(FILL).execute(&db.pool).await.expect("fill");
    for t in TABLES {
        assert!(db.count(t).await > 0, "{t} has no rows: extend FILL");
    }
    for p in ["market_snapshots_p20261201", "market_snapshots_p20261202"] {
        assert!(db.count(p).await > 0, "{p} has no rows");
    }
}

/// Everything a restore must bring back: every row of every table (and of
/// the migrations' own), as JSON text in a fixed order; the partitions; the
/// sequences; the grants the roles migration made.
async fn contents(url: &str) -> BTreeMap<String, Vec<String>> {
    let pool = PgPool::connect(url).await.expect("connect");
    let mut all = BTreeMap::new();
    for t in TABLES.iter().chain(&["_sqlx_migrations"]) {
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT row_to_json(t)::text FROM {t} t ORDER BY 1"
        ))
        .fetch_all(&pool)
        .await
        .unwrap_or_else(|e| panic!("{t}: {e}"));
        all.insert(t.to_string(), rows);
    }
    for (what, sql) in [
        (
            "partitions",
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'market_snapshots'::regclass ORDER BY 1",
        ),
        (
            "sequences",
            "SELECT sequencename || ' ' || coalesce(last_value, 0) FROM pg_sequences
             WHERE schemaname = 'public' ORDER BY 1",
        ),
        (
            "grants",
            "SELECT concat_ws(' ',
                has_table_privilege('arb_writer', 'market_snapshots', 'INSERT'),
                has_table_privilege('arb_writer', 'trades', 'UPDATE'),
                has_table_privilege('arb_writer', 'config_settings', 'INSERT'),
                has_column_privilege('arb_writer', 'backtest_jobs', 'status', 'UPDATE'),
                has_function_privilege('arb_writer', 'arb_ensure_market_partitions(date, integer)', 'EXECUTE'),
                has_function_privilege('arb_writer', 'arb_drop_market_partitions(timestamptz)', 'EXECUTE'),
                has_table_privilege('arb_reader', 'market_snapshots_p20261202', 'SELECT'),
                has_table_privilege('arb_reader', 'audit_events', 'INSERT'),
                has_schema_privilege('arb_reader', 'public', 'USAGE'),
                (SELECT prosecdef FROM pg_proc WHERE proname = 'arb_ensure_market_partitions'),
                (SELECT count(*) FROM pg_default_acl))",
        ),
    ] {
        let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
        all.insert(what.to_owned(), rows);
    }
    pool.close().await;
    all
}

/// Relations in schema public.
async fn relations(url: &str) -> i64 {
    let pool = PgPool::connect(url).await.expect("connect");
    let n = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    n
}

#[tokio::test]
async fn backup_nuke_restore_gives_the_same_rows() {
    let db = TestDb::new("bk_roundtrip").await;
    fill(&db).await;
    let before = contents(&db.url).await;
    assert_eq!(
        before["grants"],
        ["t f f t t f t f t t 1"],
        "the roles migration's grants, as the test expects them"
    );
    let dir = tempfile::tempdir().unwrap();

    let dump = backup(&db.url, dir.path(), None).await;
    // <dir>/<db>/YYYY/MM/DD/backup-<YYYYMMDDTHHMMSS.mmmZ>.dump, a sha256sum line beside it.
    let rel = dump.strip_prefix(dir.path().join(&db.name)).unwrap();
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert_eq!(parts.len(), 4, "{rel:?}");
    let name = &parts[3];
    assert_eq!(
        &name[7..15],
        format!("{}{}{}", parts[0], parts[1], parts[2]),
        "{rel:?}"
    );
    assert!(
        name.starts_with("backup-") && name.ends_with("Z.dump") && name.len() == 32,
        "{name}"
    );
    assert_eq!(
        std::fs::read_to_string(sum_path(&dump)).unwrap(),
        format!("{}  {name}\n", sha256(&dump))
    );

    // nuke without --yes: refused, nothing touched.
    let out = expect(2, &["db", "nuke", "--database-url", &db.url]).await;
    assert!(
        out.contains("refusing to nuke") && out.contains("--yes"),
        "{out}"
    );
    assert_eq!(contents(&db.url).await, before);

    let out = expect(0, &["db", "nuke", "--yes", "--database-url", &db.url]).await;
    assert!(out.contains("schema public dropped"), "{out}");
    assert_eq!(
        relations(&db.url).await,
        0,
        "nuke leaves schema public empty"
    );

    // Into the nuked database (it is empty now).
    let out = restore(0, &dump, &db.url).await;
    assert!(
        out.contains("checksum ok") && out.contains("migrated to head"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().eq(["market_snapshots", "300"])),
        "{out}"
    );
    assert!(out.trim_end().ends_with("OK"), "{out}");
    assert_eq!(
        contents(&db.url).await,
        before,
        "the same rows, grants, sequences"
    );
    // A sequence goes on where it was.
    let pool = PgPool::connect(&db.url).await.unwrap();
    let id: i32 =
        sqlx::query_scalar("INSERT INTO config_sections (name) VALUES ('new') RETURNING id")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(id, 4);
    pool.close().await;

    // Into another, new database.
    let other = EmptyDb::new("bk_other").await;
    restore(0, &dump, &other.url).await;
    assert_eq!(contents(&other.url).await, before);
    // Not again: it is not empty now.
    let out = restore(2, &dump, &other.url).await;
    assert!(
        out.contains("not empty") && out.contains("arbctl db nuke --yes"),
        "{out}"
    );
    assert_eq!(
        contents(&other.url).await,
        before,
        "a refused restore changes nothing"
    );

    other.cleanup().await;
    db.cleanup().await;
}

#[tokio::test]
async fn retention_keeps_exactly_n() {
    let db = TestDb::new("bk_retention").await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join(&db.name);
    // An old backup in a date folder of its own, and what an interrupted one left.
    let old = root.join("2020/01/02/backup-20200102T000000.000Z.dump");
    std::fs::create_dir_all(old.parent().unwrap()).unwrap();
    std::fs::write(&old, b"old").unwrap();
    std::fs::write(sum_path(&old), format!("{}  x\n", sha256(&old))).unwrap();
    let half = root.join("2020/01/02/backup-20200102T001500.000Z.dump.partial");
    std::fs::write(&half, b"half").unwrap();

    let n = 3;
    let mut made = Vec::new();
    for _ in 0..n + 3 {
        made.push(backup(&db.url, dir.path(), Some(&n.to_string())).await);
    }
    let mut left: Vec<PathBuf> = walk(&root);
    left.sort();
    let mut want: Vec<PathBuf> = made[3..]
        .iter()
        .flat_map(|d| [d.clone(), sum_path(d)])
        .collect();
    want.sort();
    assert_eq!(
        left, want,
        "the newest {n} backups and their checksums, nothing else"
    );
    for d in &made[3..] {
        assert!(
            std::fs::read_to_string(sum_path(d))
                .unwrap()
                .starts_with(&sha256(d))
        );
    }
    assert!(!root.join("2020").exists(), "an emptied date folder goes");
    db.cleanup().await;
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files.extend(walk(&p));
        } else {
            files.push(p);
        }
    }
    files
}

#[tokio::test]
async fn a_corrupted_truncated_or_unvouched_dump_is_refused() {
    let db = TestDb::new("bk_corrupt").await;
    fill(&db).await;
    let dir = tempfile::tempdir().unwrap();
    let dump = backup(&db.url, dir.path(), None).await;
    let good = std::fs::read(&dump).unwrap();
    let target = EmptyDb::new("bk_corrupt_target").await;

    let bad = dir.path().join("bad.dump");
    std::fs::copy(sum_path(&dump), sum_path(&bad)).unwrap();
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x40;
    let truncated = good[..good.len() * 2 / 3].to_vec();
    for (what, bytes) in [("a flipped byte", flipped), ("truncated", truncated)] {
        std::fs::write(&bad, bytes).unwrap();
        let out = restore(2, &bad, &target.url).await;
        assert!(
            out.contains(&format!("{} is corrupt or truncated", bad.display()))
                && out.contains("nothing was touched"),
            "{what}: {out}"
        );
        assert_eq!(relations(&target.url).await, 0, "{what}: nothing restored");
    }
    std::fs::write(&bad, &good).unwrap();
    std::fs::remove_file(sum_path(&bad)).unwrap();
    let out = restore(2, &bad, &target.url).await;
    assert!(out.contains("has no checksum beside it"), "{out}");
    assert_eq!(relations(&target.url).await, 0);

    // The intact one still restores there.
    restore(0, &dump, &target.url).await;
    assert_eq!(contents(&target.url).await, contents(&db.url).await);
    target.cleanup().await;
    db.cleanup().await;
}

#[tokio::test]
async fn nuke_refuses_another_host_before_connecting() {
    let url = "postgres://arb:hunter2@db.example.invalid:5432/arb";
    let out = expect(2, &["db", "nuke", "--yes", "--database-url", url]).await;
    assert!(
        out.contains("db.example.invalid is not this machine") && out.contains("--force"),
        "{out}"
    );
    assert!(
        !out.contains("hunter2") && !out.contains("connect"),
        "{out}"
    );
    let out = expect(2, &["db", "nuke", "--database-url", url]).await;
    assert!(out.contains("--yes") && !out.contains("hunter2"), "{out}");

    let out = expect(0, &["db", "--help"]).await;
    for cmd in ["backup", "restore", "nuke"] {
        assert!(out.contains(cmd), "{cmd} missing from:\n{out}");
    }
}

#[tokio::test]
async fn the_password_goes_in_the_environment_and_a_missing_tool_is_named() {
    let db = TestDb::new("bk_password").await;
    // With trust authentication any password does; else the one the tests have.
    let mut u = url::Url::parse(&db.url).unwrap();
    if u.password().is_none() {
        u.set_password(Some("sekret-pw")).unwrap();
    }
    let password = u.password().unwrap().to_owned();
    let url = u.to_string();

    // A pg_dump that writes down how it was called, then is the real one.
    let dir = tempfile::tempdir().unwrap();
    let real = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("pg_dump"))
        .find(|p| p.is_file())
        .expect("pg_dump on the PATH");
    let log = dir.path().join("calls");
    let wrapper = dir.path().join("pg_dump");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nprintf 'args: %s\\nenv: %s\\n' \"$*\" \"$PGPASSWORD\" > '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

    let backups = dir.path().join("backups");
    let args = [
        "db",
        "backup",
        "--dir",
        backups.to_str().unwrap(),
        "--database-url",
        &url,
    ];
    let out = arbctl(&args, &[("PG_DUMP", wrapper.display().to_string())]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains(&password));
    let calls = std::fs::read_to_string(&log).unwrap();
    let (args_line, env_line) = calls.split_once('\n').unwrap();
    assert!(
        !args_line.contains(&password) && args_line.contains("--dbname="),
        "{calls}"
    );
    assert_eq!(env_line.trim_end(), format!("env: {password}"));

    let out = arbctl(&args, &[("PG_DUMP", "/nonexistent/pg_dump".into())]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("PG_DUMP is /nonexistent/pg_dump"),
        "{}",
        text(&out)
    );
    let out = arbctl(
        &["db", "restore", "x.dump", "--into", &url],
        &[("PATH", "/nonexistent".into())],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("pg_restore not found on the PATH"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains(&password));
    db.cleanup().await;
}

#[tokio::test]
async fn backup_every_interval_until_stopped() {
    let db = TestDb::new("bk_every").await;
    let dir = tempfile::tempdir().unwrap();
    let args = strings(&[
        "db",
        "backup",
        "--dir",
        dir.path().to_str().unwrap(),
        "--retention",
        "2",
        "--every",
        "200ms",
    ]);
    let mut p = Proc::spawn("arbctl", &args, &[("DATABASE_URL", db.url.clone())]);
    p.wait_logged("three backups", |log| {
        log.matches("backup written").count() >= 3
    })
    .await;
    p.stop().await;
    let root = dir.path().join(&db.name);
    let files = walk(&root);
    let dumps = files
        .iter()
        .filter(|f| f.to_string_lossy().ends_with(".dump"))
        .count();
    let sums = files
        .iter()
        .filter(|f| f.to_string_lossy().ends_with(".sha256"))
        .count();
    // One more may have been written between the third and the stop, never a partial one left.
    assert_eq!((dumps, sums, files.len()), (2, 2, 4), "{files:?}");
    db.cleanup().await;
}
