//! Coinbase Advanced Trade's base-tier spot taker fee (docs/exchanges.md, 2026).

use rust_decimal::Decimal;

/// 1.20 %.
pub const TAKER: Decimal = Decimal::from_parts(120, 0, 0, false, 4);
