//! The tests' kit, one for every crate (a dev-dependency only): a private
//! `nats-server` started from the repo's `nats/` config ([`nats`]), a
//! subject prefix of a test's own on the shared server ([`bus`]), fresh
//! databases ([`db`]), what tests publish ([`messages`]), the real binaries as child processes ([`proc`]),
//! readiness waits instead of sleeps ([`wait`]), a TCP proxy to cut
//! ([`proxy`]), and a mock WebSocket server for the venue adapters ([`ws`]).
//!
//! Tests honour `NATS_URL` and `DATABASE_URL`; a test that needs a service
//! fails with a message that says so when it is missing.
#![allow(unreachable_pub)]

pub mod args;
pub mod bus;
pub mod db;
pub mod fixture;
pub mod messages;
pub mod nats;
pub mod proc;
pub mod proxy;
pub mod wait;
pub mod ws;

pub use args::{detector_args, env, env_on, sim_feed_args, sink_args, stream_limit_args, strings};
pub use bus::{
    CATCH_UP, CONFIG_BUCKET, TestBus, nats_url, subscribe, test_prefix, test_stream_args,
};
pub use db::{TestDb, admin_database_url};
pub use fixture::{bus_and_db, teardown, with_sink};
pub use nats::{NatsServer, NatsUser};
pub use proc::{Proc, bin};
pub use proxy::CutProxy;
pub use wait::{WAIT, first_heartbeat, wait_until};

/// End-to-end tests that differ only in what they run: each `name: body;`
/// becomes a multi-threaded `#[tokio::test]` that awaits `body`.
#[macro_export]
macro_rules! e2e_tests {
    ($($name:ident: $body:expr;)+) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            $body.await;
        }
    )+};
}

/// A name unique to this test run.
pub fn unique(name: &str) -> String {
    format!("{name}_{}", uuid::Uuid::now_v7().simple()).to_lowercase()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}
