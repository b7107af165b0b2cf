//! The one mapping from `CoreError` to Python exceptions.
//!
//! The exception classes are defined in `pi5trading/exceptions.py`, where multiple
//! inheritance is natural (`InvalidInputError` is both a `Pi5TradingError` and a
//! `ValueError`); they are imported lazily, only when an error is raised.

use pyo3::prelude::*;

use crate::CoreError;

pyo3::import_exception!(pi5trading.exceptions, InvalidInputError);
pyo3::import_exception!(pi5trading.exceptions, ArithmeticOverflowError);
pyo3::import_exception!(pi5trading.exceptions, InvalidStateError);

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> Self {
        let msg = err.to_string();
        match err {
            CoreError::InvalidInput { .. } => InvalidInputError::new_err(msg),
            CoreError::Overflow { .. } => ArithmeticOverflowError::new_err(msg),
            CoreError::InvalidState(_) => InvalidStateError::new_err(msg),
        }
    }
}
