//! `arb-detector`: reads order books (`md.book.>`) and feed states
//! (`md.status.>`), keeps the latest book per venue and symbol, and publishes
//! arbitrage opportunities net of taker fees and sized by depth on
//! `arb.opp.<kind>.<key>`, once per episode (open / update / close).
//!
//! The detectors ([`CrossDetector`], [`TriangularDetector`]) are pure
//! structs driven by [`Detector::on_book`]; [`run`] is the thin NATS loop
//! around them.
#![forbid(unsafe_code)]

pub mod book_store;
pub mod config;
pub mod cross;
pub mod episode;
pub mod error;
pub mod runner;
pub mod triangular;

use std::future::Future;

use arb_shared::{BookSnapshot, FeedStatus, Opportunity};

pub use book_store::BookStore;
pub use config::{Config, DetectorConfig, Fees, Strategy};
pub use cross::CrossDetector;
pub use episode::{Episodes, Evaluation, Tolerance};
pub use error::DetectorError;
pub use triangular::TriangularDetector;

// Only the benchmark uses them.
#[cfg(test)]
use bytes as _;
#[cfg(test)]
use hdrhistogram as _;

/// A pure opportunity detector: books and feed states in, episode messages
/// out. No clock reads and no I/O; the caller stamps receive and publish times.
pub trait Detector: Send {
    /// Takes the latest book of a venue and symbol; returns the episode
    /// messages (open / update / close) it causes.
    fn on_book(&mut self, book: &BookSnapshot) -> Vec<Opportunity>;

    /// The latest books and the episode tracker the defaults below work on.
    fn state(&mut self) -> (&mut BookStore, &mut Episodes);

    fn episodes(&self) -> &Episodes;

    /// A resync or disconnect closes the episodes that use the feed's books.
    fn on_status(&mut self, status: &FeedStatus) -> Vec<Opportunity> {
        let (store, episodes) = self.state();
        let hit = store.apply_status(status);
        if hit.is_empty() {
            return Vec::new();
        }
        let at = store.newest().unwrap_or(status.ts);
        episodes.close_where(at, |inputs, _| inputs.iter().any(|i| hit.contains(i)))
    }

    /// Closes the episodes that use a book now older than the age limit, at
    /// event time `at`; every `on_book` ends with it.
    fn close_stale(&mut self, at: arb_shared::time::Timestamp) -> Vec<Opportunity> {
        let (store, episodes) = self.state();
        match store.stale_before() {
            Some(cut) => episodes.close_stale(cut, at),
            None => Vec::new(),
        }
    }

    /// Closes every open episode (at shutdown), at the newest event time seen.
    fn close_all(&mut self) -> Vec<Opportunity> {
        let (store, episodes) = self.state();
        match store.newest() {
            Some(at) => episodes.close_where(at, |_, _| true),
            None => Vec::new(),
        }
    }

    fn open_episodes(&self) -> usize {
        self.episodes().open_count()
    }
}

/// Builds the detector the configuration names.
pub fn detector(strategy: Strategy, cfg: DetectorConfig) -> Box<dyn Detector> {
    match strategy {
        Strategy::Cross => Box::new(CrossDetector::new(cfg)),
        Strategy::Triangular => Box::new(TriangularDetector::new(cfg)),
    }
}

/// Runs the detector loop until `shutdown` resolves, then closes open
/// episodes, flushes publishes and drains the connection.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    runner::run(config, shutdown).await
}
