//! `arbctl tap`: every message on the subjects matching a pattern, decoded
//! from MessagePack (or JSON) to one JSON line each, on standard output and
//! nowhere else.
//!
//! Times are RFC 3339 text (UTC, nanosecond precision) by default, read off
//! the decoded message's own time fields, so only what the contract declares
//! a time is rewritten; `--raw` keeps the wire's nanosecond integers.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;

use futures::StreamExt;
use serde_json::{Value, json};

use arb_contract::codec::Decoded;
use arb_contract::time::Timestamp;
use arb_runtime::bus::Bus;
use arb_runtime::config::NatsArgs;
use arb_runtime::headers;

/// How times appear in a tapped message's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    /// RFC 3339 text, e.g. `2026-11-23T10:00:00.000000042Z`.
    Rfc3339,
    /// Nanoseconds since the epoch, as on the wire.
    Raw,
}

/// A time as `tap` prints it: UTC, nine fractional digits, `Z`.
pub use arb_contract::time::rfc3339;

/// The time fields of each message type, by their wire names. Nested types
/// (legs, levels, balances) carry no times.
pub fn time_fields(msg: &Decoded) -> Vec<(&'static str, Option<Timestamp>)> {
    match msg {
        Decoded::Book(m) => vec![
            ("exchange_ts", m.exchange_ts),
            ("received_ts", Some(m.received_ts)),
        ],
        Decoded::Status(m) => vec![("ts", Some(m.ts))],
        Decoded::Opportunity(m) => vec![
            ("book_ts", Some(m.book_ts)),
            ("received_ts", m.received_ts),
            ("published_ts", m.published_ts),
            ("opened_ts", m.opened_ts),
        ],
        Decoded::Order(m) => vec![("ts", Some(m.ts))],
        Decoded::Trade(m) => vec![("ts", Some(m.ts))],
        Decoded::Pnl(m) => vec![("ts", Some(m.ts))],
        Decoded::Portfolio(m) => vec![("ts", Some(m.ts))],
        Decoded::Transfer(m) => vec![
            ("ts", Some(m.ts)),
            ("sent_ts", Some(m.sent_ts)),
            ("arrives_ts", Some(m.arrives_ts)),
        ],
        Decoded::Audit(m) => vec![("ts", Some(m.ts))],
        Decoded::State(m) => vec![("ts", Some(m.ts)), ("started_at", Some(m.started_at))],
        Decoded::DeadLetter(m) => vec![("ts", Some(m.ts))],
    }
}

/// A decoded message as JSON, its times as `times` asks.
pub fn body(msg: &Decoded, times: Times) -> Value {
    let mut v = serde_json::to_value(msg).unwrap_or_else(|e| json!({ "error": e.to_string() }));
    if times == Times::Rfc3339
        && let Some(obj) = v.as_object_mut()
    {
        for (name, t) in time_fields(msg) {
            if let (Some(t), Some(slot)) = (t, obj.get_mut(name)) {
                *slot = Value::String(rfc3339(&t));
            }
        }
    }
    v
}

/// One tapped message as a JSON line: subject, headers, and the decoded
/// body, or the error and the payload as text when it does not decode.
pub fn tap_line(
    subjects: &arb_contract::Subjects,
    msg: &async_nats::Message,
    times: Times,
) -> Value {
    let hs = headers::strings(msg.headers.as_ref());
    match headers::decode_any(subjects, &msg.subject, msg.headers.as_ref(), &msg.payload) {
        Ok(m) => json!({"subject": msg.subject.as_str(), "headers": hs, "body": body(&m, times)}),
        Err(e) => json!({
            "subject": msg.subject.as_str(),
            "headers": hs,
            "error": e.to_string(),
            "raw": String::from_utf8_lossy(&msg.payload),
        }),
    }
}

/// Prints what arrives until `count` messages, `timeout`, or SIGINT/SIGTERM.
pub async fn run(
    nats: &NatsArgs,
    pattern: &str,
    count: Option<u64>,
    timeout: Option<Duration>,
    times: Times,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<i32> {
    let bus = Bus::connect_once(nats, "arbctl-tap").await?;
    let subject = bus.subjects.with_prefix(pattern);
    let mut sub = bus
        .client
        .subscribe(subject.clone())
        .await
        .context("subscribe failed")?;
    bus.client.flush().await?;
    tracing::info!(%subject, "tapping");
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let mut seen = 0u64;
    while count.is_none_or(|c| seen < c) {
        let next = match deadline {
            Some(d) => match tokio::time::timeout_at(d, sub.next()).await {
                Ok(n) => n,
                Err(_) => break,
            },
            None => tokio::select! {
                n = sub.next() => n,
                _ = arb_runtime::shutdown::signal() => break,
            },
        };
        let Some(msg) = next else { break };
        writeln!(out, "{}", tap_line(&bus.subjects, &msg, times))?;
        out.flush()?;
        seen += 1;
    }
    bus.drain().await;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arb_contract::sample;
    use arb_contract::time::{SANE_FROM, SANE_UNTIL, from_nanos, to_nanos};

    fn every_type() -> Vec<Decoded> {
        let t = from_nanos(1_763_900_000_123_456_789);
        (0..13).map(|n| sample::mixed(n, t)).collect()
    }

    /// Integers in the range a time in nanoseconds takes, by JSON pointer.
    fn nanos_like(v: &Value, at: &str, found: &mut Vec<String>) {
        match v {
            Value::Number(n)
                if n.as_i64()
                    .is_some_and(|n| (SANE_FROM..SANE_UNTIL).contains(&n)) =>
            {
                found.push(at.to_owned())
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| nanos_like(x, &format!("{at}/{i}"), found)),
            Value::Object(o) => o
                .iter()
                .for_each(|(k, x)| nanos_like(x, &format!("{at}/{k}"), found)),
            _ => {}
        }
    }

    #[test]
    fn every_time_field_of_every_type_is_rfc3339() {
        for msg in every_type() {
            let raw = body(&msg, Times::Raw);
            let mut on_wire = Vec::new();
            nanos_like(&raw, "", &mut on_wire);
            assert!(!on_wire.is_empty(), "{}: no time found", msg.schema());
            let text = body(&msg, Times::Rfc3339);
            let mut left = Vec::new();
            nanos_like(&text, "", &mut left);
            assert!(
                left.is_empty(),
                "{}: {left:?} still nanoseconds; add them to time_fields",
                msg.schema()
            );
            for at in &on_wire {
                let n = raw.pointer(at).and_then(Value::as_i64).unwrap();
                assert_eq!(
                    text.pointer(at),
                    Some(&json!(rfc3339(&from_nanos(n)))),
                    "{at}"
                );
            }
            // Nothing else changes, and the contract reads the text back as the same message.
            let mut back = text.clone();
            for at in &on_wire {
                *back.pointer_mut(at).unwrap() = raw.pointer(at).unwrap().clone();
            }
            assert_eq!(back, raw, "{}", msg.schema());
            let reread = Decoded::decode_schema(
                arb_contract::ContentType::Json,
                msg.schema(),
                1,
                &serde_json::to_vec(&text).unwrap(),
            )
            .unwrap();
            assert_eq!(reread, msg);
        }
    }

    #[test]
    fn rfc3339_keeps_nanoseconds_in_utc() {
        let cases = [
            (1_763_900_000_123_456_789, "2025-11-23T12:13:20.123456789Z"),
            (1_763_900_000_000_000_000, "2025-11-23T12:13:20.000000000Z"),
            (42, "1970-01-01T00:00:00.000000042Z"),
        ];
        for (n, want) in cases {
            assert_eq!(rfc3339(&from_nanos(n)), want);
            assert_eq!(
                to_nanos(&chrono::DateTime::parse_from_rfc3339(want).unwrap().to_utc()),
                n
            );
        }
    }

    #[test]
    fn absent_optional_times_stay_null() {
        let mut b = sample::book(
            1,
            "kraken",
            "BTC/USD",
            1,
            from_nanos(1_763_900_000_000_000_000),
        );
        b.exchange_ts = None;
        b.received_ts = from_nanos(1_763_900_000_000_350_000);
        let v = body(&Decoded::Book(b), Times::Rfc3339);
        assert_eq!(v["exchange_ts"], Value::Null);
        assert_eq!(v["received_ts"], "2025-11-23T12:13:20.000350000Z");
    }
}
