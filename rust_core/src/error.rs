//! One error enum for the core. No PyO3 here: `python/errors.rs` maps it once.

use thiserror::Error;

/// Every failure the core can report. Business outcomes (a risk denial, a rejected
/// order) are events, not errors; these are programming or input errors.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// A value given by the caller is invalid; `field` names what was wrong.
    #[error("invalid {field}: {message}")]
    InvalidInput {
        field: &'static str,
        message: String,
    },
    /// Fixed-point arithmetic would overflow; we never wrap money.
    #[error("arithmetic overflow in {operation}")]
    Overflow { operation: &'static str },
    /// An operation is not allowed in the current state (e.g. an illegal order transition).
    #[error("invalid state: {0}")]
    InvalidState(String),
}

impl CoreError {
    /// Shorthand for an input error naming the offending field.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field,
            message: message.into(),
        }
    }
}

/// Result alias for the core.
pub type CoreResult<T> = Result<T, CoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_field() {
        let e = CoreError::invalid("high", "must be >= open");
        assert_eq!(e.to_string(), "invalid high: must be >= open");
        let o = CoreError::Overflow {
            operation: "Price::add",
        };
        assert_eq!(o.to_string(), "arithmetic overflow in Price::add");
    }
}
