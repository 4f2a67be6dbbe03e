//! A [`Report`] for people (a few aligned sections) and for programs (one
//! JSON document; times RFC 3339, durations in seconds).

use std::io::{self, Write};
use std::time::Duration;

use serde_json::{Value, json};

use arb_contract::time::Timestamp;

use super::facts::*;
use super::report::*;
use crate::tap::rfc3339;

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn time_json(t: Option<&Timestamp>) -> Value {
    t.map_or(Value::Null, |t| json!(rfc3339(t)))
}

/// The whole report as one JSON document.
pub fn to_json(r: &Report) -> Value {
    let f = &r.facts;
    let now = f.taken;
    let services: Vec<Value> = r
        .services
        .iter()
        .map(|s| {
            let b = s.newest.as_ref();
            json!({
                "service": s.service,
                "state": s.health.as_str(),
                "healthy": s.health == ServiceHealth::Ok,
                "instance": b.map(|b| &b.state.instance),
                "version": b.map(|b| &b.state.version),
                "started_at": time_json(b.map(|b| &b.state.started_at)),
                "uptime_secs": b.map(|b| b.state.uptime_secs),
                "last_heartbeat": time_json(b.map(|b| &b.stored)),
                "age_secs": s.age.map(secs),
                "interval_secs": secs(s.interval),
                "interval_from": s.interval_from.as_str(),
                "silent_after_secs": secs(s.silent_after()),
                "counters": b.map(|b| json!(b.state.counters)),
                "lag": b.map(|b| json!(b.state.lag)),
                "error": match &s.health { ServiceHealth::Unreadable(e) => json!(e), _ => Value::Null },
            })
        })
        .collect();
    let (streams, dead_letters) = match &f.bus {
        Err(_) => (Value::Null, Value::Null),
        Ok(bus) => (
            bus.streams.iter().map(stream_json).collect(),
            dead_letters_json(f, &bus.dead_letters),
        ),
    };
    let database = match &f.database {
        None => Value::Null,
        Some(Err(e)) => json!({"reachable": false, "error": e}),
        Some(Ok(db)) => json!({
            "reachable": true,
            "size_bytes": db.size_bytes,
            "tables": db.tables.iter().map(|t| {
                let (state, newest, error) = match &t.newest {
                    Newest::At(ts) => ("ok", Some(ts), None),
                    Newest::Empty => ("empty", None, None),
                    Newest::Missing => ("missing", None, None),
                    Newest::Unknown => ("unknown", None, None),
                    Newest::Failed(e) => ("error", None, Some(e)),
                };
                json!({
                    "table": t.table,
                    "column": t.column,
                    "state": state,
                    "newest": time_json(newest),
                    "age_secs": newest.map(|ts| secs(age(now, *ts))),
                    "error": error,
                })
            }).collect::<Vec<_>>(),
        }),
    };
    json!({
        "healthy": r.healthy(),
        "at": rfc3339(&now),
        "prefix": f.prefix,
        "problems": r.problems,
        "nats": {
            "url": f.nats_url,
            "reachable": f.bus.is_ok(),
            "error": f.bus.as_ref().err(),
        },
        "services": services,
        "streams": streams,
        "dead_letters": dead_letters,
        "database": database,
    })
}

fn stream_json(s: &StreamFacts) -> Value {
    match &s.state {
        StreamState::Missing => json!({"stream": s.name, "exists": false}),
        StreamState::Failed(e) => json!({"stream": s.name, "exists": true, "error": e}),
        StreamState::Present(st) => json!({
            "stream": s.name,
            "exists": true,
            "messages": st.messages,
            "bytes": st.bytes,
            "first_ts": time_json(st.first.as_ref()),
            "last_ts": time_json(st.last.as_ref()),
            "consumers": st.consumers.iter().map(|c| json!({
                "name": c.name,
                "pending": c.pending,
                "ack_pending": c.ack_pending,
                "redelivered": c.redelivered,
                "lag": c.lag(),
            })).collect::<Vec<_>>(),
        }),
    }
}

fn dead_letters_json(f: &Facts, dl: &Result<Vec<DeadLetterFacts>, String>) -> Value {
    let since = rfc3339(&f.dead_letters_since);
    let window = secs(age(f.taken, f.dead_letters_since));
    match dl {
        Err(e) => json!({"since": since, "window_secs": window, "error": e}),
        Ok(list) => json!({
            "since": since,
            "window_secs": window,
            "total": list.iter().map(|d| d.count).sum::<u64>(),
            "subjects": list.iter().map(|d| json!({
                "subject": d.subject,
                "service": d.service,
                "count": d.count,
                "last_ts": rfc3339(&d.last),
                "last_reason": d.last_reason,
            })).collect::<Vec<_>>(),
        }),
    }
}

/// A time and how long ago it was: `2026-11-23 10:00:00Z (4.2s ago)`.
fn when(now: Timestamp, t: &Timestamp) -> String {
    format!(
        "{} ({} ago)",
        t.format("%Y-%m-%d %H:%M:%SZ"),
        human(age(now, *t))
    )
}

fn strip<'a>(prefix: Option<&str>, subject: &'a str) -> &'a str {
    prefix
        .and_then(|p| subject.strip_prefix(p))
        .and_then(|s| s.strip_prefix('.'))
        .unwrap_or(subject)
}

/// The report as a few aligned sections, problems first.
pub fn write_text(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let f = &r.facts;
    let now = f.taken;
    writeln!(
        out,
        "arbitrade status at {}{}: {}",
        now.format("%Y-%m-%d %H:%M:%SZ"),
        f.prefix
            .as_ref()
            .map(|p| format!(" (prefix {p})"))
            .unwrap_or_default(),
        if r.healthy() { "HEALTHY" } else { "UNHEALTHY" }
    )?;
    for p in &r.problems {
        writeln!(out, "  ! {p}")?;
    }
    let bus = match &f.bus {
        Ok(bus) => bus,
        Err(_) => {
            writeln!(out, "\nNATS at {}: unreachable", f.nats_url)?;
            return write_database(r, out);
        }
    };

    writeln!(out, "\nservices")?;
    if r.services.is_empty() {
        writeln!(out, "  (no heartbeats)")?;
    } else {
        writeln!(
            out,
            "  {:<20} {:<10} {:<10} {:>9} {:>12} {:>9}",
            "SERVICE", "STATE", "VERSION", "UPTIME", "LAST BEAT", "INTERVAL"
        )?;
    }
    for s in &r.services {
        let b = s.newest.as_ref();
        writeln!(
            out,
            "  {:<20} {:<10} {:<10} {:>9} {:>12} {:>9}",
            s.service,
            s.health.as_str().to_uppercase(),
            b.map_or("-", |b| b.state.version.as_str()),
            b.map_or("-".into(), |b| human(Duration::from_secs(
                b.state.uptime_secs
            ))),
            s.age
                .map_or("never".into(), |a| format!("{} ago", human(a))),
            match (b, s.interval_from) {
                (None, _) => "-".into(),
                (Some(_), IntervalFrom::Heartbeats) => human(s.interval),
                (Some(_), IntervalFrom::Default) => format!("{}*", human(s.interval)),
            },
        )?;
        if let ServiceHealth::Unreadable(e) = &s.health {
            writeln!(out, "      {e}")?;
        }
        if let Some(b) = b {
            let nonzero: Vec<String> = b
                .state
                .counters
                .iter()
                .filter(|(_, v)| **v > 0)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            writeln!(
                out,
                "      instance {}; counters: {}",
                b.state.instance,
                if nonzero.is_empty() {
                    "all zero".into()
                } else {
                    nonzero.join(" ")
                }
            )?;
            if !b.state.lag.is_empty() {
                let lag: Vec<String> = b
                    .state
                    .lag
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                writeln!(out, "      lag: {}", lag.join(" "))?;
            }
        }
    }
    if r.services
        .iter()
        .any(|s| s.newest.is_some() && s.interval_from == IntervalFrom::Default)
    {
        writeln!(out, "  * one heartbeat only: --interval assumed")?;
    }

    writeln!(out, "\nstreams")?;
    for s in &bus.streams {
        match &s.state {
            StreamState::Missing => writeln!(out, "  {:<24} does not exist", s.name)?,
            StreamState::Failed(e) => writeln!(out, "  {:<24} cannot be read: {e}", s.name)?,
            StreamState::Present(st) => {
                writeln!(
                    out,
                    "  {:<24} {:>10} msgs {:>11}  last {}",
                    s.name,
                    st.messages,
                    human_bytes(st.bytes),
                    st.last.map_or("-".into(), |t| when(now, &t)),
                )?;
                for c in &st.consumers {
                    writeln!(
                        out,
                        "    consumer {:<20} pending {:>8}  ack pending {:>6}  redelivered {:>6}",
                        c.name, c.pending, c.ack_pending, c.redelivered
                    )?;
                }
            }
        }
    }

    writeln!(
        out,
        "\ndead letters since {} ago",
        human(age(now, f.dead_letters_since))
    )?;
    match &bus.dead_letters {
        Err(e) => writeln!(out, "  cannot be counted: {e}")?,
        Ok(list) if list.is_empty() => writeln!(out, "  none")?,
        Ok(list) => {
            for d in list {
                writeln!(
                    out,
                    "  {:<24} {:>6}  last {} ago: {}",
                    strip(f.prefix.as_deref(), &d.subject),
                    d.count,
                    human(age(now, d.last)),
                    d.last_reason.as_deref().unwrap_or("(unreadable)")
                )?;
            }
        }
    }
    write_database(r, out)
}

fn write_database(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let now = r.facts.taken;
    match &r.facts.database {
        None => Ok(()),
        Some(Err(_)) => writeln!(out, "\ndatabase: unreachable"),
        Some(Ok(db)) => {
            writeln!(
                out,
                "\ndatabase: {}",
                human_bytes(db.size_bytes.max(0) as u64)
            )?;
            for t in &db.tables {
                let newest = match &t.newest {
                    Newest::At(ts) => format!("newest {}", when(now, ts)),
                    Newest::Empty => "empty".into(),
                    Newest::Missing => "does not exist".into(),
                    Newest::Unknown => "-".into(),
                    Newest::Failed(e) => format!("cannot be read: {e}"),
                };
                writeln!(out, "  {:<30} {newest}", t.table)?;
            }
            Ok(())
        }
    }
}

/// A duration for people: `850ms`, `4.2s`, `3m07s`, `2h05m`, `3d04h`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        1..60 => format!("{:.1}s", d.as_secs_f64()),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// A size for people: `512 B`, `34.5 KiB`, `12.0 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::super::report::tests::{beat, t};
    use super::*;

    fn report() -> Report {
        let mut feed = beat("feed-sim", "host-1", 9.0);
        feed.state.counters = [
            ("books_published".to_owned(), 120),
            ("resyncs".to_owned(), 0),
        ]
        .into();
        let facts = Facts {
            taken: t(10.0),
            prefix: Some("t.x".into()),
            nats_url: "nats://127.0.0.1:4222".into(),
            bus: Ok(BusFacts {
                heartbeats: Ok(vec![ServiceBeats {
                    service: "feed-sim".into(),
                    beats: Ok(vec![feed, beat("feed-sim", "host-1", 8.0)]),
                }]),
                streams: vec![
                    StreamFacts {
                        name: "T_X_MD".into(),
                        state: StreamState::Present(StreamFigures {
                            messages: 120,
                            bytes: 35_328,
                            first: Some(t(0.0)),
                            last: Some(t(9.5)),
                            consumers: vec![ConsumerFacts {
                                name: "sink".into(),
                                pending: 3,
                                ack_pending: 2,
                                redelivered: 0,
                            }],
                        }),
                    },
                    StreamFacts {
                        name: "T_X_ARB".into(),
                        state: StreamState::Missing,
                    },
                ],
                dead_letters: Ok(vec![DeadLetterFacts {
                    subject: "t.x.sys.dlq.sink".into(),
                    service: "sink".into(),
                    count: 1,
                    last: t(7.0),
                    last_reason: Some("cannot decode".into()),
                }]),
            }),
            database: Some(Ok(DbFacts {
                size_bytes: 12 << 20,
                tables: vec![
                    TableFacts {
                        table: "market_snapshots",
                        column: Some("ts"),
                        newest: Newest::At(t(9.0)),
                    },
                    TableFacts {
                        table: "trades",
                        column: Some("ts"),
                        newest: Newest::Empty,
                    },
                ],
            })),
            dead_letters_since: t(10.0 - 3600.0),
        };
        Report::assess(facts, &["sink".to_owned()], Duration::from_secs(5))
    }

    #[test]
    fn text_has_every_section() {
        let mut out = Vec::new();
        write_text(&report(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for want in [
            "(prefix t.x): UNHEALTHY",
            "! stream T_X_ARB does not exist",
            "! sink is expected but has never sent a heartbeat",
            "feed-sim             OK",
            "books_published=120",
            "sink                 MISSING",
            "T_X_MD                          120 msgs    34.5 KiB  last 2025-11-23 12:13:29Z (500ms ago)",
            "consumer sink                 pending        3  ack pending      2",
            "dead letters since 1h00m ago",
            "sys.dlq.sink                  1  last 3.0s ago: cannot decode",
            "database: 12.0 MiB",
            "market_snapshots               newest 2025-11-23 12:13:29Z (1.0s ago)",
            "trades                         empty",
        ] {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
        assert!(
            !text.contains("resyncs"),
            "zero counters are left out:\n{text}"
        );
    }

    #[test]
    fn json_has_every_field() {
        let v = to_json(&report());
        assert_eq!(v["healthy"], false);
        assert_eq!(v["problems"].as_array().unwrap().len(), 2);
        assert_eq!(v["nats"]["reachable"], true);
        let feed = &v["services"][0];
        assert_eq!(feed["service"], "feed-sim");
        assert_eq!(feed["state"], "ok");
        assert_eq!(feed["interval_secs"], 1.0);
        assert_eq!(feed["interval_from"], "heartbeats");
        assert_eq!(feed["silent_after_secs"], 3.0);
        assert_eq!(feed["age_secs"], 1.0);
        assert_eq!(feed["last_heartbeat"], "2025-11-23T12:13:29.000000000Z");
        assert_eq!(feed["counters"]["books_published"], 120);
        assert_eq!(v["services"][1]["state"], "missing");
        assert_eq!(v["services"][1]["version"], Value::Null);
        assert_eq!(v["streams"][0]["consumers"][0]["lag"], 5);
        assert_eq!(v["streams"][1]["exists"], false);
        assert_eq!(v["dead_letters"]["total"], 1);
        assert_eq!(v["dead_letters"]["window_secs"], 3600.0);
        assert_eq!(v["database"]["size_bytes"], 12 << 20);
        assert_eq!(v["database"]["tables"][0]["state"], "ok");
        assert_eq!(v["database"]["tables"][1]["state"], "empty");
    }

    #[test]
    fn durations_and_sizes_for_people() {
        let cases = [
            (0.85, "850ms"),
            (4.24, "4.2s"),
            (187.0, "3m07s"),
            (7500.0, "2h05m"),
            (273600.0, "3d04h"),
        ];
        for (secs, want) in cases {
            assert_eq!(human(Duration::from_secs_f64(secs)), want);
        }
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(35_328), "34.5 KiB");
        assert_eq!(human_bytes(12 << 20), "12.0 MiB");
    }
}
