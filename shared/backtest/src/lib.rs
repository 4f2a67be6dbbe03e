//! Backtests (issue 13): the detector ([`arb_detect`]) and the paper
//! executor ([`arb_exec`]) run together in one process on event time, over
//! books loaded from history. No clock, no I/O, no randomness that is not
//! seeded: the same books and parameters give the same events, byte for
//! byte, and the same hash.
#![forbid(unsafe_code)]

pub mod result;

pub use result::{EpisodeSpan, JobResult, Summary, TradePoint};
