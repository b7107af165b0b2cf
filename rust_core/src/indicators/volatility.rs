//! Volatility: standard deviation, Bollinger Bands, Average True Range.

use super::rounding::{div_round_half_even, raw_to_f64, saturate_i64};
use super::window::Window;
use super::{check_period, check_range, BarInput, Indicator};
use crate::error::{CoreError, CoreResult};

/// Exact window sum and sum of squares (`i128`). Updates wrap, which is exact modular
/// arithmetic: the sums are right whenever their true values fit in `i128`, even if an
/// intermediate did not.
#[derive(Debug, Clone)]
struct Moments {
    window: Window,
    sum: i128,
    sum_sq: i128,
}

impl Moments {
    fn new(period: usize) -> Self {
        Self {
            window: Window::new(period),
            sum: 0,
            sum_sq: 0,
        }
    }

    #[inline]
    fn push(&mut self, raw: i64) {
        let x = i128::from(raw);
        if let Some(old) = self.window.push(raw) {
            let o = i128::from(old);
            self.sum -= o;
            self.sum_sq = self.sum_sq.wrapping_sub(o * o);
        }
        self.sum += x;
        self.sum_sq = self.sum_sq.wrapping_add(x * x);
    }

    fn clear(&mut self) {
        self.window.clear();
        self.sum = 0;
        self.sum_sq = 0;
    }

    /// `n·Σx² − (Σx)²` (= n² · population variance), in raw² units, as f64.
    ///
    /// Exact integer arithmetic without forming `(Σx)²`: with `S = q·n + r`,
    /// `n·Σx² − S² = n·(Σx² − q·S) − r·S`. Falls back to f64 arithmetic only outside
    /// the documented domain.
    #[inline]
    fn scaled_variance(&self) -> f64 {
        let n = self.window.capacity() as i128;
        let s = self.sum;
        // Fast path, plain 64×64→128-bit products: with |S| < 2^63 and 0 <= Σx² < 2^96,
        // A = Σx² − q·S ≈ n·var < 2^97, so n·A < 2^121 and r·S < 2^87 cannot overflow.
        if let Ok(s64) = i64::try_from(s) {
            if (0..(1i128 << 96)).contains(&self.sum_sq) {
                let n64 = self.window.capacity() as i64;
                let (q, r) = (s64.div_euclid(n64), s64.rem_euclid(n64));
                let a = self.sum_sq - i128::from(q) * i128::from(s64);
                let m2 = n * a - i128::from(r) * i128::from(s64);
                return m2.max(0) as f64;
            }
        }
        let q = s.div_euclid(n);
        let r = s.rem_euclid(n);
        let exact = q
            .checked_mul(s)
            .and_then(|qs| self.sum_sq.checked_sub(qs))
            .and_then(|a| a.checked_mul(n))
            .and_then(|na| r.checked_mul(s).and_then(|rs| na.checked_sub(rs)));
        match exact {
            Some(m2) => m2.max(0) as f64,
            None => {
                let (nf, sf) = (n as f64, s as f64);
                (nf * self.sum_sq as f64 - sf * sf).max(0.0)
            }
        }
    }

    #[inline]
    fn mean_raw(&self) -> i64 {
        saturate_i64(div_round_half_even(
            self.sum,
            self.window.capacity() as i128,
        ))
    }
}

/// Rolling standard deviation over `period` inputs.
///
/// Default `ddof = 0`: the **population** standard deviation (divide by `n`), as used by
/// Bollinger Bands and NumPy's `np.std`; `ddof = 1` gives the sample one (divide by
/// `n − 1`, pandas' `rolling().std()` default). The numerator `n·Σx² − (Σx)²` is an exact
/// integer, so equal windows give bit-identical results and a constant window gives
/// exactly 0; only the final division and `sqrt` are f64.
///
/// Ready after `period` inputs (`period ≥ 2` when `ddof = 1`).
#[derive(Debug, Clone)]
pub struct StdDev {
    moments: Moments,
    ddof: u8,
    count: u64,
}

impl StdDev {
    pub fn new(period: usize, ddof: u8) -> CoreResult<Self> {
        let period = check_period("period", period)?;
        if ddof > 1 {
            return Err(CoreError::invalid(
                "ddof",
                format!("must be 0 or 1, got {ddof}"),
            ));
        }
        if ddof == 1 && period < 2 {
            return Err(CoreError::invalid(
                "period",
                "must be >= 2 for the sample standard deviation (ddof=1)",
            ));
        }
        Ok(Self {
            moments: Moments::new(period),
            ddof,
            count: 0,
        })
    }

    #[inline]
    pub fn update_raw(&mut self, raw: i64) {
        self.moments.push(raw);
        self.count += 1;
    }

    /// The variance in price units squared.
    #[inline]
    pub fn variance(&self) -> Option<f64> {
        self.is_ready().then(|| {
            let n = self.moments.window.capacity() as f64;
            let denom = n * (n - f64::from(self.ddof));
            self.moments.scaled_variance() / denom / 1e18
        })
    }

    /// The exact rolling mean (raw units, half-even), i.e. what `Sma` reports.
    pub fn mean_raw(&self) -> Option<i64> {
        self.is_ready().then(|| self.moments.mean_raw())
    }

    pub fn period(&self) -> usize {
        self.moments.window.capacity()
    }

    pub fn ddof(&self) -> u8 {
        self.ddof
    }
}

impl Indicator for StdDev {
    fn name(&self) -> &'static str {
        "STDDEV"
    }
    #[inline]
    fn is_ready(&self) -> bool {
        self.moments.window.is_full()
    }
    fn count(&self) -> u64 {
        self.count
    }
    #[inline]
    fn value(&self) -> Option<f64> {
        self.is_ready().then(|| {
            let n = self.moments.window.capacity() as f64;
            let denom = n * (n - f64::from(self.ddof));
            (self.moments.scaled_variance() / denom).sqrt() / 1e9
        })
    }
    fn reset(&mut self) {
        self.moments.clear();
        self.count = 0;
    }
    fn update_bar_input(&mut self, bar: &BarInput) -> CoreResult<()> {
        self.update_raw(bar.close);
        Ok(())
    }
}

/// Bollinger Bands: `middle = SMA(period)` (exact, half-even on the 10^-9 grid),
/// `upper/lower = middle ± k · σ` with σ the population standard deviation of the
/// window (as [`StdDev`] with `ddof = 0`).
///
/// `%B = (close − lower) / (upper − lower)` (0.5 when the bands coincide, i.e. a
/// constant window); `bandwidth = (upper − lower) / middle` (normalised, not absolute;
/// ±inf/NaN when the middle is 0). Ready after `period` inputs.
#[derive(Debug, Clone)]
pub struct Bollinger {
    moments: Moments,
    k: f64,
    last: i64,
    count: u64,
}

/// One Bollinger reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BollingerValue {
    pub middle_raw: i64,
    pub middle: f64,
    pub upper: f64,
    pub lower: f64,
    pub percent_b: f64,
    pub bandwidth: f64,
}

impl Bollinger {
    /// `k` must be finite and `>= 0` (2.0 is the classic choice).
    pub fn new(period: usize, k: f64) -> CoreResult<Self> {
        let period = check_period("period", period)?;
        if !k.is_finite() || k < 0.0 {
            return Err(CoreError::invalid(
                "k",
                format!("must be finite and >= 0, got {k}"),
            ));
        }
        Ok(Self {
            moments: Moments::new(period),
            k,
            last: 0,
            count: 0,
        })
    }

    #[inline]
    pub fn update_raw(&mut self, raw: i64) {
        self.moments.push(raw);
        self.last = raw;
        self.count += 1;
    }

    /// All five outputs at once (`None` during warm-up).
    #[inline]
    pub fn bands(&self) -> Option<BollingerValue> {
        if !self.is_ready() {
            return None;
        }
        let n = self.moments.window.capacity() as f64;
        let sigma = (self.moments.scaled_variance() / (n * n)).sqrt() / 1e9;
        let middle_raw = self.moments.mean_raw();
        let middle = raw_to_f64(middle_raw);
        let half_width = self.k * sigma;
        let upper = middle + half_width;
        let lower = middle - half_width;
        let width = upper - lower;
        let percent_b = if width == 0.0 {
            0.5
        } else {
            (raw_to_f64(self.last) - lower) / width
        };
        Some(BollingerValue {
            middle_raw,
            middle,
            upper,
            lower,
            percent_b,
            bandwidth: width / middle,
        })
    }

    pub fn period(&self) -> usize {
        self.moments.window.capacity()
    }

    pub fn k(&self) -> f64 {
        self.k
    }
}

impl Indicator for Bollinger {
    fn name(&self) -> &'static str {
        "BBANDS"
    }
    #[inline]
    fn is_ready(&self) -> bool {
        self.moments.window.is_full()
    }
    fn count(&self) -> u64 {
        self.count
    }
    #[inline]
    fn value(&self) -> Option<f64> {
        self.is_ready().then(|| raw_to_f64(self.moments.mean_raw()))
    }
    fn reset(&mut self) {
        self.moments.clear();
        self.last = 0;
        self.count = 0;
    }
    fn update_bar_input(&mut self, bar: &BarInput) -> CoreResult<()> {
        self.update_raw(bar.close);
        Ok(())
    }
}

/// Average True Range with Wilder's smoothing.
///
/// True range (exact integers): the first bar's `high − low`, afterwards
/// `max(high − low, |high − prev_close|, |low − prev_close|)`. The first ATR is the plain
/// mean of the first `period` true ranges (exact sum), then
/// `atr += (tr − atr) / period` in f64. Ready after `period` bars. `high < low` is an
/// input error.
#[derive(Debug, Clone)]
pub struct Atr {
    period: usize,
    prev_close: Option<i64>,
    tr_sum: i128,
    last_tr: i128,
    atr: f64,
    count: u64,
}

impl Atr {
    pub fn new(period: usize) -> CoreResult<Self> {
        let period = check_period("period", period)?;
        Ok(Self {
            period,
            prev_close: None,
            tr_sum: 0,
            last_tr: 0,
            atr: 0.0,
            count: 0,
        })
    }

    #[inline]
    pub fn update_bar(&mut self, high: i64, low: i64, close: i64) -> CoreResult<()> {
        check_range(high, low)?;
        let (h, l) = (i128::from(high), i128::from(low));
        let tr = match self.prev_close {
            None => h - l,
            Some(pc) => {
                let pc = i128::from(pc);
                (h - l).max((h - pc).abs()).max((l - pc).abs())
            }
        };
        self.prev_close = Some(close);
        self.last_tr = tr;
        self.count += 1;
        let n = self.period as u64;
        if self.count > n {
            self.atr += (tr as f64 - self.atr) / self.period as f64;
        } else {
            self.tr_sum += tr;
            if self.count == n {
                self.atr = self.tr_sum as f64 / self.period as f64;
            }
        }
        Ok(())
    }

    /// The latest true range in raw units (exact), once a bar has been seen.
    pub fn true_range_raw(&self) -> Option<i64> {
        (self.count > 0).then(|| saturate_i64(self.last_tr))
    }

    pub fn period(&self) -> usize {
        self.period
    }
}

impl Indicator for Atr {
    fn name(&self) -> &'static str {
        "ATR"
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
        self.is_ready().then(|| self.atr / 1e9)
    }
    fn reset(&mut self) {
        self.prev_close = None;
        self.tr_sum = 0;
        self.last_tr = 0;
        self.atr = 0.0;
        self.count = 0;
    }
    fn update_bar_input(&mut self, bar: &BarInput) -> CoreResult<()> {
        self.update_bar(bar.high, bar.low, bar.close)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: i64 = 1_000_000_000;

    #[test]
    fn stddev_population_and_sample() {
        let xs = [2, 4, 4, 4, 5, 5, 7, 9];
        let mut p = StdDev::new(8, 0).unwrap();
        let mut s = StdDev::new(8, 1).unwrap();
        for x in xs {
            p.update_raw(x * U);
            s.update_raw(x * U);
        }
        assert_eq!(p.value(), Some(2.0));
        assert!((s.value().unwrap() - (32.0f64 / 7.0).sqrt()).abs() < 1e-15);
        assert!(StdDev::new(1, 1).is_err());
        assert!(StdDev::new(3, 2).is_err());
    }

    #[test]
    fn constant_windows_have_zero_width() {
        let mut b = Bollinger::new(20, 2.0).unwrap();
        let mut sd = StdDev::new(20, 0).unwrap();
        for _ in 0..1000 {
            b.update_raw(987_654_321_987);
            sd.update_raw(987_654_321_987);
        }
        let v = b.bands().unwrap();
        assert_eq!(v.middle_raw, 987_654_321_987);
        assert_eq!(v.upper, v.lower);
        assert_eq!(v.percent_b, 0.5);
        assert_eq!(v.bandwidth, 0.0);
        assert_eq!(sd.value(), Some(0.0));
    }

    #[test]
    fn atr_true_range_and_wilder() {
        let mut a = Atr::new(2).unwrap();
        a.update_bar(12 * U, 10 * U, 11 * U).unwrap(); // tr 2
        assert!(!a.is_ready());
        a.update_bar(15 * U, 13 * U, 14 * U).unwrap(); // tr max(2, 4, 2) = 4
        assert_eq!(a.value(), Some(3.0));
        a.update_bar(14 * U, 13 * U, 13 * U).unwrap(); // tr max(1, 0, 1) = 1 -> 3 + (1-3)/2
        assert_eq!(a.value(), Some(2.0));
        assert_eq!(a.true_range_raw(), Some(U));
        assert!(a.update_bar(U, 2 * U, U).is_err());
        assert_eq!(a.count(), 3);
    }
}
