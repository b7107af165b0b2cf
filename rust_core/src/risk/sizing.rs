//! Position sizing: how many units to trade, from equity, price and a method.
//!
//! Integer arithmetic on the shared scale (quantities, prices, ratios raw units of 10^-9,
//! money raw `i128` of 10^-9). Every intermediate division floors, and the result is rounded
//! down to the lot size, so a sized order never risks more than asked. The methods follow
//! the original system's `internal/risk/position_sizing.go` (code semantics, not its doc
//! table); see `docs/risk.md` for the worked example.

use super::config::ONE;
use crate::error::{CoreError, CoreResult};

/// A sizing method. Ratios are raw fractions (`0.01` = `10_000_000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sizing {
    /// Always this quantity.
    FixedQuantity { quantity: i64 },
    /// `notional / price`.
    FixedNotional { notional: i128 },
    /// `equity × fraction / price`.
    PercentOfEquity { fraction: i64 },
    /// Risk a fixed amount between entry and stop: `amount / |price − stop|`.
    FixedRisk { amount: i128, stop_price: i64 },
    /// Risk a fraction of equity between entry and stop:
    /// `equity × risk_fraction / |price − stop|`, capped at `equity × max_fraction / price`.
    FixedFractionalRisk {
        risk_fraction: i64,
        stop_price: i64,
        max_fraction: Option<i64>,
    },
    /// Volatility-scaled: the stop distance is `atr × atr_multiple`:
    /// `equity × risk_fraction / (atr × atr_multiple)`, capped like fixed-fractional.
    VolatilityScaled {
        risk_fraction: i64,
        atr: i64,
        atr_multiple: i64,
        max_fraction: Option<i64>,
    },
    /// Fractional Kelly: `k = W − (1 − W) × avg_loss / avg_win`, times `fraction`, capped at
    /// `max_fraction` of equity; `k <= 0` sizes 0.
    Kelly {
        win_rate: i64,
        avg_win: i64,
        avg_loss: i64,
        fraction: i64,
        max_fraction: i64,
    },
}

impl Sizing {
    /// The wire name of the method.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::FixedQuantity { .. } => "fixed_quantity",
            Self::FixedNotional { .. } => "fixed_notional",
            Self::PercentOfEquity { .. } => "percent_of_equity",
            Self::FixedRisk { .. } => "fixed_risk",
            Self::FixedFractionalRisk { .. } => "fixed_fractional_risk",
            Self::VolatilityScaled { .. } => "volatility_scaled",
            Self::Kelly { .. } => "kelly",
        }
    }
}

const W: i128 = ONE as i128;

/// Raw quantity whose value at `price` is at most `money` (floored).
fn qty_for(money: i128, price: i64) -> i128 {
    (money.max(0) * W) / i128::from(price)
}

fn ratio(field: &'static str, r: i64, allow_above_one: bool) -> CoreResult<i128> {
    if r < 0 || (!allow_above_one && r > ONE) {
        return Err(CoreError::invalid(
            field,
            if allow_above_one {
                "must be >= 0"
            } else {
                "must be between 0 and 1"
            },
        ));
    }
    Ok(i128::from(r))
}

/// The quantity `method` buys or sells at `price` for an account worth `equity`, rounded down
/// to `lot` (> 0). 0 when nothing fits (equity <= 0, a Kelly edge <= 0, less than one lot).
///
/// # Errors
/// `InvalidInput` for a non-positive price or lot, a stop equal to the price, a ratio out of
/// range or a non-positive ATR/average win/loss.
pub fn size(method: &Sizing, equity: i128, price: i64, lot: i64) -> CoreResult<i64> {
    if price <= 0 {
        return Err(CoreError::invalid("price", "must be > 0"));
    }
    if lot <= 0 {
        return Err(CoreError::invalid("lot_size", "must be > 0"));
    }
    let equity = equity.max(0);
    let cap = |max_fraction: Option<i64>| -> CoreResult<i128> {
        match max_fraction {
            None => Ok(i128::MAX),
            Some(f) => Ok(qty_for(
                equity * ratio("max_fraction", f, false)? / W,
                price,
            )),
        }
    };
    let raw: i128 =
        match *method {
            Sizing::FixedQuantity { quantity } => {
                if quantity < 0 {
                    return Err(CoreError::invalid("quantity", "must be >= 0"));
                }
                i128::from(quantity)
            }
            Sizing::FixedNotional { notional } => {
                if notional < 0 {
                    return Err(CoreError::invalid("notional", "must be >= 0"));
                }
                qty_for(notional, price)
            }
            Sizing::PercentOfEquity { fraction } => {
                qty_for(equity * ratio("fraction", fraction, true)? / W, price)
            }
            Sizing::FixedRisk { amount, stop_price } => {
                if amount < 0 {
                    return Err(CoreError::invalid("amount", "must be >= 0"));
                }
                qty_for(amount, stop_distance(price, stop_price)?)
            }
            Sizing::FixedFractionalRisk {
                risk_fraction,
                stop_price,
                max_fraction,
            } => {
                let risk = equity * ratio("risk_fraction", risk_fraction, false)? / W;
                qty_for(risk, stop_distance(price, stop_price)?).min(cap(max_fraction)?)
            }
            Sizing::VolatilityScaled {
                risk_fraction,
                atr,
                atr_multiple,
                max_fraction,
            } => {
                if atr <= 0 {
                    return Err(CoreError::invalid("atr", "must be > 0"));
                }
                if atr_multiple <= 0 {
                    return Err(CoreError::invalid("atr_multiple", "must be > 0"));
                }
                let distance = i64::try_from(i128::from(atr) * i128::from(atr_multiple) / W)
                    .map_err(|_| CoreError::Overflow {
                        operation: "sizing::atr",
                    })?;
                if distance <= 0 {
                    return Err(CoreError::invalid("atr", "atr × atr_multiple rounds to 0"));
                }
                let risk = equity * ratio("risk_fraction", risk_fraction, false)? / W;
                qty_for(risk, distance).min(cap(max_fraction)?)
            }
            Sizing::Kelly {
                win_rate,
                avg_win,
                avg_loss,
                fraction,
                max_fraction,
            } => {
                if avg_win <= 0 || avg_loss <= 0 {
                    return Err(CoreError::invalid(
                        "avg_win",
                        "average win and loss must be > 0",
                    ));
                }
                let w = ratio("win_rate", win_rate, false)?;
                let f = ratio("fraction", fraction, false)?;
                let kmax = ratio("max_fraction", max_fraction, false)?;
                let edge = w - (W - w) * i128::from(avg_loss) / i128::from(avg_win);
                let k = (edge * f / W).min(kmax);
                if k <= 0 {
                    0
                } else {
                    qty_for(equity * k / W, price)
                }
            }
        };
    let lot = i128::from(lot);
    let q = (raw / lot) * lot;
    Ok(i64::try_from(q).unwrap_or(i64::MAX / lot as i64 * lot as i64))
}

fn stop_distance(price: i64, stop: i64) -> CoreResult<i64> {
    let d = (i128::from(price) - i128::from(stop)).abs();
    if d == 0 {
        return Err(CoreError::invalid(
            "stop_price",
            "must differ from the entry price",
        ));
    }
    i64::try_from(d).map_err(|_| CoreError::Overflow {
        operation: "sizing::stop_distance",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn r(pct_hundredths: i64) -> i64 {
        // 1 = 0.01 %
        pct_hundredths * (ONE / 10_000)
    }

    fn units(q: i64) -> i64 {
        q * ONE
    }

    const EQUITY: i128 = 100_000 * W;
    const ENTRY: i64 = 475_500_000_000; // 475.50
    const STOP: i64 = 470 * ONE;

    #[test]
    fn original_worked_example_with_code_semantics() {
        // FixedDollarRisk($500): floor(500 / 5.50) = 90 (the original's doc table says 91).
        let m = Sizing::FixedRisk {
            amount: 500 * W,
            stop_price: STOP,
        };
        assert_eq!(size(&m, EQUITY, ENTRY, ONE).unwrap(), units(90));
        // PercentRisk(1 %, cap 20 %): min(floor(1000 / 5.5) = 181, floor(20000 / 475.5) = 42).
        let m = Sizing::FixedFractionalRisk {
            risk_fraction: r(100),
            stop_price: STOP,
            max_fraction: Some(r(2000)),
        };
        assert_eq!(size(&m, EQUITY, ENTRY, ONE).unwrap(), units(42));
        let uncapped = Sizing::FixedFractionalRisk {
            risk_fraction: r(100),
            stop_price: STOP,
            max_fraction: None,
        };
        assert_eq!(size(&uncapped, EQUITY, ENTRY, ONE).unwrap(), units(181));
        // FixedFractional(5 %): floor(5000 / 475.5) = 10.
        let m = Sizing::PercentOfEquity { fraction: r(500) };
        assert_eq!(size(&m, EQUITY, ENTRY, ONE).unwrap(), units(10));
        // VolatilityAdjusted(1 %, ATR 3.5 × 2): floor(1000 / 7) = 142; capped at 20 %: 42.
        let m = Sizing::VolatilityScaled {
            risk_fraction: r(100),
            atr: 3_500_000_000,
            atr_multiple: 2 * ONE,
            max_fraction: None,
        };
        assert_eq!(size(&m, EQUITY, ENTRY, ONE).unwrap(), units(142));
        let m = Sizing::VolatilityScaled {
            risk_fraction: r(100),
            atr: 3_500_000_000,
            atr_multiple: 2 * ONE,
            max_fraction: Some(r(2000)),
        };
        assert_eq!(size(&m, EQUITY, ENTRY, ONE).unwrap(), units(42));
        // Kelly: W 55 %, win/loss 2:1 -> k = 0.55 - 0.45/2 = 0.325; quarter Kelly 0.08125;
        // 8125 / 475.5 = 17.08 -> 17.
        let m = Sizing::Kelly {
            win_rate: r(5500),
            avg_win: 2 * ONE,
            avg_loss: ONE,
            fraction: r(2500),
            max_fraction: r(2000),
        };
        assert_eq!(size(&m, EQUITY, ENTRY, ONE).unwrap(), units(17));
        // Capped: full Kelly 0.325 > 20 % cap -> 20000 / 475.5 = 42.
        let m = Sizing::Kelly {
            win_rate: r(5500),
            avg_win: 2 * ONE,
            avg_loss: ONE,
            fraction: ONE,
            max_fraction: r(2000),
        };
        assert_eq!(size(&m, EQUITY, ENTRY, ONE).unwrap(), units(42));
        // No edge: 0.4 - 0.6 = negative -> 0.
        let m = Sizing::Kelly {
            win_rate: r(4000),
            avg_win: ONE,
            avg_loss: ONE,
            fraction: ONE,
            max_fraction: ONE,
        };
        assert_eq!(size(&m, EQUITY, ENTRY, ONE).unwrap(), 0);
    }

    #[test]
    fn lots_and_errors() {
        let m = Sizing::FixedNotional {
            notional: 10_000 * W,
        };
        // 10000 / 475.5 = 21.03 -> 21; lot 5 -> 20; lot 0.001 -> 21.030
        assert_eq!(size(&m, EQUITY, ENTRY, ONE).unwrap(), units(21));
        assert_eq!(size(&m, EQUITY, ENTRY, units(5)).unwrap(), units(20));
        assert_eq!(size(&m, EQUITY, ENTRY, ONE / 1000).unwrap(), 21_030_000_000);
        assert_eq!(
            size(
                &Sizing::FixedQuantity { quantity: units(7) },
                0,
                ENTRY,
                units(5)
            )
            .unwrap(),
            units(5)
        );
        assert!(size(&m, EQUITY, 0, ONE).is_err());
        assert!(size(&m, EQUITY, ENTRY, 0).is_err());
        let same = Sizing::FixedRisk {
            amount: W,
            stop_price: ENTRY,
        };
        assert!(size(&same, EQUITY, ENTRY, ONE).is_err());
        let bad = Sizing::FixedFractionalRisk {
            risk_fraction: 2 * ONE,
            stop_price: STOP,
            max_fraction: None,
        };
        assert!(size(&bad, EQUITY, ENTRY, ONE).is_err());
        // Negative equity sizes nothing.
        assert_eq!(
            size(
                &Sizing::PercentOfEquity { fraction: ONE },
                -EQUITY,
                ENTRY,
                ONE
            )
            .unwrap(),
            0
        );
    }
}
