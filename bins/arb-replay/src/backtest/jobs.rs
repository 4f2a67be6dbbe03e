//! The `backtest_jobs` rows a backtest writes, and the defaults it reads
//! from `config_backtesting_defaults`.

use anyhow::Context;
use arb_contract::time::Timestamp;
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// The newest `config_backtesting_defaults` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Defaults {
    pub start_currency: String,
    pub initial_balance: Decimal,
    pub min_net_edge_bps: Decimal,
    pub max_notional: Decimal,
    /// `{"venue": rate, ...}`: taker fees.
    pub fees: Value,
    /// `{"flag-name": value, ...}`: any other option of the backtest.
    pub params: Value,
}

pub async fn defaults(pool: &PgPool) -> anyhow::Result<Option<Defaults>> {
    sqlx::query_as(
        "SELECT start_currency, initial_balance, min_net_edge_bps, max_notional, fees, params \
         FROM config_backtesting_defaults ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await
    .context("reading config_backtesting_defaults")
}

/// A job row, `running` from now.
pub async fn start(
    pool: &PgPool,
    id: Uuid,
    strategy: &str,
    range: (Timestamp, Timestamp),
    params: &Value,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO backtest_jobs (id, status, strategy, replay_from, replay_to, params, started_at) \
         VALUES ($1, 'running', $2, $3, $4, $5, now())",
    )
    .bind(id)
    .bind(strategy)
    .bind(range.0)
    .bind(range.1)
    .bind(params)
    .execute(pool)
    .await
    .with_context(|| format!("recording backtest job {id}"))?;
    Ok(())
}

/// The job's end: `completed` with its result, or `failed` with why.
pub async fn finish(pool: &PgPool, id: Uuid, outcome: Result<&Value, &str>) -> anyhow::Result<()> {
    let (status, result, error) = match outcome {
        Ok(r) => ("completed", Some(r), None),
        Err(e) => ("failed", None, Some(e)),
    };
    let done = sqlx::query(
        "UPDATE backtest_jobs SET status = $2, result = $3, error = $4, \
                finished_at = now(), updated_at = now() \
         WHERE id = $1",
    )
    .bind(id)
    .bind(status)
    .bind(result)
    .bind(error)
    .execute(pool)
    .await
    .with_context(|| format!("recording the end of backtest job {id}"))?;
    anyhow::ensure!(done.rows_affected() == 1, "backtest job {id} is gone");
    Ok(())
}

/// A job that failed before it could start (nothing to run on): one row,
/// `failed`, so that the attempt and its reason are on record.
pub async fn failed_at_start(
    pool: &PgPool,
    id: Uuid,
    strategy: &str,
    range: (Timestamp, Timestamp),
    params: &Value,
    error: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO backtest_jobs \
             (id, status, strategy, replay_from, replay_to, params, error, started_at, finished_at) \
         VALUES ($1, 'failed', $2, $3, $4, $5, $6, now(), now())",
    )
    .bind(id)
    .bind(strategy)
    .bind(range.0)
    .bind(range.1)
    .bind(params)
    .bind(error)
    .execute(pool)
    .await
    .with_context(|| format!("recording failed backtest job {id}"))?;
    Ok(())
}
