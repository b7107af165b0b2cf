//! Exact value types and market data events.
//!
//! Every `Price`, `Quantity` and `Money` is a signed 64-bit integer of units of
//! 10^-`FIXED_PRECISION` plus a declared number of decimal places (its precision, at most
//! `FIXED_PRECISION`). One scale for all values keeps arithmetic between them a plain
//! integer operation; the precision decides rounding (tick/lot) and display.

pub mod fixed;

pub use fixed::{FIXED_PRECISION, FIXED_SCALE};
