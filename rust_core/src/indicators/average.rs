//! Moving averages: simple (exact), weighted (exact) and exponential (f64).

use super::rounding::{div_round_half_even, raw_to_f64, saturate_i64};
use super::window::Window;
use super::{check_period, BarInput, Indicator};
use crate::error::CoreResult;

/// Simple moving average of the last `period` inputs.
///
/// Ready after `period` inputs. The window sum is an exact `i128`; the output is the
/// mean rounded half to even onto the 10^-9 grid, so it is the correctly rounded mean of
/// exactly the values in the window, whatever came before.
#[derive(Debug, Clone)]
pub struct Sma {
    period: usize,
    window: Window,
    sum: i128,
    count: u64,
}

impl Sma {
    /// An SMA over `period` inputs (`1..=MAX_PERIOD`).
    pub fn new(period: usize) -> CoreResult<Self> {
        let period = check_period("period", period)?;
        Ok(Self {
            period,
            window: Window::new(period),
            sum: 0,
            count: 0,
        })
    }

    /// Feed one raw value.
    #[inline]
    pub fn update_raw(&mut self, raw: i64) {
        if let Some(old) = self.window.push(raw) {
            self.sum -= i128::from(old);
        }
        self.sum += i128::from(raw);
        self.count += 1;
    }

    /// The mean on the 10^-9 grid (raw units), rounded half to even.
    #[inline]
    pub fn value_raw(&self) -> Option<i64> {
        self.window
            .is_full()
            .then(|| saturate_i64(div_round_half_even(self.sum, self.period as i128)))
    }

    /// The exact sum of the current window (raw units).
    pub fn sum_raw(&self) -> i128 {
        self.sum
    }

    pub fn period(&self) -> usize {
        self.period
    }
}

impl Indicator for Sma {
    fn name(&self) -> &'static str {
        "SMA"
    }
    #[inline]
    fn is_ready(&self) -> bool {
        self.window.is_full()
    }
    fn count(&self) -> u64 {
        self.count
    }
    #[inline]
    fn value(&self) -> Option<f64> {
        self.value_raw().map(raw_to_f64)
    }
    fn reset(&mut self) {
        self.window.clear();
        self.sum = 0;
        self.count = 0;
    }
    fn update_bar_input(&mut self, bar: &BarInput) -> CoreResult<()> {
        self.update_raw(bar.close);
        Ok(())
    }
}

/// Linearly weighted moving average: the newest of `period` inputs has weight `period`,
/// the oldest weight 1; divided by `period·(period+1)/2`.
///
/// Ready after `period` inputs. Both the plain and the weighted window sums are exact
/// `i128`, updated in O(1) (`W' = W − S + n·x`), and the output is rounded half to even
/// onto the 10^-9 grid.
#[derive(Debug, Clone)]
pub struct Wma {
    period: usize,
    window: Window,
    sum: i128,
    weighted: i128,
    count: u64,
}

impl Wma {
    pub fn new(period: usize) -> CoreResult<Self> {
        let period = check_period("period", period)?;
        Ok(Self {
            period,
            window: Window::new(period),
            sum: 0,
            weighted: 0,
            count: 0,
        })
    }

    #[inline]
    pub fn update_raw(&mut self, raw: i64) {
        let x = i128::from(raw);
        let len_before = self.window.len() as i128;
        match self.window.push(raw) {
            None => {
                // Filling: the new value takes the next weight.
                self.weighted += (len_before + 1) * x;
                self.sum += x;
            }
            Some(old) => {
                // Every weight drops by one (−S, which also drops the oldest), then the
                // newest enters with weight n.
                self.weighted += self.period as i128 * x - self.sum;
                self.sum += x - i128::from(old);
            }
        }
        self.count += 1;
    }

    #[inline]
    pub fn value_raw(&self) -> Option<i64> {
        self.window.is_full().then(|| {
            let n = self.period as i128;
            saturate_i64(div_round_half_even(self.weighted, n * (n + 1) / 2))
        })
    }

    pub fn period(&self) -> usize {
        self.period
    }
}

impl Indicator for Wma {
    fn name(&self) -> &'static str {
        "WMA"
    }
    #[inline]
    fn is_ready(&self) -> bool {
        self.window.is_full()
    }
    fn count(&self) -> u64 {
        self.count
    }
    #[inline]
    fn value(&self) -> Option<f64> {
        self.value_raw().map(raw_to_f64)
    }
    fn reset(&mut self) {
        self.window.clear();
        self.sum = 0;
        self.weighted = 0;
        self.count = 0;
    }
    fn update_bar_input(&mut self, bar: &BarInput) -> CoreResult<()> {
        self.update_raw(bar.close);
        Ok(())
    }
}

/// Exponential moving average with `alpha = 2 / (period + 1)`.
///
/// Ready after `period` inputs: the first value is the SMA of the first `period` inputs
/// (bit-identical to [`Sma`]'s output), after which `ema += alpha · (x − ema)` in f64
/// (price units). That form keeps a constant series exactly constant.
#[derive(Debug, Clone)]
pub struct Ema {
    period: usize,
    alpha: f64,
    seed_sum: i128,
    ema: f64,
    count: u64,
}

impl Ema {
    pub fn new(period: usize) -> CoreResult<Self> {
        let period = check_period("period", period)?;
        Ok(Self {
            period,
            alpha: 2.0 / (period as f64 + 1.0),
            seed_sum: 0,
            ema: f64::NAN,
            count: 0,
        })
    }

    #[inline]
    pub fn update_raw(&mut self, raw: i64) {
        self.count += 1;
        if self.count > self.period as u64 {
            self.ema += self.alpha * (raw_to_f64(raw) - self.ema);
        } else {
            self.seed_sum += i128::from(raw);
            if self.count == self.period as u64 {
                // Seeded with exactly what `Sma(period)` reports.
                self.ema = raw_to_f64(saturate_i64(div_round_half_even(
                    self.seed_sum,
                    self.period as i128,
                )));
            }
        }
    }

    /// The smoothing factor `2 / (period + 1)`.
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    pub fn period(&self) -> usize {
        self.period
    }
}

impl Indicator for Ema {
    fn name(&self) -> &'static str {
        "EMA"
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
        self.is_ready().then_some(self.ema)
    }
    fn reset(&mut self) {
        self.seed_sum = 0;
        self.ema = f64::NAN;
        self.count = 0;
    }
    fn update_bar_input(&mut self, bar: &BarInput) -> CoreResult<()> {
        self.update_raw(bar.close);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sma_warm_up_and_rounding() {
        let mut s = Sma::new(3).unwrap();
        s.update_raw(1);
        s.update_raw(2);
        assert!(!s.is_ready());
        assert_eq!(s.value(), None);
        s.update_raw(2);
        assert!(s.is_ready());
        assert_eq!(s.value_raw(), Some(2)); // 5/3 = 1.67 -> 2
        s.update_raw(4); // 2,2,4 -> 8/3 = 2.67 -> 3
        assert_eq!(s.value_raw(), Some(3));
        assert_eq!(s.count(), 4);
        s.reset();
        assert_eq!(s.count(), 0);
        assert!(!s.is_ready());
        assert!(Sma::new(0).is_err());
    }

    #[test]
    fn sma_period_two_ties_to_even() {
        let mut s = Sma::new(2).unwrap();
        s.update_raw(1);
        s.update_raw(2); // 1.5 -> 2
        assert_eq!(s.value_raw(), Some(2));
        s.update_raw(3); // 2.5 -> 2
        assert_eq!(s.value_raw(), Some(2));
        s.update_raw(-4); // -0.5 -> 0
        assert_eq!(s.value_raw(), Some(0));
    }

    #[test]
    fn wma_matches_definition() {
        let xs = [5i64, -3, 8, 13, 2, 2, 9, -7, 100, 4];
        let n = 4usize;
        let mut w = Wma::new(n).unwrap();
        for (i, &x) in xs.iter().enumerate() {
            w.update_raw(x * 1_000);
            if i + 1 < n {
                assert_eq!(w.value_raw(), None);
                continue;
            }
            let win = &xs[i + 1 - n..=i];
            let num: i128 = win
                .iter()
                .enumerate()
                .map(|(k, &v)| (k as i128 + 1) * i128::from(v) * 1_000)
                .sum();
            assert_eq!(
                w.value_raw(),
                Some(div_round_half_even(num, 10) as i64),
                "at {i}"
            );
        }
    }

    #[test]
    fn ema_seeds_with_sma_and_keeps_constants() {
        let mut e = Ema::new(3).unwrap();
        for x in [1, 2, 3] {
            e.update_raw(x * 1_000_000_000);
        }
        assert_eq!(e.value(), Some(2.0));
        e.update_raw(6_000_000_000);
        assert_eq!(e.value(), Some(4.0)); // 2 + 0.5 * (6 - 2)
        let mut c = Ema::new(10).unwrap();
        for _ in 0..100_000 {
            c.update_raw(123_456_789_123);
        }
        assert_eq!(c.value(), Some(123.456_789_123));
    }
}
