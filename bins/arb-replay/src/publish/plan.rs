//! The pure part of `arb-replay publish`: what the flags mean (a bound that
//! is a sequence or a time, a speed, a run id), which sequences a replay
//! covers once the bounds, the stream's end and an earlier run's progress
//! are known, and when a message is due at a given speed.

use std::str::FromStr;
use std::time::Duration;

use arb_contract::subject::check_token;
use arb_runtime::ConfigError;
use arb_runtime::config::bad_value;
use chrono::{DateTime, Utc};

/// One end of the range: a stream sequence or a stored time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    Seq(u64),
    Time(DateTime<Utc>),
}

impl std::fmt::Display for Bound {
    /// As it is given: the sequence, or the time in RFC 3339 (UTC, ns).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::Time(t) => f.write_str(&arb_contract::time::rfc3339(t)),
            Bound::Seq(s) => write!(f, "{s}"),
        }
    }
}

impl FromStr for Bound {
    type Err = ConfigError;

    /// `1200` (a stream sequence) or `2025-11-23T10:00:00Z` (RFC 3339).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            return match t.parse::<u64>() {
                Ok(0) => Err(bad_value("bound", s, "stream sequences start at 1")),
                Ok(n) => Ok(Bound::Seq(n)),
                Err(_) => Err(bad_value("bound", s, "sequence too large")),
            };
        }
        DateTime::parse_from_rfc3339(t)
            .map(|d| Bound::Time(d.with_timezone(&Utc)))
            .map_err(|e| {
                bad_value(
                    "bound",
                    s,
                    format!(
                        "neither a stream sequence nor an RFC 3339 time \
                         (e.g. 2025-11-23T10:00:00Z): {e}"
                    ),
                )
            })
    }
}

/// Both bounds given as the same kind, the first after the second: a
/// mistake to report rather than an empty replay.
pub(crate) fn check_order(from: Option<Bound>, to: Option<Bound>) -> Result<(), ConfigError> {
    let backwards = match (from, to) {
        (Some(Bound::Seq(a)), Some(Bound::Seq(b))) => a > b,
        (Some(Bound::Time(a)), Some(Bound::Time(b))) => a >= b,
        _ => false,
    };
    if backwards {
        let show = |b: Option<Bound>| b.map(|b| b.to_string()).unwrap_or_default();
        return Err(bad_value(
            "--from/--to",
            &format!("{}..{}", show(from), show(to)),
            "--from must come before --to",
        ));
    }
    Ok(())
}

/// How fast the recorded history is played.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// `1` keeps the recorded gaps between messages, `10` makes them ten
    /// times shorter, `0.5` twice as long.
    Times(f64),
    /// As fast as the server takes the messages.
    Max,
}

impl FromStr for Speed {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match t.trim_end_matches(['x', 'X']).parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => Ok(Speed::Times(v)),
            _ => Err(bad_value(
                "--speed",
                s,
                "must be a factor above 0 (1 = the recorded pacing, 10, 0.5) or `max`",
            )),
        }
    }
}

impl std::fmt::Display for Speed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Speed::Times(v) => write!(f, "{v}x"),
            Speed::Max => f.write_str("max"),
        }
    }
}

/// A run id: one subject token of letters, digits, `-` and `_`, so that
/// `replay.<run>` is a valid prefix and `REPLAY_<RUN>_MD` a valid stream name.
pub(crate) fn parse_run(s: &str) -> Result<String, ConfigError> {
    check_token("run", s).map_err(|e| bad_value("--run", s, e.to_string()))?;
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(bad_value(
            "--run",
            s,
            "only letters, digits, `-` and `_` (it names subjects and streams)",
        ));
    }
    Ok(s.to_owned())
}

pub(crate) use arb_runtime::config::parse_stream;

/// The sequences a replay reads, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub first: u64,
    pub last: u64,
}

impl Span {
    /// How many sequences it holds.
    pub fn count(&self) -> u64 {
        self.last - self.first + 1
    }
}

/// What a replay covers: from `start` (the resolved `--from`) to `end` (the
/// resolved `--to`, already capped at the stream's last sequence when the
/// replay began), less what an earlier replay of the same run already
/// published (up to `resume_after`). `None`: nothing (left) to do.
pub(crate) fn plan(start: u64, end: u64, resume_after: Option<u64>) -> Option<Span> {
    let first = match resume_after {
        Some(done) => start.max(done.saturating_add(1)),
        None => start,
    }
    .max(1);
    (first <= end).then_some(Span { first, last: end })
}

/// How long after the first replayed message one stored `since_first`
/// after it is due, at `speed`; `None` at `max` (at once).
pub(crate) fn due_after(since_first_nanos: i128, speed: Speed) -> Option<Duration> {
    match speed {
        Speed::Max => None,
        Speed::Times(v) => {
            // A clock that stepped back between two stores: no wait, not a panic.
            let nanos = since_first_nanos.max(0) as f64 / v;
            Some(Duration::from_nanos(nanos.min(u64::MAX as f64) as u64))
        }
    }
}

/// Whether a NATS subject matches a pattern with `*` and `>` wildcards.
pub fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arb_contract::subject::StreamKind;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn bounds_parse_as_sequences_or_times() {
        let ok = [
            ("1", Bound::Seq(1)),
            (" 1200 ", Bound::Seq(1200)),
            (
                "2025-11-23T10:00:00Z",
                Bound::Time(t("2025-11-23T10:00:00Z")),
            ),
            (
                "2025-11-23T11:00:00.5+01:00",
                Bound::Time(t("2025-11-23T10:00:00.5Z")),
            ),
        ];
        for (s, want) in ok {
            assert_eq!(s.parse::<Bound>(), Ok(want), "{s:?}");
        }
        for bad in [
            "0",
            "",
            "-3",
            "12a",
            "yesterday",
            "2025-11-23",
            "99999999999999999999999",
        ] {
            let e = bad.parse::<Bound>().unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{bad:?}: {e}");
        }
    }

    #[test]
    fn bounds_of_one_kind_must_be_in_order() {
        let s = |n| Some(Bound::Seq(n));
        let tm = |x: &str| Some(Bound::Time(t(x)));
        assert!(check_order(s(5), s(5)).is_ok(), "one message");
        assert!(check_order(s(6), s(5)).is_err());
        assert!(check_order(tm("2025-01-01T00:00:00Z"), tm("2025-01-01T00:00:01Z")).is_ok());
        assert!(check_order(tm("2025-01-01T00:00:00Z"), tm("2025-01-01T00:00:00Z")).is_err());
        assert!(
            check_order(s(10), tm("2020-01-01T00:00:00Z")).is_ok(),
            "kinds differ: resolved later"
        );
        assert!(check_order(None, s(1)).is_ok());
    }

    #[test]
    fn speeds_parse() {
        for (s, want) in [
            ("1", Speed::Times(1.0)),
            ("10", Speed::Times(10.0)),
            ("10x", Speed::Times(10.0)),
            ("0.5", Speed::Times(0.5)),
            ("max", Speed::Max),
            ("MAX", Speed::Max),
        ] {
            assert_eq!(s.parse::<Speed>(), Ok(want), "{s:?}");
        }
        for bad in ["0", "-1", "fast", "inf", "NaN", ""] {
            assert!(bad.parse::<Speed>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn run_ids_are_one_plain_token() {
        for ok in ["r1", "0198c3a2b4c47a1b9d2e3f4a5b6c7d8e", "nightly-2025_11"] {
            assert_eq!(parse_run(ok).as_deref(), Ok(ok));
        }
        for bad in ["", "a.b", "a*", ">", "a b", "ü", "a/b"] {
            assert!(parse_run(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_stream("MD"), Ok(StreamKind::Md));
        assert_eq!(parse_stream("exec"), Ok(StreamKind::Exec));
        assert!(parse_stream("books").is_err());
    }

    #[test]
    fn plan_table() {
        let span = |first, last| Some(Span { first, last });
        let cases = [
            // (start, end, resume_after) → span
            ((1, 100, None), span(1, 100)),
            ((40, 60, None), span(40, 60)),
            ((40, 40, None), span(40, 40)),
            ((41, 40, None), None),
            // A restart resumes after what the run already holds ...
            ((40, 60, Some(49)), span(50, 60)),
            // ... which may be all of it,
            ((40, 60, Some(60)), None),
            ((40, 60, Some(75)), None),
            // ... or an earlier range of the same run, which changes nothing.
            ((40, 60, Some(10)), span(40, 60)),
            // An empty stream (last sequence 0).
            ((1, 0, None), None),
            ((0, 5, None), span(1, 5)),
        ];
        for ((start, end, resume), want) in cases {
            assert_eq!(
                plan(start, end, resume),
                want,
                "{start}..{end} after {resume:?}"
            );
        }
        assert_eq!(
            Span {
                first: 40,
                last: 60
            }
            .count(),
            21
        );
    }

    #[test]
    fn pacing_follows_the_recorded_gaps_divided_by_the_speed() {
        let ms = |n: u64| Duration::from_millis(n);
        let s = 1_000_000_000i128;
        assert_eq!(due_after(0, Speed::Times(1.0)), Some(ms(0)));
        assert_eq!(due_after(s, Speed::Times(1.0)), Some(ms(1000)));
        assert_eq!(due_after(s, Speed::Times(10.0)), Some(ms(100)));
        assert_eq!(due_after(s, Speed::Times(0.5)), Some(ms(2000)));
        assert_eq!(
            due_after(-s, Speed::Times(1.0)),
            Some(ms(0)),
            "clock stepped back"
        );
        assert_eq!(due_after(s, Speed::Max), None);
    }

    #[test]
    fn subject_patterns() {
        for (p, s, want) in [
            ("replay.r.md.>", "replay.r.md.book.kraken.BTC-USD", true),
            ("replay.r.md.>", "replay.r.md", false),
            (
                "replay.r.md.book.*.BTC-USD",
                "replay.r.md.book.kraken.BTC-USD",
                true,
            ),
            (
                "replay.r.md.book.*",
                "replay.r.md.book.kraken.BTC-USD",
                false,
            ),
            (
                "replay.r.md.status.kraken",
                "replay.r.md.status.kraken",
                true,
            ),
            (
                "replay.r.md.status.kraken",
                "replay.r.md.status.krakenx",
                false,
            ),
            ("replay.r.sys.>", "replay.q.sys.state.x", false),
        ] {
            assert_eq!(subject_matches(p, s), want, "{p} ~ {s}");
        }
    }
}
