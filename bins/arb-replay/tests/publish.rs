//! `arb-replay publish` against the real NATS at nats://127.0.0.1:4222 (or
//! `NATS_URL`), in this process (`arb_replay::publish::run` with a shutdown
//! future of the test's), each test on a subject prefix of its own and a run
//! id of its own:
//!
//! - a time range and a sequence range from the middle of a stream come out
//!   whole, in order, payloads and headers unchanged;
//! - the same run again adds nothing, and an interrupted run restarted gives
//!   its range exactly once;
//! - a detector on the prefix `replay.<run>` turns the replayed books into
//!   the opportunities the pure detector makes of them, under that prefix,
//!   while live subscribers see nothing.
#![allow(unused_crate_dependencies)]

use std::process::ExitCode;
use std::str::FromStr;

use arb_contract::codec::Decoded;
use arb_contract::subject::{StreamKind, Subjects};
use arb_contract::time::{Timestamp, from_nanos};
use arb_contract::{BookSnapshot, EpisodeState, Level, Opportunity, ids, sample};
use arb_replay::publish::{
    self, Bound, PublishArgs, REPLAY_SEQ, REPLAY_STREAM, REPLAY_SUBJECT, REPLAY_TIME, Speed,
};
use arb_runtime::bus::Bus;
use arb_runtime::config::NatsArgs;
use arb_testkit::{
    CATCH_UP, TestBus, WAIT, first_heartbeat, stream_limit_args, subscribe, test_stream_args,
    wait_until,
};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer::pull::OrderedConfig};
use bytes::Bytes;
use clap::Parser;
use futures::StreamExt;

/// A message as a stream stores it.
#[derive(Debug, Clone)]
struct Stored {
    seq: u64,
    subject: String,
    headers: HeaderMap,
    payload: Bytes,
    nanos: i128,
}

impl Stored {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.as_str())
    }

    /// The headers other than the ones a replay sets.
    fn contract_headers(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = arb_runtime::headers::strings(Some(&self.headers))
            .into_iter()
            .filter(|(k, _)| k != "Nats-Msg-Id" && !k.starts_with("Arb-Replay-"))
            .collect();
        v.sort();
        v
    }
}

/// Every message of a stream, in order (none if it does not exist).
async fn read_all(js: &jetstream::Context, name: &str) -> Vec<Stored> {
    let Ok(mut stream) = js.get_stream(name).await else {
        return Vec::new();
    };
    if stream.info().await.expect("stream info").state.messages == 0 {
        return Vec::new();
    }
    let consumer = stream
        .create_consumer(OrderedConfig::default())
        .await
        .expect("an ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut out = Vec::new();
    loop {
        let m = tokio::time::timeout(WAIT, messages.next())
            .await
            .unwrap_or_else(|_| panic!("{name} stopped delivering after {} messages", out.len()))
            .expect("the consumer ended")
            .expect("a message");
        let info = m.info().expect("stream metadata");
        let (seq, pending, nanos) = (
            info.stream_sequence,
            info.pending,
            info.published.unix_timestamp_nanos(),
        );
        out.push(Stored {
            seq,
            subject: m.subject.to_string(),
            headers: m.headers.clone().unwrap_or_default(),
            payload: m.payload.clone(),
            nanos,
        });
        if pending == 0 {
            return out;
        }
    }
}

/// Messages in a stream now (0 if it does not exist yet).
async fn count(js: &jetstream::Context, name: &str) -> u64 {
    match js.get_stream(name).await {
        Ok(mut s) => s.info().await.map(|i| i.state.messages).unwrap_or(0),
        Err(_) => 0,
    }
}

fn new_run(name: &str) -> String {
    arb_testkit::unique(name).replace('_', "-")
}

/// The replay's stream of `kind` for `run`.
fn run_stream(run: &str, kind: StreamKind) -> String {
    publish::target_subjects(run).unwrap().stream_name(kind)
}

async fn delete_run(js: &jetstream::Context, run: &str) {
    for kind in StreamKind::ALL {
        let _ = js.delete_stream(run_stream(run, kind)).await;
    }
}

/// A replay of `tb`'s MD stream onto `run`, as fast as it goes.
fn args(tb: &TestBus, run: &str) -> PublishArgs {
    PublishArgs {
        run: Some(run.to_owned()),
        speed: Speed::Max,
        nats: tb.args.clone(),
        streams: test_stream_args(),
        ..PublishArgs::default()
    }
}

async fn replay(args: PublishArgs) -> ExitCode {
    publish::run(args, std::future::pending())
        .await
        .expect("the replay fails")
}

/// A replay run to its end: what it sent.
async fn replay_outcome(args: PublishArgs) -> publish::Outcome {
    let o = publish::replay(args, std::future::pending())
        .await
        .expect("the replay fails");
    assert!(!o.interrupted);
    o
}

/// Books of two venues, alternating, `n` ms apart in event time.
fn two_venue_books(n: u64) -> Vec<Decoded> {
    (0..n)
        .map(|i| {
            let venue = if i % 2 == 0 { "kraken" } else { "binance" };
            let ts = arb_testkit::messages::at(i);
            Decoded::Book(sample::book(i, venue, "BTC/USD", 3, ts))
        })
        .collect()
}

/// What `src` should look like once replayed onto `run`, against what is.
fn assert_replayed(
    run: &str,
    src_stream: &str,
    prefix: &Subjects,
    want: &[&Stored],
    got: &[Stored],
) {
    let got_seqs: Vec<u64> = got
        .iter()
        .map(|m| m.header(REPLAY_SEQ).unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        got_seqs,
        want.iter().map(|m| m.seq).collect::<Vec<_>>(),
        "the original sequences, in order, each once"
    );
    for (w, g) in want.iter().zip(got) {
        let rest = prefix.strip_prefix(&w.subject).unwrap();
        assert_eq!(g.subject, format!("replay.{run}.{rest}"));
        assert_eq!(
            g.payload, w.payload,
            "seq {}: the payload passes through",
            w.seq
        );
        assert_eq!(g.contract_headers(), w.contract_headers(), "seq {}", w.seq);
        assert_eq!(g.header(REPLAY_SUBJECT), Some(w.subject.as_str()));
        assert_eq!(g.header(REPLAY_STREAM), Some(src_stream));
        assert_eq!(g.header(REPLAY_TIME), Some(w.nanos.to_string().as_str()));
        let id = publish::message_id(run, src_stream, w.seq);
        assert_eq!(g.header("Nats-Msg-Id"), Some(id.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_range_and_a_sequence_range_from_the_middle_keep_count_and_order() {
    let tb = TestBus::new("replay-ranges").await;
    let js = tb.bus.js.clone();
    let books = two_venue_books(300);
    for part in books.chunks(100) {
        tb.publish_all(part).await;
    }
    let md = tb.bus.subjects.stream_name(StreamKind::Md);
    let src = read_all(&js, &md).await;
    assert_eq!(src.len(), 300);

    // A time range: stored at or after message 101's time, before 201's.
    let (from, to) = (src[100].nanos, src[200].nanos);
    let time = |n: i128| Bound::Time(from_nanos(n as i64));
    let run = new_run("time");
    let a = PublishArgs {
        from: Some(time(from)),
        to: Some(time(to)),
        ..args(&tb, &run)
    };
    assert_eq!(replay(a).await, ExitCode::SUCCESS);
    let want: Vec<&Stored> = src
        .iter()
        .filter(|m| m.nanos >= from && m.nanos < to)
        .collect();
    assert!(want.len() >= 100, "at least seq 101..200");
    let got = read_all(&js, &run_stream(&run, StreamKind::Md)).await;
    assert_replayed(&run, &md, &tb.bus.subjects, &want, &got);
    delete_run(&js, &run).await;

    // A sequence range, both ends included.
    let run = new_run("seq");
    let a = PublishArgs {
        from: Some(Bound::Seq(120)),
        to: Some(Bound::Seq(180)),
        ..args(&tb, &run)
    };
    assert_eq!(replay(a).await, ExitCode::SUCCESS);
    let want: Vec<&Stored> = src
        .iter()
        .filter(|m| (120..=180).contains(&m.seq))
        .collect();
    assert_eq!(want.len(), 61);
    let got = read_all(&js, &run_stream(&run, StreamKind::Md)).await;
    assert_replayed(&run, &md, &tb.bus.subjects, &want, &got);
    delete_run(&js, &run).await;

    // The same range of one venue's subjects only.
    let run = new_run("filter");
    let a = PublishArgs {
        from: Some(Bound::Seq(120)),
        to: Some(Bound::Seq(180)),
        subject: Some("md.book.binance.>".into()),
        ..args(&tb, &run)
    };
    assert_eq!(replay(a).await, ExitCode::SUCCESS);
    let want: Vec<&Stored> = src
        .iter()
        .filter(|m| (120..=180).contains(&m.seq) && m.subject.contains(".binance."))
        .collect();
    assert_eq!(want.len(), 31, "binance at the even sequences");
    let got = read_all(&js, &run_stream(&run, StreamKind::Md)).await;
    assert_replayed(&run, &md, &tb.bus.subjects, &want, &got);
    delete_run(&js, &run).await;
    tb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_run_again_adds_nothing_and_a_longer_range_only_the_rest() {
    let tb = TestBus::new("replay-again").await;
    let js = tb.bus.js.clone();
    tb.publish_all(&two_venue_books(200)).await;
    let md = tb.bus.subjects.stream_name(StreamKind::Md);
    let src = read_all(&js, &md).await;
    let run = new_run("again");
    let target = run_stream(&run, StreamKind::Md);
    let to = |n| PublishArgs {
        to: Some(Bound::Seq(n)),
        ..args(&tb, &run)
    };

    let o = replay_outcome(to(150)).await;
    assert_eq!(
        (o.published, o.first_seq, o.last_seq),
        (150, Some(1), Some(150))
    );
    assert_eq!(count(&js, &target).await, 150);
    // Again: it resumes after what the run holds, so it sends nothing at
    // all (not even copies for JetStream's duplicate window to drop).
    let o = replay_outcome(to(150)).await;
    assert_eq!((o.published, o.duplicates), (0, 0), "{o:?}");
    assert_eq!(
        count(&js, &target).await,
        150,
        "a second run of the range adds nothing"
    );
    // A longer range sends only what the run does not hold yet.
    let o = replay_outcome(to(200)).await;
    assert_eq!(
        (o.published, o.duplicates, o.first_seq),
        (50, 0, Some(151)),
        "{o:?}"
    );
    let got = read_all(&js, &target).await;
    let want: Vec<&Stored> = src.iter().collect();
    assert_replayed(&run, &md, &tb.bus.subjects, &want, &got);
    delete_run(&js, &run).await;
    tb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_replay_restarted_gives_the_range_exactly_once() {
    let tb = TestBus::new("replay-interrupted").await;
    let js = tb.bus.js.clone();
    // Two seconds of history, replayed at its own pace.
    tb.publish_paced(&two_venue_books(400), 200).await;
    let md = tb.bus.subjects.stream_name(StreamKind::Md);
    let src = read_all(&js, &md).await;
    let run = new_run("interrupted");
    let target = run_stream(&run, StreamKind::Md);

    // Stopped once the run's stream holds 100 messages.
    let stop = {
        let (js, target) = (js.clone(), target.clone());
        async move {
            wait_until("the replay stored 100 messages", CATCH_UP, || async {
                count(&js, &target).await >= 100
            })
            .await;
        }
    };
    let paced = PublishArgs {
        speed: Speed::Times(1.0),
        ..args(&tb, &run)
    };
    let code = publish::run(paced, stop)
        .await
        .expect("the first attempt fails");
    assert_eq!(code, ExitCode::from(publish::EXIT_INTERRUPTED));
    let part = count(&js, &target).await;
    assert!(
        (100..400).contains(&part),
        "stopped part-way: {part} of 400"
    );

    assert_eq!(replay(args(&tb, &run)).await, ExitCode::SUCCESS);
    let got = read_all(&js, &target).await;
    let want: Vec<&Stored> = src.iter().collect();
    assert_replayed(&run, &md, &tb.bus.subjects, &want, &got);
    delete_run(&js, &run).await;
    tb.cleanup().await;
}

fn at_ms(ms: i64) -> Timestamp {
    from_nanos(1_800_000_000_000_000_000 + ms * 1_000_000)
}

/// A one-level book of `venue` at `ms`, its id derived from those.
fn book(venue: &str, ms: i64, bid: &str, ask: &str) -> BookSnapshot {
    let mut b = sample::book(0, venue, "BTC/USD", 0, at_ms(ms));
    b.id = ids::derive(at_ms(ms), &[b"replay-test-book", venue.as_bytes()]);
    let level = |p: &str| {
        Level::new(
            rust_decimal::Decimal::from_str(p).unwrap(),
            rust_decimal::Decimal::ONE,
        )
    };
    (b.bids, b.asks) = (vec![level(bid)], vec![level(ask)]);
    b
}

/// Five episodes: sim-b's bid over sim-a's ask, then back under it.
fn dislocations() -> Vec<BookSnapshot> {
    let mut v = Vec::new();
    for k in 0..5i64 {
        let t = k * 100;
        v.push(book("sim-a", t, "99", "100"));
        v.push(book("sim-b", t + 10, "101", "102"));
        v.push(book("sim-a", t + 20, "99", "100"));
        v.push(book("sim-b", t + 30, "100.2", "102"));
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detector_on_the_run_prefix_sees_the_replay_and_live_consumers_do_not() {
    let tb = TestBus::new("replay-detector").await;
    let js = tb.bus.js.clone();
    let books = dislocations();
    let msgs: Vec<Decoded> = books.iter().cloned().map(Decoded::Book).collect();
    tb.publish_all(&msgs).await;

    // The detector of the run, and what its pure core makes of the books.
    let run = new_run("detector");
    let prefix = format!("replay.{run}");
    let mut argv = vec![
        "arb-detector".to_owned(),
        format!("--nats-url={}", tb.args.nats_url),
        format!("--subject-prefix={prefix}"),
        "--fee=sim-a=0.001,sim-b=0.002".into(),
        "--max-book-age=10s".into(),
        "--heartbeat-interval=1s".into(),
    ];
    argv.extend(stream_limit_args());
    let config = arb_detector::Config::parse_from(argv);
    let mut pure =
        arb_detect::detector(arb_detect::StrategyKind::Cross, config.detector().unwrap());
    let expected: Vec<Opportunity> = books.iter().flat_map(|b| pure.on_book(b)).collect();
    assert_eq!(expected.len(), 10, "an open and a close per episode");
    assert_eq!(pure.open_episodes(), 0);

    let run_args = NatsArgs {
        subject_prefix: Some(prefix.clone()),
        ..tb.args.clone()
    };
    let run_bus = Bus::connect_once(&run_args, "replay-test")
        .await
        .expect("connect");
    // Services only check that their streams exist: the run's are made
    // first, as `arbctl streams --ensure --subject-prefix replay.<run>` or an
    // earlier replay of the run would (the replay below finds them its own).
    run_bus
        .ensure_streams(&test_stream_args())
        .await
        .expect("the run's streams");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let detector = tokio::spawn(arb_detector::run(config, async {
        let _ = stopped.await;
    }));
    // It flushes its subscriptions before its first heartbeat.
    first_heartbeat(&run_bus, "detector-cross").await;

    let mut replayed_opps = subscribe(&run_bus, run_bus.subjects.with_prefix("arb.opp.>")).await;
    let mut live_books = subscribe(&tb.bus, tb.bus.subjects.with_prefix("md.book.>")).await;
    let mut live_opps = subscribe(&tb.bus, tb.bus.subjects.with_prefix("arb.opp.>")).await;

    let a = PublishArgs {
        speed: Speed::Times(10.0),
        ..args(&tb, &run)
    };
    assert_eq!(replay(a).await, ExitCode::SUCCESS);

    let mut got = Vec::new();
    while got.len() < expected.len() {
        let m = tokio::time::timeout(WAIT, replayed_opps.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{} of {} opportunities on {prefix}.arb.opp.>",
                    got.len(),
                    expected.len()
                )
            })
            .expect("subscription ended");
        assert!(
            m.subject.starts_with(&format!("{prefix}.arb.opp.cross.")),
            "{}",
            m.subject
        );
        let o: Opportunity = arb_runtime::headers::decode(m.headers.as_ref(), &m.payload).unwrap();
        got.push(o);
    }
    let key = |o: &Opportunity| (o.id, o.episode_id, o.key.clone(), o.state, o.net_edge_bps);
    assert_eq!(
        got.iter().map(key).collect::<Vec<_>>(),
        expected.iter().map(key).collect::<Vec<_>>(),
        "the replayed books give what the detector's core makes of them"
    );
    assert_eq!(got[0].state, EpisodeState::Open);
    let arb = run_stream(&run, StreamKind::Arb);
    wait_until("the run's ARB stream stores them", WAIT, || async {
        count(&js, &arb).await >= 10
    })
    .await;

    // Nothing reached the live subjects: a marker sent after the replay
    // is the first thing the live subscriptions get.
    for (sub, subject) in [
        (&mut live_books, "md.book.marker.X"),
        (&mut live_opps, "arb.opp.marker.X"),
    ] {
        let subject = tb.bus.subjects.with_prefix(subject);
        tb.bus
            .client
            .publish(subject.clone(), "marker".into())
            .await
            .unwrap();
        tb.bus.client.flush().await.unwrap();
        let first = tokio::time::timeout(WAIT, sub.next())
            .await
            .expect("the marker")
            .unwrap();
        assert_eq!(
            first.subject.as_str(),
            subject,
            "a live subscriber saw replayed traffic"
        );
    }

    let _ = stop.send(());
    detector.await.unwrap().expect("the detector fails");
    run_bus.drain().await;
    delete_run(&js, &run).await;
    tb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_stream_a_bad_run_and_a_foreign_subject_are_clear_errors() {
    let nats = NatsArgs {
        nats_url: arb_testkit::nats_url(),
        subject_prefix: Some(arb_testkit::test_prefix("replay-nostream")),
        ..NatsArgs::default()
    };
    let base = || PublishArgs {
        nats: nats.clone(),
        streams: test_stream_args(),
        speed: Speed::Max,
        ..PublishArgs::default()
    };
    let err = |a: PublishArgs| async {
        publish::run(a, std::future::pending())
            .await
            .expect_err("an error")
            .to_string()
    };
    let md = Subjects::new(nats.subject_prefix.as_deref())
        .unwrap()
        .stream_name(StreamKind::Md);
    let e = err(base()).await;
    assert!(e.contains(&format!("no stream {md}")), "{e}");
    let e = err(PublishArgs {
        run: Some("a.b".into()),
        ..base()
    })
    .await;
    assert!(e.contains("--run"), "{e}");
    let e = err(PublishArgs {
        subject: Some("exec.order.>".into()),
        ..base()
    })
    .await;
    assert!(e.contains("not in the MD stream"), "{e}");
    let e = err(PublishArgs {
        from: Some(Bound::Seq(10)),
        to: Some(Bound::Seq(5)),
        ..base()
    })
    .await;
    assert!(e.contains("--from must come before --to"), "{e}");
}
