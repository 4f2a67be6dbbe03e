//! The venues' base-tier taker fees (docs/exchanges.md, 2026), from each
//! venue's `fees.rs`: the defaults a detector or executor uses for a venue
//! its configuration does not name. Fees change often; configuration wins.

use rust_decimal::Decimal;

/// Venues with a fee schedule here but no adapter yet (docs/exchanges.md).
const BYBIT_TAKER: Decimal = Decimal::from_parts(10, 0, 0, false, 4);
const OKX_TAKER: Decimal = Decimal::from_parts(10, 0, 0, false, 4);

/// Every venue with a known base-tier taker fee, as a fraction.
pub const TAKER_DEFAULTS: [(&str, Decimal); 5] = [
    (crate::kraken::VENUE, crate::kraken::fees::TAKER),
    (crate::binance::VENUE, crate::binance::fees::TAKER),
    (crate::coinbase::VENUE, crate::coinbase::fees::TAKER),
    ("bybit", BYBIT_TAKER),
    ("okx", OKX_TAKER),
];

/// The base-tier taker fee of `venue`, if the venue is known.
pub fn taker_default(venue: &str) -> Option<Decimal> {
    TAKER_DEFAULTS
        .iter()
        .find(|(v, _)| *v == venue)
        .map(|(_, f)| *f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_base_tiers() {
        for (venue, rate) in [
            ("kraken", "0.0040"),
            ("binance", "0.0010"),
            ("coinbase", "0.0120"),
            ("bybit", "0.0010"),
            ("okx", "0.0010"),
        ] {
            assert_eq!(taker_default(venue), Some(rate.parse().unwrap()), "{venue}");
        }
        assert_eq!(taker_default("sim-a"), None);
    }
}
