//! Batch forms: run the streaming indicators over whole series.
//!
//! Each function constructs the streaming indicator and feeds it every element in
//! order, recording its output (NaN during warm-up), so batch and streaming results are
//! identical by construction. Inputs are raw `i64` slices or float prices
//! ([`PriceSeries`], converted to the 10^-9 grid half to even, element by element).

use super::rounding::raw_from_f64;
use super::{Atr, Bollinger, Donchian, Ema, Indicator, Macd, Momentum, Roc, Rsi, Sma, StdDev};
use super::{Vwap, Wma};
use crate::error::{CoreError, CoreResult};

/// A series of inputs that can be read as raw fixed-point values.
pub trait RawSeries {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The `i`-th value as raw units (`i < len()`).
    fn raw_at(&self, i: usize) -> CoreResult<i64>;
}

impl RawSeries for [i64] {
    #[inline]
    fn len(&self) -> usize {
        <[i64]>::len(self)
    }
    #[inline]
    fn raw_at(&self, i: usize) -> CoreResult<i64> {
        Ok(self[i])
    }
}

/// Float prices in price units, converted to raw units on read.
#[derive(Debug, Clone, Copy)]
pub struct PriceSeries<'a>(pub &'a [f64]);

impl RawSeries for PriceSeries<'_> {
    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }
    #[inline]
    fn raw_at(&self, i: usize) -> CoreResult<i64> {
        raw_from_f64(self.0[i])
    }
}

#[inline]
fn read<S: RawSeries + ?Sized>(s: &S, i: usize, field: &'static str) -> CoreResult<i64> {
    s.raw_at(i)
        .map_err(|e| CoreError::invalid(field, format!("at index {i}: {e}")))
}

fn check_lengths(expected: usize, pairs: &[(&'static str, usize)]) -> CoreResult<()> {
    for &(field, len) in pairs {
        if len != expected {
            return Err(CoreError::invalid(
                field,
                format!("length {len} differs from the first input's {expected}"),
            ));
        }
    }
    Ok(())
}

#[inline]
fn nan_or(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}

fn single<S, I, F>(values: &S, mut ind: I, mut update: F) -> CoreResult<Vec<f64>>
where
    S: RawSeries + ?Sized,
    I: Indicator,
    F: FnMut(&mut I, i64),
{
    let mut out = Vec::with_capacity(values.len());
    for i in 0..values.len() {
        update(&mut ind, read(values, i, "values")?);
        out.push(nan_or(ind.value()));
    }
    Ok(out)
}

pub fn sma<S: RawSeries + ?Sized>(values: &S, period: usize) -> CoreResult<Vec<f64>> {
    single(values, Sma::new(period)?, Sma::update_raw)
}

pub fn ema<S: RawSeries + ?Sized>(values: &S, period: usize) -> CoreResult<Vec<f64>> {
    single(values, Ema::new(period)?, Ema::update_raw)
}

pub fn wma<S: RawSeries + ?Sized>(values: &S, period: usize) -> CoreResult<Vec<f64>> {
    single(values, Wma::new(period)?, Wma::update_raw)
}

pub fn rsi<S: RawSeries + ?Sized>(values: &S, period: usize) -> CoreResult<Vec<f64>> {
    single(values, Rsi::new(period)?, Rsi::update_raw)
}

pub fn roc<S: RawSeries + ?Sized>(values: &S, period: usize) -> CoreResult<Vec<f64>> {
    single(values, Roc::new(period)?, Roc::update_raw)
}

pub fn momentum<S: RawSeries + ?Sized>(values: &S, period: usize) -> CoreResult<Vec<f64>> {
    single(values, Momentum::new(period)?, Momentum::update_raw)
}

pub fn stddev<S: RawSeries + ?Sized>(values: &S, period: usize, ddof: u8) -> CoreResult<Vec<f64>> {
    single(values, StdDev::new(period, ddof)?, StdDev::update_raw)
}

/// MACD outputs, one element per input.
#[derive(Debug, Clone, PartialEq)]
pub struct MacdSeries {
    pub line: Vec<f64>,
    pub signal: Vec<f64>,
    pub histogram: Vec<f64>,
}

pub fn macd<S: RawSeries + ?Sized>(
    values: &S,
    fast: usize,
    slow: usize,
    signal: usize,
) -> CoreResult<MacdSeries> {
    let mut ind = Macd::new(fast, slow, signal)?;
    let n = values.len();
    let mut out = MacdSeries {
        line: Vec::with_capacity(n),
        signal: Vec::with_capacity(n),
        histogram: Vec::with_capacity(n),
    };
    for i in 0..n {
        ind.update_raw(read(values, i, "values")?);
        out.line.push(nan_or(ind.line()));
        out.signal.push(nan_or(ind.signal()));
        out.histogram.push(nan_or(ind.histogram()));
    }
    Ok(out)
}

/// Bollinger outputs, one element per input.
#[derive(Debug, Clone, PartialEq)]
pub struct BollingerSeries {
    pub middle: Vec<f64>,
    pub upper: Vec<f64>,
    pub lower: Vec<f64>,
    pub percent_b: Vec<f64>,
    pub bandwidth: Vec<f64>,
}

pub fn bollinger<S: RawSeries + ?Sized>(
    values: &S,
    period: usize,
    k: f64,
) -> CoreResult<BollingerSeries> {
    let mut ind = Bollinger::new(period, k)?;
    let n = values.len();
    let mut out = BollingerSeries {
        middle: Vec::with_capacity(n),
        upper: Vec::with_capacity(n),
        lower: Vec::with_capacity(n),
        percent_b: Vec::with_capacity(n),
        bandwidth: Vec::with_capacity(n),
    };
    for i in 0..n {
        ind.update_raw(read(values, i, "values")?);
        match ind.bands() {
            Some(b) => {
                out.middle.push(b.middle);
                out.upper.push(b.upper);
                out.lower.push(b.lower);
                out.percent_b.push(b.percent_b);
                out.bandwidth.push(b.bandwidth);
            }
            None => {
                for v in [
                    &mut out.middle,
                    &mut out.upper,
                    &mut out.lower,
                    &mut out.percent_b,
                    &mut out.bandwidth,
                ] {
                    v.push(f64::NAN);
                }
            }
        }
    }
    Ok(out)
}

pub fn atr<S: RawSeries + ?Sized>(
    high: &S,
    low: &S,
    close: &S,
    period: usize,
) -> CoreResult<Vec<f64>> {
    let n = high.len();
    check_lengths(n, &[("low", low.len()), ("close", close.len())])?;
    let mut ind = Atr::new(period)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (h, l, c) = (
            read(high, i, "high")?,
            read(low, i, "low")?,
            read(close, i, "close")?,
        );
        ind.update_bar(h, l, c)
            .map_err(|e| CoreError::invalid("high", format!("at index {i}: {e}")))?;
        out.push(nan_or(ind.value()));
    }
    Ok(out)
}

/// Session settings for [`vwap`]: timestamps (UTC ns) and session length/offset.
#[derive(Debug, Clone, Copy, Default)]
pub struct VwapSessions<'a> {
    pub ts_ns: Option<&'a [i64]>,
    pub session_ns: Option<u64>,
    pub offset_ns: i64,
}

pub fn vwap<S: RawSeries + ?Sized>(
    high: &S,
    low: &S,
    close: &S,
    volume: &S,
    sessions: VwapSessions<'_>,
) -> CoreResult<Vec<f64>> {
    let n = high.len();
    check_lengths(
        n,
        &[
            ("low", low.len()),
            ("close", close.len()),
            ("volume", volume.len()),
        ],
    )?;
    if let Some(ts) = sessions.ts_ns {
        check_lengths(n, &[("ts", ts.len())])?;
    } else if sessions.session_ns.is_some() {
        return Err(CoreError::invalid("ts", "session_ns needs timestamps"));
    }
    let mut ind = Vwap::new(sessions.session_ns, sessions.offset_ns)?;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let ts = match sessions.ts_ns {
            Some(ts) => u64::try_from(ts[i]).map_err(|_| {
                CoreError::invalid("ts", format!("at index {i}: must be >= 0, got {}", ts[i]))
            })?,
            None => 0,
        };
        let (h, l, c, v) = (
            read(high, i, "high")?,
            read(low, i, "low")?,
            read(close, i, "close")?,
            read(volume, i, "volume")?,
        );
        ind.update_bar(ts, h, l, c, v).map_err(|e| match e {
            CoreError::InvalidInput { field, message } => {
                CoreError::invalid(field, format!("at index {i}: {message}"))
            }
            other => other,
        })?;
        out.push(nan_or(ind.value()));
    }
    Ok(out)
}

/// Donchian outputs, one element per input.
#[derive(Debug, Clone, PartialEq)]
pub struct DonchianSeries {
    pub upper: Vec<f64>,
    pub middle: Vec<f64>,
    pub lower: Vec<f64>,
}

pub fn donchian<S: RawSeries + ?Sized>(
    high: &S,
    low: &S,
    period: usize,
) -> CoreResult<DonchianSeries> {
    let n = high.len();
    check_lengths(n, &[("low", low.len())])?;
    let mut ind = Donchian::new(period)?;
    let mut out = DonchianSeries {
        upper: Vec::with_capacity(n),
        middle: Vec::with_capacity(n),
        lower: Vec::with_capacity(n),
    };
    for i in 0..n {
        ind.update_bar(read(high, i, "high")?, read(low, i, "low")?)
            .map_err(|e| CoreError::invalid("high", format!("at index {i}: {e}")))?;
        let raw = |v: Option<i64>| v.map_or(f64::NAN, super::rounding::raw_to_f64);
        out.upper.push(raw(ind.upper_raw()));
        out.middle.push(raw(ind.middle_raw()));
        out.lower.push(raw(ind.lower_raw()));
    }
    Ok(out)
}
