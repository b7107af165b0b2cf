//! Exact value types and market data events.
//!
//! Every `Price`, `Quantity` and `Money` is a signed 64-bit integer of units of
//! 10^-`FIXED_PRECISION` plus a declared number of decimal places (its precision, at most
//! `FIXED_PRECISION`). One scale for all values keeps arithmetic between them a plain
//! integer operation; the precision decides rounding (tick/lot) and display.

pub mod data;
pub mod fixed;
pub mod ids;
pub mod instrument;
pub mod money;
pub mod rounding;
pub mod time;
pub mod value;

pub use data::{
    AggressorSide, Bar, BarType, Interval, IntervalUnit, MarketData, QuoteTick, TradeTick,
};
pub use fixed::{format_fixed, parse_fixed, FIXED_PRECISION, FIXED_SCALE};
pub use ids::{
    ClientOrderId, IdHasher, IdIndex, IdMap, ShortStr, StrategyId, Symbol, TradeId, Venue,
};
pub use instrument::{AssetClass, Calendar, Instrument};
pub use money::{Currency, Money};
pub use rounding::{div_round, RoundingMode};
pub use time::UnixNanos;
pub use value::{Price, Quantity};
