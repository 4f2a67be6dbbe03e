//! Kraken WebSocket v2 frames as they arrive, and their conversion into the
//! book model. Kraken writes prices and quantities as JSON numbers; to keep
//! them exact (never through `f64`) every number literal of a frame is quoted
//! first ([`quote_numbers`]) and then parsed as a `Decimal` from its text.

use std::borrow::Cow;

use arb_contract::Level;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};

use crate::error::FrameError;

/// Rewrites every number literal outside strings as a JSON string with the
/// same text, so `{"price":0.566}` becomes `{"price":"0.566"}`. Returns the
/// input unchanged when it holds no bare number.
pub fn quote_numbers(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        let c = b[i];
        if in_str {
            match c {
                b'\\' => i += 1,
                b'"' => in_str = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => {
                in_str = true;
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let o = out.get_or_insert_with(|| String::with_capacity(text.len() + 64));
                o.push_str(&text[copied..start]);
                o.push('"');
                o.push_str(&text[start..i]);
                o.push('"');
                copied = i;
            }
            _ => i += 1,
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
    }
}

/// An integer written as a number or (after quoting) as a string.
pub(crate) fn de_u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        U(u64),
        S(String),
    }
    match N::deserialize(d)? {
        N::U(u) => Ok(u),
        N::S(s) => s.parse().map_err(serde::de::Error::custom),
    }
}

fn de_opt_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let v = de_u64(d)?;
    u32::try_from(v).map(Some).map_err(serde::de::Error::custom)
}

fn de_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = de_u64(d)?;
    u32::try_from(v).map_err(serde::de::Error::custom)
}

/// `{"price":..,"qty":..}`.
#[derive(Debug, Clone, Deserialize)]
pub struct KrakenLevel {
    pub price: Decimal,
    pub qty: Decimal,
}

impl TryFrom<&KrakenLevel> for Level {
    type Error = FrameError;
    fn try_from(l: &KrakenLevel) -> Result<Self, FrameError> {
        crate::wire::level(l.price, l.qty)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KrakenBookType {
    Snapshot,
    Update,
}

/// One symbol's part of a `book` message.
#[derive(Debug, Clone, Deserialize)]
pub struct KrakenBookData {
    pub symbol: String,
    #[serde(default)]
    pub bids: Vec<KrakenLevel>,
    #[serde(default)]
    pub asks: Vec<KrakenLevel>,
    #[serde(deserialize_with = "de_u32")]
    pub checksum: u32,
    #[serde(default)]
    pub timestamp: Option<String>,
}

/// `{"channel":"book","type":"snapshot"|"update","data":[..]}`. Each entry
/// is read into a [`KrakenBookData`] on its own, after its `symbol`: an entry
/// that cannot be read (a price that is no number) still names its book.
#[derive(Debug, Clone, Deserialize)]
pub struct KrakenBookMsg {
    #[serde(rename = "type")]
    pub kind: KrakenBookType,
    pub data: Vec<serde_json::Value>,
}

/// One pair of the `instrument` channel.
#[derive(Debug, Clone, Deserialize)]
pub struct KrakenPair {
    pub symbol: String,
    #[serde(default, deserialize_with = "de_opt_u32")]
    pub price_precision: Option<u32>,
    #[serde(default, deserialize_with = "de_opt_u32")]
    pub qty_precision: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KrakenInstrumentData {
    #[serde(default)]
    pub pairs: Vec<KrakenPair>,
}

/// `{"channel":"instrument","type":"snapshot"|"update","data":{"assets":[..],"pairs":[..]}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct KrakenInstrumentMsg {
    pub data: KrakenInstrumentData,
}

/// The reply to a request: `{"method":"subscribe","result":{..},"success":true}`.
#[derive(Debug, Clone, Deserialize)]
pub struct KrakenMethodReply {
    pub method: String,
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub result: Option<KrakenMethodResult>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct KrakenMethodResult {
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub symbol: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::parse_ts;

    #[test]
    fn quote_numbers_table() {
        for (input, want) in [
            (r#"{"a":1}"#, r#"{"a":"1"}"#),
            (
                r#"{"p":0.566,"q":-1.5e-3}"#,
                r#"{"p":"0.566","q":"-1.5e-3"}"#,
            ),
            (
                r#"{"s":"BTC/USD 12","n":[1, 2]}"#,
                r#"{"s":"BTC/USD 12","n":["1", "2"]}"#,
            ),
            (r#"{"s":"a\"1","t":true}"#, r#"{"s":"a\"1","t":true}"#),
            (r#"{"s":"x"}"#, r#"{"s":"x"}"#),
            ("", ""),
        ] {
            assert_eq!(quote_numbers(input), want, "{input}");
        }
    }

    #[test]
    fn book_message_keeps_exact_decimals() {
        let raw = r#"{"channel":"book","type":"update","data":[{"symbol":"BTC/USD","bids":[{"price":45283.5,"qty":0.1}],"asks":[],"checksum":3310070434,"timestamp":"2023-10-06T17:35:55.440295Z"}]}"#;
        let v: serde_json::Value = serde_json::from_str(&quote_numbers(raw)).unwrap();
        let m = KrakenBookMsg::deserialize(v).unwrap();
        assert_eq!(m.kind, KrakenBookType::Update);
        let data = KrakenBookData::deserialize(&m.data[0]).unwrap();
        assert_eq!(data.checksum, 3310070434);
        assert_eq!(data.bids[0].price.to_string(), "45283.5");
        assert_eq!(data.bids[0].qty.to_string(), "0.1");
        assert!(parse_ts(data.timestamp.as_deref().unwrap()).is_some());
    }
}
