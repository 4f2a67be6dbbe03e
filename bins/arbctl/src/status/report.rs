//! What `arbctl status` makes of the [`Facts`]: the heartbeat-interval
//! rule, which services are silent, and the problems that make the exit
//! code 1. Pure: the time of the look is a value, so every rule is tested
//! without a clock.

use std::time::Duration;

use arb_contract::time::Timestamp;

use super::facts::*;
use super::render::human;

/// A service is silent when its newest heartbeat is older than this many intervals.
pub const SILENT_AFTER: u32 = 3;

/// Where a service's interval comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalFrom {
    /// The spacing of its own heartbeats.
    Heartbeats,
    /// `--interval`: it has a single heartbeat of its running instance.
    Default,
}

impl IntervalFrom {
    pub fn as_str(self) -> &'static str {
        match self {
            IntervalFrom::Heartbeats => "heartbeats",
            IntervalFrom::Default => "default",
        }
    }
}

/// A service's heartbeat interval, read off its newest heartbeats (newest
/// first): the upper median of the spacings between those of the newest
/// one's instance (a restart is not a spacing). With four heartbeats that is
/// the median of three spacings, so one early beat (at a reconnect or at
/// shutdown) or one late one does not move it; with three, the longer
/// spacing; with two, their spacing. With one, `fallback`.
pub fn interval(beats: &[Beat], fallback: Duration) -> (Duration, IntervalFrom) {
    let Some(newest) = beats.first() else {
        return (fallback, IntervalFrom::Default);
    };
    let same: Vec<&Beat> = beats
        .iter()
        .filter(|b| b.state.instance == newest.state.instance)
        .collect();
    let mut spacings: Vec<Duration> = same
        .windows(2)
        .filter_map(|w| (w[0].stored - w[1].stored).to_std().ok())
        .filter(|d| !d.is_zero())
        .collect();
    if spacings.is_empty() {
        return (fallback, IntervalFrom::Default);
    }
    spacings.sort();
    (spacings[spacings.len() / 2], IntervalFrom::Heartbeats)
}

/// `later - earlier`, or zero when a clock makes it negative.
pub fn age(now: Timestamp, then: Timestamp) -> Duration {
    (now - then).to_std().unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq)]
pub enum ServiceHealth {
    Ok,
    /// No heartbeat for more than [`SILENT_AFTER`] intervals.
    Silent,
    /// Named by `--expect` and never heard from.
    NeverSeen,
    Unreadable(String),
}

impl ServiceHealth {
    pub fn as_str(&self) -> &'static str {
        match self {
            ServiceHealth::Ok => "ok",
            ServiceHealth::Silent => "silent",
            ServiceHealth::NeverSeen => "missing",
            ServiceHealth::Unreadable(_) => "unreadable",
        }
    }
}

/// One service, assessed.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceStatus {
    pub service: String,
    pub health: ServiceHealth,
    pub newest: Option<Beat>,
    pub age: Option<Duration>,
    pub interval: Duration,
    pub interval_from: IntervalFrom,
}

impl ServiceStatus {
    /// Silent past this age.
    pub fn silent_after(&self) -> Duration {
        self.interval * SILENT_AFTER
    }

    fn assess(
        service: &str,
        beats: &Result<Vec<Beat>, String>,
        now: Timestamp,
        fallback: Duration,
    ) -> Self {
        let beats = match beats {
            Ok(b) => b.as_slice(),
            Err(e) => {
                return ServiceStatus {
                    service: service.to_owned(),
                    health: ServiceHealth::Unreadable(e.clone()),
                    newest: None,
                    age: None,
                    interval: fallback,
                    interval_from: IntervalFrom::Default,
                };
            }
        };
        let (interval, interval_from) = interval(beats, fallback);
        let newest = beats.first().cloned();
        let age = newest.as_ref().map(|b| age(now, b.stored));
        let health = match age {
            None => ServiceHealth::NeverSeen,
            Some(a) if a > interval * SILENT_AFTER => ServiceHealth::Silent,
            Some(_) => ServiceHealth::Ok,
        };
        ServiceStatus {
            service: service.to_owned(),
            health,
            newest,
            age,
            interval,
            interval_from,
        }
    }
}

/// The facts, assessed.
#[derive(Debug, Clone)]
pub struct Report {
    pub facts: Facts,
    /// Every service with a heartbeat, then the expected ones without, by name.
    pub services: Vec<ServiceStatus>,
    /// What makes the stack unhealthy, one line each; none when healthy.
    pub problems: Vec<String>,
}

impl Report {
    /// `expect`: services that must have a heartbeat; `fallback`: the
    /// interval of a service with a single heartbeat.
    pub fn assess(facts: Facts, expect: &[String], fallback: Duration) -> Report {
        let now = facts.taken;
        let mut problems = Vec::new();
        let mut services = Vec::new();
        match &facts.bus {
            // The error names the URL.
            Err(e) => problems.push(format!("NATS unreachable: {e}")),
            Ok(bus) => {
                for s in &bus.streams {
                    match &s.state {
                        StreamState::Present(_) => {}
                        StreamState::Missing => problems.push(format!(
                            "stream {} does not exist (`arbctl streams --ensure` creates it)",
                            s.name
                        )),
                        StreamState::Failed(e) => {
                            problems.push(format!("stream {} cannot be read: {e}", s.name))
                        }
                    }
                }
                match &bus.heartbeats {
                    Err(e) => problems.push(format!("heartbeats cannot be read: {e}")),
                    Ok(hb) => {
                        services.extend(
                            hb.iter().map(|s| {
                                ServiceStatus::assess(&s.service, &s.beats, now, fallback)
                            }),
                        );
                    }
                }
                if let Err(e) = &bus.dead_letters {
                    problems.push(format!("dead letters cannot be counted: {e}"));
                }
            }
        }
        // An expected service is missing only when the heartbeats could be
        // read; with NATS down that is said once, above.
        if matches!(&facts.bus, Ok(b) if b.heartbeats.is_ok()) {
            for name in expect {
                if !services.iter().any(|s| &s.service == name) {
                    services.push(ServiceStatus::assess(name, &Ok(Vec::new()), now, fallback));
                }
            }
        }
        services.sort_by(|a, b| a.service.cmp(&b.service));
        for s in &services {
            match &s.health {
                ServiceHealth::Ok => {}
                ServiceHealth::Silent => problems.push(format!(
                    "{} is silent: its last heartbeat is {} old, more than {SILENT_AFTER} × {} ({})",
                    s.service,
                    human(s.age.unwrap_or_default()),
                    human(s.interval),
                    match s.interval_from {
                        IntervalFrom::Heartbeats => "its heartbeats' spacing",
                        IntervalFrom::Default => "--interval",
                    }
                )),
                ServiceHealth::NeverSeen => {
                    problems.push(format!("{} is expected but has never sent a heartbeat", s.service))
                }
                ServiceHealth::Unreadable(e) => {
                    problems.push(format!("{}'s heartbeat cannot be read: {e}", s.service))
                }
            }
        }
        match &facts.database {
            None => {}
            Some(Err(e)) => problems.push(format!("database unreachable: {e}")),
            Some(Ok(db)) => {
                for t in &db.tables {
                    match &t.newest {
                        Newest::Missing => problems.push(format!(
                            "table {} does not exist (`arbctl db migrate` creates it)",
                            t.table
                        )),
                        Newest::Failed(e) => {
                            problems.push(format!("table {} cannot be read: {e}", t.table))
                        }
                        Newest::At(_) | Newest::Empty | Newest::Unknown => {}
                    }
                }
            }
        }
        Report {
            facts,
            services,
            problems,
        }
    }

    pub fn healthy(&self) -> bool {
        self.problems.is_empty()
    }

    /// 0 when healthy, 1 when not.
    pub fn exit_code(&self) -> i32 {
        if self.healthy() { 0 } else { 1 }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use arb_contract::time::from_nanos;

    pub(crate) fn t(secs: f64) -> Timestamp {
        from_nanos(1_763_900_000_000_000_000 + (secs * 1e9) as i64)
    }

    pub(crate) fn beat(service: &str, instance: &str, at: f64) -> Beat {
        let mut state = arb_contract::sample::runtime_state(1, t(at));
        state.service = service.to_owned();
        state.instance = instance.to_owned();
        Beat {
            stored: t(at),
            state,
        }
    }

    fn beats(instance_at: &[(&str, f64)]) -> Vec<Beat> {
        instance_at
            .iter()
            .map(|(i, at)| beat("feed", i, *at))
            .collect()
    }

    #[test]
    fn the_interval_is_the_upper_median_spacing_of_one_instance() {
        let five = Duration::from_secs(5);
        let ms = |n| Duration::from_millis(n);
        let cases: &[(&str, Vec<Beat>, Duration, IntervalFrom)] = &[
            ("no heartbeat", beats(&[]), five, IntervalFrom::Default),
            (
                "one heartbeat",
                beats(&[("a", 10.0)]),
                five,
                IntervalFrom::Default,
            ),
            (
                "two",
                beats(&[("a", 12.0), ("a", 10.0)]),
                ms(2000),
                IntervalFrom::Heartbeats,
            ),
            // Three: the longer spacing, so a beat at shutdown does not shorten it.
            (
                "a shutdown beat",
                beats(&[("a", 10.3), ("a", 10.0), ("a", 9.0)]),
                ms(1000),
                IntervalFrom::Heartbeats,
            ),
            // Four: the median of three spacings; one early or late beat does not move it.
            (
                "an early beat",
                beats(&[("a", 10.2), ("a", 10.0), ("a", 9.0), ("a", 8.0)]),
                ms(1000),
                IntervalFrom::Heartbeats,
            ),
            (
                "a late beat",
                beats(&[("a", 20.0), ("a", 10.0), ("a", 9.0), ("a", 8.0)]),
                ms(1000),
                IntervalFrom::Heartbeats,
            ),
            // A restart between them is no spacing.
            (
                "a restart",
                beats(&[("b", 10.0), ("a", 3.0), ("a", 2.0)]),
                five,
                IntervalFrom::Default,
            ),
            (
                "after a restart",
                beats(&[("b", 10.0), ("b", 9.0), ("a", 3.0), ("a", 2.0)]),
                ms(1000),
                IntervalFrom::Heartbeats,
            ),
            // Two replicas on one subject: the newest one's own spacing.
            (
                "replicas",
                beats(&[("b", 10.5), ("a", 10.0), ("b", 8.5), ("a", 8.0)]),
                ms(2000),
                IntervalFrom::Heartbeats,
            ),
        ];
        for (what, beats, want, from) in cases {
            assert_eq!(interval(beats, five), (*want, *from), "{what}");
        }
    }

    fn facts_at(now: f64, heartbeats: Vec<ServiceBeats>) -> Facts {
        let present = StreamState::Present(StreamFigures {
            messages: 0,
            bytes: 0,
            first: None,
            last: None,
            consumers: Vec::new(),
        });
        Facts {
            taken: t(now),
            prefix: None,
            nats_url: "nats://127.0.0.1:4222".into(),
            bus: Ok(BusFacts {
                heartbeats: Ok(heartbeats),
                streams: ["MD", "ARB", "EXEC", "SYS"]
                    .map(|n| StreamFacts {
                        name: n.into(),
                        state: present.clone(),
                    })
                    .into(),
                dead_letters: Ok(Vec::new()),
            }),
            database: None,
            dead_letters_since: t(now - 3600.0),
        }
    }

    fn service(name: &str, at: &[f64]) -> ServiceBeats {
        ServiceBeats {
            service: name.into(),
            beats: Ok(at.iter().map(|a| beat(name, "i", *a)).collect()),
        }
    }

    #[test]
    fn silent_after_three_intervals() {
        let five = Duration::from_secs(5);
        // Beats a second apart, the last at 10 s.
        let hb = || vec![service("feed", &[10.0, 9.0, 8.0])];
        for (now, healthy) in [(10.5, true), (13.0, true), (13.1, false), (60.0, false)] {
            let r = Report::assess(facts_at(now, hb()), &[], five);
            assert_eq!(r.healthy(), healthy, "at {now}: {:?}", r.problems);
            assert_eq!(r.exit_code(), if healthy { 0 } else { 1 });
            let s = &r.services[0];
            assert_eq!(
                s.health,
                if healthy {
                    ServiceHealth::Ok
                } else {
                    ServiceHealth::Silent
                }
            );
        }
        // One beat: --interval decides.
        let r = Report::assess(facts_at(24.0, vec![service("feed", &[10.0])]), &[], five);
        assert!(r.healthy(), "{:?}", r.problems);
        let r = Report::assess(facts_at(25.5, vec![service("feed", &[10.0])]), &[], five);
        assert_eq!(r.problems.len(), 1);
        assert!(
            r.problems[0].contains("feed is silent") && r.problems[0].contains("--interval"),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn every_kind_of_problem_is_named() {
        let five = Duration::from_secs(5);
        let expect = ["sink".to_owned(), "feed".to_owned()];
        let mut f = facts_at(10.0, vec![service("feed", &[9.0, 8.0])]);
        let r = Report::assess(f.clone(), &expect, five);
        assert_eq!(
            r.problems,
            vec!["sink is expected but has never sent a heartbeat"]
        );
        assert_eq!(
            r.services
                .iter()
                .map(|s| s.health.as_str())
                .collect::<Vec<_>>(),
            ["ok", "missing"]
        );

        if let Ok(b) = &mut f.bus {
            b.streams[1].state = StreamState::Missing;
            b.streams[2].state = StreamState::Failed("timed out".into());
            b.dead_letters = Err("no permission".into());
        }
        f.database = Some(Ok(DbFacts {
            size_bytes: 1,
            tables: vec![
                TableFacts {
                    table: "trades",
                    column: Some("ts"),
                    newest: Newest::Empty,
                },
                TableFacts {
                    table: "orders",
                    column: Some("ts"),
                    newest: Newest::Missing,
                },
            ],
        }));
        let r = Report::assess(f.clone(), &[], five);
        assert_eq!(
            r.problems,
            vec![
                "stream ARB does not exist (`arbctl streams --ensure` creates it)",
                "stream EXEC cannot be read: timed out",
                "dead letters cannot be counted: no permission",
                "table orders does not exist (`arbctl db migrate` creates it)",
            ]
        );

        f.database = Some(Err("cannot reach PostgreSQL".into()));
        f.bus = Err("connection refused".into());
        let r = Report::assess(f, &expect, five);
        assert_eq!(
            r.problems,
            vec![
                "NATS unreachable: connection refused",
                "database unreachable: cannot reach PostgreSQL",
            ]
        );
        assert!(r.services.is_empty());
    }
}
