//! The NATS client's header map and the contract's plain headers: reading
//! the two a decoder needs, writing the ones every message carries, and the
//! decode helpers consumers call with a received message's headers.

use std::collections::BTreeMap;

use arb_contract::codec::{self, Headers, Message, WireHeaders};
use arb_contract::{CodecError, Decoded, Subjects};
use async_nats::HeaderMap;

/// The decoder's view of a received message's headers.
pub fn wire(headers: Option<&HeaderMap>) -> WireHeaders<'_> {
    match headers {
        Some(h) => WireHeaders::from_lookup(|k| h.get(k).map(|v| v.as_str())),
        None => WireHeaders::NONE,
    }
}

/// The contract's headers as the client's map.
pub fn to_map(headers: &Headers) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (k, v) in headers.iter() {
        m.insert(k, v);
    }
    m
}

/// Headers as plain strings, for dead letters and `arbctl tap`.
pub fn strings(headers: Option<&HeaderMap>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(h) = headers {
        for (k, vs) in h.iter() {
            let joined: Vec<&str> = vs.iter().map(|v| v.as_str()).collect();
            out.insert(k.to_string(), joined.join(", "));
        }
    }
    out
}

/// Decodes (and validates) a message of a known type.
pub fn decode<M: Message>(headers: Option<&HeaderMap>, payload: &[u8]) -> Result<M, CodecError> {
    codec::decode(wire(headers), payload)
}

/// Decodes (and validates) any message of the contract.
pub fn decode_any(
    subjects: &Subjects,
    subject: &str,
    headers: Option<&HeaderMap>,
    payload: &[u8],
) -> Result<Decoded, CodecError> {
    Decoded::decode(subjects, subject, wire(headers), payload)
}

/// A header map from `(name, value)` pairs (tests, `arbctl pub --raw`).
pub fn header_map<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> HeaderMap {
    to_map(&pairs.into_iter().collect())
}
