//! The PostgreSQL layer every database user shares: the embedded migrations
//! (from `migrations/`), connecting with backoff, market_snapshots partitions,
//! and the checks behind `arbctl db verify`.

use std::time::Duration;

use chrono::NaiveDate;
use sqlx::migrate::Migrator;
pub use sqlx::postgres::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::secret::redact_url;

/// The schema, embedded at build time from `migrations/`.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Every table the migrations create (besides sqlx's `_sqlx_migrations`).
pub const TABLES: [&str; 15] = [
    "config_sections",
    "config_settings",
    "config_pairings",
    "config_backtesting_defaults",
    "opportunities",
    "trades",
    "orders",
    "pnl_events",
    "portfolio_snapshots",
    "transfers",
    "market_snapshots",
    "audit_events",
    "runtime_state_snapshots",
    "account_snapshots",
    "backtest_jobs",
];

/// A database fault, keeping sqlx's error as its source.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("bad database URL {url}: {source}")]
    BadUrl {
        /// With any password masked.
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot reach PostgreSQL at {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Query(#[from] sqlx::Error),
}

impl DbError {
    /// A lost or refused connection passes; a bad URL, a failing migration
    /// (its SQL, a changed or missing migration) and refused data do not.
    pub fn is_retryable(&self) -> bool {
        use sqlx::migrate::MigrateError as M;
        match self {
            DbError::BadUrl { .. } => false,
            DbError::Connect { source, .. } => is_retryable(source),
            DbError::Migrate(M::Execute(e)) => is_connection_fault(e),
            DbError::Migrate(_) => false,
            DbError::Query(e) => is_retryable(e),
        }
    }
}

/// Whether `e` is a transport fault, or a database error whose SQLSTATE
/// starts with one of `classes`.
fn is_fault_of(e: &sqlx::Error, classes: &[&str]) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            classes.iter().any(|class| code.starts_with(class))
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// The connection itself failed (as opposed to the statement): 08
/// connection, 53 resources, 57P operator intervention (shutdown).
pub fn is_connection_fault(e: &sqlx::Error) -> bool {
    is_fault_of(e, &["08", "53", "57P"])
}

/// Whether a database error may go away by itself (connection lost, server
/// shutting down, out of resources, serialization failure), as opposed to a
/// problem with the data written: 08 connection, 53 resources, 57 operator
/// intervention, 40 rollback, 58 system error, 42 schema not there yet
/// (migrations pending), 55 object in use.
pub fn is_retryable(e: &sqlx::Error) -> bool {
    is_fault_of(e, &["08", "53", "57", "40", "58", "42", "55"])
}

/// A pool that connects lazily; a database that is down surfaces as errors
/// on use, which callers retry, rather than at start-up.
/// `application` names the connections in `pg_stat_activity`.
pub fn pool(url: &str, max_connections: u32, application: &str) -> Result<PgPool, DbError> {
    let opts: PgConnectOptions = url.parse().map_err(|source| DbError::BadUrl {
        url: redact_url(url),
        source,
    })?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(opts.application_name(application)))
}

/// Connects, retrying with backoff until the database answers or `give_up_after` passes.
pub async fn connect(
    url: &str,
    max_connections: u32,
    give_up_after: Option<Duration>,
) -> Result<PgPool, DbError> {
    let pool = pool(url, max_connections, "arbitrade")?;
    let mut policy = crate::bus::backoff_policy(Duration::from_millis(200), Duration::from_secs(5));
    policy.max_elapsed_time = give_up_after;
    let shown = redact_url(url);
    backoff::future::retry(policy, || async {
        sqlx::query("SELECT 1").execute(&pool).await.map_err(|e| {
            if is_retryable(&e) {
                tracing::warn!(url = %shown, error = %e, "PostgreSQL not reachable, retrying");
                backoff::Error::transient(e)
            } else {
                backoff::Error::permanent(e)
            }
        })
    })
    .await
    .map_err(|source| DbError::Connect {
        url: redact_url(url),
        source,
    })?;
    Ok(pool)
}

/// Applies pending migrations; a no-op when the schema is current.
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    Ok(MIGRATOR.run(pool).await?)
}

/// Creates the market_snapshots partitions of `days` days from `first_day`;
/// returns the ones it created.
pub async fn ensure_partitions(
    pool: &PgPool,
    first_day: NaiveDate,
    days: i32,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT arb_ensure_market_partitions($1, $2)")
        .bind(first_day)
        .bind(days)
        .fetch_all(pool)
        .await
}

/// Drops the market_snapshots partitions whose day ends before `cutoff`.
pub async fn drop_partitions_before(
    pool: &PgPool,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT arb_drop_market_partitions($1)")
        .bind(cutoff)
        .fetch_all(pool)
        .await
}

/// What `arbctl db verify` reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verification {
    pub server_version: String,
    pub pgcrypto: bool,
    pub missing_tables: Vec<String>,
    /// Migrations known to this build and not applied to the database.
    pub pending_migrations: Vec<String>,
    /// Applied migrations whose checksum differs from this build's file.
    pub changed_migrations: Vec<String>,
    pub row_counts: Vec<(String, i64)>,
    pub market_partitions: Vec<String>,
}

impl Verification {
    pub fn is_ok(&self) -> bool {
        self.pgcrypto
            && self.missing_tables.is_empty()
            && self.pending_migrations.is_empty()
            && self.changed_migrations.is_empty()
    }
}

/// Checks the connection, the tables, the migrations, and counts rows.
pub async fn verify(pool: &PgPool) -> Result<Verification, sqlx::Error> {
    let server_version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(pool)
        .await?;
    let pgcrypto: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto')")
            .fetch_one(pool)
            .await?;
    let present: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')",
    )
    .fetch_all(pool)
    .await?;
    let missing_tables: Vec<String> = TABLES
        .iter()
        .filter(|t| !present.iter().any(|p| p == *t))
        .map(|t| t.to_string())
        .collect();

    let applied: Vec<(i64, Vec<u8>)> = if present.iter().any(|p| p == "_sqlx_migrations") {
        sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await?
    } else {
        Vec::new()
    };
    let mut pending_migrations = Vec::new();
    let mut changed_migrations = Vec::new();
    for m in MIGRATOR.iter() {
        let name = format!("{} {}", m.version, m.description);
        match applied.iter().find(|(v, _)| *v == m.version) {
            None => pending_migrations.push(name),
            Some((_, sum)) if sum.as_slice() != &*m.checksum => changed_migrations.push(name),
            Some(_) => {}
        }
    }

    let mut row_counts = Vec::new();
    for t in TABLES
        .iter()
        .filter(|t| !missing_tables.iter().any(|m| m == *t))
    {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {t}"))
            .fetch_one(pool)
            .await?;
        row_counts.push((t.to_string(), n));
    }
    let market_partitions = if missing_tables.iter().any(|t| t == "market_snapshots") {
        Vec::new()
    } else {
        sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'market_snapshots'::regclass ORDER BY 1",
        )
        .fetch_all(pool)
        .await?
    };
    Ok(Verification {
        server_version,
        pgcrypto,
        missing_tables,
        pending_migrations,
        changed_migrations,
        row_counts,
        market_partitions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::migrate::MigrateError;

    #[test]
    fn db_error_classifier_table() {
        let io = || sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let cases: Vec<(DbError, bool)> = vec![
            (
                DbError::BadUrl {
                    url: "x".into(),
                    source: sqlx::Error::Configuration("bad".into()),
                },
                false,
            ),
            (
                DbError::Connect {
                    url: "x".into(),
                    source: io(),
                },
                true,
            ),
            (
                DbError::Connect {
                    url: "x".into(),
                    source: sqlx::Error::Configuration("no such role".into()),
                },
                false,
            ),
            (DbError::Migrate(MigrateError::Execute(io())), true),
            (
                DbError::Migrate(MigrateError::Execute(sqlx::Error::Protocol("x".into()))),
                true,
            ),
            (
                DbError::Migrate(MigrateError::Execute(sqlx::Error::RowNotFound)),
                false,
            ),
            (DbError::Migrate(MigrateError::VersionMissing(1)), false),
            (DbError::Migrate(MigrateError::VersionMismatch(1)), false),
            (DbError::Migrate(MigrateError::Dirty(1)), false),
            (DbError::Query(io()), true),
            (DbError::Query(sqlx::Error::PoolTimedOut), true),
            (DbError::Query(sqlx::Error::RowNotFound), false),
        ];
        for (e, retryable) in cases {
            assert_eq!(e.is_retryable(), retryable, "{e}");
        }
    }

    #[test]
    fn a_malformed_url_is_refused_without_its_password() {
        let e = pool("postgres://arb:hunter2@db:notaport/x", 1, "t").unwrap_err();
        assert!(matches!(e, DbError::BadUrl { .. }));
        assert!(!e.is_retryable());
        assert!(!format!("{e} {e:?}").contains("hunter2"), "{e:?}");
    }
}
