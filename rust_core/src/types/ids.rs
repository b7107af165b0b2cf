//! Short identifiers stored inline (`Copy`, no heap): symbols, venues, trade ids.

use std::fmt;

use crate::error::{CoreError, CoreResult};

/// An ASCII string of at most `N` printable, non-space characters, stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShortStr<const N: usize> {
    len: u8,
    bytes: [u8; N],
}

impl<const N: usize> ShortStr<N> {
    /// Validates and stores `text`; `field` names it in errors.
    pub fn new(field: &'static str, text: &str) -> CoreResult<Self> {
        let b = text.as_bytes();
        if b.is_empty() || b.len() > N || N > u8::MAX as usize {
            return Err(CoreError::invalid(
                field,
                format!("{text:?} must be 1 to {N} characters"),
            ));
        }
        if !b.iter().all(u8::is_ascii_graphic) {
            return Err(CoreError::invalid(
                field,
                format!("{text:?} must be printable ASCII without spaces"),
            ));
        }
        let mut bytes = [0_u8; N];
        bytes[..b.len()].copy_from_slice(b);
        Ok(Self {
            len: b.len() as u8,
            bytes,
        })
    }

    /// The text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl<const N: usize> fmt::Display for ShortStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<const N: usize> fmt::Debug for ShortStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// A ticker, e.g. `AAPL`, `BTC/USD`, `ESZ6` (at most 23 characters).
pub type Symbol = ShortStr<23>;
/// A venue, e.g. `XNAS`, `ALPACA`, `SIM` (at most 23 characters).
pub type Venue = ShortStr<23>;
/// A venue's trade id (at most 39 characters, so UUIDs fit).
pub type TradeId = ShortStr<39>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_length_and_characters() {
        assert_eq!(
            Symbol::new("symbol", "BTC/USD").unwrap().as_str(),
            "BTC/USD"
        );
        assert!(Symbol::new("symbol", "").is_err());
        let e = Symbol::new("symbol", "A B").unwrap_err();
        assert!(e.to_string().starts_with("invalid symbol"));
        assert!(Symbol::new("symbol", &"X".repeat(24)).is_err());
        assert!(TradeId::new("trade_id", "0f8fad5b-d9cb-469f-a165-70867728950e").is_ok());
        assert_eq!(std::mem::size_of::<Symbol>(), 24);
    }
}
