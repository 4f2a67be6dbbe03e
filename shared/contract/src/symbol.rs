//! Normalized trading pairs: `BASE/QUOTE` in messages, `BASE-QUOTE` in subjects.
//!
//! Asset codes are upper-case letters and digits. A venue's own spellings
//! (Kraken's `XBT` for `BTC`) are mapped by that venue's adapter in the
//! venues crate, never here: `XBT` may well be another asset elsewhere.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::SubjectError;

/// A normalized pair, e.g. `BTC/USD`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol {
    base: String,
    quote: String,
}

/// An asset code in normal form: trimmed, upper case.
pub fn normalize_asset(asset: &str) -> String {
    asset.trim().to_ascii_uppercase()
}

fn valid_asset(asset: &str) -> bool {
    !asset.is_empty() && asset.chars().all(|c| c.is_ascii_alphanumeric())
}

impl Symbol {
    /// Builds a symbol from two asset codes, normalizing them.
    pub fn new(base: &str, quote: &str) -> Result<Self, SubjectError> {
        let (base, quote) = (normalize_asset(base), normalize_asset(quote));
        if !valid_asset(&base) || !valid_asset(&quote) || base == quote {
            return Err(SubjectError::BadSymbol(format!("{base}/{quote}")));
        }
        Ok(Symbol { base, quote })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn quote(&self) -> &str {
        &self.quote
    }

    /// Whether `s` is already a symbol's normal text (`BTC/USD`): then
    /// `s.parse::<Symbol>()` succeeds and writes back exactly `s`. Lets a
    /// reader keep the text it was given without building a `Symbol`.
    pub fn is_canonical(s: &str) -> bool {
        let Some((base, quote)) = s.split_once('/') else {
            return false;
        };
        let normal = |a: &str| valid_asset(a) && !a.bytes().any(|c| c.is_ascii_lowercase());
        normal(base) && normal(quote) && base != quote
    }

    /// The symbol whose normal text is `s` (see [`Symbol::is_canonical`]),
    /// without normalizing again; `None` if `s` is not in normal form.
    pub fn from_canonical(s: &str) -> Option<Symbol> {
        if !Self::is_canonical(s) {
            return None;
        }
        let (base, quote) = s.split_once('/')?;
        Some(Symbol {
            base: base.to_owned(),
            quote: quote.to_owned(),
        })
    }

    /// The subject token form, `BASE-QUOTE`.
    pub fn token(&self) -> String {
        format!("{}-{}", self.base, self.quote)
    }

    /// Parses the subject token form `BASE-QUOTE`.
    pub fn from_token(token: &str) -> Result<Self, SubjectError> {
        match token.split_once('-') {
            Some((b, q)) => Symbol::new(b, q),
            None => Err(SubjectError::BadSymbol(token.to_owned())),
        }
    }
}

impl FromStr for Symbol {
    type Err = SubjectError;

    /// Accepts `BASE/QUOTE`, `BASE-QUOTE` or `BASE_QUOTE`, any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (b, q) = s
            .split_once(['/', '-', '_'])
            .ok_or_else(|| SubjectError::BadSymbol(s.to_owned()))?;
        Symbol::new(b, q)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.quote)
    }
}

impl Serialize for Symbol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_is_what_parsing_writes_back() {
        for s in [
            "BTC/USD",
            "ETH/BTC",
            "1INCH/USDT",
            "btc/usd",
            "XBT/USD",
            "BTC/XDG",
            "BTC-USD",
            "BTC_USD",
            "BTC/USD/EUR",
            "BTC/BTC",
            "/USD",
            "BTC/",
            " BTC/USD",
            "BTC/US D",
            "BTC/USDÉ",
            "",
            "BTC",
        ] {
            let round_trip = s.parse::<Symbol>().map(|p| p.to_string());
            assert_eq!(
                Symbol::is_canonical(s),
                round_trip.as_deref() == Ok(s),
                "{s:?} parses to {round_trip:?}"
            );
        }
    }

    #[test]
    fn parses_every_spelling_and_normalizes() {
        for (input, want) in [
            ("BTC/USD", "BTC/USD"),
            ("btc-usd", "BTC/USD"),
            ("eth_eur", "ETH/EUR"),
            // Venue spellings are the venue adapters' business, not the contract's.
            ("XBT/USD", "XBT/USD"),
            ("XDG/USD", "XDG/USD"),
        ] {
            assert_eq!(
                input.parse::<Symbol>().unwrap().to_string(),
                want,
                "{input}"
            );
        }
    }

    #[test]
    fn token_round_trips() {
        let s: Symbol = "ETH/BTC".parse().unwrap();
        assert_eq!(s.token(), "ETH-BTC");
        assert_eq!(Symbol::from_token("ETH-BTC").unwrap(), s);
    }

    #[test]
    fn rejects_what_is_not_a_pair() {
        for bad in [
            "BTC",
            "",
            "/USD",
            "BTC/",
            "BTC.X/USD",
            "BTC/USD*",
            "BTC/BTC",
            "B TC/USD",
        ] {
            assert!(bad.parse::<Symbol>().is_err(), "{bad:?} should not parse");
        }
    }
}
