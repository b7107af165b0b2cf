//! Fill models: slippage, commission, participation, latency, market-order timing.
//!
//! Rates are raw fixed-point fractions (10^-9 units: `0.0005` is `500_000`); money amounts
//! are raw money units; the defaults model a retail US-equity broker (see `docs/venue.md`).

use crate::portfolio::div_round;
use crate::types::{Currency, FIXED_SCALE};

const SCALE: i128 = FIXED_SCALE as i128;

/// Adverse price movement applied to market-like fills (market, stop-market, market-if-touched,
/// trailing stop) from bars. Limit fills never slip. Results are clamped to the bar's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlippageModel {
    None,
    /// `n` ticks of the instrument.
    FixedTicks(i64),
    /// A fraction of the price (raw rate: 0.0005 = 5 bps = `500_000`), rounded up to a tick.
    Rate(i64),
    /// `base + per_participation × (fill qty / bar volume)`, both raw rates, rounded up to a
    /// tick. With no volume information only `base` applies.
    VolumeShare {
        base: i64,
        per_participation: i64,
    },
}

impl SlippageModel {
    /// The adverse distance (raw price units, >= 0) for a fill of `qty` at `price`.
    #[must_use]
    pub fn distance(self, price: i64, qty: i64, volume: i64, tick: i64) -> i64 {
        let rate = match self {
            Self::None => return 0,
            Self::FixedTicks(n) => return n.saturating_mul(tick).max(0),
            Self::Rate(r) => i128::from(r),
            Self::VolumeShare {
                base,
                per_participation,
            } => {
                let share = if volume > 0 {
                    i128::from(qty) * SCALE / i128::from(volume)
                } else {
                    0
                };
                i128::from(base) + i128::from(per_participation) * share / SCALE
            }
        };
        let raw = i128::from(price) * rate.max(0);
        let tick = i128::from(tick.max(1));
        // ceil(price × rate / SCALE) to a whole tick.
        let d = (raw + SCALE * tick - 1) / (SCALE * tick) * tick;
        i64::try_from(d).unwrap_or(i64::MAX)
    }
}

/// Commission charged per order (not per fill): the total for the order's cumulative fills is
/// `max(minimum, per_order + per_share × qty + rate × notional)`, capped at
/// `max_rate × notional` when `max_rate > 0`, rounded half-even to `precision` decimals.
/// Each fill pays the increase of that total, so a minimum is charged once per order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommissionModel {
    /// Raw money per whole unit of quantity (a share).
    pub per_share: i64,
    /// Raw money per order.
    pub per_order: i64,
    /// Raw rate of the notional.
    pub rate: i64,
    /// Raw money; at least this per order once it fills.
    pub minimum: i64,
    /// Raw rate of the notional; 0 = no cap.
    pub max_rate: i64,
    /// Decimal places commissions are rounded to (2 = cents).
    pub precision: u8,
}

impl CommissionModel {
    /// No commission (e.g. Alpaca's commission-free equities).
    pub const ZERO: Self = Self {
        per_share: 0,
        per_order: 0,
        rate: 0,
        minimum: 0,
        max_rate: 0,
        precision: 2,
    };

    /// Interactive Brokers Pro "Fixed" for US stocks: $0.005/share, min $1.00, max 1 % of
    /// the trade value (exchange and regulatory fees not included).
    pub const IBKR_FIXED: Self = Self {
        per_share: 5_000_000,
        per_order: 0,
        rate: 0,
        minimum: 1_000_000_000,
        max_rate: 10_000_000,
        precision: 2,
    };

    /// Total commission for an order with `qty` filled for `notional` so far (raw money).
    #[must_use]
    pub fn total(&self, qty: i64, notional: i128) -> i128 {
        if qty == 0 {
            return 0;
        }
        let notional = notional.abs();
        let mut c = i128::from(self.per_order)
            + div_round(i128::from(self.per_share) * i128::from(qty), SCALE)
            + div_round(notional * i128::from(self.rate), SCALE);
        c = c.max(i128::from(self.minimum));
        if self.max_rate > 0 {
            c = c.min(div_round(notional * i128::from(self.max_rate), SCALE));
        }
        let places = u32::from(crate::types::FIXED_PRECISION.saturating_sub(self.precision));
        let unit = 10_i128.pow(places);
        div_round(c, unit) * unit
    }
}

/// When a market order submitted between bars fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketFillTiming {
    /// At the next bar's open (the default backtest convention; no look-ahead).
    NextOpen,
    /// Immediately at the last bar's close (optimistic; the price the strategy just saw).
    ThisClose,
}

/// Everything the simulated venue can be configured with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VenueConfig {
    pub slippage: SlippageModel,
    pub commission: CommissionModel,
    /// Share of a bar's (or trade's) volume one side may fill, as a raw rate; `None` = no
    /// limit. A bar with zero volume is treated as "volume unknown": no limit.
    pub participation: Option<i64>,
    /// Nanoseconds from submit to arrival at the venue.
    pub latency_ns: u64,
    pub market_fill: MarketFillTiming,
    /// Minutes after local midnight (America/New_York) at which DAY orders expire.
    pub session_close_minutes: u32,
    /// Refuse buys whose estimated cost exceeds buying power when they arrive.
    pub check_buying_power: bool,
    /// The account's currency: commissions are `Money` in it.
    pub currency: Currency,
}

impl Default for VenueConfig {
    fn default() -> Self {
        Self {
            slippage: SlippageModel::FixedTicks(1),
            commission: CommissionModel::IBKR_FIXED,
            participation: Some(100_000_000), // 10 %
            latency_ns: 0,
            market_fill: MarketFillTiming::NextOpen,
            session_close_minutes: 16 * 60,
            check_buying_power: true,
            currency: Currency::USD,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: i64 = FIXED_SCALE;
    const CENT: i64 = ONE / 100;

    #[test]
    fn ibkr_fixed_commission() {
        let m = CommissionModel::IBKR_FIXED;
        // 100 shares: $0.50 -> minimum $1.00.
        assert_eq!(
            m.total(100 * ONE, i128::from(10_000 * ONE)),
            i128::from(ONE)
        );
        // 1000 shares at $50: $5.00.
        assert_eq!(
            m.total(1000 * ONE, i128::from(50_000 * ONE)),
            i128::from(5 * ONE)
        );
        // 1000 shares at $0.10: capped at 1 % of $100 = $1.00.
        assert_eq!(m.total(1000 * ONE, i128::from(100 * ONE)), i128::from(ONE));
        // 300 shares at $0.20: 1 % of $60 = $0.60 < min $1 -> cap wins: $0.60.
        assert_eq!(
            m.total(300 * ONE, i128::from(60 * ONE)),
            i128::from(60 * CENT)
        );
    }

    #[test]
    fn slippage_distances() {
        assert_eq!(
            SlippageModel::FixedTicks(2).distance(100 * ONE, ONE, 0, CENT),
            2 * CENT
        );
        // 5 bps of $100 = $0.05.
        assert_eq!(
            SlippageModel::Rate(500_000).distance(100 * ONE, ONE, 0, CENT),
            5 * CENT
        );
        // 5 bps of $10.10 = 0.505 cents -> rounded up to 1 cent.
        assert_eq!(
            SlippageModel::Rate(500_000).distance(1010 * CENT, ONE, 0, CENT),
            CENT
        );
        // 10 % of volume, 10 bps per 100 % participation -> 1 bp of $100 = 1 cent.
        let v = SlippageModel::VolumeShare {
            base: 0,
            per_participation: 1_000_000,
        };
        assert_eq!(v.distance(100 * ONE, 10 * ONE, 100 * ONE, CENT), CENT);
    }
}
