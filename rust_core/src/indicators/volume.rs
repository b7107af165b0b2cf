//! Volume-weighted average price.

use super::rounding::{div_round_half_even, raw_to_f64, saturate_i64};
use super::{check_range, BarInput, Indicator};
use crate::error::{CoreError, CoreResult};

/// Cumulative VWAP of the typical price `(high + low + close) / 3`, optionally reset at
/// session boundaries.
///
/// `VWAP = Σ (H + L + C)·V / (3 · Σ V)`: both sums are exact `i128` (no division per bar),
/// and the result is rounded half to even onto the 10^-9 grid. With a session length
/// `session_ns` the sums restart whenever `floor((ts − offset_ns) / session_ns)` changes
/// (e.g. `86_400·10^9` with offset 0 resets at UTC midnight); without one they run until
/// `reset()`. Ready once the current session has seen a positive volume. Negative volume
/// and `high < low` are input errors; zero volume is accepted and adds nothing.
#[derive(Debug, Clone)]
pub struct Vwap {
    session_ns: Option<u64>,
    offset_ns: i64,
    session: Option<i128>,
    pv: i128,
    volume: i128,
    count: u64,
}

impl Vwap {
    /// `session_ns`: session length in nanoseconds (`None`: never reset by time).
    pub fn new(session_ns: Option<u64>, offset_ns: i64) -> CoreResult<Self> {
        if session_ns == Some(0) {
            return Err(CoreError::invalid("session_ns", "must be positive"));
        }
        Ok(Self {
            session_ns,
            offset_ns,
            session: None,
            pv: 0,
            volume: 0,
            count: 0,
        })
    }

    #[inline]
    pub fn update_bar(
        &mut self,
        ts_ns: u64,
        high: i64,
        low: i64,
        close: i64,
        volume: i64,
    ) -> CoreResult<()> {
        check_range(high, low)?;
        if volume < 0 {
            return Err(CoreError::invalid(
                "volume",
                format!("must be >= 0, got {volume} raw units"),
            ));
        }
        if let Some(len) = self.session_ns {
            let key = (i128::from(ts_ns) - i128::from(self.offset_ns)).div_euclid(i128::from(len));
            if self.session != Some(key) {
                self.session = Some(key);
                self.pv = 0;
                self.volume = 0;
            }
        }
        let typical3 = i128::from(high) + i128::from(low) + i128::from(close);
        let pv = self
            .pv
            .checked_add(typical3 * i128::from(volume))
            .ok_or(CoreError::Overflow {
                operation: "VWAP price·volume sum",
            })?;
        self.pv = pv;
        self.volume += i128::from(volume);
        self.count += 1;
        Ok(())
    }

    /// The VWAP on the 10^-9 grid (raw units), rounded half to even.
    #[inline]
    pub fn value_raw(&self) -> Option<i64> {
        self.is_ready()
            .then(|| saturate_i64(div_round_half_even(self.pv, 3 * self.volume)))
    }

    /// Cumulative volume of the current session (raw units).
    pub fn volume_raw(&self) -> i128 {
        self.volume
    }

    pub fn session_ns(&self) -> Option<u64> {
        self.session_ns
    }

    pub fn offset_ns(&self) -> i64 {
        self.offset_ns
    }
}

impl Indicator for Vwap {
    fn name(&self) -> &'static str {
        "VWAP"
    }
    #[inline]
    fn is_ready(&self) -> bool {
        self.volume > 0
    }
    fn count(&self) -> u64 {
        self.count
    }
    #[inline]
    fn value(&self) -> Option<f64> {
        self.value_raw().map(raw_to_f64)
    }
    fn reset(&mut self) {
        self.session = None;
        self.pv = 0;
        self.volume = 0;
        self.count = 0;
    }
    fn update_bar_input(&mut self, bar: &BarInput) -> CoreResult<()> {
        self.update_bar(bar.ts_ns, bar.high, bar.low, bar.close, bar.volume)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: i64 = 1_000_000_000;
    const DAY: u64 = 86_400_000_000_000;

    #[test]
    fn weighted_typical_price() {
        let mut v = Vwap::new(None, 0).unwrap();
        v.update_bar(0, 12 * U, 9 * U, 9 * U, 0).unwrap();
        assert!(!v.is_ready());
        v.update_bar(0, 12 * U, 9 * U, 9 * U, 2 * U).unwrap(); // tp 10
        v.update_bar(0, 22 * U, 19 * U, 19 * U, 6 * U).unwrap(); // tp 20
        assert_eq!(v.value_raw(), Some(17_500_000_000));
        assert!(v.update_bar(0, U, U, U, -1).is_err());
        assert_eq!(v.count(), 3);
    }

    #[test]
    fn session_reset() {
        let mut v = Vwap::new(Some(DAY), 0).unwrap();
        v.update_bar(DAY - 1, 3 * U, 3 * U, 3 * U, U).unwrap();
        v.update_bar(DAY, 6 * U, 6 * U, 6 * U, U).unwrap();
        assert_eq!(v.value_raw(), Some(6 * U));
        v.update_bar(DAY + 5, 3 * U, 3 * U, 3 * U, 2 * U).unwrap();
        assert_eq!(v.value_raw(), Some(4 * U));
        assert!(Vwap::new(Some(0), 0).is_err());
        // offset_ns = 1h: sessions start at 01:00 UTC.
        let hour = 3_600_000_000_000u64;
        let mut w = Vwap::new(Some(DAY), 3_600_000_000_000).unwrap();
        w.update_bar(0, 3 * U, 3 * U, 3 * U, U).unwrap();
        w.update_bar(hour - 1, 6 * U, 6 * U, 6 * U, U).unwrap();
        assert_eq!(w.value_raw(), Some(4_500_000_000));
        w.update_bar(hour, 9 * U, 9 * U, 9 * U, U).unwrap();
        assert_eq!(w.value_raw(), Some(9 * U));
    }
}
