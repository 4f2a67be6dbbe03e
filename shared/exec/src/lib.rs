//! Pure execution logic, shared by the paper executor and by backtests (issue
//! 12): how a taker order fills against a book after a latency ([`fill`]),
//! the venue's size and price rules ([`rules`]), the pre-trade risk gate
//! ([`risk`]), balances that reconcile to the last unit ([`ledger`]), and
//! the runtime configuration the executor reads from NATS KV ([`settings`]).
//!
//! No clock, no I/O, no unseeded randomness: times are event times passed
//! in, jitter comes from a seeded generator, so a backtest decides as the
//! live run does.
#![forbid(unsafe_code)]
mod codes;
pub mod engine;
pub mod fill;
pub mod history;
pub mod latency;
pub mod ledger;
pub mod risk;
pub mod rules;
pub mod settings;

/// The hash map of the lookups made on every book (by venue name and
/// symbol): foldhash with its fixed seed, where std's SipHash was a tenth
/// of a backtest's time. The keys come from configuration and the feeds,
/// so resistance to chosen-key flooding buys nothing here. A fixed seed
/// also makes iteration order the same in every process; no output may
/// depend on it all the same.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
