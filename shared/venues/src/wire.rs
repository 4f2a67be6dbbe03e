//! Times as venues write them.

use arb_contract::time::Timestamp;

/// An RFC 3339 time (Kraken's and Coinbase's `timestamp`).
pub fn parse_ts(s: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}
