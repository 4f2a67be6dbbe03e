//! `arb-replay backtest`: a range of recorded books (the MD stream, or
//! PostgreSQL's `market_snapshots`) through the detector and the paper
//! executor in one process on event time ([`arb_backtest::Run`]), with the
//! same options as `arb-detector` and `arb-executor`. Each run is a
//! `backtest_jobs` row ([`jobs`]); options left unset take their defaults
//! from `config_backtesting_defaults`; `--sweep` runs every combination of
//! parameter values over the one loaded history, in parallel over the cores;
//! `--parity` compares the opportunities with what the live detector
//! published ([`parity`]); `--publish` puts every event under
//! `replay.<run>` for the sink (or any consumer) to take.

pub mod jobs;
pub mod parity;
pub mod source;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::future::Future;
use std::process::ExitCode;

use anyhow::Context;
use arb_backtest::sweep::{self, Axis};
use arb_backtest::{Outcome, Params, Run};
use arb_detector::DetectorArgs;
use arb_executor::ExecutorArgs;
use arb_runtime::bus::Bus;
use arb_runtime::config::{FeeSpec, NatsArgs, StreamArgs};
use arb_runtime::secret::Secret;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches};
use rayon::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use source::{Bound, History, SourceKind};

/// Exit code when `--parity` found a difference.
pub const PARITY_DIFFERS: u8 = 3;

/// Options of `arb-replay backtest`: where the books come from, the
/// detector's options (as `arb-detector` takes them), the executor's (as
/// `arb-executor` takes them; its `--fee` is `--exec-fee` here), and what to
/// do with the results.
#[derive(clap::Args, Debug, Clone)]
#[command(args_override_self = true)]
pub struct BacktestArgs {
    /// Where the recorded books are read from.
    #[arg(long, value_enum, default_value = "jetstream")]
    pub source: SourceKind,
    /// Start of the range: an RFC 3339 time (recording time for JetStream,
    /// event time for PostgreSQL) or a stream sequence.
    #[arg(long)]
    pub from: Option<Bound>,
    /// End of the range, as `--from`: a sequence is included, a time is
    /// not; default: the newest.
    #[arg(long)]
    pub to: Option<Bound>,
    #[command(flatten)]
    pub detect: DetectorArgs,
    #[command(flatten)]
    pub exec: ExecutorArgs,
    /// The executor's taker fee per venue (`venue=rate`); a venue not named
    /// pays the rate its opportunity leg carries (the detector's `--fee`).
    #[arg(long = "exec-fee", value_delimiter = ',')]
    pub exec_fees: Vec<FeeSpec>,
    /// Sweep a parameter over values, `name=v1,v2,...` (a flag's name with
    /// `_`, e.g. `min_net_edge_bps=5,10,20`; `latency_ms=0,50` sets
    /// `--latency` in ms); repeat for a grid of every combination.
    #[arg(long = "sweep")]
    pub sweeps: Vec<Axis>,
    /// Compare the opportunities with those the live detector published on
    /// the ARB stream over the same range; exit 3 on any difference.
    #[arg(long)]
    pub parity: bool,
    /// Publish every event produced under `replay.<run>` (its streams
    /// `REPLAY_<RUN>_*`), for the sink or any consumer to take.
    #[arg(long)]
    pub publish: bool,
    /// The run id events are published under (default: the job id): as
    /// `arb-replay publish --run`, letters, digits, `-` and `_`.
    #[arg(long, value_parser = crate::publish::parse_run)]
    pub run: Option<String>,
    /// Print each job's summary as one JSON line instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Runs at once in a sweep (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Secret,
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub streams: StreamArgs,
}

/// One run of a sweep (or the only one): its job id, its parameter values,
/// its settings.
struct Job {
    id: Uuid,
    /// The whole command line the job's options were parsed from.
    argv: Vec<OsString>,
    sweep: Vec<(String, String)>,
    args: BacktestArgs,
    params: Params,
}

pub async fn run(
    args: BacktestArgs,
    argv: Vec<OsString>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<ExitCode> {
    let pool = arb_runtime::db::connect(args.database_url.expose(), 4, None)
        .await
        .context("connecting to PostgreSQL")?;
    let defaults = jobs::defaults(&pool).await?;
    let base = with_defaults(&argv, defaults.as_ref())?;
    let combos = sweep::grid(&args.sweeps)?;
    anyhow::ensure!(
        !(args.parity && combos.len() > 1),
        "--parity compares one run, not a sweep"
    );
    anyhow::ensure!(
        !args.parity || args.source == SourceKind::Jetstream,
        "--parity compares with the ARB stream: it needs --source jetstream"
    );
    let keep = args.parity || args.publish;
    let mut planned = Vec::with_capacity(combos.len());
    for combo in combos {
        let mut v = base.clone();
        v.extend(combo.iter().map(|(k, x)| OsString::from(sweep::flag(k, x))));
        let a = reparse(&v).with_context(|| describe(&combo))?;
        let params = params(&a, keep).with_context(|| describe(&combo))?;
        planned.push(Job {
            id: Uuid::now_v7(),
            argv: v,
            sweep: combo,
            args: a,
            params,
        });
    }

    let bus = match args.source {
        SourceKind::Jetstream => Some(
            Bus::connect(&args.nats, "replay", None)
                .await
                .context("connecting to NATS")?,
        ),
        SourceKind::Postgres => None,
    };
    let load = async {
        match &bus {
            Some(bus) => source::jetstream(bus, args.from, args.to).await,
            None => source::postgres(&pool, args.from, args.to).await,
        }
    };
    let history = tokio::select! {
        h = load => h?,
        _ = shutdown => anyhow::bail!("interrupted while loading the history"),
    };
    tracing::info!(
        inputs = history.inputs.len(),
        skipped = history.skipped,
        "history loaded"
    );
    let Some(range) = history.event_range().filter(|_| history.books() > 0) else {
        let now = arb_runtime::clock::now();
        let reason = "no books in the range";
        for j in &planned {
            let p = recorded_params(j, &history, &args);
            jobs::failed_at_start(
                &pool,
                j.id,
                j.args.detect.strategy.as_str(),
                (now, now),
                &p,
                reason,
            )
            .await?;
        }
        anyhow::bail!(
            "{reason} ({} source, from {:?} to {:?})",
            args.source.as_str(),
            args.from,
            args.to
        );
    };
    for j in &planned {
        let p = recorded_params(j, &history, &args);
        jobs::start(&pool, j.id, j.args.detect.strategy.as_str(), range, &p).await?;
    }

    let history = std::sync::Arc::new(history);
    let threads = args.threads.unwrap_or(0);
    let inputs = history.clone();
    let work: Vec<(Uuid, Params)> = planned.iter().map(|j| (j.id, j.params.clone())).collect();
    let outcomes = tokio::task::spawn_blocking(move || {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        Ok::<_, anyhow::Error>(pool.install(|| {
            work.into_par_iter()
                .map(|(id, p)| (id, Run::over(p, &inputs.inputs).map_err(|e| e.to_string())))
                .collect::<Vec<_>>()
        }))
    })
    .await
    .context("the backtest task")??;

    let mut code = ExitCode::SUCCESS;
    let mut rows = Vec::new();
    for (job, (id, outcome)) in planned.iter().zip(outcomes) {
        debug_assert_eq!(job.id, id);
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                jobs::finish(&pool, id, Err(&e)).await?;
                eprintln!("job {id}: failed: {e}");
                code = ExitCode::FAILURE;
                continue;
            }
        };
        let mut result = serde_json::to_value(&outcome.result)?;
        if args.parity {
            let bus = bus.as_ref().context("parity needs NATS")?;
            let kind = job.args.detect.strategy.kind();
            let kind = match kind {
                arb_detect::StrategyKind::Cross => arb_contract::OpportunityKind::Cross,
                arb_detect::StrategyKind::Triangular => arb_contract::OpportunityKind::Triangular,
            };
            let live = parity::live(bus, kind, range, history.first_recorded).await?;
            let diffs = parity::compare(&live, &outcome.opportunities);
            report_parity(&live, &outcome, &diffs);
            result["parity"] = json!({
                "live": live.len(),
                "backtest": outcome.opportunities.len(),
                "differences": diffs.len(),
                "first": diffs.iter().take(100).collect::<Vec<_>>(),
            });
            if !diffs.is_empty() {
                code = ExitCode::from(PARITY_DIFFERS);
            }
        }
        if args.publish {
            let run = job.args.run.clone().unwrap_or_else(|| id.to_string());
            publish(&args, &run, &outcome).await?;
            result["published_under"] = json!(format!("replay.{run}"));
        }
        jobs::finish(&pool, id, Ok(&result)).await?;
        rows.push((job, outcome));
    }
    print(&rows, args.json);
    Ok(code)
}

fn describe(combo: &[(String, String)]) -> String {
    if combo.is_empty() {
        "the backtest's options".into()
    } else {
        let c: Vec<String> = combo.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("sweep point {}", c.join(" "))
    }
}

/// The backtest's options from a full command line.
fn reparse(argv: &[OsString]) -> anyhow::Result<BacktestArgs> {
    let matches = crate::Cli::command().try_get_matches_from(argv)?;
    let sub = backtest_matches(&matches)?;
    Ok(BacktestArgs::from_arg_matches(sub)?)
}

fn backtest_matches(m: &ArgMatches) -> anyhow::Result<&ArgMatches> {
    m.subcommand_matches("backtest")
        .context("not a backtest command line")
}

/// The detector's and the executor's settings.
fn params(a: &BacktestArgs, keep_events: bool) -> anyhow::Result<Params> {
    let detector = a.detect.detector()?;
    let (engine, live) = a.exec.engine(&a.exec_fees)?;
    Ok(Params {
        strategy: a.detect.strategy.kind(),
        detector,
        engine,
        live,
        keep_events,
    })
}

/// The command line with `config_backtesting_defaults` filling in what the
/// user left unset (neither on the command line nor in the environment).
fn with_defaults(
    argv: &[OsString],
    defaults: Option<&jobs::Defaults>,
) -> anyhow::Result<Vec<OsString>> {
    let mut out = argv.to_vec();
    let Some(d) = defaults else {
        return Ok(out);
    };
    let matches = crate::Cli::command().try_get_matches_from(argv)?;
    let m = backtest_matches(&matches)?;
    let command = BacktestArgs::augment_args(clap::Command::new("backtest"));
    // An option the user set; a name that is no option is "unset", and the
    // check of the whole line below names it.
    let unset = |id: &str| {
        !command.get_arguments().any(|a| a.get_id() == id)
            || !matches!(
                m.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
    };
    let mut add = |flag: String| out.push(OsString::from(flag));
    if unset("min_net_edge_bps") {
        add(format!("--min-net-edge-bps={}", d.min_net_edge_bps));
    }
    if unset("max_notional") {
        add(format!("--max-notional={}", d.max_notional));
    }
    if unset("start_currency") {
        add(format!("--start-currency={}", d.start_currency));
    }
    if unset("valuation_currency") {
        add(format!("--valuation-currency={}", d.start_currency));
    }
    if unset("balances") {
        // The built-in venues' balances, with the start currency at the
        // default initial balance.
        let a = BacktestArgs::from_arg_matches(m)?;
        let currency = arb_contract::symbol::normalize_asset(&d.start_currency);
        for mut b in a.exec.balances {
            b.assets.insert(currency.clone(), d.initial_balance);
            let assets: Vec<String> = b.assets.iter().map(|(k, v)| format!("{k}={v}")).collect();
            add(format!("--balance={}:{}", b.venue, assets.join(",")));
        }
    }
    let object = |v: &Value, what: &str| -> anyhow::Result<Vec<(String, String)>> {
        match v {
            Value::Null => Ok(Vec::new()),
            Value::Object(o) => Ok(o
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()),
            other => anyhow::bail!("config_backtesting_defaults.{what} is not an object: {other}"),
        }
    };
    if unset("fees") {
        for (venue, rate) in object(&d.fees, "fees")? {
            add(format!("--fee={venue}={rate}"));
        }
    }
    for (name, value) in object(&d.params, "params")? {
        if unset(&name.replace('-', "_")) {
            add(format!("--{}={value}", name.replace('_', "-")));
        }
    }
    // A bad default is named as one.
    reparse(&out).context("the defaults in config_backtesting_defaults")?;
    Ok(out)
}

/// What a job row records of its parameters: every detector and executor
/// option's value as parsed (defaults included; no URL, so no secret), the
/// sweep point, the source.
fn recorded_params(job: &Job, history: &History, args: &BacktestArgs) -> Value {
    let mut opts = BTreeMap::new();
    if let Ok(matches) = crate::Cli::command().try_get_matches_from(&job.argv)
        && let Ok(m) = backtest_matches(&matches)
    {
        let detector = DetectorArgs::augment_args(clap::Command::new("detector"));
        let executor = ExecutorArgs::augment_args(clap::Command::new("executor"));
        let options: Vec<(String, bool)> = detector
            .get_arguments()
            .chain(executor.get_arguments())
            .map(|a| (a.get_id().to_string(), is_list(a)))
            .chain([("exec_fees".to_owned(), true)])
            .collect();
        for (id, list) in options {
            if let Ok(Some(raw)) = m.try_get_raw(&id) {
                let values: Vec<String> = raw.map(|v| v.to_string_lossy().into_owned()).collect();
                let value = match values.as_slice() {
                    [one] if !list => json!(one),
                    _ => json!(values),
                };
                opts.insert(id, value);
            }
        }
    }
    json!({
        "options": opts,
        "sweep": job.sweep.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>(),
        "source": {
            "kind": args.source.as_str(),
            "prefix": args.nats.subject_prefix,
            "from": args.from.map(|b| b.to_string()),
            "to": args.to.map(|b| b.to_string()),
            "first_seq": history.first_seq,
            "last_seq": history.last_seq,
            "first_recorded": history.first_recorded.map(|t| arb_backtest::record::rfc3339(&t)),
            "last_recorded": history.last_recorded.map(|t| arb_backtest::record::rfc3339(&t)),
            "inputs": history.inputs.len(),
            "books": history.books(),
            "skipped": history.skipped,
        },
        "parity": args.parity,
        "publish": args.publish,
    })
}

/// An option that takes several values (recorded as a list even with one).
fn is_list(arg: &clap::Arg) -> bool {
    matches!(arg.get_action(), clap::ArgAction::Append)
}

fn report_parity(live: &[arb_contract::Opportunity], out: &Outcome, diffs: &[parity::Difference]) {
    eprintln!(
        "parity: {} live opportunities, {} from the backtest, {} differences",
        live.len(),
        out.opportunities.len(),
        diffs.len()
    );
    for d in diffs.iter().take(50) {
        eprintln!(
            "  {} {} {} {}: live {} backtest {}",
            d.id, d.key, d.state, d.what, d.live, d.backtest
        );
    }
    if diffs.len() > 50 {
        eprintln!(
            "  ... and {} more (all in the job's result)",
            diffs.len() - 50
        );
    }
}

/// Every event of a run under `replay.<run>`, acknowledged by JetStream.
async fn publish(args: &BacktestArgs, run: &str, out: &Outcome) -> anyhow::Result<()> {
    let mut nats = args.nats.clone();
    nats.subject_prefix = crate::publish::target_subjects(run)?
        .prefix()
        .map(str::to_owned);
    let bus = Bus::connect(&nats, "replay", None)
        .await
        .context("connecting to NATS to publish")?;
    crate::run_streams(&bus, &args.streams, std::future::pending())
        .await
        .with_context(|| format!("the streams of replay.{run}"))?;
    let mut p = bus.publisher(4096);
    for m in &out.events {
        p.publish_decoded(m).await?;
    }
    p.flush().await?;
    bus.drain().await;
    Ok(())
}

fn print(rows: &[(&Job, Outcome)], json: bool) {
    for (job, out) in rows {
        let s = &out.result.summary;
        if json {
            let line = json!({
                "job": job.id,
                "sweep": job.sweep.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>(),
                "summary": s,
            });
            println!("{line}");
        }
    }
    if json {
        return;
    }
    let names: Vec<&str> = rows
        .first()
        .map(|(j, _)| j.sweep.iter().map(|(k, _)| k.as_str()).collect())
        .unwrap_or_default();
    let mut header = vec!["job".to_owned()];
    header.extend(names.iter().map(|n| (*n).to_owned()));
    header.extend(
        [
            "books",
            "opps",
            "trades",
            "realized",
            "fees",
            "max_dd",
            "win_rate",
            "captured/expected",
            "hash",
        ]
        .map(str::to_owned),
    );
    let mut table = vec![header];
    for (job, out) in rows {
        let s = &out.result.summary;
        let mut r = vec![job.id.to_string()];
        r.extend(job.sweep.iter().map(|(_, v)| v.clone()));
        r.push(s.books.to_string());
        r.push(s.opportunities.values().sum::<u64>().to_string());
        r.push(s.trades.values().sum::<u64>().to_string());
        r.push(format!("{} {}", s.realized_pnl, s.currency));
        r.push(s.fees.to_string());
        r.push(s.max_drawdown.to_string());
        r.push(
            s.win_rate
                .map(|w| w.to_string())
                .unwrap_or_else(|| "-".into()),
        );
        r.push(format!("{}/{}", s.captured_profit, s.expected_profit));
        r.push(s.hash[..16].to_owned());
        table.push(r);
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|c| {
            table
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in &table {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
}
