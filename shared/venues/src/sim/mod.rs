//! The simulated venues (`sim-a`, `sim-b`, `sim-c` by default): a
//! deterministic generator of books for offline use, demos, tests and
//! backtests. There is no protocol to follow, so no wire, sync or symbol
//! files; the sim venues' fee is the configured default (0.10 %).

pub mod generator;

pub use generator::SimGenerator;

/// The venues simulated unless configured otherwise.
pub const DEFAULT_VENUES: [&str; 3] = ["sim-a", "sim-b", "sim-c"];
