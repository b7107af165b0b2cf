//! Momentum family: RSI (Wilder), rate of change and momentum.

use super::rounding::{raw128_to_f64, saturate_i64};
use super::window::Window;
use super::{check_period, BarInput, Indicator};
use crate::error::CoreResult;

/// Relative Strength Index with Wilder's smoothing.
///
/// Each input after the first yields a change `d`; gain = `max(d, 0)`, loss = `max(−d, 0)`
/// (exact integers). The first average gain/loss is the plain mean of the first `period`
/// gains/losses (exact `i128` sums); afterwards `avg += (x − avg) / period` in f64.
/// `RSI = 100 · avg_gain / (avg_gain + avg_loss)`; when both averages are zero (a flat
/// series) RSI is 50 — neither overbought nor oversold — and smoothing simply continues
/// (the original system re-seeded here; we do not).
///
/// Ready after `period + 1` inputs.
#[derive(Debug, Clone)]
pub struct Rsi {
    period: usize,
    prev: i64,
    gain_sum: i128,
    loss_sum: i128,
    avg_gain: f64,
    avg_loss: f64,
    count: u64,
}

impl Rsi {
    pub fn new(period: usize) -> CoreResult<Self> {
        let period = check_period("period", period)?;
        Ok(Self {
            period,
            prev: 0,
            gain_sum: 0,
            loss_sum: 0,
            avg_gain: 0.0,
            avg_loss: 0.0,
            count: 0,
        })
    }

    #[inline]
    pub fn update_raw(&mut self, raw: i64) {
        self.count += 1;
        if self.count == 1 {
            self.prev = raw;
            return;
        }
        let change = i128::from(raw) - i128::from(self.prev);
        self.prev = raw;
        let (gain, loss) = if change >= 0 {
            (change, 0)
        } else {
            (0, -change)
        };
        let changes = self.count - 1;
        let n = self.period as u64;
        if changes > n {
            let nf = self.period as f64;
            self.avg_gain += (gain as f64 - self.avg_gain) / nf;
            self.avg_loss += (loss as f64 - self.avg_loss) / nf;
        } else {
            self.gain_sum += gain;
            self.loss_sum += loss;
            if changes == n {
                self.avg_gain = self.gain_sum as f64 / self.period as f64;
                self.avg_loss = self.loss_sum as f64 / self.period as f64;
            }
        }
    }

    /// Wilder's average gain in price units (`None` during warm-up).
    pub fn avg_gain(&self) -> Option<f64> {
        self.is_ready().then(|| self.avg_gain / 1e9)
    }

    /// Wilder's average loss in price units (`None` during warm-up).
    pub fn avg_loss(&self) -> Option<f64> {
        self.is_ready().then(|| self.avg_loss / 1e9)
    }

    pub fn period(&self) -> usize {
        self.period
    }
}

impl Indicator for Rsi {
    fn name(&self) -> &'static str {
        "RSI"
    }
    #[inline]
    fn is_ready(&self) -> bool {
        self.count > self.period as u64
    }
    fn count(&self) -> u64 {
        self.count
    }
    #[inline]
    fn value(&self) -> Option<f64> {
        self.is_ready().then(|| {
            let total = self.avg_gain + self.avg_loss;
            if total == 0.0 {
                50.0
            } else {
                100.0 * self.avg_gain / total
            }
        })
    }
    fn reset(&mut self) {
        self.prev = 0;
        self.gain_sum = 0;
        self.loss_sum = 0;
        self.avg_gain = 0.0;
        self.avg_loss = 0.0;
        self.count = 0;
    }
    fn update_bar_input(&mut self, bar: &BarInput) -> CoreResult<()> {
        self.update_raw(bar.close);
        Ok(())
    }
}

/// Momentum: `x[t] − x[t−period]`, exact on the 10^-9 grid.
///
/// Ready after `period + 1` inputs.
#[derive(Debug, Clone)]
pub struct Momentum {
    window: Window,
    diff: i128,
    count: u64,
}

impl Momentum {
    pub fn new(period: usize) -> CoreResult<Self> {
        let period = check_period("period", period)?;
        Ok(Self {
            window: Window::new(period),
            diff: 0,
            count: 0,
        })
    }

    #[inline]
    pub fn update_raw(&mut self, raw: i64) {
        if let Some(old) = self.window.push(raw) {
            self.diff = i128::from(raw) - i128::from(old);
        }
        self.count += 1;
    }

    /// The difference in raw units (saturated to `i64` outside the input domain).
    #[inline]
    pub fn value_raw(&self) -> Option<i64> {
        self.is_ready().then(|| saturate_i64(self.diff))
    }

    pub fn period(&self) -> usize {
        self.window.capacity()
    }
}

impl Indicator for Momentum {
    fn name(&self) -> &'static str {
        "MOM"
    }
    #[inline]
    fn is_ready(&self) -> bool {
        self.count > self.window.capacity() as u64
    }
    fn count(&self) -> u64 {
        self.count
    }
    #[inline]
    fn value(&self) -> Option<f64> {
        self.is_ready().then(|| raw128_to_f64(self.diff))
    }
    fn reset(&mut self) {
        self.window.clear();
        self.diff = 0;
        self.count = 0;
    }
    fn update_bar_input(&mut self, bar: &BarInput) -> CoreResult<()> {
        self.update_raw(bar.close);
        Ok(())
    }
}

/// Rate of change in percent: `100 · (x[t] − x[t−period]) / x[t−period]`.
///
/// The numerator is exact; one f64 division follows. Ready after `period + 1` inputs.
/// A zero base gives ±inf (or NaN for 0/0), as the formula says.
#[derive(Debug, Clone)]
pub struct Roc {
    window: Window,
    diff: i128,
    base: i64,
    count: u64,
}

impl Roc {
    pub fn new(period: usize) -> CoreResult<Self> {
        let period = check_period("period", period)?;
        Ok(Self {
            window: Window::new(period),
            diff: 0,
            base: 0,
            count: 0,
        })
    }

    #[inline]
    pub fn update_raw(&mut self, raw: i64) {
        if let Some(old) = self.window.push(raw) {
            self.diff = i128::from(raw) - i128::from(old);
            self.base = old;
        }
        self.count += 1;
    }

    pub fn period(&self) -> usize {
        self.window.capacity()
    }
}

impl Indicator for Roc {
    fn name(&self) -> &'static str {
        "ROC"
    }
    #[inline]
    fn is_ready(&self) -> bool {
        self.count > self.window.capacity() as u64
    }
    fn count(&self) -> u64 {
        self.count
    }
    #[inline]
    fn value(&self) -> Option<f64> {
        self.is_ready()
            .then(|| 100.0 * (self.diff as f64 / self.base as f64))
    }
    fn reset(&mut self) {
        self.window.clear();
        self.diff = 0;
        self.base = 0;
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

    const U: i64 = 1_000_000_000;

    #[test]
    fn rsi_flat_series_is_fifty_and_does_not_reseed() {
        let mut r = Rsi::new(3).unwrap();
        for _ in 0..3 {
            r.update_raw(10 * U);
            assert!(!r.is_ready());
        }
        r.update_raw(10 * U);
        assert!(r.is_ready());
        assert_eq!(r.value(), Some(50.0));
        // A rise after a flat stretch: Wilder-smoothed, not re-seeded from an SMA.
        r.update_raw(13 * U);
        // avg_gain = 0 + (3 - 0)/3 = 1, avg_loss = 0 -> 100
        assert_eq!(r.value(), Some(100.0));
        assert_eq!(r.avg_gain(), Some(1.0));
        r.update_raw(10 * U);
        // avg_gain = 1 + (0 - 1)/3 = 2/3; avg_loss = 0 + 3/3 = 1 -> 40
        let v = r.value().unwrap();
        assert!((v - 40.0).abs() < 1e-12, "{v}");
    }

    #[test]
    fn rsi_seed_is_plain_mean() {
        let mut r = Rsi::new(2).unwrap();
        for x in [10, 12, 11] {
            r.update_raw(x * U);
        }
        // gains 2,0 -> 1; losses 0,1 -> 0.5 -> 100 * 1 / 1.5
        let v = r.value().unwrap();
        assert!((v - 200.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn momentum_and_roc() {
        let mut m = Momentum::new(2).unwrap();
        let mut r = Roc::new(2).unwrap();
        for x in [100, 50, 110, 40] {
            m.update_raw(x * U);
            r.update_raw(x * U);
        }
        assert_eq!(m.value_raw(), Some(-10 * U));
        assert_eq!(m.count(), 4);
        assert_eq!(r.value(), Some(-20.0));
        let mut m1 = Momentum::new(2).unwrap();
        m1.update_raw(1);
        m1.update_raw(2);
        assert!(!m1.is_ready());
        m1.update_raw(5);
        assert_eq!(m1.value_raw(), Some(4));
    }
}
