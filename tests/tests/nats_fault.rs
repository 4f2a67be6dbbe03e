//! A NATS server of the test's own, started from `nats/nats-server.conf`,
//! killed with SIGKILL while the sink runs, then restarted on the same store:
//! the sink reconnects by itself and nothing is lost or duplicated.
#![allow(unused_crate_dependencies)]

use std::path::Path;
use std::time::Duration;

use arb_contract::codec::ContentType;
use arb_contract::sample;
use arb_contract::time::from_nanos;
use arb_runtime::bus::Bus;
use arb_runtime::config::NatsArgs;
use arb_testkit::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The project's config with this test's own store directory (the port and
/// monitor port are overridden on the command line).
fn test_config(store: &Path) -> std::path::PathBuf {
    let conf = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../nats/nats-server.conf"),
    )
    .expect("nats/nats-server.conf");
    assert!(
        conf.contains("store_dir: \"/data\""),
        "the config sets the JetStream store dir"
    );
    let conf = conf.replace(
        "store_dir: \"/data\"",
        &format!("store_dir: {:?}", store.display().to_string()),
    );
    let path = store.with_extension("conf");
    std::fs::write(&path, conf).unwrap();
    path
}

fn nats_server(port: u16, monitor: u16, store: &Path) -> tokio::process::Child {
    let conf = test_config(store);
    let exe = [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("this test needs the nats-server binary (apt-get install nats-server)");
    tokio::process::Command::new(exe)
        .args([
            "-c",
            conf.to_str().unwrap(),
            "-a",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-m",
            &monitor.to_string(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start nats-server")
}

async fn connect(args: &NatsArgs) -> Bus {
    Bus::connect(args, "fault-test", Some(Duration::from_secs(20)))
        .await
        .expect("own nats-server up")
}

async fn publish(bus: &Bus, from: u64, to: u64) {
    let ts = from_nanos(1_763_900_000_000_000_000);
    let mut p = bus.publisher(256);
    for n in from..to {
        let m = sample::mixed(n, ts + chrono::Duration::milliseconds(n as i64));
        p.publish_raw(
            m.subject(&bus.subjects).unwrap(),
            arb_runtime::headers::to_map(&m.headers(ContentType::Msgpack)),
            m.encode(ContentType::Msgpack).unwrap(),
        )
        .await
        .unwrap();
    }
    p.flush().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_killed_and_restarted_the_sink_recovers_by_itself() {
    let store = std::env::temp_dir().join(unique("nats_store"));
    let (port, monitor) = (free_port(), free_port());
    let mut server = nats_server(port, monitor, &store);
    let url = format!("nats://127.0.0.1:{port}");
    let args = NatsArgs {
        nats_url: url.clone(),
        ..NatsArgs::default()
    };
    let bus = connect(&args).await;
    bus.ensure_streams(&test_stream_args()).await.unwrap();

    let db = TestDb::new("nats_fault").await;
    let environment = vec![("NATS_URL", url.clone()), ("DATABASE_URL", db.url.clone())];
    let mut sink = Proc::spawn("arb-sink", &sink_args("sink"), &environment);

    publish(&bus, 0, 2_000).await;
    wait_until(
        "the first 2,000 stored",
        Duration::from_secs(60),
        || async { db.producer_rows().await == 2_000 },
    )
    .await;

    server.kill().await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        sink.is_running(),
        "the sink does not exit when NATS goes away"
    );
    let mut server = nats_server(port, monitor, &store);
    let bus = connect(&args).await;

    publish(&bus, 2_000, 4_000).await;
    wait_until(
        "everything stored after the restart",
        Duration::from_secs(90),
        || async { db.producer_rows().await >= 4_000 },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        db.producer_rows().await,
        4_000,
        "nothing lost, nothing duplicated"
    );
    assert!(sink.terminate().await.success());

    bus.drain().await;
    server.kill().await.unwrap();
    db.cleanup().await;
    let _ = std::fs::remove_dir_all(&store);
}
