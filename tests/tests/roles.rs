#![allow(unused_crate_dependencies)] // integration tests see every dependency of the crate
//! The PostgreSQL roles the migrations create (issue 14): `arb_reader` reads
//! and nothing more; `arb_writer` inserts and reads data, makes partitions
//! through the owner's function, and can neither change nor drop what is
//! there; the sink does all its work as `arb_writer`.

use std::time::Duration;

use arb_testkit::*;

/// The test database's URL, logging in as `role`.
fn as_role(db: &TestDb, role: &str) -> String {
    let mut u = url::Url::parse(&db.url).expect("a URL");
    u.set_username(role).expect("a user");
    u.set_password(None).expect("no password");
    u.to_string()
}

async fn pool(url: &str) -> sqlx::PgPool {
    sqlx::PgPool::connect(url)
        .await
        .unwrap_or_else(|e| panic!("cannot log in as {url}: {e}"))
}

/// `sql` is refused for lack of privilege (SQLSTATE 42501), or, for what
/// only an owner may do, because the role is not the owner.
async fn refused(pool: &sqlx::PgPool, sql: &str) {
    match sqlx::query(sql).execute(pool).await {
        Ok(r) => panic!("{sql:?} was allowed ({} rows)", r.rows_affected()),
        Err(sqlx::Error::Database(e)) => {
            assert_eq!(
                e.code().as_deref(),
                Some("42501"),
                "{sql:?} failed, but not for privileges: {e}"
            );
        }
        Err(e) => panic!("{sql:?}: {e}"),
    }
}

async fn allowed(pool: &sqlx::PgPool, sql: &str) {
    sqlx::query(sql)
        .execute(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql:?} was refused: {e}"));
}

const AUDIT_ROW: &str = "INSERT INTO audit_events (id, ts, service, kind, severity, message) \
     VALUES (gen_random_uuid(), now(), 'test', 'k', 'info', 'm')";

#[tokio::test]
async fn the_reader_only_reads() {
    let db = TestDb::new("roles_reader").await;
    allowed(&db.pool, AUDIT_ROW).await;
    let reader = pool(&as_role(&db, "arb_reader")).await;
    for table in arb_runtime::db::TABLES {
        allowed(&reader, &format!("SELECT count(*) FROM {table}")).await;
    }
    refused(&reader, AUDIT_ROW).await;
    refused(&reader, "UPDATE audit_events SET message = 'x'").await;
    refused(&reader, "DELETE FROM audit_events").await;
    refused(&reader, "TRUNCATE audit_events").await;
    refused(&reader, "DROP TABLE audit_events").await;
    refused(&reader, "ALTER TABLE audit_events ADD COLUMN x INT").await;
    refused(&reader, "CREATE TABLE planted (x INT)").await;
    refused(
        &reader,
        "SELECT arb_ensure_market_partitions(current_date, 1)",
    )
    .await;
    reader.close().await;
    db.cleanup().await;
}

#[tokio::test]
async fn the_writer_inserts_and_reads_but_changes_and_drops_nothing() {
    let db = TestDb::new("roles_writer").await;
    let writer = pool(&as_role(&db, "arb_writer")).await;
    allowed(&writer, AUDIT_ROW).await;
    allowed(&writer, "SELECT count(*) FROM audit_events").await;
    allowed(&writer, "SELECT count(*) FROM config_backtesting_defaults").await;
    // Partitions through the owner's function, and the rows go in.
    let made: Vec<String> =
        sqlx::query_scalar("SELECT arb_ensure_market_partitions(DATE '2031-03-01', 2)")
            .fetch_all(&writer)
            .await
            .expect("the writer makes partitions through the function");
    assert_eq!(
        made,
        ["market_snapshots_p20310301", "market_snapshots_p20310302"]
    );
    allowed(
        &writer,
        "INSERT INTO market_snapshots (id, ts, received_ts, venue, symbol, checksum, \
             bid_prices, bid_sizes, ask_prices, ask_sizes) \
         VALUES (gen_random_uuid(), '2031-03-01T12:00:00Z', '2031-03-01T12:00:00Z', 'v', 'BTC/USD', \
             'none', '{1}', '{1}', '{2}', '{1}')",
    )
    .await;
    // A backtest job moves from running to completed: that column update only.
    allowed(
        &writer,
        "INSERT INTO backtest_jobs (id, status, strategy, replay_from, replay_to) \
         VALUES ('00000000-0000-0000-0000-000000000001', 'running', 'cross', now(), now())",
    )
    .await;
    allowed(
        &writer,
        "UPDATE backtest_jobs SET status = 'completed', finished_at = now()",
    )
    .await;
    refused(&writer, "UPDATE backtest_jobs SET params = '{}'").await;

    refused(&writer, "UPDATE audit_events SET message = 'x'").await;
    refused(&writer, "DELETE FROM audit_events").await;
    refused(&writer, "TRUNCATE audit_events").await;
    refused(&writer, "DROP TABLE audit_events").await;
    refused(&writer, "ALTER TABLE audit_events ADD COLUMN x INT").await;
    refused(&writer, "DROP TABLE market_snapshots_p20310301").await;
    refused(&writer, "CREATE TABLE planted (x INT)").await;
    refused(
        &writer,
        "INSERT INTO config_settings (key, value) VALUES ('k', '1')",
    )
    .await;
    refused(&writer, "SELECT arb_drop_market_partitions(now())").await;
    writer.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_works_as_the_writer() {
    let (tb, db) = bus_and_db("roles_sink").await;
    let writer_url = as_role(&db, "arb_writer");
    let mut sink = Proc::spawn("arb-sink", &sink_args("sink"), &env(&tb, &writer_url));
    let msgs = arb_testkit::messages::mixed(0, 1_300);
    tb.publish_all(&msgs).await;
    wait_until(
        "the sink stores every message as arb_writer",
        Duration::from_secs(120),
        || async { db.producer_rows().await >= 1_300 },
    )
    .await;
    assert_eq!(db.producer_rows().await, 1_300);
    let log = sink.log_text();
    assert!(!log.contains("permission denied"), "{log}");
    teardown(&mut sink, tb, db).await;
}

#[tokio::test]
async fn migrate_sets_the_role_passwords_without_showing_them() {
    let db = TestDb::new("roles_passwords").await;
    let secret = format!("Pw{}", uuid::Uuid::now_v7().simple());
    let stored = || async {
        sqlx::query_scalar::<_, Option<String>>(
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'arb_writer'",
        )
        .fetch_one(&db.pool)
        .await
        .expect("pg_authid (the tests connect as a superuser)")
    };
    let before = stored().await;
    let out = tokio::process::Command::new(bin("arbctl"))
        .args(["db", "migrate"])
        .env("DATABASE_URL", &db.url)
        .env("ARB_DB_WRITER_PASSWORD", &secret)
        .env("RUST_LOG", "trace")
        .output()
        .await
        .expect("arbctl runs");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(all.contains("password of arb_writer set"), "{all}");
    assert!(!all.contains(&secret), "the password was shown:\n{all}");
    let after = stored().await.expect("a password is set");
    assert!(
        after.starts_with("SCRAM-SHA-256$"),
        "stored hashed: {after}"
    );
    assert_ne!(Some(after), before, "a new password");
    // Only the arbitrade roles, and only the owner.
    let other = sqlx::query("SELECT arb_set_role_password('postgres', 'x')")
        .execute(&db.pool)
        .await;
    assert!(
        other.is_err(),
        "another role's password is not the function's to set"
    );
    let writer = pool(&as_role(&db, "arb_writer")).await;
    refused(&writer, "SELECT arb_set_role_password('arb_reader', 'x')").await;
    writer.close().await;
    db.cleanup().await;
}
