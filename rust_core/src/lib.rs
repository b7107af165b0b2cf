//! pi5trading-core: the engine's hot path in Rust.
//!
//! This file is the table of contents: module declarations, re-exports and the
//! `#[pymodule]` wiring. Logic lives in the modules; PyO3 lives only in `python/`.

pub mod book;
pub mod build;
pub mod bus;
pub mod clock;
pub mod engine;
pub mod error;
pub mod indicators;
pub mod orders;
pub mod portfolio;
pub mod records;
pub mod risk;
pub mod types;
pub mod venue;

pub use error::CoreError;

/// A property test's case count: its CI-sized default, or `PROPTEST_CASES` when set (the
/// long run, `make proof`). Tests without their own count read `PROPTEST_CASES` through
/// proptest's default configuration already.
#[cfg(test)]
pub(crate) fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[cfg(feature = "python")]
mod python;

#[cfg(feature = "python")]
use pyo3::prelude::*;

/// `pi5trading._core`: the extension module.
#[cfg(feature = "python")]
#[pymodule]
#[pyo3(name = "_core")]
fn core_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    python::register(m)
}
