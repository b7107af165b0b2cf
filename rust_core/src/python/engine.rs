//! The Python face of [`crate::engine::Engine`]: converts and forwards.
//!
//! The loop, the command path and the timers are the Rust engine's. This file adapts
//! Python strategies to the [`Strategy`] trait (each callback a Python call) and lends the
//! engine to them: while a Python callback runs, the engine sits inside this object (one
//! pointer swap), so the strategy's calls (`submit`, `position`, ...) reach it as usual;
//! between callbacks the loop has it back. The object supports Python's cyclic GC
//! (strategies hold the engine, the engine holds their bound methods), so a finished
//! backtest is freed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use numpy::{IntoPyArray, PyArray1, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::{PyException, PyIndexError, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PySlice, PyString, PyTuple};
use pyo3::{PyTraverseError, PyVisit};

use super::bus::{PyBus, PyIngestQueue};
use super::clock::PyTimeEvent;
use super::errors::InvalidInputError;
use super::indicators::{
    EngineFed, PyAtr, PyBollinger, PyDonchian, PyEma, PyMacd, PyMomentum, PyRoc, PyRsi, PySma,
    PyStdDev, PyVwap, PyWma,
};
use super::orders::{
    decimal, fixed_arg, opt_raw_arg, quantity_arg, raw_arg, side_arg, PyOrder, PyOrderEvent,
};
use super::portfolio::{position, PyPortfolio, PyPosition, PyPositionEvent};
use super::risk::PyRiskEvent;
use super::risk::{cause_arg, sizing_arg, state_arg, PyDenial, PyRiskEngine};
use super::types::{PyBar, PyInstrument, PyQuoteTick, PyTradeTick};
use super::venue::PySimulatedVenue;
use crate::clock::TimeEvent;
use crate::engine::{
    round_trips, BarSeries, Callbacks, Column, CrossOver, Engine, FedIndicator, Feed, FillRecord,
    MarketEvent, OutEvent, Strategy, StrategySpec, TargetPositions,
};
use crate::indicators::BarInput;
use crate::orders::OrderEvent;
use crate::portfolio::{AccountConfig, Portfolio, PositionEvent};
use crate::risk::RiskEngine;
use crate::types::{Bar, BarType, Symbol};
use crate::venue::VenueEvent;
use crate::venue::{
    BrokerFill, BrokerUpdate, BrokerUpdateKind, Outgoing, SimulatedVenue, VenueConfig,
};
use crate::CoreError;

// ---------------------------------------------------------------------------- indicators

/// Feeds one bar to a Python indicator object and reads it back: `(ready, value)`.
type Feeder = fn(Python<'_>, &Py<PyAny>, &BarInput) -> PyResult<(bool, Option<f64>)>;

fn feed_as<T>(py: Python<'_>, obj: &Py<PyAny>, bar: &BarInput) -> PyResult<(bool, Option<f64>)>
where
    T: EngineFed + pyo3::PyClass<Frozen = pyo3::pyclass::boolean_struct::False>,
{
    // One cast and one borrow per bar: the value is read while the object is at hand.
    let b = obj.bind(py).cast::<T>()?;
    let mut r = b.borrow_mut();
    r.feed(bar)?;
    Ok((r.ready(), r.level()))
}

/// A Python indicator object (one of `pi5trading.indicators`' classes) in an engine slot:
/// the engine feeds the very object the strategy reads.
#[derive(Debug)]
struct PyIndicatorSlot {
    obj: Py<PyAny>,
    feeder: Feeder,
    /// The value after the last feed (what crossovers compare, without another call).
    level: Option<f64>,
}

impl PyIndicatorSlot {
    fn new(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        macro_rules! pick {
            ($($t:ty),*) => {
                $(if obj.is_instance_of::<$t>() {
                    return Ok(Self {
                        obj: obj.clone().unbind(),
                        feeder: feed_as::<$t>,
                        level: None,
                    });
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
}

fn py_to_core(e: &PyErr) -> CoreError {
    CoreError::invalid("indicator", e.to_string())
}

impl FedIndicator for PyIndicatorSlot {
    fn feed(&mut self, bar: &BarInput) -> Result<bool, CoreError> {
        let (ready, level) =
            Python::attach(|py| (self.feeder)(py, &self.obj, bar).map_err(|e| py_to_core(&e)))?;
        self.level = level;
        Ok(ready)
    }
    fn level(&self) -> Option<f64> {
        self.level
    }
}

// ---------------------------------------------------------------------------- crossovers

#[derive(Debug)]
enum CrossInner {
    /// Fed by hand with `update`.
    Own(CrossOver),
    /// A slot of an engine, updated by it on every bar.
    Engine { engine: Py<PyEngine>, slot: usize },
}

/// A crossover of two series (or of a series and a level).
///
/// `value` is +1 on the update where the first moved above the second, -1 where it moved
/// below, 0 otherwise; an equality in between does not hide a cross.
#[pyclass(name = "CrossOver", module = "pi5trading._core")]
#[derive(Debug)]
pub(crate) struct PyCrossOver(CrossInner);

impl PyCrossOver {
    fn read(&self, py: Python<'_>) -> PyResult<CrossOver> {
        match &self.0 {
            CrossInner::Own(c) => Ok(*c),
            CrossInner::Engine { engine, slot } => {
                let e = engine.bind(py).try_borrow()?;
                e.engine
                    .cross(*slot)
                    .copied()
                    .ok_or_else(|| CoreError::invalid("crossover", "unknown slot").into())
            }
        }
    }
}

#[pymethods]
impl PyCrossOver {
    #[new]
    fn py_new() -> Self {
        Self(CrossInner::Own(CrossOver::new()))
    }

    /// Feed the two current values (`None` or NaN while warming up).
    fn update(&mut self, a: Option<f64>, b: Option<f64>) -> PyResult<()> {
        match &mut self.0 {
            CrossInner::Own(c) => {
                c.update(a.filter(|x| !x.is_nan()), b.filter(|x| !x.is_nan()));
                Ok(())
            }
            CrossInner::Engine { .. } => Err(PyRuntimeError::new_err(
                "this crossover is updated by its engine",
            )),
        }
    }

    /// +1 crossed above, -1 crossed below, 0 no cross on the last update.
    #[getter]
    fn value(&self, py: Python<'_>) -> PyResult<i8> {
        Ok(self.read(py)?.value())
    }

    /// Which side the first series is on: +1 above, -1 below, 0 unknown.
    #[getter]
    fn side(&self, py: Python<'_>) -> PyResult<i8> {
        Ok(self.read(py)?.side())
    }

    fn reset(&mut self) -> PyResult<()> {
        match &mut self.0 {
            CrossInner::Own(c) => {
                c.reset();
                Ok(())
            }
            CrossInner::Engine { .. } => Err(PyRuntimeError::new_err(
                "this crossover is updated by its engine",
            )),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let c = self.read(py)?;
        Ok(format!("CrossOver(value={}, side={})", c.value(), c.side()))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let CrossInner::Engine { engine, .. } = &self.0 {
            visit.call(engine)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.0 = CrossInner::Own(CrossOver::new());
    }
}

// ---------------------------------------------------------------------------- strategies

/// A Python strategy's callbacks (bound methods; `None` for those it does not implement).
#[derive(Debug, Default)]
struct Handlers {
    on_start: Option<Py<PyAny>>,
    on_bar: Option<Py<PyAny>>,
    on_order: Option<Py<PyAny>>,
    on_fill: Option<Py<PyAny>>,
    on_position: Option<Py<PyAny>>,
    on_timer: Option<Py<PyAny>>,
    on_stop: Option<Py<PyAny>>,
    /// `(crossover slot, handler(bar, direction))`.
    on_cross: Vec<(usize, Py<PyAny>)>,
    /// `(engine indicator slot, the indicator object)`: fed by the strategy's adapter
    /// (`feed_indicator`), which holds the interpreter token, so a feed needs no attach.
    indicators: Vec<(usize, PyIndicatorSlot)>,
}

impl Handlers {
    fn each(&self) -> impl Iterator<Item = &Py<PyAny>> {
        [
            &self.on_start,
            &self.on_bar,
            &self.on_order,
            &self.on_fill,
            &self.on_position,
            &self.on_timer,
            &self.on_stop,
        ]
        .into_iter()
        .flatten()
        .chain(self.on_cross.iter().map(|(_, h)| h))
        .chain(self.indicators.iter().map(|(_, i)| &i.obj))
    }

    /// `on_bar`'s call for an adapter (`None` without an `on_bar`).
    fn bar_call(&self, py: Python<'_>) -> PyResult<Option<BarCall>> {
        self.on_bar
            .as_ref()
            .map(|h| BarCall::new(py, h))
            .transpose()
    }

    fn clone_ref(&self, py: Python<'_>) -> Self {
        let c = |h: &Option<Py<PyAny>>| h.as_ref().map(|x| x.clone_ref(py));
        Self {
            on_start: c(&self.on_start),
            on_bar: c(&self.on_bar),
            on_order: c(&self.on_order),
            on_fill: c(&self.on_fill),
            on_position: c(&self.on_position),
            on_timer: c(&self.on_timer),
            on_stop: c(&self.on_stop),
            on_cross: self
                .on_cross
                .iter()
                .map(|(s, h)| (*s, h.clone_ref(py)))
                .collect(),
            // Registered in `on_start`, after the adapters took their copy: read from the
            // engine object when fed.
            indicators: Vec::new(),
        }
    }
}

/// `on_bar`'s call, kept from bar to bar: the function and its argument tuple, with the
/// one `Bar` object in it overwritten for each bar while nothing else holds them. A new
/// `Bar` per bar (an allocation, its initialisation, a free) and a new argument tuple were
/// a tenth of a Python `on_bar` backtest's instructions.
#[derive(Debug)]
struct BarCall {
    /// A bound method's function (called with `(strategy, bar)`: no bound-method hop per
    /// call), or the handler itself when it is no bound method (called with `(bar,)`).
    func: Py<PyAny>,
    /// The strategy object when `func` is a method's function.
    this: Option<Py<PyAny>>,
    /// The last call's arguments and the `Bar` in them (`None` before the first bar).
    args: Option<(Py<PyTuple>, Py<PyBar>)>,
}

impl BarCall {
    fn new(py: Python<'_>, handler: &Py<PyAny>) -> PyResult<Self> {
        static METHOD: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let method = METHOD.import(py, "types", "MethodType")?;
        let h = handler.bind(py);
        if h.is_instance(method)? {
            return Ok(Self {
                func: h.getattr("__func__")?.unbind(),
                this: Some(h.getattr("__self__")?.unbind()),
                args: None,
            });
        }
        Ok(Self {
            func: handler.clone_ref(py),
            this: None,
            args: None,
        })
    }

    /// The arguments for `bar`. The last call's tuple and `Bar` are reused with the new
    /// values when only this adapter holds them (the tuple: one reference, ours; the bar:
    /// ours and the tuple's). A strategy that kept the bar (appended it to a list, stored
    /// it on itself) raised its count: it keeps that object, unchanged, and this bar gets
    /// a new one.
    fn args<'py>(&mut self, py: Python<'py>, bar: &Bar) -> PyResult<Bound<'py, PyTuple>> {
        if let Some((args, obj)) = &self.args {
            // `get_refcnt` is exact under the GIL (an abi3 module never runs free-threaded).
            #[allow(deprecated)]
            let alone = args.get_refcnt(py) == 1 && obj.get_refcnt(py) == 2;
            if alone {
                if let Ok(mut b) = obj.bind(py).try_borrow_mut() {
                    b.0 = *bar;
                    return Ok(args.bind(py).clone());
                }
            }
        }
        let obj = Py::new(py, PyBar(*bar))?;
        let args = match &self.this {
            Some(this) => PyTuple::new(py, [this.bind(py).as_any(), obj.bind(py).as_any()])?,
            None => PyTuple::new(py, [obj.bind(py).as_any()])?,
        };
        self.args = Some((args.clone().unbind(), obj));
        Ok(args)
    }

    fn each(&self) -> impl Iterator<Item = &Py<PyAny>> {
        let args = self.args.as_ref().map(|(a, _)| a.as_any());
        std::iter::once(&self.func)
            .chain(self.this.as_ref())
            .chain(args)
    }
}

/// Adapts one Python strategy to the engine's [`Strategy`] trait for the length of a run.
struct PyStrategy<'py> {
    cell: Bound<'py, PyEngine>,
    /// The strategy's index (its cross handlers, set in `on_start`, are read from the
    /// engine object when a cross fires).
    k: usize,
    h: Handlers,
    /// `on_bar`'s call (`None` when the strategy has no `on_bar`).
    bar_call: Option<BarCall>,
    /// The strategy's indicator objects by engine slot, taken from the engine object the
    /// first time a slot is fed (they are registered in `on_start`).
    fed: Vec<Option<(Py<PyAny>, Feeder)>>,
    /// Live: a callback's exception stops this strategy only (kept in `failed`, the
    /// strategy made inactive) instead of ending the step; a backtest lets it end the run.
    isolate: bool,
    failed: Option<PyErr>,
}

/// What a live strategy adapter keeps between steps.
#[derive(Debug)]
struct LiveSlot {
    h: Handlers,
    bar_call: Option<BarCall>,
    fed: Vec<Option<(Py<PyAny>, Feeder)>>,
}

/// Call `f` with `engine` lent to the Python engine object `cell` (where the strategy's
/// calls reach it), then take it back.
fn lend(
    cell: &Bound<'_, PyEngine>,
    engine: &mut Engine,
    f: impl FnOnce(Python<'_>) -> PyResult<()>,
) -> PyResult<()> {
    std::mem::swap(engine, &mut cell.try_borrow_mut()?.engine);
    let result = f(cell.py());
    std::mem::swap(engine, &mut cell.try_borrow_mut()?.engine);
    result
}

impl PyStrategy<'_> {
    /// A callback's result: in a live engine an `Exception` fails this strategy alone.
    #[inline]
    fn outcome<T: Default>(&mut self, engine: &mut Engine, r: PyResult<T>) -> PyResult<T> {
        match r {
            Ok(v) => Ok(v),
            Err(e) => self.failure(engine, e),
        }
    }

    #[cold]
    #[inline(never)]
    fn failure<T: Default>(&mut self, engine: &mut Engine, e: PyErr) -> PyResult<T> {
        if !(self.isolate && e.is_instance_of::<PyException>(self.cell.py())) {
            return Err(e);
        }
        // The first failure is the one reported; no more callbacks after it.
        if self.failed.is_none() {
            self.failed = Some(e);
        }
        engine.set_active(self.k, false)?;
        Ok(T::default())
    }

    /// Call `f` with the engine lent to this Python object, then take it back.
    fn lend(
        &self,
        engine: &mut Engine,
        f: impl FnOnce(Python<'_>) -> PyResult<()>,
    ) -> PyResult<()> {
        lend(&self.cell, engine, f)
    }

    fn call(
        engine: &mut Engine,
        this: &Self,
        h: &Option<Py<PyAny>>,
        arg: impl FnOnce(Python<'_>) -> PyResult<Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let Some(h) = h else { return Ok(()) };
        this.lend(engine, |py| h.call1(py, (arg(py)?,)).map(|_| ()))
    }
}

impl Strategy<PyErr> for PyStrategy<'_> {
    fn on_start(&mut self, engine: &mut Engine) -> PyResult<()> {
        let Some(h) = &self.h.on_start else {
            return Ok(());
        };
        let r = self.lend(engine, |py| h.call0(py).map(|_| ()));
        self.outcome(engine, r)
    }
    fn on_bar(&mut self, engine: &mut Engine, bar: &Bar) -> PyResult<()> {
        let Some(call) = self.bar_call.as_mut() else {
            return Ok(());
        };
        let r = lend(&self.cell, engine, |py| {
            let args = call.args(py, bar)?;
            call.func.call1(py, &args).map(|_| ())
        });
        self.outcome(engine, r)
    }
    fn on_cross(
        &mut self,
        engine: &mut Engine,
        cross: usize,
        bar: &Bar,
        direction: i8,
    ) -> PyResult<()> {
        let py = self.cell.py();
        let handler = match self.cell.try_borrow()?.slots.get(self.k) {
            Some(Slot::Py(h)) => h
                .on_cross
                .iter()
                .find(|(s, _)| *s == cross)
                .map(|(_, h)| h.clone_ref(py)),
            _ => None,
        };
        let Some(h) = handler else {
            return Ok(());
        };
        let r = self.lend(engine, |py| {
            h.call1(py, (PyBar(*bar), direction)).map(|_| ())
        });
        self.outcome(engine, r)
    }
    fn on_order(&mut self, engine: &mut Engine, event: &OrderEvent) -> PyResult<()> {
        let r = Self::call(engine, self, &self.h.on_order, |py| {
            Ok(Bound::new(py, PyOrderEvent(event.clone()))?.into_any())
        });
        self.outcome(engine, r)
    }
    fn on_fill(&mut self, engine: &mut Engine, event: &OrderEvent) -> PyResult<()> {
        let r = Self::call(engine, self, &self.h.on_fill, |py| {
            Ok(Bound::new(py, PyOrderEvent(event.clone()))?.into_any())
        });
        self.outcome(engine, r)
    }
    fn on_position(&mut self, engine: &mut Engine, event: &PositionEvent) -> PyResult<()> {
        let r = Self::call(engine, self, &self.h.on_position, |py| {
            Ok(Bound::new(py, PyPositionEvent(event.clone()))?.into_any())
        });
        self.outcome(engine, r)
    }
    fn on_timer(&mut self, engine: &mut Engine, event: &TimeEvent) -> PyResult<()> {
        let r = Self::call(engine, self, &self.h.on_timer, |py| {
            Ok(Bound::new(py, PyTimeEvent(event.clone()))?.into_any())
        });
        self.outcome(engine, r)
    }
    fn on_stop(&mut self, engine: &mut Engine) -> PyResult<()> {
        let Some(h) = &self.h.on_stop else {
            return Ok(());
        };
        let r = self.lend(engine, |py| h.call0(py).map(|_| ()));
        self.outcome(engine, r)
    }
    fn feed_indicator(&mut self, slot: usize, bar: &BarInput) -> PyResult<(bool, Option<f64>)> {
        let py = self.cell.py();
        if self.fed.get(slot).is_none_or(Option::is_none) {
            let me = self.cell.try_borrow()?;
            let found = match me.slots.get(self.k) {
                Some(Slot::Py(h)) => h.indicators.iter().find(|(s, _)| *s == slot),
                _ => None,
            };
            let Some((_, ind)) = found else {
                let e = CoreError::InvalidState(format!("indicator slot {slot} has no object"));
                return Err(e.into());
            };
            if self.fed.len() <= slot {
                self.fed.resize_with(slot + 1, || None);
            }
            self.fed[slot] = Some((ind.obj.clone_ref(py), ind.feeder));
        }
        match &self.fed[slot] {
            // The same conversion of an indicator's error as the engine-fed slot's.
            Some((obj, feeder)) => feeder(py, obj, bar).map_err(|e| py_to_core(&e).into()),
            None => Ok((false, None)),
        }
    }
}

/// A strategy of a run: a Python object's adapter, or the Rust vectorised one.
type Runner<'py> = Box<dyn Strategy<PyErr> + 'py>;

enum Slot {
    Py(Handlers),
    Targets(TargetPositions),
}

// ---------------------------------------------------------------------------- records

/// One execution of a run, attributed to its strategy. Prices and quantities are exact
/// raw integers (units of 10^-9); `ts` is the fill's market time (UTC ns).
#[pyclass(frozen, eq, get_all, name = "FillRecord", module = "pi5trading._core")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PyFillRecord {
    ts: u64,
    strategy_id: String,
    symbol: String,
    client_order_id: String,
    side: &'static str,
    quantity_raw: i64,
    price_raw: i64,
    commission_raw: i64,
}

impl From<&FillRecord> for PyFillRecord {
    fn from(f: &FillRecord) -> Self {
        Self {
            ts: f.ts.0,
            strategy_id: f.strategy_id.into(),
            symbol: f.instrument.into(),
            client_order_id: f.client_order_id.into(),
            side: f.side.as_str(),
            quantity_raw: f.quantity.raw(),
            price_raw: f.price.raw(),
            commission_raw: f.commission.raw(),
        }
    }
}

/// A run's fills as a read-only sequence of `FillRecord`s, made one at a time when read:
/// the fills stay in the engine's compact form (a million-bar run keeps tens of thousands
/// of them), shared, never copied.
#[pyclass(frozen, sequence, name = "FillLog", module = "pi5trading._core")]
pub(crate) struct PyFillLog(Arc<[FillRecord]>);

#[pymethods]
impl PyFillLog {
    fn __len__(&self) -> usize {
        self.0.len()
    }

    fn __getitem__(&self, py: Python<'_>, index: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if let Ok(slice) = index.cast::<PySlice>() {
            let ix = slice.indices(isize::try_from(self.0.len()).unwrap_or(isize::MAX))?;
            let mut out = Vec::with_capacity(ix.slicelength);
            let mut i = ix.start;
            for _ in 0..ix.slicelength {
                let k = usize::try_from(i).map_err(|_| PyIndexError::new_err("fill index"))?;
                out.push(PyFillRecord::from(&self.0[k]));
                i += ix.step;
            }
            return Ok(out.into_pyobject(py)?.into_any().unbind());
        }
        let i: isize = index.extract()?;
        let n = isize::try_from(self.0.len()).unwrap_or(isize::MAX);
        let k = if i < 0 { i + n } else { i };
        let f = usize::try_from(k)
            .ok()
            .and_then(|k| self.0.get(k))
            .ok_or_else(|| PyIndexError::new_err("fill index out of range"))?;
        Ok(Py::new(py, PyFillRecord::from(f))?.into_any())
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyFillIter {
        PyFillIter {
            fills: Arc::clone(&slf.0),
            next: AtomicUsize::new(0),
        }
    }

    /// Equal to another `FillLog` or a sequence of the same `FillRecord`s (`== []`).
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> PyResult<bool> {
        if let Ok(o) = other.cast::<PyFillLog>() {
            return Ok(*self.0 == *o.get().0);
        }
        let Ok(n) = other.len() else {
            return Ok(false);
        };
        if n != self.0.len() {
            return Ok(false);
        }
        for (k, f) in self.0.iter().enumerate() {
            let item = other.get_item(k)?;
            let Ok(r) = item.cast::<PyFillRecord>() else {
                return Ok(false);
            };
            if *r.get() != PyFillRecord::from(f) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn __repr__(&self) -> String {
        format!("FillLog({} fills)", self.0.len())
    }

    /// Closed round trips in exit order, and the positions still open
    /// ``(strategy_id, symbol, quantity_raw)``, computed from these fills.
    fn round_trips(&self) -> TripsAndOpen {
        trips_of(&self.0)
    }
}

type TripsAndOpen = (Vec<PyRoundTrip>, Vec<(String, String, i64)>);

/// Closed round trips in exit order, and the positions still open
/// ``(strategy_id, symbol, quantity_raw)``, from `fills`.
fn trips_of(fills: &[FillRecord]) -> TripsAndOpen {
    let (trips, open) = round_trips(fills);
    let trips = trips
        .into_iter()
        .map(|t| PyRoundTrip {
            strategy_id: t.strategy_id.into(),
            symbol: t.instrument.into(),
            sign: t.sign,
            entry_ts: t.entry_ts,
            exit_ts: t.exit_ts,
            quantity_raw: t.quantity,
            entry_notional_raw: t.entry_notional,
            exit_notional_raw: t.exit_notional,
            commission_raw: t.commission,
        })
        .collect();
    let open = open
        .into_iter()
        .map(|(s, i, q)| (s.into(), i.into(), q))
        .collect();
    (trips, open)
}

/// Iterates a `FillLog`.
#[pyclass(frozen, name = "FillIter", module = "pi5trading._core")]
pub(crate) struct PyFillIter {
    fills: Arc<[FillRecord]>,
    next: AtomicUsize,
}

#[pymethods]
impl PyFillIter {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self) -> Option<PyFillRecord> {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        self.fills.get(k).map(PyFillRecord::from)
    }
}

#[pymethods]
impl PyFillRecord {
    fn __repr__(&self) -> String {
        format!(
            "FillRecord({} {} {} {} x {} at {})",
            self.ts,
            self.client_order_id,
            self.side,
            self.symbol,
            self.quantity_raw,
            self.price_raw
        )
    }
}

/// A closed round trip: flat → position → flat, for one strategy and instrument. Notionals
/// are Σ quantity × price in raw × raw units, exact.
#[pyclass(frozen, get_all, name = "RoundTrip", module = "pi5trading._core")]
#[derive(Debug, Clone)]
pub(crate) struct PyRoundTrip {
    strategy_id: String,
    symbol: String,
    /// +1 long, -1 short.
    sign: i8,
    entry_ts: u64,
    exit_ts: u64,
    quantity_raw: i64,
    entry_notional_raw: i128,
    exit_notional_raw: i128,
    commission_raw: i64,
}

#[pymethods]
impl PyRoundTrip {
    fn __repr__(&self) -> String {
        format!(
            "RoundTrip({} {} {} {}..{})",
            self.strategy_id,
            self.symbol,
            if self.sign > 0 { "long" } else { "short" },
            self.entry_ts,
            self.exit_ts
        )
    }
}

/// An order the risk engine refused during a run, with the structured reason.
#[pyclass(frozen, get_all, name = "DenialRecord", module = "pi5trading._core")]
#[derive(Debug, Clone)]
pub(crate) struct PyDenialRecord {
    ts: u64,
    strategy_id: String,
    client_order_id: String,
    denial: PyDenial,
    /// ``submit`` (the order was refused) or ``modify`` (a change was refused; the order
    /// stands).
    action: &'static str,
}

#[pymethods]
impl PyDenialRecord {
    /// The machine-readable code (``denial.code``).
    #[getter]
    fn code(&self) -> &'static str {
        self.denial.0.code.as_str()
    }
    /// The message for people (``denial.message``).
    #[getter]
    fn message(&self) -> &str {
        &self.denial.0.message
    }
    fn __repr__(&self) -> String {
        format!(
            "DenialRecord({} {} {}: {})",
            self.ts,
            self.client_order_id,
            self.denial.0.code.as_str(),
            self.denial.0.message
        )
    }
}

// ---------------------------------------------------------------------------- the engine

/// The engine, from Python. Build it with a configured `SimulatedVenue` (copied) and an
/// optional `RiskEngine` (its configuration; the run starts from a fresh risk state), add
/// instruments, bars and strategies, then `run()`.
#[pyclass(name = "Engine", module = "pi5trading._core", weakref)]
pub(crate) struct PyEngine {
    engine: Engine,
    slots: Vec<Slot>,
    series: Vec<PySeries>,
    /// The recorded equity curve, moved out of the engine (no copy) after the run.
    curve: Option<StoredCurve>,
    /// The run's fills, moved out of the engine after the run, shared with `FillLog`s.
    fills: Option<Arc<[FillRecord]>>,
    /// Live stepping (after `start`): the strategies' adapters between steps; `None`
    /// before `start` and while a step runs.
    live: Option<Vec<LiveSlot>>,
    /// What `engine` is swapped with while a step has it (made once: a swap per batch is
    /// a pointer move).
    spare: Option<Engine>,
    /// The stepped data `(topic, object)` the outbox's `Market(n)` marks refer to.
    data_out: Vec<(Py<PyString>, Py<PyAny>)>,
    /// Strategies whose callbacks raised during live steps: `(index, exception)`.
    failures: Vec<(usize, PyErr)>,
    /// Events a live step refused (out of time order, unknown instrument): `(topic, ts,
    /// message)`.
    rejected: Vec<(String, u64, String)>,
    /// Live: a strategy's exception stops that strategy alone (`take_failures`); off, it
    /// ends the step with the exception (a backtest driven step by step).
    isolate: bool,
}

/// One drained event for a live step.
struct Incoming<'py> {
    topic: Bound<'py, PyString>,
    ts: u64,
    message: Bound<'py, PyAny>,
}

impl std::fmt::Debug for PyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("strategies", &self.slots.len())
            .finish_non_exhaustive()
    }
}

/// A column of the caller's bars, kept by reference: the run reads it in place.
#[derive(Debug)]
enum PyColumn {
    Raw(Py<PyArray1<i64>>),
    Float(Py<PyArray1<f64>>),
}

impl PyColumn {
    fn new(field: &'static str, arr: &Bound<'_, PyAny>) -> PyResult<Self> {
        let contiguous = |ok: bool| -> PyResult<()> {
            if ok {
                Ok(())
            } else {
                Err(PyTypeError::new_err(format!(
                    "{field}: the array must be C-contiguous (np.ascontiguousarray)"
                )))
            }
        };
        if let Ok(a) = arr.cast::<PyArray1<i64>>() {
            contiguous(a.is_contiguous())?;
            return Ok(Self::Raw(a.clone().unbind()));
        }
        if let Ok(a) = arr.cast::<PyArray1<f64>>() {
            contiguous(a.is_contiguous())?;
            return Ok(Self::Float(a.clone().unbind()));
        }
        Err(PyTypeError::new_err(format!(
            "{field}: expected a 1-D int64 (raw units of 10^-9) or float64 (prices) NumPy array"
        )))
    }
}

/// Read borrows of one series' arrays for the length of a run (or a validation).
enum Borrowed<'py> {
    Raw(numpy::PyReadonlyArray1<'py, i64>),
    Float(numpy::PyReadonlyArray1<'py, f64>),
}

impl<'py> Borrowed<'py> {
    fn of(py: Python<'py>, c: &PyColumn) -> PyResult<Self> {
        Ok(match c {
            PyColumn::Raw(a) => Self::Raw(a.bind(py).try_readonly()?),
            PyColumn::Float(a) => Self::Float(a.bind(py).try_readonly()?),
        })
    }

    fn column(&self) -> PyResult<Column<'_>> {
        Ok(match self {
            Self::Raw(a) => Column::from(a.as_slice()?),
            Self::Float(a) => Column::from(a.as_slice()?),
        })
    }
}

/// One instrument's bars as the caller's arrays.
#[derive(Debug)]
struct PySeries {
    bar_type: BarType,
    /// The instrument's tick the prices were checked against.
    tick: i64,
    ts: Py<PyArray1<i64>>,
    /// open, high, low, close, volume.
    cols: [PyColumn; 5],
}

struct BorrowedSeries<'py> {
    bar_type: BarType,
    ts: numpy::PyReadonlyArray1<'py, i64>,
    cols: Vec<Borrowed<'py>>,
}

impl<'py> BorrowedSeries<'py> {
    fn of(py: Python<'py>, s: &PySeries) -> PyResult<Self> {
        Ok(Self {
            bar_type: s.bar_type,
            ts: s.ts.bind(py).try_readonly()?,
            cols: s
                .cols
                .iter()
                .map(|c| Borrowed::of(py, c))
                .collect::<PyResult<_>>()?,
        })
    }

    fn series(&self) -> PyResult<BarSeries<'_>> {
        let c = |k: usize| self.cols[k].column();
        Ok(BarSeries::new(
            self.bar_type,
            self.ts.as_slice()?,
            c(0)?,
            c(1)?,
            c(2)?,
            c(3)?,
            c(4)?,
        )?)
    }

    /// The series again for a run: validated when it was added (the arrays are the same
    /// objects, read-only while borrowed).
    fn series_again(&self, tick: i64) -> PyResult<BarSeries<'_>> {
        let c = |k: usize| self.cols[k].column();
        Ok(BarSeries::revalidated(
            self.bar_type,
            self.ts.as_slice()?,
            c(0)?,
            c(1)?,
            c(2)?,
            c(3)?,
            c(4)?,
            tick,
        ))
    }
}

/// `(quantity, price, commission)` of an earlier fill, as Python gives it.
type ExactFill<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>);

fn placeholder() -> PyResult<Engine> {
    let portfolio = Portfolio::new(AccountConfig::default())?;
    Ok(Engine::new(
        SimulatedVenue::new(VenueConfig::default(), portfolio),
        None,
    ))
}

/// `(ts, equity, position_open)` arrays kept after a run.
type StoredCurve = (Py<PyArray1<i64>>, Py<PyArray1<f64>>, Py<PyArray1<bool>>);
type CurvePair<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<f64>>);

type Curve<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<bool>>,
);

impl PyEngine {
    /// The fills: the run's (shared), or those recorded so far (copied).
    fn fill_records(&self) -> Arc<[FillRecord]> {
        self.fills
            .clone()
            .unwrap_or_else(|| self.engine.recorder().fills.as_slice().into())
    }

    fn curve<'py>(&self, py: Python<'py>) -> PyResult<Curve<'py>> {
        match &self.curve {
            Some((t, e, o)) => Ok((t.bind(py).clone(), e.bind(py).clone(), o.bind(py).clone())),
            None => Err(PyRuntimeError::new_err("the engine has not run yet")),
        }
    }

    /// Borrow every series' arrays for the run and drive the engine over them.
    fn run_feed<'py, P>(
        slf: &Bound<'py, Self>,
        engine: &mut Engine,
        runners: &mut [Runner<'py>],
        progress: Option<P>,
        every: u64,
    ) -> PyResult<()>
    where
        P: FnMut(u64, usize) -> PyResult<()>,
    {
        let py = slf.py();
        let (borrowed, ticks): (Vec<BorrowedSeries<'_>>, Vec<i64>) = {
            let me = slf.try_borrow()?;
            let mut b = Vec::with_capacity(me.series.len());
            let mut t = Vec::with_capacity(me.series.len());
            for s in &me.series {
                b.push(BorrowedSeries::of(py, s)?);
                t.push(s.tick);
            }
            (b, t)
        };
        let mut feed = Feed::new();
        for (b, tick) in borrowed.iter().zip(ticks) {
            feed.add(b.series_again(tick)?);
        }
        engine.run(&mut feed, runners, progress, every)
    }
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (venue, risk=None))]
    fn py_new(
        venue: PyRef<'_, PySimulatedVenue>,
        risk: Option<PyRef<'_, PyRiskEngine>>,
    ) -> PyResult<Self> {
        let risk = match risk {
            Some(r) => Some(RiskEngine::new(r.0.config())?),
            None => None,
        };
        Ok(Self {
            engine: Engine::new(venue.0.clone(), risk),
            slots: Vec::new(),
            series: Vec::new(),
            curve: None,
            fills: None,
            live: None,
            spare: None,
            data_out: Vec::new(),
            failures: Vec::new(),
            rejected: Vec::new(),
            isolate: true,
        })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        for s in &self.slots {
            if let Slot::Py(h) = s {
                for obj in h.each() {
                    visit.call(obj)?;
                }
            }
        }
        for l in self.live.iter().flatten() {
            for obj in l.h.each() {
                visit.call(obj)?;
            }
            for obj in l.bar_call.iter().flat_map(BarCall::each) {
                visit.call(obj)?;
            }
            for (obj, _) in l.fed.iter().flatten() {
                visit.call(obj)?;
            }
        }
        for (t, m) in &self.data_out {
            visit.call(t)?;
            visit.call(m)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.slots.clear();
        self.live = None;
        self.data_out.clear();
        self.failures.clear();
    }

    /// Register an instrument with the venue and the risk engine.
    fn add_instrument(&mut self, instrument: PyRef<'_, PyInstrument>) -> PyResult<()> {
        self.engine.add_instrument(&instrument.0)?;
        Ok(())
    }

    /// Add one instrument's bars: `ts` (int64 UTC ns, the bar's close time, strictly
    /// increasing) and OHLCV columns (int64 raw units of 10^-9, or float64 prices rounded
    /// half to even to 10^-9), C-contiguous. Every row is validated; the first bad one is
    /// named (0-based) and nothing is added. Prices finer than the instrument's tick are
    /// accepted (orders are put on the tick, fills take the data's prices). The arrays are
    /// read in place during the run (no copy): do not modify them until it ends.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (symbol, interval, ts, open, high, low, close, volume))]
    fn add_bars(
        &mut self,
        py: Python<'_>,
        symbol: &str,
        interval: &str,
        ts: &Bound<'_, PyAny>,
        open: &Bound<'_, PyAny>,
        high: &Bound<'_, PyAny>,
        low: &Bound<'_, PyAny>,
        close: &Bound<'_, PyAny>,
        volume: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        if self.engine.started() {
            return Err(PyRuntimeError::new_err(
                "add_bars: the engine has already run",
            ));
        }
        let ins = self.engine.instrument_index(symbol)?;
        if self
            .series
            .iter()
            .any(|s| s.bar_type.symbol.as_str() == symbol)
        {
            return Err(CoreError::invalid(
                "symbol",
                format!("bars for {symbol:?} were already added"),
            )
            .into());
        }
        let bar_type: BarType = format!("{symbol}-{interval}").parse()?;
        let ts = ts.cast::<PyArray1<i64>>().map_err(|_| {
            PyTypeError::new_err("ts: expected a 1-D int64 NumPy array of UTC nanoseconds")
        })?;
        if !ts.is_contiguous() {
            return Err(PyTypeError::new_err(
                "ts: the array must be C-contiguous (np.ascontiguousarray)",
            ));
        }
        let tick = self.engine.instrument(ins).map_or(0, |i| i.tick);
        let series = PySeries {
            bar_type,
            tick,
            ts: ts.clone().unbind(),
            cols: [
                PyColumn::new("open", open)?,
                PyColumn::new("high", high)?,
                PyColumn::new("low", low)?,
                PyColumn::new("close", close)?,
                PyColumn::new("volume", volume)?,
            ],
        };
        // Validate now, so a bad file fails at loading rather than mid-run.
        let borrowed = BorrowedSeries::of(py, &series)?;
        let checked = borrowed.series()?;
        // Prices finer than the instrument's tick are the data's: fills take them as they
        // are; only orders are put on the tick (`engine::commands::onto_tick`).
        let n = checked.len();
        drop(borrowed);
        self.series.push(series);
        Ok(n)
    }

    /// Add a strategy: its id, the callbacks it implements (``None`` for the others, so the
    /// engine never calls an empty method) and the symbols whose bars it receives.
    /// Returns the strategy's index, used by the other methods.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (strategy_id, symbols, *, on_bar=None, on_order=None, on_fill=None, on_position=None, on_timer=None, on_start=None, on_stop=None, warmup=false))]
    fn add_strategy(
        &mut self,
        strategy_id: &str,
        symbols: Vec<String>,
        on_bar: Option<Py<PyAny>>,
        on_order: Option<Py<PyAny>>,
        on_fill: Option<Py<PyAny>>,
        on_position: Option<Py<PyAny>>,
        on_timer: Option<Py<PyAny>>,
        on_start: Option<Py<PyAny>>,
        on_stop: Option<Py<PyAny>>,
        warmup: bool,
    ) -> PyResult<usize> {
        let callbacks = Callbacks {
            bar: on_bar.is_some(),
            order: on_order.is_some(),
            fill: on_fill.is_some(),
            position: on_position.is_some(),
            timer: on_timer.is_some(),
        };
        let k = self.engine.add_strategy(StrategySpec {
            id: strategy_id.to_owned(),
            symbols,
            callbacks,
            warmup,
        })?;
        self.slots.push(Slot::Py(Handlers {
            on_start,
            on_bar,
            on_order,
            on_fill,
            on_position,
            on_timer,
            on_stop,
            on_cross: Vec::new(),
            indicators: Vec::new(),
        }));
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
        let slot = PyIndicatorSlot::new(indicator)?;
        if let Some(Slot::Py(h)) = self.slots.get_mut(strategy) {
            // A Python strategy's adapter feeds it (no interpreter attach per feed).
            let k = self.engine.register_strategy_indicator(strategy, symbol)?;
            h.indicators.push((k, slot));
            return Ok(k);
        }
        Ok(self
            .engine
            .register_indicator(strategy, symbol, Box::new(slot))?)
    }

    /// A ``CrossOver`` of two registered indicator slots of the same symbol, updated by the
    /// engine after them on every bar.
    fn register_crossover(slf: &Bound<'_, Self>, a: usize, b: usize) -> PyResult<PyCrossOver> {
        let slot = slf.borrow_mut().engine.register_crossover(a, b)?;
        Ok(PyCrossOver(CrossInner::Engine {
            engine: slf.clone().unbind(),
            slot,
        }))
    }

    /// A ``CrossOver`` of a registered indicator slot and a fixed ``level`` (e.g. RSI and
    /// 30): +1 when the indicator moves above the level, -1 when it moves below.
    fn register_level_cross(slf: &Bound<'_, Self>, a: usize, level: f64) -> PyResult<PyCrossOver> {
        let slot = slf.borrow_mut().engine.register_level_cross(a, level)?;
        Ok(PyCrossOver(CrossInner::Engine {
            engine: slf.clone().unbind(),
            slot,
        }))
    }

    /// Call ``handler(bar, direction)`` only on the bars where ``crossover`` (returned by
    /// ``register_crossover``) fires, after the indicators update and before ``on_bar``.
    fn on_cross(
        slf: &Bound<'_, Self>,
        crossover: &Bound<'_, PyCrossOver>,
        handler: Py<PyAny>,
    ) -> PyResult<()> {
        let slot = match &crossover.borrow().0 {
            CrossInner::Engine { engine, slot } if engine.bind(slf.py()).is(slf) => *slot,
            _ => {
                return Err(
                    CoreError::invalid("crossover", "not registered with this engine").into(),
                )
            }
        };
        let mut me = slf.borrow_mut();
        me.engine.handle_cross(slot)?;
        let k = me.engine.cross_owner(slot)?;
        match me.slots.get_mut(k) {
            Some(Slot::Py(h)) => {
                h.on_cross.retain(|(s, _)| *s != slot);
                h.on_cross.push((slot, handler));
                Ok(())
            }
            _ => {
                Err(CoreError::invalid("crossover", "its strategy is not a Python strategy").into())
            }
        }
    }

    /// Quantity for a sizing ``method`` (see docs/risk.md) on this account, rounded down to
    /// the lot and, with a risk engine, clipped to its limits.
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
        let sizing = sizing_arg(method, params)?;
        let q = self.engine.size(
            strategy,
            symbol,
            &sizing,
            side_arg(side)?,
            opt_raw_arg("price", price)?,
        )?;
        decimal(py, i128::from(q))
    }

    /// A repeating timer for the strategy, every ``interval_ns`` from ``start`` (default:
    /// now) until ``stop``.
    #[pyo3(signature = (strategy, name, interval_ns, start=None, stop=None))]
    fn set_timer(
        &mut self,
        strategy: usize,
        name: &str,
        interval_ns: u64,
        start: Option<u64>,
        stop: Option<u64>,
    ) -> PyResult<()> {
        Ok(self
            .engine
            .set_timer(strategy, name, interval_ns, start, stop)?)
    }

    /// A one-shot alert for the strategy at ``at`` (UTC ns, not in the past).
    fn set_time_alert(&mut self, strategy: usize, name: &str, at: u64) -> PyResult<()> {
        Ok(self.engine.set_time_alert(strategy, name, at)?)
    }

    /// Cancel one of the strategy's timers or alerts; ``False`` if none was pending.
    fn cancel_timer(&mut self, strategy: usize, name: &str) -> PyResult<bool> {
        Ok(self.engine.cancel_timer(strategy, name)?)
    }

    /// Send ``order`` for strategy ``strategy``: pre-trade risk first (a refusal becomes a
    /// ``denied`` event with the reason), then the venue. Returns the order's status.
    fn submit(&mut self, strategy: usize, order: PyRef<'_, PyOrder>) -> PyResult<&'static str> {
        Ok(self.engine.submit(strategy, order.0.clone())?.as_str())
    }

    /// A fresh client order id for the strategy: ``<strategy id>-<n>``.
    fn next_order_id(&mut self, strategy: usize) -> PyResult<String> {
        Ok(self.engine.next_order_id(strategy)?.into())
    }

    /// A market order in one call (risk, then venue). Returns the client order id.
    fn submit_market(
        &mut self,
        strategy: usize,
        symbol: &str,
        side: &str,
        quantity: &Bound<'_, PyAny>,
    ) -> PyResult<String> {
        let qty = quantity_arg("quantity", quantity)?;
        Ok(self
            .engine
            .submit_market(strategy, symbol, side_arg(side)?, qty)?
            .into())
    }

    /// Flatten the strategy's position in ``symbol``: cancel its working orders there, then
    /// a reduce-only market order for the rest. Returns the order id, or ``None`` if flat.
    fn close_position(&mut self, strategy: usize, symbol: &str) -> PyResult<Option<String>> {
        Ok(self
            .engine
            .close_position(strategy, symbol)?
            .map(String::from))
    }

    /// Cancel a working order; the outcome arrives as an order event.
    fn cancel(&mut self, client_order_id: &str) -> PyResult<()> {
        Ok(self.engine.cancel(client_order_id)?)
    }

    /// Change a working order's quantity and/or prices. The changed order passes the same
    /// pre-trade checks as a new one; a refusal is a ``modify_rejected`` event carrying the
    /// denial. Outcomes arrive as order events.
    #[pyo3(signature = (client_order_id, *, quantity=None, price=None, trigger_price=None))]
    fn modify(
        &mut self,
        client_order_id: &str,
        quantity: Option<&Bound<'_, PyAny>>,
        price: Option<&Bound<'_, PyAny>>,
        trigger_price: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        Ok(self.engine.modify(
            client_order_id,
            opt_raw_arg("quantity", quantity)?,
            opt_raw_arg("price", price)?,
            opt_raw_arg("trigger_price", trigger_price)?,
        )?)
    }

    /// A copy of an order (working or closed), or ``None`` for an unknown id.
    fn order(&self, client_order_id: &str) -> Option<PyOrder> {
        self.engine.order(client_order_id).cloned().map(PyOrder)
    }

    /// The strategy's position in ``symbol`` (``None`` if it never traded it).
    fn position(&self, strategy: usize, symbol: &str) -> PyResult<Option<PyPosition>> {
        let p = self.engine.portfolio();
        Ok(self
            .engine
            .position(strategy, symbol)?
            .map(|pos| position(p, symbol, pos)))
    }

    /// The strategy's signed position in ``symbol`` in raw units (0 when flat). Called on
    /// every bar by ``is_flat``: looked up by the inline symbol, not by string comparison.
    fn position_raw(&self, strategy: usize, symbol: &str) -> PyResult<i64> {
        // A text that is no symbol was never traded.
        let Ok(symbol) = Symbol::new("symbol", symbol) else {
            self.engine.strategy(strategy)?;
            return Ok(0);
        };
        Ok(self.engine.position_raw(strategy, &symbol)?)
    }

    /// The strategy's working orders (client order ids).
    fn open_orders(&self, strategy: usize) -> PyResult<Vec<String>> {
        Ok(self
            .engine
            .open_orders(strategy)?
            .into_iter()
            .map(String::from)
            .collect())
    }

    /// A snapshot of the account.
    #[getter]
    fn portfolio(&self) -> PyPortfolio {
        PyPortfolio(self.engine.portfolio().clone())
    }

    /// The engine clock: the time of the event being processed (UTC ns).
    #[getter]
    fn now(&self) -> u64 {
        self.engine.now()
    }

    /// Bars processed so far, and in all.
    #[getter]
    fn progress(&self) -> (u64, usize) {
        self.engine.progress()
    }

    /// Register a vectorised strategy: ``target`` holds the signed position (raw units,
    /// int64) wanted after each bar of ``symbol``; market orders for the difference go
    /// through the same risk checks and venue as any order. Returns the strategy's index.
    fn add_target_positions(
        &mut self,
        strategy_id: &str,
        symbol: &str,
        target: PyReadonlyArray1<'_, i64>,
    ) -> PyResult<usize> {
        let bars = match self
            .series
            .iter()
            .find(|s| s.bar_type.symbol.as_str() == symbol)
        {
            Some(s) => s.ts.bind(target.py()).len(),
            None => {
                return Err(CoreError::invalid(
                    "symbol",
                    format!("no bars were added for {symbol:?}"),
                )
                .into())
            }
        };
        let t = TargetPositions::register(
            &mut self.engine,
            strategy_id,
            symbol,
            target.as_slice()?.to_vec(),
            bars,
        )?;
        let k = t.strategy;
        self.slots.push(Slot::Targets(t));
        Ok(k)
    }

    /// Run every bar: the strategies' ``on_start``, the bars in time order, the timers due
    /// at the end, ``on_stop``. ``progress`` (if given) is called with ``(done, total)``
    /// every ``progress_every`` bars and at the end.
    #[pyo3(signature = (progress=None, progress_every=65_536))]
    fn run(
        slf: &Bound<'_, Self>,
        progress: Option<Py<PyAny>>,
        progress_every: u64,
    ) -> PyResult<()> {
        let py = slf.py();
        let (mut engine, mut runners) = {
            let mut me = slf.try_borrow_mut()?;
            if me.engine.started() {
                return Err(PyRuntimeError::new_err("the engine has already run"));
            }
            let mut calls = me
                .slots
                .iter()
                .map(|s| match s {
                    Slot::Py(h) => h.bar_call(py),
                    Slot::Targets(_) => Ok(None),
                })
                .collect::<PyResult<Vec<_>>>()?;
            let spare = placeholder()?;
            let engine = std::mem::replace(&mut me.engine, spare);
            let slots = std::mem::take(&mut me.slots);
            let runners: Vec<Runner<'_>> = slots
                .iter()
                .zip(calls.iter_mut())
                .enumerate()
                .map(|(k, (s, call))| match s {
                    Slot::Py(h) => Box::new(PyStrategy {
                        cell: slf.clone(),
                        k,
                        h: h.clone_ref(py),
                        bar_call: call.take(),
                        fed: Vec::new(),
                        isolate: false,
                        failed: None,
                    }) as Runner<'_>,
                    Slot::Targets(t) => Box::new(t.clone()),
                })
                .collect();
            me.slots = slots;
            (engine, runners)
        };
        let callback = progress.map(|p| {
            move |done: u64, total: usize| -> PyResult<()> {
                p.call1(py, (done, total)).map(|_| ())
            }
        });
        let result = Self::run_feed(slf, &mut engine, &mut runners, callback, progress_every);
        drop(runners);
        let mut me = slf.try_borrow_mut()?;
        // The curve moves into NumPy arrays without a copy.
        let rec = engine.take_curve();
        me.curve = Some((
            rec.0.into_pyarray(py).unbind(),
            rec.1.into_pyarray(py).unbind(),
            rec.2.into_pyarray(py).unbind(),
        ));
        me.fills = Some(engine.take_fills().into());
        me.engine = engine;
        result
    }

    // ------------------------------------------------------------------ live stepping

    /// Start live stepping (a trading node): the clock reads ``start_ts`` (default 0), every
    /// strategy's ``on_start`` runs. With ``outbox=True`` the engine keeps every event it
    /// makes for ``publish`` / ``take_events``. A strategy that raises from now on is
    /// stopped alone (see ``take_failures``) instead of ending the run; with
    /// ``isolate=False`` (a backtest driven step by step) its exception ends the step.
    /// With ``keep_records=n`` only the latest ``n`` fills and denials (at most) stay for
    /// ``fills()`` / ``denials()``: a node running for months publishes them instead.
    #[pyo3(signature = (start_ts=None, *, outbox=false, isolate=true, keep_records=None))]
    fn start(
        slf: &Bound<'_, Self>,
        start_ts: Option<u64>,
        outbox: bool,
        isolate: bool,
        keep_records: Option<usize>,
    ) -> PyResult<()> {
        {
            let mut me = slf.try_borrow_mut()?;
            if me.engine.started() {
                return Err(PyRuntimeError::new_err("the engine has already started"));
            }
            if !me.series.is_empty() {
                return Err(PyRuntimeError::new_err(
                    "start: this engine has bars for run(); a live engine is stepped instead",
                ));
            }
            if outbox {
                me.engine.enable_outbox();
            }
            if let Some(keep) = keep_records {
                me.engine.keep_latest_records(keep);
            }
            me.isolate = isolate;
            me.live = Some(Vec::new());
        }
        Self::drive(slf, |engine, runners| engine.start(runners, start_ts))
    }

    /// Live: take events stamped up to ``late_ns`` before the engine clock (a bar that
    /// arrives after its close, once a quote or a timer moved the clock past it) at the
    /// clock's time, which does not go back; no timer fires for them and strategies see
    /// their own times. 0 (the default) refuses every one, as a backtest must.
    fn accept_late(&mut self, late_ns: u64) {
        self.engine.accept_late(late_ns);
    }

    /// Step one bar (stamped with its close time; it opened one interval earlier).
    fn step_bar(slf: &Bound<'_, Self>, bar: &Bound<'_, PyBar>) -> PyResult<()> {
        let b = bar.borrow().0;
        let topic = b.bar_type.topic();
        Self::step_one(slf, topic, b.ts_event.0, bar.as_any())
    }

    /// Step one quote: the venue fills against it, risk sees the new marks.
    fn step_quote(slf: &Bound<'_, Self>, quote: &Bound<'_, PyQuoteTick>) -> PyResult<()> {
        let q = quote.get().0;
        Self::step_one(
            slf,
            format!("data.quotes.{}", q.symbol),
            q.ts_event.0,
            quote.as_any(),
        )
    }

    /// Step one trade print.
    fn step_trade(slf: &Bound<'_, Self>, trade: &Bound<'_, PyTradeTick>) -> PyResult<()> {
        let t = trade.get().0;
        Self::step_one(
            slf,
            format!("data.trades.{}", t.symbol),
            t.ts_event.0,
            trade.as_any(),
        )
    }

    /// Move the clock to ``ts`` with no data: timers due by then fire.
    fn step_time(slf: &Bound<'_, Self>, ts: u64) -> PyResult<()> {
        Self::drive(slf, |engine, runners| {
            engine.step(&MarketEvent::Time(ts), runners)
        })
    }

    /// Step a batch of ``(topic, ts_event, message)`` in order, in one call: bars, quotes
    /// and trades are stepped, other messages (feed status) are only passed on to the
    /// outbox. Events the engine refuses (before its clock, unknown instrument) are kept
    /// for ``take_rejected``. Returns the number of market events stepped.
    fn step_many(slf: &Bound<'_, Self>, events: &Bound<'_, PyAny>) -> PyResult<usize> {
        let mut batch = Vec::new();
        for item in events.try_iter()? {
            let item = item?;
            let t = item.cast::<PyTuple>().map_err(|_| {
                PyTypeError::new_err("step_many: expected (topic, ts_event, message) tuples")
            })?;
            let (topic, ts, message): (Bound<'_, PyString>, u64, Bound<'_, PyAny>) = t.extract()?;
            batch.push(Incoming { topic, ts, message });
        }
        Self::step_incoming(slf, &batch)
    }

    /// Drain up to ``max_events`` from ``queue`` (in ``(ts_event, arrival)`` order, waiting
    /// up to ``timeout`` seconds for the first with the GIL released) and step them as
    /// ``step_many`` does. Returns the number of events drained.
    #[pyo3(signature = (queue, max_events=None, timeout=None))]
    fn step_queue(
        slf: &Bound<'_, Self>,
        queue: &Bound<'_, PyIngestQueue>,
        max_events: Option<usize>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let py = slf.py();
        let timeout = match timeout {
            Some(t) if t.is_finite() && t >= 0.0 => Some(std::time::Duration::from_secs_f64(t)),
            Some(t) => {
                return Err(CoreError::invalid("timeout", format!("{t} must be >= 0")).into())
            }
            None => None,
        };
        let mut drained = Vec::new();
        queue
            .get()
            .take(py, max_events.unwrap_or(usize::MAX), timeout, &mut drained);
        let batch: Vec<Incoming<'_>> = drained
            .into_iter()
            .map(|e| Incoming {
                topic: e.msg.topic.into_bound(py),
                ts: e.ts.0,
                message: e.msg.message.into_bound(py),
            })
            .collect();
        Self::step_incoming(slf, &batch)?;
        Ok(batch.len())
    }

    /// Stop live stepping: timers due by now fire, the active strategies' ``on_stop`` runs.
    fn stop(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let result = Self::drive(slf, |engine, runners| engine.stop(runners));
        let mut me = slf.try_borrow_mut()?;
        // As after `run`: the curve and the fills move out for the results.
        let rec = me.engine.take_curve();
        me.curve = Some((
            rec.0.into_pyarray(py).unbind(),
            rec.1.into_pyarray(py).unbind(),
            rec.2.into_pyarray(py).unbind(),
        ));
        let fills = me.engine.take_fills();
        me.fills = Some(fills.into());
        result
    }

    /// Start one strategy of a running engine (added after ``start``, or stopped): its
    /// ``on_start`` runs and it receives callbacks again.
    fn start_strategy(slf: &Bound<'_, Self>, strategy: usize) -> PyResult<()> {
        Self::drive(slf, |engine, runners| {
            engine.start_strategy(strategy, runners)
        })
    }

    /// Stop one strategy of a running engine: its ``on_stop`` runs, no callbacks after.
    /// Its working orders stand (cancel them, then ``settle``).
    fn stop_strategy(slf: &Bound<'_, Self>, strategy: usize) -> PyResult<()> {
        Self::drive(slf, |engine, runners| {
            engine.stop_strategy(strategy, runners)
        })
    }

    /// Pause (``False``) or resume (``True``) a strategy's callbacks; its indicators are
    /// still fed, its working orders still fill.
    fn set_active(&mut self, strategy: usize, active: bool) -> PyResult<()> {
        Ok(self.engine.set_active(strategy, active)?)
    }

    /// Feed past bars to their instruments' indicators and crossovers only: nothing
    /// trades, the clock and the account do not move (a restarted node's warm-up, after
    /// ``start`` and before live data).
    fn warm_up(slf: &Bound<'_, Self>, bars: Vec<PyRef<'_, PyBar>>) -> PyResult<()> {
        let bars: Vec<Bar> = bars.iter().map(|b| b.0).collect();
        Self::drive(slf, |engine, runners| engine.warm_up(&bars, runners))
    }

    /// Book fills made before a restart into the account, in order: cash, the account's
    /// and the strategies' positions, exactly as when they happened (no order, no event,
    /// not one of this run's fills). Each fill is a ``FillRecord`` or any object with its
    /// attributes (``ts``, ``strategy_id``, ``symbol``, ``client_order_id``, ``side``,
    /// ``quantity_raw``, ``price_raw``, ``commission_raw``). Returns the number booked.
    fn restore_fills(&mut self, fills: &Bound<'_, PyAny>) -> PyResult<usize> {
        let mut n = 0;
        for item in fills.try_iter()? {
            let f = item?;
            let get = |name: &str| f.getattr(name);
            let strategy_id: String = get("strategy_id")?.extract()?;
            let symbol: String = get("symbol")?.extract()?;
            let oid: String = get("client_order_id")?.extract()?;
            let side: String = get("side")?.extract()?;
            let record = FillRecord {
                ts: crate::types::UnixNanos(get("ts")?.extract()?),
                strategy_id: crate::types::StrategyId::new("strategy_id", &strategy_id)?,
                instrument: Symbol::new("symbol", &symbol)?,
                client_order_id: crate::types::ClientOrderId::new("client_order_id", &oid)?,
                side: side_arg(&side)?,
                quantity: crate::types::Quantity::from_raw_or_finer(
                    get("quantity_raw")?.extract()?,
                    9,
                ),
                price: crate::types::Price::from_raw_or_finer(get("price_raw")?.extract()?, 9),
                commission: crate::types::Money::from_raw_or_finer(
                    get("commission_raw")?.extract()?,
                    9,
                    crate::types::Currency::USD,
                ),
            };
            self.engine
                .restore_fill(&record)
                .map_err(|e| CoreError::invalid("fills", format!("fill #{n} ({oid}): {e}")))?;
            n += 1;
        }
        Ok(n)
    }

    /// Continue the strategy's order numbering after ``n`` orders (``<id>-<n+1>`` next):
    /// a restarted node never sends a client order id twice. Never goes back.
    fn resume_order_ids(&mut self, strategy: usize, n: u64) -> PyResult<()> {
        Ok(self.engine.resume_order_ids(strategy, n)?)
    }

    /// Put an order that was working before a restart back to work in the venue, with the
    /// fills it had (``(quantity, price, commission)`` each, exact): no risk check, no
    /// event, no callback; it matches on the next data like any resting order, and its
    /// later events reach its strategy. Market, limit, stop and stop-limit orders, with
    /// their flags; linked orders (bracket, OCO, OTO), IOC and FOK are refused.
    #[pyo3(signature = (order, fills=None, *, triggered=false))]
    fn restore_order(
        &mut self,
        order: PyRef<'_, PyOrder>,
        fills: Option<Vec<ExactFill<'_>>>,
        triggered: bool,
    ) -> PyResult<()> {
        let mut parsed = Vec::new();
        for (q, p, c) in fills.unwrap_or_default() {
            let (price, places) = fixed_arg("fills.price", &p)?;
            parsed.push((
                quantity_arg("fills.quantity", &q)?,
                crate::types::Price::from_raw_or_finer(price, places),
                raw_arg("fills.commission", &c)?,
            ));
        }
        Ok(self
            .engine
            .restore_order(order.0.clone(), &parsed, triggered)?)
    }

    /// Queue a ``changed`` position event for every position held (the account's and each
    /// strategy's, flat ones included), published with the next ``publish``: after a
    /// restart, caches and dashboards get the restored account at once. Each is stamped
    /// with its position's last fill (see `Portfolio::position_snapshot`).
    fn announce_positions(&mut self) -> PyResult<()> {
        Ok(self.engine.announce_positions()?)
    }

    /// Number the venue's next trades after ``n`` (the highest trade id stored before a
    /// restart), so no fill id is used twice.
    fn resume_trade_ids(&mut self, n: u64) {
        self.engine.resume_trade_ids(n);
    }

    /// Operator command: move the account (or one strategy) to ``active``, ``reducing``
    /// or ``halted``; published as a risk event with the next step (or ``settle()``).
    #[pyo3(signature = (state, reason, *, strategy_id=None))]
    fn set_trading_state(
        &mut self,
        state: &str,
        reason: &str,
        strategy_id: Option<&str>,
    ) -> PyResult<()> {
        Ok(self
            .engine
            .set_trading_state(strategy_id, state_arg(state)?, reason)?)
    }

    /// Give the risk engine back its state from before a restart: the session in
    /// progress and the account's P&L at its start (``None``: now), the equity peak, the
    /// account's trading state and cause, and ``(strategy id, state, cause)`` of strategies
    /// not active. Emits nothing. Call after the fills are restored.
    #[pyo3(signature = (*, session_start_pnl=None, equity_peak=None, state="active", cause=None, strategies=None))]
    fn restore_risk(
        &mut self,
        session_start_pnl: Option<&Bound<'_, PyAny>>,
        equity_peak: Option<&Bound<'_, PyAny>>,
        state: &str,
        cause: Option<&str>,
        strategies: Option<Vec<(String, String, Option<String>)>>,
    ) -> PyResult<()> {
        let mut saved = crate::risk::RiskRestore {
            session_start_pnl: opt_raw_arg("session_start_pnl", session_start_pnl)?.map(i128::from),
            equity_peak: opt_raw_arg("equity_peak", equity_peak)?.map(i128::from),
            state: state_arg(state)?,
            cause: cause_arg(cause)?,
            strategies: Vec::new(),
        };
        for (id, st, c) in strategies.unwrap_or_default() {
            saved
                .strategies
                .push((id, state_arg(&st)?, cause_arg(c.as_deref())?));
        }
        self.engine.restore_risk(&saved);
        Ok(())
    }

    /// The risk engine's state now: ``{"state", "cause", "session_pnl", "equity_peak",
    /// "session_orders", "strategies": {id: state}}`` (money as ``Decimal``), or ``None``
    /// without a risk engine.
    fn risk_status<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(r) = self.engine.risk() else {
            return Ok(None);
        };
        let d = PyDict::new(py);
        d.set_item("state", r.state().as_str())?;
        d.set_item("cause", r.cause().map(|c| c.as_str()))?;
        d.set_item(
            "session_pnl",
            decimal(py, r.session_pnl(self.engine.venue()))?,
        )?;
        d.set_item(
            "equity_peak",
            r.equity_peak().map(|p| decimal(py, p)).transpose()?,
        )?;
        d.set_item("session_orders", r.session_orders())?;
        let strategies = PyDict::new(py);
        for slot in self.engine.strategies() {
            let id = slot.id.as_str();
            strategies.set_item(id, r.strategy_state(id).as_str())?;
        }
        d.set_item("strategies", strategies)?;
        Ok(Some(d))
    }

    /// UTC ns at which the risk day holding ``ts`` started (``None`` without a risk engine).
    fn risk_day_start(&self, ts: u64) -> Option<u64> {
        self.engine.risk().map(|r| r.risk_day_start(ts))
    }

    /// Remove a stopped strategy: no more callbacks or indicator feeds, its timers
    /// cancelled, its id free for a new strategy (continuing its order numbering).
    fn remove_strategy(&mut self, strategy: usize) -> PyResult<()> {
        Ok(self.engine.remove_strategy(strategy)?)
    }

    /// When the next timer or alert is due (UTC ns), or ``None``.
    #[getter]
    fn next_timer_ns(&self) -> Option<u64> {
        self.engine.next_timer()
    }

    /// Is the strategy receiving callbacks?
    fn is_active(&self, strategy: usize) -> PyResult<bool> {
        Ok(self.engine.strategy(strategy)?.active)
    }

    /// Whether orders go to a broker (an external venue) instead of the simulated match.
    #[getter]
    fn external(&self) -> bool {
        self.engine.venue().is_external()
    }

    /// The requests for the broker made since the last call, in order: ``submit`` (with
    /// the order), ``cancel``, ``modify`` (with the new values). Empty unless the venue is
    /// external.
    fn take_outgoing(&mut self) -> Vec<PyOutgoingRequest> {
        self.engine
            .take_outgoing()
            .into_iter()
            .map(PyOutgoingRequest)
            .collect()
    }

    /// Apply what the broker reported about an order: ``kind`` is ``accepted``,
    /// ``rejected``, ``filled`` (with ``quantity``, ``price``, ``commission`` and, to make
    /// it idempotent, ``filled_qty``: the order's filled quantity after it), ``cancelled``,
    /// ``expired``, ``triggered``, ``modify_accepted``, ``modify_rejected``,
    /// ``cancel_rejected``, ``submitted`` or ``notice``. Its events reach the strategies and
    /// the outbox as a simulated fill's do. Returns ``False`` for an update that changes
    /// nothing (a repeat). An update the order cannot take (unknown order, overfill, a fill
    /// on a closed order) raises and changes nothing.
    #[pyo3(signature = (client_order_id, kind, ts, *, quantity=None, price=None, commission=None, filled_qty=None, reason=""))]
    #[allow(clippy::too_many_arguments)]
    fn apply_broker_update(
        slf: &Bound<'_, Self>,
        client_order_id: &str,
        kind: &str,
        ts: u64,
        quantity: Option<&Bound<'_, PyAny>>,
        price: Option<&Bound<'_, PyAny>>,
        commission: Option<&Bound<'_, PyAny>>,
        filled_qty: Option<&Bound<'_, PyAny>>,
        reason: &str,
    ) -> PyResult<bool> {
        let kind = BrokerUpdateKind::parse(kind)?;
        let given = |o: Option<&Bound<'_, PyAny>>| o.is_some_and(|o| !o.is_none());
        let fill = if kind == BrokerUpdateKind::Filled {
            let (Some(q), Some(p)) = (
                quantity.filter(|o| !o.is_none()),
                price.filter(|o| !o.is_none()),
            ) else {
                return Err(CoreError::invalid(
                    "fill",
                    format!("{client_order_id}: a filled update needs quantity and price"),
                )
                .into());
            };
            let (p, places) = fixed_arg("price", p)?;
            Some(BrokerFill {
                quantity: quantity_arg("quantity", q)?,
                price: crate::types::Price::from_raw_or_finer(p, places),
                commission_raw: opt_raw_arg("commission", commission)?.unwrap_or(0),
                cum_qty: filled_qty
                    .filter(|o| !o.is_none())
                    .map(|o| quantity_arg("filled_qty", o))
                    .transpose()?,
            })
        } else if given(quantity) || given(price) || given(commission) || given(filled_qty) {
            return Err(CoreError::invalid(
                "fill",
                format!("{client_order_id}: only a filled update takes quantity and price"),
            )
            .into());
        } else {
            None
        };
        let update = BrokerUpdate {
            kind,
            ts,
            fill,
            reason: reason.to_owned(),
        };
        Self::drive(slf, |engine, runners| {
            engine.apply_broker_update(client_order_id, &update, runners)
        })
    }

    /// Deliver the events commands sent between steps caused (cancels by the node) and
    /// sample the account into the outbox.
    fn settle(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::drive(slf, |engine, runners| engine.settle(runners))
    }

    /// ``(strategy index, exception)`` of each strategy whose callback raised in a live
    /// step since the last call (the strategy is inactive from then on).
    fn take_failures(&mut self, py: Python<'_>) -> Vec<(usize, Py<PyAny>)> {
        std::mem::take(&mut self.failures)
            .into_iter()
            .map(|(k, e)| (k, e.into_value(py).into_any()))
            .collect()
    }

    /// ``(topic, ts_event, message)`` of the events live steps refused since the last call.
    fn take_rejected(&mut self) -> Vec<(String, u64, String)> {
        std::mem::take(&mut self.rejected)
    }

    /// Every event made since the last call, as ``(topic, object)`` in order: the stepped
    /// data, order events (``orders.<kind>``, fills on them), position events
    /// (``positions.<symbol>``), risk events (``risk.state``), ``EquitySample``s
    /// (``account.equity``). Empty without ``outbox=True``.
    fn take_events<'py>(
        &mut self,
        py: Python<'py>,
    ) -> PyResult<Vec<(Bound<'py, PyString>, Bound<'py, PyAny>)>> {
        self.outbox_items(py)
    }

    /// Publish every event made since the last call on ``bus``, in order, in one call:
    /// per-message handlers see each event as by ``publish``; a batch handler is called
    /// once with all the events it subscribed to. Returns the number of events published.
    fn publish(slf: &Bound<'_, Self>, bus: &Bound<'_, PyBus>) -> PyResult<usize> {
        let py = slf.py();
        let items = slf.try_borrow_mut()?.outbox_items(py)?;
        let published = bus.get().publish_pairs(py, &items);
        // Closed orders are swept only now: the subscribers above may look them up.
        slf.try_borrow_mut()?.engine.sweep_published();
        published?;
        Ok(items.len())
    }

    /// ``(ts, equity)``: the equity curve, one point per timestamp (UTC ns, float money).
    fn equity_curve<'py>(&self, py: Python<'py>) -> PyResult<CurvePair<'py>> {
        let (ts, eq, _) = self.curve(py)?;
        Ok((ts, eq))
    }

    /// One flag per equity point: was any position open?
    fn position_open<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray1<bool>>> {
        Ok(self.curve(py)?.2)
    }

    /// Every fill of the run, in order.
    fn fills(&self) -> PyFillLog {
        PyFillLog(self.fill_records())
    }

    /// Closed round trips in exit order, and the positions still open
    /// ``(strategy_id, symbol, quantity_raw)``.
    fn round_trips(&self) -> TripsAndOpen {
        trips_of(&self.fill_records())
    }

    /// Σ |quantity × price| of all fills (raw money units).
    #[getter]
    fn traded_notional_raw(&self) -> i128 {
        self.engine.recorder().traded_notional
    }

    /// New orders the strategies sent during the run (denied ones included).
    #[getter]
    fn orders_routed(&self) -> u64 {
        self.engine.orders_routed()
    }

    /// The risk engine's latest refusal (what a command that just submitted an order
    /// reads when the answer was ``denied``).
    fn last_denial(&self) -> Option<PyDenialRecord> {
        self.engine.denials().last().map(|d| PyDenialRecord {
            ts: d.ts,
            strategy_id: d.strategy_id.into(),
            client_order_id: d.client_order_id.into(),
            denial: PyDenial(d.denial.clone()),
            action: if d.modify { "modify" } else { "submit" },
        })
    }

    /// Orders the risk engine refused, with their structured reasons.
    fn denials(&self) -> Vec<PyDenialRecord> {
        self.engine
            .denials()
            .iter()
            .map(|d| PyDenialRecord {
                ts: d.ts,
                strategy_id: d.strategy_id.into(),
                client_order_id: d.client_order_id.into(),
                denial: PyDenial(d.denial.clone()),
                action: if d.modify { "modify" } else { "submit" },
            })
            .collect()
    }
}

/// Floats on the 10^-9 grid, rounded half to even from each float's exact binary value
/// (the engine's own conversion): ``(raw int64, bad)`` where ``bad`` marks values that are
/// NaN, infinite or beyond the raw range (their raw value is 0).
#[pyfunction]
fn raw_from_floats<'py>(
    py: Python<'py>,
    values: numpy::PyReadonlyArray1<'py, f64>,
) -> (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<bool>>) {
    let v = values.as_array();
    let mut raw = Vec::with_capacity(v.len());
    let mut bad = Vec::with_capacity(v.len());
    for &x in v {
        match crate::indicators::rounding::raw_from_f64(x) {
            Ok(r) => {
                raw.push(r);
                bad.push(false);
            }
            Err(_) => {
                raw.push(0);
                bad.push(true);
            }
        }
    }
    (raw.into_pyarray(py), bad.into_pyarray(py))
}

// ---------------------------------------------------------------------------- live stepping

/// `pi5trading.events.EquitySample`, looked up once (the engine makes them, the sinks'
/// encoders recognise them).
pub(crate) fn equity_sample_type(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static CLS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    Ok(CLS
        .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            Ok(py
                .import("pi5trading.events")?
                .getattr("EquitySample")?
                .unbind())
        })?
        .bind(py))
}

impl PyEngine {
    /// Run `f` with the engine and the live strategy adapters (built once, kept between
    /// calls), then put both back and keep what failed.
    fn drive<'py, R>(
        slf: &Bound<'py, Self>,
        f: impl FnOnce(&mut Engine, &mut [PyStrategy<'py>]) -> PyResult<R>,
    ) -> PyResult<R> {
        let py = slf.py();
        let (mut engine, mut runners) = {
            let mut me = slf.try_borrow_mut()?;
            let Some(mut live) = me.live.take() else {
                return Err(PyRuntimeError::new_err(if me.engine.started() {
                    "the engine is stepping: a strategy callback cannot drive it"
                } else {
                    "the engine has not started (call start first)"
                }));
            };
            // Strategies added since the last step get their adapter now.
            while live.len() < me.slots.len() {
                let h = match &me.slots[live.len()] {
                    Slot::Py(h) => h.clone_ref(py),
                    Slot::Targets(_) => {
                        me.live = Some(live);
                        return Err(PyRuntimeError::new_err(
                            "vectorised (target position) strategies run in backtests only",
                        ));
                    }
                };
                let bar_call = match h.bar_call(py) {
                    Ok(c) => c,
                    Err(e) => {
                        me.live = Some(live);
                        return Err(e);
                    }
                };
                live.push(LiveSlot {
                    h,
                    bar_call,
                    fed: Vec::new(),
                });
            }
            let spare = match me.spare.take() {
                Some(e) => e,
                None => placeholder()?,
            };
            let engine = std::mem::replace(&mut me.engine, spare);
            let isolate = me.isolate;
            let runners: Vec<PyStrategy<'py>> = live
                .into_iter()
                .enumerate()
                .map(|(k, l)| PyStrategy {
                    cell: slf.clone(),
                    k,
                    h: l.h,
                    bar_call: l.bar_call,
                    fed: l.fed,
                    isolate,
                    failed: None,
                })
                .collect();
            (engine, runners)
        };
        let result = f(&mut engine, &mut runners);
        let mut me = slf.try_borrow_mut()?;
        let spare = std::mem::replace(&mut me.engine, engine);
        me.spare = Some(spare);
        let mut live = Vec::with_capacity(runners.len());
        for r in runners {
            if let Some(e) = r.failed {
                me.failures.push((r.k, e));
            }
            live.push(LiveSlot {
                h: r.h,
                bar_call: r.bar_call,
                fed: r.fed,
            });
        }
        me.live = Some(live);
        result
    }

    /// Step each drained event; refused ones are kept in `rejected`, not raised, so one
    /// bad message does not stop a live node.
    fn step_incoming(slf: &Bound<'_, Self>, events: &[Incoming<'_>]) -> PyResult<usize> {
        let (outbox, base) = {
            let me = slf.try_borrow()?;
            if me.engine.started() && !me.engine.is_running() {
                return Err(PyRuntimeError::new_err("the engine has stopped"));
            }
            (me.engine.outbox_enabled(), me.data_out.len())
        };
        let mut marks = Vec::new();
        let mut rejected = Vec::new();
        let stepped = Self::drive(slf, |engine, runners| {
            let mut n = 0;
            for ev in events {
                let market = if let Ok(b) = ev.message.cast::<PyBar>() {
                    Some(MarketEvent::bar(b.borrow().0))
                } else if let Ok(q) = ev.message.cast::<PyQuoteTick>() {
                    Some(MarketEvent::Quote(q.get().0))
                } else if let Ok(t) = ev.message.cast::<PyTradeTick>() {
                    Some(MarketEvent::Trade(t.get().0))
                } else {
                    None
                };
                if outbox {
                    engine.outbox_mark(base + marks.len());
                    marks.push((ev.topic.clone().unbind(), ev.message.clone().unbind()));
                }
                let Some(m) = market else { continue };
                match engine.step(&m, runners) {
                    Ok(()) => n += 1,
                    Err(e) if e.is_instance_of::<InvalidInputError>(slf.py()) => {
                        if outbox {
                            engine.outbox_retract(base + marks.len() - 1);
                        }
                        rejected.push((ev.topic.to_string(), ev.ts, e.to_string()));
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(n)
        });
        let mut me = slf.try_borrow_mut()?;
        me.data_out.extend(marks);
        me.rejected.extend(rejected);
        stepped
    }

    fn step_one(
        slf: &Bound<'_, Self>,
        topic: String,
        ts: u64,
        message: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let py = slf.py();
        let ev = Incoming {
            topic: PyString::new(py, &topic),
            ts,
            message: message.clone(),
        };
        Self::step_incoming(slf, std::slice::from_ref(&ev))?;
        let mut me = slf.try_borrow_mut()?;
        if let Some((_, _, msg)) = me.rejected.pop() {
            return Err(CoreError::invalid("event", msg).into());
        }
        Ok(())
    }

    /// The outbox as `(topic, object)` pairs, in the order the events were made.
    fn outbox_items<'py>(
        &mut self,
        py: Python<'py>,
    ) -> PyResult<Vec<(Bound<'py, PyString>, Bound<'py, PyAny>)>> {
        let events = self.engine.take_outbox();
        let data = std::mem::take(&mut self.data_out);
        let mut data: Vec<Option<(Py<PyString>, Py<PyAny>)>> = data.into_iter().map(Some).collect();
        let mut out = Vec::with_capacity(events.len());
        for ev in events {
            match ev {
                OutEvent::Market(n) => {
                    if let Some((t, m)) = data.get_mut(n).and_then(Option::take) {
                        out.push((t.into_bound(py), m.into_bound(py)));
                    }
                }
                OutEvent::Venue(VenueEvent::Order(o)) => {
                    let topic = PyString::new(py, &format!("orders.{}", o.kind.as_str()));
                    out.push((topic, Bound::new(py, PyOrderEvent(o))?.into_any()));
                }
                OutEvent::Venue(VenueEvent::Position(p)) => {
                    let topic = PyString::new(py, &format!("positions.{}", p.instrument.as_str()));
                    out.push((topic, Bound::new(py, PyPositionEvent(p))?.into_any()));
                }
                OutEvent::Risk(r) => {
                    out.push((
                        PyString::new(py, "risk.state"),
                        Bound::new(py, PyRiskEvent(r))?.into_any(),
                    ));
                }
                OutEvent::Equity { ts, cash, equity } => {
                    let sample = equity_sample_type(py)?.call1((
                        ts,
                        decimal(py, cash)?,
                        decimal(py, equity)?,
                    ))?;
                    out.push((PyString::new(py, "account.equity"), sample));
                }
            }
        }
        Ok(out)
    }
}

/// One request for the broker (``Engine.take_outgoing``): ``kind`` is ``submit`` (with
/// ``order``, as sent), ``cancel`` or ``modify`` (with the new ``quantity``, ``price``,
/// ``trigger_price``; ``None`` unchanged), stamped with the engine time it was made.
#[pyclass(frozen, name = "OutgoingRequest", module = "pi5trading._core")]
#[derive(Debug, Clone)]
pub(crate) struct PyOutgoingRequest(pub(crate) Outgoing);

#[pymethods]
impl PyOutgoingRequest {
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.kind.as_str()
    }
    #[getter]
    fn client_order_id(&self) -> &str {
        self.0.client_order_id.as_str()
    }
    #[getter]
    fn ts(&self) -> u64 {
        self.0.ts
    }
    #[getter]
    fn order(&self) -> Option<PyOrder> {
        self.0.order.clone().map(PyOrder)
    }
    #[getter]
    fn quantity<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.0
            .quantity
            .map(|q| decimal(py, i128::from(q.raw())))
            .transpose()
    }
    #[getter]
    fn price<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.0
            .price
            .map(|p| decimal(py, i128::from(p.raw())))
            .transpose()
    }
    #[getter]
    fn trigger_price<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.0
            .trigger_price
            .map(|p| decimal(py, i128::from(p.raw())))
            .transpose()
    }
    /// A trailing stop's offset as a price distance (``None`` otherwise).
    #[getter]
    fn trail_price<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.0.order.as_ref().and_then(|o| o.trailing_offset) {
            Some(crate::orders::TrailingOffset::Price(raw)) => {
                decimal(py, i128::from(raw)).map(Some)
            }
            _ => Ok(None),
        }
    }
    /// A trailing stop's offset in percent of the best price (basis points / 100).
    #[getter]
    fn trail_percent<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.0.order.as_ref().and_then(|o| o.trailing_offset) {
            // bp / 100 in 10^-9 units: bp × 10^7.
            Some(crate::orders::TrailingOffset::BasisPoints(bp)) => {
                decimal(py, i128::from(bp) * 10_000_000).map(Some)
            }
            _ => Ok(None),
        }
    }
    fn __repr__(&self) -> String {
        format!(
            "OutgoingRequest({}, {:?}, ts={})",
            self.0.kind.as_str(),
            self.0.client_order_id.as_str(),
            self.0.ts
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(raw_from_floats, m)?)?;
    m.add_class::<PyOutgoingRequest>()?;
    m.add_class::<PyEngine>()?;
    m.add_class::<PyCrossOver>()?;
    m.add_class::<PyFillRecord>()?;
    m.add_class::<PyFillLog>()?;
    m.add_class::<PyFillIter>()?;
    m.add_class::<PyRoundTrip>()?;
    m.add_class::<PyDenialRecord>()?;
    Ok(())
}
