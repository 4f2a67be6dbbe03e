//! Writing batches to PostgreSQL: one transaction per batch; per table a
//! binary COPY straight into the table, and when a row is already there (a
//! redelivery) the batch again in a new transaction, through a staging table
//! and `INSERT … SELECT … ON CONFLICT DO NOTHING`. Creates the market_snapshots
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
    /// COPY into the tables; on a duplicate key, redo the batch through staging.
    Copy,
    /// Always COPY into a staging table, then INSERT … ON CONFLICT DO NOTHING.
    Staged,
}

/// Bytes per CopyData message.
const COPY_PIECE: usize = 256 * 1024;

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
    // In pieces: sqlx copies each CopyData message into the connection's
    // write buffer, which would otherwise grow to the size of the batch.
    for piece in data.chunks(COPY_PIECE) {
        if let Err(e) = copy.send(piece).await {
            let _ = copy.abort("send failed").await;
            return Err(e);
        }
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
/// that were new. [`WriteMode::Copy`] fails on a row that is already there.
pub async fn write_table(
    conn: &mut PgConnection,
    mode: WriteMode,
    table: Table,
    data: &Bytes,
) -> Result<u64, sqlx::Error> {
    match mode {
        WriteMode::Staged => staged(conn, table, data).await,
        WriteMode::Copy => copy_in(conn, table.name(), table, data).await,
    }
}

async fn write_all(
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

/// Writes every table's rows in one transaction; returns new rows per table.
///
/// In [`WriteMode::Copy`] the rows are copied straight into their tables; if
/// one is already there (a redelivery after a crash, so rare) the transaction
/// rolls back and the whole batch is written again through staging with
/// `ON CONFLICT DO NOTHING`. No savepoint per table: that would cost two
/// round trips and a subtransaction on every batch to save work on the rare
/// one.
pub async fn write_batch(
    pool: &PgPool,
    mode: WriteMode,
    tables: &[(Table, Bytes)],
) -> Result<BTreeMap<Table, u64>, sqlx::Error> {
    if mode == WriteMode::Copy {
        match write_all(pool, WriteMode::Copy, tables).await {
            Err(e) if is_unique_violation(&e) => {
                tracing::debug!(
                    "batch holds rows already stored; writing it again through staging"
                );
            }
            done => return done,
        }
    }
    write_all(pool, WriteMode::Staged, tables).await
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
            let created = arb_runtime::db::ensure_partitions(pool, day, 1).await?;
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
