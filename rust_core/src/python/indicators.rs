//! Bindings for `crate::indicators`: one class per indicator and the batch functions.
//!
//! Prices from Python: `update(price)` takes a `float`, `int` (whole price units) or
//! `decimal.Decimal`, rounded half to even onto the 10^-9 grid; `update_raw(raw)` takes
//! the raw `int` units directly. Batch functions take NumPy arrays: prices (converted
//! to `float64` if needed), or with `raw=True` 1-D `int64` arrays of raw units (read in
//! place). Outputs are `float64` arrays with NaN during warm-up.

use std::borrow::Cow;

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyFloat, PyInt, PyTuple, PyType};

use super::types::{PyPrice, PyQuantity};
use crate::error::CoreError;
use crate::indicators::batch::{self, PriceSeries, VwapSessions};
use crate::indicators::rounding::{raw_from_decimal, raw_from_f64, raw_from_units};
use crate::indicators::{
    Atr, BarInput, Bollinger, Donchian, Ema, Indicator, Macd, Momentum, Roc, Rsi, Sma, StdDev,
    Vwap, Wma,
};

/// A Python price (`float`, `int` units, `Decimal`, `Price`/`Quantity`, or anything with
/// `__float__`) as raw units, rounded half to even.
#[inline]
fn price_to_raw(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Ok(raw_from_f64(f.value())?);
    }
    // The engine's exact types share the 10^-9 grid: their raw value is taken as is.
    if let Ok(p) = obj.cast::<PyPrice>() {
        return Ok(p.get().0.raw());
    }
    if let Ok(q) = obj.cast::<PyQuantity>() {
        return Ok(q.get().0.raw());
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        let units: i64 = i.extract().map_err(|_| CoreError::Overflow {
            operation: "conversion of an integer price to the 10^-9 grid",
        })?;
        return Ok(raw_from_units(units)?);
    }
    static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    let decimal = DECIMAL.import(obj.py(), "decimal", "Decimal")?;
    if obj.is_instance(decimal.as_any())? {
        return decimal_to_raw(obj);
    }
    Ok(raw_from_f64(obj.extract::<f64>()?)?)
}

fn decimal_to_raw(obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    let parts = obj.call_method0("as_tuple")?;
    let exponent = parts.getattr("exponent")?;
    let Ok(exponent) = exponent.extract::<i64>() else {
        return Err(CoreError::invalid("value", format!("{obj} is not a finite number")).into());
    };
    let negative = parts.getattr("sign")?.extract::<u8>()? == 1;
    let digits = parts.getattr("digits")?;
    let digits = digits.cast::<PyTuple>()?;
    let mut coefficient: u128 = 0;
    for d in digits.iter() {
        coefficient = coefficient
            .checked_mul(10)
            .and_then(|c| c.checked_add(u128::from(d.extract::<u8>().unwrap_or(0))))
            .ok_or_else(|| CoreError::invalid("value", "Decimal has more than 38 digits"))?;
    }
    Ok(raw_from_decimal(negative, coefficient, exponent)?)
}

fn raw_array<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<PyReadonlyArray1<'py, i64>> {
    obj.extract::<PyReadonlyArray1<'py, i64>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name}: raw=True needs a 1-D int64 NumPy array of raw units (10^-9)"
        ))
    })
}

fn price_array<'py>(obj: &Bound<'py, PyAny>, name: &str) -> PyResult<PyReadonlyArray1<'py, f64>> {
    if let Ok(a) = obj.extract::<PyReadonlyArray1<'py, f64>>() {
        return Ok(a);
    }
    static ASARRAY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let asarray = ASARRAY.get_or_try_init(obj.py(), || {
        PyResult::Ok(obj.py().import("numpy")?.getattr("asarray")?.unbind())
    })?;
    let converted = asarray
        .bind(obj.py())
        .call1((obj, "float64"))
        .map_err(|e| PyTypeError::new_err(format!("{name}: not convertible to float64: {e}")))?;
    converted
        .extract::<PyReadonlyArray1<'py, f64>>()
        .map_err(|_| PyTypeError::new_err(format!("{name}: needs a 1-D array of prices")))
}

/// The array's data in place when contiguous, else a copy.
fn slice_of<'a, T: numpy::Element + Clone>(a: &'a PyReadonlyArray1<'_, T>) -> Cow<'a, [T]> {
    match a.as_slice() {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(a.as_array().to_vec()),
    }
}

/// Bind each named input as a `RawSeries` (raw `&[i64]` or `&PriceSeries`) and
/// evaluate `$body` with them.
macro_rules! with_series {
    ($raw:expr, [$($name:ident),+] => $body:expr) => {{
        if $raw {
            $(
                let arr = raw_array($name, stringify!($name))?;
                let cow = slice_of(&arr);
                let $name: &[i64] = &cow;
            )+
            $body
        } else {
            $(
                let arr = price_array($name, stringify!($name))?;
                let cow = slice_of(&arr);
                let series = PriceSeries(&cow);
                let $name = &series;
            )+
            $body
        }
    }};
}

fn nan_if_none(v: Option<f64>) -> f64 {
    v.unwrap_or(f64::NAN)
}

/// A float as Python's `repr` would spell it (`nan`, `2.0`).
fn float_repr(v: f64) -> String {
    if v.is_nan() {
        "nan".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else {
        format!("{v:?}")
    }
}

/// A `#[pyclass]` wrapping `$inner` with the members every indicator shares
/// (`reset`, `value`, `is_ready`, `count`, `__repr__`) plus `$extra`.
macro_rules! indicator_class {
    ($py:ident, $name:literal, $inner:ty, $doc:literal, { $($extra:tt)* }) => {
        #[doc = $doc]
        #[pyclass(name = $name, module = "pi5trading._core")]
        #[derive(Debug)]
        pub struct $py {
            inner: $inner,
        }

        #[pymethods]
        impl $py {
            /// Back to the freshly constructed state.
            fn reset(&mut self) {
                self.inner.reset();
            }

            /// The current value in price units; NaN until `is_ready`.
            #[getter]
            fn value(&self) -> f64 {
                nan_if_none(self.inner.value())
            }

            /// True once `value` is defined.
            #[getter]
            fn is_ready(&self) -> bool {
                self.inner.is_ready()
            }

            /// Inputs since construction or the last `reset()`.
            #[getter]
            fn count(&self) -> u64 {
                self.inner.count()
            }

            fn __repr__(&self) -> String {
                format!(
                    "{}(count={}, is_ready={}, value={})",
                    $name,
                    self.inner.count(),
                    if self.inner.is_ready() { "True" } else { "False" },
                    float_repr(nan_if_none(self.inner.value()))
                )
            }

            $($extra)*
        }

        impl EngineFed for $py {
            #[inline]
            fn feed(&mut self, bar: &BarInput) -> crate::error::CoreResult<()> {
                self.inner.update_bar_input(bar)
            }
            #[inline]
            fn level(&self) -> Option<f64> {
                self.inner.value()
            }
            #[inline]
            fn ready(&self) -> bool {
                self.inner.is_ready()
            }
        }
    };
}

/// What the backtest engine needs of a registered indicator object: it feeds each bar in
/// Rust before the strategy's callback (`python/engine.rs`).
pub(crate) trait EngineFed {
    fn feed(&mut self, bar: &BarInput) -> crate::error::CoreResult<()>;
    fn level(&self) -> Option<f64>;
    fn ready(&self) -> bool;
}

/// An indicator of one price series: `update(price)` and `update_raw(raw)` as well.
macro_rules! single_series_class {
    ($py:ident, $name:literal, $inner:ty, $doc:literal, { $($extra:tt)* }) => {
        indicator_class!($py, $name, $inner, $doc, {
            /// Feed one price (float, int units, Decimal or Price), rounded half to even to 10^-9.
            #[inline]
            fn update(&mut self, price: &Bound<'_, PyAny>) -> PyResult<()> {
                self.inner.update_raw(price_to_raw(price)?);
                Ok(())
            }

            /// Feed one raw value (int units of 10^-9).
            #[inline]
            fn update_raw(&mut self, raw: i64) {
                self.inner.update_raw(raw);
            }

            $($extra)*
        });
    };
}

single_series_class!(PySma, "SMA", Sma,
    "Simple moving average, exact: the window mean rounded half to even to 10^-9. Ready after `period` inputs.",
{
    #[new]
    fn py_new(period: usize) -> PyResult<Self> {
        Ok(Self { inner: Sma::new(period)? })
    }
    /// The exact mean in raw units (None until ready).
    #[getter]
    fn value_raw(&self) -> Option<i64> {
        self.inner.value_raw()
    }
    #[getter]
    fn period(&self) -> usize {
        self.inner.period()
    }
});

single_series_class!(PyEma, "EMA", Ema,
    "Exponential moving average (alpha = 2/(period+1)), seeded with the SMA of the first `period` inputs; f64. Ready after `period` inputs.",
{
    #[new]
    fn py_new(period: usize) -> PyResult<Self> {
        Ok(Self { inner: Ema::new(period)? })
    }
    #[getter]
    fn period(&self) -> usize {
        self.inner.period()
    }
    #[getter]
    fn alpha(&self) -> f64 {
        self.inner.alpha()
    }
});

single_series_class!(PyWma, "WMA", Wma,
    "Linearly weighted moving average (newest weight `period`), exact on the 10^-9 grid. Ready after `period` inputs.",
{
    #[new]
    fn py_new(period: usize) -> PyResult<Self> {
        Ok(Self { inner: Wma::new(period)? })
    }
    /// The exact average in raw units (None until ready).
    #[getter]
    fn value_raw(&self) -> Option<i64> {
        self.inner.value_raw()
    }
    #[getter]
    fn period(&self) -> usize {
        self.inner.period()
    }
});

single_series_class!(PyRsi, "RSI", Rsi,
    "Relative Strength Index with Wilder's smoothing, 0..100 (50 on a flat series). Ready after `period + 1` inputs.",
{
    #[new]
    #[pyo3(signature = (period=14))]
    fn py_new(period: usize) -> PyResult<Self> {
        Ok(Self { inner: Rsi::new(period)? })
    }
    #[getter]
    fn period(&self) -> usize {
        self.inner.period()
    }
});

single_series_class!(PyRoc, "ROC", Roc,
    "Rate of change in percent: 100 * (x[t] - x[t-period]) / x[t-period]. Ready after `period + 1` inputs.",
{
    #[new]
    fn py_new(period: usize) -> PyResult<Self> {
        Ok(Self { inner: Roc::new(period)? })
    }
    #[getter]
    fn period(&self) -> usize {
        self.inner.period()
    }
});

single_series_class!(
    PyMomentum,
    "Momentum",
    Momentum,
    "Momentum: x[t] - x[t-period], exact. Ready after `period + 1` inputs.",
    {
        #[new]
        fn py_new(period: usize) -> PyResult<Self> {
            Ok(Self {
                inner: Momentum::new(period)?,
            })
        }
        /// The exact difference in raw units (None until ready).
        #[getter]
        fn value_raw(&self) -> Option<i64> {
            self.inner.value_raw()
        }
        #[getter]
        fn period(&self) -> usize {
            self.inner.period()
        }
    }
);

single_series_class!(PyStdDev, "StdDev", StdDev,
    "Rolling standard deviation; ddof=0 (default) population, ddof=1 sample. Exact integer numerator. Ready after `period` inputs.",
{
    #[new]
    #[pyo3(signature = (period, ddof=0))]
    fn py_new(period: usize, ddof: u8) -> PyResult<Self> {
        Ok(Self { inner: StdDev::new(period, ddof)? })
    }
    /// The variance in price units squared; NaN until ready.
    #[getter]
    fn variance(&self) -> f64 {
        nan_if_none(self.inner.variance())
    }
    #[getter]
    fn period(&self) -> usize {
        self.inner.period()
    }
    #[getter]
    fn ddof(&self) -> u8 {
        self.inner.ddof()
    }
});

single_series_class!(PyMacd, "MACD", Macd,
    "MACD: line = EMA(fast) - EMA(slow), signal = EMA(signal) of the line, histogram = line - signal. Ready after `slow + signal - 1` inputs; `line` from input `slow`.",
{
    #[new]
    #[pyo3(signature = (fast=12, slow=26, signal=9))]
    fn py_new(fast: usize, slow: usize, signal: usize) -> PyResult<Self> {
        Ok(Self { inner: Macd::new(fast, slow, signal)? })
    }
    /// EMA(fast) - EMA(slow); NaN before input `slow`.
    #[getter]
    fn line(&self) -> f64 {
        nan_if_none(self.inner.line())
    }
    /// EMA of the line; NaN until ready.
    #[getter]
    fn signal(&self) -> f64 {
        nan_if_none(self.inner.signal())
    }
    /// line - signal; NaN until ready.
    #[getter]
    fn histogram(&self) -> f64 {
        nan_if_none(self.inner.histogram())
    }
    #[getter]
    fn fast_period(&self) -> usize {
        self.inner.periods().0
    }
    #[getter]
    fn slow_period(&self) -> usize {
        self.inner.periods().1
    }
    #[getter]
    fn signal_period(&self) -> usize {
        self.inner.periods().2
    }
});

single_series_class!(PyBollinger, "BollingerBands", Bollinger,
    "Bollinger Bands: middle = SMA (exact), upper/lower = middle +/- k * population std. Ready after `period` inputs.",
{
    #[new]
    #[pyo3(signature = (period=20, k=2.0))]
    fn py_new(period: usize, k: f64) -> PyResult<Self> {
        Ok(Self { inner: Bollinger::new(period, k)? })
    }
    /// The middle band (SMA); NaN until ready.
    #[getter]
    fn middle(&self) -> f64 {
        nan_if_none(self.inner.value())
    }
    /// The middle band in raw units (None until ready).
    #[getter]
    fn middle_raw(&self) -> Option<i64> {
        self.inner.bands().map(|b| b.middle_raw)
    }
    #[getter]
    fn upper(&self) -> f64 {
        nan_if_none(self.inner.bands().map(|b| b.upper))
    }
    #[getter]
    fn lower(&self) -> f64 {
        nan_if_none(self.inner.bands().map(|b| b.lower))
    }
    /// (last - lower) / (upper - lower); 0.5 when the bands coincide.
    #[getter]
    fn percent_b(&self) -> f64 {
        nan_if_none(self.inner.bands().map(|b| b.percent_b))
    }
    /// (upper - lower) / middle.
    #[getter]
    fn bandwidth(&self) -> f64 {
        nan_if_none(self.inner.bands().map(|b| b.bandwidth))
    }
    #[getter]
    fn period(&self) -> usize {
        self.inner.period()
    }
    #[getter]
    fn k(&self) -> f64 {
        self.inner.k()
    }
});

indicator_class!(
    PyAtr,
    "ATR",
    Atr,
    "Average True Range with Wilder's smoothing. Ready after `period` bars.",
    {
        #[new]
        #[pyo3(signature = (period=14))]
        fn py_new(period: usize) -> PyResult<Self> {
            Ok(Self {
                inner: Atr::new(period)?,
            })
        }

        /// Feed one bar's high, low and close (prices).
        #[inline]
        fn update_bar(
            &mut self,
            high: &Bound<'_, PyAny>,
            low: &Bound<'_, PyAny>,
            close: &Bound<'_, PyAny>,
        ) -> PyResult<()> {
            let (h, l, c) = (
                price_to_raw(high)?,
                price_to_raw(low)?,
                price_to_raw(close)?,
            );
            Ok(self.inner.update_bar(h, l, c)?)
        }

        /// Feed one bar in raw units.
        #[inline]
        fn update_bar_raw(&mut self, high: i64, low: i64, close: i64) -> PyResult<()> {
            Ok(self.inner.update_bar(high, low, close)?)
        }

        #[getter]
        fn period(&self) -> usize {
            self.inner.period()
        }
    }
);

indicator_class!(
    PyVwap,
    "VWAP",
    Vwap,
    "Volume-weighted average price of (high + low + close) / 3, exact; optional session reset.",
    {
        #[new]
        #[pyo3(signature = (session_ns=None, offset_ns=0))]
        fn py_new(session_ns: Option<u64>, offset_ns: i64) -> PyResult<Self> {
            Ok(Self {
                inner: Vwap::new(session_ns, offset_ns)?,
            })
        }

        /// Feed one bar (prices and volume; `ts_ns` matters only with a session length).
        #[inline]
        #[pyo3(signature = (high, low, close, volume, ts_ns=0))]
        fn update_bar(
            &mut self,
            high: &Bound<'_, PyAny>,
            low: &Bound<'_, PyAny>,
            close: &Bound<'_, PyAny>,
            volume: &Bound<'_, PyAny>,
            ts_ns: u64,
        ) -> PyResult<()> {
            let (h, l, c) = (
                price_to_raw(high)?,
                price_to_raw(low)?,
                price_to_raw(close)?,
            );
            let v = price_to_raw(volume)?;
            Ok(self.inner.update_bar(ts_ns, h, l, c, v)?)
        }

        /// Feed one bar in raw units.
        #[inline]
        #[pyo3(signature = (high, low, close, volume, ts_ns=0))]
        fn update_bar_raw(
            &mut self,
            high: i64,
            low: i64,
            close: i64,
            volume: i64,
            ts_ns: u64,
        ) -> PyResult<()> {
            Ok(self.inner.update_bar(ts_ns, high, low, close, volume)?)
        }

        /// The exact VWAP in raw units (None until ready).
        #[getter]
        fn value_raw(&self) -> Option<i64> {
            self.inner.value_raw()
        }

        #[getter]
        fn session_ns(&self) -> Option<u64> {
            self.inner.session_ns()
        }

        #[getter]
        fn offset_ns(&self) -> i64 {
            self.inner.offset_ns()
        }
    }
);

indicator_class!(
    PyDonchian,
    "Donchian",
    Donchian,
    "Donchian channel: rolling highest high / lowest low over `period` inputs, exact.",
    {
        #[new]
        #[pyo3(signature = (period=20))]
        fn py_new(period: usize) -> PyResult<Self> {
            Ok(Self {
                inner: Donchian::new(period)?,
            })
        }

        /// Feed one value of a single series (used as both high and low).
        #[inline]
        fn update(&mut self, price: &Bound<'_, PyAny>) -> PyResult<()> {
            self.inner.update_raw(price_to_raw(price)?);
            Ok(())
        }

        #[inline]
        fn update_raw(&mut self, raw: i64) {
            self.inner.update_raw(raw);
        }

        /// Feed one bar's high and low.
        #[inline]
        fn update_bar(&mut self, high: &Bound<'_, PyAny>, low: &Bound<'_, PyAny>) -> PyResult<()> {
            let (h, l) = (price_to_raw(high)?, price_to_raw(low)?);
            Ok(self.inner.update_bar(h, l)?)
        }

        #[inline]
        fn update_bar_raw(&mut self, high: i64, low: i64) -> PyResult<()> {
            Ok(self.inner.update_bar(high, low)?)
        }

        #[getter]
        fn upper(&self) -> f64 {
            self.inner
                .upper_raw()
                .map_or(f64::NAN, crate::indicators::rounding::raw_to_f64)
        }

        #[getter]
        fn lower(&self) -> f64 {
            self.inner
                .lower_raw()
                .map_or(f64::NAN, crate::indicators::rounding::raw_to_f64)
        }

        #[getter]
        fn middle(&self) -> f64 {
            nan_if_none(self.inner.value())
        }

        #[getter]
        fn upper_raw(&self) -> Option<i64> {
            self.inner.upper_raw()
        }

        #[getter]
        fn lower_raw(&self) -> Option<i64> {
            self.inner.lower_raw()
        }

        #[getter]
        fn middle_raw(&self) -> Option<i64> {
            self.inner.middle_raw()
        }

        #[getter]
        fn period(&self) -> usize {
            self.inner.period()
        }
    }
);

// ----- batch functions -----

type Array<'py> = Bound<'py, PyArray1<f64>>;

/// The input/output note every batch function's docstring ends with.
macro_rules! batch_note {
    () => {
        "Inputs are prices (any array-like, converted to float64, then each value to the \
         10^-9 grid, half to even) or, with raw=True, 1-D int64 arrays of raw 10^-9 units \
         (read in place). Runs the streaming indicator over the series: results equal \
         streaming updates exactly. Returns float64 arrays, NaN during warm-up."
    };
}

macro_rules! single_batch_fn {
    ($fn:ident, $name:literal, $doc:literal, |$v:ident, $p:ident| $call:expr) => {
        #[doc = concat!($doc, "\n\n", batch_note!())]
        #[pyfunction]
        #[pyo3(name = $name, signature = (values, period, *, raw=false))]
        fn $fn<'py>(
            py: Python<'py>,
            values: &Bound<'py, PyAny>,
            period: usize,
            raw: bool,
        ) -> PyResult<Array<'py>> {
            let $p = period;
            let out = with_series!(raw, [values] => { let $v = values; $call })?;
            Ok(out.into_pyarray(py))
        }
    };
}

single_batch_fn!(
    py_sma,
    "sma",
    "SMA over an array (NaN during warm-up).",
    |v, p| batch::sma(v, p)
);
single_batch_fn!(
    py_ema,
    "ema",
    "EMA over an array (NaN during warm-up).",
    |v, p| batch::ema(v, p)
);
single_batch_fn!(
    py_wma,
    "wma",
    "WMA over an array (NaN during warm-up).",
    |v, p| batch::wma(v, p)
);
single_batch_fn!(
    py_rsi,
    "rsi",
    "RSI over an array (NaN during warm-up).",
    |v, p| batch::rsi(v, p)
);
single_batch_fn!(
    py_roc,
    "roc",
    "Rate of change (%) over an array (NaN during warm-up).",
    |v, p| batch::roc(v, p)
);
single_batch_fn!(
    py_momentum,
    "momentum",
    "Momentum over an array (NaN during warm-up).",
    |v, p| batch::momentum(v, p)
);

/// Rolling standard deviation over an array (ddof=0 population, 1 sample).
///
#[doc = batch_note!()]
#[pyfunction]
#[pyo3(name = "stddev", signature = (values, period, ddof=0, *, raw=false))]
fn py_stddev<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    period: usize,
    ddof: u8,
    raw: bool,
) -> PyResult<Array<'py>> {
    let out = with_series!(raw, [values] => batch::stddev(values, period, ddof))?;
    Ok(out.into_pyarray(py))
}

/// MACD over an array: (line, signal, histogram).
///
#[doc = batch_note!()]
#[pyfunction]
#[pyo3(name = "macd", signature = (values, fast=12, slow=26, signal=9, *, raw=false))]
fn py_macd<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    fast: usize,
    slow: usize,
    signal: usize,
    raw: bool,
) -> PyResult<(Array<'py>, Array<'py>, Array<'py>)> {
    let out = with_series!(raw, [values] => batch::macd(values, fast, slow, signal))?;
    Ok((
        out.line.into_pyarray(py),
        out.signal.into_pyarray(py),
        out.histogram.into_pyarray(py),
    ))
}

/// Bollinger Bands over an array: (middle, upper, lower, percent_b, bandwidth).
///
#[doc = batch_note!()]
#[pyfunction]
#[pyo3(name = "bollinger", signature = (values, period=20, k=2.0, *, raw=false))]
fn py_bollinger<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    period: usize,
    k: f64,
    raw: bool,
) -> PyResult<(Array<'py>, Array<'py>, Array<'py>, Array<'py>, Array<'py>)> {
    let out = with_series!(raw, [values] => batch::bollinger(values, period, k))?;
    Ok((
        out.middle.into_pyarray(py),
        out.upper.into_pyarray(py),
        out.lower.into_pyarray(py),
        out.percent_b.into_pyarray(py),
        out.bandwidth.into_pyarray(py),
    ))
}

/// ATR over high/low/close arrays.
///
#[doc = batch_note!()]
#[pyfunction]
#[pyo3(name = "atr", signature = (high, low, close, period=14, *, raw=false))]
fn py_atr<'py>(
    py: Python<'py>,
    high: &Bound<'py, PyAny>,
    low: &Bound<'py, PyAny>,
    close: &Bound<'py, PyAny>,
    period: usize,
    raw: bool,
) -> PyResult<Array<'py>> {
    let out = with_series!(raw, [high, low, close] => batch::atr(high, low, close, period))?;
    Ok(out.into_pyarray(py))
}

/// VWAP over high/low/close/volume arrays; optional `ts_ns` (int64 UTC ns) with a
/// session length `session_ns` and `offset_ns` for session resets.
///
#[doc = batch_note!()]
#[pyfunction]
#[pyo3(name = "vwap", signature = (high, low, close, volume, *, ts_ns=None, session_ns=None, offset_ns=0, raw=false))]
#[allow(clippy::too_many_arguments)]
fn py_vwap<'py>(
    py: Python<'py>,
    high: &Bound<'py, PyAny>,
    low: &Bound<'py, PyAny>,
    close: &Bound<'py, PyAny>,
    volume: &Bound<'py, PyAny>,
    ts_ns: Option<&Bound<'py, PyAny>>,
    session_ns: Option<u64>,
    offset_ns: i64,
    raw: bool,
) -> PyResult<Array<'py>> {
    let ts_arr = ts_ns.map(|t| raw_array(t, "ts_ns")).transpose()?;
    let ts_cow = ts_arr.as_ref().map(slice_of);
    let sessions = VwapSessions {
        ts_ns: ts_cow.as_deref(),
        session_ns,
        offset_ns,
    };
    let out = with_series!(raw, [high, low, close, volume] =>
        batch::vwap(high, low, close, volume, sessions))?;
    Ok(out.into_pyarray(py))
}

/// Donchian channel over high/low arrays: (upper, middle, lower).
///
#[doc = batch_note!()]
#[pyfunction]
#[pyo3(name = "donchian", signature = (high, low, period=20, *, raw=false))]
fn py_donchian<'py>(
    py: Python<'py>,
    high: &Bound<'py, PyAny>,
    low: &Bound<'py, PyAny>,
    period: usize,
    raw: bool,
) -> PyResult<(Array<'py>, Array<'py>, Array<'py>)> {
    let out = with_series!(raw, [high, low] => batch::donchian(high, low, period))?;
    Ok((
        out.upper.into_pyarray(py),
        out.middle.into_pyarray(py),
        out.lower.into_pyarray(py),
    ))
}

/// Register the indicator classes and batch functions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySma>()?;
    m.add_class::<PyEma>()?;
    m.add_class::<PyWma>()?;
    m.add_class::<PyRsi>()?;
    m.add_class::<PyMacd>()?;
    m.add_class::<PyBollinger>()?;
    m.add_class::<PyAtr>()?;
    m.add_class::<PyStdDev>()?;
    m.add_class::<PyVwap>()?;
    m.add_class::<PyRoc>()?;
    m.add_class::<PyMomentum>()?;
    m.add_class::<PyDonchian>()?;
    m.add_function(wrap_pyfunction!(py_sma, m)?)?;
    m.add_function(wrap_pyfunction!(py_ema, m)?)?;
    m.add_function(wrap_pyfunction!(py_wma, m)?)?;
    m.add_function(wrap_pyfunction!(py_rsi, m)?)?;
    m.add_function(wrap_pyfunction!(py_roc, m)?)?;
    m.add_function(wrap_pyfunction!(py_momentum, m)?)?;
    m.add_function(wrap_pyfunction!(py_stddev, m)?)?;
    m.add_function(wrap_pyfunction!(py_macd, m)?)?;
    m.add_function(wrap_pyfunction!(py_bollinger, m)?)?;
    m.add_function(wrap_pyfunction!(py_atr, m)?)?;
    m.add_function(wrap_pyfunction!(py_vwap, m)?)?;
    m.add_function(wrap_pyfunction!(py_donchian, m)?)?;
    Ok(())
}
