//! Historical bars as validated columns, and their merge into one time-ordered stream.

use crate::error::{CoreError, CoreResult};
use crate::indicators::BarInput;
use crate::types::BarType;

/// One instrument's bars as raw columns (prices and volume in units of 10^-9; `ts` is the
/// bar's close time in UTC ns). Construction validates every row and names the first bad
/// one, so nothing half-loaded ever reaches the engine.
#[derive(Debug, Clone)]
pub struct BarSeries {
    pub bar_type: BarType,
    pub ts: Vec<u64>,
    pub open: Vec<i64>,
    pub high: Vec<i64>,
    pub low: Vec<i64>,
    pub close: Vec<i64>,
    pub volume: Vec<i64>,
}

fn row_error(field: &'static str, row: usize, message: impl std::fmt::Display) -> CoreError {
    CoreError::invalid(field, format!("row {row}: {message}"))
}

impl BarSeries {
    /// Validate and take the columns. `tick` (raw), when > 0, must divide every price.
    ///
    /// # Errors
    /// `InvalidInput` naming the first bad row (0-based): lengths differ, a timestamp not
    /// after the previous one (unsorted or duplicate), `low > min(open, close)`,
    /// `high < max(open, close)`, a non-positive price, a negative volume, a price off the
    /// tick grid.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        bar_type: BarType,
        ts: Vec<u64>,
        open: Vec<i64>,
        high: Vec<i64>,
        low: Vec<i64>,
        close: Vec<i64>,
        volume: Vec<i64>,
        tick: i64,
    ) -> CoreResult<Self> {
        let n = ts.len();
        for (name, len) in [
            ("open", open.len()),
            ("high", high.len()),
            ("low", low.len()),
            ("close", close.len()),
            ("volume", volume.len()),
        ] {
            if len != n {
                return Err(CoreError::invalid(
                    "bars",
                    format!("{name} has {len} rows but ts has {n}"),
                ));
            }
        }
        for i in 0..n {
            if i > 0 && ts[i] <= ts[i - 1] {
                let what = if ts[i] == ts[i - 1] {
                    "duplicate timestamp"
                } else {
                    "timestamp before the previous row (unsorted)"
                };
                return Err(row_error("ts", i, format!("{what} {}", ts[i])));
            }
            let (o, h, l, c) = (open[i], high[i], low[i], close[i]);
            if l <= 0 || o <= 0 || c <= 0 {
                return Err(row_error("low", i, "prices must be > 0"));
            }
            if h < o.max(c) {
                return Err(row_error("high", i, "high is below max(open, close)"));
            }
            if l > o.min(c) {
                return Err(row_error("low", i, "low is above min(open, close)"));
            }
            if volume[i] < 0 {
                return Err(row_error("volume", i, "volume is negative"));
            }
            if tick > 0 && [o, h, l, c].iter().any(|p| p % tick != 0) {
                return Err(row_error(
                    "price",
                    i,
                    "a price is not on the instrument's tick",
                ));
            }
        }
        Ok(Self {
            bar_type,
            ts,
            open,
            high,
            low,
            close,
            volume,
        })
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Every price must sit on the instrument's tick (`tick` raw, > 0).
    ///
    /// # Errors
    /// `InvalidInput` naming the first row with a price off the tick.
    pub fn check_tick(&self, tick: i64) -> CoreResult<()> {
        if tick <= 1 {
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

    /// Row `i`'s open time: its close time minus the bar interval.
    #[inline]
    #[must_use]
    pub fn open_ts(&self, i: usize) -> u64 {
        self.ts[i].saturating_sub(self.bar_type.interval.as_nanos())
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Row `i` as the indicators' input.
    #[inline]
    #[must_use]
    pub fn input(&self, i: usize) -> BarInput {
        BarInput {
            high: self.high[i],
            low: self.low[i],
            close: self.close[i],
            volume: self.volume[i],
            ts_ns: self.ts[i],
        }
    }

    /// Row `i` as `[open, high, low, close]`.
    #[inline]
    #[must_use]
    pub fn ohlc(&self, i: usize) -> [i64; 4] {
        [self.open[i], self.high[i], self.low[i], self.close[i]]
    }
}

/// Merges several series into one stream ordered by timestamp, then by the order the
/// series were added (deterministic for equal timestamps).
#[derive(Debug, Clone, Default)]
pub struct Feed {
    pub series: Vec<BarSeries>,
    cursor: Vec<usize>,
}

impl Feed {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a series; returns its index.
    pub fn add(&mut self, series: BarSeries) -> usize {
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
        self.peek().map(|(s, i)| self.series[s].ts[i])
    }

    fn peek(&self) -> Option<(usize, usize)> {
        if self.series.len() == 1 {
            let i = self.cursor[0];
            return (i < self.series[0].len()).then_some((0, i));
        }
        let mut best: Option<(u64, usize)> = None;
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

    fn series(symbol: &str, ts: &[u64]) -> BarSeries {
        let n = ts.len();
        BarSeries::new(
            bt(symbol),
            ts.to_vec(),
            vec![10; n],
            vec![12; n],
            vec![9; n],
            vec![11; n],
            vec![1; n],
            0,
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
            got.push((f.series[s].ts[i], s));
        }
        assert_eq!(
            got,
            vec![(1, 0), (1, 1), (2, 1), (3, 0), (5, 0), (5, 1), (6, 1)]
        );
    }

    #[test]
    fn bad_rows_are_named() {
        let mk = |ts: Vec<u64>, o: i64, h: i64, l: i64, c: i64, v: i64, tick: i64| {
            let n = ts.len();
            BarSeries::new(
                bt("A"),
                ts,
                vec![o; n],
                vec![h; n],
                vec![l; n],
                vec![c; n],
                vec![v; n],
                tick,
            )
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
