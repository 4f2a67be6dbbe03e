//! `arbctl status`: the health of a stack in one look, and a healthcheck.
//!
//! Every service's newest heartbeat (`sys.state.<service>` in the SYS
//! stream: version, uptime, counters, the lag it reports), the services
//! silent for more than three of their intervals, the prefix's streams
//! (messages, bytes, first and last time) with each durable consumer's lag,
//! the dead letters of the last hour per `sys.dlq.*` subject, and, given a
//! database URL, the database's size and each table's newest row.
//!
//! A service's interval is read off its own heartbeats, since they do not
//! say it ([`report::interval`]); a service with a single heartbeat gets
//! `--interval`. Exit code 1 when anything is unhealthy (a silent or, with
//! `--expect`, a never-seen service, NATS or the database unreachable, a
//! stream or table missing), 0 otherwise, 2 on bad input.
//!
//! [`collect`] reads the [`facts`], [`report`] judges them, [`render`] prints.

mod collect;
pub mod facts;
pub mod render;
pub mod report;

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::Context;

use arb_runtime::clock;
use arb_runtime::config::{NatsArgs, parse_duration};
use arb_runtime::secret::Secret;

pub use report::Report;

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Also look at this database: its size and each table's newest row.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,
    /// Services that must be heartbeating, comma-separated (e.g.
    /// `feed-kraken,sink`): one that never sent a heartbeat is unhealthy.
    #[arg(long, value_delimiter = ',', value_name = "SERVICES")]
    pub expect: Vec<String>,
    /// The interval assumed for a service with a single heartbeat (the
    /// services' default); others are measured from their heartbeats.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,
    /// Count the dead letters stored this far back.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub dead_letters_since: Duration,
    /// One JSON document instead of the sections (with --watch, one per line).
    #[arg(long)]
    pub json: bool,
    /// Look again every INTERVAL (default 2s) until interrupted, redrawing in
    /// place on a terminal. The exit code is the last look's.
    #[arg(long, value_name = "INTERVAL", num_args = 0..=1, default_missing_value = "2s",
          value_parser = parse_duration)]
    pub watch: Option<Duration>,
}

/// One look at the stack, assessed.
pub async fn look(args: &StatusArgs) -> anyhow::Result<Report> {
    let now = clock::now();
    let since = now - chrono::Duration::from_std(args.dead_letters_since)?;
    let url = args.database_url.as_ref().map(Secret::expose);
    let facts = collect::facts(&args.nats, url, now, since).await;
    Ok(Report::assess(facts, &args.expect, args.interval))
}

/// Runs `arbctl status`; returns the exit code.
pub async fn run(args: StatusArgs, out: &mut (dyn Write + Send)) -> anyhow::Result<i32> {
    // A bad prefix is bad input, not an unhealthy stack.
    args.nats.subjects().context("bad subject prefix")?;
    let Some(every) = args.watch else {
        let report = look(&args).await?;
        if args.json {
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&render::to_json(&report))?
            )?;
        } else {
            render::write_text(&report, out)?;
        }
        return Ok(report.exit_code());
    };
    // Redraw in place only where a person watches; a pipe or a file gets
    // one look after another.
    let tty = std::io::stdout().is_terminal();
    let shutdown = arb_runtime::shutdown::signal();
    tokio::pin!(shutdown);
    let mut code = 0;
    loop {
        let report = tokio::select! {
            r = look(&args) => r?,
            _ = &mut shutdown => break,
        };
        code = report.exit_code();
        if tty {
            // Home, clear the screen.
            write!(out, "\x1b[H\x1b[2J")?;
        }
        if args.json {
            writeln!(out, "{}", render::to_json(&report))?;
        } else {
            render::write_text(&report, out)?;
            if !tty {
                writeln!(out)?;
            }
        }
        out.flush()?;
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = &mut shutdown => break,
        }
    }
    Ok(code)
}
