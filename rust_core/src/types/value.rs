//! `Price` and `Quantity`: exact fixed-point values with a declared precision.
//!
//! Both are `raw` units of 10^-9 in an `i64` plus the number of decimal places they were
//! declared with. The raw value never has digits beyond the precision, so display is exact,
//! and equality, ordering and hashing look at the value only (`1.5 == 1.50`).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use super::fixed::{self, check_raw, unit_of};
use super::rounding::{div_round, RoundingMode};
use crate::error::{CoreError, CoreResult};

macro_rules! fixed_value {
    ($(#[$meta:meta])* $name:ident, $field:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name {
            raw: i64,
            precision: u8,
        }

        impl $name {
            /// Zero with precision 0.
            pub const ZERO: Self = Self { raw: 0, precision: 0 };

            /// From raw units of 10^-9; `raw` must have no digits beyond `precision`.
            pub fn from_raw(raw: i64, precision: u8) -> CoreResult<Self> {
                check_raw($field, raw, precision)?;
                Ok(Self { raw, precision })
            }

            /// From raw units, declared with `precision` when the value fits it, else with
            /// all nine places: never fails, never rounds (market data finer than the
            /// instrument's precision stays exact).
            #[inline]
            #[must_use]
            pub fn from_raw_or_finer(raw: i64, precision: u8) -> Self {
                let precision = if precision <= fixed::FIXED_PRECISION
                    && raw % unit_of(precision) == 0
                {
                    precision
                } else {
                    fixed::FIXED_PRECISION
                };
                Self { raw, precision }
            }

            /// Parses exact decimal text; `field` names the value in errors.
            pub fn parse(field: &'static str, text: &str) -> CoreResult<Self> {
                let (raw, precision) = fixed::parse_fixed(field, text)?;
                Ok(Self { raw, precision })
            }

            /// Parses decimal text, then requires exactly `precision` places at most
            /// (no silent rounding) and declares the value with `precision`.
            pub fn parse_with_precision(
                field: &'static str,
                text: &str,
                precision: u8,
            ) -> CoreResult<Self> {
                let v = Self::parse(field, text)?;
                fixed::check_precision(field, precision)?;
                if v.raw % unit_of(precision) != 0 {
                    return Err(CoreError::invalid(
                        field,
                        format!("{text} has more than {precision} decimal places"),
                    ));
                }
                Ok(Self { raw: v.raw, precision })
            }

            /// An integer value (precision 0).
            pub fn from_int(field: &'static str, value: i128) -> CoreResult<Self> {
                value
                    .checked_mul(i128::from(fixed::FIXED_SCALE))
                    .and_then(|r| i64::try_from(r).ok())
                    .map(|raw| Self { raw, precision: 0 })
                    .ok_or_else(|| CoreError::invalid(field, format!("{value} is out of range")))
            }

            /// A float, rounded half-even on its exact binary value to `precision` places.
            pub fn from_f64(field: &'static str, value: f64, precision: u8) -> CoreResult<Self> {
                let raw = fixed::from_f64(field, value, precision)?;
                Ok(Self { raw, precision })
            }

            /// The nearest `f64` (for analytics only; never for the ledger).
            #[must_use]
            pub fn as_f64(self) -> f64 {
                fixed::to_f64(self.raw)
            }

            /// Raw units of 10^-9.
            #[inline]
            #[must_use]
            pub const fn raw(self) -> i64 {
                self.raw
            }

            /// Declared decimal places.
            #[inline]
            #[must_use]
            pub const fn precision(self) -> u8 {
                self.precision
            }

            #[inline]
            #[must_use]
            pub const fn is_zero(self) -> bool {
                self.raw == 0
            }

            #[inline]
            #[must_use]
            pub const fn is_negative(self) -> bool {
                self.raw < 0
            }

            #[inline]
            #[must_use]
            pub const fn is_positive(self) -> bool {
                self.raw > 0
            }

            /// Exact sum; the precision is the larger of the two.
            #[inline]
            pub fn checked_add(self, other: Self) -> CoreResult<Self> {
                match self.raw.checked_add(other.raw) {
                    Some(raw) => Ok(Self { raw, precision: self.precision.max(other.precision) }),
                    None => Err(CoreError::Overflow { operation: concat!(stringify!($name), "::add") }),
                }
            }

            /// Exact difference; the precision is the larger of the two.
            #[inline]
            pub fn checked_sub(self, other: Self) -> CoreResult<Self> {
                match self.raw.checked_sub(other.raw) {
                    Some(raw) => Ok(Self { raw, precision: self.precision.max(other.precision) }),
                    None => Err(CoreError::Overflow { operation: concat!(stringify!($name), "::sub") }),
                }
            }

            /// Exact product with an integer.
            pub fn checked_mul_int(self, factor: i64) -> CoreResult<Self> {
                self.raw
                    .checked_mul(factor)
                    .map(|raw| Self { raw, precision: self.precision })
                    .ok_or(CoreError::Overflow { operation: concat!(stringify!($name), "::mul") })
            }

            /// Exact product with a decimal factor given as `(raw, precision)`; the
            /// precision is the sum of both (at most 9). A product that needs more than 9
            /// decimal places is an `InvalidInput` error, never rounded.
            pub fn checked_mul_decimal(self, factor: (i64, u8)) -> CoreResult<Self> {
                let (raw, precision) = fixed::mul_exact(
                    $field,
                    concat!(stringify!($name), "::mul"),
                    (self.raw, self.precision),
                    factor,
                )?;
                Ok(Self { raw, precision })
            }

            /// Exact negation.
            pub fn checked_neg(self) -> CoreResult<Self> {
                self.raw
                    .checked_neg()
                    .map(|raw| Self { raw, precision: self.precision })
                    .ok_or(CoreError::Overflow { operation: concat!(stringify!($name), "::neg") })
            }

            /// Exact absolute value.
            pub fn checked_abs(self) -> CoreResult<Self> {
                self.raw
                    .checked_abs()
                    .map(|raw| Self { raw, precision: self.precision })
                    .ok_or(CoreError::Overflow { operation: concat!(stringify!($name), "::abs") })
            }

            /// Rounded to `precision` decimal places by `mode`.
            pub fn round_dp(self, precision: u8, mode: RoundingMode) -> CoreResult<Self> {
                fixed::check_precision("precision", precision)?;
                let unit = unit_of(precision);
                let raw = round_to_step(self.raw, unit, mode)
                    .ok_or(CoreError::Overflow { operation: concat!(stringify!($name), "::round") })?;
                Ok(Self { raw, precision })
            }

            /// Rounded by `mode` to a multiple of `increment` (a tick or lot size, > 0);
            /// the result has the increment's precision.
            pub fn round_to_increment(self, increment: Self, mode: RoundingMode) -> CoreResult<Self> {
                if increment.raw <= 0 {
                    return Err(CoreError::invalid("increment", "must be positive"));
                }
                let raw = round_to_step(self.raw, increment.raw, mode)
                    .ok_or(CoreError::Overflow { operation: concat!(stringify!($name), "::round") })?;
                Ok(Self { raw, precision: increment.precision })
            }

            /// Whether the value is a whole multiple of `increment` (> 0).
            #[must_use]
            pub fn is_multiple_of(self, increment: Self) -> bool {
                increment.raw > 0 && self.raw % increment.raw == 0
            }

            /// The same value declared with `precision` places; fails if digits would be lost.
            pub fn with_precision(self, precision: u8) -> CoreResult<Self> {
                check_raw($field, self.raw, precision)?;
                Ok(Self { raw: self.raw, precision })
            }
        }

        impl PartialEq for $name {
            #[inline]
            fn eq(&self, other: &Self) -> bool {
                self.raw == other.raw
            }
        }
        impl Eq for $name {}

        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.raw.hash(state);
            }
        }

        impl PartialOrd for $name {
            #[inline]
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for $name {
            #[inline]
            fn cmp(&self, other: &Self) -> Ordering {
                self.raw.cmp(&other.raw)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&fixed::format_fixed(self.raw, self.precision))
            }
        }

        impl FromStr for $name {
            type Err = CoreError;
            fn from_str(s: &str) -> CoreResult<Self> {
                Self::parse($field, s)
            }
        }
    };
}

/// `raw` rounded by `mode` to a multiple of `step` (> 0); `None` on overflow.
fn round_to_step(raw: i64, step: i64, mode: RoundingMode) -> Option<i64> {
    let q = div_round(i128::from(raw), i128::from(step), mode);
    i64::try_from(q.checked_mul(i128::from(step))?).ok()
}

fixed_value!(
    /// A price (may be negative: spreads, some futures).
    Price,
    "price"
);

fixed_value!(
    /// A quantity of an instrument (signed, so position deltas fit; event constructors
    /// require sizes >= 0).
    Quantity,
    "quantity"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Price {
        s.parse().unwrap()
    }

    #[test]
    fn arithmetic_is_exact_and_keeps_the_wider_precision() {
        let a = p("0.1");
        let b = p("0.20");
        let c = a.checked_add(b).unwrap();
        assert_eq!(c, p("0.3"));
        assert_eq!(c.to_string(), "0.30");
        assert_eq!(p("1.5"), p("1.50"));
        assert_eq!(a.checked_sub(b).unwrap().to_string(), "-0.10");
        assert_eq!(p("1.25").checked_mul_int(3).unwrap().to_string(), "3.75");
    }

    #[test]
    fn decimal_factors_are_exact_or_refused() {
        let half = (500_000_000, 1);
        assert_eq!(
            p("3.25").checked_mul_decimal(half).unwrap().to_string(),
            "1.625"
        );
        assert_eq!(
            p("2")
                .checked_mul_decimal((1_500_000_000, 1))
                .unwrap()
                .to_string(),
            "3.0"
        );
        assert!(matches!(
            p("0.000000001").checked_mul_decimal(half),
            Err(CoreError::InvalidInput { field: "price", .. })
        ));
        assert!(matches!(
            Price::from_raw(i64::MAX, 9)
                .unwrap()
                .checked_mul_decimal((2 * fixed::FIXED_SCALE, 0)),
            Err(CoreError::Overflow { .. })
        ));
    }

    #[test]
    fn overflow_is_an_error() {
        let max = Price::from_raw(i64::MAX, 9).unwrap();
        let tiny = Price::from_raw(1, 9).unwrap();
        assert!(matches!(
            max.checked_add(tiny),
            Err(CoreError::Overflow { .. })
        ));
        let min = Price::from_raw(i64::MIN, 9).unwrap();
        assert!(min.checked_sub(tiny).is_err());
        assert!(min.checked_neg().is_err());
        assert!(max.checked_mul_int(2).is_err());
    }

    #[test]
    fn rounding_to_tick_and_places() {
        let tick = p("0.05");
        assert_eq!(
            p("1.225")
                .round_to_increment(tick, RoundingMode::HalfEven)
                .unwrap(),
            p("1.2")
        );
        assert_eq!(
            p("1.275")
                .round_to_increment(tick, RoundingMode::HalfEven)
                .unwrap(),
            p("1.3")
        );
        assert_eq!(
            p("1.26")
                .round_to_increment(tick, RoundingMode::Floor)
                .unwrap(),
            p("1.25")
        );
        assert_eq!(
            p("1.26")
                .round_to_increment(tick, RoundingMode::Ceiling)
                .unwrap(),
            p("1.30")
        );
        assert_eq!(
            p("1.26")
                .round_to_increment(tick, RoundingMode::Floor)
                .unwrap()
                .to_string(),
            "1.25"
        );
        assert_eq!(
            p("2.5")
                .round_dp(0, RoundingMode::HalfEven)
                .unwrap()
                .to_string(),
            "2"
        );
        assert_eq!(
            p("2.5")
                .round_dp(0, RoundingMode::HalfUp)
                .unwrap()
                .to_string(),
            "3"
        );
        assert_eq!(
            p("-2.5")
                .round_dp(0, RoundingMode::HalfUp)
                .unwrap()
                .to_string(),
            "-3"
        );
        assert!(p("1.25").is_multiple_of(tick));
        assert!(!p("1.26").is_multiple_of(tick));
        assert!(p("1")
            .round_to_increment(Price::ZERO, RoundingMode::Floor)
            .is_err());
    }

    #[test]
    fn constructors_validate() {
        assert!(Price::from_raw(1, 2).is_err());
        assert!(Price::from_raw(10_000_000, 2).is_ok());
        assert!(Price::from_raw(0, 10).is_err());
        assert_eq!(
            Price::parse_with_precision("p", "1.5", 2)
                .unwrap()
                .to_string(),
            "1.50"
        );
        assert!(Price::parse_with_precision("p", "1.555", 2).is_err());
        assert_eq!(Quantity::from_int("q", 7).unwrap().to_string(), "7");
        assert!(Quantity::from_int("q", i128::from(i64::MAX)).is_err());
        assert_eq!(
            Price::from_f64("p", 0.1 + 0.2, 2).unwrap().to_string(),
            "0.30"
        );
        assert!(Price::from_raw(5, 9).unwrap().with_precision(8).is_err());
    }
}
