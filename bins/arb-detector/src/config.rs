//! Command-line options of `arb-detector` (each with an environment variable)
//! and the plain settings the pure detectors are built from.

use std::str::FromStr;
use std::time::Duration;

use arb_detect::settings::defaults;
use arb_detect::{DetectorConfig, Fees, StrategyKind};
use arb_runtime::ConfigError;
pub use arb_runtime::config::FeeSpec;
use arb_runtime::config::{
    NatsArgs, StreamArgs, bad_value as bad, key_value, parse_duration, parse_fee_rate,
    parse_non_negative_decimal, parse_positive_decimal,
};
use rust_decimal::Decimal;

/// Which detector the process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    /// Buy on one venue's asks, sell on another venue's bids, same symbol.
    Cross,
    /// A cycle of three symbols on one venue, from and back to a start currency.
    Triangular,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        self.kind().as_str()
    }

    pub fn kind(self) -> StrategyKind {
        match self {
            Strategy::Cross => StrategyKind::Cross,
            Strategy::Triangular => StrategyKind::Triangular,
        }
    }
}

/// `CCY=amount`, a notional cap in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotionalSpec {
    pub currency: String,
    pub amount: Decimal,
}

impl FromStr for NotionalSpec {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (currency, amount) = key_value(
            "notional cap",
            "CCY=amount",
            s,
            arb_contract::symbol::normalize_asset,
        )?;
        let amount = parse_positive_decimal(amount)?;
        Ok(NotionalSpec { currency, amount })
    }
}

/// `arb-detector`: books from `md.book.*` in, opportunities on `arb.opp.*` out.
#[derive(clap::Parser, Debug, Clone)]
#[command(version, about)]
pub struct Config {
    #[command(flatten)]
    pub detect: DetectorArgs,
    /// Book subject pattern to read (the subject prefix is added in front).
    #[arg(long, env = "ARB_DETECTOR_BOOKS", default_value = "md.book.>")]
    pub books: String,
    /// How often the `sys.state.detector-<strategy>` heartbeat is published.
    #[arg(long, env = "ARB_DETECTOR_HEARTBEAT_INTERVAL", value_parser = parse_duration, default_value = "5s")]
    pub heartbeat_interval: Duration,
    /// Publishes with acks not yet received, at most.
    #[arg(long, env = "ARB_DETECTOR_MAX_INFLIGHT", default_value = "4096")]
    pub max_inflight: usize,
    /// Publish opportunities as core NATS messages (the ARB stream still
    /// stores them) instead of JetStream publishes that wait for a stream ack:
    /// lower latency, but a publish the server drops is not retried.
    #[arg(long, env = "ARB_DETECTOR_CORE_PUBLISH", default_value_t = false)]
    pub core_publish: bool,
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub streams: StreamArgs,
}

impl Config {
    /// The settings of the pure detector.
    pub fn detector(&self) -> Result<DetectorConfig, ConfigError> {
        self.detect.detector()
    }
}

/// What a detector detects with: the options `arb-detector` and
/// `arb-replay backtest` share.
#[derive(clap::Args, Debug, Clone)]
pub struct DetectorArgs {
    /// Which detector to run.
    #[arg(
        long,
        env = "ARB_DETECTOR_STRATEGY",
        value_enum,
        default_value = "cross"
    )]
    pub strategy: Strategy,
    /// A book whose event time is older than this, relative to the newest
    /// event time seen, is not used.
    #[arg(long, env = "ARB_DETECTOR_MAX_BOOK_AGE", value_parser = parse_duration,
          default_value = humantime::format_duration(defaults::MAX_BOOK_AGE).to_string())]
    pub max_book_age: Duration,
    /// Net edge (after taker fees), in basis points, an opportunity must exceed.
    #[arg(long, env = "ARB_DETECTOR_MIN_NET_EDGE_BPS", value_parser = parse_non_negative_decimal,
          default_value_t = defaults::MIN_NET_EDGE_BPS)]
    pub min_net_edge_bps: Decimal,
    /// Largest amount put in, in the quote currency (cross) or the start
    /// currency (triangular).
    #[arg(long, env = "ARB_DETECTOR_MAX_NOTIONAL", value_parser = parse_positive_decimal,
          default_value_t = defaults::MAX_NOTIONAL)]
    pub max_notional: Decimal,
    /// A different cap for one currency, `CCY=amount` (e.g. `BTC=0.5` for
    /// symbols quoted in BTC); repeat or comma-separate.
    #[arg(
        long = "max-notional-in",
        env = "ARB_DETECTOR_MAX_NOTIONAL_IN",
        value_delimiter = ','
    )]
    pub max_notional_in: Vec<NotionalSpec>,
    /// Taker fee of a venue, `venue=rate` as a fraction; repeat or comma-separate.
    /// Overrides the built-in defaults (kraken 0.0040, binance 0.0010,
    /// coinbase 0.0120, bybit 0.0010, okx 0.0010).
    #[arg(long = "fee", env = "ARB_DETECTOR_FEES", value_delimiter = ',')]
    pub fees: Vec<FeeSpec>,
    /// Taker fee of a venue with no `--fee` and no built-in default.
    #[arg(long, env = "ARB_DETECTOR_DEFAULT_FEE", value_parser = parse_fee_rate,
          default_value_t = defaults::DEFAULT_FEE)]
    pub default_fee: Decimal,
    /// An open episode is re-published (`update`) only when its net edge moves
    /// by more than this many basis points ...
    #[arg(long, env = "ARB_DETECTOR_EDGE_TOLERANCE_BPS", value_parser = parse_non_negative_decimal,
          default_value_t = defaults::EDGE_TOLERANCE_BPS)]
    pub edge_tolerance_bps: Decimal,
    /// ... or its notional by more than this fraction of the last published one.
    #[arg(long, env = "ARB_DETECTOR_SIZE_TOLERANCE", value_parser = parse_non_negative_decimal,
          default_value_t = defaults::SIZE_TOLERANCE)]
    pub size_tolerance: Decimal,
    /// Start (and end) currency of triangular cycles; comma-separate several.
    #[arg(
        long,
        env = "ARB_DETECTOR_START_CURRENCY",
        value_delimiter = ',',
        default_value = defaults::START_CURRENCY
    )]
    pub start_currency: Vec<String>,
    /// Only use books of these venues (default: every venue).
    #[arg(long, env = "ARB_DETECTOR_VENUES", value_delimiter = ',')]
    pub venues: Vec<String>,
    /// How many levels of each side of a book are walked.
    #[arg(long, env = "ARB_DETECTOR_DEPTH_LEVELS", default_value_t = defaults::DEPTH_LEVELS as u32,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub depth_levels: u32,
}

impl DetectorArgs {
    /// The settings of the pure detector.
    pub fn detector(&self) -> Result<DetectorConfig, ConfigError> {
        let mut fees = Fees::with_defaults(self.default_fee);
        for f in &self.fees {
            fees.set(&f.venue, f.rate);
        }
        let start_currencies: Vec<String> = self
            .start_currency
            .iter()
            .map(|c| arb_contract::symbol::normalize_asset(c))
            .filter(|c| !c.is_empty())
            .collect();
        if self.strategy == Strategy::Triangular && start_currencies.is_empty() {
            let given = self.start_currency.join(",");
            return Err(bad("--start-currency", &given, "must name a currency"));
        }
        Ok(DetectorConfig {
            max_book_age: self.max_book_age,
            min_net_edge_bps: self.min_net_edge_bps,
            max_notional: self.max_notional,
            max_notional_in: self
                .max_notional_in
                .iter()
                .map(|n| (n.currency.clone(), n.amount))
                .collect(),
            fees,
            edge_tolerance_bps: self.edge_tolerance_bps,
            size_tolerance: self.size_tolerance,
            start_currencies,
            venues: self.venues.iter().map(|v| v.trim().to_owned()).collect(),
            depth_levels: self.depth_levels as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn fee_flags_override_defaults_and_others_get_the_default_fee() {
        let c = Config::try_parse_from([
            "arb-detector",
            "--fee",
            "kraken=0.0026",
            "--fee",
            "sim-a=0.002,sim-b=0",
            "--default-fee",
            "0.0015",
            "--max-notional-in",
            "btc=0.5,ETH=8",
        ])
        .unwrap();
        let d = c.detector().unwrap();
        for (venue, want) in [
            ("kraken", "0.0026"),
            ("sim-a", "0.002"),
            ("sim-b", "0"),
            ("coinbase", "0.0120"),
            ("binance", "0.0010"),
            ("sim-c", "0.0015"),
        ] {
            assert_eq!(
                d.fees.rate(venue),
                Decimal::from_str(want).unwrap(),
                "{venue}"
            );
        }
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            vec!["--fee", "kraken"],
            vec!["--fee", "kraken=1.5"],
            vec!["--fee", "kraken=-0.1"],
            vec!["--max-notional", "0"],
            vec!["--max-notional-in", "BTC"],
            vec!["--max-notional-in", "BTC=-1"],
            vec!["--min-net-edge-bps", "-3"],
            vec!["--strategy", "diagonal"],
            vec!["--max-book-age", "soon"],
        ] {
            let mut argv = vec!["arb-detector"];
            argv.extend(args.iter().copied());
            assert!(Config::try_parse_from(&argv).is_err(), "{args:?}");
        }
    }

    #[test]
    fn triangular_cycles_need_a_start_currency() {
        let c = Config::try_parse_from([
            "arb-detector",
            "--strategy=triangular",
            "--start-currency= ,",
        ])
        .unwrap();
        let e = c.detector().unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"bad --start-currency " ,": must name a currency"#
        );
    }

    #[test]
    fn flag_defaults_are_the_detector_defaults() {
        let c = Config::try_parse_from(["arb-detector"]).unwrap();
        assert_eq!(c.detector().unwrap(), DetectorConfig::default());
        assert_eq!(c.detect.strategy, Strategy::Cross);
        assert_eq!(c.books, "md.book.>");
        let d = c.detector().unwrap();
        assert_eq!(d.max_book_age, Duration::from_secs(5));
        assert_eq!(d.min_net_edge_bps, Decimal::new(5, 0));
        assert_eq!(d.start_currencies, vec!["USD".to_owned()]);
        assert!(d.venue_allowed("anything"));
        assert_eq!(d.fees.rate("sim-a"), Decimal::new(10, 4));
    }
}
