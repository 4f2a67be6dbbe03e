//! Timestamps on the wire: UTC nanoseconds since the Unix epoch when written,
//! nanoseconds or RFC 3339 text when read (so a person can type a time in a
//! JSON message for `nats pub`).

use chrono::{DateTime, Utc};
use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};
use std::fmt;

pub type Timestamp = DateTime<Utc>;

/// Event times outside this range are refused as absurd by validation.
pub const SANE_FROM: i64 = 946_684_800_000_000_000; // 2000-01-01T00:00:00Z
pub const SANE_UNTIL: i64 = 7_258_118_400_000_000_000; // 2200-01-01T00:00:00Z

/// Whether `t` lies in [2000-01-01, 2200-01-01): later or earlier times on
/// the wire are a producer's unit mistake (seconds for nanoseconds, say).
pub fn is_sane(t: &Timestamp) -> bool {
    (SANE_FROM..SANE_UNTIL).contains(&to_nanos(t))
}

/// Nanoseconds since the epoch, saturating outside ±292 years.
pub fn to_nanos(t: &Timestamp) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

pub fn from_nanos(n: i64) -> Timestamp {
    DateTime::from_timestamp_nanos(n)
}

/// A time as RFC 3339 in UTC with nine fractional digits and `Z`: how
/// people are shown times (`arbctl tap`, backtest results).
pub fn rfc3339(t: &Timestamp) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

struct TsVisitor;

impl Visitor<'_> for TsVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("nanoseconds since the Unix epoch or an RFC 3339 time")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
        Ok(from_nanos(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
        i64::try_from(v)
            .map(from_nanos)
            .map_err(|_| E::custom("timestamp out of range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
        DateTime::parse_from_rfc3339(v)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| E::custom(format!("bad RFC 3339 time {v:?}: {e}")))
    }
}

/// `#[serde(with = "arb_shared::time::nanos")]` for a `Timestamp` field.
pub mod nanos {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(to_nanos(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        d.deserialize_any(TsVisitor)
    }
}

/// `#[serde(with = "arb_shared::time::nanos_opt", default)]` for an `Option<Timestamp>`.
pub mod nanos_opt {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&to_nanos(t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        d.deserialize_option(OptVisitor(TsVisitor))
    }
}

/// `null`, or what the inner visitor reads (with `deserialize_any`).
pub(crate) struct OptVisitor<V>(pub(crate) V);

impl<'de, V: Visitor<'de>> Visitor<'de> for OptVisitor<V> {
    type Value = Option<V::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null or ")?;
        self.0.expecting(f)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self.0).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct T {
        #[serde(with = "nanos")]
        at: Timestamp,
        #[serde(with = "nanos_opt", default)]
        maybe: Option<Timestamp>,
    }

    #[test]
    fn reads_nanos_and_rfc3339_alike() {
        let a: T = serde_json::from_str(r#"{"at":1700000000123456789,"maybe":null}"#).unwrap();
        let b: T = serde_json::from_str(r#"{"at":"2023-11-14T22:13:20.123456789Z"}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(to_nanos(&a.at), 1_700_000_000_123_456_789);
    }

    #[test]
    fn writes_nanos_and_round_trips_msgpack() {
        let t = T {
            at: from_nanos(42),
            maybe: Some(from_nanos(-7)),
        };
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"at":42,"maybe":-7}"#
        );
        let bytes = rmp_serde::to_vec_named(&t).unwrap();
        assert_eq!(rmp_serde::from_slice::<T>(&bytes).unwrap(), t);
    }

    #[test]
    fn rejects_garbage_time() {
        assert!(serde_json::from_str::<T>(r#"{"at":"yesterday"}"#).is_err());
    }
}
