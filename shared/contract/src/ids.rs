//! Identity without a clock or a random source: ids derive from their inputs
//! (an event time and a stable hash of what identifies the record), so the
//! same input gives the same id in a live run and in a replay.
//!
//! Ids are UUIDv7-shaped: the millisecond of the event time leads, so they
//! sort by time like `Uuid::now_v7()` would. On the wire an id is
//! MessagePack's 16-byte binary (what serde writes); text (`"0190…"`), as a
//! producer in another language naturally writes it, is read as well.

use ::uuid::Uuid;

use crate::time::{Timestamp, to_nanos};

/// A UUIDv7 made from a time and 62 bits of the caller's: the same inputs
/// give the same id, so a record derived from a message (a dead letter for
/// stream sequence N) is written once however often the message comes back.
pub fn id_at(ts: Timestamp, n: u64) -> Uuid {
    let ms = ts.timestamp_millis().max(0) as u64;
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6] = 0x70 | ((n >> 60) as u8 & 0x0f);
    b[7] = (n >> 52) as u8;
    b[8] = 0x80 | ((n >> 46) as u8 & 0x3f);
    b[9..16].copy_from_slice(&(n & 0x00ff_ffff_ffff_ffff).to_be_bytes()[1..]);
    Uuid::from_bytes(b)
}

/// A stable 64-bit hash (FNV-1a) for [`id_at`] keys; each part is followed
/// by a separator byte, so `["ab", "c"]` and `["a", "bc"]` differ.
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(b"\x1f") {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The id of a record named by `parts` at event time `ts`.
pub fn derive(ts: Timestamp, parts: &[&[u8]]) -> Uuid {
    id_at(ts, stable_hash(parts))
}

/// Ids for a sequence of records of one source (a feed's books, a
/// detector's audit records): the namespace, each record's time and its
/// place in the sequence make the id. A fresh generator fed the same
/// sequence gives the same ids; two namespaces never share one.
#[derive(Debug, Clone)]
pub struct IdGen {
    namespace: u64,
    n: u64,
}

impl IdGen {
    pub fn new(namespace: &str) -> Self {
        IdGen {
            namespace: stable_hash(&[namespace.as_bytes()]),
            n: 0,
        }
    }

    /// The next id, for a record at `ts`.
    pub fn next(&mut self, ts: Timestamp) -> Uuid {
        self.n += 1;
        derive(
            ts,
            &[
                &self.namespace.to_be_bytes(),
                &to_nanos(&ts).to_be_bytes(),
                &self.n.to_be_bytes(),
            ],
        )
    }
}

struct UuidVisitor;

impl serde::de::Visitor<'_> for UuidVisitor {
    type Value = Uuid;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a UUID as 16 bytes or as text")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Uuid, E> {
        Uuid::parse_str(v).map_err(|e| E::custom(format!("bad UUID {v:?}: {e}")))
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Uuid, E> {
        match Uuid::from_slice(v) {
            Ok(u) => Ok(u),
            // Text sent as binary by a lax producer.
            Err(_) => match std::str::from_utf8(v) {
                Ok(s) => self.visit_str(s),
                Err(_) => Err(E::invalid_length(v.len(), &self)),
            },
        }
    }
}

/// `#[serde(with = "crate::ids::uuid")]`: written as serde writes a `Uuid`
/// (binary in MessagePack, text in JSON), read from either.
pub mod uuid {
    use super::{Uuid, UuidVisitor};
    use serde::{Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(u: &Uuid, s: S) -> Result<S::Ok, S::Error> {
        u.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
        d.deserialize_any(UuidVisitor)
    }
}

/// `#[serde(with = "crate::ids::uuid_opt", default)]` for an `Option<Uuid>`.
pub mod uuid_opt {
    use super::{Uuid, UuidVisitor};
    use serde::{Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(u: &Option<Uuid>, s: S) -> Result<S::Ok, S::Error> {
        u.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
        d.deserialize_option(crate::time::OptVisitor(UuidVisitor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::from_nanos;
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct T {
        #[serde(with = "super::uuid")]
        id: Uuid,
        #[serde(with = "super::uuid_opt", default)]
        other: Option<Uuid>,
    }

    #[test]
    fn ids_derive_from_inputs_only() {
        let t = from_nanos(1_700_000_000_123_000_000);
        assert_eq!(derive(t, &[b"a", b"b"]), derive(t, &[b"a", b"b"]));
        assert_ne!(derive(t, &[b"ab"]), derive(t, &[b"a", b"b"]));
        assert_eq!(id_at(t, 7).get_version_num(), 7);
        let (mut a, mut b) = (IdGen::new("feed-kraken"), IdGen::new("feed-kraken"));
        let xs: Vec<Uuid> = (0..3).map(|_| a.next(t)).collect();
        let ys: Vec<Uuid> = (0..3).map(|_| b.next(t)).collect();
        assert_eq!(xs, ys);
        assert!(xs[0] != xs[1] && xs[1] != xs[2]);
        assert_ne!(IdGen::new("feed-binance").next(t), xs[0]);
        // Time-ordered like v7: a later millisecond sorts after.
        assert!(id_at(from_nanos(1_700_000_001_000_000_000), 0) > id_at(t, u64::MAX));
    }

    #[test]
    fn uuid_reads_binary_and_text_in_msgpack_and_json() {
        let id = Uuid::parse_str("0190a5b2-7c3d-7e4f-8a1b-2c3d4e5f6a7b").unwrap();
        let t = T {
            id,
            other: Some(id),
        };
        let bin = rmp_serde::to_vec_named(&t).unwrap();
        assert_eq!(rmp_serde::from_slice::<T>(&bin).unwrap(), t);
        #[derive(Serialize)]
        struct Text<'a> {
            id: &'a str,
            other: Option<&'a str>,
        }
        let s = id.to_string();
        let text = rmp_serde::to_vec_named(&Text {
            id: &s,
            other: Some(&s),
        })
        .unwrap();
        assert_eq!(rmp_serde::from_slice::<T>(&text).unwrap(), t);
        let json = serde_json::to_string(&t).unwrap();
        assert!(json.contains(&s), "{json}");
        assert_eq!(serde_json::from_str::<T>(&json).unwrap(), t);
        let none: T = serde_json::from_str(&format!(r#"{{"id":"{s}"}}"#)).unwrap();
        assert_eq!(none.other, None);
        assert!(serde_json::from_str::<T>(r#"{"id":"not-a-uuid"}"#).is_err());
        let short = rmp_serde::to_vec_named(
            &serde_json::json!({"id": serde_bytes::Bytes::new(&[1, 2, 3])}),
        )
        .unwrap();
        assert!(rmp_serde::from_slice::<T>(&short).is_err());
    }
}
