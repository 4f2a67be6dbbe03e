//! The venues: one folder each with the same files, and the local order
//! book they all keep.
//!
//! | file | role |
//! |---|---|
//! | `mod.rs` | the adapter: subscribe, read frames, keep the books, ask for resyncs |
//! | `wire.rs` | the venue's frames, named by their source (`KrakenBookMsg`), converted with `TryFrom` |
//! | `symbols.rs` | the venue's spelling of symbols and assets ↔ the contract's |
//! | `sync.rs` | the book synchronization state machine (sequence numbers, checksums) |
//! | `fees.rs` | the venue's base-tier fee schedule, the default where configuration is silent |
//!
//! Shared by all of them: the [`Adapter`] shape with [`BookOut`] (`adapter.rs`),
//! the per-symbol [`SymbolTable`] (`symbol_table.rs`), and how times and
//! levels are read (`wire.rs`).
//!
//! Pure: no sockets and no clock. `arb-feed` drives the adapters; the
//! executor will add order entry next to them. The protocol notes the code
//! follows are in `docs/exchanges.md`.
#![forbid(unsafe_code)]

pub mod adapter;
pub mod binance;
pub mod book;
pub mod coinbase;
pub mod error;
pub mod fees;
pub mod kraken;
pub mod sim;
pub mod symbol_table;
#[cfg(test)]
mod testing;
pub mod wire;

pub use adapter::{Action, Adapter, BookOut, BookSettings};
pub use error::{ApiError, ApiResult, FrameError, FrameResult};
pub use symbol_table::SymbolTable;
