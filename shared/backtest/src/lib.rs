//! Backtests (issue 13): the detector ([`arb_detect`]) and the paper
//! executor ([`arb_exec`]) run together in one process on event time, over
//! books loaded from history ([`run`]). No clock, no I/O, no randomness that
//! is not seeded: the same books and parameters give the same events, byte
//! for byte, and the same hash ([`record`]). [`sweep`] expands a parameter
//! grid; [`result`] is what a job stores and a report is drawn from.
#![forbid(unsafe_code)]

pub mod record;
pub mod result;
pub mod run;
pub mod sweep;

pub use result::{EpisodeSpan, JobResult, Summary, TradePoint};
pub use run::{Input, Outcome, Params, Run};

// Only the integration tests use it.
#[cfg(test)]
use arb_venues as _;
