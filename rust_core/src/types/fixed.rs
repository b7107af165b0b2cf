//! The fixed-point scale shared by every exact value in the engine.

/// Decimal places of the raw integer representation.
pub const FIXED_PRECISION: u8 = 9;

/// `10^FIXED_PRECISION`: raw units per 1.0.
pub const FIXED_SCALE: i64 = 1_000_000_000;
