//! Properties of the exact value types against independent references (i128 arithmetic,
//! truncating-division rounding).

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use pi5trading_core::types::{
    div_round, format_fixed, parse_fixed, Currency, Money, Price, Quantity, RoundingMode,
};
use pi5trading_core::CoreError;
use proptest::prelude::*;

fn mode() -> impl Strategy<Value = RoundingMode> {
    prop::sample::select(RoundingMode::ALL.to_vec())
}

/// `(n, d)` with the remainder of `n / d` biased to the interesting cases: 0, exactly
/// half, just below/above half, 1 and d - 1 (random values almost never tie).
fn dividend_divisor() -> impl Strategy<Value = (i128, i128)> {
    (
        -1_000_000_000_000_i64..1_000_000_000_000,
        1_i64..=1_000_000,
        0_u8..7,
        any::<i64>(),
    )
        .prop_map(|(q, d, kind, noise)| {
            let d = i128::from(d) * 2; // even, so exact halves exist
            let r = match kind {
                0 => 0,
                1 => d / 2,
                2 => d / 2 - 1,
                3 => d / 2 + 1,
                4 => 1,
                5 => d - 1,
                _ => i128::from(noise).rem_euclid(d),
            };
            (i128::from(q) * d + r, d)
        })
}

fn precision() -> impl Strategy<Value = u8> {
    0_u8..=9
}

/// A value with no digits beyond `precision`.
fn price() -> impl Strategy<Value = Price> {
    (precision(), any::<i64>()).prop_map(|(p, r)| {
        let unit = 10_i64.pow(u32::from(9 - p));
        let raw = (r / unit) * unit;
        Price::from_raw(raw, p).unwrap()
    })
}

/// Reference rounding: truncating division, then a fix-up decided from the remainder.
fn reference_round(n: i128, d: i128, mode: RoundingMode) -> i128 {
    let q = n / d; // toward zero
    let r = n % d; // sign of n
    if r == 0 {
        return q;
    }
    let away = if n < 0 { q - 1 } else { q + 1 };
    let twice = 2 * r.abs();
    let half = twice.cmp(&d);
    use std::cmp::Ordering::*;
    match mode {
        RoundingMode::Down => q,
        RoundingMode::Up => away,
        RoundingMode::Floor => {
            if n < 0 {
                away
            } else {
                q
            }
        }
        RoundingMode::Ceiling => {
            if n > 0 {
                away
            } else {
                q
            }
        }
        RoundingMode::HalfUp => match half {
            Less => q,
            _ => away,
        },
        RoundingMode::HalfDown => match half {
            Greater => away,
            _ => q,
        },
        RoundingMode::HalfEven => match half {
            Less => q,
            Greater => away,
            Equal => {
                if q % 2 == 0 {
                    q
                } else {
                    away
                }
            }
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn add_sub_match_i128_and_overflow_is_an_error(a in price(), b in price()) {
        let exact = i128::from(a.raw()) + i128::from(b.raw());
        match a.checked_add(b) {
            Ok(s) => {
                prop_assert_eq!(i128::from(s.raw()), exact);
                prop_assert_eq!(s.precision(), a.precision().max(b.precision()));
            }
            Err(e) => {
                prop_assert!(i64::try_from(exact).is_err());
                let is_overflow = matches!(e, CoreError::Overflow { .. });
                prop_assert!(is_overflow, "{:?}", e);
            }
        }
        let exact = i128::from(a.raw()) - i128::from(b.raw());
        match a.checked_sub(b) {
            Ok(s) => prop_assert_eq!(i128::from(s.raw()), exact),
            Err(_) => prop_assert!(i64::try_from(exact).is_err()),
        }
    }

    #[test]
    fn div_round_matches_reference(n in any::<i64>(), d in 1_i64..=1_000_000_000_000, m in mode()) {
        let (n, d) = (i128::from(n), i128::from(d));
        prop_assert_eq!(div_round(n, d, m), reference_round(n, d, m));
    }

    #[test]
    fn div_round_matches_reference_on_ties((n, d) in dividend_divisor(), m in mode()) {
        prop_assert_eq!(div_round(n, d, m), reference_round(n, d, m));
        prop_assert_eq!(div_round(-n, d, m), reference_round(-n, d, m));
    }

    #[test]
    fn rounding_ties_to_tick(q in -1_000_000_i64..1_000_000, tick in 1_i64..=100_000, m in mode()) {
        // x = (q + 1/2) ticks: every tie-breaking rule is exercised.
        let tick = Price::from_raw(tick * 2, 9).unwrap();
        let x = Price::from_raw(q * tick.raw() + tick.raw() / 2, 9).unwrap();
        let r = x.round_to_increment(tick, m).unwrap();
        let want = reference_round(i128::from(x.raw()), i128::from(tick.raw()), m)
            * i128::from(tick.raw());
        prop_assert_eq!(i128::from(r.raw()), want);
    }

    #[test]
    fn product_is_exact_then_rounded_once(
        p in -1_000_000_000_000_000_i64..1_000_000_000_000_000,
        q in -1_000_000_000_000_i64..1_000_000_000_000,
        prec in precision(),
        m in mode(),
    ) {
        let price = Price::from_raw(p, 9).unwrap();
        let qty = Quantity::from_raw(q, 9).unwrap();
        let usd = Currency::new("USD").unwrap();
        let exact = i128::from(p) * i128::from(q); // units of 10^-18
        let step = 10_i128.pow(u32::from(18 - prec));
        let want = reference_round(exact, step, m) * 10_i128.pow(u32::from(9 - prec));
        match Money::from_product(price, qty, usd, prec, m) {
            Ok(money) => prop_assert_eq!(i128::from(money.raw()), want),
            Err(e) => {
                prop_assert!(i64::try_from(want).is_err());
                let is_overflow = matches!(e, CoreError::Overflow { .. });
                prop_assert!(is_overflow);
            }
        }
    }

    #[test]
    fn round_to_increment_is_a_nearby_multiple(x in price(), inc in 1_i64..=10_000_000_000, m in mode()) {
        let inc = Price::from_raw(inc, 9).unwrap();
        let Ok(r) = x.round_to_increment(inc, m) else {
            // only possible at the very ends of the range
            prop_assert!(x.raw().unsigned_abs() > (i64::MAX as u64) - inc.raw() as u64);
            return Ok(());
        };
        prop_assert!(r.is_multiple_of(inc));
        let diff = i128::from(r.raw()) - i128::from(x.raw());
        prop_assert!(diff.abs() < i128::from(inc.raw()));
        let want = reference_round(i128::from(x.raw()), i128::from(inc.raw()), m) * i128::from(inc.raw());
        prop_assert_eq!(i128::from(r.raw()), want);
        match m {
            RoundingMode::Floor => prop_assert!(r <= x),
            RoundingMode::Ceiling => prop_assert!(r >= x),
            RoundingMode::HalfEven | RoundingMode::HalfUp | RoundingMode::HalfDown => {
                prop_assert!(2 * diff.abs() <= i128::from(inc.raw()));
            }
            _ => {}
        }
    }

    #[test]
    fn text_round_trips_exactly(x in price()) {
        let s = x.to_string();
        let back: Price = s.parse().unwrap();
        prop_assert_eq!(back.raw(), x.raw());
        prop_assert_eq!(back.precision(), x.precision());
        // Nine places always round-trip.
        prop_assert_eq!(parse_fixed("p", &format_fixed(x.raw(), 9)).unwrap().0, x.raw());
    }

    #[test]
    fn decimal_text_parses_to_its_value(int in -9_000_000_000_i64..9_000_000_000, frac in 0_u32..1_000_000_000, places in 1_usize..=9) {
        let digits = format!("{frac:09}");
        let frac_text = &digits[..places];
        let text = format!("{}{}.{}", if int < 0 { "-" } else { "" }, int.unsigned_abs(), frac_text);
        let (raw, p) = parse_fixed("p", &text).unwrap();
        let frac_raw: i64 = frac_text.parse::<i64>().unwrap() * 10_i64.pow((9 - places) as u32);
        let magnitude = int.abs() * 1_000_000_000 + frac_raw;
        prop_assert_eq!(raw, if int < 0 { -magnitude } else { magnitude });
        prop_assert_eq!(usize::from(p), places);
        // One more non-zero digit beyond the 9th place is refused.
        let too_long = format!("{text}{}1", "0".repeat(9 - places));
        prop_assert!(parse_fixed("p", &too_long).is_err());
    }

    #[test]
    fn ordering_and_equality_follow_the_value(a in price(), b in price()) {
        prop_assert_eq!(a.cmp(&b), a.raw().cmp(&b.raw()));
        prop_assert_eq!(a == b, a.raw() == b.raw());
    }
}
