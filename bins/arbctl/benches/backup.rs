//! `arbctl db backup` and `arbctl db restore` of a database holding
//! 1,000,000 market_snapshots rows (10 levels a side, over two days'
//! partitions), through the real binary against the local PostgreSQL: time,
//! dump size, rows/s, per round and the median. The restore is timed whole
//! (checksum, pg_restore in one transaction, migrations, verify's counts)
//! and pg_restore alone as arbctl reports it.
//!
//! `cargo bench -p arbctl --bench backup` (ARB_BENCH_ROWS to change the size,
//! ARB_BENCH_ROUNDS the rounds, 3 by default).
#![allow(unused_crate_dependencies)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use arb_testkit::{TestDb, admin_database_url, unique};
use sqlx::PgPool;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `rows` book snapshots of 10 levels a side, 150 ms apart from 2026-12-01
/// (a million span two days), prices near 60000, sizes random.
fn fill_sql(rows: u64) -> String {
    let levels = |f: &dyn Fn(usize) -> String| (0..10).map(f).collect::<Vec<_>>().join(", ");
    let size = |_| "round((random() * 2)::numeric, 8)".to_owned();
    format!(
        "INSERT INTO market_snapshots (id, ts, received_ts, venue, symbol, sequence, checksum,
                                       best_bid, best_ask, bid_prices, bid_sizes, ask_prices, ask_sizes)
         SELECT gen_random_uuid(), t, t + interval '3 ms',
                (ARRAY['sim-a', 'sim-b', 'sim-c'])[1 + g % 3],
                (ARRAY['BTC/USD', 'ETH/USD', 'ETH/BTC'])[1 + (g / 3) % 3],
                g, md5(g::text), p, p + 0.5,
                ARRAY[{}], ARRAY[{}], ARRAY[{}], ARRAY[{}]
         FROM generate_series(1, {rows}) g,
              LATERAL (SELECT timestamptz '2026-12-01 00:00:00+00' + g * interval '150 ms',
                              60000 + (g % 1000) * 0.01) x(t, p)",
        levels(&|l| format!("p - {}", l as f64 * 0.5)),
        levels(&size),
        levels(&|l| format!("p + 0.5 + {}", l as f64 * 0.5)),
        levels(&size),
    )
}

fn arbctl(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_arbctl"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .output()
        .expect("run arbctl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "arbctl {args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn database_url(name: &str) -> String {
    let mut u = url::Url::parse(&admin_database_url()).expect("DATABASE_URL");
    u.set_path(&format!("/{name}"));
    u.to_string()
}

async fn admin(sql: &str) {
    let admin = PgPool::connect(&admin_database_url())
        .await
        .expect("PostgreSQL at DATABASE_URL");
    sqlx::query(sql).execute(&admin).await.expect(sql);
    admin.close().await;
}

struct Round {
    backup: Duration,
    bytes: u64,
    restore: Duration,
    pg_restore: Duration,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn mib(bytes: f64) -> f64 {
    bytes / (1024.0 * 1024.0)
}

#[tokio::main]
async fn main() {
    let rows = env_or("ARB_BENCH_ROWS", 1_000_000);
    let rounds = env_or("ARB_BENCH_ROUNDS", 3).max(1);
    let db = TestDb::new("bench_backup").await;
    let started = Instant::now();
    sqlx::query("SELECT arb_ensure_market_partitions('2026-12-01', 3)")
        .execute(&db.pool)
        .await
        .unwrap();
    sqlx::query(&fill_sql(rows))
        .execute(&db.pool)
        .await
        .expect("fill");
    sqlx::query("VACUUM ANALYZE market_snapshots")
        .execute(&db.pool)
        .await
        .unwrap();
    let (parts, on_disk): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE isleaf), sum(pg_total_relation_size(relid))::bigint
         FROM pg_partition_tree('market_snapshots')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    println!(
        "{rows} market_snapshots rows in {parts} partitions, {:.0} MiB on disk with indexes \
         (filled in {:.1}s)",
        mib(on_disk as f64),
        started.elapsed().as_secs_f64()
    );

    let mut results = Vec::new();
    for round in 1..=rounds {
        let dir = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let out = arbctl(&[
            "db",
            "backup",
            "--dir",
            dir.path().to_str().unwrap(),
            "--database-url",
            &db.url,
        ]);
        let backup = t.elapsed();
        let dump = PathBuf::from(
            out.lines()
                .find_map(|l| l.strip_prefix("backup "))
                .and_then(|l| l.split(" (").next())
                .expect(&out),
        );
        let bytes = std::fs::metadata(&dump).unwrap().len();

        let target = unique("arb_bench_restore");
        admin(&format!("CREATE DATABASE {target}")).await;
        let t = Instant::now();
        let out = arbctl(&[
            "db",
            "restore",
            dump.to_str().unwrap(),
            "--into",
            &database_url(&target),
        ]);
        let restore = t.elapsed();
        let pg_restore = out
            .lines()
            .find_map(|l| {
                l.strip_prefix("restored ")
                    .and_then(|l| l.rsplit_once(" in "))
            })
            .and_then(|(_, s)| s.trim_end_matches('s').parse::<f64>().ok())
            .map(Duration::from_secs_f64)
            .expect(&out);
        assert!(
            out.lines().any(|l| l
                .split_whitespace()
                .eq(["market_snapshots", &rows.to_string()])),
            "{out}"
        );
        admin(&format!("DROP DATABASE {target} WITH (FORCE)")).await;
        println!(
            "round {round}: backup {:.1}s, {:.1} MiB; restore {:.1}s (pg_restore {:.1}s)",
            backup.as_secs_f64(),
            mib(bytes as f64),
            restore.as_secs_f64(),
            pg_restore.as_secs_f64()
        );
        results.push(Round {
            backup,
            bytes,
            restore,
            pg_restore,
        });
    }

    let med = |f: &dyn Fn(&Round) -> f64| median(results.iter().map(f).collect());
    let backup = med(&|r| r.backup.as_secs_f64());
    let restore = med(&|r| r.restore.as_secs_f64());
    let pg_restore = med(&|r| r.pg_restore.as_secs_f64());
    let bytes = med(&|r| r.bytes as f64);
    let what = if rounds == 1 {
        "1 round".to_owned()
    } else {
        format!("median of {rounds} rounds")
    };
    println!();
    println!("{rows} market_snapshots rows, {what}:");
    println!("  {:<28} {:>8} {:>12} {:>10}", "", "time", "rows/s", "dump");
    println!(
        "  {:<28} {:>7.1}s {:>12.0} {:>6.1} MiB ({:.0} bytes/row)",
        "arbctl db backup",
        backup,
        rows as f64 / backup,
        mib(bytes),
        bytes / rows as f64
    );
    println!(
        "  {:<28} {:>7.1}s {:>12.0}",
        "arbctl db restore (whole)",
        restore,
        rows as f64 / restore
    );
    println!(
        "  {:<28} {:>7.1}s {:>12.0}",
        "  of which pg_restore",
        pg_restore,
        rows as f64 / pg_restore
    );
    db.cleanup().await;
}
