//! End-to-end tests live in `tests/`; this library only compiles the README's
//! Rust examples as doctests (the test kit is `arb-testkit`).
#![allow(unused_crate_dependencies)] // the dependencies serve the test files in tests/

/// The README's Rust examples compile as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
