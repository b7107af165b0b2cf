//! Order events: every lifecycle transition is one of these, with a timestamp and a reason.

use super::{OrderSide, OrderStatus};
use crate::types::{ClientOrderId, Money, Price, Quantity, StrategyId, Symbol, UnixNanos};

/// Whether a fill added liquidity (a resting limit) or took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LiquiditySide {
    Maker,
    Taker,
}

impl LiquiditySide {
    /// The lowercase wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Maker => "maker",
            Self::Taker => "taker",
        }
    }
}

/// One execution against an order: an exact quantity and price, and the commission in the
/// account's currency (always >= 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub trade_id: u64,
    pub venue_order_id: u64,
    pub side: OrderSide,
    pub quantity: Quantity,
    pub price: Price,
    pub commission: Money,
    pub liquidity: LiquiditySide,
}

/// What happened to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderEventKind {
    Initialized,
    Denied,
    Submitted,
    Accepted,
    Rejected,
    /// A stop/MIT/trailing trigger was reached (status unchanged).
    Triggered,
    /// A modify request was applied (status unchanged).
    ModifyAccepted,
    /// A modify request was refused (status unchanged).
    ModifyRejected,
    /// A cancel request was refused (status unchanged).
    CancelRejected,
    /// A fill; the order becomes partially filled or filled.
    Filled,
    Cancelled,
    Expired,
}

impl OrderEventKind {
    /// The lowercase wire name (`"filled"`, `"cancel_rejected"`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initialized => "initialized",
            Self::Denied => "denied",
            Self::Submitted => "submitted",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Triggered => "triggered",
            Self::ModifyAccepted => "modify_accepted",
            Self::ModifyRejected => "modify_rejected",
            Self::CancelRejected => "cancel_rejected",
            Self::Filled => "filled",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }
}

/// The terms a `modify_accepted` event put in force. Carried by the event itself: two
/// modifies of one order handled together (one batch, one callback) each keep their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModifiedTerms {
    pub quantity: Quantity,
    pub price: Option<Price>,
    pub trigger_price: Option<Price>,
}

/// One transition of one order. Carries the strategy id, so every fill can be attributed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    pub client_order_id: ClientOrderId,
    pub strategy_id: StrategyId,
    pub instrument: Symbol,
    pub kind: OrderEventKind,
    /// The order's status after this event.
    pub status: OrderStatus,
    pub ts: UnixNanos,
    /// Why (empty when self-explanatory), e.g. `"insufficient cash"`.
    pub reason: String,
    /// Present exactly when `kind == Filled`.
    pub fill: Option<Fill>,
    /// For `denied` and `modify_rejected` by the risk engine: the structured reason
    /// (code, scope, limit, actual). Boxed: most events carry none.
    pub denial: Option<Box<crate::risk::Denial>>,
    /// Present exactly when `kind == ModifyAccepted`: the order's terms from then on.
    pub modified: Option<Box<ModifiedTerms>>,
}
