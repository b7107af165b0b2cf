//! Conversions between the fixed-point grid (raw `i64` units of 10^-9) and the outside
//! world, and the one rounding rule the indicators use: round half to even.

use crate::error::{CoreError, CoreResult};
use crate::types::FIXED_SCALE;

/// `FIXED_SCALE` as `f64` (exactly representable).
const SCALE_F64: f64 = FIXED_SCALE as f64;

/// `num / den` rounded to the nearest integer, ties to even. `den` must be positive.
#[inline]
pub fn div_round_half_even(num: i128, den: i128) -> i128 {
    debug_assert!(den > 0, "denominator must be positive");
    // Fast path: most sums fit in 64 bits, where division is a single instruction.
    if let (Ok(n), Ok(d)) = (i64::try_from(num), i64::try_from(den)) {
        if d > 0 {
            return i128::from(div_round_half_even_i64(n, d));
        }
    }
    div_round_half_even_wide(num, den)
}

/// The general form of [`div_round_half_even`]: Euclidean quotient and remainder in `i128`.
fn div_round_half_even_wide(num: i128, den: i128) -> i128 {
    let q = num.div_euclid(den);
    let r = num.rem_euclid(den); // 0 <= r < den
    let to_next = den - r;
    if r < to_next || (r == to_next && q & 1 == 0) {
        q
    } else {
        q + 1
    }
}

/// `num / den` rounded half to even for `den > 0`, from one truncating division: half-even
/// rounding is symmetric, so the magnitude `|q| + |r|/den` is rounded (up when
/// `2|r| > den`, or `2|r| = den` and `q` is odd) and the step taken away from zero.
#[inline]
fn div_round_half_even_i64(num: i64, den: i64) -> i64 {
    debug_assert!(den > 0);
    let (q, r) = (num / den, num % den);
    // |r| < den <= i64::MAX, so 2|r| fits in u64.
    let twice = r.unsigned_abs() * 2;
    let den = den.unsigned_abs();
    if twice > den || (twice == den && q & 1 != 0) {
        if num < 0 {
            q - 1
        } else {
            q + 1
        }
    } else {
        q
    }
}

/// Clamp an exact intermediate to the `i64` raw range (only reachable outside the
/// documented input domain).
#[inline]
pub fn saturate_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

/// A raw fixed-point value as a float in price units: the nearest `f64` to
/// `raw / 10^9` (so equal raws give equal floats, and the float is what Python's
/// `raw / 10**9` gives).
#[inline]
pub fn raw_to_f64(raw: i64) -> f64 {
    const EXACT: i64 = 1 << 53;
    if (-EXACT..=EXACT).contains(&raw) {
        // Both operands exact: one correctly rounded division.
        raw as f64 / SCALE_F64
    } else {
        // Whole units (< 2^34, exact) plus the fraction: the fraction's own rounding error
        // (< 2^-54) is smaller than the distance from any non-midpoint sum to a rounding
        // midpoint (>= 512 / (10^9 · 2^30)), so the sum is still correctly rounded.
        let units = raw / FIXED_SCALE;
        let frac = raw % FIXED_SCALE;
        units as f64 + frac as f64 / SCALE_F64
    }
}

/// An exact raw-unit quantity (e.g. a difference) as a float in price units.
#[inline]
pub fn raw128_to_f64(raw: i128) -> f64 {
    match i64::try_from(raw) {
        Ok(r) => raw_to_f64(r),
        Err(_) => raw as f64 / SCALE_F64,
    }
}

/// The float `x` (in price units) on the 10^-9 grid, rounded half to even from the exact
/// binary value of `x` (no intermediate float rounding). NaN, infinities and values
/// beyond the `i64` raw range are errors.
#[inline]
pub fn raw_from_f64(x: f64) -> CoreResult<i64> {
    match raw_from_f64_fast(x) {
        Some(r) => Ok(r),
        None => raw_from_f64_exact(x),
    }
}

/// The common case of [`raw_from_f64`] (pure float arithmetic, no error value to build):
/// `None` when the exact conversion must decide.
///
/// Prices below 2^43 raw units (~8,796): the product's rounding error is at most
/// ulp/2 <= 2^-11, so unless it lands within 2^-10 of a half-integer it rounds to the same
/// integer as the exact product. Ties and near-ties (and NaN) take the exact path.
#[inline(always)]
pub fn raw_from_f64_fast(x: f64) -> Option<i64> {
    let y = x * SCALE_F64;
    if y.abs() < 8_796_093_022_208.0 {
        let r = round_ties_even_small(y);
        if (y - r).abs() < 0.5 - 1.0 / 1024.0 {
            // `r + MAGIC` (exact) lies in [2^52, 2^53), where a float's bits are its
            // integer value plus a constant: the difference of the bits is `r` as an
            // integer, without the saturating float -> int conversion.
            #[allow(clippy::cast_possible_wrap)]
            return Some((r + MAGIC).to_bits() as i64 - MAGIC.to_bits() as i64);
        }
    }
    None
}

/// `y` rounded to an integer, ties to even, for `|y| < 2^51`: `y.round_ties_even()` without
/// the library call it compiles to on baseline x86-64. Adding 1.5·2^52 moves `y` into
/// [2^52, 2^53), where consecutive floats are exactly 1 apart, so the addition itself rounds
/// `y` to an integer (round to nearest, ties to even — the floating-point mode Rust
/// assumes; 1.5·2^52 is even, so ties go to the even integer of `y` too); subtracting it
/// again is exact. Only the sign of a zero result can differ (`-0.3` gives `+0.0`).
#[inline(always)]
fn round_ties_even_small(y: f64) -> f64 {
    (y + MAGIC) - MAGIC
}

/// 1.5 · 2^52 (see [`round_ties_even_small`]).
const MAGIC: f64 = 6_755_399_441_055_744.0;

/// The exact conversion: decompose the float and scale its mantissa in `i128`.
fn raw_from_f64_exact(x: f64) -> CoreResult<i64> {
    if !x.is_finite() {
        return Err(CoreError::invalid(
            "value",
            format!("{x} is not a finite number"),
        ));
    }
    if x == 0.0 {
        return Ok(0);
    }
    let bits = x.to_bits();
    let negative = bits >> 63 == 1;
    let exp_bits = i32::try_from((bits >> 52) & 0x7ff).unwrap_or(0);
    let frac = bits & ((1u64 << 52) - 1);
    // x = mantissa * 2^exp exactly.
    let (mantissa, exp) = if exp_bits == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), exp_bits - 1075)
    };
    let product = i128::from(mantissa) * i128::from(FIXED_SCALE); // < 2^83
    let magnitude: i128 = if exp >= 0 {
        if exp > 63 {
            return Err(overflow_from_float());
        }
        product
            .checked_mul(1i128 << exp)
            .ok_or_else(overflow_from_float)?
    } else {
        let shift = exp.unsigned_abs();
        if shift >= 100 {
            0 // product < 2^83, so the quotient is below 2^-17: rounds to zero
        } else {
            let q = product >> shift;
            let r = product & ((1i128 << shift) - 1);
            let half = 1i128 << (shift - 1);
            if r > half || (r == half && q & 1 == 1) {
                q + 1
            } else {
                q
            }
        }
    };
    let signed = if negative { -magnitude } else { magnitude };
    i64::try_from(signed).map_err(|_| overflow_from_float())
}

fn overflow_from_float() -> CoreError {
    CoreError::Overflow {
        operation: "conversion of a float to the 10^-9 grid",
    }
}

/// A whole number of price units (e.g. a Python `int` price) as raw units.
pub fn raw_from_units(units: i64) -> CoreResult<i64> {
    units.checked_mul(FIXED_SCALE).ok_or(CoreError::Overflow {
        operation: "conversion of an integer price to the 10^-9 grid",
    })
}

/// A decimal `(-1)^negative * coefficient * 10^exponent` (e.g. a Python `Decimal`'s
/// `as_tuple()`) on the 10^-9 grid, rounded half to even.
pub fn raw_from_decimal(negative: bool, coefficient: u128, exponent: i64) -> CoreResult<i64> {
    let overflow = || CoreError::Overflow {
        operation: "conversion of a decimal to the 10^-9 grid",
    };
    if coefficient == 0 {
        return Ok(0);
    }
    let coefficient = i128::try_from(coefficient).map_err(|_| overflow())?;
    let shift = exponent + i64::from(crate::types::FIXED_PRECISION);
    let magnitude = if shift >= 0 {
        let factor = u32::try_from(shift)
            .ok()
            .and_then(|s| 10i128.checked_pow(s))
            .ok_or_else(overflow)?;
        coefficient.checked_mul(factor).ok_or_else(overflow)?
    } else {
        match u32::try_from(-shift)
            .ok()
            .and_then(|s| 10i128.checked_pow(s))
        {
            Some(divisor) => div_round_half_even(coefficient, divisor),
            // The divisor exceeds i128, so it exceeds twice the coefficient: rounds to 0.
            None => 0,
        }
    };
    let signed = if negative { -magnitude } else { magnitude };
    i64::try_from(signed).map_err(|_| overflow())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_even_division() {
        let cases = [
            (5, 2, 2),
            (7, 2, 4),
            (-5, 2, -2),
            (-7, 2, -4),
            (1, 3, 0),
            (2, 3, 1),
            (-2, 3, -1),
            (0, 7, 0),
            (15, 10, 2),
            (25, 10, 2),
            (-25, 10, -2),
            (26, 10, 3),
        ];
        for (n, d, want) in cases {
            assert_eq!(div_round_half_even(n, d), want, "{n}/{d}");
        }
        let big = i128::from(i64::MAX) * 10 + 5;
        assert_eq!(div_round_half_even(big, 10), i128::from(i64::MAX) + 1);
        let big_odd = i128::from(i64::MAX) * 10 - 5;
        // i64::MAX is odd: the tie goes to i64::MAX - 1 ... + 1 = even neighbour.
        assert_eq!(div_round_half_even(big_odd, 10), i128::from(i64::MAX) - 1);
    }

    #[test]
    fn floats_round_from_their_exact_value() {
        assert_eq!(raw_from_f64(1.0).unwrap(), 1_000_000_000);
        assert_eq!(raw_from_f64(-2.5).unwrap(), -2_500_000_000);
        assert_eq!(raw_from_f64(0.1).unwrap(), 100_000_000);
        assert_eq!(raw_from_f64(123.456_789_012).unwrap(), 123_456_789_012);
        // 2^-31 * 1e9 = 0.4656..: rounds to 0; 2^-30 * 1e9 = 0.93..: rounds to 1.
        assert_eq!(raw_from_f64(2f64.powi(-31)).unwrap(), 0);
        assert_eq!(raw_from_f64(2f64.powi(-30)).unwrap(), 1);
        // Exact ties: 1/1024 = 976_562.5 units (to even: down), 3/1024 = 2_929_687.5 (up).
        assert_eq!(raw_from_f64(1.0 / 1024.0).unwrap(), 976_562);
        assert_eq!(raw_from_f64(3.0 / 1024.0).unwrap(), 2_929_688);
        assert_eq!(raw_from_f64(-3.0 / 1024.0).unwrap(), -2_929_688);
        assert!(raw_from_f64(f64::NAN).is_err());
        assert!(raw_from_f64(f64::INFINITY).is_err());
        assert!(raw_from_f64(9e9).is_ok());
        assert!(raw_from_f64(1e10).is_err());
        assert_eq!(raw_from_f64(f64::MIN_POSITIVE).unwrap(), 0);
        assert_eq!(raw_from_f64(-0.0).unwrap(), 0);
    }

    #[test]
    fn raw_to_float_is_correctly_rounded_beyond_2_pow_53() {
        // Python: 2305843009500000000 / 10**9 == 2305843009.5 exactly.
        assert_eq!(raw_to_f64(2_305_843_009_500_000_000), 2_305_843_009.5);
        assert_eq!(raw_to_f64(-2_305_843_009_500_000_000), -2_305_843_009.5);
        assert_eq!(raw_to_f64(i64::MAX), 9_223_372_036.854_776);
        assert_eq!(raw_to_f64(1_500_000_000), 1.5);
    }

    #[test]
    fn fast_path_agrees_with_the_exact_conversion() {
        let mut s: u64 = 0x1234_5678_9ABC_DEF1;
        for _ in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            // Prices on and off the grid, from 1e-12 to ~1e4, both signs.
            let mant = (s >> 11) as f64 / (1u64 << 53) as f64;
            let exp = (s % 17) as i32 - 12;
            let x = if s & 1 == 0 { mant } else { -mant } * 10f64.powi(exp);
            assert_eq!(raw_from_f64(x).ok(), raw_from_f64_exact(x).ok(), "{x:e}");
            let on_grid = (x * 1e9).round() / 1e9;
            assert_eq!(raw_from_f64(on_grid).ok(), raw_from_f64_exact(on_grid).ok());
        }
    }

    #[test]
    fn narrow_division_edges() {
        let nums = [
            0,
            1,
            -1,
            5,
            -5,
            7,
            -7,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
            i64::MAX - 1,
        ];
        let dens = [1, 2, 3, 10, 30, i64::MAX, i64::MAX - 1];
        for n in nums {
            for d in dens {
                assert_eq!(
                    i128::from(div_round_half_even_i64(n, d)),
                    div_round_half_even_wide(i128::from(n), i128::from(d)),
                    "{n}/{d}"
                );
            }
        }
    }

    #[test]
    fn inline_rounding_edges() {
        let edges = [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            2.5,
            -2.5,
            0.499_999_999_999_999_94,
            4_503_599_627_370_495.5 / 2.0,
            2_251_799_813_685_247.5,
            -2_251_799_813_685_247.5,
            2_251_799_813_685_246.5,
            8_796_093_022_207.5,
            8_796_093_022_206.5,
        ];
        for y in edges {
            assert_eq!(round_ties_even_small(y), y.round_ties_even(), "{y}");
        }
    }

    use proptest::prelude::*;

    proptest! {
        /// The inline rounding equals `round_ties_even` below 2^51: random floats, exact
        /// halves and the neighbours of halves.
        #[test]
        fn inline_rounding_equals_round_ties_even(
            y in prop_oneof![
                -2_251_799_813_685_248.0_f64..2_251_799_813_685_248.0,
                -1e4_f64..1e4,
                any::<i64>().prop_map(|k| (k >> 13) as f64 + 0.5),
                any::<i32>().prop_map(|k| f64::from(k) + 0.5),
            ],
            nudge in -2_i64..=2,
        ) {
            // Neighbouring floats of the drawn value as well (just off a tie).
            let y = f64::from_bits(y.to_bits().wrapping_add_signed(nudge));
            if y.is_finite() && y.abs() < 2_251_799_813_685_248.0 {
                prop_assert_eq!(round_ties_even_small(y), y.round_ties_even());
            }
        }

        /// The 64-bit division (one truncating divide) equals the Euclidean one, ties
        /// included.
        #[test]
        fn narrow_division_equals_the_wide_one(
            n in prop_oneof![any::<i64>(), -10_000_i64..10_000],
            d in prop_oneof![1_i64..=i64::MAX, 1_i64..64, (1_i64..50).prop_map(|k| 2 * k)],
        ) {
            prop_assert_eq!(
                i128::from(div_round_half_even_i64(n, d)),
                div_round_half_even_wide(i128::from(n), i128::from(d))
            );
        }

        /// Whole conversions, fast path against the exact decomposition, prices on the
        /// cent grid and just off it.
        #[test]
        fn fast_conversion_equals_the_exact_one(
            cents in 1_i64..1_000_000_000,
            nudge in -3_i64..=3,
        ) {
            #[allow(clippy::cast_precision_loss)]
            let x = f64::from_bits((cents as f64 / 100.0).to_bits().wrapping_add_signed(nudge));
            prop_assert_eq!(raw_from_f64(x).ok(), raw_from_f64_exact(x).ok());
        }
    }

    #[test]
    fn decimals_round_half_even() {
        assert_eq!(raw_from_decimal(false, 12345, -2).unwrap(), 123_450_000_000);
        assert_eq!(raw_from_decimal(true, 5, -10).unwrap(), 0); // -0.5 units -> 0
        assert_eq!(raw_from_decimal(false, 15, -10).unwrap(), 2); // 1.5 -> 2
        assert_eq!(raw_from_decimal(false, 25, -10).unwrap(), 2); // 2.5 -> 2
        assert_eq!(raw_from_decimal(false, 1, 2).unwrap(), 100_000_000_000);
        assert_eq!(raw_from_decimal(false, 0, 100).unwrap(), 0);
        assert_eq!(raw_from_decimal(false, 7, -60).unwrap(), 0);
        assert!(raw_from_decimal(false, 1, 11).is_err());
        assert_eq!(raw_from_units(3).unwrap(), 3_000_000_000);
        assert!(raw_from_units(i64::MAX).is_err());
    }
}
