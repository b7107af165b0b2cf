//! `Money`: an exact amount in a currency, and `Currency`, a short inline code.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use super::fixed::{self, check_raw, unit_of};
use super::rounding::{div_round, RoundingMode};
use super::value::{Price, Quantity};
use crate::error::{CoreError, CoreResult};

/// Longest currency code we store (`USDT`, `DOGE`, ... fit; ISO codes have 3 letters).
pub const CURRENCY_MAX_LEN: usize = 7;

/// A currency code: 1 to 7 ASCII uppercase letters or digits, stored inline (8 bytes, `Copy`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    len: u8,
    code: [u8; CURRENCY_MAX_LEN],
}

impl Currency {
    /// US dollars: the account currency unless another is configured.
    pub const USD: Self = Self {
        len: 3,
        code: *b"USD\0\0\0\0",
    };

    /// Validates and stores a code; lower case is accepted and upper-cased.
    pub fn new(code: &str) -> CoreResult<Self> {
        let bytes = code.as_bytes();
        if bytes.is_empty() || bytes.len() > CURRENCY_MAX_LEN {
            return Err(CoreError::invalid(
                "currency",
                format!("{code:?} must be 1 to {CURRENCY_MAX_LEN} characters"),
            ));
        }
        let mut out = [0_u8; CURRENCY_MAX_LEN];
        for (o, b) in out.iter_mut().zip(bytes) {
            if !b.is_ascii_alphanumeric() {
                return Err(CoreError::invalid(
                    "currency",
                    format!("{code:?} must be ASCII letters or digits"),
                ));
            }
            *o = b.to_ascii_uppercase();
        }
        Ok(Self {
            len: bytes.len() as u8,
            code: out,
        })
    }

    /// The code, e.g. `"USD"`.
    #[must_use]
    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.code[..self.len as usize]).unwrap_or("")
    }

    /// The conventional number of decimal places for amounts in this currency (minor
    /// units; capped at 9 for crypto): 0 for JPY/KRW, 8 for BTC, 6 for USDT/USDC,
    /// 9 for ETH, 2 otherwise.
    #[must_use]
    pub fn default_precision(&self) -> u8 {
        match self.code() {
            "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "HUF" => 0,
            "BTC" | "XBT" | "LTC" | "BCH" | "DOGE" => 8,
            "USDT" | "USDC" => 6,
            "ETH" | "SOL" => 9,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

/// An exact amount of a currency. Arithmetic between two currencies is an error.
#[derive(Debug, Clone, Copy)]
pub struct Money {
    raw: i64,
    precision: u8,
    currency: Currency,
}

impl Money {
    /// From raw units of 10^-9; `raw` must have no digits beyond `precision`.
    pub fn from_raw(raw: i64, precision: u8, currency: Currency) -> CoreResult<Self> {
        check_raw("money", raw, precision)?;
        Ok(Self {
            raw,
            precision,
            currency,
        })
    }

    /// Parses exact decimal text; the precision is what was written.
    pub fn parse(field: &'static str, text: &str, currency: Currency) -> CoreResult<Self> {
        let (raw, precision) = fixed::parse_fixed(field, text)?;
        Ok(Self {
            raw,
            precision,
            currency,
        })
    }

    /// From raw units, declared with `precision` when the value fits it, else with all nine
    /// places: never fails, never rounds (a commission finer than the currency's minor unit
    /// stays exact).
    #[inline]
    #[must_use]
    pub fn from_raw_or_finer(raw: i64, precision: u8, currency: Currency) -> Self {
        let precision = if precision <= fixed::FIXED_PRECISION && raw % unit_of(precision) == 0 {
            precision
        } else {
            fixed::FIXED_PRECISION
        };
        Self {
            raw,
            precision,
            currency,
        }
    }

    /// Zero in `currency` at its default precision.
    #[must_use]
    pub fn zero(currency: Currency) -> Self {
        Self {
            raw: 0,
            precision: currency.default_precision(),
            currency,
        }
    }

    /// `price * quantity`, computed exactly in `i128` and rounded once by `mode` to
    /// `precision` places (at most 9).
    pub fn from_product(
        price: Price,
        quantity: Quantity,
        currency: Currency,
        precision: u8,
        mode: RoundingMode,
    ) -> CoreResult<Self> {
        fixed::check_precision("precision", precision)?;
        let exact = i128::from(price.raw()) * i128::from(quantity.raw()); // units of 10^-18
        let step = i128::from(unit_of(precision)) * i128::from(fixed::FIXED_SCALE);
        let units = div_round(exact, step, mode);
        let raw = units
            .checked_mul(i128::from(unit_of(precision)))
            .and_then(|r| i64::try_from(r).ok())
            .ok_or(CoreError::Overflow {
                operation: "Money::from_product",
            })?;
        Ok(Self {
            raw,
            precision,
            currency,
        })
    }

    /// `price * quantity` exactly, with the sum of their precisions (at most 9). A product
    /// that needs more than 9 decimal places is an `InvalidInput` error: use
    /// `from_product` to round it.
    pub fn exact_product(price: Price, quantity: Quantity, currency: Currency) -> CoreResult<Self> {
        let (raw, precision) = fixed::mul_exact(
            "money",
            "Money::product",
            (price.raw(), price.precision()),
            (quantity.raw(), quantity.precision()),
        )?;
        Ok(Self {
            raw,
            precision,
            currency,
        })
    }

    /// A float, rounded half-even on its exact binary value to `precision` places.
    pub fn from_f64(value: f64, precision: u8, currency: Currency) -> CoreResult<Self> {
        let raw = fixed::from_f64("money", value, precision)?;
        Ok(Self {
            raw,
            precision,
            currency,
        })
    }

    #[inline]
    #[must_use]
    pub const fn raw(self) -> i64 {
        self.raw
    }

    #[inline]
    #[must_use]
    pub const fn precision(self) -> u8 {
        self.precision
    }

    #[inline]
    #[must_use]
    pub const fn currency(self) -> Currency {
        self.currency
    }

    /// The nearest `f64` (for analytics only).
    #[must_use]
    pub fn as_f64(self) -> f64 {
        fixed::to_f64(self.raw)
    }

    fn same_currency(self, other: Self) -> CoreResult<()> {
        if self.currency != other.currency {
            return Err(CoreError::invalid(
                "currency",
                format!("cannot combine {} with {}", self.currency, other.currency),
            ));
        }
        Ok(())
    }

    /// Exact sum of two amounts of the same currency.
    pub fn checked_add(self, other: Self) -> CoreResult<Self> {
        self.same_currency(other)?;
        let raw = self.raw.checked_add(other.raw).ok_or(CoreError::Overflow {
            operation: "Money::add",
        })?;
        Ok(Self {
            raw,
            precision: self.precision.max(other.precision),
            currency: self.currency,
        })
    }

    /// Exact difference of two amounts of the same currency.
    pub fn checked_sub(self, other: Self) -> CoreResult<Self> {
        self.same_currency(other)?;
        let raw = self.raw.checked_sub(other.raw).ok_or(CoreError::Overflow {
            operation: "Money::sub",
        })?;
        Ok(Self {
            raw,
            precision: self.precision.max(other.precision),
            currency: self.currency,
        })
    }

    /// Exact product with an integer.
    pub fn checked_mul_int(self, factor: i64) -> CoreResult<Self> {
        let raw = self.raw.checked_mul(factor).ok_or(CoreError::Overflow {
            operation: "Money::mul",
        })?;
        Ok(Self { raw, ..self })
    }

    /// Exact product with a decimal factor given as `(raw, precision)` (see
    /// `Price::checked_mul_decimal`).
    pub fn checked_mul_decimal(self, factor: (i64, u8)) -> CoreResult<Self> {
        let (raw, precision) =
            fixed::mul_exact("money", "Money::mul", (self.raw, self.precision), factor)?;
        Ok(Self {
            raw,
            precision,
            currency: self.currency,
        })
    }

    /// Exact absolute value.
    pub fn checked_abs(self) -> CoreResult<Self> {
        let raw = self.raw.checked_abs().ok_or(CoreError::Overflow {
            operation: "Money::abs",
        })?;
        Ok(Self { raw, ..self })
    }

    /// Exact negation.
    pub fn checked_neg(self) -> CoreResult<Self> {
        let raw = self.raw.checked_neg().ok_or(CoreError::Overflow {
            operation: "Money::neg",
        })?;
        Ok(Self { raw, ..self })
    }

    /// Rounded to `precision` decimal places by `mode`.
    pub fn round_dp(self, precision: u8, mode: RoundingMode) -> CoreResult<Self> {
        fixed::check_precision("precision", precision)?;
        let step = i128::from(unit_of(precision));
        let raw =
            i64::try_from(div_round(i128::from(self.raw), step, mode) * step).map_err(|_| {
                CoreError::Overflow {
                    operation: "Money::round",
                }
            })?;
        Ok(Self {
            raw,
            precision,
            currency: self.currency,
        })
    }

    /// Compares two amounts; amounts in different currencies are not comparable.
    pub fn try_cmp(self, other: Self) -> CoreResult<Ordering> {
        self.same_currency(other)?;
        Ok(self.raw.cmp(&other.raw))
    }
}

impl PartialEq for Money {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw && self.currency == other.currency
    }
}
impl Eq for Money {}

impl Hash for Money {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.raw.hash(state);
        self.currency.hash(state);
    }
}

impl PartialOrd for Money {
    /// `None` across currencies.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.try_cmp(*other).ok()
    }
}

impl fmt::Display for Money {
    /// `"1234.50 USD"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            fixed::format_fixed(self.raw, self.precision),
            self.currency
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::new("usd").unwrap()
    }

    #[test]
    fn currency_codes() {
        assert_eq!(usd().code(), "USD");
        assert_eq!(Currency::new("USDT").unwrap().default_precision(), 6);
        assert!(Currency::new("").is_err());
        assert!(Currency::new("TOOLONGX").is_err());
        assert!(Currency::new("U$D").is_err());
        assert_eq!(std::mem::size_of::<Currency>(), 8);
    }

    #[test]
    fn product_is_exact_then_rounded_once() {
        let price: Price = "101.25".parse().unwrap();
        let qty: Quantity = "3.333".parse().unwrap();
        // 337.46625 exactly
        let m = Money::from_product(price, qty, usd(), 2, RoundingMode::HalfEven).unwrap();
        assert_eq!(m.to_string(), "337.47 USD");
        let m = Money::from_product(price, qty, usd(), 9, RoundingMode::HalfEven).unwrap();
        assert_eq!(m.to_string(), "337.466250000 USD");
        let m = Money::from_product(price, qty, usd(), 2, RoundingMode::Floor).unwrap();
        assert_eq!(m.to_string(), "337.46 USD");
        let big = Price::from_raw(i64::MAX / 10 * 10, 8).unwrap();
        assert!(Money::from_product(big, qty, usd(), 2, RoundingMode::HalfEven).is_err());
    }

    #[test]
    fn exact_product_keeps_every_digit() {
        let price: Price = "101.25".parse().unwrap();
        let qty: Quantity = "3.333".parse().unwrap();
        let m = Money::exact_product(price, qty, usd()).unwrap();
        assert_eq!(m.to_string(), "337.46625 USD");
        let rounded = Money::from_product(price, qty, usd(), 9, RoundingMode::HalfEven).unwrap();
        assert_eq!(m, rounded);
        let tiny: Price = "0.00001".parse().unwrap();
        let frac: Quantity = "0.00001".parse().unwrap();
        assert!(matches!(
            Money::exact_product(tiny, frac, usd()),
            Err(CoreError::InvalidInput { field: "money", .. })
        ));
        assert_eq!(
            Money::parse("m", "-2.50", usd())
                .unwrap()
                .checked_abs()
                .unwrap()
                .to_string(),
            "2.50 USD"
        );
        assert_eq!(
            m.checked_mul_decimal((500_000_000, 1)).unwrap().to_string(),
            "168.733125 USD"
        );
    }

    #[test]
    fn currencies_do_not_mix() {
        let a = Money::parse("m", "1.00", usd()).unwrap();
        let b = Money::parse("m", "1.00", Currency::new("EUR").unwrap()).unwrap();
        assert!(a.checked_add(b).is_err());
        assert!(a.partial_cmp(&b).is_none());
        assert_ne!(a, b);
        assert_eq!(a.checked_add(a).unwrap().to_string(), "2.00 USD");
    }
}
