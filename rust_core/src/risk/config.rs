//! Risk limits and the named profiles.
//!
//! Units: quantities and prices are raw `i64` units of 10^-9 (the shared fixed-point scale),
//! money is raw `i128` of 10^-9, ratios (collar, concentration, drawdown) are raw `i64`
//! fractions of 10^-9 (`0.20` = `200_000_000`), durations are nanoseconds. `None` switches a
//! limit off at that level. Every configured level binds: a strategy or instrument limit can
//! tighten the account's, never loosen it (see `docs/risk.md`).

use std::collections::BTreeMap;

use super::denial::TradingState;
use super::session::{SessionConfig, TimeZone};
use crate::error::{CoreError, CoreResult};
use crate::types::{Calendar, FIXED_SCALE};

/// One unit (1.0) on the shared scale: shares, dollars, or a ratio of 1.
pub const ONE: i64 = FIXED_SCALE;

/// Limits on a single order and the position it leads to. Usable at every level: the
/// account, a strategy (its own position) and an instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OrderLimits {
    pub max_quantity: Option<i64>,
    pub min_quantity: Option<i64>,
    pub max_notional: Option<i128>,
    pub min_notional: Option<i128>,
    /// A limit price may be at most this fraction away from the last price.
    pub price_collar: Option<i64>,
    /// |position| after the order (the strategy's own position at the strategy level).
    pub max_position_quantity: Option<i64>,
    pub max_position_notional: Option<i128>,
}

/// Limits on order flow. Usable for the account (all strategies together) and per strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlowLimits {
    pub max_orders_per_second: Option<u32>,
    pub max_orders_per_minute: Option<u32>,
    /// Orders accepted by risk per risk session (day).
    pub max_orders_per_session: Option<u32>,
    pub max_open_orders: Option<u32>,
    /// An order identical (instrument, side, quantity, prices) to one accepted less than
    /// this many nanoseconds ago is a duplicate. `None` or 0: no guard.
    pub duplicate_window_ns: Option<u64>,
}

/// Account-wide limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountLimits {
    pub max_gross_exposure: Option<i128>,
    /// |net exposure| (longs − shorts) after the order.
    pub max_net_exposure: Option<i128>,
    pub max_open_positions: Option<u32>,
    /// One instrument's |position value| / equity after the order.
    pub max_concentration: Option<i64>,
    /// Realised + unrealised P&L (net of commissions) since the session start, as a loss.
    pub max_daily_loss: Option<i128>,
    /// (peak equity − equity) / peak equity.
    pub max_drawdown: Option<i64>,
    /// Cash that buys may not spend.
    pub min_cash_balance: Option<i128>,
    /// Buys must be covered by buying power (a cash account: by cash).
    pub check_buying_power: bool,
}

/// Per-strategy configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StrategyLimits {
    pub order: OrderLimits,
    pub flow: FlowLimits,
    /// The strategy's P&L since the session start, as a loss; breaching it moves the strategy
    /// to `RiskConfig::on_strategy_loss` until the next session.
    pub max_loss: Option<i128>,
}

/// Per-instrument configuration: the grid, the calendar and the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InstrumentLimits {
    /// Prices must be multiples of this (raw); `None`: not checked.
    pub tick_size: Option<i64>,
    /// Quantities must be multiples of this (raw); `None`: not checked.
    pub lot_size: Option<i64>,
    /// `Session`: the session's trading hours apply; `AlwaysOpen`: never denied for hours.
    pub calendar: Calendar,
    pub order: OrderLimits,
}

/// Everything the risk engine is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskConfig {
    /// The profile this was built from (informational).
    pub profile: String,
    pub order: OrderLimits,
    pub flow: FlowLimits,
    pub account: AccountLimits,
    pub session: SessionConfig,
    /// State entered when the daily loss limit is breached (reset by the next session).
    pub on_daily_loss: TradingState,
    /// State entered when the drawdown limit is breached (reset only by an admin command).
    pub on_drawdown: TradingState,
    /// State a strategy enters when its loss limit is breached (reset by the next session).
    pub on_strategy_loss: TradingState,
    /// Ask the engine to cancel open orders when entering HALTED.
    pub cancel_on_halt: bool,
    /// Ask the engine to close positions when entering HALTED.
    pub flatten_on_halt: bool,
    pub strategies: BTreeMap<String, StrategyLimits>,
    pub instruments: BTreeMap<String, InstrumentLimits>,
}

const fn units(n: i64) -> i64 {
    n * ONE
}

const fn money(n: i64) -> i128 {
    n as i128 * ONE as i128
}

/// `percent` % as a raw ratio.
const fn pct(percent: i64) -> i64 {
    percent * (ONE / 100)
}

impl RiskConfig {
    /// The names accepted by [`RiskConfig::profile`].
    pub const PROFILES: [&'static str; 4] = ["conservative", "default", "aggressive", "unlimited"];

    /// A named profile: `conservative`, `default` (the original system's limits),
    /// `aggressive` or `unlimited` (no limits). Every number is explained in `docs/risk.md`.
    ///
    /// # Errors
    /// `InvalidInput` for an unknown name.
    pub fn profile(name: &str) -> CoreResult<Self> {
        match name {
            "default" => Ok(Self::default_profile()),
            "conservative" => Ok(Self::conservative()),
            "aggressive" => Ok(Self::aggressive()),
            "unlimited" => Ok(Self::unlimited()),
            _ => Err(CoreError::invalid(
                "profile",
                format!(
                    "unknown risk profile {name:?}; use {}",
                    Self::PROFILES.join(", ")
                ),
            )),
        }
    }

    /// No limits at all, trading around the clock in UTC (tests and research).
    #[must_use]
    pub fn unlimited() -> Self {
        Self {
            profile: "unlimited".into(),
            order: OrderLimits::default(),
            flow: FlowLimits::default(),
            account: AccountLimits::default(),
            session: SessionConfig {
                time_zone: TimeZone::UTC,
                reset_at: 0,
                trading_hours: None,
            },
            on_daily_loss: TradingState::Reducing,
            on_drawdown: TradingState::Halted,
            on_strategy_loss: TradingState::Reducing,
            cancel_on_halt: false,
            flatten_on_halt: false,
            strategies: BTreeMap::new(),
            instruments: BTreeMap::new(),
        }
    }

    /// The original system's limits (`internal/core/risk/manager.go` `GetDefaultLimits`).
    #[must_use]
    pub fn default_profile() -> Self {
        Self {
            profile: "default".into(),
            order: OrderLimits {
                max_quantity: Some(units(500)),
                min_quantity: None,
                max_notional: Some(money(25_000)),
                min_notional: None,
                price_collar: Some(pct(10)),
                max_position_quantity: Some(units(1_000)),
                max_position_notional: Some(money(50_000)),
            },
            flow: FlowLimits {
                max_orders_per_second: Some(5),
                max_orders_per_minute: Some(60),
                max_orders_per_session: Some(100),
                max_open_orders: Some(50),
                duplicate_window_ns: Some(1_000_000_000),
            },
            account: AccountLimits {
                max_gross_exposure: Some(money(500_000)),
                max_net_exposure: None,
                max_open_positions: Some(5),
                max_concentration: Some(pct(20)),
                max_daily_loss: Some(money(5_000)),
                max_drawdown: Some(pct(15)),
                min_cash_balance: Some(money(10_000)),
                check_buying_power: true,
            },
            session: SessionConfig::default(),
            on_daily_loss: TradingState::Reducing,
            on_drawdown: TradingState::Halted,
            on_strategy_loss: TradingState::Reducing,
            cancel_on_halt: true,
            flatten_on_halt: false,
            strategies: BTreeMap::new(),
            instruments: BTreeMap::new(),
        }
    }

    /// Tighter limits for a first live account.
    #[must_use]
    pub fn conservative() -> Self {
        let mut c = Self::default_profile();
        c.profile = "conservative".into();
        c.order.max_quantity = Some(units(200));
        c.order.max_notional = Some(money(10_000));
        c.order.price_collar = Some(pct(5));
        c.order.max_position_quantity = Some(units(500));
        c.order.max_position_notional = Some(money(25_000));
        c.flow.max_orders_per_second = Some(2);
        c.flow.max_orders_per_minute = Some(30);
        c.flow.max_orders_per_session = Some(50);
        c.flow.max_open_orders = Some(20);
        c.account.max_gross_exposure = Some(money(250_000));
        c.account.max_open_positions = Some(3);
        c.account.max_concentration = Some(pct(10));
        c.account.max_daily_loss = Some(money(2_000));
        c.account.max_drawdown = Some(pct(10));
        c.account.min_cash_balance = Some(money(20_000));
        c.on_daily_loss = TradingState::Halted;
        c.flatten_on_halt = true;
        c
    }

    /// Looser limits for a larger account or a well-tested strategy.
    #[must_use]
    pub fn aggressive() -> Self {
        let mut c = Self::default_profile();
        c.profile = "aggressive".into();
        c.order.max_quantity = Some(units(2_000));
        c.order.max_notional = Some(money(100_000));
        c.order.price_collar = Some(pct(20));
        c.order.max_position_quantity = Some(units(5_000));
        c.order.max_position_notional = Some(money(200_000));
        c.flow.max_orders_per_second = Some(20);
        c.flow.max_orders_per_minute = Some(300);
        c.flow.max_orders_per_session = Some(1_000);
        c.flow.max_open_orders = Some(200);
        c.account.max_gross_exposure = Some(money(1_000_000));
        c.account.max_open_positions = Some(10);
        c.account.max_concentration = Some(pct(35));
        c.account.max_daily_loss = Some(money(10_000));
        c.account.max_drawdown = Some(pct(25));
        c.account.min_cash_balance = Some(money(5_000));
        c
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// `InvalidInput` naming the first inconsistent field.
    pub fn validate(&self) -> CoreResult<()> {
        let levels = std::iter::once(&self.order)
            .chain(self.strategies.values().map(|s| &s.order))
            .chain(self.instruments.values().map(|i| &i.order));
        for o in levels {
            validate_order(o)?;
        }
        for i in self.instruments.values() {
            if i.tick_size.is_some_and(|t| t <= 0) {
                return Err(CoreError::invalid("tick_size", "must be > 0"));
            }
            if i.lot_size.is_some_and(|t| t <= 0) {
                return Err(CoreError::invalid("lot_size", "must be > 0"));
            }
        }
        let a = &self.account;
        for (field, v) in [
            ("max_concentration", a.max_concentration),
            ("max_drawdown", a.max_drawdown),
        ] {
            if v.is_some_and(|r| r <= 0) {
                return Err(CoreError::invalid(field, "must be > 0"));
            }
        }
        for (field, v) in [
            ("max_gross_exposure", a.max_gross_exposure),
            ("max_net_exposure", a.max_net_exposure),
            ("max_daily_loss", a.max_daily_loss),
            ("min_cash_balance", a.min_cash_balance),
        ] {
            if v.is_some_and(|r| r < 0) {
                return Err(CoreError::invalid(field, "must be >= 0"));
            }
        }
        for s in [self.on_daily_loss, self.on_drawdown, self.on_strategy_loss] {
            if s == TradingState::Active {
                return Err(CoreError::invalid(
                    "state",
                    "a breached loss limit must move to reducing or halted",
                ));
            }
        }
        if let Some(h) = &self.session.trading_hours {
            h.validate()?;
        }
        Ok(())
    }
}

fn validate_order(o: &OrderLimits) -> CoreResult<()> {
    for (field, v) in [
        ("max_quantity", o.max_quantity),
        ("min_quantity", o.min_quantity),
        ("max_position_quantity", o.max_position_quantity),
        ("price_collar", o.price_collar),
    ] {
        if v.is_some_and(|x| x < 0) {
            return Err(CoreError::invalid(field, "must be >= 0"));
        }
    }
    for (field, v) in [
        ("max_notional", o.max_notional),
        ("min_notional", o.min_notional),
        ("max_position_notional", o.max_position_notional),
    ] {
        if v.is_some_and(|x| x < 0) {
            return Err(CoreError::invalid(field, "must be >= 0"));
        }
    }
    if let (Some(lo), Some(hi)) = (o.min_quantity, o.max_quantity) {
        if lo > hi {
            return Err(CoreError::invalid("min_quantity", "exceeds max_quantity"));
        }
    }
    if let (Some(lo), Some(hi)) = (o.min_notional, o.max_notional) {
        if lo > hi {
            return Err(CoreError::invalid("min_notional", "exceeds max_notional"));
        }
    }
    Ok(())
}

impl Default for RiskConfig {
    fn default() -> Self {
        Self::default_profile()
    }
}
