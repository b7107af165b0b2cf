//! Rounding modes for exact values, named as in Python's `decimal` module.

use std::fmt;

/// How to round a value that falls between two representable ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RoundingMode {
    /// To nearest; ties to the even neighbour (banker's rounding). The default.
    #[default]
    HalfEven,
    /// To nearest; ties away from zero (`decimal.ROUND_HALF_UP`).
    HalfUp,
    /// To nearest; ties toward zero (`decimal.ROUND_HALF_DOWN`).
    HalfDown,
    /// Toward negative infinity.
    Floor,
    /// Toward positive infinity.
    Ceiling,
    /// Toward zero (truncate).
    Down,
    /// Away from zero.
    Up,
}

impl RoundingMode {
    /// Every mode, in declaration order.
    pub const ALL: [Self; 7] = [
        Self::HalfEven,
        Self::HalfUp,
        Self::HalfDown,
        Self::Floor,
        Self::Ceiling,
        Self::Down,
        Self::Up,
    ];

    /// The name of the matching `decimal` module constant (`ROUND_HALF_EVEN`, ...).
    #[must_use]
    pub const fn decimal_name(self) -> &'static str {
        match self {
            Self::HalfEven => "ROUND_HALF_EVEN",
            Self::HalfUp => "ROUND_HALF_UP",
            Self::HalfDown => "ROUND_HALF_DOWN",
            Self::Floor => "ROUND_FLOOR",
            Self::Ceiling => "ROUND_CEILING",
            Self::Down => "ROUND_DOWN",
            Self::Up => "ROUND_UP",
        }
    }
}

impl fmt::Display for RoundingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.decimal_name())
    }
}

/// `n / d` rounded by `mode`, exactly. `d` must be positive.
#[must_use]
pub fn div_round(n: i128, d: i128, mode: RoundingMode) -> i128 {
    debug_assert!(d > 0, "divisor must be positive");
    let q = n.div_euclid(d); // floor
    let r = n.rem_euclid(d); // 0 <= r < d
    if r == 0 {
        return q;
    }
    let twice = 2 * r;
    let nearest = |tie: i128| match twice.cmp(&d) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => tie,
    };
    match mode {
        RoundingMode::Floor => q,
        RoundingMode::Ceiling => q + 1,
        RoundingMode::Down => {
            if n >= 0 {
                q
            } else {
                q + 1
            }
        }
        RoundingMode::Up => {
            if n >= 0 {
                q + 1
            } else {
                q
            }
        }
        RoundingMode::HalfEven => nearest(if q % 2 == 0 { q } else { q + 1 }),
        RoundingMode::HalfUp => nearest(if n >= 0 { q + 1 } else { q }),
        RoundingMode::HalfDown => nearest(if n >= 0 { q } else { q + 1 }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RoundingMode::*;

    #[test]
    fn matches_the_decimal_table() {
        // value*10, then expected result for each mode (HalfEven, HalfUp, HalfDown,
        // Floor, Ceiling, Down, Up), as in Python's decimal documentation.
        let table: [(i128, [i128; 7]); 8] = [
            (25, [2, 3, 2, 2, 3, 2, 3]),
            (15, [2, 2, 1, 1, 2, 1, 2]),
            (11, [1, 1, 1, 1, 2, 1, 2]),
            (10, [1, 1, 1, 1, 1, 1, 1]),
            (-11, [-1, -1, -1, -2, -1, -1, -2]),
            (-15, [-2, -2, -1, -2, -1, -1, -2]),
            (-25, [-2, -3, -2, -3, -2, -2, -3]),
            (-19, [-2, -2, -2, -2, -1, -1, -2]),
        ];
        for (n, expected) in table {
            for (mode, want) in RoundingMode::ALL.iter().zip(expected) {
                assert_eq!(div_round(n, 10, *mode), want, "{n}/10 {mode}");
            }
        }
        assert_eq!(div_round(7, 7, HalfEven), 1);
    }
}
