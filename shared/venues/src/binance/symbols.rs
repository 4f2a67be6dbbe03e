//! Binance writes a symbol as base and quote run together, upper case on
//! the API (`BTCUSDT`) and lower case in stream names (`btcusdt@depth`).

use arb_contract::Symbol;

/// `BTC/USDT` → `BTCUSDT`.
pub fn wire_symbol(s: &Symbol) -> String {
    format!("{}{}", s.base(), s.quote())
}

/// The stream of a symbol's diff depth at 100 ms.
pub fn depth_stream(s: &Symbol) -> String {
    format!("{}@depth@100ms", wire_symbol(s).to_ascii_lowercase())
}
