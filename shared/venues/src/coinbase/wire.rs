//! Coinbase Advanced Trade frames as they arrive: the envelope with its
//! connection-wide `sequence_num`, `l2_data` events, `subscriptions`.

use arb_contract::Level;
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::book::BookSideKind;
use crate::error::FrameError;

/// `{"channel":..,"timestamp":..,"sequence_num":n,"events":[..]}`, or `{"type":"error",..}`.
#[derive(Debug, Clone, Deserialize)]
pub struct CoinbaseEnvelope {
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub sequence_num: Option<u64>,
    #[serde(default)]
    pub events: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoinbaseL2Type {
    Snapshot,
    Update,
}

/// One event of `l2_data`.
#[derive(Debug, Clone, Deserialize)]
pub struct CoinbaseL2Event {
    #[serde(rename = "type")]
    pub kind: CoinbaseL2Type,
    pub product_id: String,
    #[serde(default)]
    pub updates: Vec<CoinbaseL2Update>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CoinbaseL2Update {
    pub side: String,
    #[serde(default)]
    pub event_time: Option<String>,
    pub price_level: Decimal,
    pub new_quantity: Decimal,
}

impl TryFrom<&CoinbaseL2Update> for (BookSideKind, Level) {
    type Error = FrameError;
    fn try_from(u: &CoinbaseL2Update) -> Result<Self, FrameError> {
        let side = match u.side.as_str() {
            "bid" => BookSideKind::Bid,
            "offer" | "ask" => BookSideKind::Ask,
            other => return Err(FrameError::Invalid(format!("side {other:?}"))),
        };
        Ok((side, crate::wire::level(u.price_level, u.new_quantity)?))
    }
}

/// An event of `subscriptions`: `{"subscriptions":{"level2":["BTC-USD"],..}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct CoinbaseSubscriptions {
    #[serde(default)]
    pub subscriptions: std::collections::BTreeMap<String, Vec<String>>,
}
