//! What the venues write alike: RFC 3339 times and price levels, read the
//! same way for every venue.

use arb_contract::Level;
use arb_contract::time::Timestamp;
use rust_decimal::Decimal;

use crate::error::FrameError;

/// An RFC 3339 time (Kraken's and Coinbase's `timestamp`).
pub fn parse_ts(s: &str) -> Option<Timestamp> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// A frame's optional time: absent is fine, unreadable is not.
pub fn optional_ts(s: Option<&str>) -> Result<Option<Timestamp>, FrameError> {
    s.map(|t| parse_ts(t).ok_or_else(|| FrameError::Invalid(format!("timestamp {t:?}"))))
        .transpose()
}

/// A level as a venue sends it: a positive price and a quantity of zero
/// (delete the level) or more.
pub fn level(price: Decimal, qty: Decimal) -> Result<Level, FrameError> {
    if price <= Decimal::ZERO || qty < Decimal::ZERO {
        return Err(FrameError::Invalid(format!(
            "level with price {price} and quantity {qty}"
        )));
    }
    Ok(Level::new(price, qty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_need_a_positive_price_and_no_negative_quantity() {
        for (p, q, ok) in [
            ("1", "0", true),
            ("0.0001", "2", true),
            ("0", "1", false),
            ("-1", "1", false),
            ("1", "-1", false),
        ] {
            let got = level(p.parse().unwrap(), q.parse().unwrap());
            assert_eq!(got.is_ok(), ok, "{p} {q}");
        }
    }

    #[test]
    fn times_absent_or_readable() {
        assert_eq!(optional_ts(None).unwrap(), None);
        assert!(
            optional_ts(Some("2026-01-01T00:00:00.5Z"))
                .unwrap()
                .is_some()
        );
        assert!(optional_ts(Some("yesterday")).is_err());
    }
}
