//! The arbitrade wire contract and runtime helpers.
//!
//! Every binary of the pipeline depends on this crate and on nothing else of
//! the others': the message types ([`model`]), where they travel
//! ([`subject`]), how they are encoded ([`codec`]), and the NATS/JetStream
//! plumbing ([`bus`]) with configuration, shutdown and tracing helpers.
#![forbid(unsafe_code)]

pub mod bus;
pub mod codec;
pub mod config;
#[cfg(feature = "db")]
pub mod db;
pub mod error;
pub mod model;
pub mod sample;
pub mod secret;
pub mod shutdown;
pub mod subject;
pub mod symbol;
pub mod telemetry;
pub mod time;

pub use codec::{ContentType, Decoded, Message};
pub use error::{BusError, CodecError, SubjectError};
pub use model::*;
pub use subject::Subjects;
pub use symbol::Symbol;
