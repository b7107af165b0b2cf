//! The fixed-point scale shared by every exact value in the engine, and the exact
//! decimal text conversions built on it.

use crate::error::{CoreError, CoreResult};

/// Decimal places of the raw integer representation.
pub const FIXED_PRECISION: u8 = 9;

/// `10^FIXED_PRECISION`: raw units per 1.0.
pub const FIXED_SCALE: i64 = 1_000_000_000;

/// `POW10[n] == 10^n` for `n` in `0..=18`.
pub(crate) const POW10: [i64; 19] = {
    let mut t = [1_i64; 19];
    let mut i = 1;
    while i < 19 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// Raw units in one step of the last decimal place of `precision` (`10^(9 - precision)`).
#[inline]
pub(crate) const fn unit_of(precision: u8) -> i64 {
    POW10[(FIXED_PRECISION - precision) as usize]
}

/// Checks `precision <= FIXED_PRECISION`.
pub(crate) fn check_precision(field: &'static str, precision: u8) -> CoreResult<()> {
    if precision > FIXED_PRECISION {
        return Err(CoreError::invalid(
            field,
            format!("precision {precision} exceeds the maximum of {FIXED_PRECISION}"),
        ));
    }
    Ok(())
}

/// Checks that `raw` has no digits beyond `precision` decimal places.
pub(crate) fn check_raw(field: &'static str, raw: i64, precision: u8) -> CoreResult<()> {
    check_precision(field, precision)?;
    if raw % unit_of(precision) != 0 {
        return Err(CoreError::invalid(
            field,
            format!("raw value {raw} has more than {precision} decimal places"),
        ));
    }
    Ok(())
}

/// The exact product of two fixed-point values given as `(raw, precision)`: its precision
/// is the sum of theirs (as `Decimal` does), capped at 9. A product with a non-zero digit
/// beyond the 9th place is refused rather than rounded (`field` names it in the error);
/// one outside the `i64` raw range is an overflow of `operation`.
pub(crate) fn mul_exact(
    field: &'static str,
    operation: &'static str,
    a: (i64, u8),
    b: (i64, u8),
) -> CoreResult<(i64, u8)> {
    let exact = i128::from(a.0) * i128::from(b.0); // units of 10^-18
    let scale = i128::from(FIXED_SCALE);
    if exact % scale != 0 {
        return Err(CoreError::invalid(
            field,
            format!(
                "{} × {} has more than {FIXED_PRECISION} decimal places; round explicitly",
                format_fixed(a.0, a.1),
                format_fixed(b.0, b.1)
            ),
        ));
    }
    let raw = i64::try_from(exact / scale).map_err(|_| CoreError::Overflow { operation })?;
    Ok((raw, (a.1 + b.1).min(FIXED_PRECISION)))
}

/// Parses decimal text exactly into `(raw, precision)`.
///
/// Accepts what Python's `Decimal` prints: an optional sign, digits with an optional
/// point, and an optional exponent (`1.5`, `-0.25`, `1E+3`, `1.50e-2`); surrounding
/// whitespace is ignored. The precision is the number of decimal places written
/// (`"1.50"` has precision 2), capped at 9 when the extra places are zeros. Values with
/// a non-zero digit beyond the 9th decimal place, or outside the `i64` raw range, are
/// rejected: nothing is rounded silently.
pub fn parse_fixed(field: &'static str, text: &str) -> CoreResult<(i64, u8)> {
    let bad = |why: &str| CoreError::invalid(field, format!("{why}: {text:?}"));
    let s = text.trim();
    let (negative, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, ""),
    };
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(bad("not a decimal number"));
    }
    if !all_digits(int_part) || !all_digits(frac_part) {
        return Err(bad("not a decimal number"));
    }
    let mut exp: i64 = 0;
    if let Some(e) = exponent {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        if digits.is_empty() || !all_digits(digits) || digits.len() > 6 {
            return Err(bad("not a decimal number"));
        }
        let mut v: i64 = 0;
        for b in digits.bytes() {
            v = v * 10 + i64::from(b - b'0');
        }
        exp = if e.starts_with('-') { -v } else { v };
    }
    // value = digits * 10^-scale
    let mut digits: Vec<u8> = int_part.bytes().chain(frac_part.bytes()).collect();
    let mut scale = i64::try_from(frac_part.len()).map_err(|_| bad("too long"))? - exp;
    let first_nonzero = digits.iter().position(|&d| d != b'0');
    let Some(first) = first_nonzero else {
        // Zero: keep the written precision, capped.
        let precision = scale.clamp(0, i64::from(FIXED_PRECISION)) as u8;
        return Ok((0, precision));
    };
    digits.drain(..first);
    while scale > i64::from(FIXED_PRECISION) && digits.last() == Some(&b'0') {
        digits.pop();
        scale -= 1;
    }
    if scale > i64::from(FIXED_PRECISION) {
        return Err(bad(&format!("more than {FIXED_PRECISION} decimal places")));
    }
    // Significant digits of an i64 raw value: at most 19, plus the ones we shift in.
    if i64::try_from(digits.len()).unwrap_or(i64::MAX) + (i64::from(FIXED_PRECISION) - scale) > 19 {
        return Err(bad("out of range"));
    }
    let mut v: i128 = 0;
    for d in &digits {
        v = v * 10 + i128::from(d - b'0');
    }
    let shift = i64::from(FIXED_PRECISION) - scale; // 0..=19 here
    for _ in 0..shift {
        v *= 10;
    }
    if negative {
        v = -v;
    }
    let raw = i64::try_from(v).map_err(|_| bad("out of range"))?;
    let precision = scale.max(0) as u8;
    Ok((raw, precision))
}

/// Formats `raw` with exactly `precision` decimal places (digits beyond it are cut; the
/// value types never hold any).
#[must_use]
pub fn format_fixed(raw: i64, precision: u8) -> String {
    let precision = precision.min(FIXED_PRECISION);
    let abs = raw.unsigned_abs();
    let scale = FIXED_SCALE.unsigned_abs();
    let int = abs / scale;
    let sign = if raw < 0 { "-" } else { "" };
    if precision == 0 {
        return format!("{sign}{int}");
    }
    let frac = (abs % scale) / unit_of(precision).unsigned_abs();
    format!("{sign}{int}.{frac:0width$}", width = precision as usize)
}

/// The exact decimal digits of a finite float rounded (half-even on its exact binary
/// value) to `precision` places, parsed into `(raw, precision)`.
pub(crate) fn from_f64(field: &'static str, value: f64, precision: u8) -> CoreResult<i64> {
    check_precision(field, precision)?;
    if !value.is_finite() {
        return Err(CoreError::invalid(field, format!("{value} is not finite")));
    }
    let text = format!("{value:.prec$}", prec = precision as usize);
    parse_fixed(field, &text).map(|(raw, _)| raw)
}

/// The nearest `f64` to `raw` units of 10^-9 (correctly rounded).
#[must_use]
pub(crate) fn to_f64(raw: i64) -> f64 {
    const EXACT: i64 = 1 << 53;
    if raw.abs() < EXACT {
        // Both operands are exact; IEEE division rounds once.
        raw as f64 / FIXED_SCALE as f64
    } else {
        format_fixed(raw, FIXED_PRECISION)
            .parse()
            .unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_exponent_forms() {
        assert_eq!(parse_fixed("p", "1.50").unwrap(), (1_500_000_000, 2));
        assert_eq!(parse_fixed("p", "-0.25").unwrap(), (-250_000_000, 2));
        assert_eq!(parse_fixed("p", "1E+3").unwrap(), (1_000_000_000_000, 0));
        assert_eq!(parse_fixed("p", "1.5e-2").unwrap(), (15_000_000, 3));
        assert_eq!(parse_fixed("p", " 7 ").unwrap(), (7_000_000_000, 0));
        assert_eq!(parse_fixed("p", ".5").unwrap(), (500_000_000, 1));
        assert_eq!(parse_fixed("p", "5.").unwrap(), (5_000_000_000, 0));
        assert_eq!(parse_fixed("p", "0E-12").unwrap(), (0, 9));
        assert_eq!(
            parse_fixed("p", "1.0000000000000").unwrap(),
            (FIXED_SCALE, 9)
        );
        assert_eq!(parse_fixed("p", "0.000000001").unwrap(), (1, 9));
    }

    #[test]
    fn rejects_excess_precision_range_and_garbage() {
        for bad in [
            "0.0000000001",
            "1e-10",
            "NaN",
            "Infinity",
            "",
            "-",
            "1.2.3",
            "1e",
            "abc",
            "1_000",
            "9223372037",
            "1e20",
        ] {
            let err = parse_fixed("price", bad).unwrap_err();
            assert!(err.to_string().starts_with("invalid price"), "{bad}: {err}");
        }
        // The largest representable magnitude round-trips.
        let max = format_fixed(i64::MAX, 9);
        assert_eq!(parse_fixed("p", &max).unwrap().0, i64::MAX);
        let min = format_fixed(i64::MIN, 9);
        assert_eq!(parse_fixed("p", &min).unwrap().0, i64::MIN);
    }

    #[test]
    fn exact_products_keep_every_digit_or_refuse() {
        let v = |t: &str| parse_fixed("v", t).unwrap();
        assert_eq!(mul_exact("v", "mul", v("2"), v("1.5")), Ok(v("3.0")));
        assert_eq!(mul_exact("v", "mul", v("2"), v("1.5")).unwrap().1, 1);
        assert_eq!(
            mul_exact("v", "mul", v("-1.25"), v("0.2")),
            Ok((-250_000_000, 3))
        );
        // Ten places written, nine significant: capped at 9.
        assert_eq!(
            mul_exact("v", "mul", v("0.12345"), v("2.00000")),
            Ok((246_900_000, 9))
        );
        let err = mul_exact("v", "mul", v("0.00001"), v("0.00002")).unwrap_err();
        assert!(err.to_string().contains("round explicitly"), "{err}");
        assert_eq!(
            mul_exact("v", "mul", (i64::MAX, 9), v("2")),
            Err(CoreError::Overflow { operation: "mul" })
        );
    }

    #[test]
    fn formats_with_declared_precision() {
        assert_eq!(format_fixed(1_500_000_000, 2), "1.50");
        assert_eq!(format_fixed(-1_500_000_000, 0), "-1");
        assert_eq!(format_fixed(-5, 9), "-0.000000005");
        assert_eq!(format_fixed(i64::MIN, 9), "-9223372036.854775808");
    }

    #[test]
    fn float_conversions() {
        assert_eq!(from_f64("p", 0.1, 9).unwrap(), 100_000_000);
        assert_eq!(from_f64("p", 2.675, 2).unwrap(), 2_670_000_000); // 2.67499999...
        assert!(from_f64("p", f64::NAN, 2).is_err());
        assert!(from_f64("p", 1e30, 2).is_err());
        assert!((to_f64(1_500_000_000) - 1.5).abs() < f64::EPSILON);
    }
}
