//! The arbitrade wire contract: the messages ([`model`]), where they travel
//! ([`subject`]), how they are encoded ([`codec`]) and checked
//! ([`validate`]), symbols, event time and derived ids.
//!
//! Pure data and functions: no NATS client, no async runtime, no command
//! line parser, no clock and no random source (a test checks the first
//! three with `cargo tree`, the last two by reading this crate's sources).
//! Every process of the pipeline, and a producer in another language that
//! follows the README's contract section, speaks what this crate defines.
#![forbid(unsafe_code)]

pub mod codec;
pub mod error;
pub mod fast;
pub mod ids;
pub mod model;
pub mod sample;
pub mod subject;
pub mod symbol;
pub mod time;
pub mod validate;

pub use codec::{ContentType, Decoded, Headers, Message, WireHeaders};
pub use error::{CodecError, SubjectError, ValidationError};
pub use ids::{IdGen, id_at, stable_hash};
pub use model::*;
pub use subject::Subjects;
pub use symbol::Symbol;
pub use validate::Validate;

// Used by the integration tests only.
#[cfg(test)]
use rand as _;
