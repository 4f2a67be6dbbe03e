//! What the sink has done, counted by the pipelines as they go and read by
//! the heartbeat (`sys.state.<service>`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::rows::Table;

/// What the sink has done, for the heartbeat.
#[derive(Default)]
pub struct Counters {
    rows: [AtomicU64; Table::ALL.len()],
    pub messages: AtomicU64,
    pub batches: AtomicU64,
    pub dead_letters: AtomicU64,
    pub db_errors: AtomicU64,
    pub redelivered: AtomicU64,
}

impl Counters {
    pub(super) fn add_rows(&self, written: BTreeMap<Table, u64>) {
        for (t, n) in written {
            let i = Table::ALL.iter().position(|x| *x == t).unwrap_or(0);
            self.rows[i].fetch_add(n, Ordering::Relaxed);
        }
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        let mut m = BTreeMap::new();
        for (i, t) in Table::ALL.iter().enumerate() {
            m.insert(
                format!("rows.{}", t.name()),
                self.rows[i].load(Ordering::Relaxed),
            );
        }
        for (k, v) in [
            ("messages", &self.messages),
            ("batches", &self.batches),
            ("dead_letters", &self.dead_letters),
            ("errors.db", &self.db_errors),
            ("redelivered", &self.redelivered),
        ] {
            m.insert(k.to_owned(), v.load(Ordering::Relaxed));
        }
        m
    }
}
