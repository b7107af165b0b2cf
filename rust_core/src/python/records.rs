//! `RecordEncoder` and `EncodedRow`: the storage sink's conversion of the node's payloads
//! into the rows the repository writes, over [`crate::records::RowConverter`] (bars as
//! `sinks::bar_row`), without a Python object per value.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyList, PySequence, PyString, PyTuple};

use super::engine::equity_sample_type;
use super::orders::{PyOrder, PyOrderEvent};
use super::portfolio::PyPositionEvent;
use super::sinks::bar_row;
use super::types::PyBar;
use crate::records::{AvgPrice, Dec, EventKey, Row, RowConverter, RowError, Terms};

impl From<RowError> for PyErr {
    fn from(e: RowError) -> Self {
        PyValueError::new_err(e.to_string())
    }
}

/// One row already encoded for its table: `kind` is its record's tag (`fill`,
/// `order_event`, `order`, `position`, `equity`), `row` its values in column order, as
/// `TableSpec.encode` gives them (money as exact decimal text, details as JSON text).
#[pyclass(frozen, name = "EncodedRow", module = "pi5trading._core")]
#[derive(Debug)]
pub(crate) struct PyEncodedRow {
    #[pyo3(get)]
    kind: &'static str,
    #[pyo3(get)]
    row: Py<PyTuple>,
}

#[pymethods]
impl PyEncodedRow {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "EncodedRow({}, {})",
            self.kind,
            self.row.bind(py).repr()?
        ))
    }
}

fn text(py: Python<'_>, s: &str) -> Py<PyAny> {
    PyString::new(py, s).into_any().unbind()
}

fn opt_text(py: Python<'_>, s: Option<&str>) -> Py<PyAny> {
    s.map_or_else(|| py.None(), |s| text(py, s))
}

fn int(py: Python<'_>, v: u64) -> PyResult<Py<PyAny>> {
    Ok(v.into_pyobject(py)?.into_any().unbind())
}

/// The caller's division of an inexact average price (`avg_fill_text` in
/// `pi5trading.sinks.records`, Python's `decimal`, so the digits are the reference's).
fn avg_text(py: Python<'_>, notional: Dec, filled: Dec) -> PyResult<Py<PyAny>> {
    static AVG: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let f = AVG.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py
            .import("pi5trading.sinks.records")?
            .getattr("avg_fill_text")?
            .unbind())
    })?;
    let exact = |d: Dec| format!("{}E{}", d.coef, d.exp);
    Ok(f.bind(py).call1((exact(notional), exact(filled)))?.unbind())
}

fn encoded(py: Python<'_>, row: Row) -> PyResult<Bound<'_, PyEncodedRow>> {
    let (kind, values): (&'static str, Vec<Py<PyAny>>) = match row {
        Row::Fill {
            fill_id,
            order_id,
            strategy_id,
            instrument_id,
            side,
            quantity,
            price,
            commission,
            ts_ns,
        } => (
            "fill",
            vec![
                text(py, &fill_id),
                text(py, &order_id),
                text(py, &strategy_id),
                text(py, &instrument_id),
                text(py, side),
                text(py, &quantity),
                text(py, &price),
                text(py, &commission),
                int(py, ts_ns)?,
            ],
        ),
        Row::OrderEvent {
            order_id,
            seq,
            ts_ns,
            status,
            reason,
            detail,
        } => (
            "order_event",
            vec![
                text(py, &order_id),
                int(py, seq)?,
                int(py, ts_ns)?,
                text(py, status),
                opt_text(py, reason.as_deref()),
                text(py, &detail),
            ],
        ),
        Row::Order {
            order_id,
            strategy_id,
            instrument_id,
            side,
            order_type,
            quantity,
            status,
            created_ns,
            updated_ns,
            time_in_force,
            limit_price,
            stop_price,
            filled_quantity,
            avg_fill_price,
            reason,
        } => {
            let avg = match avg_fill_price {
                AvgPrice::None => py.None(),
                AvgPrice::Exact(d) => text(py, &d.encoded()),
                AvgPrice::Inexact { notional, filled } => avg_text(py, notional, filled)?,
            };
            (
                "order",
                vec![
                    text(py, &order_id),
                    text(py, &strategy_id),
                    text(py, &instrument_id),
                    text(py, &side),
                    text(py, order_type),
                    text(py, &quantity),
                    text(py, status),
                    int(py, created_ns)?,
                    int(py, updated_ns)?,
                    text(py, time_in_force),
                    opt_text(py, limit_price.as_deref()),
                    opt_text(py, stop_price.as_deref()),
                    text(py, &filled_quantity),
                    avg,
                    opt_text(py, reason.as_deref()),
                ],
            )
        }
        Row::Position {
            strategy_id,
            instrument_id,
            ts_ns,
            quantity,
            avg_price,
            realized_pnl,
        } => (
            "position",
            vec![
                text(py, &strategy_id),
                text(py, &instrument_id),
                int(py, ts_ns)?,
                text(py, &quantity),
                text(py, &avg_price),
                text(py, &realized_pnl),
                // The event carries no mark: unrealised P&L lives in the equity rows.
                text(py, "0"),
            ],
        ),
        Row::Equity {
            ts_ns,
            cash,
            equity,
            realized_pnl,
            unrealized_pnl,
        } => (
            "equity",
            vec![
                text(py, crate::records::ACCOUNT),
                int(py, ts_ns)?,
                text(py, &cash),
                text(py, &equity),
                text(py, &realized_pnl),
                text(py, &unrealized_pnl),
            ],
        ),
    };
    Bound::new(
        py,
        PyEncodedRow {
            kind,
            row: PyTuple::new(py, values)?.unbind(),
        },
    )
}

fn dec_of(field: &'static str, value: &Bound<'_, PyAny>) -> PyResult<Dec> {
    Ok(Dec::parse(field, value.str()?.to_str()?)?)
}

fn opt_dec(field: &'static str, value: Option<&str>) -> PyResult<Option<Dec>> {
    value
        .map(|v| Dec::parse(field, v).map_err(PyErr::from))
        .transpose()
}

/// The storage sink's converter in the core: what `RecordConverter` makes of order
/// events, orders, position events and equity samples, as encoded rows (`EncodedRow`),
/// with the same state (see `pi5trading.sinks.records`); bars as their encoded rows too.
#[pyclass(name = "RecordEncoder", module = "pi5trading._core")]
#[derive(Debug)]
pub(crate) struct PyRecordEncoder {
    inner: RowConverter,
    lookup: Option<Py<PyAny>>,
}

impl PyRecordEncoder {
    fn one(&mut self, m: &Bound<'_, PyAny>, bars: bool, rows: &mut Vec<Row>) -> PyResult<bool> {
        let py = m.py();
        if let Ok(e) = m.cast::<PyOrderEvent>() {
            let e = &e.get().0;
            let oid = e.client_order_id.as_str();
            let mut terms = None;
            if let Some(f) = self.lookup.as_ref().filter(|_| self.inner.needs_terms(oid)) {
                let found = f.bind(py).call1((oid,))?;
                if let Ok(order) = found.cast::<PyOrder>() {
                    terms = Some(Terms::of(&order.borrow().0));
                }
            }
            self.inner.order_event(e, |_| terms, rows)?;
        } else if let Ok(p) = m.cast::<PyPositionEvent>() {
            self.inner.position(&p.get().0, rows)?;
        } else if let Ok(o) = m.cast::<PyOrder>() {
            let o = o.borrow();
            self.inner
                .remember(o.0.client_order_id.as_str(), Terms::of(&o.0));
        } else if m.get_type().is(equity_sample_type(py)?) {
            let ts: u64 = m.getattr("ts")?.extract()?;
            let cash = dec_of("cash", &m.getattr("cash")?)?;
            let equity = dec_of("equity", &m.getattr("equity")?)?;
            self.inner.equity(ts, cash, equity, rows)?;
        } else {
            return Ok(bars && m.is_instance_of::<PyBar>());
        }
        Ok(true)
    }
}

#[pymethods]
impl PyRecordEncoder {
    /// `order_lookup(order_id) -> Order | None` gives the terms of an order whose `Order`
    /// was not seen before its first event (call it only where that is safe).
    #[new]
    #[pyo3(signature = (order_lookup=None))]
    fn new(order_lookup: Option<Py<PyAny>>) -> Self {
        Self {
            inner: RowConverter::new(),
            lookup: order_lookup,
        }
    }

    /// `messages` with each order event, position event and equity sample replaced by its
    /// encoded rows (an order event: its fill, its event and its order row; none for a
    /// replay), each `Order` taken as its terms (no row), with `bars` each `Bar` by its
    /// encoded `bars` row (a tuple), and every other payload left in place, in order. A
    /// payload that cannot be converted is replaced by the `ValueError` saying why (the
    /// others are converted).
    #[pyo3(signature = (messages, bars=true))]
    fn encode<'py>(
        &mut self,
        messages: &Bound<'py, PyAny>,
        bars: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let py = messages.py();
        let seq = messages.cast::<PySequence>()?;
        let out = PyList::empty(py);
        let mut rows = Vec::with_capacity(3);
        for i in 0..seq.len()? {
            let m = seq.get_item(i)?;
            match self.one(&m, bars, &mut rows) {
                Ok(true) => {
                    if rows.is_empty() {
                        if let Ok(bar) = m.cast::<PyBar>() {
                            out.append(bar_row(py, &bar.borrow().0)?)?;
                        }
                    }
                    for row in rows.drain(..) {
                        out.append(encoded(py, row)?)?;
                    }
                }
                Ok(false) => out.append(m)?,
                Err(e) => {
                    rows.clear();
                    out.append(e.into_value(py))?;
                }
            }
        }
        Ok(out)
    }

    /// Learn an order's terms (its `orders` rows need them).
    fn remember_order(&mut self, order: PyRef<'_, PyOrder>) {
        self.inner
            .remember(order.0.client_order_id.as_str(), Terms::of(&order.0));
    }

    /// After a restart: an open order as storage has it (`RecordConverter.restore_order`
    /// passes its terms, last event number, creation time, fills as (quantity, price)
    /// text and its events' replay keys).
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (order_id, side, order_type, quantity, time_in_force, limit_price,
                        stop_price, expire_time, links, seq, created_ns, updated_ns, fills, seen))]
    fn restore_order(
        &mut self,
        order_id: &str,
        side: String,
        order_type: String,
        quantity: &str,
        time_in_force: String,
        limit_price: Option<&str>,
        stop_price: Option<&str>,
        expire_time: Option<u64>,
        links: Option<String>,
        seq: u64,
        created_ns: u64,
        updated_ns: u64,
        fills: Vec<(String, String)>,
        seen: Vec<EventKey>,
    ) -> PyResult<()> {
        let terms = Terms {
            side,
            order_type,
            quantity: Dec::parse("quantity", quantity)?,
            time_in_force,
            limit_price: opt_dec("limit_price", limit_price)?,
            stop_price: opt_dec("stop_price", stop_price)?,
            expire_time,
            links,
        };
        let fills = fills
            .iter()
            .map(|(q, p)| Ok((Dec::parse("quantity", q)?, Dec::parse("price", p)?)))
            .collect::<PyResult<Vec<_>>>()?;
        self.inner
            .restore_order(order_id, terms, seq, created_ns, updated_ns, &fills, seen)?;
        Ok(())
    }

    /// After a restart: orders storage has as final, oldest first (a later event of one
    /// is a replay).
    fn restore_done(&mut self, order_ids: Vec<String>) {
        self.inner
            .restore_done(order_ids.iter().map(String::as_str));
    }

    /// After a restart: a position's latest snapshot (decimals as text).
    fn restore_position(
        &mut self,
        strategy_id: &str,
        instrument: &str,
        ts_ns: u64,
        quantity: &str,
        avg_price: &str,
        realized_pnl: &str,
    ) -> PyResult<()> {
        let state = (
            Dec::parse("quantity", quantity)?,
            Dec::parse("avg_price", avg_price)?,
            Dec::parse("realized_pnl", realized_pnl)?,
        );
        Ok(self
            .inner
            .restore_position(strategy_id, instrument, ts_ns, state)?)
    }

    /// After a restart: the latest equity snapshot (decimals as text).
    fn restore_equity(&mut self, ts_ns: u64, cash: &str, equity: &str) -> PyResult<()> {
        self.inner.restore_equity(
            ts_ns,
            Dec::parse("cash", cash)?,
            Dec::parse("equity", equity)?,
        );
        Ok(())
    }

    /// Open orders tracked.
    #[getter]
    fn open_orders(&self) -> usize {
        self.inner.open_orders()
    }

    /// Order rows not written because the order's terms were not known (yet).
    #[getter]
    fn orders_without_terms(&self) -> u64 {
        self.inner.orders_without_terms
    }

    /// Events recognised as replays of ones already recorded (not stored again).
    #[getter]
    fn replays_dropped(&self) -> u64 {
        self.inner.replays_dropped
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEncodedRow>()?;
    m.add_class::<PyRecordEncoder>()?;
    Ok(())
}
