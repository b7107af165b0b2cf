//! Python classes for pre-trade risk: `RiskEngine`, `RiskAccount`, `Denial`, `RiskEvent`,
//! and the sizing/introspection functions. Thin: conversions only; logic is `crate::risk`.

use std::collections::BTreeMap;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt};

use super::orders::{decimal, opt_raw_arg, raw_arg, side_arg, PyOrder};
use super::portfolio::PyPortfolio;
use super::types::PyInstrument;
use crate::risk::session::{parse_date, parse_hhmm};
use crate::risk::{
    limit_kind, limit_names, size, AccountView, Denial, DenialCode, LimitKind, OrderRequest,
    RiskConfig, RiskEngine, RiskEvent, Scope, SessionConfig, SimpleAccount, Sizing, StateCause,
    TimeZone, TradingHours, TradingState,
};
use crate::types::{parse_fixed, Calendar};
use crate::CoreError;

fn raw_i128(field: &'static str, obj: &Bound<'_, PyAny>) -> PyResult<i128> {
    raw_arg(field, obj).map(i128::from)
}

pub(crate) fn state_arg(s: &str) -> PyResult<TradingState> {
    TradingState::parse(s).ok_or_else(|| {
        CoreError::invalid("state", format!("{s:?} is not active, reducing or halted")).into()
    })
}

pub(crate) fn cause_arg(s: Option<&str>) -> PyResult<Option<StateCause>> {
    s.map(|c| {
        StateCause::parse(c).ok_or_else(|| {
            CoreError::invalid(
                "cause",
                format!("{c:?} is not daily_loss, drawdown, strategy_loss, admin or new_session"),
            )
            .into()
        })
    })
    .transpose()
}

/// A plain account to check against: set cash, positions, last prices and P&L.
#[pyclass(name = "RiskAccount", module = "pi5trading._core")]
#[derive(Debug, Clone)]
pub(crate) struct PyRiskAccount(SimpleAccount);

#[pymethods]
impl PyRiskAccount {
    #[new]
    #[pyo3(signature = (cash=None, *, shorts_allowed=false))]
    fn py_new(cash: Option<&Bound<'_, PyAny>>, shorts_allowed: bool) -> PyResult<Self> {
        let mut a = SimpleAccount::with_cash(opt_raw_arg("cash", cash)?.map_or(0, i128::from));
        a.shorts_allowed = shorts_allowed;
        Ok(Self(a))
    }
    #[getter]
    fn cash<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.cash)
    }
    #[setter]
    fn set_cash(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.0.cash = raw_i128("cash", value)?;
        Ok(())
    }
    #[getter]
    fn realised_pnl<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.realised_pnl)
    }
    #[setter]
    fn set_realised_pnl(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.0.realised_pnl = raw_i128("realised_pnl", value)?;
        Ok(())
    }
    #[getter]
    fn pending_buy_notional<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.pending_buy_notional)
    }
    #[setter]
    fn set_pending_buy_notional(&mut self, value: &Bound<'_, PyAny>) -> PyResult<()> {
        self.0.pending_buy_notional = raw_i128("pending_buy_notional", value)?;
        Ok(())
    }
    #[getter]
    fn shorts_allowed(&self) -> bool {
        self.0.shorts_allowed
    }
    #[setter]
    fn set_shorts_allowed(&mut self, value: bool) {
        self.0.shorts_allowed = value;
    }
    #[getter]
    fn equity<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.equity())
    }
    #[getter]
    fn gross_exposure<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.gross_exposure())
    }
    #[getter]
    fn net_exposure<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.net_exposure())
    }
    #[getter]
    fn total_pnl<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.total_pnl())
    }
    #[pyo3(signature = (instrument, quantity, avg_price, strategy_id=None))]
    fn set_position(
        &mut self,
        instrument: &str,
        quantity: &Bound<'_, PyAny>,
        avg_price: &Bound<'_, PyAny>,
        strategy_id: Option<&str>,
    ) -> PyResult<()> {
        let q = raw_arg("quantity", quantity)?;
        let p = raw_arg("avg_price", avg_price)?;
        self.0.set_position(instrument, q, p, strategy_id);
        Ok(())
    }
    fn set_last_price(&mut self, instrument: &str, price: &Bound<'_, PyAny>) -> PyResult<()> {
        self.0.set_last_price(instrument, raw_arg("price", price)?);
        Ok(())
    }
    fn set_strategy_pnl(&mut self, strategy_id: &str, pnl: &Bound<'_, PyAny>) -> PyResult<()> {
        self.0
            .strategy_pnl
            .insert(strategy_id.to_owned(), raw_i128("pnl", pnl)?);
        Ok(())
    }
    /// Unfilled quantity of working orders in `instrument`, by side (counted in REDUCING).
    fn set_working_quantity(
        &mut self,
        instrument: &str,
        buy: &Bound<'_, PyAny>,
        sell: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let w = [raw_arg("buy", buy)?, raw_arg("sell", sell)?];
        self.0.working.insert(instrument.to_owned(), w);
        Ok(())
    }
    #[pyo3(signature = (count, strategy_id=None))]
    fn set_open_orders(&mut self, count: u32, strategy_id: Option<&str>) {
        match strategy_id {
            None => self.0.open_orders = count,
            Some(s) => {
                self.0.strategy_open_orders.insert(s.to_owned(), count);
            }
        }
    }
    fn __repr__(&self) -> String {
        format!(
            "RiskAccount(cash={}, positions={})",
            crate::risk::engine::dec(self.0.cash),
            self.0.positions().len()
        )
    }
}

/// A risk denial: a machine code, the level of the limit, the limit and the value that broke
/// it, and a message for people.
#[pyclass(frozen, name = "Denial", module = "pi5trading._core")]
#[derive(Debug, Clone)]
pub(crate) struct PyDenial(pub(crate) Denial);

#[pymethods]
impl PyDenial {
    #[getter]
    fn code(&self) -> &'static str {
        self.0.code.as_str()
    }
    #[getter]
    fn scope(&self) -> &'static str {
        self.0.scope.as_str()
    }
    #[getter]
    fn message(&self) -> &str {
        &self.0.message
    }
    /// The limit: a Decimal (quantity, money, fraction) or an int (counts, nanoseconds).
    #[getter]
    fn limit<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.number(py, self.0.limit)
    }
    /// The value that broke the limit, in the limit's unit.
    #[getter]
    fn actual<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.number(py, self.0.actual)
    }
    fn __str__(&self) -> String {
        self.0.to_string()
    }
    fn __repr__(&self) -> String {
        format!("Denial({}: {})", self.0.code, self.0.message)
    }
}

impl PyDenial {
    fn number<'py>(&self, py: Python<'py>, v: i128) -> PyResult<Bound<'py, PyAny>> {
        if self.0.code.is_count() {
            Ok(v.into_pyobject(py)?.into_any())
        } else {
            decimal(py, v)
        }
    }
}

/// A trading-state change or the start of a risk session.
#[pyclass(frozen, name = "RiskEvent", module = "pi5trading._core")]
#[derive(Debug, Clone)]
pub(crate) struct PyRiskEvent(pub(crate) RiskEvent);

#[pymethods]
impl PyRiskEvent {
    /// `"state_changed"` or `"session_started"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.0 {
            RiskEvent::StateChanged { .. } => "state_changed",
            RiskEvent::SessionStarted { .. } => "session_started",
        }
    }
    #[getter]
    fn ts(&self) -> u64 {
        match self.0 {
            RiskEvent::StateChanged { ts, .. } | RiskEvent::SessionStarted { ts, .. } => ts,
        }
    }
    #[getter]
    fn strategy_id(&self) -> Option<&str> {
        match &self.0 {
            RiskEvent::StateChanged { strategy_id, .. } => strategy_id.as_deref(),
            RiskEvent::SessionStarted { .. } => None,
        }
    }
    #[getter(from_state)]
    fn previous_state(&self) -> Option<&'static str> {
        match &self.0 {
            RiskEvent::StateChanged { from, .. } => Some(from.as_str()),
            RiskEvent::SessionStarted { .. } => None,
        }
    }
    #[getter]
    fn to_state(&self) -> Option<&'static str> {
        match &self.0 {
            RiskEvent::StateChanged { to, .. } => Some(to.as_str()),
            RiskEvent::SessionStarted { .. } => None,
        }
    }
    #[getter]
    fn cause(&self) -> Option<&'static str> {
        match &self.0 {
            RiskEvent::StateChanged { cause, .. } => Some(cause.as_str()),
            RiskEvent::SessionStarted { .. } => None,
        }
    }
    #[getter]
    fn message(&self) -> String {
        match &self.0 {
            RiskEvent::StateChanged { message, .. } => message.clone(),
            RiskEvent::SessionStarted { date, .. } => format!("risk session {date} started"),
        }
    }
    #[getter]
    fn date(&self) -> Option<&str> {
        match &self.0 {
            RiskEvent::SessionStarted { date, .. } => Some(date),
            RiskEvent::StateChanged { .. } => None,
        }
    }
    #[getter]
    fn cancel_open_orders(&self) -> bool {
        matches!(
            self.0,
            RiskEvent::StateChanged {
                cancel_open_orders: true,
                ..
            }
        )
    }
    #[getter]
    fn flatten_positions(&self) -> bool {
        matches!(
            self.0,
            RiskEvent::StateChanged {
                flatten_positions: true,
                ..
            }
        )
    }
    fn __repr__(&self) -> String {
        format!("RiskEvent({}: {})", self.kind(), self.message())
    }
}

/// The pre-trade risk engine with a named profile (`conservative`, `default`, `aggressive`,
/// or `unlimited`).
#[pyclass(name = "RiskEngine", module = "pi5trading._core")]
#[derive(Debug)]
pub(crate) struct PyRiskEngine(pub(crate) RiskEngine);

/// Borrows the account argument: a `RiskAccount` or a `Portfolio`.
fn with_view<R>(account: &Bound<'_, PyAny>, f: impl FnOnce(&dyn AccountView) -> R) -> PyResult<R> {
    if let Ok(a) = account.cast::<PyRiskAccount>() {
        return Ok(f(&a.borrow().0));
    }
    if let Ok(p) = account.cast::<PyPortfolio>() {
        return Ok(f(&p.borrow().0));
    }
    Err(PyTypeError::new_err(format!(
        "account: expected RiskAccount or Portfolio, got {}",
        account.get_type().name()?
    )))
}

fn scope<'a>(strategy_id: Option<&'a str>, instrument: Option<&'a str>) -> PyResult<Scope<'a>> {
    match (strategy_id, instrument) {
        (None, None) => Ok(Scope::Account),
        (Some(s), None) => Ok(Scope::Strategy(s)),
        (None, Some(i)) => Ok(Scope::Instrument(i)),
        (Some(_), Some(_)) => {
            Err(CoreError::invalid("scope", "give strategy_id or instrument, not both").into())
        }
    }
}

pub(crate) fn sizing_arg(method: &str, params: Option<&Bound<'_, PyDict>>) -> PyResult<Sizing> {
    let get = |name: &'static str| -> PyResult<Option<i64>> {
        match params {
            Some(d) => opt_raw_arg(name, d.get_item(name)?.as_ref()),
            None => Ok(None),
        }
    };
    let need = |name: &'static str| -> PyResult<i64> {
        get(name)?.ok_or_else(|| {
            CoreError::invalid(name, format!("required by the {method} sizing method")).into()
        })
    };
    if let Some(d) = params {
        for k in d.keys() {
            let k: String = k.extract()?;
            let known = [
                "quantity",
                "notional",
                "fraction",
                "amount",
                "stop_price",
                "risk_fraction",
                "max_fraction",
                "atr",
                "atr_multiple",
                "win_rate",
                "avg_win",
                "avg_loss",
            ];
            if !known.contains(&k.as_str()) {
                return Err(PyTypeError::new_err(format!(
                    "unexpected sizing parameter {k:?}"
                )));
            }
        }
    }
    Ok(match method {
        "fixed_quantity" => Sizing::FixedQuantity {
            quantity: need("quantity")?,
        },
        "fixed_notional" => Sizing::FixedNotional {
            notional: i128::from(need("notional")?),
        },
        "percent_of_equity" => Sizing::PercentOfEquity {
            fraction: need("fraction")?,
        },
        "fixed_risk" => Sizing::FixedRisk {
            amount: i128::from(need("amount")?),
            stop_price: need("stop_price")?,
        },
        "fixed_fractional_risk" => Sizing::FixedFractionalRisk {
            risk_fraction: need("risk_fraction")?,
            stop_price: need("stop_price")?,
            max_fraction: get("max_fraction")?,
        },
        "volatility_scaled" => Sizing::VolatilityScaled {
            risk_fraction: need("risk_fraction")?,
            atr: need("atr")?,
            atr_multiple: need("atr_multiple")?,
            max_fraction: get("max_fraction")?,
        },
        "kelly" => Sizing::Kelly {
            win_rate: need("win_rate")?,
            avg_win: need("avg_win")?,
            avg_loss: need("avg_loss")?,
            fraction: need("fraction")?,
            max_fraction: need("max_fraction")?,
        },
        _ => {
            return Err(CoreError::invalid(
                "method",
                format!(
                    "unknown sizing method {method:?}; use fixed_quantity, fixed_notional, \
                     percent_of_equity, fixed_risk, fixed_fractional_risk, volatility_scaled \
                     or kelly"
                ),
            )
            .into())
        }
    })
}

fn denial_or_none(r: Result<(), Denial>) -> Option<PyDenial> {
    r.err().map(PyDenial)
}

#[pymethods]
impl PyRiskEngine {
    #[new]
    #[pyo3(signature = (profile="default"))]
    fn py_new(profile: &str) -> PyResult<Self> {
        let cfg = if profile == "unlimited" {
            RiskConfig::unlimited()
        } else {
            RiskConfig::profile(profile)?
        };
        Ok(Self(RiskEngine::new(cfg)?))
    }

    #[getter]
    fn profile(&self) -> String {
        self.0.account_config().profile.clone()
    }

    /// The account's trading state: `active`, `reducing` or `halted`.
    #[getter]
    fn state(&self) -> &'static str {
        self.0.state().as_str()
    }

    /// Why the account is in its state, or `None`.
    #[getter]
    fn cause(&self) -> Option<&'static str> {
        self.0.cause().map(|c| c.as_str())
    }

    #[getter]
    fn equity_peak<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.0.equity_peak().map(|p| decimal(py, p)).transpose()
    }

    #[getter]
    fn session_orders(&self) -> u32 {
        self.0.session_orders()
    }

    fn strategy_state(&self, strategy_id: &str) -> &'static str {
        self.0.strategy_state(strategy_id).as_str()
    }

    /// Sets a limit by name (see `limit_names()`), at the account, one strategy or one
    /// instrument; `None` switches it off there.
    #[pyo3(signature = (name, value, *, strategy_id=None, instrument=None))]
    fn set_limit(
        &mut self,
        name: &str,
        value: Option<&Bound<'_, PyAny>>,
        strategy_id: Option<&str>,
        instrument: Option<&str>,
    ) -> PyResult<()> {
        let kind = limit_kind(name)
            .ok_or_else(|| CoreError::invalid("limit", format!("unknown limit {name:?}")))?;
        let raw = match value.filter(|v| !v.is_none()) {
            None => None,
            Some(v) if kind == LimitKind::Count => {
                if !v.is_instance_of::<PyInt>() {
                    return Err(PyTypeError::new_err(format!("{name}: expected int")));
                }
                Some(v.extract::<i128>()?)
            }
            Some(v) => {
                let text = v.str()?;
                if v.is_instance_of::<pyo3::types::PyFloat>() {
                    return Err(PyTypeError::new_err(format!(
                        "{name}: expected Decimal, str or int, got float"
                    )));
                }
                Some(i128::from(parse_fixed("limit", text.to_str()?)?.0))
            }
        };
        self.0
            .set_limit(name, raw, scope(strategy_id, instrument)?)?;
        Ok(())
    }

    /// A limit by name (`None` when not set at that level).
    #[pyo3(signature = (name, *, strategy_id=None, instrument=None))]
    fn get_limit<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        strategy_id: Option<&str>,
        instrument: Option<&str>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let v = self.0.limit(name, scope(strategy_id, instrument)?)?;
        match (v, limit_kind(name)) {
            (None, _) => Ok(None),
            (Some(v), Some(LimitKind::Count)) => Ok(Some(v.into_pyobject(py)?.into_any())),
            (Some(v), _) => decimal(py, v).map(Some),
        }
    }

    /// Registers an instrument: an `Instrument` (its tick, lot and calendar), or a symbol
    /// with its tick and lot size. Prices and quantities off the grid are denied; `calendar`
    /// (`"session"` or `"24/7"`) overrides the instrument's, or for a symbol keeps the one
    /// already registered (default `"session"`).
    #[pyo3(signature = (instrument, tick_size=None, lot_size=None, *, calendar=None))]
    fn add_instrument(
        &mut self,
        instrument: &Bound<'_, PyAny>,
        tick_size: Option<&Bound<'_, PyAny>>,
        lot_size: Option<&Bound<'_, PyAny>>,
        calendar: Option<&str>,
    ) -> PyResult<()> {
        let calendar: Option<Calendar> = calendar.map(str::parse).transpose()?;
        if let Ok(i) = instrument.cast::<PyInstrument>() {
            if tick_size.is_some() || lot_size.is_some() {
                return Err(CoreError::invalid(
                    "tick_size",
                    "an Instrument carries its tick and lot sizes: pass one or the other",
                )
                .into());
            }
            let i = i.get().0;
            self.0
                .register_instrument(&calendar.map_or(i, |c| i.with_calendar(c)));
            return Ok(());
        }
        let symbol: &str = instrument.extract().map_err(|_| {
            PyTypeError::new_err("instrument: expected an Instrument or a symbol (str)")
        })?;
        let (Some(tick_size), Some(lot_size)) = (tick_size, lot_size) else {
            return Err(CoreError::invalid(
                "tick_size",
                "a symbol needs its tick_size and lot_size (or pass an Instrument)",
            )
            .into());
        };
        let tick = raw_arg("tick_size", tick_size)?;
        let lot = raw_arg("lot_size", lot_size)?;
        if tick <= 0 || lot <= 0 {
            return Err(CoreError::invalid("tick_size", "tick and lot sizes must be > 0").into());
        }
        self.0.add_instrument(symbol, tick, lot);
        if let Some(c) = calendar {
            self.0.set_calendar(symbol, c);
        }
        Ok(())
    }

    /// The instrument's calendar: `"session"` (trading hours apply) or `"24/7"`.
    fn calendar(&self, instrument: &str) -> &'static str {
        self.0.calendar(instrument).name()
    }

    /// The risk session: time zone (IANA name or `+HH:MM`), the local time at which the risk
    /// day resets, and trading hours (`open=None` trades around the clock). Weekdays are
    /// 0 = Monday … 6 = Sunday; holidays are local `YYYY-MM-DD` dates; early closes map
    /// local `YYYY-MM-DD` half days to their local `HH:MM` close.
    #[pyo3(signature = (
        time_zone, *, reset_at="00:00", open=Some("09:30"), close="16:00",
        weekdays=vec![0, 1, 2, 3, 4], holidays=vec![], early_closes=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn set_session(
        &mut self,
        time_zone: &str,
        reset_at: &str,
        open: Option<&str>,
        close: &str,
        weekdays: Vec<u8>,
        holidays: Vec<String>,
        early_closes: Option<BTreeMap<String, String>>,
    ) -> PyResult<()> {
        let tz = TimeZone::named(time_zone)?;
        let reset = parse_hhmm("reset_at", reset_at)?;
        let trading_hours = match open {
            None => None,
            Some(o) => {
                let mut mask = 0_u8;
                for d in weekdays {
                    if d > 6 {
                        return Err(
                            CoreError::invalid("weekdays", "must be 0 (Mon) to 6 (Sun)").into()
                        );
                    }
                    mask |= 1 << d;
                }
                Some(TradingHours {
                    open: parse_hhmm("open", o)?,
                    close: parse_hhmm("close", close)?,
                    weekdays: mask,
                    holidays: holidays
                        .iter()
                        .map(|h| parse_date("holidays", h))
                        .collect::<Result<_, _>>()?,
                    early_closes: early_closes
                        .unwrap_or_default()
                        .iter()
                        .map(|(d, c)| {
                            Ok((
                                parse_date("early_closes", d)?,
                                parse_hhmm("early_closes", c)?,
                            ))
                        })
                        .collect::<Result<_, CoreError>>()?,
                })
            }
        };
        self.0.set_session(SessionConfig {
            time_zone: tz,
            reset_at: reset,
            trading_hours,
        })?;
        Ok(())
    }

    /// The states entered automatically, and the commands that come with HALTED.
    #[pyo3(signature = (
        *, on_daily_loss="reducing", on_drawdown="halted", on_strategy_loss="reducing",
        cancel_on_halt=true, flatten_on_halt=false,
    ))]
    fn set_actions(
        &mut self,
        on_daily_loss: &str,
        on_drawdown: &str,
        on_strategy_loss: &str,
        cancel_on_halt: bool,
        flatten_on_halt: bool,
    ) -> PyResult<()> {
        self.0.set_actions(
            state_arg(on_daily_loss)?,
            state_arg(on_drawdown)?,
            state_arg(on_strategy_loss)?,
            cancel_on_halt,
            flatten_on_halt,
        );
        Ok(())
    }

    /// Whether the buying-power check applies to buys.
    #[setter]
    fn set_check_buying_power(&mut self, value: bool) {
        self.0.account_limits_mut().check_buying_power = value;
    }

    #[getter]
    fn check_buying_power(&self) -> bool {
        self.0.account_config().account.check_buying_power
    }

    /// The pre-trade check: `None` lets the order through (and counts it against the flow
    /// limits), a `Denial` refuses it. `ts` is the engine clock in UTC nanoseconds.
    #[pyo3(signature = (account, strategy_id, instrument, side, quantity, *, price=None, trigger_price=None, ts))]
    #[allow(clippy::too_many_arguments)]
    fn check(
        &mut self,
        account: &Bound<'_, PyAny>,
        strategy_id: &str,
        instrument: &str,
        side: &str,
        quantity: &Bound<'_, PyAny>,
        price: Option<&Bound<'_, PyAny>>,
        trigger_price: Option<&Bound<'_, PyAny>>,
        ts: u64,
    ) -> PyResult<Option<PyDenial>> {
        let o = OrderRequest {
            strategy_id,
            instrument,
            side: side_arg(side)?,
            quantity: raw_arg("quantity", quantity)?,
            price: opt_raw_arg("price", price)?,
            trigger_price: opt_raw_arg("trigger_price", trigger_price)?,
            whole_session: false,
        };
        let e = &mut self.0;
        with_view(account, |v| denial_or_none(e.check(&o, v, ts)))
    }

    /// The check for an `Order` (its strategy, instrument, side, quantity and prices).
    #[pyo3(signature = (order, account, *, ts))]
    fn check_order(
        &mut self,
        order: PyRef<'_, PyOrder>,
        account: &Bound<'_, PyAny>,
        ts: u64,
    ) -> PyResult<Option<PyDenial>> {
        let o = OrderRequest::from_order(&order.0);
        let e = &mut self.0;
        with_view(account, |v| denial_or_none(e.check(&o, v, ts)))
    }

    /// Session roll-over, equity peak and loss limits; call after fills and marks.
    #[pyo3(signature = (account, *, ts))]
    fn update(&mut self, account: &Bound<'_, PyAny>, ts: u64) -> PyResult<()> {
        let e = &mut self.0;
        with_view(account, |v| e.update(v, ts))
    }

    /// Operator command: set the account's state. Leaving HALTED/REDUCING for ACTIVE resets the
    /// equity peak to the current equity.
    #[pyo3(signature = (state, reason, account, *, ts))]
    fn set_state(
        &mut self,
        state: &str,
        reason: &str,
        account: &Bound<'_, PyAny>,
        ts: u64,
    ) -> PyResult<()> {
        let s = state_arg(state)?;
        let e = &mut self.0;
        with_view(account, |v| e.set_state(s, reason, v, ts))
    }

    /// Operator command: set one strategy's state.
    #[pyo3(signature = (strategy_id, state, reason, *, ts))]
    fn set_strategy_state(
        &mut self,
        strategy_id: &str,
        state: &str,
        reason: &str,
        ts: u64,
    ) -> PyResult<()> {
        self.0
            .set_strategy_state(strategy_id, state_arg(state)?, reason, ts);
        Ok(())
    }

    /// The events since the last call (state changes, new sessions).
    fn drain_events(&mut self) -> Vec<PyRiskEvent> {
        self.0.drain_events().map(PyRiskEvent).collect()
    }

    /// P&L since the session start (realised + unrealised − commissions).
    fn session_pnl<'py>(
        &self,
        py: Python<'py>,
        account: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pnl = with_view(account, |v| self.0.session_pnl(v))?;
        decimal(py, pnl)
    }

    /// The largest quantity the static limits allow for this order (0 when none).
    #[pyo3(signature = (account, strategy_id, instrument, side, price=None))]
    fn max_order_quantity<'py>(
        &self,
        py: Python<'py>,
        account: &Bound<'_, PyAny>,
        strategy_id: &str,
        instrument: &str,
        side: &str,
        price: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let side = side_arg(side)?;
        let px = opt_raw_arg("price", price)?;
        let q = with_view(account, |v| {
            self.0
                .max_order_quantity(strategy_id, instrument, side, px, v)
        })?;
        decimal(py, i128::from(q))
    }

    /// Sizes an order with `method` (see `position_size`) and clips it to the limits.
    #[pyo3(signature = (account, method, strategy_id, instrument, side, price=None, **params))]
    #[allow(clippy::too_many_arguments)]
    fn size_order<'py>(
        &self,
        py: Python<'py>,
        account: &Bound<'_, PyAny>,
        method: &str,
        strategy_id: &str,
        instrument: &str,
        side: &str,
        price: Option<&Bound<'_, PyAny>>,
        params: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let sizing = sizing_arg(method, params)?;
        let side = side_arg(side)?;
        let px = opt_raw_arg("price", price)?;
        let q = with_view(account, |v| {
            self.0
                .size_order(&sizing, strategy_id, instrument, side, px, v)
        })??;
        decimal(py, i128::from(q))
    }

    /// Checks run and denials by code.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (checks, denials) = self.0.stats();
        let d = PyDict::new(py);
        d.set_item("checks", checks)?;
        for code in DenialCode::ALL {
            d.set_item(code.as_str(), denials[code as usize])?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "RiskEngine(profile={:?}, state={})",
            self.0.account_config().profile,
            self.0.state()
        )
    }
}

/// Every denial code, in a stable order.
#[pyfunction]
#[pyo3(name = "denial_codes")]
fn py_denial_codes() -> Vec<&'static str> {
    DenialCode::ALL.iter().map(|c| c.as_str()).collect()
}

/// Every limit name accepted by `RiskEngine.set_limit`.
#[pyfunction]
#[pyo3(name = "limit_names")]
fn py_limit_names() -> Vec<&'static str> {
    limit_names().collect()
}

/// The named risk profiles.
#[pyfunction]
#[pyo3(name = "risk_profiles")]
fn py_risk_profiles() -> Vec<&'static str> {
    RiskConfig::PROFILES.to_vec()
}

/// The quantity `method` trades at `price` for an account worth `equity`, rounded down to
/// `lot_size`. Methods and their parameters: `fixed_quantity(quantity)`,
/// `fixed_notional(notional)`, `percent_of_equity(fraction)`, `fixed_risk(amount,
/// stop_price)`, `fixed_fractional_risk(risk_fraction, stop_price, max_fraction=None)`,
/// `volatility_scaled(risk_fraction, atr, atr_multiple, max_fraction=None)`,
/// `kelly(win_rate, avg_win, avg_loss, fraction, max_fraction)`.
#[pyfunction]
#[pyo3(name = "position_size", signature = (method, equity, price, lot_size=None, **params))]
fn py_position_size<'py>(
    py: Python<'py>,
    method: &str,
    equity: &Bound<'_, PyAny>,
    price: &Bound<'_, PyAny>,
    lot_size: Option<&Bound<'_, PyAny>>,
    params: Option<&Bound<'_, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let sizing = sizing_arg(method, params)?;
    let lot = opt_raw_arg("lot_size", lot_size)?.unwrap_or(crate::risk::ONE);
    let q = size(
        &sizing,
        raw_i128("equity", equity)?,
        raw_arg("price", price)?,
        lot,
    )?;
    decimal(py, i128::from(q))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRiskEngine>()?;
    m.add_class::<PyRiskAccount>()?;
    m.add_class::<PyDenial>()?;
    m.add_class::<PyRiskEvent>()?;
    m.add_function(wrap_pyfunction!(py_denial_codes, m)?)?;
    m.add_function(wrap_pyfunction!(py_limit_names, m)?)?;
    m.add_function(wrap_pyfunction!(py_risk_profiles, m)?)?;
    m.add_function(wrap_pyfunction!(py_position_size, m)?)?;
    Ok(())
}
