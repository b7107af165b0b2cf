//! `BacktestEngine`: the data loop in Rust, calling Python strategies only as needed.
//!
//! Per bar (in time order across instruments): the venue processes the bar (fills, marks),
//! the risk engine sees the new marks, the indicators registered on that instrument are
//! fed and the crossovers updated, the equity is sampled once per timestamp, then queued
//! order events go to the strategies that asked for them, and `on_bar` runs for each
//! strategy subscribed to the instrument whose indicators are all ready (or every bar
//! with `warmup=True`). Orders a strategy sends from a callback go through the same risk
//! check and venue at once; a market order then fills at the next bar's open.
//!
//! The engine is never borrowed while Python runs, so callbacks may query it and send
//! orders; all bookkeeping between callbacks happens without touching Python objects.

use std::collections::HashMap;

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::clock::PyTimeEvent;
use super::indicators::{
    EngineFed, PyAtr, PyBollinger, PyDonchian, PyEma, PyMacd, PyMomentum, PyRoc, PyRsi, PySma,
    PyStdDev, PyVwap, PyWma,
};
use super::orders::{decimal, opt_raw_arg, raw_arg, side_arg, PyOrder, PyOrderEvent};
use super::portfolio::{position, PyPortfolio, PyPosition, PyPositionEvent};
use super::risk::{sizing_arg, PyRiskEngine};
use super::types::{PyBar, PyInstrument};
use super::venue::PySimulatedVenue;
use crate::clock::{Clock, TestClock, TimeEvent};
use crate::engine::{round_trips, signals, BarSeries, CrossOver, Feed, Recorder};
use crate::indicators::rounding::raw_from_f64;
use crate::indicators::BarInput;
use crate::orders::{Order, OrderEvent, OrderEventKind, OrderSide, OrderStatus, OrderType};
use crate::risk::{Denial, OrderRequest, RiskEngine};
use crate::types::{Bar, BarType, Price, Quantity, UnixNanos};
use crate::venue::{SimulatedVenue, VenueEvent};
use crate::CoreError;

/// Separates the strategy id from the timer name on the shared clock.
const TIMER_SEP: char = '\u{1f}';

type Feeder = fn(Python<'_>, &Py<PyAny>, &BarInput) -> PyResult<bool>;
type Leveler = fn(Python<'_>, &Py<PyAny>) -> PyResult<Option<f64>>;

fn feed_as<T>(py: Python<'_>, obj: &Py<PyAny>, bar: &BarInput) -> PyResult<bool>
where
    T: EngineFed + pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::False>,
{
    let b = obj.bind(py).cast::<T>()?;
    let mut r = b.borrow_mut();
    r.feed(bar)?;
    Ok(r.ready())
}

fn level_as<T>(py: Python<'_>, obj: &Py<PyAny>) -> PyResult<Option<f64>>
where
    T: EngineFed + pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::False>,
{
    Ok(obj.bind(py).cast::<T>()?.borrow().level())
}

/// The feeding functions for a Python indicator object, by its class.
fn accessors(obj: &Bound<'_, PyAny>) -> PyResult<(Feeder, Leveler)> {
    macro_rules! pick {
        ($($t:ty),*) => {
            $(if obj.is_instance_of::<$t>() {
                return Ok((feed_as::<$t>, level_as::<$t>));
            })*
        };
    }
    pick!(
        PySma,
        PyEma,
        PyWma,
        PyRsi,
        PyRoc,
        PyMomentum,
        PyStdDev,
        PyMacd,
        PyBollinger,
        PyAtr,
        PyVwap,
        PyDonchian
    );
    Err(PyTypeError::new_err(format!(
        "indicator: expected one of pi5trading.indicators' classes (SMA, EMA, ...), got {}",
        obj.get_type().name()?
    )))
}

/// A crossover of two registered indicators, updated by the engine before `on_bar`.
///
/// `value` is +1 on the bar where the first moved above the second, -1 where it moved
/// below, 0 otherwise; an equality in between does not hide a cross.
#[pyclass(name = "CrossOver", module = "pi5trading._core")]
#[derive(Debug, Default)]
pub(crate) struct PyCrossOver(CrossOver);

#[pymethods]
impl PyCrossOver {
    #[new]
    fn py_new() -> Self {
        Self::default()
    }

    /// Feed the two current values (`None` or NaN while warming up).
    fn update(&mut self, a: Option<f64>, b: Option<f64>) {
        self.0
            .update(a.filter(|x| !x.is_nan()), b.filter(|x| !x.is_nan()));
    }

    /// +1 crossed above, -1 crossed below, 0 no cross on the last update.
    #[getter]
    fn value(&self) -> i8 {
        self.0.value()
    }

    /// Which side the first series is on: +1 above, -1 below, 0 unknown.
    #[getter]
    fn side(&self) -> i8 {
        self.0.side()
    }

    fn reset(&mut self) {
        self.0.reset();
    }

    fn __repr__(&self) -> String {
        format!(
            "CrossOver(value={}, side={})",
            self.0.value(),
            self.0.side()
        )
    }
}

#[derive(Debug)]
struct IndicatorSlot {
    series: usize,
    strategy: usize,
    obj: Py<PyAny>,
    feeder: Feeder,
    leveler: Leveler,
    ready: bool,
}

#[derive(Debug)]
struct CrossSlot {
    series: usize,
    a: usize,
    /// The second indicator's slot, or `None` to compare with `level`.
    b: Option<usize>,
    level: f64,
    obj: Py<PyCrossOver>,
    /// `handler(bar, direction)` called only on the bars where the cross fires.
    on_cross: Option<Py<PyAny>>,
}

#[derive(Debug)]
struct StrategySlot {
    id: String,
    on_bar: Option<Py<PyAny>>,
    on_order: Option<Py<PyAny>>,
    on_fill: Option<Py<PyAny>>,
    on_position: Option<Py<PyAny>>,
    on_timer: Option<Py<PyAny>>,
    /// Per series: subscribed?
    subscribed: Vec<bool>,
    warmup: bool,
    /// Orders sent so far; client order ids are `<strategy id>-<n>`.
    orders: u64,
}

/// Price precision of each series' instrument, for the `Bar` objects handed to Python.
#[derive(Debug, Clone, Copy)]
struct SeriesMeta {
    price_precision: u8,
    size_precision: u8,
    tick: i64,
}

/// The backtest engine. Build it with a configured `SimulatedVenue` (copied) and an
/// optional `RiskEngine` (copied), add instruments, bars and strategies, then `run()`.
#[pyclass(name = "BacktestEngine", module = "pi5trading._core")]
#[derive(Debug)]
pub(crate) struct PyBacktestEngine {
    venue: SimulatedVenue,
    risk: Option<RiskEngine>,
    feed: Feed,
    meta: Vec<SeriesMeta>,
    series_by_symbol: HashMap<String, usize>,
    instruments: HashMap<String, SeriesMeta>,
    strategies: Vec<StrategySlot>,
    strategy_index: HashMap<String, usize>,
    indicators: Vec<IndicatorSlot>,
    crosses: Vec<CrossSlot>,
    recorder: Recorder,
    pending: Vec<VenueEvent>,
    scratch: Vec<VenueEvent>,
    to_call: Vec<usize>,
    /// Crossover slots that fired on this bar and have a handler, with their direction.
    fired: Vec<(usize, i8)>,
    denials: Vec<(u64, String, String, String)>,
    /// Does any strategy handle order, fill or position events?
    any_event_handler: bool,
    /// The simulated clock: advanced by the data; strategies' timers fire on it.
    clock: TestClock,
    timer_events: Vec<TimeEvent>,
    now: u64,
    processed: u64,
    ran: bool,
}

fn ts_column(arr: &Bound<'_, PyAny>) -> PyResult<Vec<u64>> {
    let a = arr.extract::<PyReadonlyArray1<'_, i64>>().map_err(|_| {
        PyTypeError::new_err("ts: expected a 1-D int64 NumPy array of UTC nanoseconds")
    })?;
    a.as_array()
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            u64::try_from(t).map_err(|_| {
                CoreError::invalid("ts", format!("row {i}: negative timestamp")).into()
            })
        })
        .collect()
}

/// A price column: int64 raw units, or float64 prices rounded half to even to 10^-9.
fn raw_column(field: &'static str, arr: &Bound<'_, PyAny>) -> PyResult<Vec<i64>> {
    if let Ok(a) = arr.extract::<PyReadonlyArray1<'_, i64>>() {
        return Ok(a.as_array().to_vec());
    }
    let a = arr.extract::<PyReadonlyArray1<'_, f64>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{field}: expected a 1-D float64 (prices) or int64 (raw units) NumPy array"
        ))
    })?;
    a.as_array()
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            raw_from_f64(x).map_err(|e| CoreError::invalid(field, format!("row {i}: {e}")).into())
        })
        .collect()
}

impl PyBacktestEngine {
    fn series_of(&self, symbol: &str) -> PyResult<usize> {
        self.series_by_symbol.get(symbol).copied().ok_or_else(|| {
            CoreError::invalid("instrument", format!("no bars were added for {symbol:?}")).into()
        })
    }

    fn strategy(&self, index: usize) -> PyResult<&StrategySlot> {
        self.strategies
            .get(index)
            .ok_or_else(|| CoreError::invalid("strategy", format!("no strategy #{index}")).into())
    }

    /// The Rust part of one bar: venue, risk, indicators, crossovers, equity; fills
    /// `to_call` with the strategies whose `on_bar` should run. Returns the bar's row.
    fn step(&mut self, py: Python<'_>, s: usize, i: usize) -> PyResult<()> {
        let series = &self.feed.series[s];
        let ts = series.ts[i];
        let input = series.input(i);
        self.now = ts;
        self.scratch.clear();
        self.venue.process_bar_raw(
            series.bar_type.symbol.as_str(),
            ts.saturating_sub(series.bar_type.interval.as_nanos()),
            ts,
            series.ohlc(i),
            series.volume[i],
            &mut self.scratch,
        )?;
        if !self.scratch.is_empty() {
            self.recorder.fills_from(&self.scratch);
            self.pending.append(&mut self.scratch);
        }
        if let Some(r) = self.risk.as_mut() {
            r.update(&self.venue, ts);
        }
        for slot in self.indicators.iter_mut().filter(|x| x.series == s) {
            slot.ready = (slot.feeder)(py, &slot.obj, &input)?;
        }
        self.fired.clear();
        for (ci, c) in self
            .crosses
            .iter()
            .enumerate()
            .filter(|(_, c)| c.series == s)
        {
            let a = &self.indicators[c.a];
            let va = (a.leveler)(py, &a.obj)?;
            let vb = match c.b {
                Some(k) => {
                    let b = &self.indicators[k];
                    (b.leveler)(py, &b.obj)?
                }
                None => Some(c.level),
            };
            let cell = c.obj.bind(py);
            let mut cross = cell.borrow_mut();
            cross.0.update(va, vb);
            if c.on_cross.is_some() && cross.0.value() != 0 {
                self.fired.push((ci, cross.0.value()));
            }
        }
        if self.feed.peek_ts() != Some(ts) {
            self.recorder.sample(ts, self.venue.portfolio());
        }
        self.to_call.clear();
        for (k, st) in self.strategies.iter().enumerate() {
            if st.on_bar.is_none() || !st.subscribed[s] {
                continue;
            }
            let ready = st.warmup
                || self
                    .indicators
                    .iter()
                    .all(|x| x.strategy != k || x.series != s || x.ready);
            if ready {
                self.to_call.push(k);
            }
        }
        self.processed += 1;
        Ok(())
    }

    fn record_denial(&mut self, ts: u64, strategy_id: &str, d: &Denial) {
        self.denials.push((
            ts,
            strategy_id.to_owned(),
            d.code.as_str().to_owned(),
            d.message.clone(),
        ));
    }

    /// Risk, then venue, for one order of strategy `strategy`; events are queued.
    fn route(
        &mut self,
        strategy: usize,
        mut o: Order,
        check_owner: bool,
    ) -> PyResult<&'static str> {
        let sid = &self.strategy(strategy)?.id;
        if check_owner && &o.strategy_id != sid {
            return Err(CoreError::invalid(
                "order",
                format!(
                    "strategy_id {:?} is not this strategy's ({sid:?})",
                    o.strategy_id
                ),
            )
            .into());
        }
        let ts = self.now;
        if let Some(r) = self.risk.as_mut() {
            let req = OrderRequest::from_order(&o);
            if let Err(d) = r.check(&req, &self.venue, ts) {
                self.record_denial(ts, &o.strategy_id, &d);
                let ev = o.deny(ts, d.to_string())?;
                self.pending.push(VenueEvent::Order(ev));
                return Ok(OrderStatus::Denied.as_str());
            }
        }
        let id = o.client_order_id.clone();
        self.scratch.clear();
        self.venue.submit(o, ts, &mut self.scratch)?;
        self.recorder.fills_from(&self.scratch);
        self.pending.append(&mut self.scratch);
        Ok(self
            .venue
            .order(&id)
            .map_or("submitted", |x| x.status.as_str()))
    }

    fn make_bar(&self, s: usize, i: usize) -> PyResult<PyBar> {
        let series = &self.feed.series[s];
        let m = self.meta[s];
        let p = |raw: i64| Price::from_raw(raw, m.price_precision);
        Ok(PyBar(Bar {
            bar_type: series.bar_type,
            open: p(series.open[i])?,
            high: p(series.high[i])?,
            low: p(series.low[i])?,
            close: p(series.close[i])?,
            volume: Quantity::from_raw(series.volume[i], m.size_precision)?,
            ts_event: UnixNanos(series.ts[i]),
        }))
    }
}

/// Advance the clock to `to` and run the due timers' strategy handlers in time order.
fn fire_timers(slf: &Bound<'_, PyBacktestEngine>, to: u64) -> PyResult<()> {
    let py = slf.py();
    let events = {
        let mut e = slf.borrow_mut();
        if to <= e.clock.now().0 {
            return Ok(());
        }
        let mut out = std::mem::take(&mut e.timer_events);
        out.clear();
        e.clock.advance_to(UnixNanos(to), &mut out)?;
        out
    };
    for ev in &events {
        let Some((sid, name)) = ev.name.split_once(TIMER_SEP) else {
            continue;
        };
        let handler = {
            let mut e = slf.borrow_mut();
            e.now = ev.ts_event.0;
            e.strategy_index
                .get(sid)
                .and_then(|&k| e.strategies[k].on_timer.as_ref().map(|h| h.clone_ref(py)))
        };
        if let Some(h) = handler {
            let public = TimeEvent {
                name: name.into(),
                ts_event: ev.ts_event,
                seq: ev.seq,
            };
            h.call1(py, (PyTimeEvent(public),))?;
            dispatch(slf)?;
        }
    }
    let mut e = slf.borrow_mut();
    e.now = e.now.max(to);
    e.timer_events = events;
    Ok(())
}

/// Send queued venue events to the strategies that handle them, in order.
fn dispatch(slf: &Bound<'_, PyBacktestEngine>) -> PyResult<()> {
    let py = slf.py();
    loop {
        let events = {
            let mut e = slf.borrow_mut();
            if e.pending.is_empty() {
                return Ok(());
            }
            if !e.any_event_handler {
                // Nobody listens: drop them without touching Python.
                e.pending.clear();
                return Ok(());
            }
            std::mem::take(&mut e.pending)
        };
        for ev in events {
            let (sid, handler_kind) = match &ev {
                VenueEvent::Order(o) => (o.strategy_id.clone(), 0),
                VenueEvent::Position(p) => match &p.strategy_id {
                    Some(s) => (s.clone(), 1),
                    None => continue,
                },
            };
            let handlers = {
                let e = slf.borrow();
                let Some(&k) = e.strategy_index.get(&sid) else {
                    continue;
                };
                let st = &e.strategies[k];
                (
                    st.on_order.as_ref().map(|h| h.clone_ref(py)),
                    st.on_fill.as_ref().map(|h| h.clone_ref(py)),
                    st.on_position.as_ref().map(|h| h.clone_ref(py)),
                )
            };
            match ev {
                VenueEvent::Order(o) if handler_kind == 0 => {
                    let is_fill = o.kind == OrderEventKind::Filled;
                    if handlers.0.is_none() && !(is_fill && handlers.1.is_some()) {
                        continue;
                    }
                    let obj = Bound::new(py, PyOrderEvent(o))?;
                    if let Some(h) = handlers.0 {
                        h.call1(py, (obj.clone(),))?;
                    }
                    if is_fill {
                        if let Some(h) = handlers.1 {
                            h.call1(py, (obj,))?;
                        }
                    }
                }
                VenueEvent::Position(p) => {
                    if let Some(h) = handlers.2 {
                        h.call1(py, (Bound::new(py, PyPositionEvent(p))?,))?;
                    }
                }
                VenueEvent::Order(_) => {}
            }
        }
    }
}

#[pymethods]
impl PyBacktestEngine {
    #[new]
    #[pyo3(signature = (venue, risk=None))]
    fn py_new(
        venue: PyRef<'_, PySimulatedVenue>,
        risk: Option<PyRef<'_, PyRiskEngine>>,
    ) -> PyResult<Self> {
        // A fresh risk engine with the given configuration: a backtest starts ACTIVE with
        // no history, whatever state the template had.
        let risk = match risk {
            Some(r) => Some(RiskEngine::new(r.0.config())?),
            None => None,
        };
        Ok(Self {
            venue: venue.0.clone(),
            risk,
            feed: Feed::new(),
            meta: Vec::new(),
            series_by_symbol: HashMap::new(),
            instruments: HashMap::new(),
            strategies: Vec::new(),
            strategy_index: HashMap::new(),
            indicators: Vec::new(),
            crosses: Vec::new(),
            recorder: Recorder::default(),
            pending: Vec::new(),
            scratch: Vec::new(),
            to_call: Vec::new(),
            fired: Vec::new(),
            denials: Vec::new(),
            any_event_handler: false,
            clock: TestClock::new(UnixNanos(0)),
            timer_events: Vec::new(),
            now: 0,
            processed: 0,
            ran: false,
        })
    }

    /// Register an instrument with the venue and the risk engine.
    fn add_instrument(&mut self, instrument: PyRef<'_, PyInstrument>) -> PyResult<()> {
        let ins = &instrument.0;
        self.venue.add_instrument(ins)?;
        if let Some(r) = self.risk.as_mut() {
            r.add_instrument(ins.symbol.as_str(), ins.tick_size.raw(), ins.lot_size.raw());
        }
        self.instruments.insert(
            ins.symbol.as_str().to_owned(),
            SeriesMeta {
                price_precision: ins.price_precision,
                size_precision: ins.size_precision,
                tick: ins.tick_size.raw(),
            },
        );
        Ok(())
    }

    /// Add one instrument's bars: `ts` (int64 UTC ns, the bar's close time, strictly
    /// increasing) and OHLCV columns (float64 prices or int64 raw units). Every row is
    /// validated; the first bad one is named (0-based) and nothing is added.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (symbol, interval, ts, open, high, low, close, volume))]
    fn add_bars(
        &mut self,
        symbol: &str,
        interval: &str,
        ts: &Bound<'_, PyAny>,
        open: &Bound<'_, PyAny>,
        high: &Bound<'_, PyAny>,
        low: &Bound<'_, PyAny>,
        close: &Bound<'_, PyAny>,
        volume: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        if self.ran {
            return Err(PyRuntimeError::new_err(
                "add_bars: the engine has already run",
            ));
        }
        let Some(&meta) = self.instruments.get(symbol) else {
            return Err(CoreError::invalid(
                "symbol",
                format!("{symbol:?} is not a registered instrument (add_instrument first)"),
            )
            .into());
        };
        if self.series_by_symbol.contains_key(symbol) {
            return Err(CoreError::invalid(
                "symbol",
                format!("bars for {symbol:?} were already added"),
            )
            .into());
        }
        let bar_type: BarType = format!("{symbol}-{interval}").parse()?;
        let series = BarSeries::new(
            bar_type,
            ts_column(ts)?,
            raw_column("open", open)?,
            raw_column("high", high)?,
            raw_column("low", low)?,
            raw_column("close", close)?,
            raw_column("volume", volume)?,
            meta.tick,
        )?;
        let n = series.len();
        let idx = self.feed.add(series);
        self.meta.push(meta);
        self.series_by_symbol.insert(symbol.to_owned(), idx);
        for st in &mut self.strategies {
            st.subscribed.push(false);
        }
        Ok(n)
    }

    /// Add a strategy: its id, the callbacks it implements (``None`` for the others, so the
    /// engine never calls an empty method) and the symbols whose bars it receives.
    /// Returns the strategy's index, used by the other methods.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (strategy_id, symbols, *, on_bar=None, on_order=None, on_fill=None, on_position=None, on_timer=None, warmup=false))]
    fn add_strategy(
        &mut self,
        strategy_id: &str,
        symbols: Vec<String>,
        on_bar: Option<Py<PyAny>>,
        on_order: Option<Py<PyAny>>,
        on_fill: Option<Py<PyAny>>,
        on_position: Option<Py<PyAny>>,
        on_timer: Option<Py<PyAny>>,
        warmup: bool,
    ) -> PyResult<usize> {
        if strategy_id.contains(TIMER_SEP) {
            return Err(CoreError::invalid(
                "strategy_id",
                "must not contain the unit separator character",
            )
            .into());
        }
        if self.strategy_index.contains_key(strategy_id) {
            return Err(CoreError::invalid(
                "strategy_id",
                format!("{strategy_id:?} is already used by another strategy"),
            )
            .into());
        }
        let mut subscribed = vec![false; self.feed.series.len()];
        for s in &symbols {
            subscribed[self.series_of(s)?] = true;
        }
        self.any_event_handler |= on_order.is_some() || on_fill.is_some() || on_position.is_some();
        let k = self.strategies.len();
        self.strategies.push(StrategySlot {
            id: strategy_id.to_owned(),
            on_bar,
            on_order,
            on_fill,
            on_position,
            on_timer,
            subscribed,
            warmup,
            orders: 0,
        });
        self.strategy_index.insert(strategy_id.to_owned(), k);
        Ok(k)
    }

    /// Feed ``indicator`` (an object of ``pi5trading.indicators``) with every bar of
    /// ``symbol`` before the strategy's ``on_bar``; single-series indicators take the
    /// close. The strategy's ``on_bar`` waits until all its indicators are ready.
    /// Returns the indicator's slot number.
    fn register_indicator(
        &mut self,
        strategy: usize,
        symbol: &str,
        indicator: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        self.strategy(strategy)?;
        let series = self.series_of(symbol)?;
        let (feeder, leveler) = accessors(indicator)?;
        self.indicators.push(IndicatorSlot {
            series,
            strategy,
            obj: indicator.clone().unbind(),
            feeder,
            leveler,
            ready: false,
        });
        Ok(self.indicators.len() - 1)
    }

    /// A ``CrossOver`` of two registered indicator slots of the same symbol, updated by the
    /// engine after them on every bar.
    fn register_crossover(
        &mut self,
        py: Python<'_>,
        a: usize,
        b: usize,
    ) -> PyResult<Py<PyCrossOver>> {
        let (Some(sa), Some(sb)) = (self.indicators.get(a), self.indicators.get(b)) else {
            return Err(CoreError::invalid("indicator", "unknown indicator slot").into());
        };
        if sa.series != sb.series {
            return Err(CoreError::invalid(
                "indicator",
                "a crossover needs two indicators of the same symbol",
            )
            .into());
        }
        let obj = Py::new(py, PyCrossOver::default())?;
        self.crosses.push(CrossSlot {
            series: sa.series,
            a,
            b: Some(b),
            level: 0.0,
            obj: obj.clone_ref(py),
            on_cross: None,
        });
        Ok(obj)
    }

    /// A ``CrossOver`` of a registered indicator slot and a fixed ``level`` (e.g. RSI and
    /// 30): +1 when the indicator moves above the level, -1 when it moves below.
    fn register_level_cross(
        &mut self,
        py: Python<'_>,
        a: usize,
        level: f64,
    ) -> PyResult<Py<PyCrossOver>> {
        let Some(sa) = self.indicators.get(a) else {
            return Err(CoreError::invalid("indicator", "unknown indicator slot").into());
        };
        if !level.is_finite() {
            return Err(CoreError::invalid("level", "must be a finite number").into());
        }
        let obj = Py::new(py, PyCrossOver::default())?;
        self.crosses.push(CrossSlot {
            series: sa.series,
            a,
            b: None,
            level,
            obj: obj.clone_ref(py),
            on_cross: None,
        });
        Ok(obj)
    }

    /// Quantity for a sizing ``method`` (``fixed``, ``notional``, ``percent_equity``,
    /// ``fixed_fractional``, ``volatility``, ``kelly`` ... see docs/risk.md) on this
    /// account, rounded down to the lot and clipped to the risk limits. Without a risk
    /// engine the account's figures are used with no limits.
    #[pyo3(signature = (strategy, symbol, method, side, price=None, **params))]
    #[allow(clippy::too_many_arguments)]
    fn size_order<'py>(
        &self,
        py: Python<'py>,
        strategy: usize,
        symbol: &str,
        method: &str,
        side: &str,
        price: Option<&Bound<'_, PyAny>>,
        params: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let sid = &self.strategy(strategy)?.id;
        let sizing = sizing_arg(method, params)?;
        let side = side_arg(side)?;
        let px = opt_raw_arg("price", price)?;
        let template;
        let risk = match &self.risk {
            Some(r) => r,
            None => {
                template = RiskEngine::with_profile("unlimited")?;
                &template
            }
        };
        let q = risk.size_order(&sizing, sid, symbol, side, px, &self.venue)?;
        decimal(py, i128::from(q))
    }

    /// Call ``handler(bar, direction)`` only on the bars where ``crossover`` (returned by
    /// ``register_crossover``) fires, after the indicators update and before ``on_bar``:
    /// the strategy runs Python code on the few bars that matter, not on every bar.
    fn on_cross(
        &mut self,
        py: Python<'_>,
        crossover: &Bound<'_, PyCrossOver>,
        handler: Py<PyAny>,
    ) -> PyResult<()> {
        let slot = self
            .crosses
            .iter_mut()
            .find(|c| c.obj.bind(py).is(crossover))
            .ok_or_else(|| CoreError::invalid("crossover", "not registered with this engine"))?;
        slot.on_cross = Some(handler);
        Ok(())
    }

    /// Set the clock to the first bar's time; call after adding bars and before the
    /// strategies' ``on_start`` (so timers they set start from the data's start).
    fn prime(&mut self) -> PyResult<u64> {
        let start = self
            .feed
            .peek_ts()
            .ok_or_else(|| CoreError::invalid("bars", "no bars were added"))?;
        self.clock = TestClock::new(UnixNanos(start));
        self.now = start;
        Ok(start)
    }

    /// A repeating timer for the strategy, every ``interval_ns`` from ``start`` (default:
    /// now) until ``stop``; ``on_timer(event)`` runs at each firing, in time order with the
    /// bars (a timer due at a bar's close time fires after that bar's callbacks).
    #[pyo3(signature = (strategy, name, interval_ns, start=None, stop=None))]
    fn set_timer(
        &mut self,
        strategy: usize,
        name: &str,
        interval_ns: u64,
        start: Option<u64>,
        stop: Option<u64>,
    ) -> PyResult<()> {
        let key = format!("{}{TIMER_SEP}{name}", self.strategy(strategy)?.id);
        // Default start: the engine's now (a bar's close), not the clock's, which trails
        // it by 1 ns while that bar's callbacks run.
        let start = UnixNanos(start.unwrap_or(self.now));
        Ok(self
            .clock
            .set_timer(&key, interval_ns, Some(start), stop.map(UnixNanos))?)
    }

    /// A one-shot alert for the strategy at ``at`` (UTC ns, not in the past).
    fn set_time_alert(&mut self, strategy: usize, name: &str, at: u64) -> PyResult<()> {
        let key = format!("{}{TIMER_SEP}{name}", self.strategy(strategy)?.id);
        Ok(self.clock.set_time_alert(&key, UnixNanos(at))?)
    }

    /// Cancel one of the strategy's timers or alerts; ``False`` if none was pending.
    fn cancel_timer(&mut self, strategy: usize, name: &str) -> PyResult<bool> {
        let key = format!("{}{TIMER_SEP}{name}", self.strategy(strategy)?.id);
        Ok(self.clock.cancel_timer(&key))
    }

    /// Send ``order`` for strategy ``strategy``: pre-trade risk first (a refusal becomes a
    /// ``denied`` event with the reason), then the venue. Returns the order's status.
    fn submit(&mut self, strategy: usize, order: PyRef<'_, PyOrder>) -> PyResult<&'static str> {
        self.route(strategy, order.0.clone(), true)
    }

    /// A fresh client order id for the strategy: ``<strategy id>-<n>``.
    fn next_order_id(&mut self, strategy: usize) -> PyResult<String> {
        let st = self
            .strategies
            .get_mut(strategy)
            .ok_or_else(|| CoreError::invalid("strategy", format!("no strategy #{strategy}")))?;
        st.orders += 1;
        Ok(format!("{}-{}", st.id, st.orders))
    }

    /// The fast path of ``Strategy.buy``/``sell`` for a plain market order: builds the
    /// order in Rust, then risk and venue as ``submit``. Returns the client order id.
    fn submit_market(
        &mut self,
        strategy: usize,
        symbol: &str,
        side: &str,
        quantity: &Bound<'_, PyAny>,
    ) -> PyResult<String> {
        let qty = raw_arg("quantity", quantity)?;
        let side = side_arg(side)?;
        let oid = self.next_order_id(strategy)?;
        let sid = self.strategies[strategy].id.clone();
        let order = Order::new(
            oid.clone(),
            sid,
            symbol,
            side,
            OrderType::Market,
            qty,
            self.now,
        );
        self.route(strategy, order, false)?;
        Ok(oid)
    }

    /// Flatten the strategy's position in ``symbol``: cancel its working orders there, then
    /// a reduce-only market order for the rest. Returns the order id, or ``None`` if flat.
    fn close_position(&mut self, strategy: usize, symbol: &str) -> PyResult<Option<String>> {
        let sid = self.strategy(strategy)?.id.clone();
        let working: Vec<String> = self
            .venue
            .open_orders()
            .filter(|o| o.strategy_id == sid && o.instrument == symbol)
            .map(|o| o.client_order_id.clone())
            .collect();
        for oid in working {
            self.cancel(&oid)?;
        }
        let held = self
            .venue
            .portfolio()
            .strategy(&sid)
            .and_then(|s| s.positions.get(symbol))
            .map_or(0, |p| p.quantity);
        if held == 0 {
            return Ok(None);
        }
        let side = if held > 0 {
            OrderSide::Sell
        } else {
            OrderSide::Buy
        };
        let oid = self.next_order_id(strategy)?;
        let order = Order::new(
            oid.clone(),
            sid,
            symbol,
            side,
            OrderType::Market,
            held.abs(),
            self.now,
        )
        .with_flags(true, false);
        self.route(strategy, order, false)?;
        Ok(Some(oid))
    }

    /// Cancel a working order; the outcome arrives as an order event.
    fn cancel(&mut self, client_order_id: &str) -> PyResult<()> {
        self.scratch.clear();
        self.venue
            .cancel(client_order_id, self.now, &mut self.scratch)?;
        self.pending.append(&mut self.scratch);
        Ok(())
    }

    /// Change a working order's quantity and/or prices. A larger quantity passes the
    /// pre-trade risk check for the increase first; a refusal is a ``modify_rejected``
    /// event with the reason. Outcomes arrive as order events.
    #[pyo3(signature = (client_order_id, *, quantity=None, price=None, trigger_price=None))]
    fn modify(
        &mut self,
        client_order_id: &str,
        quantity: Option<&Bound<'_, PyAny>>,
        price: Option<&Bound<'_, PyAny>>,
        trigger_price: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let quantity = opt_raw_arg("quantity", quantity)?;
        let price = opt_raw_arg("price", price)?;
        let trigger_price = opt_raw_arg("trigger_price", trigger_price)?;
        let ts = self.now;
        if let (Some(q), Some(order), Some(r)) = (
            quantity,
            self.venue.order(client_order_id).cloned(),
            self.risk.as_mut(),
        ) {
            if q > order.quantity {
                let mut req = OrderRequest::from_order(&order);
                req.quantity = q - order.quantity;
                if let Some(p) = price {
                    req.price = Some(p);
                }
                if let Err(d) = r.check(&req, &self.venue, ts) {
                    self.record_denial(ts, &order.strategy_id, &d);
                    self.pending.push(VenueEvent::Order(OrderEvent {
                        client_order_id: order.client_order_id.clone(),
                        strategy_id: order.strategy_id.clone(),
                        instrument: order.instrument.clone(),
                        kind: OrderEventKind::ModifyRejected,
                        status: order.status,
                        ts,
                        reason: d.to_string(),
                        fill: None,
                    }));
                    return Ok(());
                }
            }
        }
        self.scratch.clear();
        self.venue.modify(
            client_order_id,
            quantity,
            price,
            trigger_price,
            ts,
            &mut self.scratch,
        )?;
        self.recorder.fills_from(&self.scratch);
        self.pending.append(&mut self.scratch);
        Ok(())
    }

    /// A copy of an order (working or closed), or ``None`` for an unknown id.
    fn order(&self, client_order_id: &str) -> Option<PyOrder> {
        self.venue.order(client_order_id).cloned().map(PyOrder)
    }

    /// The strategy's position in ``symbol`` (``None`` if it never traded it).
    fn position(&self, strategy: usize, symbol: &str) -> PyResult<Option<PyPosition>> {
        let sid = &self.strategy(strategy)?.id;
        let p = self.venue.portfolio();
        Ok(p.strategy(sid)
            .and_then(|s| s.positions.get(symbol))
            .map(|pos| position(p, symbol, pos)))
    }

    /// The strategy's signed position in ``symbol`` in raw units (0 when flat): the cheap
    /// form for callbacks that run on every bar.
    fn position_raw(&self, strategy: usize, symbol: &str) -> PyResult<i64> {
        let sid = &self.strategy(strategy)?.id;
        Ok(self
            .venue
            .portfolio()
            .strategy(sid)
            .and_then(|s| s.positions.get(symbol))
            .map_or(0, |p| p.quantity))
    }

    /// The strategy's working orders (client order ids).
    fn open_orders(&self, strategy: usize) -> PyResult<Vec<String>> {
        let sid = &self.strategy(strategy)?.id;
        Ok(self
            .venue
            .open_orders()
            .filter(|o| &o.strategy_id == sid)
            .map(|o| o.client_order_id.clone())
            .collect())
    }

    /// A snapshot of the account.
    #[getter]
    fn portfolio(&self) -> PyPortfolio {
        PyPortfolio(self.venue.portfolio().clone())
    }

    /// The engine clock: the timestamp of the bar being processed (UTC ns).
    #[getter]
    fn now(&self) -> u64 {
        self.now
    }

    /// Bars processed so far, and in all.
    #[getter]
    fn progress(&self) -> (u64, usize) {
        (self.processed, self.feed.total())
    }

    /// Run every bar. ``progress`` (if given) is called with ``(done, total)`` every
    /// ``progress_every`` bars and at the end.
    #[pyo3(signature = (progress=None, progress_every=65_536))]
    fn run(
        slf: &Bound<'_, Self>,
        progress: Option<Py<PyAny>>,
        progress_every: u64,
    ) -> PyResult<()> {
        let py = slf.py();
        {
            let mut e = slf.borrow_mut();
            if e.ran {
                return Err(PyRuntimeError::new_err("the engine has already run"));
            }
            e.ran = true;
            let total = e.feed.total();
            e.recorder = Recorder::with_capacity(total);
        }
        let every = progress_every.max(1);
        let mut calls: Vec<usize> = Vec::new();
        // Strategies cannot change during a run: take their on_bar handlers once.
        let handlers: Vec<Option<Py<PyAny>>> = slf
            .borrow()
            .strategies
            .iter()
            .map(|st| st.on_bar.as_ref().map(|h| h.clone_ref(py)))
            .collect();
        let cross_handlers: Vec<Option<Py<PyAny>>> = slf
            .borrow()
            .crosses
            .iter()
            .map(|c| c.on_cross.as_ref().map(|h| h.clone_ref(py)))
            .collect();
        let mut fired: Vec<(usize, i8)> = Vec::new();
        loop {
            // Timers due strictly before this bar fire first, in time order.
            let next_ts = slf.borrow().feed.peek_ts();
            let Some(next_ts) = next_ts else {
                break;
            };
            fire_timers(slf, next_ts.saturating_sub(1))?;
            let (s, i, has_pending) = {
                let mut e = slf.borrow_mut();
                let Some((s, i)) = e.feed.next_row() else {
                    break;
                };
                e.step(py, s, i)?;
                std::mem::swap(&mut calls, &mut e.to_call);
                std::mem::swap(&mut fired, &mut e.fired);
                (s, i, !e.pending.is_empty())
            };
            if has_pending {
                dispatch(slf)?;
            }
            if !fired.is_empty() || !calls.is_empty() {
                // One Bar object per bar, shared by every callback that runs on it.
                let bar = Bound::new(py, slf.borrow().make_bar(s, i)?)?;
                for &(ci, direction) in &fired {
                    if let Some(h) = &cross_handlers[ci] {
                        h.call1(py, (bar.clone(), direction))?;
                    }
                }
                if !fired.is_empty() && !slf.borrow().pending.is_empty() {
                    dispatch(slf)?;
                }
                for &k in &calls {
                    if let Some(h) = &handlers[k] {
                        h.call1(py, (bar.clone(),))?;
                    }
                }
                if !slf.borrow().pending.is_empty() {
                    dispatch(slf)?;
                }
            }
            // Timers due at this bar's close fire after its callbacks (once every bar
            // of that timestamp is processed).
            if slf.borrow().feed.peek_ts() != Some(next_ts) {
                fire_timers(slf, next_ts)?;
            }
            if let Some(p) = &progress {
                let (done, total) = {
                    let e = slf.borrow();
                    (e.processed, e.feed.total())
                };
                if done % every == 0 {
                    p.call1(py, (done, total))?;
                }
            }
        }
        if let Some(p) = &progress {
            let e = slf.borrow();
            p.call1(py, (e.processed, e.feed.total()))?;
        }
        Ok(())
    }

    /// Run a vectorised strategy: ``target`` holds the signed position (raw units, int64)
    /// wanted after each bar of ``symbol``; the engine sends market orders for the
    /// difference with the same venue and risk rules as ``run``.
    fn run_signals(
        &mut self,
        strategy_id: &str,
        symbol: &str,
        target: PyReadonlyArray1<'_, i64>,
    ) -> PyResult<u64> {
        if self.ran {
            return Err(PyRuntimeError::new_err("the engine has already run"));
        }
        self.ran = true;
        let s = self.series_of(symbol)?;
        let target = target.as_slice()?;
        self.recorder = Recorder::with_capacity(self.feed.series[s].len());
        let out = signals::run_signals(
            &self.feed.series[s],
            target,
            strategy_id,
            &mut self.venue,
            self.risk.as_mut(),
            &mut self.recorder,
        )?;
        self.processed = self.feed.series[s].len() as u64;
        for (ts, msg) in out.denials {
            self.denials
                .push((ts, strategy_id.to_owned(), String::new(), msg));
        }
        Ok(out.orders)
    }

    /// ``(ts, equity)``: the equity curve, one point per timestamp (UTC ns, float money).
    fn equity_curve<'py>(
        &self,
        py: Python<'py>,
    ) -> (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<f64>>) {
        let ts: Vec<i64> = self
            .recorder
            .ts
            .iter()
            .map(|&t| i64::try_from(t).unwrap_or(i64::MAX))
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let eq: Vec<f64> = self
            .recorder
            .equity
            .iter()
            .map(|&e| e as f64 / 1e9)
            .collect();
        (ts.into_pyarray(py), eq.into_pyarray(py))
    }

    /// One flag per equity point: was any position open?
    fn position_open<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<bool>> {
        self.recorder.position_open.clone().into_pyarray(py)
    }

    /// Every fill: ``(ts, strategy_id, symbol, client_order_id, side, quantity_raw,
    /// price_raw, commission_raw)``.
    #[allow(clippy::type_complexity)]
    fn fills(&self) -> Vec<(u64, String, String, String, &'static str, i64, i64, i64)> {
        self.recorder
            .fills
            .iter()
            .map(|f| {
                (
                    f.ts,
                    f.strategy_id.clone(),
                    f.instrument.clone(),
                    f.client_order_id.clone(),
                    f.side.as_str(),
                    f.quantity,
                    f.price,
                    f.commission,
                )
            })
            .collect()
    }

    /// Closed round trips ``(strategy_id, symbol, sign, entry_ts, exit_ts, quantity_raw,
    /// entry_notional, exit_notional, commission_raw)`` in exit order (notionals are
    /// Σ quantity × price in raw × raw units, exact), and the positions still open
    /// ``(strategy_id, symbol, quantity_raw)``.
    #[allow(clippy::type_complexity)]
    fn round_trips(
        &self,
    ) -> (
        Vec<(String, String, i8, u64, u64, i64, i128, i128, i64)>,
        Vec<(String, String, i64)>,
    ) {
        let (trips, open) = round_trips(&self.recorder.fills);
        let trips = trips
            .into_iter()
            .map(|t| {
                (
                    t.strategy_id,
                    t.instrument,
                    t.sign,
                    t.entry_ts,
                    t.exit_ts,
                    t.quantity,
                    t.entry_notional,
                    t.exit_notional,
                    t.commission,
                )
            })
            .collect();
        (trips, open)
    }

    /// Σ |quantity × price| of all fills (raw money units).
    #[getter]
    fn traded_notional_raw(&self) -> i128 {
        self.recorder.traded_notional
    }

    /// Orders the risk engine refused: ``(ts, strategy_id, code, message)``.
    fn denials(&self) -> Vec<(u64, String, String, String)> {
        self.denials.clone()
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBacktestEngine>()?;
    m.add_class::<PyCrossOver>()?;
    Ok(())
}
