//! Python class for the simulated venue. Every command returns the events it caused, in
//! order: `OrderEvent`s and `PositionEvent`s.

use pyo3::prelude::*;

use super::orders::{decimal, opt_raw_arg, raw_arg, side_arg, PyOrder, PyOrderEvent};
use super::portfolio::{account_arg, PyPortfolio, PyPositionEvent};
use super::types::{PyBar, PyInstrument, PyQuoteTick, PyTradeTick};
use crate::orders::Order;
use crate::portfolio::Portfolio;
use crate::types::{Currency, Symbol, FIXED_SCALE};
use crate::venue::{
    CommissionModel, MarketFillTiming, SimulatedVenue, SlippageModel, VenueConfig, VenueEvent,
};
use crate::CoreError;

fn events(py: Python<'_>, out: Vec<VenueEvent>) -> PyResult<Vec<Py<PyAny>>> {
    out.into_iter()
        .map(|e| {
            Ok(match e {
                VenueEvent::Order(o) => Bound::new(py, PyOrderEvent(o))?.into_any().unbind(),
                VenueEvent::Position(p) => Bound::new(py, PyPositionEvent(p))?.into_any().unbind(),
            })
        })
        .collect()
}

/// `(price, quantity, order count)` of one depth level.
type Level<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, usize);

fn core_orders(list: &[PyRef<'_, PyOrder>]) -> Vec<Order> {
    list.iter().map(|o| o.0.clone()).collect()
}

fn money_arg(field: &'static str, obj: Option<&Bound<'_, PyAny>>, default: i64) -> PyResult<i64> {
    let v = opt_raw_arg(field, obj)?.unwrap_or(default);
    if v < 0 {
        return Err(CoreError::invalid(field, "must be >= 0").into());
    }
    Ok(v)
}

/// A simulated venue with its own account. Fill rules and defaults: `docs/venue.md`.
#[pyclass(name = "SimulatedVenue", module = "pi5trading._core")]
#[derive(Debug)]
pub(crate) struct PySimulatedVenue(pub(crate) SimulatedVenue);

#[pymethods]
impl PySimulatedVenue {
    #[new]
    #[pyo3(signature = (
        *, starting_cash=None, account_type="cash", allow_short=false,
        slippage="ticks", slippage_ticks=1, slippage_rate=None, slippage_per_participation=None,
        commission_per_share=None, commission_per_order=None, commission_rate=None,
        commission_minimum=None, commission_max_rate=None,
        participation=None, unlimited_volume=false, latency_ns=0, market_fill="next_open",
        session_close_minutes=960, check_buying_power=true, external=false,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        starting_cash: Option<&Bound<'_, PyAny>>,
        account_type: &str,
        allow_short: bool,
        slippage: &str,
        slippage_ticks: i64,
        slippage_rate: Option<&Bound<'_, PyAny>>,
        slippage_per_participation: Option<&Bound<'_, PyAny>>,
        commission_per_share: Option<&Bound<'_, PyAny>>,
        commission_per_order: Option<&Bound<'_, PyAny>>,
        commission_rate: Option<&Bound<'_, PyAny>>,
        commission_minimum: Option<&Bound<'_, PyAny>>,
        commission_max_rate: Option<&Bound<'_, PyAny>>,
        participation: Option<&Bound<'_, PyAny>>,
        unlimited_volume: bool,
        latency_ns: u64,
        market_fill: &str,
        session_close_minutes: u32,
        check_buying_power: bool,
        external: bool,
    ) -> PyResult<Self> {
        let account = account_arg(starting_cash, account_type, allow_short)?;
        let defaults = VenueConfig::default();
        let rate = money_arg("slippage_rate", slippage_rate, 0)?;
        let slippage = match slippage {
            "none" => SlippageModel::None,
            "ticks" if slippage_ticks >= 0 => SlippageModel::FixedTicks(slippage_ticks),
            "rate" => SlippageModel::Rate(rate),
            "volume" => SlippageModel::VolumeShare {
                base: rate,
                per_participation: money_arg(
                    "slippage_per_participation",
                    slippage_per_participation,
                    0,
                )?,
            },
            _ => {
                return Err(CoreError::invalid(
                    "slippage",
                    "must be 'none', 'ticks' (with slippage_ticks >= 0), 'rate' or 'volume'",
                )
                .into())
            }
        };
        let d = CommissionModel::IBKR_FIXED;
        let commission = CommissionModel {
            per_share: money_arg("commission_per_share", commission_per_share, d.per_share)?,
            per_order: money_arg("commission_per_order", commission_per_order, d.per_order)?,
            rate: money_arg("commission_rate", commission_rate, d.rate)?,
            minimum: money_arg("commission_minimum", commission_minimum, d.minimum)?,
            max_rate: money_arg("commission_max_rate", commission_max_rate, d.max_rate)?,
            precision: d.precision,
        };
        let participation = if unlimited_volume {
            None
        } else {
            let p = money_arg(
                "participation",
                participation,
                defaults.participation.unwrap_or(FIXED_SCALE),
            )?;
            if p == 0 || p > FIXED_SCALE {
                return Err(CoreError::invalid("participation", "must be in (0, 1]").into());
            }
            Some(p)
        };
        let market_fill = match market_fill {
            "next_open" => MarketFillTiming::NextOpen,
            "this_close" => MarketFillTiming::ThisClose,
            _ => {
                return Err(CoreError::invalid(
                    "market_fill",
                    "must be 'next_open' or 'this_close'",
                )
                .into())
            }
        };
        if session_close_minutes >= 24 * 60 {
            return Err(CoreError::invalid("session_close_minutes", "must be < 1440").into());
        }
        let config = VenueConfig {
            slippage,
            commission,
            participation,
            latency_ns,
            market_fill,
            session_close_minutes,
            check_buying_power,
            currency: Currency::USD,
        };
        let mut venue = SimulatedVenue::new(config, Portfolio::new(account)?);
        if external {
            venue.set_external()?;
        }
        Ok(Self(venue))
    }

    /// External-venue mode: orders are kept here but matched by a broker (see
    /// ``Engine.take_outgoing`` / ``Engine.apply_broker_update``).
    #[getter]
    fn external(&self) -> bool {
        self.0.is_external()
    }

    /// Register an instrument: an `Instrument`, or a symbol with tick and lot sizes
    /// (default 0.01 and 1).
    #[pyo3(signature = (instrument, tick_size=None, lot_size=None))]
    fn add_instrument(
        &mut self,
        instrument: &Bound<'_, PyAny>,
        tick_size: Option<&Bound<'_, PyAny>>,
        lot_size: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if let Ok(i) = instrument.cast::<PyInstrument>() {
            return Ok(self.0.add_instrument(&i.get().0)?);
        }
        let symbol: String = instrument.extract()?;
        let symbol = symbol.as_str();
        let tick = opt_raw_arg("tick_size", tick_size)?.unwrap_or(FIXED_SCALE / 100);
        let lot = opt_raw_arg("lot_size", lot_size)?.unwrap_or(FIXED_SCALE);
        Ok(self.0.add_instrument_raw(symbol, tick, lot)?)
    }

    /// Submit an order at `ts` (UNIX ns).
    fn submit(
        &mut self,
        py: Python<'_>,
        order: PyRef<'_, PyOrder>,
        ts: u64,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let mut out = Vec::new();
        self.0.submit(order.0.clone(), ts, &mut out)?;
        events(py, out)
    }

    /// Submit orders linked one-cancels-other.
    fn submit_oco(
        &mut self,
        py: Python<'_>,
        orders: Vec<PyRef<'_, PyOrder>>,
        ts: u64,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let mut out = Vec::new();
        self.0.submit_oco(core_orders(&orders), ts, &mut out)?;
        events(py, out)
    }

    /// Submit a parent whose children are released when it fills (one-triggers-other).
    fn submit_oto(
        &mut self,
        py: Python<'_>,
        parent: PyRef<'_, PyOrder>,
        children: Vec<PyRef<'_, PyOrder>>,
        ts: u64,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let mut out = Vec::new();
        self.0
            .submit_oto(parent.0.clone(), core_orders(&children), ts, &mut out)?;
        events(py, out)
    }

    /// Submit an entry with a take-profit and a stop-loss (OCO exits, released on entry fill).
    fn submit_bracket(
        &mut self,
        py: Python<'_>,
        entry: PyRef<'_, PyOrder>,
        take_profit: PyRef<'_, PyOrder>,
        stop_loss: PyRef<'_, PyOrder>,
        ts: u64,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let mut out = Vec::new();
        self.0.submit_bracket(
            entry.0.clone(),
            take_profit.0.clone(),
            stop_loss.0.clone(),
            ts,
            &mut out,
        )?;
        events(py, out)
    }

    /// Request a cancel; a closed order answers with a `cancel_rejected` event.
    fn cancel(
        &mut self,
        py: Python<'_>,
        client_order_id: &str,
        ts: u64,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let mut out = Vec::new();
        self.0.cancel(client_order_id, ts, &mut out)?;
        events(py, out)
    }

    /// Request a change; a refused one answers with a `modify_rejected` event.
    #[pyo3(signature = (client_order_id, ts, *, quantity=None, price=None, trigger_price=None))]
    fn modify(
        &mut self,
        py: Python<'_>,
        client_order_id: &str,
        ts: u64,
        quantity: Option<&Bound<'_, PyAny>>,
        price: Option<&Bound<'_, PyAny>>,
        trigger_price: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let mut out = Vec::new();
        self.0.modify(
            client_order_id,
            opt_raw_arg("quantity", quantity)?,
            opt_raw_arg("price", price)?,
            opt_raw_arg("trigger_price", trigger_price)?,
            ts,
            &mut out,
        )?;
        events(py, out)
    }

    /// Process a `Bar`, `QuoteTick` or `TradeTick`.
    fn process(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Vec<Py<PyAny>>> {
        let mut out = Vec::new();
        if let Ok(b) = data.cast::<PyBar>() {
            self.0.process_bar(&b.borrow().0, &mut out)?;
        } else if let Ok(q) = data.cast::<PyQuoteTick>() {
            self.0.process_quote(&q.get().0, &mut out)?;
        } else if let Ok(t) = data.cast::<PyTradeTick>() {
            self.0.process_trade(&t.get().0, &mut out)?;
        } else {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "expected Bar, QuoteTick or TradeTick, got {}",
                data.get_type().name()?
            )));
        }
        events(py, out)
    }

    /// Process a bar: `ts` is its close time, `ts_open` its open time (default: `ts`, a bar
    /// without duration whose every event is stamped at its close).
    #[pyo3(signature = (instrument, ts, open, high, low, close, volume=None, *, ts_open=None))]
    #[allow(clippy::too_many_arguments)]
    fn process_bar(
        &mut self,
        py: Python<'_>,
        instrument: &str,
        ts: u64,
        open: &Bound<'_, PyAny>,
        high: &Bound<'_, PyAny>,
        low: &Bound<'_, PyAny>,
        close: &Bound<'_, PyAny>,
        volume: Option<&Bound<'_, PyAny>>,
        ts_open: Option<u64>,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let ohlc = [
            raw_arg("open", open)?,
            raw_arg("high", high)?,
            raw_arg("low", low)?,
            raw_arg("close", close)?,
        ];
        let volume = opt_raw_arg("volume", volume)?.unwrap_or(0);
        let mut out = Vec::new();
        self.0.process_bar_raw(
            Symbol::new("instrument", instrument)?,
            ts_open.unwrap_or(ts),
            ts,
            ohlc,
            volume,
            &mut out,
        )?;
        events(py, out)
    }

    /// Process a quote (sizes of 0 mean unknown: no size limit).
    #[pyo3(signature = (instrument, ts, bid, ask, bid_size=None, ask_size=None))]
    #[allow(clippy::too_many_arguments)]
    fn process_quote(
        &mut self,
        py: Python<'_>,
        instrument: &str,
        ts: u64,
        bid: &Bound<'_, PyAny>,
        ask: &Bound<'_, PyAny>,
        bid_size: Option<&Bound<'_, PyAny>>,
        ask_size: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let mut out = Vec::new();
        self.0.process_quote_raw(
            Symbol::new("instrument", instrument)?,
            ts,
            [raw_arg("bid", bid)?, raw_arg("ask", ask)?],
            [
                opt_raw_arg("bid_size", bid_size)?.unwrap_or(0),
                opt_raw_arg("ask_size", ask_size)?.unwrap_or(0),
            ],
            &mut out,
        )?;
        events(py, out)
    }

    /// Process a trade print (size 0 = unknown: no size limit).
    #[pyo3(signature = (instrument, ts, price, size=None))]
    fn process_trade(
        &mut self,
        py: Python<'_>,
        instrument: &str,
        ts: u64,
        price: &Bound<'_, PyAny>,
        size: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let mut out = Vec::new();
        self.0.process_trade_raw(
            Symbol::new("instrument", instrument)?,
            ts,
            raw_arg("price", price)?,
            opt_raw_arg("size", size)?.unwrap_or(0),
            &mut out,
        )?;
        events(py, out)
    }

    /// Move the clock: in-flight orders arrive, DAY/GTD orders expire.
    fn advance(&mut self, py: Python<'_>, ts: u64) -> PyResult<Vec<Py<PyAny>>> {
        let mut out = Vec::new();
        self.0.advance(ts, &mut out)?;
        events(py, out)
    }

    /// The venue's clock (latest timestamp seen).
    #[getter]
    fn now(&self) -> u64 {
        self.0.now()
    }

    /// A snapshot of an order by client id.
    fn order(&self, client_order_id: &str) -> Option<PyOrder> {
        self.0.order(client_order_id).cloned().map(PyOrder)
    }

    /// Snapshots of the orders not yet closed, in arrival order.
    fn open_orders(&self) -> Vec<PyOrder> {
        self.0.open_orders().cloned().map(PyOrder).collect()
    }

    /// L2 depth of resting limit orders: `(price, quantity, order count)`, best first.
    #[pyo3(signature = (instrument, side, levels=10))]
    fn depth<'py>(
        &self,
        py: Python<'py>,
        instrument: &str,
        side: &str,
        levels: usize,
    ) -> PyResult<Vec<Level<'py>>> {
        self.0
            .depth(instrument, side_arg(side)?, levels)
            .into_iter()
            .map(|l| {
                Ok((
                    decimal(py, i128::from(l.price))?,
                    decimal(py, i128::from(l.quantity))?,
                    l.orders,
                ))
            })
            .collect()
    }

    /// A snapshot of the account.
    #[getter]
    fn portfolio(&self) -> PyPortfolio {
        PyPortfolio(self.0.portfolio().clone())
    }

    /// Forget closed orders; returns how many.
    fn purge_closed(&mut self) -> usize {
        self.0.purge_closed()
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySimulatedVenue>()?;
    Ok(())
}
