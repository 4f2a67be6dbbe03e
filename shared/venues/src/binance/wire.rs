//! Binance frames as they arrive: the combined-stream wrapper, `depthUpdate`
//! events, and the WebSocket API's `depth` reply. Prices and sizes are strings.

use arb_contract::Level;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;

use super::sync::{DepthEvent, DepthSnapshot};
use crate::error::FrameError;

/// `{"stream":"btcusdt@depth@100ms","data":{..}}`.
#[derive(Debug, Clone, Deserialize)]
pub struct BinanceCombined<T> {
    pub stream: String,
    pub data: T,
}

/// `{"e":"depthUpdate","E":ms,"s":"BNBBTC","U":first,"u":last,"b":[["px","qty"]],"a":[..]}`.
#[derive(Debug, Clone, Deserialize)]
pub struct BinanceDepthUpdate {
    #[serde(rename = "e")]
    pub event: String,
    #[serde(rename = "E")]
    pub event_ms: i64,
    #[serde(rename = "s")]
    pub symbol: String,
    #[serde(rename = "U")]
    pub first: u64,
    #[serde(rename = "u")]
    pub last: u64,
    /// `["price","qty"]` each, read by [`DepthEvent::try_from`]: a level
    /// that cannot be read makes the event unusable, and the event still
    /// names its symbol and update ids.
    #[serde(rename = "b", default)]
    pub bids: Vec<Value>,
    #[serde(rename = "a", default)]
    pub asks: Vec<Value>,
}

fn levels(raw: &[Value]) -> Result<Vec<Level>, FrameError> {
    raw.iter()
        .map(|v| {
            let (p, q) = <(Decimal, Decimal)>::deserialize(v)
                .map_err(|e| FrameError::Invalid(format!("level {v}: {e}")))?;
            crate::wire::level(p, q)
        })
        .collect()
}

impl TryFrom<BinanceDepthUpdate> for DepthEvent {
    type Error = FrameError;
    fn try_from(u: BinanceDepthUpdate) -> Result<Self, FrameError> {
        if u.first > u.last {
            return Err(FrameError::Invalid(format!("U {} > u {}", u.first, u.last)));
        }
        Ok(DepthEvent {
            first: u.first,
            last: u.last,
            event_ms: u.event_ms,
            bids: levels(&u.bids)?,
            asks: levels(&u.asks)?,
        })
    }
}

/// The WebSocket API's reply: `{"id":..,"status":200,"result":{..}}` or an `error`.
#[derive(Debug, Clone, Deserialize)]
pub struct BinanceApiReply {
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub result: Option<BinanceDepthResult>,
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BinanceDepthResult {
    #[serde(rename = "lastUpdateId")]
    pub last_update_id: u64,
    #[serde(default)]
    pub bids: Vec<Value>,
    #[serde(default)]
    pub asks: Vec<Value>,
}

impl TryFrom<BinanceDepthResult> for DepthSnapshot {
    type Error = FrameError;
    fn try_from(r: BinanceDepthResult) -> Result<Self, FrameError> {
        Ok(DepthSnapshot {
            last_update_id: r.last_update_id,
            bids: levels(&r.bids)?,
            asks: levels(&r.asks)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_documented_shapes() {
        let raw = r#"{"stream":"bnbbtc@depth@100ms","data":{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,"b":[["0.0024","10"]],"a":[["0.0026","100"]]}}"#;
        let m: BinanceCombined<BinanceDepthUpdate> = serde_json::from_str(raw).unwrap();
        let e = DepthEvent::try_from(m.data).unwrap();
        assert_eq!((e.first, e.last), (157, 160));
        assert_eq!(e.bids[0].price.to_string(), "0.0024");
        let reply = r#"{"id":"x","status":200,"result":{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"]],"asks":[["4.00000200","12.00000000"]]},"rateLimits":[]}"#;
        let r: BinanceApiReply = serde_json::from_str(reply).unwrap();
        let s = DepthSnapshot::try_from(r.result.unwrap()).unwrap();
        assert_eq!(s.last_update_id, 1027024);
        assert_eq!(s.asks[0].qty.to_string(), "12.00000000");
        // Readable as an event (symbol and ids), unusable as a change.
        for bad in [
            r#"{"e":"depthUpdate","E":1,"s":"X","U":5,"u":4,"b":[],"a":[]}"#,
            r#"{"e":"depthUpdate","E":1,"s":"X","U":5,"u":6,"b":[["abc","1"]],"a":[]}"#,
            r#"{"e":"depthUpdate","E":1,"s":"X","U":5,"u":6,"b":[],"a":[["1","2","3"]]}"#,
            r#"{"e":"depthUpdate","E":1,"s":"X","U":5,"u":6,"b":[["0","1"]],"a":[]}"#,
        ] {
            let u: BinanceDepthUpdate = serde_json::from_str(bad).unwrap();
            assert!(DepthEvent::try_from(u).is_err(), "{bad}");
        }
    }
}
