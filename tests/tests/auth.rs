//! NATS users and permissions (issue 14, point 1), on a private server
//! started from the repo's `nats/nats-server.conf` with its users (the
//! development credentials of `.env.example`), without a subject prefix, as
//! compose runs: the whole pipeline (sim feed, both detectors, the paper
//! executor, the sink) runs end to end with each service as its own user
//! and the server refuses none of what they do; then each refusal on its
//! own: the feed user cannot publish orders or opportunities, cannot create,
//! delete or purge a stream (nor can any service user), cannot subscribe to
//! another user's inbox; the tap user cannot publish anything; the executor
//! cannot write its config bucket; the operator can do all of it.
//!
//! A refusal is checked where the server makes it: the client is told
//! (a permissions violation, reported as a server error), and nothing
//! happened (nothing stored, the stream still there with its messages,
//! nothing delivered).
#![allow(unused_crate_dependencies)]

use std::time::Duration;

use arb_contract::subject::StreamKind;
use arb_runtime::bus::Bus;
use arb_runtime::config::NatsArgs;
use arb_testkit::*;
use async_nats::jetstream::{self, context::ContextBuilder};
use async_nats::{ConnectOptions, Event};
use futures::StreamExt;
use tokio::sync::mpsc;

/// How long a JetStream request of a test client waits for an answer: a
/// refused one gets none (the server drops it and says so as an error).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// What the server logs and tells the client on a refused publish or
/// subscription.
const VIOLATION: &str = "Permissions Violation";

/// The environment of a process on `nats` as `service`'s user, unprefixed.
fn env_as(nats: &NatsServer, service: &str, database_url: &str) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("NATS_URL", nats.url()),
        ("DATABASE_URL", database_url.to_owned()),
    ];
    env.extend(NatsUser::of(service).env());
    env
}

/// The operator's connection, without a subject prefix.
async fn operator(nats: &NatsServer) -> Bus {
    let args = NatsUser::operator().apply(NatsArgs {
        nats_url: nats.url(),
        ..NatsArgs::default()
    });
    Bus::connect_once(&args, "auth-test")
        .await
        .expect("the operator connects")
}

/// A private server with the pipeline's streams and bucket, made as
/// compose makes them: `arbctl streams --ensure` as the operator.
async fn server_with_streams() -> NatsServer {
    let nats = NatsServer::start().await;
    let mut args = strings(&["streams", "--ensure"]);
    args.extend(stream_limit_args());
    let mut arbctl = Proc::spawn(
        "arbctl",
        &args,
        &env_as(&nats, "arbctl", &admin_database_url()),
    );
    let status = arbctl
        .exit_within(Duration::from_secs(30))
        .await
        .expect("arbctl streams --ensure exits");
    assert!(
        status.success(),
        "arbctl streams --ensure failed: {}",
        arbctl.log_text()
    );
    nats
}

/// A test client logged in as one user, with the server errors it is told.
struct Client {
    client: async_nats::Client,
    js: jetstream::Context,
    errors: mpsc::UnboundedReceiver<String>,
}

impl Client {
    async fn connect(nats: &NatsServer, service: &str) -> Client {
        let user = NatsUser::of(service);
        let (tx, errors) = mpsc::unbounded_channel();
        let mut opts = ConnectOptions::with_user_and_password(user.user, user.password)
            .event_callback(move |event| {
                let tx = tx.clone();
                async move {
                    if let Event::ServerError(e) = event {
                        let _ = tx.send(e.to_string());
                    }
                }
            });
        if let Some(p) = user.inbox_prefix {
            opts = opts.custom_inbox_prefix(p);
        }
        let client = opts
            .connect(nats.url())
            .await
            .unwrap_or_else(|e| panic!("{service} cannot connect: {e}"));
        let js = ContextBuilder::new()
            .timeout(REQUEST_TIMEOUT)
            .build(client.clone());
        Client { client, js, errors }
    }

    /// Waits for the server's permissions violation naming `subject` (as
    /// the server quotes it); panics naming `what` if none comes.
    async fn refused(&mut self, what: &str, subject: &str) {
        let quoted = format!("\"{subject}\"");
        let found = tokio::time::timeout(WAIT, async {
            while let Some(e) = self.errors.recv().await {
                if e.contains(VIOLATION) && e.contains(&quoted) {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(
            found,
            Ok(true),
            "{what}: the server reported no permissions violation for {subject}"
        );
    }
}

async fn stream_messages(bus: &Bus, name: &str) -> u64 {
    let mut s = bus
        .js
        .get_stream(name)
        .await
        .unwrap_or_else(|e| panic!("no stream {name}: {e}"));
    s.info().await.expect("stream info").state.messages
}

/// One valid book, published by the operator (something to lose).
async fn publish_a_book(bus: &Bus) {
    let mut p = bus.publisher(1);
    for m in messages::books(0, 1) {
        p.publish_decoded(&m).await.expect("the operator publishes");
    }
    p.flush().await.expect("acked");
}

/// The paper executor's flags (as in its own end-to-end test).
fn executor_args() -> Vec<String> {
    let mut args = strings(&[
        "--latency",
        "5ms",
        "--latency-jitter",
        "3ms",
        "--fill-timeout",
        "300ms",
        "--heartbeat-interval",
        "1s",
        "--snapshot-interval",
        "2s",
        "--ack-wait",
        "5s",
    ]);
    for venue in ["sim-a", "sim-b", "sim-c"] {
        args.extend(strings(&[
            "--balance",
            &format!("{venue}:USD=100000,BTC=2,ETH=30"),
        ]));
    }
    args
}

const SERVICES: [&str; 5] = [
    "feed-sim",
    "detector-cross",
    "detector-triangular",
    "executor",
    "sink",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_runs_end_to_end_with_each_service_as_its_own_user() {
    let nats = server_with_streams().await;
    let db = TestDb::new("auth_pipeline").await;
    let op = operator(&nats).await;

    let mut sink = Proc::spawn(
        "arb-sink",
        &sink_args("sink"),
        &env_as(&nats, "sink", &db.url),
    );
    let detector = |strategy: &str| {
        let mut args = detector_args(strategy);
        args.extend(strings(&["--min-net-edge-bps", "2"]));
        Proc::spawn(
            "arb-detector",
            &args,
            &env_as(&nats, "detector", &admin_database_url()),
        )
    };
    let mut cross = detector("cross");
    let mut triangular = detector("triangular");
    let mut executor = Proc::spawn(
        "arb-executor",
        &executor_args(),
        &env_as(&nats, "executor", &admin_database_url()),
    );
    for service in &SERVICES[1..] {
        first_heartbeat(&op, service).await;
    }
    let mut feed_args = strings(&[
        "--symbols",
        "BTC/USD,ETH/USD,ETH/BTC",
        "--sim-venues",
        "sim-a,sim-b,sim-c",
        "--seed",
        "42",
        "--count",
        "3000",
    ]);
    feed_args.extend(sim_feed_args(400));
    let mut feed = Proc::spawn(
        "arb-feed",
        &feed_args,
        &env_as(&nats, "feed", &admin_database_url()),
    );

    // Books, opportunities and the executor's events in PostgreSQL, and
    // every service's heartbeats: each did its part as its own user.
    wait_until(
        "books, opportunities, orders, trades and every heartbeat stored",
        CATCH_UP,
        || async {
            for t in ["market_snapshots", "opportunities", "orders", "trades"] {
                if db.count(t).await == 0 {
                    return false;
                }
            }
            for s in SERVICES {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM runtime_state_snapshots WHERE service = $1",
                )
                .bind(s)
                .fetch_one(&db.pool)
                .await
                .unwrap_or(0);
                if n == 0 {
                    return false;
                }
            }
            true
        },
    )
    .await;
    let status = feed
        .exit_within(CATCH_UP)
        .await
        .expect("the feed stops after --count");
    assert!(status.success(), "arb-feed: {}", feed.log_text());
    for p in [&mut executor, &mut cross, &mut triangular, &mut sink] {
        p.stop().await;
    }

    // Nothing any of them did was refused: each user's rights are enough.
    let refused: Vec<String> = nats
        .log_text()
        .lines()
        .filter(|l| l.contains("Violation"))
        .map(str::to_owned)
        .collect();
    assert!(
        refused.is_empty(),
        "the server refused the services:\n{}",
        refused.join("\n")
    );
    op.drain().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_cannot_publish_orders_or_opportunities() {
    let nats = server_with_streams().await;
    let op = operator(&nats).await;
    let mut feed = Client::connect(&nats, "feed").await;

    for (subject, stream) in [("exec.order.x.BTC-USD", "EXEC"), ("arb.opp.cross.x", "ARB")] {
        let ack = feed
            .js
            .publish(subject, bytes::Bytes::from_static(b"{}"))
            .await;
        let acked = match ack {
            Ok(f) => f.await.is_ok(),
            Err(_) => false,
        };
        assert!(!acked, "JetStream acknowledged the feed's {subject}");
        feed.refused("the feed publishing", subject).await;
        assert_eq!(
            stream_messages(&op, stream).await,
            0,
            "{stream} stored the feed's {subject}"
        );
    }

    // What it may publish, it can: the refusals are the permissions'.
    let ack = feed
        .js
        .publish("md.status.sim-a", bytes::Bytes::from_static(b"{}"))
        .await
        .expect("publish")
        .await;
    assert!(ack.is_ok(), "the feed's own md.status was refused: {ack:?}");
    assert_eq!(stream_messages(&op, "MD").await, 1);
    op.drain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_cannot_delete_purge_or_create_a_stream() {
    let nats = server_with_streams().await;
    let op = operator(&nats).await;
    publish_a_book(&op).await;
    let mut feed = Client::connect(&nats, "feed").await;

    assert!(
        feed.js.delete_stream("MD").await.is_err(),
        "the feed deleted MD"
    );
    feed.refused("deleting MD", "$JS.API.STREAM.DELETE.MD")
        .await;

    // It may look the stream up (to check that it exists), not purge it.
    let md = feed
        .js
        .get_stream("MD")
        .await
        .expect("the feed looks MD up");
    assert!(md.purge().await.is_err(), "the feed purged MD");
    feed.refused("purging MD", "$JS.API.STREAM.PURGE.MD").await;

    let config = jetstream::stream::Config {
        name: "FEED_OWN".into(),
        subjects: vec!["feedown.>".into()],
        ..Default::default()
    };
    assert!(
        feed.js.create_stream(config).await.is_err(),
        "the feed created a stream"
    );
    feed.refused("creating a stream", "$JS.API.STREAM.CREATE.FEED_OWN")
        .await;

    assert_eq!(
        stream_messages(&op, "MD").await,
        1,
        "MD is still there with its book"
    );
    assert!(op.js.get_stream("FEED_OWN").await.is_err());
    op.drain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_service_user_can_delete_purge_or_create_a_stream() {
    let nats = server_with_streams().await;
    let op = operator(&nats).await;
    publish_a_book(&op).await;
    let users = ["feed", "detector", "executor", "sink", "replay", "tap"];
    let checks = users.map(|service| {
        let nats = &nats;
        async move {
            let mut c = Client::connect(nats, service).await;
            for stream in ["MD", "SYS", "KV_arb_config"] {
                assert!(
                    c.js.delete_stream(stream).await.is_err(),
                    "{service} deleted {stream}"
                );
                c.refused(service, &format!("$JS.API.STREAM.DELETE.{stream}"))
                    .await;
            }
            let purge = c
                .client
                .request("$JS.API.STREAM.PURGE.MD", bytes::Bytes::new())
                .await;
            assert!(purge.is_err(), "{service} purged MD: {purge:?}");
            c.refused(service, "$JS.API.STREAM.PURGE.MD").await;
            let update = jetstream::stream::Config {
                name: "MD".into(),
                subjects: vec!["md.>".into(), "more.>".into()],
                ..Default::default()
            };
            assert!(
                c.js.update_stream(update).await.is_err(),
                "{service} updated MD"
            );
            c.refused(service, "$JS.API.STREAM.UPDATE.MD").await;
            let name = format!("OWN_{}", service.to_uppercase());
            let create = jetstream::stream::Config {
                name: name.clone(),
                subjects: vec![format!("own{service}.>")],
                ..Default::default()
            };
            assert!(
                c.js.create_stream(create).await.is_err(),
                "{service} created a stream"
            );
            c.refused(service, &format!("$JS.API.STREAM.CREATE.{name}"))
                .await;
        }
    });
    futures::future::join_all(checks).await;

    assert_eq!(stream_messages(&op, "MD").await, 1, "MD keeps its book");
    let md = op.js.get_stream("MD").await.expect("MD");
    assert_eq!(md.cached_info().config.subjects, ["md.>"]);
    for s in ["SYS", "KV_arb_config"] {
        assert!(op.js.get_stream(s).await.is_ok(), "{s} is gone");
    }
    op.drain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_cannot_subscribe_to_another_users_inbox() {
    let nats = server_with_streams().await;
    let op = operator(&nats).await;
    let mut feed = Client::connect(&nats, "feed").await;

    // Its own inbox first: the server takes a connection's subscriptions in
    // order, so once it has refused the later ones it has this one.
    let mut own = feed
        .client
        .subscribe("_INBOX.feed.probe")
        .await
        .expect("its own inbox");
    let mut theirs = feed
        .client
        .subscribe("_INBOX.detector.>")
        .await
        .expect("the client sends the subscription");
    feed.refused("subscribing to the detector's inbox", "_INBOX.detector.>")
        .await;
    // A single token of it is refused too.
    let mut one = feed
        .client
        .subscribe("_INBOX.detector.abc")
        .await
        .expect("the client sends the subscription");
    feed.refused("subscribing to a detector reply", "_INBOX.detector.abc")
        .await;

    // A reply for the detector, then one for the feed: once the feed has
    // its own, the detector's would have come before it (one publisher,
    // one receiving connection: in order).
    op.client
        .publish("_INBOX.detector.abc", "for the detector".into())
        .await
        .unwrap();
    op.client
        .publish("_INBOX.feed.probe", "for the feed".into())
        .await
        .unwrap();
    op.client.flush().await.unwrap();
    let probe = tokio::time::timeout(WAIT, own.next())
        .await
        .expect("the feed gets its own reply")
        .expect("subscription open");
    assert_eq!(&probe.payload[..], b"for the feed");
    for sub in [&mut theirs, &mut one] {
        let got = tokio::time::timeout(Duration::from_millis(1), sub.next()).await;
        assert!(
            !matches!(got, Ok(Some(_))),
            "the feed read the detector's reply"
        );
    }
    op.drain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tap_user_cannot_publish_anything() {
    let nats = server_with_streams().await;
    let op = operator(&nats).await;
    let mut tap = Client::connect(&nats, "tap").await;
    let mut books = tap.client.subscribe("md.>").await.expect("tap reads md.>");
    tap.client.flush().await.expect("flush");

    let subjects = [
        "md.book.sim-a.BTC-USD",
        "md.status.sim-a",
        "arb.opp.cross.x",
        "exec.order.x.BTC-USD",
        "exec.trade.cross",
        "sys.state.tap",
        "replay.r1.md.book.sim-a.BTC-USD",
        "$KV.arb_config.trading_state",
        "$JS.API.INFO",
        "$JS.API.STREAM.INFO.MD",
        "_INBOX.tap.x",
    ];
    for subject in subjects {
        tap.client
            .publish(subject, bytes::Bytes::from_static(b"{}"))
            .await
            .expect("the client sends it");
        tap.refused("the tap user publishing", subject).await;
    }
    for s in ["MD", "ARB", "EXEC", "SYS", "KV_arb_config"] {
        assert_eq!(stream_messages(&op, s).await, 0, "{s} stored a tap message");
    }
    // A JetStream request is a publish too.
    assert!(tap.js.get_stream("MD").await.is_err());

    // It reads what it may.
    publish_a_book(&op).await;
    let got = tokio::time::timeout(WAIT, books.next())
        .await
        .expect("tap reads the book")
        .expect("subscription open");
    assert!(got.subject.starts_with("md.book."));
    op.drain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_reads_its_config_bucket_but_cannot_write_it() {
    let nats = server_with_streams().await;
    let op = operator(&nats).await;
    let mut exe = Client::connect(&nats, "executor").await;
    let store = exe
        .js
        .get_key_value("arb_config")
        .await
        .expect("the executor opens arb_config");
    assert!(
        store.put("trading_state", "halted".into()).await.is_err(),
        "the executor wrote arb_config"
    );
    exe.refused("writing arb_config", "$KV.arb_config.trading_state")
        .await;
    assert_eq!(stream_messages(&op, "KV_arb_config").await, 0);
    op.drain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_user_reads_any_stream_and_publishes_only_under_replay() {
    let nats = server_with_streams().await;
    let op = operator(&nats).await;
    publish_a_book(&op).await;
    // A run's streams are the operator's to make.
    let mut args = strings(&["streams", "--ensure", "--subject-prefix", "replay.r1"]);
    args.extend(stream_limit_args());
    let mut arbctl = Proc::spawn(
        "arbctl",
        &args,
        &env_as(&nats, "arbctl", &admin_database_url()),
    );
    let status = arbctl.exit_within(WAIT).await.expect("arbctl exits");
    assert!(status.success(), "{}", arbctl.log_text());

    let mut replay = Client::connect(&nats, "replay").await;
    // Reads history: an ordered consumer on MD, a message by sequence.
    let md = replay
        .js
        .get_stream("MD")
        .await
        .expect("replay looks MD up");
    let consumer = md
        .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
        .await
        .expect("replay reads MD with an ordered consumer");
    let mut msgs = consumer.messages().await.expect("messages");
    let book = tokio::time::timeout(WAIT, msgs.next())
        .await
        .expect("a book within the wait")
        .expect("consumer open")
        .expect("a book");
    assert!(md.get_raw_message(1).await.is_ok(), "replay reads MD #1");

    // Publishes it under its run.
    let target = format!("replay.r1.{}", book.subject);
    let ack = replay
        .js
        .publish(target.clone(), book.payload.clone())
        .await
        .expect("publish")
        .await;
    assert!(ack.is_ok(), "replay's {target} was refused: {ack:?}");
    assert_eq!(stream_messages(&op, "REPLAY_R1_MD").await, 1);

    // Nothing outside replay.>.
    let ack = replay
        .js
        .publish(book.subject.to_string(), book.payload.clone())
        .await;
    let acked = match ack {
        Ok(f) => f.await.is_ok(),
        Err(_) => false,
    };
    assert!(!acked, "JetStream acknowledged replay's {}", book.subject);
    replay
        .refused("replay publishing a live book", &book.subject)
        .await;
    assert_eq!(stream_messages(&op, "MD").await, 1);
    op.drain().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_can_create_purge_and_delete_streams() {
    let nats = server_with_streams().await;
    let op = operator(&nats).await;
    let config = jetstream::stream::Config {
        name: "OPERATOR_OWN".into(),
        subjects: vec!["operatorown.>".into()],
        ..Default::default()
    };
    op.js
        .create_stream(config)
        .await
        .expect("the operator creates a stream");
    publish_a_book(&op).await;
    let mut md = op.js.get_stream("MD").await.expect("MD");
    md.purge().await.expect("the operator purges MD");
    assert_eq!(md.info().await.expect("info").state.messages, 0);
    op.js
        .delete_stream("OPERATOR_OWN")
        .await
        .expect("the operator deletes a stream");
    assert!(op.js.get_stream("OPERATOR_OWN").await.is_err());
    assert!(
        !nats.log_text().contains("Violation"),
        "the operator was refused: {}",
        nats.log_text()
    );
    op.drain().await;
}

/// The unprefixed stream names the permissions are written for are the
/// contract's.
#[test]
fn the_permissions_name_the_contracts_streams() {
    let conf = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../nats/nats-server.conf"),
    )
    .expect("nats/nats-server.conf");
    let subjects = arb_contract::Subjects::default();
    for kind in StreamKind::ALL {
        let name = subjects.stream_name(kind);
        assert!(
            conf.contains(&format!("$JS.API.STREAM.INFO.{name}\"")),
            "no rule names the stream {name}"
        );
    }
    assert!(conf.contains(&format!(
        "KV_{}",
        subjects.bucket_name(arb_testkit::CONFIG_BUCKET)
    )));
}
