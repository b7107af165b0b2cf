//! Orders: types, time in force, flags and the one lifecycle every order follows.
//!
//! Quantities and prices are the exact value types (`Quantity`, `Price`, commissions
//! `Money`), ids are inline `Copy` types (`ClientOrderId`, `StrategyId`, `Symbol`), times
//! `UnixNanos`; the venue's matching reads their raw `i64` units. No PyO3 here:
//! `python/orders.rs` wraps these types.

mod events;
mod lifecycle;
mod order;

pub use events::{Fill, LiquiditySide, ModifiedTerms, OrderEvent, OrderEventKind};
pub use lifecycle::next_status;
pub use order::{Order, TrailingOffset};

use std::fmt;

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderSide {
    Buy,
    Sell,
}

impl OrderSide {
    /// +1 for a buy, -1 for a sell: the sign of the position change.
    #[must_use]
    pub fn sign(self) -> i64 {
        match self {
            Self::Buy => 1,
            Self::Sell => -1,
        }
    }

    /// The lowercase wire name (`"buy"`, `"sell"`), the one spelling used everywhere.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
        }
    }
}

/// What kind of order: how and when it becomes marketable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderType {
    /// Fills at the next available price.
    Market,
    /// Fills at `price` or better.
    Limit,
    /// Becomes a market order when the price reaches `trigger_price` (buy: at or above).
    StopMarket,
    /// Becomes a limit order at `price` when the price reaches `trigger_price`.
    StopLimit,
    /// Becomes a market order when the price reaches `trigger_price` from the favourable
    /// side (buy: at or below) — a "limit that fills like a market".
    MarketIfTouched,
    /// A stop-market whose trigger trails the best price seen by `trailing_offset`.
    TrailingStopMarket,
}

impl OrderType {
    /// The lowercase wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Market => "market",
            Self::Limit => "limit",
            Self::StopMarket => "stop_market",
            Self::StopLimit => "stop_limit",
            Self::MarketIfTouched => "market_if_touched",
            Self::TrailingStopMarket => "trailing_stop_market",
        }
    }
}

/// How long an order stays working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimeInForce {
    /// Good till cancelled.
    Gtc,
    /// Expires at the close of the trading session it was accepted in.
    Day,
    /// Immediate or cancel: fills what it can at the first price it sees, cancels the rest.
    Ioc,
    /// Fill or kill: fills entirely at the first price it sees, or is cancelled unfilled.
    Fok,
    /// Good till date: expires after `expire_time`.
    Gtd,
}

impl TimeInForce {
    /// The lowercase wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gtc => "gtc",
            Self::Day => "day",
            Self::Ioc => "ioc",
            Self::Fok => "fok",
            Self::Gtd => "gtd",
        }
    }
}

/// Where an order is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderStatus {
    Initialized,
    /// Refused by pre-trade risk; never reached the venue. Terminal.
    Denied,
    /// Sent to the venue (in flight, or held as a contingent child).
    Submitted,
    /// Working at the venue.
    Accepted,
    /// Refused by the venue. Terminal.
    Rejected,
    PartiallyFilled,
    /// Terminal.
    Filled,
    /// Terminal (may carry a partial fill).
    Cancelled,
    /// Terminal (may carry a partial fill).
    Expired,
}

impl OrderStatus {
    /// The lowercase wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initialized => "initialized",
            Self::Denied => "denied",
            Self::Submitted => "submitted",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::PartiallyFilled => "partially_filled",
            Self::Filled => "filled",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    /// No further fills or state changes can happen.
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Denied | Self::Rejected | Self::Filled | Self::Cancelled | Self::Expired
        )
    }

    /// Working at the venue: can fill, be modified, cancelled or expire.
    #[must_use]
    pub fn is_open(self) -> bool {
        matches!(self, Self::Accepted | Self::PartiallyFilled)
    }
}

macro_rules! impl_display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}
impl_display_as_str!(OrderSide, OrderType, TimeInForce, OrderStatus);
