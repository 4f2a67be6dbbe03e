//! What a detector needs to know, with no I/O settings: thresholds, notional
//! caps, fees, episode tolerances. `arb-detector`'s flags build it; the
//! defaults here are the flags' defaults (a test in `arb-detector` checks
//! that the two agree).

use std::collections::HashMap;
use std::time::Duration;

use rust_decimal::Decimal;

/// The defaults, one place for the flags and for [`DetectorConfig::default`].
pub mod defaults {
    use super::*;

    pub const MAX_BOOK_AGE: Duration = Duration::from_secs(5);
    pub const MIN_NET_EDGE_BPS: Decimal = Decimal::from_parts(5, 0, 0, false, 0);
    pub const MAX_NOTIONAL: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);
    /// Taker fee of a venue with no fee configured and no known base tier.
    pub const DEFAULT_FEE: Decimal = Decimal::from_parts(10, 0, 0, false, 4);
    pub const EDGE_TOLERANCE_BPS: Decimal = Decimal::from_parts(2, 0, 0, false, 0);
    pub const SIZE_TOLERANCE: Decimal = Decimal::from_parts(10, 0, 0, false, 2);
    pub const START_CURRENCY: &str = "USD";
    pub const DEPTH_LEVELS: usize = 25;
}

/// Taker fee per venue, as a fraction.
#[derive(Debug, Clone, PartialEq)]
pub struct Fees {
    per_venue: HashMap<String, Decimal>,
    default: Decimal,
}

impl Fees {
    /// The venues' base-tier taker fees (`arb_venues::fees`), and `default`
    /// for any other venue.
    pub fn with_defaults(default: Decimal) -> Self {
        let per_venue = arb_venues::fees::TAKER_DEFAULTS
            .iter()
            .map(|(v, r)| ((*v).to_owned(), *r))
            .collect();
        Fees { per_venue, default }
    }

    /// Every venue at the same rate.
    pub fn flat(rate: Decimal) -> Self {
        Fees {
            per_venue: HashMap::new(),
            default: rate,
        }
    }

    pub fn set(&mut self, venue: &str, rate: Decimal) {
        self.per_venue.insert(venue.to_owned(), rate);
    }

    pub fn rate(&self, venue: &str) -> Decimal {
        self.per_venue.get(venue).copied().unwrap_or(self.default)
    }
}

/// What a detector needs to know; no I/O settings.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorConfig {
    pub max_book_age: Duration,
    pub min_net_edge_bps: Decimal,
    /// Largest amount put in, in the quote (cross) or start (triangular) currency ...
    pub max_notional: Decimal,
    /// ... unless that currency has its own cap here.
    pub max_notional_in: HashMap<String, Decimal>,
    pub fees: Fees,
    pub edge_tolerance_bps: Decimal,
    pub size_tolerance: Decimal,
    pub start_currencies: Vec<String>,
    /// Empty: every venue.
    pub venues: Vec<String>,
    pub depth_levels: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            max_book_age: defaults::MAX_BOOK_AGE,
            min_net_edge_bps: defaults::MIN_NET_EDGE_BPS,
            max_notional: defaults::MAX_NOTIONAL,
            max_notional_in: HashMap::new(),
            fees: Fees::with_defaults(defaults::DEFAULT_FEE),
            edge_tolerance_bps: defaults::EDGE_TOLERANCE_BPS,
            size_tolerance: defaults::SIZE_TOLERANCE,
            start_currencies: vec![defaults::START_CURRENCY.into()],
            venues: Vec::new(),
            depth_levels: defaults::DEPTH_LEVELS,
        }
    }
}

impl DetectorConfig {
    /// The notional cap for amounts in `currency`.
    pub fn max_notional_for(&self, currency: &str) -> Decimal {
        self.max_notional_in
            .get(currency)
            .copied()
            .unwrap_or(self.max_notional)
    }

    pub fn venue_allowed(&self, venue: &str) -> bool {
        self.venues.is_empty() || self.venues.iter().any(|v| v == venue)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The strategies' tests' settings: a 5 bp threshold and tolerances of
    /// 2 bp and 10 %, written out so a change of the defaults leaves them be.
    pub(crate) fn config(
        max_book_age: Duration,
        max_notional: Decimal,
        fees: Fees,
    ) -> DetectorConfig {
        DetectorConfig {
            max_book_age,
            min_net_edge_bps: Decimal::new(5, 0),
            max_notional,
            fees,
            edge_tolerance_bps: Decimal::new(2, 0),
            size_tolerance: Decimal::new(1, 1),
            ..DetectorConfig::default()
        }
    }
}
