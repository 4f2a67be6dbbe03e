//! Kraken spot's base-tier taker fee (docs/exchanges.md, 2026).

use rust_decimal::Decimal;

/// 0.40 %.
pub const TAKER: Decimal = Decimal::from_parts(40, 0, 0, false, 4);
