//! Why an order was denied (data, not an error), the trading state and the risk events.

use std::fmt;

/// A machine-readable denial reason. The `as_str` spelling is the wire name (API, storage,
/// metrics labels); it never changes once published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DenialCode {
    /// Quantity or price not positive, or the order cannot be valued.
    InvalidOrder,
    /// No limit/trigger price and no last price: the order cannot be valued.
    NoReferencePrice,
    /// The account (or strategy) is HALTED.
    TradingHalted,
    /// The account (or strategy) is REDUCING and the order would not shrink exposure.
    TradingReducing,
    OutsideTradingHours,
    PriceOffTick,
    QuantityOffLot,
    MaxQuantity,
    MinQuantity,
    MaxNotional,
    MinNotional,
    /// Limit price too far from the last price (fat-finger guard).
    PriceCollar,
    MaxPositionQuantity,
    MaxPositionNotional,
    MaxGrossExposure,
    MaxNetExposure,
    MaxOpenPositions,
    MaxConcentration,
    MaxOpenOrders,
    RateLimitSecond,
    RateLimitMinute,
    MaxOrdersPerSession,
    DuplicateOrder,
    InsufficientBuyingPower,
    MinCashBalance,
    /// A sell beyond the position in an account that cannot sell short.
    ShortSellingNotAllowed,
}

impl DenialCode {
    /// Are its limit and actual value counts (orders, positions, requests), not amounts?
    #[must_use]
    pub fn is_count(self) -> bool {
        matches!(
            self,
            Self::MaxOpenPositions
                | Self::MaxOpenOrders
                | Self::RateLimitSecond
                | Self::RateLimitMinute
                | Self::MaxOrdersPerSession
                | Self::DuplicateOrder
        )
    }

    /// Every code, in declaration order (index = `self as usize`).
    pub const ALL: [Self; 26] = [
        Self::InvalidOrder,
        Self::NoReferencePrice,
        Self::TradingHalted,
        Self::TradingReducing,
        Self::OutsideTradingHours,
        Self::PriceOffTick,
        Self::QuantityOffLot,
        Self::MaxQuantity,
        Self::MinQuantity,
        Self::MaxNotional,
        Self::MinNotional,
        Self::PriceCollar,
        Self::MaxPositionQuantity,
        Self::MaxPositionNotional,
        Self::MaxGrossExposure,
        Self::MaxNetExposure,
        Self::MaxOpenPositions,
        Self::MaxConcentration,
        Self::MaxOpenOrders,
        Self::RateLimitSecond,
        Self::RateLimitMinute,
        Self::MaxOrdersPerSession,
        Self::DuplicateOrder,
        Self::InsufficientBuyingPower,
        Self::MinCashBalance,
        Self::ShortSellingNotAllowed,
    ];

    /// The snake_case wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidOrder => "invalid_order",
            Self::NoReferencePrice => "no_reference_price",
            Self::TradingHalted => "trading_halted",
            Self::TradingReducing => "trading_reducing",
            Self::OutsideTradingHours => "outside_trading_hours",
            Self::PriceOffTick => "price_off_tick",
            Self::QuantityOffLot => "quantity_off_lot",
            Self::MaxQuantity => "max_quantity",
            Self::MinQuantity => "min_quantity",
            Self::MaxNotional => "max_notional",
            Self::MinNotional => "min_notional",
            Self::PriceCollar => "price_collar",
            Self::MaxPositionQuantity => "max_position_quantity",
            Self::MaxPositionNotional => "max_position_notional",
            Self::MaxGrossExposure => "max_gross_exposure",
            Self::MaxNetExposure => "max_net_exposure",
            Self::MaxOpenPositions => "max_open_positions",
            Self::MaxConcentration => "max_concentration",
            Self::MaxOpenOrders => "max_open_orders",
            Self::RateLimitSecond => "rate_limit_second",
            Self::RateLimitMinute => "rate_limit_minute",
            Self::MaxOrdersPerSession => "max_orders_per_session",
            Self::DuplicateOrder => "duplicate_order",
            Self::InsufficientBuyingPower => "insufficient_buying_power",
            Self::MinCashBalance => "min_cash_balance",
            Self::ShortSellingNotAllowed => "short_selling_not_allowed",
        }
    }
}

impl fmt::Display for DenialCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which configuration level a limit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LimitScope {
    Account,
    Strategy,
    Instrument,
}

impl LimitScope {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Strategy => "strategy",
            Self::Instrument => "instrument",
        }
    }
}

impl fmt::Display for LimitScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A risk denial: the code, the level of the limit that refused the order, the limit and the
/// value that breached it (raw fixed-point units of 10^-9, or plain counts for counters), and
/// a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub code: DenialCode,
    pub scope: LimitScope,
    pub limit: i128,
    pub actual: i128,
    pub message: String,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// The account's (or a strategy's) trading state. Ordered by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum TradingState {
    /// Every check applies; orders pass if they satisfy the limits.
    #[default]
    Active,
    /// Only orders that shrink an existing position (without flipping it) pass.
    Reducing,
    /// Nothing passes.
    Halted,
}

impl TradingState {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Reducing => "reducing",
            Self::Halted => "halted",
        }
    }

    /// Parses the wire name.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Self::Active),
            "reducing" => Some(Self::Reducing),
            "halted" => Some(Self::Halted),
            _ => None,
        }
    }
}

impl fmt::Display for TradingState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the trading state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateCause {
    /// Realised + unrealised P&L since the session start fell below −limit.
    DailyLoss,
    /// Equity fell more than the limit below its peak.
    Drawdown,
    /// A strategy's P&L since the session start fell below −its limit.
    StrategyLoss,
    /// An operator command.
    Admin,
    /// A new risk session cleared a daily-loss state.
    NewSession,
}

impl StateCause {
    /// From its wire name (`as_str`).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "daily_loss" => Self::DailyLoss,
            "drawdown" => Self::Drawdown,
            "strategy_loss" => Self::StrategyLoss,
            "admin" => Self::Admin,
            "new_session" => Self::NewSession,
            _ => return None,
        })
    }

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DailyLoss => "daily_loss",
            Self::Drawdown => "drawdown",
            Self::StrategyLoss => "strategy_loss",
            Self::Admin => "admin",
            Self::NewSession => "new_session",
        }
    }
}

impl fmt::Display for StateCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something the risk engine reports for alerts and the audit log. Commands in a state
/// change are for the engine to execute (risk never touches orders itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RiskEvent {
    StateChanged {
        /// `None` for the account, `Some(strategy_id)` for one strategy.
        strategy_id: Option<String>,
        from: TradingState,
        to: TradingState,
        cause: StateCause,
        message: String,
        /// Cancel every open order (of the strategy, if scoped).
        cancel_open_orders: bool,
        /// Close every position (of the strategy, if scoped) at market.
        flatten_positions: bool,
        ts: u64,
    },
    /// A new risk day began: daily loss baselines and per-day counters were reset.
    SessionStarted {
        /// Local date of the session, `YYYY-MM-DD`.
        date: String,
        ts: u64,
    },
}
