//! How detectors round the figures they report, one rule for every strategy.

use rust_decimal::{Decimal, RoundingStrategy};

/// Quantities are cut (toward zero) to this many decimals when a notional cap
/// splits a level, so the cap is never exceeded.
pub const QTY_DP: u32 = 10;
/// Prices (VWAP) are rounded to this many decimals.
pub const PRICE_DP: u32 = 10;
/// Edges are rounded to this many decimals of a basis point.
pub const BPS_DP: u32 = 4;

pub(crate) const TEN_K: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// An edge in basis points, rounded to [`BPS_DP`] half away from zero.
pub(crate) fn bps(x: Decimal) -> Decimal {
    x.round_dp_with_strategy(BPS_DP, RoundingStrategy::MidpointAwayFromZero)
}
