//! Coinbase's product ids are the contract's subject tokens: `BTC-USD`.

use arb_contract::Symbol;

/// The product id of a symbol.
pub fn product_id(s: &Symbol) -> String {
    s.token()
}
