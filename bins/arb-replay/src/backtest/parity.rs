//! Parity: the opportunities a backtest made from the recorded MD stream
//! against those the live detector published on the ARB stream over the same
//! range, field by field. The receive and publish stamps are left out: the
//! live detector takes them from its wall clock, a backtest from the
//! recording.

use std::collections::HashMap;

use anyhow::Context;
use arb_contract::subject::StreamKind;
use arb_contract::time::Timestamp;
use arb_contract::{Opportunity, OpportunityKind};
use arb_runtime::bus::Bus;
use arb_runtime::headers;
use async_nats::jetstream::consumer::{DeliverPolicy, pull::OrderedConfig};
use futures::StreamExt;

use super::source;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// One way the two sides differ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    pub id: Uuid,
    pub key: String,
    pub state: String,
    /// `missing` (live only), `extra` (backtest only), `order`, or the path
    /// of the field that differs (`net_edge_bps`, `legs[1].qty`).
    pub what: String,
    pub live: Value,
    pub backtest: Value,
}

/// What the live detector published for `kind` with book time in `range`:
/// the ARB stream of the bus's prefix, read from `since` (recording time;
/// the opportunities of a book are published after it is recorded) to its
/// last message when the read starts.
pub async fn live(
    bus: &Bus,
    kind: OpportunityKind,
    range: (Timestamp, Timestamp),
    since: Option<Timestamp>,
) -> anyhow::Result<Vec<Opportunity>> {
    let name = bus.subjects.stream_name(StreamKind::Arb);
    let mut stream = bus
        .js
        .get_stream(&name)
        .await
        .with_context(|| format!("no stream {name} to compare with"))?;
    let state = stream
        .info()
        .await
        .context("ARB stream info")?
        .state
        .clone();
    let mut out = Vec::new();
    if state.messages == 0 {
        return Ok(out);
    }
    let deliver = match since {
        Some(t) => source::from_time(t)?,
        None => DeliverPolicy::All,
    };
    if since.is_some_and(|t| t > source::from_offset(state.last_timestamp)) {
        return Ok(out);
    }
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: deliver,
            filter_subject: bus
                .subjects
                .with_prefix(&format!("arb.opp.{}.>", kind.as_str())),
            ..Default::default()
        })
        .await
        .with_context(|| format!("ordered consumer on {name}"))?;
    let mut msgs = consumer.messages().await.context("reading ARB")?;
    while let Some(m) = tokio::time::timeout(source::READ_STALL, msgs.next())
        .await
        .with_context(|| format!("{name}: nothing delivered for {:?}", source::READ_STALL))?
    {
        let m = m.context("reading ARB")?;
        let info = m
            .info()
            .map_err(|e| anyhow::anyhow!("{name}: message without stream info: {e}"))?;
        let (seq, pending) = (info.stream_sequence, info.pending);
        if let Ok(o) = headers::decode::<Opportunity>(m.headers.as_ref(), &m.payload)
            && o.book_ts >= range.0
            && o.book_ts <= range.1
        {
            out.push(o);
        }
        if seq >= state.last_sequence || pending == 0 {
            break;
        }
    }
    Ok(out)
}

fn comparable(o: &Opportunity) -> Value {
    let mut o = o.clone();
    o.received_ts = None;
    o.published_ts = None;
    serde_json::to_value(&o).unwrap_or(Value::Null)
}

/// Every difference between the two sequences: by id, then field by
/// field, then their order.
pub fn compare(live: &[Opportunity], backtest: &[Opportunity]) -> Vec<Difference> {
    let mut diffs = Vec::new();
    let diff = |o: &Opportunity, what: String, live: Value, backtest: Value| Difference {
        id: o.id,
        key: o.key.clone(),
        state: o.state.as_str().to_owned(),
        what,
        live,
        backtest,
    };
    let by_id: HashMap<Uuid, &Opportunity> = backtest.iter().map(|o| (o.id, o)).collect();
    let live_ids: HashMap<Uuid, &Opportunity> = live.iter().map(|o| (o.id, o)).collect();
    for l in live {
        match by_id.get(&l.id) {
            None => diffs.push(diff(l, "missing".into(), comparable(l), Value::Null)),
            Some(b) => {
                let mut fields = Vec::new();
                fields_apart("", &comparable(l), &comparable(b), &mut fields);
                for (path, lv, bv) in fields {
                    diffs.push(diff(l, path, lv, bv));
                }
            }
        }
    }
    for b in backtest {
        if !live_ids.contains_key(&b.id) {
            diffs.push(diff(b, "extra".into(), Value::Null, comparable(b)));
        }
    }
    if diffs.is_empty() {
        // The same messages: in the same order?
        if let Some((l, b)) = live.iter().zip(backtest).find(|(l, b)| l.id != b.id) {
            diffs.push(diff(
                l,
                "order".into(),
                Value::String(l.id.to_string()),
                Value::String(b.id.to_string()),
            ));
        }
    }
    diffs
}

/// The paths at which two JSON values differ.
fn fields_apart(path: &str, a: &Value, b: &Value, out: &mut Vec<(String, Value, Value)>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                let null = Value::Null;
                fields_apart(
                    &p,
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    out,
                );
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                fields_apart(&format!("{path}[{i}]"), u, v, out);
            }
        }
        _ if a != b => out.push((path.to_owned(), a.clone(), b.clone())),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arb_contract::sample;

    #[test]
    fn the_same_opportunities_have_no_difference_whatever_their_stamps() {
        let a = sample::opportunity(1, "2026-12-01T10:00:00Z".parse().unwrap());
        let mut b = a.clone();
        b.received_ts = None;
        b.published_ts = Some(a.book_ts);
        assert!(compare(std::slice::from_ref(&a), &[b]).is_empty());
    }

    #[test]
    fn every_difference_is_named() {
        let a = sample::opportunity(1, "2026-12-01T10:00:00Z".parse().unwrap());
        let mut b = a.clone();
        b.net_edge_bps += rust_decimal::Decimal::ONE;
        b.legs[1].qty += rust_decimal::Decimal::ONE;
        let d = compare(std::slice::from_ref(&a), &[b]);
        let what: Vec<&str> = d.iter().map(|d| d.what.as_str()).collect();
        assert_eq!(what, ["legs[1].qty", "net_edge_bps"]);

        let mut other = a.clone();
        other.id = Uuid::from_u128(7);
        let d = compare(std::slice::from_ref(&a), std::slice::from_ref(&other));
        let what: Vec<&str> = d.iter().map(|d| d.what.as_str()).collect();
        assert_eq!(what, ["missing", "extra"]);

        let d = compare(&[a.clone(), other.clone()], &[other, a]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].what, "order");
    }
}
