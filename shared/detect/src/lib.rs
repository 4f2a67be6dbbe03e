//! Pure opportunity detection, shared by `arb-detector` and by backtests:
//! the latest book per venue and symbol ([`book_store`]), episodes
//! ([`episode`]), the detector core ([`core`]) that owns both, and the
//! strategies that only evaluate ([`cross`], [`triangular`]).
//!
//! No clock and no I/O: event time comes from the books, ids derive from
//! the inputs, so the same books give the same opportunities, byte for byte.
#![forbid(unsafe_code)]

pub mod book_store;
pub mod core;
pub mod cross;
pub mod episode;
pub mod rounding;
pub mod settings;
pub mod triangular;

pub use book_store::BookStore;
pub use core::{Detector, DetectorCore, Strategy};
pub use cross::{Cross, CrossDetector};
pub use episode::{Episodes, Evaluation, Tolerance};
pub use rounding::{BPS_DP, PRICE_DP, QTY_DP};
pub use settings::{DetectorConfig, Fees};
pub use triangular::{Triangular, TriangularDetector};

/// The hash map of the lookups made on every book (venue names, symbols,
/// opportunity keys): foldhash with its fixed seed, where std's SipHash was
/// a tenth of a backtest's time. The keys come from configuration and the
/// feeds, so resistance to chosen-key flooding buys nothing here. A fixed
/// seed also makes iteration order the same in every process; no output
/// may depend on it all the same (iterate a `BTreeMap`, or sort, for that).
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;

/// Which detector to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyKind {
    /// Buy on one venue's asks, sell on another venue's bids, same symbol.
    Cross,
    /// A cycle of three symbols on one venue, from and back to a start currency.
    Triangular,
}

impl StrategyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StrategyKind::Cross => "cross",
            StrategyKind::Triangular => "triangular",
        }
    }
}

/// Builds the detector a strategy names.
pub fn detector(strategy: StrategyKind, cfg: DetectorConfig) -> Box<dyn Detector> {
    match strategy {
        StrategyKind::Cross => Box::new(CrossDetector::new(cfg)),
        StrategyKind::Triangular => Box::new(TriangularDetector::new(cfg)),
    }
}
