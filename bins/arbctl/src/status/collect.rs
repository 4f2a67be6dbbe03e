//! The I/O of `arbctl status`: one look at JetStream (the prefix's streams
//! and their durable consumers; the newest heartbeats per `sys.state.*`
//! subject and the dead letters per `sys.dlq.*` subject, both from the SYS
//! stream's own storage) and at PostgreSQL, into [`Facts`].
//!
//! Nothing here fails: what cannot be read is a fact too, which the report
//! turns into a problem.

use std::collections::VecDeque;
use std::time::Duration;

use async_nats::datetime::DateTime;
use async_nats::jetstream;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::{RawMessageError, RawMessageErrorKind, Stream};
use futures::{StreamExt, TryStreamExt};

use arb_contract::subject::{StreamKind, SubjectKind};
use arb_contract::time::{Timestamp, to_nanos};
use arb_contract::{DeadLetter, RuntimeState};
use arb_runtime::bus::{Bus, server_time};
use arb_runtime::config::NatsArgs;
use arb_runtime::{db, headers};

use super::facts::*;

/// One statement may take this long; a status that hangs is no healthcheck.
const STATEMENT_TIMEOUT: &str = "5s";

/// Looks at NATS and (when `database_url` is given) PostgreSQL at `now`.
pub(super) async fn facts(
    nats: &NatsArgs,
    database_url: Option<&str>,
    now: Timestamp,
    dead_letters_since: Timestamp,
) -> Facts {
    let (bus, database) = tokio::join!(bus_facts(nats, dead_letters_since), async {
        match database_url {
            Some(url) => Some(db_facts(url).await),
            None => None,
        }
    });
    Facts {
        taken: now,
        prefix: nats
            .subjects()
            .ok()
            .and_then(|s| s.prefix().map(str::to_owned)),
        nats_url: arb_runtime::secret::redact_url(&nats.nats_url),
        bus,
        database,
        dead_letters_since,
    }
}

async fn bus_facts(nats: &NatsArgs, dead_letters_since: Timestamp) -> Result<BusFacts, String> {
    let bus = Bus::connect_once(nats, "arbctl-status")
        .await
        .map_err(|e| e.to_string())?;
    let mut streams = Vec::new();
    let mut sys = None;
    for kind in StreamKind::ALL {
        let name = bus.subjects.stream_name(kind);
        let (state, stream) = stream_facts(&bus.js, &name).await;
        if kind == StreamKind::Sys {
            sys = stream;
        }
        streams.push(StreamFacts { name, state });
    }
    // Without a SYS stream there is nothing to read (the missing stream is
    // the problem reported).
    let (heartbeats, dead_letters) = match &sys {
        None => (Ok(Vec::new()), Ok(Vec::new())),
        Some(sys) => tokio::join!(
            heartbeats(&bus, sys),
            dead_letters(&bus, sys, dead_letters_since)
        ),
    };
    bus.drain().await;
    Ok(BusFacts {
        heartbeats,
        streams,
        dead_letters,
    })
}

async fn stream_facts(js: &jetstream::Context, name: &str) -> (StreamState, Option<Stream>) {
    let stream = match js.get_stream(name).await {
        Ok(s) => s,
        Err(e) => {
            let state = if arb_runtime::bus::is_not_found(&e) {
                StreamState::Missing
            } else {
                StreamState::Failed(e.to_string())
            };
            return (state, None);
        }
    };
    let info = stream.cached_info().clone();
    let mut consumers = Vec::new();
    let mut list = stream.consumers();
    while let Some(c) = list.next().await {
        match c {
            // Durables only: an ephemeral (a tap, a replay, another status) has no lag to watch.
            Ok(c) if c.config.durable_name.is_some() => consumers.push(ConsumerFacts {
                name: c.name,
                pending: c.num_pending,
                ack_pending: c.num_ack_pending as u64,
                redelivered: c.num_redelivered as u64,
            }),
            Ok(_) => {}
            Err(e) => {
                let state = StreamState::Failed(format!("cannot list its consumers: {e}"));
                return (state, Some(stream));
            }
        }
    }
    consumers.sort_by(|a, b| a.name.cmp(&b.name));
    let s = &info.state;
    let stamp = |t: DateTime| (s.messages > 0).then(|| stored(t));
    let figures = StreamFigures {
        messages: s.messages,
        bytes: s.bytes,
        first: stamp(s.first_timestamp),
        last: stamp(s.last_timestamp),
        consumers,
    };
    (StreamState::Present(figures), Some(stream))
}

/// A server time as a contract timestamp.
fn stored(t: DateTime) -> Timestamp {
    server_time(t.unix_timestamp_nanos())
}

/// The subjects under `filter` the stream holds, with their message counts, by name.
async fn subjects(sys: &Stream, filter: &str) -> Result<Vec<(String, usize)>, String> {
    let mut list: Vec<(String, usize)> = sys
        .info_with_subjects(filter)
        .await
        .map_err(|e| e.to_string())?
        .try_collect()
        .await
        .map_err(|e| e.to_string())?;
    list.sort();
    Ok(list)
}

async fn heartbeats(bus: &Bus, sys: &Stream) -> Result<Vec<ServiceBeats>, String> {
    let list = subjects(sys, &bus.subjects.with_prefix("sys.state.>")).await?;
    let first_seq = sys.cached_info().state.first_sequence;
    // A service's previous heartbeat is about one per service back.
    let span = 4 * list.len() as u64 + 4;
    let mut out = Vec::with_capacity(list.len());
    for (subject, count) in list {
        let service = match bus.subjects.parse(&subject) {
            Ok(SubjectKind::State { service }) => service,
            _ => subject.clone(),
        };
        let beats = service_beats(sys, &subject, count, first_seq, span).await;
        out.push(ServiceBeats { service, beats });
    }
    Ok(out)
}

/// The newest [`BEATS_READ`] heartbeats on `subject`, newest first. Older
/// ones that do not decode are left out; a newest one that does not is an error.
async fn service_beats(
    sys: &Stream,
    subject: &str,
    count: usize,
    first_seq: u64,
    span: u64,
) -> Result<Vec<Beat>, String> {
    let last = sys
        .get_last_raw_message_by_subject(subject)
        .await
        .map_err(|e| e.to_string())?;
    let want = count.min(BEATS_READ).saturating_sub(1);
    let seq = last.sequence;
    let newest = beat(&last)?;
    let earlier = earlier(sys, subject, seq, want, first_seq, span)
        .await
        .map_err(|e| e.to_string())?;
    Ok(std::iter::once(newest)
        .chain(earlier.iter().filter_map(|m| beat(m).ok()))
        .collect())
}

fn beat(m: &StreamMessage) -> Result<Beat, String> {
    let state: RuntimeState =
        headers::decode(Some(&m.headers), &m.payload).map_err(|e| e.to_string())?;
    Ok(Beat {
        stored: stored(m.time),
        state,
    })
}

/// The last `want` messages on `subject` before sequence `before`, newest
/// first. JetStream fetches the next message on a subject from a sequence,
/// not the previous one: so look in the `span` sequences before `before`,
/// then in a span four times as long before that, and so on.
async fn earlier(
    sys: &Stream,
    subject: &str,
    before: u64,
    want: usize,
    first_seq: u64,
    mut span: u64,
) -> Result<Vec<StreamMessage>, RawMessageError> {
    let mut found = Vec::new();
    let mut hi = before;
    while found.len() < want && hi > first_seq {
        let lo = hi.saturating_sub(span).max(first_seq);
        let mut window = VecDeque::new();
        let mut seq = lo;
        while seq < hi {
            let next = sys
                .raw_message_builder()
                .sequence(seq)
                .next_by_subject(subject)
                .send()
                .await;
            match next {
                Ok(m) if m.sequence < hi => {
                    seq = m.sequence + 1;
                    window.push_back(m);
                    if window.len() > want - found.len() {
                        window.pop_front();
                    }
                }
                Ok(_) => break,
                Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => break,
                Err(e) => return Err(e),
            }
        }
        found.extend(window.into_iter().rev());
        hi = lo;
        span = span.saturating_mul(4);
    }
    Ok(found)
}

/// Per `sys.dlq.*` subject: the dead letters stored since `since`, and the newest one's reason.
async fn dead_letters(
    bus: &Bus,
    sys: &Stream,
    since: Timestamp,
) -> Result<Vec<DeadLetterFacts>, String> {
    let mut out = Vec::new();
    for (subject, _) in subjects(sys, &bus.subjects.with_prefix("sys.dlq.>")).await? {
        let last = sys
            .get_last_raw_message_by_subject(&subject)
            .await
            .map_err(|e| e.to_string())?;
        let last_at = stored(last.time);
        if last_at < since {
            continue;
        }
        // How many since then: a consumer made to start there says, before
        // it is sent anything, how many it has pending.
        let count = count_since(sys, &subject, since)
            .await
            .map_err(|e| format!("cannot count the dead letters on {subject}: {e}"))?;
        let service = match bus.subjects.parse(&subject) {
            Ok(SubjectKind::Dlq { service }) => service,
            _ => subject.clone(),
        };
        let last_reason = headers::decode::<DeadLetter>(Some(&last.headers), &last.payload)
            .ok()
            .map(|d| d.reason);
        out.push(DeadLetterFacts {
            subject,
            service,
            count,
            last: last_at,
            last_reason,
        });
    }
    Ok(out)
}

async fn count_since(
    sys: &Stream,
    subject: &str,
    since: Timestamp,
) -> Result<u64, async_nats::Error> {
    let start_time = async_nats::datetime::from_nanos(i128::from(to_nanos(&since)))?;
    let consumer = sys
        .create_consumer(pull::Config {
            filter_subject: subject.to_owned(),
            deliver_policy: DeliverPolicy::ByStartTime { start_time },
            ack_policy: AckPolicy::None,
            inactive_threshold: Duration::from_secs(30),
            memory_storage: true,
            ..Default::default()
        })
        .await?;
    let info = consumer.cached_info();
    let count = info.num_pending;
    // It would go by itself after the inactive threshold; no need to wait.
    let _ = sys.delete_consumer(&info.name).await;
    Ok(count)
}

async fn db_facts(url: &str) -> Result<DbFacts, String> {
    let pool = db::connect(url, 1, Some(Duration::from_secs(3)))
        .await
        .map_err(|e| e.to_string())?;
    let facts = read_db(&pool).await.map_err(|e| e.to_string());
    pool.close().await;
    facts
}

async fn read_db(pool: &db::PgPool) -> Result<DbFacts, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    sqlx::query(&format!("SET statement_timeout = '{STATEMENT_TIMEOUT}'"))
        .execute(&mut *conn)
        .await?;
    let size_bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&mut *conn)
        .await?;
    let mut tables = Vec::with_capacity(db::TABLES.len());
    for table in db::TABLES {
        let column = time_column(table);
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(table)
            .fetch_one(&mut *conn)
            .await?;
        let newest = match (exists, column) {
            (false, _) => Newest::Missing,
            (true, None) => Newest::Unknown,
            (true, Some(column)) => match newest(&mut conn, table, column).await {
                Ok(Some(t)) => Newest::At(t),
                Ok(None) => Newest::Empty,
                Err(e) => Newest::Failed(e.to_string()),
            },
        };
        tables.push(TableFacts {
            table,
            column,
            newest,
        });
    }
    Ok(DbFacts { size_bytes, tables })
}

/// The largest value of `column` in `table` (both from [`time_column`], not input).
async fn newest(
    conn: &mut sqlx::PgConnection,
    table: &str,
    column: &str,
) -> Result<Option<Timestamp>, sqlx::Error> {
    let all = format!("SELECT max({column}) FROM {table}");
    if table == "market_snapshots" {
        // The big one, partitioned by day with a BRIN index on ts: the last
        // day first reads one or two partitions' newest blocks, not them all.
        let recent = format!("{all} WHERE {column} >= now() - interval '1 day'");
        if let Some(t) = sqlx::query_scalar(&recent).fetch_one(&mut *conn).await? {
            return Ok(Some(t));
        }
    }
    sqlx::query_scalar(&all).fetch_one(&mut *conn).await
}
