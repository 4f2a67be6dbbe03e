//! Venue rules per symbol: lot size (quantity step), tick size (price step),
//! minimum quantity and minimum notional. The executor rounds an order to
//! them before the risk gate ([`crate::risk`]) checks it, so a paper order is
//! one the venue would have accepted.
//!
//! Rules come from configuration text ([`VenueRules::parse`]); a symbol of a
//! simulated venue that configuration does not name gets
//! [`SymbolRules::sim_default`].
//!
//! The configuration form is a list of entries separated by `;` or new lines:
//!
//! ```text
//! sim-a:BTC/USD=lot:0.0001,tick:0.01,min_qty:0.0001,min_notional:10
//! kraken:ETH/BTC=lot:0.00000001,tick:0.00001
//! ```
//!
//! Values are decimal numbers (`0.0001`; `1e-4` is read the same).
//! `lot` and `tick` are required and positive; `min_qty` and `min_notional`
//! (in the quote currency) default to zero and may not be negative. A venue
//! and symbol may be named once.

use std::collections::BTreeMap;
use std::str::FromStr;

use arb_contract::{Side, SubjectError, Symbol};
use rust_decimal::Decimal;
use thiserror::Error;

use crate::codes::code_enum;
use crate::risk::Reason;

/// The simulated venues, which get [`SymbolRules::sim_default`] when
/// configuration is silent.
pub const SIM_VENUES: [&str; 3] = ["sim-a", "sim-b", "sim-c"];

/// Quote currencies priced in cents; any other quote (`BTC` in `ETH/BTC`) is
/// priced in small fractions and gets a finer default tick.
const CENT_QUOTES: [&str; 6] = ["USD", "EUR", "GBP", "USDT", "USDC", "DAI"];

/// One symbol's rules on one venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolRules {
    /// Quantity step, in the base currency.
    pub lot: Decimal,
    /// Price step, in the quote currency.
    pub tick: Decimal,
    /// Smallest quantity accepted, in the base currency.
    pub min_qty: Decimal,
    /// Smallest `qty × price` accepted, in the quote currency.
    pub min_notional: Decimal,
}

/// The rule an order breaks, with the numbers that break it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RuleViolation {
    #[error("quantity {qty} is below the minimum {min_qty}")]
    BelowMinQty { qty: Decimal, min_qty: Decimal },
    #[error("notional {notional} is below the minimum {min_notional}")]
    BelowMinNotional {
        notional: Decimal,
        min_notional: Decimal,
    },
    #[error("quantity {qty} is not a multiple of the lot {lot}")]
    OffLot { qty: Decimal, lot: Decimal },
    #[error("price {price} is not a multiple of the tick {tick}")]
    OffTick { price: Decimal, tick: Decimal },
}

impl RuleViolation {
    /// The reason code, as written in an `OrderEvent`'s `reason`: the risk
    /// gate's [`Reason`] for this rule, so the code is written once.
    pub fn as_str(&self) -> &'static str {
        Reason::from(self).as_str()
    }
}

/// Rounds `x ≥ 0` down to a multiple of `step > 0`. `Decimal`'s remainder is
/// exact, so the result is an exact multiple (no division, no drift).
fn floor_to(x: Decimal, step: Decimal) -> Decimal {
    if x <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    (x - x % step).normalize()
}

/// Rounds `x ≥ 0` up to a multiple of `step > 0`.
fn ceil_to(x: Decimal, step: Decimal) -> Decimal {
    if x <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    let rem = x % step;
    if rem.is_zero() {
        x.normalize()
    } else {
        (x - rem + step).normalize()
    }
}

impl SymbolRules {
    /// The rules of a simulated venue's symbol when configuration names none:
    /// lot 0.00000001; for a quote priced in cents (USD, EUR, stablecoins)
    /// tick 0.01 and minimum notional 1; for any other quote (ETH/BTC) tick
    /// 0.00000001 and minimum notional 0.00001, since a cent tick or a one-BTC
    /// minimum would make such a pair untradeable. No minimum quantity beyond
    /// the lot.
    pub fn sim_default(symbol: &Symbol) -> SymbolRules {
        let satoshi = Decimal::new(1, 8);
        let (tick, min_notional) = if CENT_QUOTES.contains(&symbol.quote()) {
            (Decimal::new(1, 2), Decimal::ONE)
        } else {
            (satoshi, Decimal::new(1, 5))
        };
        SymbolRules {
            lot: satoshi,
            tick,
            min_qty: Decimal::ZERO,
            min_notional,
        }
    }

    /// `qty` rounded down to the lot (never up: an order may not ask for more
    /// than was sized against the book or the balance). Zero or negative
    /// gives zero.
    pub fn round_qty(&self, qty: Decimal) -> Decimal {
        floor_to(qty, self.lot)
    }

    /// A limit price rounded to the tick on the conservative side: a buy's
    /// limit down, a sell's limit up.
    ///
    /// The limit is the worst price the opportunity's edge allows. Rounding a
    /// buy's limit up (or a sell's down) would let the order fill one tick
    /// beyond it, at a price the edge was never computed for; rounding inwards
    /// can only make the order fill less, never worse.
    pub fn round_price(&self, side: Side, price: Decimal) -> Decimal {
        match side {
            Side::Buy => floor_to(price, self.tick),
            Side::Sell => ceil_to(price, self.tick),
        }
    }

    /// Which rule an order of `qty` at `price` breaks, checked in this order:
    /// lot, tick, minimum quantity (a zero quantity always breaks it),
    /// minimum notional. The first broken rule is returned.
    pub fn check(&self, qty: Decimal, price: Decimal) -> Result<(), RuleViolation> {
        if !(qty % self.lot).is_zero() {
            return Err(RuleViolation::OffLot { qty, lot: self.lot });
        }
        if !(price % self.tick).is_zero() {
            return Err(RuleViolation::OffTick {
                price,
                tick: self.tick,
            });
        }
        if qty <= Decimal::ZERO || qty < self.min_qty {
            return Err(RuleViolation::BelowMinQty {
                qty,
                min_qty: self.min_qty,
            });
        }
        let notional = qty * price;
        if notional < self.min_notional {
            return Err(RuleViolation::BelowMinNotional {
                notional,
                min_notional: self.min_notional,
            });
        }
        Ok(())
    }
}

code_enum! {
    /// A key of a rules entry.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum RuleKey {
        Lot => "lot",
        Tick => "tick",
        MinQty => "min_qty",
        MinNotional => "min_notional",
    }
}

/// Why rules configuration text was refused. `entry` is the offending entry
/// as written, so the message points at it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RulesError {
    #[error("rules entry {entry:?} is not of the form VENUE:SYMBOL=key:value,...")]
    Malformed { entry: String },
    #[error("rules entry {entry:?} names no venue")]
    EmptyVenue { entry: String },
    #[error("rules entry {entry:?}: {source}")]
    BadSymbol {
        entry: String,
        #[source]
        source: SubjectError,
    },
    #[error("rules entry {entry:?}: unknown key {key:?} (known: lot, tick, min_qty, min_notional)")]
    UnknownKey { entry: String, key: String },
    #[error("rules entry {entry:?}: {key} given twice")]
    DuplicateKey { entry: String, key: RuleKey },
    #[error("rules entry {entry:?}: {key} is missing")]
    MissingKey { entry: String, key: RuleKey },
    #[error("rules entry {entry:?}: {key} value {value:?} is not a decimal number")]
    BadNumber {
        entry: String,
        key: RuleKey,
        value: String,
    },
    #[error("rules entry {entry:?}: {key} must be greater than zero, not {value}")]
    NotPositive {
        entry: String,
        key: RuleKey,
        value: Decimal,
    },
    #[error("rules entry {entry:?}: {key} may not be negative, not {value}")]
    Negative {
        entry: String,
        key: RuleKey,
        value: Decimal,
    },
    #[error("rules for {venue} {symbol} given twice")]
    DuplicateEntry { venue: String, symbol: Symbol },
}

/// Rules for every venue and symbol: what configuration names, else the
/// simulated venues' defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VenueRules {
    configured: BTreeMap<(String, Symbol), SymbolRules>,
}

impl VenueRules {
    /// Parses the configuration form described at the top of this module.
    /// Empty text gives no configured rules (only the sim defaults).
    pub fn parse(text: &str) -> Result<VenueRules, RulesError> {
        let mut configured = BTreeMap::new();
        for entry in text.split([';', '\n']).map(str::trim) {
            if entry.is_empty() {
                continue;
            }
            let (venue, symbol, rules) = parse_entry(entry)?;
            let key = (venue, symbol);
            if configured.contains_key(&key) {
                let (venue, symbol) = key;
                return Err(RulesError::DuplicateEntry { venue, symbol });
            }
            configured.insert(key, rules);
        }
        Ok(VenueRules { configured })
    }

    /// Sets the rules of one venue's symbol, replacing any before.
    pub fn set(&mut self, venue: &str, symbol: Symbol, rules: SymbolRules) {
        self.configured.insert((venue.to_owned(), symbol), rules);
    }

    /// The rules of `symbol` on `venue`: configured ones, else the sim
    /// default for a simulated venue, else `None` (a venue whose rules are
    /// unknown is not traded).
    pub fn get(&self, venue: &str, symbol: &Symbol) -> Option<SymbolRules> {
        // The map's key owns its strings; a linear scan would avoid the
        // allocation but not scale, and this runs once per order.
        if let Some(rules) = self.configured.get(&(venue.to_owned(), symbol.clone())) {
            return Some(*rules);
        }
        SIM_VENUES
            .contains(&venue)
            .then(|| SymbolRules::sim_default(symbol))
    }
}

impl FromStr for VenueRules {
    type Err = RulesError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VenueRules::parse(s)
    }
}

fn parse_entry(entry: &str) -> Result<(String, Symbol, SymbolRules), RulesError> {
    let malformed = || RulesError::Malformed {
        entry: entry.to_owned(),
    };
    let (target, values) = entry.split_once('=').ok_or_else(malformed)?;
    let (venue, symbol) = target.split_once(':').ok_or_else(malformed)?;
    let venue = venue.trim();
    if venue.is_empty() {
        return Err(RulesError::EmptyVenue {
            entry: entry.to_owned(),
        });
    }
    let symbol = symbol
        .trim()
        .parse::<Symbol>()
        .map_err(|source| RulesError::BadSymbol {
            entry: entry.to_owned(),
            source,
        })?;

    let mut found: BTreeMap<RuleKey, Decimal> = BTreeMap::new();
    for pair in values.split(',').map(str::trim) {
        let (key, value) = pair.split_once(':').ok_or_else(malformed)?;
        let (key, value) = (key.trim(), value.trim());
        let key = RuleKey::ALL
            .into_iter()
            .find(|k| k.as_str() == key)
            .ok_or_else(|| RulesError::UnknownKey {
                entry: entry.to_owned(),
                key: key.to_owned(),
            })?;
        let number = Decimal::from_str(value).map_err(|_| RulesError::BadNumber {
            entry: entry.to_owned(),
            key,
            value: value.to_owned(),
        })?;
        if found.insert(key, number).is_some() {
            return Err(RulesError::DuplicateKey {
                entry: entry.to_owned(),
                key,
            });
        }
    }

    let positive = |key: RuleKey| -> Result<Decimal, RulesError> {
        let value = *found.get(&key).ok_or_else(|| RulesError::MissingKey {
            entry: entry.to_owned(),
            key,
        })?;
        if value <= Decimal::ZERO {
            return Err(RulesError::NotPositive {
                entry: entry.to_owned(),
                key,
                value,
            });
        }
        Ok(value)
    };
    let non_negative = |key: RuleKey| -> Result<Decimal, RulesError> {
        let value = found.get(&key).copied().unwrap_or(Decimal::ZERO);
        if value < Decimal::ZERO {
            return Err(RulesError::Negative {
                entry: entry.to_owned(),
                key,
                value,
            });
        }
        Ok(value)
    };
    let rules = SymbolRules {
        lot: positive(RuleKey::Lot)?,
        tick: positive(RuleKey::Tick)?,
        min_qty: non_negative(RuleKey::MinQty)?,
        min_notional: non_negative(RuleKey::MinNotional)?,
    };
    Ok((venue.to_owned(), symbol, rules))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn sym(s: &str) -> Symbol {
        s.parse().unwrap()
    }

    fn rules(lot: &str, tick: &str, min_qty: &str, min_notional: &str) -> SymbolRules {
        SymbolRules {
            lot: d(lot),
            tick: d(tick),
            min_qty: d(min_qty),
            min_notional: d(min_notional),
        }
    }

    /// Asserts each venue and symbol's rules: `[lot, tick, min_qty,
    /// min_notional]`, or `None` for a venue that is not traded.
    fn assert_rules(cfg: &VenueRules, want: &[(&str, &str, Option<[&str; 4]>)]) {
        for &(venue, symbol, want) in want {
            let want = want
                .map(|[lot, tick, min_qty, min_notional]| rules(lot, tick, min_qty, min_notional));
            assert_eq!(cfg.get(venue, &sym(symbol)), want, "{venue} {symbol}");
        }
    }

    #[test]
    fn quantities_round_down_to_the_lot() {
        let r = rules("0.001", "0.01", "0", "0");
        for (qty, want) in [
            ("1.2345", "1.234"),
            ("1.234", "1.234"),
            ("1.2349999", "1.234"),
            ("0.001", "0.001"),
            ("0.0009999", "0"),
            ("0", "0"),
            ("-1.5", "0"),
            ("12345678.9876", "12345678.987"),
        ] {
            assert_eq!(r.round_qty(d(qty)), d(want), "qty {qty}");
        }
        // A lot that is not a power of ten.
        let r = rules("0.25", "0.01", "0", "0");
        for (qty, want) in [("1.3", "1.25"), ("1.25", "1.25"), ("0.24", "0"), ("2", "2")] {
            assert_eq!(r.round_qty(d(qty)), d(want), "qty {qty}");
        }
    }

    #[test]
    fn limit_prices_round_to_the_conservative_side() {
        let r = rules("0.0001", "0.5", "0", "0");
        for (side, price, want) in [
            (Side::Buy, "100.7", "100.5"),
            (Side::Buy, "100.5", "100.5"),
            (Side::Buy, "100.9999", "100.5"),
            (Side::Buy, "100.0001", "100"),
            (Side::Sell, "100.7", "101"),
            (Side::Sell, "100.5", "100.5"),
            (Side::Sell, "100.0001", "100.5"),
            (Side::Sell, "100", "100"),
            (Side::Buy, "0.3", "0"),
            (Side::Sell, "0.3", "0.5"),
        ] {
            assert_eq!(r.round_price(side, d(price)), d(want), "{side:?} {price}");
        }
    }

    #[test]
    fn rounded_values_pass_the_lot_and_tick_rules() {
        let r = rules("0.0001", "0.01", "0", "0");
        let qty = r.round_qty(d("0.123456"));
        for side in [Side::Buy, Side::Sell] {
            let price = r.round_price(side, d("65000.017"));
            assert_eq!(r.check(qty, price), Ok(()), "{side:?} {qty} @ {price}");
        }
    }

    #[test]
    fn each_rule_names_itself_and_its_boundary_passes() {
        let r = rules("0.001", "0.01", "0.01", "10");
        let v = |qty: &str, price: &str| r.check(d(qty), d(price)).map_err(|e| e.as_str());
        for (qty, price, want) in [
            // Boundaries: exactly the minimum quantity and notional.
            ("0.01", "1000", Ok(())),
            ("0.1", "100", Ok(())),
            ("0.0105", "1000", Err("off_lot")),
            ("0.01", "1000.001", Err("off_tick")),
            ("0.009", "5000", Err("below_min_qty")),
            ("0", "5000", Err("below_min_qty")),
            ("0.1", "99.99", Err("below_min_notional")),
            // Lot is checked before the minimum quantity.
            ("0.0001", "1000", Err("off_lot")),
        ] {
            assert_eq!(v(qty, price), want, "{qty} @ {price}");
        }
        assert_eq!(
            r.check(d("0.1"), d("99.99")),
            Err(RuleViolation::BelowMinNotional {
                notional: d("9.999"),
                min_notional: d("10")
            })
        );
        // A zero minimum quantity still refuses a zero quantity.
        let free = rules("0.001", "0.01", "0", "0");
        assert_eq!(
            free.check(d("0"), d("1")).map_err(|e| e.as_str()),
            Err("below_min_qty")
        );
    }

    #[test]
    fn sim_venues_have_defaults_and_configuration_wins() {
        let cfg =
            VenueRules::parse("sim-a:BTC/USD=lot:0.0001,tick:0.01,min_qty:0.0001,min_notional:10")
                .unwrap();
        assert_rules(
            &cfg,
            &[
                ("sim-a", "BTC/USD", Some(["0.0001", "0.01", "0.0001", "10"])),
                ("sim-b", "BTC/USD", Some(["0.00000001", "0.01", "0", "1"])),
                (
                    "sim-c",
                    "ETH/BTC",
                    Some(["0.00000001", "0.00000001", "0", "0.00001"]),
                ),
                ("kraken", "BTC/USD", None),
            ],
        );
        assert_eq!(VenueRules::parse("").unwrap(), VenueRules::default());
    }

    #[test]
    fn parses_good_configuration() {
        let text = " sim-a:BTC/USD=lot:0.0001,tick:0.01,min_qty:0.0001,min_notional:10 ;\n\
                    kraken : eth-btc = tick: 0.00001 , lot:0.00000001\n\n";
        let cfg: VenueRules = text.parse().unwrap();
        assert_rules(
            &cfg,
            &[
                (
                    "kraken",
                    "ETH/BTC",
                    Some(["0.00000001", "0.00001", "0", "0"]),
                ),
                ("sim-a", "BTC/USD", Some(["0.0001", "0.01", "0.0001", "10"])),
            ],
        );
    }

    #[test]
    fn refuses_bad_configuration_with_its_kind() {
        let kind = |text: &str| match VenueRules::parse(text) {
            Ok(_) => "ok",
            Err(RulesError::Malformed { .. }) => "malformed",
            Err(RulesError::EmptyVenue { .. }) => "empty_venue",
            Err(RulesError::BadSymbol { .. }) => "bad_symbol",
            Err(RulesError::UnknownKey { .. }) => "unknown_key",
            Err(RulesError::DuplicateKey { .. }) => "duplicate_key",
            Err(RulesError::MissingKey { .. }) => "missing_key",
            Err(RulesError::BadNumber { .. }) => "bad_number",
            Err(RulesError::NotPositive { .. }) => "not_positive",
            Err(RulesError::Negative { .. }) => "negative",
            Err(RulesError::DuplicateEntry { .. }) => "duplicate_entry",
        };
        for (text, want) in [
            ("sim-a:BTC/USD=lot:1,tick:1", "ok"),
            ("sim-a:BTC/USD", "malformed"),
            ("sim-a=lot:1,tick:1", "malformed"),
            ("sim-a:BTC/USD=lot=1", "malformed"),
            ("sim-a:BTC/USD=lot:1,,tick:1", "malformed"),
            (":BTC/USD=lot:1,tick:1", "empty_venue"),
            ("sim-a:BTCUSD=lot:1,tick:1", "bad_symbol"),
            ("sim-a:BTC/BTC=lot:1,tick:1", "bad_symbol"),
            ("sim-a:BTC/USD=lot:1,tick:1,step:1", "unknown_key"),
            ("sim-a:BTC/USD=lot:1,tick:1,lot:2", "duplicate_key"),
            ("sim-a:BTC/USD=tick:1", "missing_key"),
            ("sim-a:BTC/USD=lot:1", "missing_key"),
            ("sim-a:BTC/USD=lot:one,tick:1", "bad_number"),
            ("sim-a:BTC/USD=lot:1,tick:", "bad_number"),
            ("sim-a:BTC/USD=lot:1,tick:0.0.1", "bad_number"),
            ("sim-a:BTC/USD=lot:0,tick:1", "not_positive"),
            ("sim-a:BTC/USD=lot:1,tick:-0.01", "not_positive"),
            ("sim-a:BTC/USD=lot:1,tick:1,min_qty:-1", "negative"),
            ("sim-a:BTC/USD=lot:1,tick:1,min_notional:-0.5", "negative"),
            (
                "sim-a:BTC/USD=lot:1,tick:1;sim-a:btc-usd=lot:2,tick:2",
                "duplicate_entry",
            ),
        ] {
            assert_eq!(kind(text), want, "{text:?}");
        }
        let err = VenueRules::parse("sim-a:BTC/USD=lot:1,tick:1,step:1").unwrap_err();
        assert!(err.to_string().contains("\"step\""), "{err}");
    }
}
