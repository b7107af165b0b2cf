//! PyO3 bindings: thin wrappers, one file per domain. Nothing outside this folder imports pyo3.

mod bus;
mod clock;
mod engine;
mod errors;
mod indicators;
mod orders;
mod portfolio;
mod records;
mod risk;
mod sinks;
mod types;
mod venue;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::build;

/// Register every class, function and exception of `pi5trading._core`.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", build::VERSION)?;
    m.add_function(wrap_pyfunction!(py_build_info, m)?)?;
    types::register(m)?;
    clock::register(m)?;
    bus::register(m)?;
    indicators::register(m)?;
    orders::register(m)?;
    portfolio::register(m)?;
    venue::register(m)?;
    risk::register(m)?;
    engine::register(m)?;
    sinks::register(m)?;
    records::register(m)?;
    Ok(())
}

/// Version, target architecture, OS and build profile of the extension.
#[pyfunction]
#[pyo3(name = "build_info")]
fn py_build_info(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let info = build::build_info();
    let d = PyDict::new(py);
    d.set_item("version", info.version)?;
    d.set_item("target_arch", info.target_arch)?;
    d.set_item("target_os", info.target_os)?;
    d.set_item("profile", info.profile)?;
    Ok(d)
}
