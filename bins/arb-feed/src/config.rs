//! Command-line flags of `arb-feed`, each with an environment variable.

use std::time::Duration;

use arb_shared::Symbol;
use arb_shared::config::{NatsArgs, StreamArgs, parse_duration};
use arb_shared::time::Timestamp;

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

fn parse_symbol(s: &str) -> Result<Symbol, String> {
    s.trim().parse().map_err(|e| format!("{e}"))
}

fn parse_ts(s: &str) -> Result<Timestamp, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("bad RFC 3339 time {s:?}: {e}"))
}

fn parse_venue_name(s: &str) -> Result<String, String> {
    arb_shared::subject::check_token("venue", s.trim())
        .map(str::to_owned)
        .map_err(|e| e.to_string())
}

/// `arb-feed`: one venue's order books, published on `md.book.<venue>.<BASE-QUOTE>`.
#[derive(clap::Parser, Debug, Clone)]
#[command(name = "arb-feed", version, about)]
pub struct Config {
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub streams: StreamArgs,

    /// The venue to connect to.
    #[arg(long, env = "ARB_FEED_VENUE", value_enum, default_value = "sim")]
    pub venue: Venue,
    /// Symbols to serve, comma-separated, as BASE/QUOTE (XBT is read as BTC).
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
    /// How often the `sys.state.feed` heartbeat is published.
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

/// Book depths Kraken's `book` channel accepts.
pub const KRAKEN_DEPTHS: [usize; 5] = [10, 25, 100, 500, 1000];
/// Snapshot limits Binance's `depth` accepts.
pub const BINANCE_LIMITS: [usize; 8] = [5, 10, 20, 50, 100, 500, 1000, 5000];

/// The smallest allowed value at or above `want` (the largest if none is).
pub fn round_up_depth(want: usize, allowed: &[usize]) -> usize {
    allowed
        .iter()
        .copied()
        .find(|&a| a >= want)
        .or_else(|| allowed.last().copied())
        .unwrap_or(want)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn depth_rounds_up_to_what_the_venue_accepts() {
        for (want, allowed, got) in [
            (10, &KRAKEN_DEPTHS[..], 10),
            (11, &KRAKEN_DEPTHS[..], 25),
            (1, &KRAKEN_DEPTHS[..], 10),
            (5000, &KRAKEN_DEPTHS[..], 1000),
            (10, &BINANCE_LIMITS[..], 10),
            (30, &BINANCE_LIMITS[..], 50),
        ] {
            assert_eq!(round_up_depth(want, allowed), got, "{want}");
        }
    }

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
        assert_eq!(
            c.symbols.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            ["BTC/USD", "ETH/USD"]
        );
        assert_eq!(c.stale_timeout, Duration::from_secs(2));
        assert_eq!(c.top, 10);
        assert!(Config::try_parse_from(["arb-feed", "--symbols", "BTCUSD"]).is_err());
        assert!(Config::try_parse_from(["arb-feed", "--sim-venues", "a.b"]).is_err());
    }
}
