//! Command-line flags of `arb-feed`, each with an environment variable.

use std::time::Duration;

use arb_contract::Symbol;
use arb_contract::time::Timestamp;
use arb_runtime::ConfigError;
use arb_runtime::config::{NatsArgs, StreamArgs, parse_duration};
use arb_venues::BookSettings;

/// Which venue this process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Venue {
    Kraken,
    Binance,
    Coinbase,
    /// Simulated venues (`sim-a`, `sim-b`, `sim-c`) for offline use, demos and tests.
    Sim,
}

impl Venue {
    pub fn as_str(self) -> &'static str {
        match self {
            Venue::Kraken => "kraken",
            Venue::Binance => "binance",
            Venue::Coinbase => "coinbase",
            Venue::Sim => "sim",
        }
    }
}

fn bad(what: &'static str, value: &str, reason: impl ToString) -> ConfigError {
    ConfigError::Value {
        what,
        value: value.to_owned(),
        reason: reason.to_string(),
    }
}

fn parse_symbol(s: &str) -> Result<Symbol, ConfigError> {
    s.trim().parse().map_err(|e| bad("symbol", s, e))
}

fn parse_ts(s: &str) -> Result<Timestamp, ConfigError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| bad("RFC 3339 time", s, e))
}

fn parse_venue_name(s: &str) -> Result<String, ConfigError> {
    arb_contract::subject::check_token("venue", s.trim())
        .map(str::to_owned)
        .map_err(|e| bad("venue", s, e))
}

/// `arb-feed`: one venue's order books, published on `md.book.<venue>.<BASE-QUOTE>`.
#[derive(clap::Parser, Debug, Clone)]
#[command(version, about)]
pub struct Config {
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub streams: StreamArgs,

    /// The venue to connect to.
    #[arg(long, env = "ARB_FEED_VENUE", value_enum, default_value = "sim")]
    pub venue: Venue,
    /// Symbols to serve, comma-separated, as BASE/QUOTE (the Kraken feed
    /// also reads Kraken's spellings, XBT for BTC).
    #[arg(long, env = "ARB_FEED_SYMBOLS", value_delimiter = ',', value_parser = parse_symbol,
          default_value = "BTC/USD,ETH/USD,ETH/BTC")]
    pub symbols: Vec<Symbol>,
    /// Book depth subscribed at the venue (Kraken `depth`, Binance snapshot `limit`).
    #[arg(long, env = "ARB_FEED_DEPTH", default_value_t = 10)]
    pub depth: usize,
    /// Levels per side kept locally for Binance and Coinbase (full-depth diff feeds).
    #[arg(long, env = "ARB_FEED_BOOK_LEVELS", default_value_t = 1000)]
    pub book_levels: usize,
    /// Levels per side published in each BookSnapshot.
    #[arg(long, env = "ARB_FEED_TOP", default_value_t = 10)]
    pub top: usize,
    /// At most one book per symbol per this interval (0s: every change);
    /// the latest state is published when the interval ends.
    #[arg(long, env = "ARB_FEED_MIN_INTERVAL", value_parser = parse_duration, default_value = "0s")]
    pub min_interval: Duration,

    /// Kraken WebSocket v2 endpoint.
    #[arg(
        long,
        env = "ARB_FEED_KRAKEN_URL",
        default_value = "wss://ws.kraken.com/v2"
    )]
    pub kraken_url: String,
    /// Binance market-data stream base (the feed appends `/stream?streams=...`).
    #[arg(
        long,
        env = "ARB_FEED_BINANCE_STREAM_URL",
        default_value = "wss://stream.binance.com:9443"
    )]
    pub binance_stream_url: String,
    /// Binance WebSocket API endpoint, used for `depth` snapshots.
    #[arg(
        long,
        env = "ARB_FEED_BINANCE_API_URL",
        default_value = "wss://ws-api.binance.com:443/ws-api/v3"
    )]
    pub binance_api_url: String,
    /// Coinbase Advanced Trade WebSocket endpoint.
    #[arg(
        long,
        env = "ARB_FEED_COINBASE_URL",
        default_value = "wss://advanced-trade-ws.coinbase.com"
    )]
    pub coinbase_url: String,

    /// No frame for this long: report `resync` (stale) and reconnect.
    #[arg(long, env = "ARB_FEED_STALE_TIMEOUT", value_parser = parse_duration, default_value = "30s")]
    pub stale_timeout: Duration,
    /// Time allowed for a WebSocket connection and handshake.
    #[arg(long, env = "ARB_FEED_CONNECT_TIMEOUT", value_parser = parse_duration, default_value = "10s")]
    pub connect_timeout: Duration,
    /// First reconnect delay; doubles (with jitter) up to --reconnect-max.
    #[arg(long, env = "ARB_FEED_RECONNECT_INITIAL", value_parser = parse_duration, default_value = "500ms")]
    pub reconnect_initial: Duration,
    #[arg(long, env = "ARB_FEED_RECONNECT_MAX", value_parser = parse_duration, default_value = "30s")]
    pub reconnect_max: Duration,
    /// How often the `sys.state.feed-<venue>` heartbeat is published.
    #[arg(long, env = "ARB_FEED_HEARTBEAT_INTERVAL", value_parser = parse_duration, default_value = "5s")]
    pub heartbeat_interval: Duration,
    /// JetStream publish acks outstanding at most.
    #[arg(long, env = "ARB_FEED_MAX_INFLIGHT", default_value_t = 256)]
    pub max_inflight: usize,

    /// Simulator: random seed; the same seed gives the same books.
    #[arg(long, env = "ARB_FEED_SEED", default_value_t = 42)]
    pub seed: u64,
    /// Simulator: books published per second, all venues together (0: as fast as possible).
    #[arg(long, env = "ARB_FEED_RATE", default_value_t = 10.0)]
    pub rate: f64,
    /// Simulator: stop after this many books.
    #[arg(long, env = "ARB_FEED_COUNT")]
    pub count: Option<u64>,
    /// Simulator: the venues simulated, comma-separated.
    #[arg(long, env = "ARB_FEED_SIM_VENUES", value_delimiter = ',', value_parser = parse_venue_name,
          default_value = "sim-a,sim-b,sim-c")]
    pub sim_venues: Vec<String>,
    /// Simulator: event time of the first book.
    #[arg(long, env = "ARB_FEED_SIM_START", value_parser = parse_ts, default_value = "2026-01-01T00:00:00Z")]
    pub sim_start: Timestamp,
    /// Simulator: event time between books (default 1/rate, or 1ms at rate 0).
    #[arg(long, env = "ARB_FEED_SIM_STEP", value_parser = parse_duration)]
    pub sim_step: Option<Duration>,
}

impl Config {
    /// The service name in `sys.state.<service>` and `sys.audit.<service>`:
    /// each feed reports as its own service.
    pub fn service(&self) -> String {
        format!("feed-{}", self.venue.as_str())
    }

    /// What every venue adapter is configured with.
    pub fn book_settings(&self) -> BookSettings {
        BookSettings {
            symbols: self.symbols.clone(),
            depth: self.depth,
            book_levels: self.book_levels,
            top: self.top,
        }
    }

    /// The simulated event time between two books.
    pub fn sim_step(&self) -> Duration {
        self.sim_step.unwrap_or_else(|| {
            if self.rate > 0.0 {
                Duration::from_secs_f64(1.0 / self.rate)
            } else {
                Duration::from_millis(1)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn parses_flags_and_normalizes_symbols() {
        let c = Config::try_parse_from([
            "arb-feed",
            "--venue",
            "kraken",
            "--symbols",
            "XBT/USD, eth-usd",
            "--stale-timeout",
            "2s",
        ])
        .unwrap();
        assert_eq!(c.venue, Venue::Kraken);
        assert_eq!(c.service(), "feed-kraken");
        assert_eq!(
            c.symbols.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            ["XBT/USD", "ETH/USD"],
            "the contract does not know venue spellings"
        );
        // The Kraken adapter reads XBT as BTC.
        let kraken =
            arb_venues::kraken::KrakenAdapter::new(c.kraken_url.clone(), &c.book_settings());
        assert_eq!(
            kraken.symbols().map(|s| s.to_string()).collect::<Vec<_>>(),
            ["BTC/USD", "ETH/USD"]
        );
        assert_eq!(c.stale_timeout, Duration::from_secs(2));
        assert_eq!(c.top, 10);
        assert!(Config::try_parse_from(["arb-feed", "--symbols", "BTCUSD"]).is_err());
        assert!(Config::try_parse_from(["arb-feed", "--sim-venues", "a.b"]).is_err());
    }
}
