//! Rolling highest/lowest: the Donchian channel.

use std::collections::VecDeque;

use super::rounding::{raw_to_f64, saturate_i64};
use super::{check_period, check_range, BarInput, Indicator};
use crate::error::CoreResult;

/// Donchian channel over `period` bars: `upper` = highest high, `lower` = lowest low,
/// `middle` = `(upper + lower) / 2` rounded half to even onto the 10^-9 grid. All exact.
///
/// Two monotonic deques of `(index, value)` give O(1) amortised updates; their capacity
/// is reserved at construction, so updates never allocate. `update_raw(x)` treats `x` as
/// both high and low (rolling max/min of one series). Ready after `period` inputs.
#[derive(Debug, Clone)]
pub struct Donchian {
    period: usize,
    /// Decreasing values: the front is the window's maximum.
    highs: VecDeque<(u64, i64)>,
    /// Increasing values: the front is the window's minimum.
    lows: VecDeque<(u64, i64)>,
    count: u64,
}

impl Donchian {
    pub fn new(period: usize) -> CoreResult<Self> {
        let period = check_period("period", period)?;
        Ok(Self {
            period,
            highs: VecDeque::with_capacity(period + 1),
            lows: VecDeque::with_capacity(period + 1),
            count: 0,
        })
    }

    /// One bar's high and low (`high < low` is an input error).
    #[inline]
    pub fn update_bar(&mut self, high: i64, low: i64) -> CoreResult<()> {
        check_range(high, low)?;
        self.push(high, low);
        Ok(())
    }

    /// One value of a single series (high = low = `raw`).
    #[inline]
    pub fn update_raw(&mut self, raw: i64) {
        self.push(raw, raw);
    }

    #[inline]
    fn push(&mut self, high: i64, low: i64) {
        let idx = self.count;
        // Drop what leaves the window: indices <= idx - period.
        if let Some(expired) = idx.checked_sub(self.period as u64) {
            if self.highs.front().is_some_and(|&(i, _)| i <= expired) {
                self.highs.pop_front();
            }
            if self.lows.front().is_some_and(|&(i, _)| i <= expired) {
                self.lows.pop_front();
            }
        }
        while self.highs.back().is_some_and(|&(_, v)| v <= high) {
            self.highs.pop_back();
        }
        self.highs.push_back((idx, high));
        while self.lows.back().is_some_and(|&(_, v)| v >= low) {
            self.lows.pop_back();
        }
        self.lows.push_back((idx, low));
        self.count += 1;
    }

    /// Highest high of the window (raw units).
    #[inline]
    pub fn upper_raw(&self) -> Option<i64> {
        if self.is_ready() {
            self.highs.front().map(|&(_, v)| v)
        } else {
            None
        }
    }

    /// Lowest low of the window (raw units).
    #[inline]
    pub fn lower_raw(&self) -> Option<i64> {
        if self.is_ready() {
            self.lows.front().map(|&(_, v)| v)
        } else {
            None
        }
    }

    /// `(upper + lower) / 2`, half to even (raw units).
    #[inline]
    pub fn middle_raw(&self) -> Option<i64> {
        let (u, l) = (self.upper_raw()?, self.lower_raw()?);
        // Halving with ties to even, by shift: (u + l) fits in 65 bits.
        let sum = i128::from(u) + i128::from(l);
        let half = sum >> 1; // floor
        let tie_up = sum & 1 == 1 && half & 1 == 1;
        Some(saturate_i64(if tie_up { half + 1 } else { half }))
    }

    pub fn period(&self) -> usize {
        self.period
    }
}

impl Indicator for Donchian {
    fn name(&self) -> &'static str {
        "DONCHIAN"
    }
    #[inline]
    fn is_ready(&self) -> bool {
        self.count >= self.period as u64
    }
    fn count(&self) -> u64 {
        self.count
    }
    #[inline]
    fn value(&self) -> Option<f64> {
        self.middle_raw().map(raw_to_f64)
    }
    fn reset(&mut self) {
        self.highs.clear();
        self.lows.clear();
        self.count = 0;
    }
    fn update_bar_input(&mut self, bar: &BarInput) -> CoreResult<()> {
        self.update_bar(bar.high, bar.low)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_extremes() {
        let xs = [5, 1, 4, 4, 9, 2, 2, 2, 7, -3];
        let mut d = Donchian::new(3).unwrap();
        for (i, &x) in xs.iter().enumerate() {
            d.update_raw(x);
            if i < 2 {
                assert_eq!(d.upper_raw(), None);
                continue;
            }
            let w = &xs[i - 2..=i];
            assert_eq!(d.upper_raw(), w.iter().copied().max());
            assert_eq!(d.lower_raw(), w.iter().copied().min());
        }
        assert!(d.highs.len() <= 3 && d.lows.len() <= 3);
        assert!(d.update_bar(1, 2).is_err());
    }

    #[test]
    fn middle_ties_to_even() {
        let mut d = Donchian::new(2).unwrap();
        d.update_bar(3, 0).unwrap();
        d.update_bar(2, 1).unwrap();
        assert_eq!(d.middle_raw(), Some(2)); // 1.5 -> 2
        d.update_bar(5, 0).unwrap(); // window: (2,1),(5,0) -> 2.5 -> 2
        assert_eq!(d.middle_raw(), Some(2));
    }
}
