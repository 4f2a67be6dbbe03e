//! Kraken's spellings: WebSocket v2 names pairs `BTC/USD`, but Kraken's
//! older APIs (and some of its asset codes) write `XBT` for bitcoin and
//! `XDG` for dogecoin. Both are read as the contract's `BTC` and `DOGE`, here
//! and nowhere else: on another venue `XBT` would be some other asset.

use arb_contract::{SubjectError, Symbol};

/// Kraken's asset codes and the contract's names for them.
const ASSETS: &[(&str, &str)] = &[("XBT", "BTC"), ("XDG", "DOGE")];

/// The contract's name of a Kraken asset code.
pub fn asset(kraken: &str) -> String {
    let upper = kraken.trim().to_ascii_uppercase();
    ASSETS
        .iter()
        .find(|(k, _)| *k == upper)
        .map_or(upper, |(_, ours)| (*ours).to_owned())
}

/// The contract's symbol for a Kraken pair name (`XBT/USD` → `BTC/USD`).
pub fn symbol(kraken: &str) -> Result<Symbol, SubjectError> {
    let (b, q) = kraken
        .split_once(['/', '-', '_'])
        .ok_or_else(|| SubjectError::BadSymbol(kraken.to_owned()))?;
    Symbol::new(&asset(b), &asset(q))
}

/// The pair name Kraken's WebSocket v2 uses for a symbol.
pub fn wire_name(s: &Symbol) -> String {
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kraken_spellings_map_to_the_contract() {
        for (kraken, ours) in [
            ("XBT/USD", "BTC/USD"),
            ("xbt/eur", "BTC/EUR"),
            ("ETH/XBT", "ETH/BTC"),
            ("XDG/USD", "DOGE/USD"),
            ("BTC/USD", "BTC/USD"),
            ("ETH/USD", "ETH/USD"),
        ] {
            assert_eq!(symbol(kraken).unwrap().to_string(), ours, "{kraken}");
        }
        assert!(symbol("XBTUSD").is_err());
    }
}
