//! arbctl: the operator's CLI. Database (migrate, verify, prune; backup,
//! restore, nuke in [`backup`]), JetStream
//! (streams), the bus ([`tap`] decodes MessagePack to JSON lines; pub encodes
//! JSON to MessagePack with the contract's headers), the executor's runtime
//! configuration in NATS KV ([`config_cmd`]), P&L per strategy ([`pnl`]),
//! backtest jobs and their reports ([`backtest_cmd`]), and the stack's
//! health ([`status`]).
#![forbid(unsafe_code)]

pub mod backtest_cmd;
pub mod backup;
pub mod config_cmd;
pub mod pnl;
pub mod status;
pub mod tap;

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use futures::StreamExt;
use serde_json::{Value, json};

use arb_contract::codec::{self, ContentType, Decoded, WireHeaders};
use arb_runtime::bus::Bus;
use arb_runtime::config::{NatsArgs, StreamArgs, parse_duration};
use arb_runtime::secret::{Secret, redact_url};
use arb_runtime::{clock, db, headers};
pub use config_cmd::ConfigCommand;

// Used by the integration tests only.
#[cfg(test)]
use arb_testkit as _;

#[derive(Parser, Debug)]
#[command(name = "arbctl", version, about = "Operate an arbitrade stack")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// PostgreSQL: migrate, verify, prune, backup, restore, nuke.
    Db {
        #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
        database_url: Option<Secret>,
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Print every message on subjects matching a pattern as one JSON line each,
    /// times as RFC 3339.
    Tap {
        #[command(flatten)]
        nats: NatsArgs,
        /// e.g. `md.book.>` or `arb.opp.cross.*` (the subject prefix is added).
        pattern: String,
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this long.
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<Duration>,
        /// Keep times as the wire's nanoseconds since the epoch.
        #[arg(long)]
        raw: bool,
    },
    /// Publish a JSON message to a contract subject as MessagePack with the right headers.
    Pub {
        #[command(flatten)]
        nats: NatsArgs,
        /// e.g. `md.book.kraken.BTC-USD` (the subject prefix is added).
        subject: String,
        /// The message as JSON, with the contract's field names. A missing `id` is filled in.
        json: String,
        /// Send the JSON as it is (Content-Type application/json), unchecked.
        #[arg(long)]
        raw: bool,
    },
    /// JetStream streams and their consumers.
    Streams {
        #[command(flatten)]
        nats: NatsArgs,
        #[command(flatten)]
        limits: StreamArgs,
        /// Create the four streams (or update their limits) and the arb_config
        /// bucket first: the operator's job, since the services only check
        /// that theirs exist.
        #[arg(long)]
        ensure: bool,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The executor's runtime configuration (NATS KV bucket arb_config): get, set, watch, history.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Profit and loss per strategy from PostgreSQL: trades by status, realized P&L, fees,
    /// win rate, capture of the expected profit; what transfers cost.
    Pnl {
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: Option<Secret>,
        /// Only this strategy's trades.
        #[arg(long)]
        strategy: Option<String>,
        /// One JSON document instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Backtest jobs in PostgreSQL: list them, show one, write one's HTML and PNG report.
    Backtest {
        #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true)]
        database_url: Option<Secret>,
        #[command(subcommand)]
        command: backtest_cmd::BacktestCommand,
    },
    /// Health of the stack: heartbeats, streams and consumer lag, dead letters,
    /// the database. Exits 1 when something is unhealthy.
    Status(status::StatusArgs),
}

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Apply pending migrations; set the passwords of the roles they create.
    Migrate {
        /// Password of `arb_writer` (the sink's role), set after migrating.
        #[arg(long, env = "ARB_DB_WRITER_PASSWORD", hide_env_values = true)]
        writer_password: Option<Secret>,
        /// Password of `arb_reader` (read-only), set after migrating.
        #[arg(long, env = "ARB_DB_READER_PASSWORD", hide_env_values = true)]
        reader_password: Option<Secret>,
    },
    /// Check the connection, tables and migrations; count rows. Exits 1 when something is wrong.
    Verify {
        #[arg(long)]
        json: bool,
    },
    /// Drop market_snapshots partitions older than a duration (e.g. 30d).
    Prune {
        #[arg(long, value_parser = parse_duration)]
        older_than: Duration,
        /// List what would be dropped, drop nothing.
        #[arg(long)]
        dry_run: bool,
    },
    #[command(flatten)]
    Backup(backup::BackupCommand),
}

/// Runs one command, writing its output to `out`. Returns the process exit code.
pub async fn run(cli: Cli, out: &mut (dyn Write + Send)) -> anyhow::Result<i32> {
    match cli.command {
        // They connect by themselves: nuke refuses first, restore goes to --into.
        Command::Db {
            database_url,
            command: DbCommand::Backup(command),
        } => backup::run(database_url, command, out).await,
        Command::Db {
            database_url,
            command,
        } => {
            let pool = connect_db(database_url).await?;
            db_command(&pool, command, out).await
        }
        Command::Config { command } => config_cmd::run(command, out).await,
        Command::Pnl {
            database_url,
            strategy,
            json,
        } => {
            let pool = connect_db(database_url).await?;
            pnl::run(&pool, strategy.as_deref(), json, out).await
        }
        Command::Backtest {
            database_url,
            command,
        } => {
            let pool = connect_db(database_url).await?;
            backtest_cmd::run(&pool, command, out).await
        }
        Command::Tap {
            nats,
            pattern,
            count,
            timeout,
            raw,
        } => {
            let times = if raw {
                tap::Times::Raw
            } else {
                tap::Times::Rfc3339
            };
            tap::run(&nats, &pattern, count, timeout, times, out).await
        }
        Command::Status(args) => status::run(args, out).await,
        Command::Pub {
            nats,
            subject,
            json,
            raw,
        } => publish(&nats, &subject, &json, raw, out).await,
        Command::Streams {
            nats,
            limits,
            ensure,
            json,
        } => streams(&nats, &limits, ensure, json, out).await,
    }
}

async fn connect_db(database_url: Option<Secret>) -> anyhow::Result<db::PgPool> {
    let url = database_url.context("--database-url or DATABASE_URL is required")?;
    db::connect(url.expose(), 2, Some(Duration::from_secs(10)))
        .await
        .with_context(|| {
            format!(
                "failed to connect to PostgreSQL at {}",
                redact_url(url.expose())
            )
        })
}

async fn db_command(
    pool: &db::PgPool,
    command: DbCommand,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    match command {
        DbCommand::Migrate {
            writer_password,
            reader_password,
        } => {
            db::migrate(pool).await.context("migration failed")?;
            for (role, password) in [
                ("arb_writer", writer_password),
                ("arb_reader", reader_password),
            ] {
                if let Some(p) = password {
                    sqlx::query("SELECT arb_set_role_password($1, $2)")
                        .bind(role)
                        .bind(p.expose())
                        .execute(pool)
                        .await
                        .with_context(|| format!("setting the password of {role}"))?;
                    writeln!(out, "password of {role} set")?;
                }
            }
            let v = db::verify(pool).await?;
            writeln!(
                out,
                "schema is current ({} migrations known)",
                db::MIGRATOR.iter().count()
            )?;
            Ok(if v.is_ok() { 0 } else { 1 })
        }
        DbCommand::Verify { json } => {
            let v = db::verify(pool)
                .await
                .context("verification query failed")?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                writeln!(out, "connection: ok (PostgreSQL {})", v.server_version)?;
                writeln!(
                    out,
                    "pgcrypto: {}",
                    if v.pgcrypto { "ok" } else { "MISSING" }
                )?;
                if v.missing_tables.is_empty() {
                    writeln!(out, "tables: all {} present", db::TABLES.len())?;
                } else {
                    writeln!(out, "tables: MISSING {}", v.missing_tables.join(", "))?;
                }
                if v.pending_migrations.is_empty() {
                    writeln!(out, "migrations: none pending")?;
                } else {
                    writeln!(
                        out,
                        "migrations: PENDING {}",
                        v.pending_migrations.join(", ")
                    )?;
                }
                if !v.changed_migrations.is_empty() {
                    writeln!(
                        out,
                        "migrations: CHANGED since applied {}",
                        v.changed_migrations.join(", ")
                    )?;
                }
                writeln!(out, "rows:")?;
                for (t, n) in &v.row_counts {
                    writeln!(out, "  {t:<30} {n:>12}")?;
                }
                writeln!(
                    out,
                    "market_snapshots partitions: {}",
                    v.market_partitions.len()
                )?;
                writeln!(out, "{}", if v.is_ok() { "OK" } else { "NOT OK" })?;
            }
            Ok(if v.is_ok() { 0 } else { 1 })
        }
        DbCommand::Prune {
            older_than,
            dry_run,
        } => {
            let cutoff = clock::now() - chrono::Duration::from_std(older_than)?;
            if dry_run {
                let v = db::verify(pool).await?;
                let cutoff_name = format!(
                    "market_snapshots_p{}",
                    (cutoff.date_naive() - chrono::Days::new(1)).format("%Y%m%d")
                );
                for p in v
                    .market_partitions
                    .iter()
                    .filter(|p| p.as_str() <= cutoff_name.as_str())
                {
                    writeln!(out, "would drop {p}")?;
                }
            } else {
                let dropped = db::drop_partitions_before(pool, cutoff).await?;
                for p in &dropped {
                    writeln!(out, "dropped {p}")?;
                }
                writeln!(
                    out,
                    "{} partitions dropped (cutoff {cutoff})",
                    dropped.len()
                )?;
            }
            Ok(0)
        }
        DbCommand::Backup(_) => unreachable!("run() sends the backup commands to backup::run"),
    }
}

async fn publish(
    nats: &NatsArgs,
    subject: &str,
    body: &str,
    raw: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    let bus = Bus::connect_once(nats, "arbctl-pub").await?;
    let subject = bus.subjects.with_prefix(subject);
    let mut publisher = bus.publisher(1);
    if raw {
        publisher
            .publish_raw(
                subject.clone(),
                headers::header_map([(codec::CONTENT_TYPE, codec::JSON)]),
                bytes::Bytes::from(body.to_owned()),
            )
            .await?;
    } else {
        let mut value: Value =
            serde_json::from_str(body).context("the message is not valid JSON")?;
        if let Some(obj) = value.as_object_mut() {
            obj.entry("id").or_insert_with(|| json!(clock::new_id()));
        } else {
            bail!("the message must be a JSON object");
        }
        let msg = Decoded::decode(
            &bus.subjects,
            &subject,
            WireHeaders::NONE,
            &serde_json::to_vec(&value)?,
        )
        .with_context(|| format!("not a valid message for {subject}"))?;
        publisher
            .publish_raw(
                subject.clone(),
                headers::to_map(&msg.headers(ContentType::Msgpack)),
                msg.encode(ContentType::Msgpack)?,
            )
            .await?;
        writeln!(out, "{}", msg.id())?;
    }
    publisher.flush().await?;
    bus.drain().await;
    Ok(0)
}

async fn streams(
    nats: &NatsArgs,
    limits: &StreamArgs,
    ensure: bool,
    as_json: bool,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    let bus = Bus::connect_once(nats, "arbctl-streams").await?;
    if ensure {
        bus.ensure_streams(limits)
            .await
            .context("cannot create the JetStream streams")?;
        // The executor's runtime configuration: the executor only opens it.
        arb_runtime::kv::bucket(&bus, arb_exec::settings::BUCKET, config_cmd::HISTORY)
            .await
            .context("cannot create the arb_config bucket")?;
    }
    let mut report = Vec::new();
    for kind in arb_contract::subject::StreamKind::ALL {
        let name = bus.subjects.stream_name(kind);
        let mut stream = match bus.js.get_stream(&name).await {
            Ok(s) => s,
            Err(_) => {
                report.push(json!({"stream": name, "exists": false}));
                continue;
            }
        };
        let info = stream.info().await?.clone();
        let mut consumers = Vec::new();
        let mut list = stream.consumers();
        while let Some(c) = list.next().await {
            let c = c?;
            consumers.push(json!({
                "name": c.name,
                "pending": c.num_pending,
                "ack_pending": c.num_ack_pending,
                "redelivered": c.num_redelivered,
                "delivered_stream_seq": c.delivered.stream_sequence,
                "ack_floor_stream_seq": c.ack_floor.stream_sequence,
            }));
        }
        report.push(json!({
            "stream": name,
            "exists": true,
            "subjects": info.config.subjects,
            "messages": info.state.messages,
            "bytes": info.state.bytes,
            "first_seq": info.state.first_sequence,
            "last_seq": info.state.last_sequence,
            "max_age_secs": info.config.max_age.as_secs(),
            "max_bytes": info.config.max_bytes,
            "consumers": consumers,
        }));
    }
    if as_json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        for s in &report {
            if s["exists"] == false {
                writeln!(
                    out,
                    "{:<16} (does not exist; `arbctl streams --ensure` creates it)",
                    s["stream"].as_str().unwrap_or("")
                )?;
                continue;
            }
            writeln!(
                out,
                "{:<16} {:>10} msgs {:>12} bytes  seq {}..{}",
                s["stream"].as_str().unwrap_or(""),
                s["messages"],
                s["bytes"],
                s["first_seq"],
                s["last_seq"]
            )?;
            for c in s["consumers"].as_array().into_iter().flatten() {
                writeln!(
                    out,
                    "  consumer {:<20} pending {:>8}  ack pending {:>6}  redelivered {:>6}",
                    c["name"].as_str().unwrap_or(""),
                    c["pending"],
                    c["ack_pending"],
                    c["redelivered"]
                )?;
            }
        }
    }
    bus.drain().await;
    Ok(0)
}
