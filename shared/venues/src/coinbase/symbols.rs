//! Coinbase's product ids are the contract's subject tokens: `BTC-USD`.

use arb_contract::Symbol;

/// The product id of a symbol.
pub fn product_id(s: &Symbol) -> String {
    s.token()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_ids() {
        let s: Symbol = "ETH/BTC".parse().unwrap();
        assert_eq!(product_id(&s), "ETH-BTC");
    }
}
