//! Python classes for orders and their events. Thin: parsing arguments, building the core
//! `Order`, and exposing read-only snapshots. Prices and quantities go in as `Decimal`, `str`
//! or `int` (never `float`) and come out as `Decimal`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyFloat, PyType};

use crate::orders::{Fill, Order, OrderEvent, OrderSide, OrderType, TimeInForce, TrailingOffset};
use crate::types::{
    format_fixed, parse_fixed, Price, Quantity, UnixNanos, FIXED_PRECISION, FIXED_SCALE,
};
use crate::CoreError;

static DECIMAL: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Raw fixed-point units of a `Decimal`, `str`, `int` (or any exact type whose `str()` is a
/// decimal, such as `Price`); floats and bools are refused.
pub(crate) fn raw_arg(field: &'static str, obj: &Bound<'_, PyAny>) -> PyResult<i64> {
    Ok(fixed_arg(field, obj)?.0)
}

/// Raw units and the decimal places written, as `raw_arg` reads them.
pub(crate) fn fixed_arg(field: &'static str, obj: &Bound<'_, PyAny>) -> PyResult<(i64, u8)> {
    if obj.is_instance_of::<PyFloat>() || obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{field}: expected Decimal, str or int, got {}",
            obj.get_type().name()?
        )));
    }
    let text = obj.str()?;
    Ok(parse_fixed(field, text.to_str()?)?)
}

/// An exact quantity (declared with the places written).
pub(crate) fn quantity_arg(field: &'static str, obj: &Bound<'_, PyAny>) -> PyResult<Quantity> {
    let (raw, places) = fixed_arg(field, obj)?;
    Ok(Quantity::from_raw_or_finer(raw, places))
}

/// An exact price (declared with the places written); `None` stays `None`.
pub(crate) fn opt_price_arg(
    field: &'static str,
    obj: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<Price>> {
    obj.filter(|o| !o.is_none())
        .map(|o| fixed_arg(field, o).map(|(raw, places)| Price::from_raw_or_finer(raw, places)))
        .transpose()
}

pub(crate) fn opt_raw_arg(
    field: &'static str,
    obj: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<i64>> {
    obj.filter(|o| !o.is_none())
        .map(|o| raw_arg(field, o))
        .transpose()
}

/// A raw value as a `Decimal` without trailing zeros.
pub(crate) fn decimal<'py>(py: Python<'py>, raw: i128) -> PyResult<Bound<'py, PyAny>> {
    let scale = i128::from(FIXED_SCALE);
    let text = if let Ok(r) = i64::try_from(raw) {
        format_fixed(r, FIXED_PRECISION)
    } else {
        let sign = if raw < 0 { "-" } else { "" };
        let a = raw.unsigned_abs();
        format!(
            "{sign}{}.{:09}",
            a / scale.unsigned_abs(),
            a % scale.unsigned_abs()
        )
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    DECIMAL.import(py, "decimal", "Decimal")?.call1((text,))
}

pub(crate) fn opt_decimal<'py>(
    py: Python<'py>,
    raw: Option<i64>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    raw.map(|r| decimal(py, i128::from(r))).transpose()
}

/// An exact value (`Price`, `Quantity`, `Money`) as a `Decimal` without trailing zeros.
pub(crate) fn exact_decimal(py: Python<'_>, raw: i64) -> PyResult<Bound<'_, PyAny>> {
    decimal(py, i128::from(raw))
}

pub(crate) fn side_arg(s: &str) -> PyResult<OrderSide> {
    match s {
        "buy" => Ok(OrderSide::Buy),
        "sell" => Ok(OrderSide::Sell),
        _ => Err(CoreError::invalid("side", format!("{s:?} is not 'buy' or 'sell'")).into()),
    }
}

fn order_type_arg(s: &str) -> PyResult<OrderType> {
    Ok(match s {
        "market" => OrderType::Market,
        "limit" => OrderType::Limit,
        "stop_market" => OrderType::StopMarket,
        "stop_limit" => OrderType::StopLimit,
        "market_if_touched" => OrderType::MarketIfTouched,
        "trailing_stop_market" => OrderType::TrailingStopMarket,
        _ => return Err(CoreError::invalid("order_type", format!("unknown: {s:?}")).into()),
    })
}

fn tif_arg(s: &str) -> PyResult<TimeInForce> {
    Ok(match s {
        "gtc" => TimeInForce::Gtc,
        "day" => TimeInForce::Day,
        "ioc" => TimeInForce::Ioc,
        "fok" => TimeInForce::Fok,
        "gtd" => TimeInForce::Gtd,
        _ => return Err(CoreError::invalid("time_in_force", format!("unknown: {s:?}")).into()),
    })
}

/// An order: build it, then hand it to `SimulatedVenue.submit`. The venue works on its own
/// copy; read the live state back with `SimulatedVenue.order(client_order_id)`.
#[pyclass(name = "Order", module = "pi5trading._core")]
#[derive(Debug, Clone)]
pub(crate) struct PyOrder(pub(crate) Order);

#[pymethods]
impl PyOrder {
    #[new]
    #[pyo3(signature = (
        client_order_id, strategy_id, instrument, side, order_type, quantity, *,
        price=None, trigger_price=None, trailing_offset=None, trailing_offset_type="price",
        time_in_force="gtc", expire_time=None, reduce_only=false, post_only=false,
        tags=None, ts_init=0,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        client_order_id: &str,
        strategy_id: &str,
        instrument: &str,
        side: &str,
        order_type: &str,
        quantity: &Bound<'_, PyAny>,
        price: Option<&Bound<'_, PyAny>>,
        trigger_price: Option<&Bound<'_, PyAny>>,
        trailing_offset: Option<&Bound<'_, PyAny>>,
        trailing_offset_type: &str,
        time_in_force: &str,
        expire_time: Option<u64>,
        reduce_only: bool,
        post_only: bool,
        tags: Option<Vec<String>>,
        ts_init: u64,
    ) -> PyResult<Self> {
        // Each id is checked here: too long, empty or with spaces is a ValueError naming it.
        let mut o = Order::parse(
            client_order_id,
            strategy_id,
            instrument,
            side_arg(side)?,
            order_type_arg(order_type)?,
            quantity_arg("quantity", quantity)?,
            UnixNanos(ts_init),
        )?
        .with_tif(tif_arg(time_in_force)?, expire_time.map(UnixNanos))
        .with_flags(reduce_only, post_only)
        .with_tags(tags.unwrap_or_default());
        o.price = opt_price_arg("price", price)?;
        o.trigger_price = opt_price_arg("trigger_price", trigger_price)?;
        if let Some(off) = opt_raw_arg("trailing_offset", trailing_offset)? {
            o.trailing_offset = Some(match trailing_offset_type {
                "price" => TrailingOffset::Price(off),
                "basis_points" => {
                    if off % FIXED_SCALE != 0 {
                        return Err(CoreError::invalid(
                            "trailing_offset",
                            "basis points must be a whole number",
                        )
                        .into());
                    }
                    TrailingOffset::BasisPoints(off / FIXED_SCALE)
                }
                _ => {
                    return Err(CoreError::invalid(
                        "trailing_offset_type",
                        "must be 'price' or 'basis_points'",
                    )
                    .into())
                }
            });
        }
        o.validate()?;
        Ok(Self(o))
    }

    #[getter]
    fn client_order_id(&self) -> &str {
        self.0.client_order_id.as_str()
    }
    #[getter]
    fn venue_order_id(&self) -> Option<u64> {
        self.0.venue_order_id
    }
    #[getter]
    fn strategy_id(&self) -> &str {
        self.0.strategy_id.as_str()
    }
    #[getter]
    fn instrument(&self) -> &str {
        self.0.instrument.as_str()
    }
    #[getter]
    fn side(&self) -> &'static str {
        self.0.side.as_str()
    }
    #[getter]
    fn order_type(&self) -> &'static str {
        self.0.order_type.as_str()
    }
    #[getter]
    fn quantity<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        exact_decimal(py, self.0.quantity.raw())
    }
    #[getter]
    fn price<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        opt_decimal(py, self.0.price.map(Price::raw))
    }
    #[getter]
    fn trigger_price<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        opt_decimal(py, self.0.trigger_price.map(Price::raw))
    }
    #[getter]
    fn time_in_force(&self) -> &'static str {
        self.0.time_in_force.as_str()
    }
    #[getter]
    fn expire_time(&self) -> Option<u64> {
        self.0.expire_time.map(UnixNanos::as_u64)
    }
    #[getter]
    fn reduce_only(&self) -> bool {
        self.0.reduce_only
    }
    #[getter]
    fn post_only(&self) -> bool {
        self.0.post_only
    }
    #[getter]
    fn tags(&self) -> Vec<String> {
        self.0.tags.clone()
    }
    #[getter]
    fn status(&self) -> &'static str {
        self.0.status.as_str()
    }
    #[getter]
    fn filled_qty<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        exact_decimal(py, self.0.filled_qty.raw())
    }
    #[getter]
    fn leaves_qty<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        exact_decimal(py, self.0.leaves_raw())
    }
    #[getter]
    fn avg_px<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        opt_decimal(py, self.0.avg_px_raw())
    }
    #[getter]
    fn parent_order_id(&self) -> Option<&str> {
        self.0.parent_order_id.as_ref().map(|id| id.as_str())
    }
    #[getter]
    fn child_order_ids(&self) -> Vec<&str> {
        self.0
            .child_order_ids
            .iter()
            .map(|id| id.as_str())
            .collect()
    }
    #[getter]
    fn linked_order_ids(&self) -> Vec<&str> {
        self.0
            .linked_order_ids
            .iter()
            .map(|id| id.as_str())
            .collect()
    }
    #[getter]
    fn is_open(&self) -> bool {
        self.0.status.is_open()
    }
    #[getter]
    fn is_terminal(&self) -> bool {
        self.0.status.is_terminal()
    }

    /// Pre-trade risk refused the order: `initialized → denied`, returns the event.
    fn deny(&mut self, ts: u64, reason: &str) -> PyResult<PyOrderEvent> {
        Ok(PyOrderEvent(self.0.deny(UnixNanos(ts), reason)?))
    }

    fn __repr__(&self) -> String {
        let o = &self.0;
        format!(
            "Order({} {} {} {} {} status={})",
            o.client_order_id,
            o.side,
            o.order_type,
            format_fixed(o.quantity.raw(), FIXED_PRECISION),
            o.instrument,
            o.status
        )
    }
}

/// One execution.
#[pyclass(frozen, name = "Fill", module = "pi5trading._core")]
#[derive(Debug, Clone)]
pub(crate) struct PyFill(pub(crate) Fill);

#[pymethods]
impl PyFill {
    #[getter]
    fn trade_id(&self) -> u64 {
        self.0.trade_id
    }
    #[getter]
    fn venue_order_id(&self) -> u64 {
        self.0.venue_order_id
    }
    #[getter]
    fn side(&self) -> &'static str {
        self.0.side.as_str()
    }
    #[getter]
    fn quantity<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        exact_decimal(py, self.0.quantity.raw())
    }
    #[getter]
    fn price<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        exact_decimal(py, self.0.price.raw())
    }
    #[getter]
    fn commission<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        exact_decimal(py, self.0.commission.raw())
    }
    #[getter]
    fn liquidity(&self) -> &'static str {
        self.0.liquidity.as_str()
    }
    fn __repr__(&self) -> String {
        format!(
            "Fill({} {} @ {})",
            self.0.side,
            format_fixed(self.0.quantity.raw(), FIXED_PRECISION),
            format_fixed(self.0.price.raw(), FIXED_PRECISION)
        )
    }
}

/// One lifecycle transition of an order.
#[pyclass(frozen, name = "OrderEvent", module = "pi5trading._core")]
#[derive(Debug, Clone)]
pub(crate) struct PyOrderEvent(pub(crate) OrderEvent);

#[pymethods]
impl PyOrderEvent {
    #[getter]
    fn client_order_id(&self) -> &str {
        self.0.client_order_id.as_str()
    }
    #[getter]
    fn strategy_id(&self) -> &str {
        self.0.strategy_id.as_str()
    }
    #[getter]
    fn instrument(&self) -> &str {
        self.0.instrument.as_str()
    }
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.kind.as_str()
    }
    #[getter]
    fn status(&self) -> &'static str {
        self.0.status.as_str()
    }
    #[getter]
    fn ts(&self) -> u64 {
        self.0.ts.0
    }
    #[getter]
    fn reason(&self) -> &str {
        &self.0.reason
    }
    #[getter]
    fn fill(&self) -> Option<PyFill> {
        self.0.fill.map(PyFill)
    }
    /// For an order the risk engine refused (``denied``, ``modify_rejected``): the
    /// structured reason (code, scope, limit, actual, message).
    #[getter]
    fn denial(&self) -> Option<super::risk::PyDenial> {
        self.0.denial.as_deref().cloned().map(super::risk::PyDenial)
    }
    /// For ``modify_accepted``: the terms put in force, ``(quantity, price,
    /// trigger_price)`` as exact decimals (a price is ``None`` when the order has none).
    #[getter]
    #[allow(clippy::type_complexity)]
    fn modified<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<
        Option<(
            Bound<'py, PyAny>,
            Option<Bound<'py, PyAny>>,
            Option<Bound<'py, PyAny>>,
        )>,
    > {
        let Some(m) = self.0.modified.as_deref() else {
            return Ok(None);
        };
        Ok(Some((
            exact_decimal(py, m.quantity.raw())?,
            opt_decimal(py, m.price.map(Price::raw))?,
            opt_decimal(py, m.trigger_price.map(Price::raw))?,
        )))
    }
    fn __repr__(&self) -> String {
        format!(
            "OrderEvent({} {} -> {} at {}{})",
            self.0.client_order_id,
            self.0.kind.as_str(),
            self.0.status,
            self.0.ts,
            if self.0.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", self.0.reason)
            }
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyOrder>()?;
    m.add_class::<PyFill>()?;
    m.add_class::<PyOrderEvent>()?;
    Ok(())
}
