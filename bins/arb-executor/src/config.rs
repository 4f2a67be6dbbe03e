//! Command-line options of `arb-executor`, each with an `ARB_EXECUTOR_*`
//! environment variable, and the engine settings built from them. What can
//! change at run time (trading state, limits, fees, latency) is read from
//! the `arb_config` KV bucket; the flags here give its starting values.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use arb_contract::symbol::normalize_asset;
use arb_exec::engine::{EngineConfig, LegMode, Live};
use arb_exec::latency::Latency;
use arb_exec::ledger::{StartingBalances, TransferTerms};
use arb_exec::risk::TradingState;
use arb_exec::rules::VenueRules;
use arb_exec::settings::{self, Key, Value};
use arb_runtime::ConfigError;
use arb_runtime::config::{
    FeeSpec, NatsArgs, StreamArgs, bad_value as bad, key_value, parse_duration,
    parse_non_negative_decimal,
};
use rust_decimal::Decimal;

/// How orders are executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Simulated fills against the books the executor sees.
    Paper,
}

/// How a trade's legs go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Legs {
    Concurrent,
    Sequential,
}

/// `ASSET=amount`: a floor below which a venue is topped up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Floor {
    pub asset: String,
    pub amount: Decimal,
}

impl FromStr for Floor {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (asset, amount) = key_value("floor", "ASSET=amount", s, normalize_asset)?;
        let amount = parse_non_negative_decimal(amount)?;
        Ok(Floor { asset, amount })
    }
}

/// `ASSET=fee/delay`: a transfer's withdrawal fee (in the asset) and delay
/// (`BTC=0.0005/30m`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferSpec {
    pub asset: String,
    pub terms: TransferTerms,
}

impl FromStr for TransferSpec {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let form = "ASSET=fee/delay";
        let (asset, rest) = key_value("transfer", form, s, normalize_asset)?;
        let (fee, delay) = rest
            .split_once('/')
            .ok_or_else(|| bad("transfer", s, format!("not of the form {form}")))?;
        Ok(TransferSpec {
            asset,
            terms: TransferTerms {
                fee: parse_non_negative_decimal(fee)?,
                delay: parse_duration(delay.trim())?,
            },
        })
    }
}

fn parse_balance(s: &str) -> Result<StartingBalances, ConfigError> {
    StartingBalances::from_str(s).map_err(|e| bad("balance", s, e.to_string()))
}

#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "arb-executor",
    version,
    about = "Opportunities in; orders, fills, trades, P&L and portfolios out (paper trading)"
)]
pub struct Config {
    #[command(flatten)]
    pub exec: ExecutorArgs,
    /// Opportunities to act on (the subject prefix is added).
    #[arg(long, env = "ARB_EXECUTOR_OPPORTUNITIES", default_value = "arb.opp.>")]
    pub opportunities: String,
    /// Books to match against (the subject prefix is added).
    #[arg(long, env = "ARB_EXECUTOR_BOOKS", default_value = "md.book.>")]
    pub books: String,
    /// The durable consumer of opportunities.
    #[arg(long, env = "ARB_EXECUTOR_DURABLE", default_value = "executor-paper")]
    pub durable: String,
    /// Taker fee per venue (`venue=rate`); a venue named neither here nor in
    /// the bucket pays the rate its opportunity leg carries.
    #[arg(long = "fee", env = "ARB_EXECUTOR_FEES", value_delimiter = ',')]
    pub fees: Vec<FeeSpec>,
    /// How long an order waits (wall time) for its venue's book at arrival
    /// before it is matched against the latest one.
    #[arg(long, env = "ARB_EXECUTOR_FILL_TIMEOUT", value_parser = parse_duration, default_value = "2s")]
    pub fill_timeout: Duration,
    /// How often every venue's portfolio is published.
    #[arg(long, env = "ARB_EXECUTOR_SNAPSHOT_INTERVAL", value_parser = parse_duration, default_value = "30s")]
    pub snapshot_interval: Duration,
    /// How often the `sys.state.executor` heartbeat is published.
    #[arg(long, env = "ARB_EXECUTOR_HEARTBEAT_INTERVAL", value_parser = parse_duration, default_value = "5s")]
    pub heartbeat_interval: Duration,
    /// Opportunities delivered and not yet acked, at most.
    #[arg(long, env = "ARB_EXECUTOR_MAX_ACK_PENDING", default_value_t = 64)]
    pub max_ack_pending: i64,
    /// Redelivery of an opportunity not acked within this.
    #[arg(long, env = "ARB_EXECUTOR_ACK_WAIT", value_parser = parse_duration, default_value = "30s")]
    pub ack_wait: Duration,
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub streams: StreamArgs,
}

/// How the paper executor trades: the options `arb-executor` and
/// `arb-replay backtest` share.
#[derive(clap::Args, Debug, Clone)]
pub struct ExecutorArgs {
    /// Paper trading is the only mode so far.
    #[arg(long, env = "ARB_EXECUTOR_MODE", value_enum, default_value = "paper")]
    pub mode: Mode,
    /// One venue's starting balances, `VENUE:ASSET=AMOUNT,...`; once per
    /// venue (in the environment, `;` between venues). Used when the EXEC
    /// stream holds no history; after that the history is the truth.
    #[arg(long = "balance", env = "ARB_EXECUTOR_BALANCE", value_delimiter = ';', value_parser = parse_balance,
          default_value = "sim-a:USD=100000,BTC=2,ETH=30;sim-b:USD=100000,BTC=2,ETH=30;sim-c:USD=100000,BTC=2,ETH=30")]
    pub balances: Vec<StartingBalances>,
    /// Legs of one trade at once, or each after the one before has filled.
    #[arg(
        long,
        env = "ARB_EXECUTOR_LEGS",
        value_enum,
        default_value = "concurrent"
    )]
    pub legs: Legs,
    /// Seeds the latency jitter: the same seed, the same latencies.
    #[arg(long, env = "ARB_EXECUTOR_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Tolerance beyond the opportunity's worst price for each leg's IOC
    /// limit, in basis points.
    #[arg(long, env = "ARB_EXECUTOR_SLIPPAGE_BPS", default_value = "5")]
    pub slippage_bps: Decimal,
    /// Latency of every venue the `arb_config` bucket does not name: fixed part.
    #[arg(long, env = "ARB_EXECUTOR_LATENCY", value_parser = parse_duration, default_value = "20ms")]
    pub latency: Duration,
    /// ... and the most jitter added to it (uniform, seeded).
    #[arg(long, env = "ARB_EXECUTOR_LATENCY_JITTER", value_parser = parse_duration, default_value = "10ms")]
    pub latency_jitter: Duration,
    /// Trading state until the bucket says otherwise.
    #[arg(long, env = "ARB_EXECUTOR_TRADING_STATE", default_value = "active")]
    pub trading_state: String,
    /// Risk limits (the bucket's `limits` JSON) until the bucket says otherwise.
    #[arg(long, env = "ARB_EXECUTOR_LIMITS", default_value = "{}")]
    pub limits: String,
    /// Lot, tick and minimums per venue and symbol (`venue:BASE/QUOTE=lot:..,tick:..`,
    /// `;` between entries); sim venues default.
    #[arg(long, env = "ARB_EXECUTOR_RULES", default_value = "")]
    pub rules: String,
    /// Floors per asset (`BTC=0.5`): a venue below one gets a transfer.
    #[arg(long = "floor", env = "ARB_EXECUTOR_FLOORS", value_delimiter = ',')]
    pub floors: Vec<Floor>,
    /// Transfer terms per asset (`BTC=0.0005/30m`).
    #[arg(
        long = "transfer",
        env = "ARB_EXECUTOR_TRANSFERS",
        value_delimiter = ','
    )]
    pub transfers: Vec<TransferSpec>,
    /// Portfolios are valued in this currency.
    #[arg(long, env = "ARB_EXECUTOR_VALUATION_CURRENCY", default_value = "USD")]
    pub valuation_currency: String,
    /// Book states kept behind the clock (event time).
    #[arg(long, env = "ARB_EXECUTOR_BOOK_HISTORY", value_parser = parse_duration, default_value = "60s")]
    pub book_history: Duration,
}

impl Config {
    /// The engine's settings and starting runtime values.
    pub fn engine(&self) -> Result<(EngineConfig, Live), ConfigError> {
        self.exec.engine(&self.fees)
    }
}

impl ExecutorArgs {
    /// The engine's settings and starting runtime values, with `fees` the
    /// taker fee per venue (`--fee`).
    pub fn engine(&self, fees: &[FeeSpec]) -> Result<(EngineConfig, Live), ConfigError> {
        let rules =
            VenueRules::parse(&self.rules).map_err(|e| bad("rules", &self.rules, e.to_string()))?;
        let mut venues = std::collections::BTreeSet::new();
        for b in &self.balances {
            if !venues.insert(b.venue.clone()) {
                return Err(bad("balance", &b.venue, "venue given twice"));
            }
        }
        let valuation = normalize_asset(&self.valuation_currency);
        if valuation.is_empty() {
            return Err(bad("valuation currency", &self.valuation_currency, "empty"));
        }
        let cfg = EngineConfig {
            seed: self.seed,
            legs: match self.legs {
                Legs::Concurrent => LegMode::Concurrent,
                Legs::Sequential => LegMode::Sequential,
            },
            slippage_bps: self.slippage_bps,
            valuation,
            rules,
            balances: self.balances.clone(),
            floors: self
                .floors
                .iter()
                .map(|f| (f.asset.clone(), f.amount))
                .collect(),
            transfers: self
                .transfers
                .iter()
                .map(|t| (t.asset.clone(), t.terms))
                .collect(),
            history: self.book_history,
        };
        let trading = TradingState::from_str(&self.trading_state)
            .map_err(|e| bad("trading state", &self.trading_state, e.to_string()))?;
        let limits = match settings::parse(&Key::Limits, self.limits.as_bytes()) {
            Ok(Value::Limits(l)) => l,
            Ok(other) => {
                return Err(bad(
                    "limits",
                    &self.limits,
                    format!("not limits: {}", other.to_text()),
                ));
            }
            Err(e) => return Err(bad("limits", &self.limits, e.to_string())),
        };
        let fees: BTreeMap<String, Decimal> =
            fees.iter().map(|f| (f.venue.clone(), f.rate)).collect();
        Ok((
            cfg,
            Live {
                trading,
                limits,
                fees,
                latency: BTreeMap::new(),
                default_latency: Latency::new(self.latency, self.latency_jitter),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn defaults_give_three_sim_venues_and_parse() {
        let c = Config::try_parse_from(["arb-executor"]).unwrap();
        let (cfg, live) = c.engine().unwrap();
        assert_eq!(cfg.balances.len(), 3);
        assert_eq!(live.trading, TradingState::Active);
        assert_eq!(
            live.default_latency,
            Latency::new(Duration::from_millis(20), Duration::from_millis(10))
        );
    }

    #[test]
    fn bad_values_are_refused_with_what_was_wrong() {
        let bad = [
            vec!["--balance", "sim-a:USD=-1"],
            vec!["--balance", "sim-a:USD=1", "--balance", "sim-a:BTC=1"],
            vec!["--floor", "BTC"],
            vec!["--transfer", "BTC=0.1"],
            vec!["--fee", "sim-a=1.5"],
            vec!["--trading-state", "stop"],
            vec!["--limits", "{\"max_open\": 3}"],
            vec!["--mode", "live"],
        ];
        for args in bad {
            let all: Vec<&str> = std::iter::once("arb-executor")
                .chain(args.iter().copied())
                .collect();
            let parsed = Config::try_parse_from(&all);
            let refused = match parsed {
                Err(_) => true,
                Ok(c) => c.engine().is_err(),
            };
            assert!(refused, "{args:?} was accepted");
        }
        let t: TransferSpec = "btc=0.0005/30m".parse().unwrap();
        assert_eq!(
            (t.asset.as_str(), t.terms.fee, t.terms.delay),
            ("BTC", Decimal::new(5, 4), Duration::from_secs(1800))
        );
    }
}
