//! `UnixNanos`: a UTC timestamp in nanoseconds since the UNIX epoch.

use std::fmt;

/// Nanoseconds since 1970-01-01T00:00:00Z. Every event carries one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixNanos(pub u64);

impl UnixNanos {
    /// The raw count of nanoseconds.
    #[inline]
    #[must_use]
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// `self + nanos`, or `None` past the end of `u64`.
    #[inline]
    #[must_use]
    pub const fn checked_add(self, nanos: u64) -> Option<Self> {
        match self.0.checked_add(nanos) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// Wall-clock now (UTC); 0 if the system clock is before 1970.
    #[must_use]
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}

impl From<u64> for UnixNanos {
    fn from(v: u64) -> Self {
        Self(v)
    }
}

impl fmt::Display for UnixNanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
