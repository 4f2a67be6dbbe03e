//! A test's own bus and database, set up together and torn down together,
//! and the arb-sink most end-to-end tests run on them.

use crate::bus::TestBus;
use crate::db::TestDb;
use crate::proc::Proc;

/// A [`TestBus`] and a [`TestDb`] of the test's own, both named after `name`.
pub async fn bus_and_db(name: &str) -> (TestBus, TestDb) {
    tokio::join!(TestBus::new(name), TestDb::new(name))
}

/// [`bus_and_db`] with an arb-sink already started on them ([`Proc::sink`]).
pub async fn with_sink(name: &str) -> (TestBus, TestDb, Proc) {
    let (tb, db) = bus_and_db(name).await;
    let sink = Proc::sink(&tb, &db.url);
    (tb, db, sink)
}

/// The end of a sink test: `sink` stops cleanly on SIGTERM, then the
/// test's streams and database go.
pub async fn teardown(sink: &mut Proc, tb: TestBus, db: TestDb) {
    sink.stop().await;
    tb.cleanup().await;
    db.cleanup().await;
}
