//! `arbctl db backup | restore | nuke`: backups that restore. A backup is a
//! pg_dump of the whole database in its custom format under
//! `<dir>/<db>/<YYYY>/<MM>/<DD>/backup-<UTC time>.dump`, its SHA-256 beside
//! it ([`store`]); a restore checks that first, fills an empty database with
//! pg_restore, migrates it to head and verifies it; nuke empties a database.
//! The compose stack's `backup` service runs `backup --every 15m`.
//!
//! pg_dump and pg_restore run as child processes ([`tools`]) rather than a
//! dump of our own: they are the tools made for the job (one consistent
//! snapshot, every object — partitions, functions, grants, sequences — in
//! dependency order, compressed), and their custom format is the one
//! operators already use: `pg_restore --list`, a restore of one table, a
//! restore by hand without arbctl all work on these files.

mod nuke;
mod restore;
pub mod store;
mod tools;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};

use arb_runtime::clock;
use arb_runtime::config::parse_duration;
use arb_runtime::secret::Secret;

use store::Store;
use tools::{ChildUrl, Tool};

/// The backup commands of `arbctl db`.
#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// pg_dump the database (custom format) to DIR/<db>/YYYY/MM/DD/backup-<UTC time>.dump,
    /// its SHA-256 beside it; keep the newest N with --retention; repeat with --every.
    Backup(BackupArgs),
    /// Restore a backup into an empty database (its checksum checked first), migrate it
    /// to head, verify it.
    Restore(RestoreArgs),
    /// Drop schema public with every table and row, and make it again, empty.
    /// Needs --yes; a database on another machine needs --force too.
    Nuke(NukeArgs),
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The backup directory: each database's backups go in a folder of its name.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// After the backup, keep the newest N of this database's backups and delete the rest.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub retention: Option<u32>,
    /// Run until stopped (SIGTERM, Ctrl-C): a backup now and one every interval
    /// (e.g. 15m). A failed backup is logged and the next one tried on time.
    #[arg(long, value_name = "INTERVAL", value_parser = parse_duration)]
    pub every: Option<Duration>,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// A backup-<time>.dump, with its .sha256 beside it.
    pub file: PathBuf,
    /// The database to restore into; it must be empty (a new one, or one nuked).
    #[arg(long, value_name = "URL")]
    pub into: Secret,
}

#[derive(Args, Debug)]
pub struct NukeArgs {
    /// Yes, drop every table and row of the database.
    #[arg(long)]
    pub yes: bool,
    /// Even though the server is not on this machine (localhost, 127.0.0.1, ::1, a unix socket).
    #[arg(long)]
    pub force: bool,
}

/// Runs one backup command; `database_url` is `arbctl db`'s (restore takes
/// its target from `--into`). Returns the exit code.
pub async fn run(
    database_url: Option<Secret>,
    command: BackupCommand,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    match command {
        BackupCommand::Backup(args) => {
            let url = database_url.context("--database-url or DATABASE_URL is required")?;
            backup(&url, &args, out).await
        }
        BackupCommand::Restore(args) => restore::run(&args, out).await,
        BackupCommand::Nuke(args) => nuke::run(database_url, &args, out).await,
    }
}

async fn backup(
    url: &Secret,
    args: &BackupArgs,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    let pg_dump = Tool::PgDump.locate()?;
    let Some(every) = args.every else {
        backup_once(url, args, &pg_dump, out).await?;
        return Ok(0);
    };
    anyhow::ensure!(!every.is_zero(), "--every must be longer than 0s");
    let shown = format!("{every:?}");
    let mut shutdown = std::pin::pin!(arb_runtime::shutdown::signal());
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = &mut shutdown => break,
        }
        tokio::select! {
            r = backup_once(url, args, &pg_dump, out) => if let Err(e) = r {
                tracing::error!(error = format!("{e:#}"), "backup failed; the next one in {shown}");
            },
            // The child is killed and its partial file removed.
            () = &mut shutdown => {
                tracing::info!("stopped during a backup, which is abandoned");
                break;
            }
        }
    }
    Ok(0)
}

/// One backup, then retention.
async fn backup_once(
    url: &Secret,
    args: &BackupArgs,
    pg_dump: &Path,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let child = ChildUrl::new(url.expose())?;
    let pool = super::connect_db(Some(url.clone())).await?;
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await?;
    pool.close().await;

    let store = Store::new(&args.dir, &database);
    let pending = store.begin(clock::now())?;
    let started = Instant::now();
    let warnings = tools::run(
        Tool::PgDump,
        pg_dump,
        &child,
        &[
            "--format=custom".into(),
            "--file".into(),
            pending.path().into(),
        ],
    )
    .await?;
    if !warnings.is_empty() {
        tracing::warn!(%warnings, "pg_dump");
    }
    let done = tokio::task::spawn_blocking(move || pending.commit()).await??;
    let secs = started.elapsed().as_secs_f64();
    writeln!(
        out,
        "backup {} ({} bytes, sha256 {}) of {database} in {secs:.1}s",
        done.dump.display(),
        done.bytes,
        done.sha256
    )?;
    tracing::info!(path = %done.dump.display(), bytes = done.bytes, secs, "backup written");
    if let Some(n) = args.retention {
        let pruned = store
            .prune(n as usize)
            .with_context(|| format!("retention in {} failed", store.root().display()))?;
        for p in &pruned.removed {
            writeln!(out, "removed {}", p.display())?;
        }
        writeln!(
            out,
            "retention {n}: {} backups kept, {} files removed",
            pruned.kept.len(),
            pruned.removed.len()
        )?;
    }
    out.flush()?;
    Ok(())
}
