//! Crossover of two series, the signal most strategies start from.

/// Tracks the sign of `a - b` and reports when it changes.
///
/// `value()` is `+1` on the update where `a` moved above `b`, `-1` where it moved below,
/// `0` otherwise. Like backtrader's `CrossOver`, an equality in between does not hide a
/// cross: above → equal → below is a cross down on the "below" update (the last non-zero
/// difference is remembered). Comparing the exact averages of `indicators` makes equality
/// exact, so no cross fires on rounding noise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrossOver {
    last_sign: i8,
    value: i8,
}

impl CrossOver {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the current values; `None` (warm-up) leaves the memory untouched.
    #[inline]
    pub fn update(&mut self, a: Option<f64>, b: Option<f64>) {
        self.value = 0;
        let (Some(a), Some(b)) = (a, b) else {
            return;
        };
        let sign: i8 = if a > b {
            1
        } else if a < b {
            -1
        } else {
            0
        };
        if sign != 0 {
            if self.last_sign != 0 && sign != self.last_sign {
                self.value = sign;
            }
            self.last_sign = sign;
        }
    }

    /// `+1` crossed above, `-1` crossed below, `0` no cross on the last update.
    #[inline]
    #[must_use]
    pub fn value(&self) -> i8 {
        self.value
    }

    /// The side `a` is on (`+1` above, `-1` below, `0` not known yet).
    #[inline]
    #[must_use]
    pub fn side(&self) -> i8 {
        self.last_sign
    }

    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pairs: &[(f64, f64)]) -> Vec<i8> {
        let mut c = CrossOver::new();
        pairs
            .iter()
            .map(|&(a, b)| {
                c.update(Some(a), Some(b));
                c.value()
            })
            .collect()
    }

    #[test]
    fn first_defined_side_is_not_a_cross() {
        assert_eq!(run(&[(2.0, 1.0), (3.0, 1.0)]), vec![0, 0]);
    }

    #[test]
    fn crosses_both_ways() {
        assert_eq!(
            run(&[(1.0, 2.0), (3.0, 2.0), (3.0, 2.0), (1.0, 2.0)]),
            vec![0, 1, 0, -1]
        );
    }

    #[test]
    fn equality_in_between_does_not_hide_a_cross() {
        assert_eq!(run(&[(3.0, 2.0), (2.0, 2.0), (1.0, 2.0)]), vec![0, 0, -1]);
        // Touching and going back is not a cross.
        assert_eq!(run(&[(3.0, 2.0), (2.0, 2.0), (3.0, 2.0)]), vec![0, 0, 0]);
    }

    #[test]
    fn warm_up_keeps_memory() {
        let mut c = CrossOver::new();
        c.update(Some(1.0), Some(2.0));
        c.update(None, Some(2.0));
        assert_eq!(c.value(), 0);
        c.update(Some(3.0), Some(2.0));
        assert_eq!(c.value(), 1);
    }
}
