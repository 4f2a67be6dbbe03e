//! Writing batches to PostgreSQL: one transaction per batch; per table a
//! binary COPY straight into the table inside a savepoint, falling back to
//! COPY into a staging table and `INSERT … SELECT … ON CONFLICT DO NOTHING`
//! when a row is already there (a redelivery). Creates the market_snapshots
//! partitions a batch needs before writing it.

use std::collections::{BTreeMap, HashSet};

use bytes::Bytes;
use chrono::NaiveDate;
use sqlx::postgres::{PgConnection, PgPool};
use sqlx::{Connection, Executor};

use crate::rows::Table;

/// How a table's rows reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WriteMode {
    /// COPY into the table; on a duplicate key, redo that table's rows through staging.
    Copy,
    /// Always COPY into a staging table, then INSERT … ON CONFLICT DO NOTHING.
    Staged,
}

fn stage_name(t: Table) -> String {
    format!("arb_stage_{}", t.name())
}

/// Creates the connection's staging table for `t` if it is not there yet
/// (temporary, so private to the connection; created on first use).
async fn ensure_stage(conn: &mut PgConnection, t: Table) -> Result<(), sqlx::Error> {
    // Quiet the "already exists, skipping" notice for the rest of the transaction.
    conn.execute("SET LOCAL client_min_messages = warning")
        .await?;
    let sql = format!(
        "CREATE TEMP TABLE IF NOT EXISTS {} AS SELECT {} FROM {} WITH NO DATA",
        stage_name(t),
        t.column_list(),
        t.name()
    );
    conn.execute(sql.as_str()).await?;
    Ok(())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

async fn copy_in(
    conn: &mut PgConnection,
    target: &str,
    table: Table,
    data: &Bytes,
) -> Result<u64, sqlx::Error> {
    let sql = format!(
        "COPY {target} ({}) FROM STDIN (FORMAT binary)",
        table.column_list()
    );
    let mut copy = conn.copy_in_raw(&sql).await?;
    if let Err(e) = copy.send(data.as_ref()).await {
        let _ = copy.abort("send failed").await;
        return Err(e);
    }
    copy.finish().await
}

async fn staged(conn: &mut PgConnection, table: Table, data: &Bytes) -> Result<u64, sqlx::Error> {
    let stage = stage_name(table);
    ensure_stage(conn, table).await?;
    conn.execute(format!("TRUNCATE {stage}").as_str()).await?;
    copy_in(conn, &stage, table, data).await?;
    let cols = table.column_list();
    let sql = format!(
        "INSERT INTO {t} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT ({key}) DO NOTHING",
        t = table.name(),
        key = table.key()
    );
    Ok(conn.execute(sql.as_str()).await?.rows_affected())
}

/// Writes one table's rows inside the caller's transaction; returns the rows
/// that were new.
pub async fn write_table(
    conn: &mut PgConnection,
    mode: WriteMode,
    table: Table,
    data: &Bytes,
) -> Result<u64, sqlx::Error> {
    match mode {
        WriteMode::Staged => staged(conn, table, data).await,
        WriteMode::Copy => {
            conn.execute("SAVEPOINT arb_copy").await?;
            match copy_in(conn, table.name(), table, data).await {
                Ok(n) => {
                    conn.execute("RELEASE SAVEPOINT arb_copy").await?;
                    Ok(n)
                }
                Err(e) if is_unique_violation(&e) => {
                    conn.execute("ROLLBACK TO SAVEPOINT arb_copy").await?;
                    staged(conn, table, data).await
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// Writes every table's rows in one transaction; returns new rows per table.
pub async fn write_batch(
    pool: &PgPool,
    mode: WriteMode,
    tables: &[(Table, Bytes)],
) -> Result<BTreeMap<Table, u64>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    let mut written = BTreeMap::new();
    for (table, data) in tables {
        let n = write_table(&mut tx, mode, *table, data).await?;
        *written.entry(*table).or_insert(0) += n;
    }
    tx.commit().await?;
    Ok(written)
}

/// Remembers which market_snapshots partitions exist, so a batch only asks
/// PostgreSQL for days it has not seen.
#[derive(Default)]
pub struct Partitions {
    known: HashSet<NaiveDate>,
}

impl Partitions {
    /// Makes sure every day in `days` has its partition.
    pub async fn ensure(
        &mut self,
        pool: &PgPool,
        days: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<(), sqlx::Error> {
        let mut missing: Vec<NaiveDate> = days
            .into_iter()
            .filter(|d| !self.known.contains(d))
            .collect();
        missing.sort();
        missing.dedup();
        for day in missing {
            let created = arb_shared::db::ensure_partitions(pool, day, 1).await?;
            if !created.is_empty() {
                tracing::info!(partitions = ?created, "created market_snapshots partitions");
            }
            self.known.insert(day);
        }
        Ok(())
    }

    /// Creates `ahead` days of partitions from yesterday on.
    pub async fn ensure_ahead(
        &mut self,
        pool: &PgPool,
        today: NaiveDate,
        ahead: u32,
    ) -> Result<(), sqlx::Error> {
        let first = today.pred_opt().unwrap_or(today);
        self.ensure(pool, first.iter_days().take(ahead as usize + 2))
            .await
    }

    /// Forgets what it knows (a partition may have been dropped by `arbctl db prune`).
    pub fn forget(&mut self) {
        self.known.clear();
    }
}
