//! MACD: the difference of two EMAs, its signal EMA and the histogram.

use super::average::Ema;
use super::{BarInput, Indicator};
use crate::error::{CoreError, CoreResult};

/// Moving Average Convergence/Divergence (default 12, 26, 9).
///
/// `line = EMA(fast) − EMA(slow)`, defined from input `slow` on;
/// `signal = EMA(signal_period)` of the line values — seeded with the plain mean of the
/// first `signal_period` line values, negative ones included (the original system
/// dropped values ≤ 0); `histogram = line − signal`.
///
/// Ready (all three defined) after `slow + signal_period − 1` inputs. `line()` is
/// available earlier, from input `slow`; `value()` is the line once ready. All f64.
#[derive(Debug, Clone)]
pub struct Macd {
    fast: Ema,
    slow: Ema,
    signal_period: usize,
    signal_alpha: f64,
    line: f64,
    seed_sum: f64,
    signal: f64,
    lines: u64,
    count: u64,
}

impl Macd {
    /// `fast < slow`, all periods `1..=MAX_PERIOD`.
    pub fn new(fast: usize, slow: usize, signal: usize) -> CoreResult<Self> {
        if fast >= slow {
            return Err(CoreError::invalid(
                "fast",
                format!("must be < slow (fast={fast}, slow={slow})"),
            ));
        }
        let signal = super::check_period("signal", signal)?;
        Ok(Self {
            fast: Ema::new(fast).map_err(|_| period_error("fast", fast))?,
            slow: Ema::new(slow).map_err(|_| period_error("slow", slow))?,
            signal_period: signal,
            signal_alpha: 2.0 / (signal as f64 + 1.0),
            line: f64::NAN,
            seed_sum: 0.0,
            signal: f64::NAN,
            lines: 0,
            count: 0,
        })
    }

    #[inline]
    pub fn update_raw(&mut self, raw: i64) {
        self.count += 1;
        self.fast.update_raw(raw);
        self.slow.update_raw(raw);
        let (Some(fast), Some(slow)) = (self.fast.value(), self.slow.value()) else {
            return;
        };
        let line = fast - slow;
        self.line = line;
        self.lines += 1;
        let n = self.signal_period as u64;
        if self.lines > n {
            self.signal += self.signal_alpha * (line - self.signal);
        } else {
            self.seed_sum += line;
            if self.lines == n {
                self.signal = self.seed_sum / self.signal_period as f64;
            }
        }
    }

    /// `EMA(fast) − EMA(slow)`, from input `slow` on.
    #[inline]
    pub fn line(&self) -> Option<f64> {
        (self.lines > 0).then_some(self.line)
    }

    #[inline]
    pub fn signal(&self) -> Option<f64> {
        self.is_ready().then_some(self.signal)
    }

    #[inline]
    pub fn histogram(&self) -> Option<f64> {
        self.is_ready().then_some(self.line - self.signal)
    }

    /// `(fast, slow, signal)` periods.
    pub fn periods(&self) -> (usize, usize, usize) {
        (self.fast.period(), self.slow.period(), self.signal_period)
    }
}

fn period_error(field: &'static str, period: usize) -> CoreError {
    CoreError::invalid(
        field,
        format!("must be between 1 and {}, got {period}", super::MAX_PERIOD),
    )
}

impl Indicator for Macd {
    fn name(&self) -> &'static str {
        "MACD"
    }
    #[inline]
    fn is_ready(&self) -> bool {
        self.lines >= self.signal_period as u64
    }
    fn count(&self) -> u64 {
        self.count
    }
    #[inline]
    fn value(&self) -> Option<f64> {
        self.is_ready().then_some(self.line)
    }
    fn reset(&mut self) {
        self.fast.reset();
        self.slow.reset();
        self.line = f64::NAN;
        self.seed_sum = 0.0;
        self.signal = f64::NAN;
        self.lines = 0;
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
    fn warm_up_boundaries() {
        let mut m = Macd::new(2, 4, 3).unwrap();
        for i in 1..=6u64 {
            m.update_raw(i64::try_from(i).unwrap() * U);
            assert_eq!(m.line().is_some(), i >= 4, "line at {i}");
            assert_eq!(m.is_ready(), i >= 6, "ready at {i}");
        }
        assert!(Macd::new(26, 12, 9).is_err());
        assert!(Macd::new(0, 12, 9).is_err());
        assert!(Macd::new(12, 26, 0).is_err());
    }

    #[test]
    fn falling_prices_give_a_negative_signal() {
        let mut m = Macd::new(3, 6, 4).unwrap();
        for i in 0..40 {
            m.update_raw((100 - i) * U);
        }
        assert!(m.line().unwrap() < 0.0);
        assert!(m.signal().unwrap() < 0.0);
    }
}
