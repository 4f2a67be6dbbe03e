//! `arbctl backtest`: the backtest jobs in PostgreSQL (`backtest_jobs`, a
//! [`JobResult`] as JSON in `result` once a job has run). `list` and `show`
//! read them; `report` writes one job's HTML page and PNG charts
//! ([`report`], [`charts`], drawn from [`series`]).
//!
//! Amounts are printed as the exact decimal strings the result holds.

mod charts;
mod report;
mod series;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use clap::Subcommand;
use serde_json::{Value, json};
use sqlx::FromRow;
use sqlx::types::Uuid;

use arb_backtest::{JobResult, Summary};
use arb_runtime::db::PgPool;

// Used by the integration tests (tests/backtest.rs) only.
#[cfg(test)]
use {png as _, tempfile as _};

/// What `backtest_jobs.status` may hold.
const STATUSES: [&str; 5] = ["pending", "running", "completed", "failed", "cancelled"];

#[derive(Subcommand, Debug)]
pub enum BacktestCommand {
    /// Jobs, newest first: status, strategy, range, when made and finished,
    /// trades, realized P&L, the event hash's first characters.
    List {
        /// Only jobs with this status.
        #[arg(long, value_parser = STATUSES)]
        status: Option<String>,
        /// At most this many jobs.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..))]
        limit: i64,
        /// One JSON document (an array) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One job: parameters, replay range, status, timings, summary, error.
    Show {
        id: Uuid,
        /// The whole row as one JSON document, the result as stored.
        #[arg(long)]
        json: bool,
    },
    /// Writes one job's report into a directory: report.html (self-contained,
    /// the charts embedded) and the four charts as PNG files.
    Report {
        id: Uuid,
        /// The directory to write into (made if missing).
        #[arg(long)]
        out: PathBuf,
        /// Width of each chart in pixels.
        #[arg(long, default_value_t = 1200, value_parser = clap::value_parser!(u32).range(200..=8000))]
        width: u32,
        /// Height of each chart in pixels.
        #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u32).range(150..=8000))]
        height: u32,
    },
}

/// Runs `arbctl backtest ...`. Returns the exit code: 1 for a job that is
/// not there (or, for `report`, has no result yet).
pub async fn run(
    pool: &PgPool,
    command: BacktestCommand,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    match command {
        BacktestCommand::List {
            status,
            limit,
            json,
        } => {
            let jobs = list(pool, status.as_deref(), limit).await?;
            if json {
                let all: Vec<Value> = jobs.iter().map(ListedJob::to_json).collect();
                writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
            } else {
                write_list(&jobs, out)?;
            }
            Ok(0)
        }
        BacktestCommand::Show { id, json } => {
            let Some(job) = fetch(pool, id).await? else {
                return Ok(missing(id));
            };
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&job.to_json())?)?;
            } else {
                write_show(&job, out)?;
            }
            Ok(0)
        }
        BacktestCommand::Report {
            id,
            out: dir,
            width,
            height,
        } => {
            let Some(job) = fetch(pool, id).await? else {
                return Ok(missing(id));
            };
            let Some(result) = job.result() else {
                eprintln!(
                    "backtest job {id} has no result to report (status {})",
                    job.status
                );
                return Ok(1);
            };
            let result = result.with_context(|| format!("backtest job {id}'s result"))?;
            for path in write_report(&job, &result, &dir, (width, height))? {
                writeln!(out, "{}", path.display())?;
            }
            Ok(0)
        }
    }
}

fn missing(id: Uuid) -> i32 {
    eprintln!("no backtest job {id} (arbctl backtest list shows the jobs there are)");
    1
}

/// A row of `backtest_jobs`.
#[derive(Debug, Clone, FromRow)]
pub(crate) struct Job {
    pub(crate) id: Uuid,
    pub(crate) status: String,
    pub(crate) strategy: String,
    pub(crate) replay_from: DateTime<Utc>,
    pub(crate) replay_to: DateTime<Utc>,
    pub(crate) params: Value,
    pub(crate) result: Option<Value>,
    pub(crate) error: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) updated_at: DateTime<Utc>,
    pub(crate) started_at: Option<DateTime<Utc>>,
    pub(crate) finished_at: Option<DateTime<Utc>>,
}

/// A row of `backtest_jobs` with only the summary of its result.
#[derive(Debug, Clone, FromRow)]
struct ListedJob {
    id: Uuid,
    status: String,
    strategy: String,
    replay_from: DateTime<Utc>,
    replay_to: DateTime<Utc>,
    summary: Option<Value>,
    error: Option<String>,
    created_at: DateTime<Utc>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
}

const HINT: &str = "is the schema current? (arbctl db migrate)";

async fn list(pool: &PgPool, status: Option<&str>, limit: i64) -> anyhow::Result<Vec<ListedJob>> {
    // The summary only: a result's trades and episodes may run to megabytes.
    sqlx::query_as(
        "SELECT id, status, strategy, replay_from, replay_to, result -> 'summary' AS summary,
                error, created_at, started_at, finished_at
         FROM backtest_jobs
         WHERE $1::text IS NULL OR status = $1
         ORDER BY created_at DESC, id DESC
         LIMIT $2",
    )
    .bind(status)
    .bind(limit)
    .fetch_all(pool)
    .await
    .with_context(|| format!("reading backtest_jobs failed; {HINT}"))
}

async fn fetch(pool: &PgPool, id: Uuid) -> anyhow::Result<Option<Job>> {
    sqlx::query_as(
        "SELECT id, status, strategy, replay_from, replay_to, params, result, error,
                created_at, updated_at, started_at, finished_at
         FROM backtest_jobs WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .with_context(|| format!("reading backtest_jobs failed; {HINT}"))
}

impl Job {
    /// The result, read as a [`JobResult`]; `None` while there is none.
    pub(crate) fn result(&self) -> Option<anyhow::Result<JobResult>> {
        self.result.as_ref().map(|v| {
            serde_json::from_value(v.clone()).context("the result is not a backtest result")
        })
    }

    /// The whole row as JSON, the result as stored.
    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "status": self.status,
            "strategy": self.strategy,
            "replay_from": time(self.replay_from),
            "replay_to": time(self.replay_to),
            "params": self.params,
            "result": self.result,
            "error": self.error,
            "created_at": time(self.created_at),
            "updated_at": time(self.updated_at),
            "started_at": self.started_at.map(time),
            "finished_at": self.finished_at.map(time),
        })
    }

    /// The job's fields as (name, text), for `show` and the report.
    pub(crate) fn rows(&self) -> Vec<(&'static str, String)> {
        let mut rows = vec![
            ("id", self.id.to_string()),
            ("status", self.status.clone()),
            ("strategy", self.strategy.clone()),
            (
                "range",
                format!(
                    "{} .. {} ({})",
                    time(self.replay_from),
                    time(self.replay_to),
                    span(self.replay_to - self.replay_from)
                ),
            ),
            ("created", time(self.created_at)),
        ];
        let opt = |t: Option<DateTime<Utc>>| t.map_or_else(|| "-".to_owned(), time);
        let started = match self.started_at {
            Some(s) => format!("{} (queued {})", time(s), span(s - self.created_at)),
            None => opt(None),
        };
        rows.push(("started", started));
        let finished = match (self.started_at, self.finished_at) {
            (Some(s), Some(f)) => format!("{} (ran {})", time(f), span(f - s)),
            (_, f) => opt(f),
        };
        rows.push(("finished", finished));
        rows.push(("updated", time(self.updated_at)));
        if let Some(e) = &self.error {
            rows.push(("error", e.clone()));
        }
        rows
    }
}

/// A summary's figures as (name, text): amounts as their exact decimals.
pub(crate) fn summary_rows(s: &Summary) -> Vec<(&'static str, String)> {
    vec![
        ("currency", s.currency.clone()),
        ("realized_pnl", s.realized_pnl.to_string()),
        ("fees", s.fees.to_string()),
        ("max_drawdown", s.max_drawdown.to_string()),
        (
            "win_rate",
            s.win_rate.map_or_else(|| "-".to_owned(), |w| w.to_string()),
        ),
        ("expected_profit", s.expected_profit.to_string()),
        ("captured_profit", s.captured_profit.to_string()),
        ("trades", counts(&s.trades)),
        ("opportunities", counts(&s.opportunities)),
        ("rejected", counts(&s.rejected)),
        ("books", s.books.to_string()),
        ("statuses", s.statuses.to_string()),
        ("events", s.events.to_string()),
        ("hash", s.hash.clone()),
    ]
}

/// `completed 3, failed 1 (4 in all)`, or `none`.
fn counts(m: &BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".to_owned();
    }
    let parts: Vec<String> = m.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let total: u64 = m.values().sum();
    format!("{} ({total} in all)", parts.join(", "))
}

pub(crate) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `1h 2m 3s`, `2.5s`.
pub(crate) fn span(d: TimeDelta) -> String {
    let ms = d.num_milliseconds();
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 60_000 {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        return format!("{sign}{}s", s.trim_end_matches('0').trim_end_matches('.'));
    }
    let (h, m, s) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}m"));
    }
    if s > 0 {
        parts.push(format!("{s}s"));
    }
    format!("{sign}{}", parts.join(" "))
}

impl ListedJob {
    fn summary(&self) -> Option<Summary> {
        self.summary
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "status": self.status,
            "strategy": self.strategy,
            "replay_from": time(self.replay_from),
            "replay_to": time(self.replay_to),
            "created_at": time(self.created_at),
            "started_at": self.started_at.map(time),
            "finished_at": self.finished_at.map(time),
            "error": self.error,
            "summary": self.summary,
        })
    }
}

fn write_list(jobs: &[ListedJob], out: &mut dyn Write) -> std::io::Result<()> {
    if jobs.is_empty() {
        return writeln!(out, "no backtest jobs");
    }
    const HEADER: [&str; 10] = [
        "id",
        "status",
        "strategy",
        "from",
        "to",
        "created",
        "finished",
        "trades",
        "realized_pnl",
        "hash",
    ];
    // Whole seconds: a table line, not a record.
    let t = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let rows: Vec<[String; 10]> = jobs
        .iter()
        .map(|j| {
            let s = j.summary();
            let dash = || "-".to_owned();
            [
                j.id.to_string(),
                j.status.clone(),
                j.strategy.clone(),
                t(j.replay_from),
                t(j.replay_to),
                t(j.created_at),
                j.finished_at.map_or_else(dash, t),
                s.as_ref()
                    .map_or_else(dash, |s| s.trades.values().sum::<u64>().to_string()),
                s.as_ref()
                    .map_or_else(dash, |s| format!("{} {}", s.realized_pnl, s.currency)),
                s.as_ref()
                    .map_or_else(dash, |s| s.hash.chars().take(12).collect()),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&HEADER.map(str::to_owned)).chain(&rows) {
        let cells: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, w))| match i {
                7 | 8 => format!("{cell:>w$}"),
                _ => format!("{cell:<w$}"),
            })
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

fn write_show(job: &Job, out: &mut dyn Write) -> anyhow::Result<()> {
    // The longest name (`captured_profit`, indented) and two spaces.
    let width = 19;
    for (k, v) in job.rows() {
        writeln!(out, "{k:<width$}{v}")?;
    }
    let params = serde_json::to_string_pretty(&job.params)?;
    let params = params.replace('\n', &format!("\n{:width$}", ""));
    writeln!(out, "{:<width$}{params}", "params")?;
    match job.result() {
        None => writeln!(out, "{:<width$}none yet", "result")?,
        Some(Err(e)) => writeln!(out, "{:<width$}unreadable: {e:#}", "result")?,
        Some(Ok(r)) => {
            writeln!(out, "summary")?;
            for (k, v) in summary_rows(&r.summary) {
                writeln!(out, "  {k:<w$}{v}", w = width - 2)?;
            }
            let closed = r
                .episodes
                .iter()
                .filter(|e| e.duration_ms.is_some())
                .count();
            writeln!(
                out,
                "{:<width$}{} trade points, {} episodes ({closed} closed, {} still open)",
                "recorded",
                r.trades.len(),
                r.episodes.len(),
                r.episodes.len() - closed
            )?;
        }
    }
    Ok(())
}

/// Draws the charts and writes the page; returns the files written, the
/// page first.
fn write_report(
    job: &Job,
    result: &JobResult,
    dir: &Path,
    size: (u32, u32),
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
    let range = (
        job.replay_from.timestamp_millis(),
        job.replay_to.timestamp_millis(),
    );
    let pngs = charts::draw_all(dir, size, range, result)?;
    let mut images = Vec::new();
    for (spec, path) in charts::ALL.iter().zip(&pngs) {
        let png = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        images.push((*spec, png));
    }
    let page = dir.join("report.html");
    std::fs::write(&page, report::html(job, result, &images, size))
        .with_context(|| format!("cannot write {}", page.display()))?;
    Ok(std::iter::once(page).chain(pngs).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        let cases = [
            (0, "0s"),
            (2_500, "2.5s"),
            (59_999, "59.999s"),
            (60_000, "1m"),
            (3_723_000, "1h 2m 3s"),
            (-1_500, "-1.5s"),
        ];
        for (ms, want) in cases {
            assert_eq!(span(TimeDelta::milliseconds(ms)), want, "{ms} ms");
        }
    }

    #[test]
    fn count_maps() {
        assert_eq!(counts(&BTreeMap::new()), "none");
        let m = BTreeMap::from([("failed".to_owned(), 1), ("completed".to_owned(), 3)]);
        assert_eq!(counts(&m), "completed 3, failed 1 (4 in all)");
    }
}
