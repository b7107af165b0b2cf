//! Historical bars as validated columns, and their merge into one time-ordered stream.
//!
//! A series borrows its columns where it can (`Cow`): the Python binding hands the engine
//! the caller's NumPy arrays for the length of a run, so a backtest holds no second copy
//! of its data. Prices are raw fixed-point integers, or `f64` prices rounded half to even
//! to 10^-9 as they are read (validated up front, so reading cannot fail).

use std::borrow::Cow;

use crate::error::{CoreError, CoreResult};
use crate::indicators::rounding::{raw_from_f64, raw_from_f64_fast};
use crate::indicators::BarInput;
use crate::types::BarType;

/// One price or volume column: raw units of 10^-9, or floats converted as read.
#[derive(Debug, Clone)]
pub enum Column<'a> {
    Raw(Cow<'a, [i64]>),
    Float(Cow<'a, [f64]>),
}

impl Column<'_> {
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::Raw(v) => v.len(),
            Self::Float(v) => v.len(),
        }
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn checked(&self, field: &'static str, i: usize) -> CoreResult<i64> {
        match self {
            Self::Raw(v) => Ok(v[i]),
            Self::Float(v) => raw_from_f64(v[i]).map_err(|e| row_error(field, i, e)),
        }
    }

    /// Row `i` in raw units (validated by [`BarSeries::new`]).
    #[inline(always)]
    #[must_use]
    pub fn get(&self, i: usize) -> i64 {
        match self {
            Self::Raw(v) => v[i],
            Self::Float(v) => {
                let x = v[i];
                raw_from_f64_fast(x).unwrap_or_else(|| raw_from_f64(x).unwrap_or(0))
            }
        }
    }
}

impl From<Vec<i64>> for Column<'_> {
    fn from(v: Vec<i64>) -> Self {
        Self::Raw(Cow::Owned(v))
    }
}

impl<'a> From<&'a [i64]> for Column<'a> {
    fn from(v: &'a [i64]) -> Self {
        Self::Raw(Cow::Borrowed(v))
    }
}

impl<'a> From<&'a [f64]> for Column<'a> {
    fn from(v: &'a [f64]) -> Self {
        Self::Float(Cow::Borrowed(v))
    }
}

/// One instrument's bars as columns (`ts` is the bar's close time in UTC ns). Construction
/// validates every row and names the first bad one, so nothing half-loaded ever reaches
/// the engine.
#[derive(Debug, Clone)]
pub struct BarSeries<'a> {
    pub bar_type: BarType,
    pub ts: Cow<'a, [i64]>,
    pub open: Column<'a>,
    pub high: Column<'a>,
    pub low: Column<'a>,
    pub close: Column<'a>,
    pub volume: Column<'a>,
    /// The tick every price was already checked against (skips a second pass).
    checked_tick: Option<i64>,
}

fn row_error(field: &'static str, row: usize, message: impl std::fmt::Display) -> CoreError {
    CoreError::invalid(field, format!("row {row}: {message}"))
}

impl<'a> BarSeries<'a> {
    /// Validate and take the columns.
    ///
    /// # Errors
    /// `InvalidInput` naming the first bad row (0-based): lengths differ, a negative
    /// timestamp, a timestamp not after the previous one (unsorted or duplicate), a price
    /// that is not a finite number, `low > min(open, close)`, `high < max(open, close)`, a
    /// non-positive price, a negative volume.
    pub fn new(
        bar_type: BarType,
        ts: impl Into<Cow<'a, [i64]>>,
        open: impl Into<Column<'a>>,
        high: impl Into<Column<'a>>,
        low: impl Into<Column<'a>>,
        close: impl Into<Column<'a>>,
        volume: impl Into<Column<'a>>,
    ) -> CoreResult<Self> {
        let mut s = Self::revalidated(bar_type, ts, open, high, low, close, volume, 0);
        s.checked_tick = None;
        s.validate()?;
        Ok(s)
    }

    /// Columns validated before (by `new` and `check_tick(tick)` on the same, unchanged
    /// data, e.g. when a binding registered them): no second pass over the rows. Data that
    /// was not validated gives wrong fills, never undefined behaviour.
    #[allow(clippy::too_many_arguments)]
    pub fn revalidated(
        bar_type: BarType,
        ts: impl Into<Cow<'a, [i64]>>,
        open: impl Into<Column<'a>>,
        high: impl Into<Column<'a>>,
        low: impl Into<Column<'a>>,
        close: impl Into<Column<'a>>,
        volume: impl Into<Column<'a>>,
        tick: i64,
    ) -> Self {
        Self {
            bar_type,
            ts: ts.into(),
            open: open.into(),
            high: high.into(),
            low: low.into(),
            close: close.into(),
            volume: volume.into(),
            checked_tick: Some(tick),
        }
    }

    fn validate(&self) -> CoreResult<()> {
        let n = self.ts.len();
        for (name, len) in [
            ("open", self.open.len()),
            ("high", self.high.len()),
            ("low", self.low.len()),
            ("close", self.close.len()),
            ("volume", self.volume.len()),
        ] {
            if len != n {
                return Err(CoreError::invalid(
                    "bars",
                    format!("{name} has {len} rows but ts has {n}"),
                ));
            }
        }
        let ts = &self.ts;
        for i in 0..n {
            if ts[i] < 0 {
                return Err(row_error("ts", i, "negative timestamp"));
            }
            if i > 0 && ts[i] <= ts[i - 1] {
                let what = if ts[i] == ts[i - 1] {
                    "duplicate timestamp"
                } else {
                    "timestamp before the previous row (unsorted)"
                };
                return Err(row_error("ts", i, format!("{what} {}", ts[i])));
            }
            let o = self.open.checked("open", i)?;
            let h = self.high.checked("high", i)?;
            let l = self.low.checked("low", i)?;
            let c = self.close.checked("close", i)?;
            let v = self.volume.checked("volume", i)?;
            if l <= 0 || o <= 0 || c <= 0 {
                return Err(row_error("low", i, "prices must be > 0"));
            }
            if h < o.max(c) {
                return Err(row_error("high", i, "high is below max(open, close)"));
            }
            if l > o.min(c) {
                return Err(row_error("low", i, "low is above min(open, close)"));
            }
            if v < 0 {
                return Err(row_error("volume", i, "volume is negative"));
            }
        }
        Ok(())
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Every price must sit on the instrument's tick (`tick` raw).
    ///
    /// # Errors
    /// `InvalidInput` naming the first row with a price off the tick.
    pub fn check_tick(&self, tick: i64) -> CoreResult<()> {
        if tick <= 1 || self.checked_tick == Some(tick) {
            return Ok(());
        }
        for i in 0..self.len() {
            if self.ohlc(i).iter().any(|p| p % tick != 0) {
                return Err(row_error(
                    "price",
                    i,
                    "a price is not on the instrument's tick",
                ));
            }
        }
        Ok(())
    }

    /// Row `i`'s close time (UTC ns).
    #[inline]
    #[must_use]
    pub fn ts_at(&self, i: usize) -> u64 {
        u64::try_from(self.ts[i]).unwrap_or(0)
    }

    /// Row `i`'s open time: its close time minus the bar interval.
    #[inline]
    #[must_use]
    pub fn open_ts(&self, i: usize) -> u64 {
        self.ts_at(i)
            .saturating_sub(self.bar_type.interval.as_nanos())
    }

    /// Row `i` as the indicators' input.
    #[inline]
    #[must_use]
    pub fn input(&self, i: usize) -> BarInput {
        BarInput {
            high: self.high.get(i),
            low: self.low.get(i),
            close: self.close.get(i),
            volume: self.volume.get(i),
            ts_ns: self.ts_at(i),
        }
    }

    /// Row `i` as `[open, high, low, close]`.
    #[inline]
    #[must_use]
    pub fn ohlc(&self, i: usize) -> [i64; 4] {
        [
            self.open.get(i),
            self.high.get(i),
            self.low.get(i),
            self.close.get(i),
        ]
    }
}

/// Merges several series into one stream ordered by timestamp, then by the order the
/// series were added (deterministic for equal timestamps).
#[derive(Debug, Clone, Default)]
pub struct Feed<'a> {
    pub series: Vec<BarSeries<'a>>,
    cursor: Vec<usize>,
}

impl<'a> Feed<'a> {
    #[must_use]
    pub fn new() -> Self {
        Self {
            series: Vec::new(),
            cursor: Vec::new(),
        }
    }

    /// Add a series; returns its index.
    pub fn add(&mut self, series: BarSeries<'a>) -> usize {
        self.series.push(series);
        self.cursor.push(0);
        self.series.len() - 1
    }

    /// Total rows across series.
    #[must_use]
    pub fn total(&self) -> usize {
        self.series.iter().map(BarSeries::len).sum()
    }

    /// Back to the first row of every series.
    pub fn rewind(&mut self) {
        self.cursor.iter_mut().for_each(|c| *c = 0);
    }

    /// Timestamp of the next row, if any.
    #[must_use]
    pub fn peek_ts(&self) -> Option<u64> {
        self.peek().map(|(s, i)| self.series[s].ts_at(i))
    }

    #[inline]
    fn peek(&self) -> Option<(usize, usize)> {
        if self.series.len() == 1 {
            let i = self.cursor[0];
            return (i < self.series[0].len()).then_some((0, i));
        }
        let mut best: Option<(i64, usize)> = None;
        for (s, series) in self.series.iter().enumerate() {
            let i = self.cursor[s];
            if i < series.len() {
                let t = series.ts[i];
                if best.is_none_or(|(bt, _)| t < bt) {
                    best = Some((t, s));
                }
            }
        }
        best.map(|(_, s)| (s, self.cursor[s]))
    }

    /// The next `(series index, row)` in time order.
    #[inline]
    pub fn next_row(&mut self) -> Option<(usize, usize)> {
        let next = self.peek()?;
        self.cursor[next.0] += 1;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bt(symbol: &str) -> BarType {
        format!("{symbol}-1m").parse().expect("bar type")
    }

    fn series(symbol: &str, ts: &[i64]) -> BarSeries<'static> {
        let n = ts.len();
        BarSeries::new(
            bt(symbol),
            ts.to_vec(),
            vec![10; n],
            vec![12; n],
            vec![9; n],
            vec![11; n],
            vec![1; n],
        )
        .expect("valid")
    }

    #[test]
    fn merge_is_time_then_insertion_ordered() {
        let mut f = Feed::new();
        f.add(series("A", &[1, 3, 5]));
        f.add(series("B", &[1, 2, 5, 6]));
        let mut got = Vec::new();
        while let Some((s, i)) = f.next_row() {
            got.push((f.series[s].ts_at(i), s));
        }
        assert_eq!(
            got,
            vec![(1, 0), (1, 1), (2, 1), (3, 0), (5, 0), (5, 1), (6, 1)]
        );
    }

    #[test]
    fn bad_rows_are_named() {
        let mk = |ts: Vec<i64>, o: i64, h: i64, l: i64, c: i64, v: i64, tick: i64| {
            let n = ts.len();
            BarSeries::new(
                bt("A"),
                ts,
                vec![o; n],
                vec![h; n],
                vec![l; n],
                vec![c; n],
                vec![v; n],
            )
            .and_then(|s| s.check_tick(tick).map(|()| s))
        };
        let e = mk(vec![1, 2, 2], 10, 12, 9, 11, 1, 0).unwrap_err();
        assert!(e.to_string().contains("row 2: duplicate timestamp"), "{e}");
        let e = mk(vec![1, 3, 2], 10, 12, 9, 11, 1, 0).unwrap_err();
        assert!(e.to_string().contains("row 2: timestamp before"), "{e}");
        let e = mk(vec![1], 10, 10, 9, 11, 1, 0).unwrap_err();
        assert!(e.to_string().contains("high is below"), "{e}");
        let e = mk(vec![1], 10, 12, 11, 11, 1, 0).unwrap_err();
        assert!(e.to_string().contains("low is above"), "{e}");
        let e = mk(vec![1], 10, 12, 9, 11, -1, 0).unwrap_err();
        assert!(e.to_string().contains("volume"), "{e}");
        let e = mk(vec![1], 10, 12, 9, 11, 1, 4).unwrap_err();
        assert!(e.to_string().contains("tick"), "{e}");
        assert!(mk(vec![1, 2], 12, 16, 8, 12, 1, 4).is_ok());
    }
}
