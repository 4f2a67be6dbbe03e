//! The paper executor's runtime configuration: the keys of the NATS KV
//! bucket [`BUCKET`] (under the subject prefix, `Subjects::bucket_name`),
//! what each key's value text means, and the canonical text written back.
//! The executor watches the bucket and applies each [`entry`]; `arbctl
//! config set` checks a value with the same [`entry`] before it writes it,
//! so a value the executor would refuse never reaches the bucket.
//!
//! | key | value text | value |
//! |---|---|---|
//! | `trading_state` | `active`, `reducing` or `halted` | [`TradingState`] |
//! | `limits` | a JSON object, below | [`RiskLimits`] |
//! | `fees.<venue>` | the taker fee as a fraction in [0, 1): `0.0026` | [`Decimal`] |
//! | `latency.<venue>` | `{"fixed": "20ms", "jitter": "5ms"}` (`jitter` defaults to 0) | [`Latency`] |
//!
//! The `limits` object, every field optional (a missing one is no limit, or
//! the default), unknown fields refused:
//!
//! ```json
//! {"max_order_notional": {"USD": "50000", "*": "10"},
//!  "max_trade_notional": {"USD": "100000"},
//!  "max_open_trades": 4,
//!  "order_rate": {"max_orders": 20, "interval": "1s"},
//!  "min_net_edge_bps": "1.5",
//!  "max_book_age": "2s"}
//! ```
//!
//! Amounts are decimal strings or JSON numbers, both read exactly from their
//! text (never through a float); `"*"` is the limit of every currency not
//! named; currency codes are written upper-case. Durations are humantime
//! text (`"250ms"`, `"1m 30s"`). Amounts and the edge threshold may not be
//! negative, the rate's interval may not be zero; a zero limit is allowed
//! and lets nothing through.
//!
//! Pure: no I/O, no clock. Parsing takes the bytes the bucket holds.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::time::Duration;

use arb_contract::SubjectError;
use arb_contract::subject::check_token;
use arb_contract::symbol::normalize_asset;
use rust_decimal::Decimal;
use serde::de::value::MapAccessDeserializer;
use serde::de::{Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use thiserror::Error;

use crate::latency::Latency;
use crate::risk::{OrderRate, PerCurrency, RiskLimits, TradingState, TradingStateError};

/// The KV bucket's name before the subject prefix.
pub const BUCKET: &str = "arb_config";

/// The `limits` key's name for [`PerCurrency::default`].
const ANY_CURRENCY: &str = "*";

/// A configuration key. [`Display`](fmt::Display) writes the KV key text,
/// [`FromStr`] reads it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// `trading_state`
    TradingState,
    /// `limits`
    Limits,
    /// `fees.<venue>`
    Fee { venue: String },
    /// `latency.<venue>`
    Latency { venue: String },
}

/// A key that is not a configuration key.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error(
        "unknown configuration key {key:?} (known: trading_state, limits, fees.<venue>, latency.<venue>)"
    )]
    Unknown { key: String },
    #[error("configuration key {key:?}: {source}")]
    BadVenue {
        key: String,
        #[source]
        source: SubjectError,
    },
    /// A venue fit for a subject that a NATS KV key cannot hold.
    #[error(
        "configuration key {key:?}: venue {venue:?} may hold only ASCII letters, digits, '-', '_', '=' and '/' (a NATS KV key)"
    )]
    NotKvKey { key: String, venue: String },
}

impl FromStr for Key {
    type Err = KeyError;

    /// Exactly the key texts [`Key`]'s `Display` writes; nothing is trimmed
    /// or folded (the bucket would hold them as other keys).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "trading_state" => return Ok(Key::TradingState),
            "limits" => return Ok(Key::Limits),
            _ => {}
        }
        let (make, venue): (fn(String) -> Key, &str) = match s.split_once('.') {
            Some(("fees", venue)) => (|venue| Key::Fee { venue }, venue),
            Some(("latency", venue)) => (|venue| Key::Latency { venue }, venue),
            _ => return Err(KeyError::Unknown { key: s.to_owned() }),
        };
        let venue = check_token("venue", venue).map_err(|source| KeyError::BadVenue {
            key: s.to_owned(),
            source,
        })?;
        if !venue
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=' | '/'))
        {
            return Err(KeyError::NotKvKey {
                key: s.to_owned(),
                venue: venue.to_owned(),
            });
        }
        Ok(make(venue.to_owned()))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::TradingState => f.write_str("trading_state"),
            Key::Limits => f.write_str("limits"),
            Key::Fee { venue } => write!(f, "fees.{venue}"),
            Key::Latency { venue } => write!(f, "latency.{venue}"),
        }
    }
}

/// A key's value, parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    TradingState(TradingState),
    Limits(RiskLimits),
    /// A taker fee rate, a fraction in [0, 1).
    Fee(Decimal),
    Latency(Latency),
}

/// A value text its key does not accept.
#[derive(Debug, Error)]
#[error("configuration value of {key}: {kind}")]
pub struct ValueError {
    pub key: Key,
    pub kind: ValueErrorKind,
}

impl ValueError {
    pub fn kind(&self) -> &ValueErrorKind {
        &self.kind
    }
}

/// Why a value was refused.
#[derive(Debug, Error)]
pub enum ValueErrorKind {
    #[error("the value is not UTF-8 text")]
    NotUtf8,
    #[error(transparent)]
    TradingState(#[from] TradingStateError),
    /// Not JSON, or JSON not of the key's shape; serde's message says where.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("{text:?} is not a decimal number")]
    BadDecimal { text: String },
    #[error("{what}: {currency:?} is neither a currency code (letters and digits) nor \"*\"")]
    BadCurrency {
        what: &'static str,
        currency: String,
    },
    /// Two spellings of one code (`usd` and `USD`).
    #[error("{what}: currency {currency} given twice")]
    DuplicateCurrency {
        what: &'static str,
        currency: String,
    },
    #[error("{what} is {value}, outside {range}")]
    OutOfRange {
        /// The field: `max_order_notional.USD`, `order_rate.interval`.
        what: String,
        value: String,
        range: &'static str,
    },
}

/// Either half of reading one KV entry.
#[derive(Debug, Error)]
pub enum SettingError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Value(#[from] ValueError),
}

/// Parses `text`, the value the bucket holds under `key`.
pub fn parse(key: &Key, text: &[u8]) -> Result<Value, ValueError> {
    parse_kind(key, text).map_err(|kind| ValueError {
        key: key.clone(),
        kind,
    })
}

/// Parses a KV entry: its key, then its value.
pub fn entry(key: &str, text: &[u8]) -> Result<(Key, Value), SettingError> {
    let key = Key::from_str(key)?;
    let value = parse(&key, text)?;
    Ok((key, value))
}

fn parse_kind(key: &Key, text: &[u8]) -> Result<Value, ValueErrorKind> {
    let text = std::str::from_utf8(text).map_err(|_| ValueErrorKind::NotUtf8)?;
    Ok(match key {
        Key::TradingState => Value::TradingState(text.parse()?),
        Key::Limits => {
            let Object(wire) = serde_json::from_str(text)?;
            Value::Limits(limits_from_wire(wire)?)
        }
        Key::Fee { .. } => {
            let fee = parse_decimal(text.trim())?;
            if fee < Decimal::ZERO || fee >= Decimal::ONE {
                return Err(out_of_range("the fee", fee, "[0, 1)"));
            }
            Value::Fee(fee)
        }
        Key::Latency { .. } => {
            let Object::<LatencyWire>(wire) = serde_json::from_str(text)?;
            Value::Latency(Latency::new(wire.fixed.0, wire.jitter.0))
        }
    })
}

impl Value {
    /// The canonical text of the value, which [`parse`] reads back to the
    /// same value: the state word, the fee's decimal, and compact JSON with
    /// amounts as strings for limits and latency (limits name only what
    /// limits something).
    pub fn to_text(&self) -> String {
        match self {
            Value::TradingState(s) => s.as_str().to_owned(),
            Value::Fee(fee) => fee.to_string(),
            Value::Limits(limits) => json_text(&limits_to_wire(limits)),
            Value::Latency(l) => json_text(&LatencyWire {
                fixed: Humantime(l.fixed),
                jitter: Humantime(l.jitter),
            }),
        }
    }
}

fn json_text(value: &impl Serialize) -> String {
    // Plain structs, string maps, strings and integers: nothing here that
    // serde_json cannot write.
    serde_json::to_string(value).unwrap_or_else(|e| unreachable!("settings JSON: {e}"))
}

fn parse_decimal(text: &str) -> Result<Decimal, ValueErrorKind> {
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .map_err(|_| ValueErrorKind::BadDecimal {
            text: text.to_owned(),
        })
}

fn out_of_range(
    what: impl Into<String>,
    value: impl fmt::Display,
    range: &'static str,
) -> ValueErrorKind {
    ValueErrorKind::OutOfRange {
        what: what.into(),
        value: value.to_string(),
        range,
    }
}

/// The `limits` object as written.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsWire {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    max_order_notional: BTreeMap<String, Amount>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    max_trade_notional: BTreeMap<String, Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_open_trades: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    order_rate: Option<Object<OrderRateWire>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min_net_edge_bps: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_book_age: Option<Humantime>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderRateWire {
    max_orders: usize,
    interval: Humantime,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyWire {
    fixed: Humantime,
    #[serde(default)]
    jitter: Humantime,
}

fn limits_from_wire(w: LimitsWire) -> Result<RiskLimits, ValueErrorKind> {
    let min_net_edge_bps = w.min_net_edge_bps.map_or(Decimal::ZERO, |a| a.0);
    if min_net_edge_bps < Decimal::ZERO {
        return Err(out_of_range("min_net_edge_bps", min_net_edge_bps, "[0, ∞)"));
    }
    let order_rate = match w.order_rate {
        None => None,
        Some(Object(r)) if r.interval.0.is_zero() => {
            return Err(out_of_range(
                "order_rate.interval",
                humantime::format_duration(r.interval.0),
                "(0, ∞)",
            ));
        }
        Some(Object(r)) => Some(OrderRate {
            max_orders: r.max_orders,
            interval: r.interval.0,
        }),
    };
    Ok(RiskLimits {
        max_order_notional: per_currency("max_order_notional", w.max_order_notional)?,
        max_trade_notional: per_currency("max_trade_notional", w.max_trade_notional)?,
        max_open_trades: w.max_open_trades,
        order_rate,
        min_net_edge_bps,
        max_book_age: w.max_book_age.map(|d| d.0),
    })
}

fn per_currency(
    what: &'static str,
    map: BTreeMap<String, Amount>,
) -> Result<PerCurrency, ValueErrorKind> {
    let mut limits = PerCurrency::default();
    for (currency, Amount(limit)) in map {
        if limit < Decimal::ZERO {
            return Err(out_of_range(format!("{what}.{currency}"), limit, "[0, ∞)"));
        }
        if currency == ANY_CURRENCY {
            limits.default = Some(limit);
            continue;
        }
        let code = normalize_asset(&currency);
        if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ValueErrorKind::BadCurrency { what, currency });
        }
        if limits.by_currency.insert(code.clone(), limit).is_some() {
            return Err(ValueErrorKind::DuplicateCurrency {
                what,
                currency: code,
            });
        }
    }
    Ok(limits)
}

fn limits_to_wire(l: &RiskLimits) -> LimitsWire {
    let map = |p: &PerCurrency| {
        let mut m: BTreeMap<String, Amount> = p
            .by_currency
            .iter()
            .map(|(c, v)| (c.clone(), Amount(*v)))
            .collect();
        if let Some(d) = p.default {
            m.insert(ANY_CURRENCY.to_owned(), Amount(d));
        }
        m
    };
    LimitsWire {
        max_order_notional: map(&l.max_order_notional),
        max_trade_notional: map(&l.max_trade_notional),
        max_open_trades: l.max_open_trades,
        order_rate: l.order_rate.map(|r| {
            Object(OrderRateWire {
                max_orders: r.max_orders,
                interval: Humantime(r.interval),
            })
        }),
        min_net_edge_bps: (!l.min_net_edge_bps.is_zero()).then_some(Amount(l.min_net_edge_bps)),
        max_book_age: l.max_book_age.map(Humantime),
    }
}

/// A JSON object read into `T`, and only an object: a derived struct would
/// also take an array, its fields by position.
#[derive(Debug)]
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Fields<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Fields(PhantomData)).map(Object)
    }
}

impl<T: Serialize> Serialize for Object<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// A decimal amount, read from a JSON string or number by its text (a
/// number never passes through `f64`), written as a string.
#[derive(Debug, Clone, Copy)]
struct Amount(Decimal);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        let text = raw.get();
        let number = if text.starts_with('"') {
            serde_json::from_str::<String>(text).map_err(D::Error::custom)?
        } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
            text.to_owned()
        } else {
            return Err(D::Error::custom(format!(
                "expected a decimal number or string, found {text}"
            )));
        };
        parse_decimal(number.trim())
            .map(Amount)
            .map_err(D::Error::custom)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// A duration as humantime text (`"1s"`, `"250ms"`).
#[derive(Debug, Clone, Copy, Default)]
struct Humantime(Duration);

impl<'de> Deserialize<'de> for Humantime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim())
            .map(Humantime)
            .map_err(|e| D::Error::custom(format!("bad duration {text:?}: {e}")))
    }
}

impl Serialize for Humantime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&humantime::format_duration(self.0))
    }
}

#[cfg(test)]
mod tests;
