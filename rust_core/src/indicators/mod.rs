//! Streaming technical indicators: O(1) per update, no allocation after construction.
//!
//! # Inputs and exactness
//!
//! Every input is a raw fixed-point integer: `i64` units of 10^-9
//! ([`crate::types::FIXED_SCALE`]), the grid `Price` and `Quantity` live on. Indicators that
//! are sums or extrema of their inputs keep their state in exact integers (`i128`) and
//! round their output once, half to even, back onto the 10^-9 grid:
//!
//! | exact (integer state, `value_raw`)        | floating (f64 state, from exact inputs) |
//! |-------------------------------------------|-----------------------------------------|
//! | [`Sma`], [`Wma`], [`Vwap`], [`Momentum`],  | [`Ema`], [`Rsi`], [`Macd`], [`Atr`]      |
//! | [`Donchian`], Bollinger middle band        | (recursive smoothing has no exact form) |
//! | [`StdDev`]/Bollinger: exact `n·Σx² − (Σx)²`, one final `sqrt` in f64 | [`Roc`] (exact numerator, one division) |
//!
//! For the exact ones, the output depends only on the current window, never on the
//! history: two windows with the same multiset of values give bit-identical outputs,
//! so a crossover of two exact averages never fires on rounding noise, however long the
//! series. The floating ones seed from an exact mean and then smooth with
//! `avg += alpha * (x - avg)`, which keeps a constant series exactly constant.
//!
//! # Warm-up
//!
//! `value()` is `None` until `is_ready()`; each type documents when that happens
//! (e.g. `Sma(n)` after `n` inputs, `Rsi(n)` after `n + 1`). `count()` is the number of
//! inputs since construction or the last `reset()`.
//!
//! # Input domain
//!
//! Running sums are `i128`: exact for any `i64` inputs for sums; sums of squares
//! ([`StdDev`], [`Bollinger`]) and `Σ (H+L+C)·V` ([`Vwap`]) are exact while they fit in
//! `i128` — `period · max|raw|² < 2^127`, e.g. prices up to 4·10^8 with `period ≤ 1000`.

mod average;
pub mod batch;
mod channel;
mod macd;
mod momentum;
pub mod rounding;
mod volatility;
mod volume;
mod window;

#[cfg(test)]
mod tests;

pub use average::{Ema, Sma, Wma};
pub use channel::Donchian;
pub use macd::Macd;
pub use momentum::{Momentum, Roc, Rsi};
pub use volatility::{Atr, Bollinger, StdDev};
pub use volume::Vwap;

use crate::error::{CoreError, CoreResult};

/// The largest accepted period (ring buffers are allocated up front).
pub const MAX_PERIOD: usize = 1 << 24;

/// One bar as raw fixed-point values, the input the engine feeds every indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BarInput {
    pub high: i64,
    pub low: i64,
    pub close: i64,
    pub volume: i64,
    /// UTC nanoseconds since the epoch (used by session-anchored VWAP).
    pub ts_ns: u64,
}

/// What every indicator offers, so the engine can hold a list of them.
pub trait Indicator: std::fmt::Debug {
    /// Short name, e.g. `"SMA"`.
    fn name(&self) -> &'static str;
    /// True once `value()` is defined.
    fn is_ready(&self) -> bool;
    /// Inputs since construction or the last `reset()`.
    fn count(&self) -> u64;
    /// The main output in price units (for MACD the line, Bollinger the middle band,
    /// Donchian the middle); `None` during warm-up.
    fn value(&self) -> Option<f64>;
    /// Back to the freshly constructed state (buffers are kept).
    fn reset(&mut self);
    /// Feed one bar: single-series indicators take its close.
    fn update_bar_input(&mut self, bar: &BarInput) -> CoreResult<()>;
}

/// Validate a period: `1..=MAX_PERIOD`.
pub(crate) fn check_period(field: &'static str, period: usize) -> CoreResult<usize> {
    if period == 0 || period > MAX_PERIOD {
        return Err(CoreError::invalid(
            field,
            format!("must be between 1 and {MAX_PERIOD}, got {period}"),
        ));
    }
    Ok(period)
}

/// Validate a bar's range: `high >= low`.
#[inline]
pub(crate) fn check_range(high: i64, low: i64) -> CoreResult<()> {
    if high < low {
        return Err(CoreError::invalid(
            "high",
            format!("must be >= low (high={high}, low={low} raw units)"),
        ));
    }
    Ok(())
}
