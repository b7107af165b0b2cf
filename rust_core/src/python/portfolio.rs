//! Python classes for the account: `Portfolio`, `Position`, `PositionEvent`.

use std::collections::BTreeMap;

use pyo3::prelude::*;

use super::orders::{decimal, fixed_arg, opt_decimal, quantity_arg, raw_arg, side_arg};
use crate::portfolio::{AccountConfig, AccountType, Portfolio, Position, PositionEvent};
use crate::types::{Currency, Money, Price, StrategyId, Symbol, UnixNanos};
use crate::CoreError;

/// Account settings; `starting_cash` defaults to 100,000.
pub(crate) fn account_arg(
    starting_cash: Option<&Bound<'_, PyAny>>,
    account_type: &str,
    allow_short: bool,
) -> PyResult<AccountConfig> {
    let account_type = match account_type {
        "cash" => AccountType::Cash,
        "margin" => AccountType::Margin,
        _ => return Err(CoreError::invalid("account_type", "must be 'cash' or 'margin'").into()),
    };
    Ok(AccountConfig {
        starting_cash: match starting_cash {
            Some(c) if !c.is_none() => raw_arg("starting_cash", c)?,
            _ => AccountConfig::default().starting_cash,
        },
        account_type,
        allow_short,
    })
}

/// A position event (`opened`, `changed`, `closed`); `strategy_id` is `None` for the
/// account's netting position.
#[pyclass(frozen, name = "PositionEvent", module = "pi5trading._core")]
#[derive(Debug, Clone)]
pub(crate) struct PyPositionEvent(pub(crate) PositionEvent);

#[pymethods]
impl PyPositionEvent {
    #[getter]
    fn instrument(&self) -> &str {
        self.0.instrument.as_str()
    }
    #[getter]
    fn strategy_id(&self) -> Option<&str> {
        self.0.strategy_id.as_ref().map(|s| s.as_str())
    }
    #[getter]
    fn kind(&self) -> &'static str {
        self.0.kind.as_str()
    }
    #[getter]
    fn quantity<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, i128::from(self.0.quantity.raw()))
    }
    #[getter]
    fn avg_px<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        opt_decimal(py, self.0.avg_px.map(Price::raw))
    }
    #[getter]
    fn realised_pnl<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.realised)
    }
    #[getter]
    fn ts(&self) -> u64 {
        self.0.ts.0
    }
    fn __repr__(&self) -> String {
        format!(
            "PositionEvent({} {} {} qty_raw={})",
            self.0.instrument,
            self.0
                .strategy_id
                .as_ref()
                .map_or("<account>", |s| s.as_str()),
            self.0.kind.as_str(),
            self.0.quantity.raw()
        )
    }
}

/// A snapshot of one netting position, valued at the mark when it was taken.
#[pyclass(frozen, name = "Position", module = "pi5trading._core")]
#[derive(Debug, Clone)]
pub(crate) struct PyPosition {
    instrument: String,
    pos: Position,
    mark: Option<i64>,
}

#[pymethods]
impl PyPosition {
    #[getter]
    fn instrument(&self) -> &str {
        &self.instrument
    }
    /// Signed: > 0 long, < 0 short.
    #[getter]
    fn quantity<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, i128::from(self.pos.quantity.raw()))
    }
    #[getter]
    fn avg_px<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        opt_decimal(py, self.pos.avg_px_raw())
    }
    #[getter]
    fn cost<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.pos.cost)
    }
    #[getter]
    fn mark<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        opt_decimal(py, self.mark)
    }
    #[getter]
    fn market_value<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.pos.marked_value(self.mark))
    }
    #[getter]
    fn realised_pnl<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.pos.realised)
    }
    #[getter]
    fn unrealised_pnl<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.pos.unrealised(self.mark))
    }
    #[getter]
    fn commissions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.pos.commissions)
    }
    fn __repr__(&self) -> String {
        format!(
            "Position({} qty_raw={})",
            self.instrument,
            self.pos.quantity.raw()
        )
    }
}

/// The account: cash, positions, exact P&L, per-strategy attribution. From
/// `SimulatedVenue.portfolio` it is a snapshot; built directly it is a ledger you feed with
/// `apply_fill` and `mark`.
#[pyclass(name = "Portfolio", module = "pi5trading._core")]
#[derive(Debug, Clone)]
pub(crate) struct PyPortfolio(pub(crate) Portfolio);

pub(crate) fn position(p: &Portfolio, instrument: &str, pos: &Position) -> PyPosition {
    PyPosition {
        instrument: instrument.to_owned(),
        pos: pos.clone(),
        mark: p.mark_of(instrument),
    }
}

#[pymethods]
impl PyPortfolio {
    #[new]
    #[pyo3(signature = (starting_cash=None, *, account_type="cash", allow_short=false))]
    fn py_new(
        starting_cash: Option<&Bound<'_, PyAny>>,
        account_type: &str,
        allow_short: bool,
    ) -> PyResult<Self> {
        let cfg = account_arg(starting_cash, account_type, allow_short)?;
        Ok(Self(Portfolio::new(cfg)?))
    }

    /// Book one fill; returns the position events.
    #[pyo3(signature = (strategy_id, instrument, side, quantity, price, commission=None, ts=0))]
    #[allow(clippy::too_many_arguments)]
    fn apply_fill(
        &mut self,
        strategy_id: &str,
        instrument: &str,
        side: &str,
        quantity: &Bound<'_, PyAny>,
        price: &Bound<'_, PyAny>,
        commission: Option<&Bound<'_, PyAny>>,
        ts: u64,
    ) -> PyResult<Vec<PyPositionEvent>> {
        let fee = match commission {
            Some(c) if !c.is_none() => fixed_arg("commission", c)?,
            _ => (0, 2),
        };
        let (px, places) = fixed_arg("price", price)?;
        let mut out = Vec::new();
        self.0.apply_fill(
            StrategyId::new("strategy_id", strategy_id)?,
            Symbol::new("instrument", instrument)?,
            side_arg(side)?,
            quantity_arg("quantity", quantity)?,
            Price::from_raw_or_finer(px, places),
            Money::from_raw_or_finer(fee.0, fee.1, Currency::USD),
            UnixNanos(ts),
            &mut out,
        )?;
        Ok(out.into_iter().map(PyPositionEvent).collect())
    }

    /// Set the mark price of an instrument.
    fn mark(&mut self, instrument: &str, price: &Bound<'_, PyAny>) -> PyResult<()> {
        let p = raw_arg("price", price)?;
        if p <= 0 {
            return Err(CoreError::invalid("price", "must be > 0").into());
        }
        self.0.mark(Symbol::new("instrument", instrument)?, p);
        Ok(())
    }

    #[getter]
    fn account_type(&self) -> &'static str {
        match self.0.config().account_type {
            AccountType::Cash => "cash",
            AccountType::Margin => "margin",
        }
    }
    #[getter]
    fn starting_cash<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.starting_cash())
    }
    #[getter]
    fn cash<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.cash())
    }
    #[getter]
    fn buying_power<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.buying_power())
    }
    #[getter]
    fn equity<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.equity())
    }
    #[getter]
    fn realised_pnl<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.realised())
    }
    #[getter]
    fn unrealised_pnl<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.unrealised())
    }
    #[getter]
    fn commissions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.commissions())
    }
    /// Gross exposure: Σ |market value|.
    #[getter]
    fn exposure<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.exposure())
    }
    /// Net exposure: Σ market value.
    #[getter]
    fn net_exposure<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.net_exposure())
    }
    /// `(cash + marked) − (starting_cash + realised + unrealised − commissions)`; always 0.
    #[getter]
    fn identity_residual<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        decimal(py, self.0.identity_residual())
    }

    /// The account's netting position in `instrument`, if it ever traded.
    fn position(&self, instrument: &str) -> Option<PyPosition> {
        self.0
            .position(instrument)
            .map(|p| position(&self.0, instrument, p))
    }

    /// Every position ever opened, by instrument.
    fn positions(&self) -> BTreeMap<String, PyPosition> {
        self.0
            .positions()
            .iter()
            .map(|(i, p)| (i.as_str().to_owned(), position(&self.0, i.as_str(), p)))
            .collect()
    }

    /// Strategies that have traded, in name order.
    fn strategies(&self) -> Vec<String> {
        self.0
            .strategies()
            .keys()
            .map(|s| s.as_str().to_owned())
            .collect()
    }

    /// A strategy's attributed position in `instrument`.
    fn strategy_position(&self, strategy_id: &str, instrument: &str) -> Option<PyPosition> {
        self.0
            .strategy(strategy_id)
            .and_then(|s| s.positions.get(instrument))
            .map(|p| position(&self.0, instrument, p))
    }

    /// `(realised, unrealised, commissions)` attributed to a strategy.
    fn strategy_pnl<'py>(
        &self,
        py: Python<'py>,
        strategy_id: &str,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let (r, u, c) = self.0.strategy_pnl(strategy_id);
        Ok((decimal(py, r)?, decimal(py, u)?, decimal(py, c)?))
    }

    fn __repr__(&self) -> String {
        format!(
            "Portfolio(cash_raw={}, positions={})",
            self.0.cash(),
            self.0.positions().len()
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPortfolio>()?;
    m.add_class::<PyPosition>()?;
    m.add_class::<PyPositionEvent>()?;
    Ok(())
}
