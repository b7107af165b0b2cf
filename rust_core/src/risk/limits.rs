//! Limits by name: one table for configuration files, the API and the Python bindings.

use super::config::{FlowLimits, OrderLimits};
use super::engine::{RiskEngine, Scope};
use crate::error::{CoreError, CoreResult};

/// How a limit's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// A quantity or price, raw units of 10^-9.
    Quantity,
    /// Money, raw units of 10^-9.
    Money,
    /// A fraction, raw units of 10^-9 (`0.2` = 20 %).
    Ratio,
    /// A plain count (orders, positions) or nanoseconds.
    Count,
}

/// Which scopes accept a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Levels {
    /// Account, strategy and instrument.
    All,
    /// Account and strategy.
    Flow,
    Account,
    Strategy,
    Instrument,
}

/// `(name, kind, levels)` of every limit.
const TABLE: &[(&str, LimitKind, Levels)] = &[
    ("max_quantity", LimitKind::Quantity, Levels::All),
    ("min_quantity", LimitKind::Quantity, Levels::All),
    ("max_notional", LimitKind::Money, Levels::All),
    ("min_notional", LimitKind::Money, Levels::All),
    ("price_collar", LimitKind::Ratio, Levels::All),
    ("max_position_quantity", LimitKind::Quantity, Levels::All),
    ("max_position_notional", LimitKind::Money, Levels::All),
    ("max_orders_per_second", LimitKind::Count, Levels::Flow),
    ("max_orders_per_minute", LimitKind::Count, Levels::Flow),
    ("max_orders_per_session", LimitKind::Count, Levels::Flow),
    ("max_open_orders", LimitKind::Count, Levels::Flow),
    ("duplicate_window_ns", LimitKind::Count, Levels::Flow),
    ("max_gross_exposure", LimitKind::Money, Levels::Account),
    ("max_net_exposure", LimitKind::Money, Levels::Account),
    ("max_open_positions", LimitKind::Count, Levels::Account),
    ("max_concentration", LimitKind::Ratio, Levels::Account),
    ("max_daily_loss", LimitKind::Money, Levels::Account),
    ("max_drawdown", LimitKind::Ratio, Levels::Account),
    ("min_cash_balance", LimitKind::Money, Levels::Account),
    ("max_loss", LimitKind::Money, Levels::Strategy),
    ("tick_size", LimitKind::Quantity, Levels::Instrument),
    ("lot_size", LimitKind::Quantity, Levels::Instrument),
];

/// Every limit name, in documentation order.
pub fn limit_names() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(n, _, _)| *n)
}

/// How `name` is written, or `None` for an unknown name.
#[must_use]
pub fn limit_kind(name: &str) -> Option<LimitKind> {
    TABLE
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, k, _)| *k)
}

fn lookup(name: &str, scope: Scope<'_>) -> CoreResult<LimitKind> {
    let Some(&(_, kind, levels)) = TABLE.iter().find(|(n, _, _)| *n == name) else {
        return Err(CoreError::invalid(
            "limit",
            format!("unknown limit {name:?} (see docs/risk.md)"),
        ));
    };
    let ok = matches!(
        (levels, scope),
        (Levels::All, _)
            | (Levels::Flow, Scope::Account | Scope::Strategy(_))
            | (Levels::Account, Scope::Account)
            | (Levels::Strategy, Scope::Strategy(_))
            | (Levels::Instrument, Scope::Instrument(_))
    );
    if !ok {
        let at = match scope {
            Scope::Account => "the account",
            Scope::Strategy(_) => "a strategy",
            Scope::Instrument(_) => "an instrument",
        };
        return Err(CoreError::invalid(
            "limit",
            format!("{name} cannot be set for {at}"),
        ));
    }
    Ok(kind)
}

fn to_i64(name: &'static str, v: i128) -> CoreResult<i64> {
    i64::try_from(v).map_err(|_| CoreError::invalid(name, "out of range"))
}

fn to_u32(name: &'static str, v: i128) -> CoreResult<u32> {
    u32::try_from(v).map_err(|_| CoreError::invalid(name, "must be a count >= 0"))
}

fn order_field(l: &mut OrderLimits, name: &str, v: Option<i128>) -> CoreResult<bool> {
    match name {
        "max_quantity" => l.max_quantity = v.map(|x| to_i64("max_quantity", x)).transpose()?,
        "min_quantity" => l.min_quantity = v.map(|x| to_i64("min_quantity", x)).transpose()?,
        "max_notional" => l.max_notional = v,
        "min_notional" => l.min_notional = v,
        "price_collar" => l.price_collar = v.map(|x| to_i64("price_collar", x)).transpose()?,
        "max_position_quantity" => {
            l.max_position_quantity = v.map(|x| to_i64("max_position_quantity", x)).transpose()?;
        }
        "max_position_notional" => l.max_position_notional = v,
        _ => return Ok(false),
    }
    Ok(true)
}

fn order_get(l: &OrderLimits, name: &str) -> Option<Option<i128>> {
    Some(match name {
        "max_quantity" => l.max_quantity.map(i128::from),
        "min_quantity" => l.min_quantity.map(i128::from),
        "max_notional" => l.max_notional,
        "min_notional" => l.min_notional,
        "price_collar" => l.price_collar.map(i128::from),
        "max_position_quantity" => l.max_position_quantity.map(i128::from),
        "max_position_notional" => l.max_position_notional,
        _ => return None,
    })
}

fn flow_field(l: &mut FlowLimits, name: &str, v: Option<i128>) -> CoreResult<bool> {
    let count = |x: i128| to_u32("limit", x);
    match name {
        "max_orders_per_second" => l.max_orders_per_second = v.map(count).transpose()?,
        "max_orders_per_minute" => l.max_orders_per_minute = v.map(count).transpose()?,
        "max_orders_per_session" => l.max_orders_per_session = v.map(count).transpose()?,
        "max_open_orders" => l.max_open_orders = v.map(count).transpose()?,
        "duplicate_window_ns" => {
            l.duplicate_window_ns = v
                .map(|x| {
                    u64::try_from(x)
                        .map_err(|_| CoreError::invalid("duplicate_window_ns", "must be >= 0"))
                })
                .transpose()?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn flow_get(l: &FlowLimits, name: &str) -> Option<Option<i128>> {
    Some(match name {
        "max_orders_per_second" => l.max_orders_per_second.map(i128::from),
        "max_orders_per_minute" => l.max_orders_per_minute.map(i128::from),
        "max_orders_per_session" => l.max_orders_per_session.map(i128::from),
        "max_open_orders" => l.max_open_orders.map(i128::from),
        "duplicate_window_ns" => l.duplicate_window_ns.map(i128::from),
        _ => return None,
    })
}

impl RiskEngine {
    /// Sets (or with `None` clears) the limit `name` at `scope`. Values are raw units of
    /// 10^-9 for quantities, money and ratios, plain integers for counts (see [`limit_kind`]).
    ///
    /// # Errors
    /// `InvalidInput` for an unknown name, a scope that does not take it, a negative value or
    /// a configuration that no longer validates (e.g. min above max); nothing changes then.
    pub fn set_limit(
        &mut self,
        name: &str,
        value: Option<i128>,
        scope: Scope<'_>,
    ) -> CoreResult<()> {
        lookup(name, scope)?;
        if value.is_some_and(|v| v < 0) {
            return Err(CoreError::invalid("limit", format!("{name} must be >= 0")));
        }
        let mut cfg = self.config();
        match scope {
            Scope::Account => {
                let done = order_field(&mut cfg.order, name, value)?
                    || flow_field(&mut cfg.flow, name, value)?;
                if !done {
                    let a = &mut cfg.account;
                    match name {
                        "max_gross_exposure" => a.max_gross_exposure = value,
                        "max_net_exposure" => a.max_net_exposure = value,
                        "max_open_positions" => {
                            a.max_open_positions =
                                value.map(|x| to_u32("max_open_positions", x)).transpose()?;
                        }
                        "max_concentration" => {
                            a.max_concentration =
                                value.map(|x| to_i64("max_concentration", x)).transpose()?;
                        }
                        "max_daily_loss" => a.max_daily_loss = value,
                        "max_drawdown" => {
                            a.max_drawdown =
                                value.map(|x| to_i64("max_drawdown", x)).transpose()?;
                        }
                        "min_cash_balance" => a.min_cash_balance = value,
                        _ => {}
                    }
                }
            }
            Scope::Strategy(id) => {
                let s = cfg.strategies.entry(id.to_owned()).or_default();
                let done = order_field(&mut s.order, name, value)?
                    || flow_field(&mut s.flow, name, value)?;
                if !done && name == "max_loss" {
                    s.max_loss = value;
                }
            }
            Scope::Instrument(id) => {
                let i = cfg.instruments.entry(id.to_owned()).or_default();
                if !order_field(&mut i.order, name, value)? {
                    let v = value.map(|x| to_i64("limit", x)).transpose()?;
                    if v == Some(0) {
                        return Err(CoreError::invalid("limit", format!("{name} must be > 0")));
                    }
                    match name {
                        "tick_size" => i.tick_size = v,
                        "lot_size" => i.lot_size = v,
                        _ => {}
                    }
                }
            }
        }
        cfg.validate()?;
        // Apply the validated change.
        match scope {
            Scope::Account => {
                *self.order_limits_mut() = cfg.order;
                *self.account_limits_mut() = cfg.account;
                self.set_flow_limits(cfg.flow);
            }
            Scope::Strategy(id) => {
                if let Some(s) = cfg.strategies.get(id) {
                    self.set_strategy_limits(id, *s);
                }
            }
            Scope::Instrument(id) => {
                if let Some(i) = cfg.instruments.get(id) {
                    self.set_instrument_limits(id, *i);
                }
            }
        }
        Ok(())
    }

    /// The limit `name` at `scope` (`None`: not set there).
    ///
    /// # Errors
    /// `InvalidInput` for an unknown name or a scope that does not take it.
    pub fn limit(&self, name: &str, scope: Scope<'_>) -> CoreResult<Option<i128>> {
        lookup(name, scope)?;
        let cfg = self.account_config();
        let v = match scope {
            Scope::Account => {
                let a = &cfg.account;
                order_get(&cfg.order, name)
                    .or_else(|| flow_get(&cfg.flow, name))
                    .unwrap_or(match name {
                        "max_gross_exposure" => a.max_gross_exposure,
                        "max_net_exposure" => a.max_net_exposure,
                        "max_open_positions" => a.max_open_positions.map(i128::from),
                        "max_concentration" => a.max_concentration.map(i128::from),
                        "max_daily_loss" => a.max_daily_loss,
                        "max_drawdown" => a.max_drawdown.map(i128::from),
                        "min_cash_balance" => a.min_cash_balance,
                        _ => None,
                    })
            }
            Scope::Strategy(id) => {
                let s = self.strategy_limits(id);
                order_get(&s.order, name)
                    .or_else(|| flow_get(&s.flow, name))
                    .unwrap_or(s.max_loss)
            }
            Scope::Instrument(id) => {
                let i = self.instrument_limits(id);
                order_get(&i.order, name).unwrap_or(match name {
                    "tick_size" => i.tick_size.map(i128::from),
                    "lot_size" => i.lot_size.map(i128::from),
                    _ => None,
                })
            }
        };
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::config::ONE;

    #[test]
    fn set_and_get_by_name_at_each_scope() {
        let mut e = RiskEngine::with_profile("default").unwrap();
        let one = i128::from(ONE);
        assert_eq!(
            e.limit("max_quantity", Scope::Account).unwrap(),
            Some(500 * one)
        );
        e.set_limit("max_quantity", Some(300 * one), Scope::Account)
            .unwrap();
        assert_eq!(e.account_config().order.max_quantity, Some(300 * ONE));
        e.set_limit("max_orders_per_second", Some(2), Scope::Strategy("S1"))
            .unwrap();
        assert_eq!(e.strategy_limits("S1").flow.max_orders_per_second, Some(2));
        e.set_limit("max_loss", Some(1_000 * one), Scope::Strategy("S1"))
            .unwrap();
        assert_eq!(
            e.limit("max_loss", Scope::Strategy("S1")).unwrap(),
            Some(1_000 * one)
        );
        e.set_limit("tick_size", Some(one / 100), Scope::Instrument("AAPL"))
            .unwrap();
        assert_eq!(e.instrument_limits("AAPL").tick_size, Some(ONE / 100));
        e.set_limit("max_daily_loss", None, Scope::Account).unwrap();
        assert_eq!(e.limit("max_daily_loss", Scope::Account).unwrap(), None);
        // Wrong scope, unknown name, negative, inconsistent.
        assert!(e
            .set_limit("max_drawdown", Some(1), Scope::Strategy("S1"))
            .is_err());
        assert!(e.set_limit("max_loss", Some(1), Scope::Account).is_err());
        assert!(e.set_limit("nope", Some(1), Scope::Account).is_err());
        assert!(e
            .set_limit("max_quantity", Some(-1), Scope::Account)
            .is_err());
        assert!(e
            .set_limit("min_quantity", Some(400 * one), Scope::Account)
            .is_err());
        assert_eq!(e.account_config().order.min_quantity, None);
        assert_eq!(limit_kind("max_open_orders"), Some(LimitKind::Count));
        assert_eq!(limit_names().count(), TABLE.len());
    }
}
