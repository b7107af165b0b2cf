//! `Instrument`: what is traded, where, and in which increments.

use std::fmt;
use std::str::FromStr;

use super::fixed::unit_of;
use super::ids::{Symbol, Venue};
use super::money::{Currency, Money};
use super::rounding::RoundingMode;
use super::value::{Price, Quantity};
use crate::error::{CoreError, CoreResult};

/// The kind of asset an instrument is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AssetClass {
    Equity,
    Etf,
    Crypto,
    Fx,
    Future,
    Option,
    Index,
    Commodity,
}

impl AssetClass {
    /// Upper-case name, as in configuration and storage (`"EQUITY"`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Equity => "EQUITY",
            Self::Etf => "ETF",
            Self::Crypto => "CRYPTO",
            Self::Fx => "FX",
            Self::Future => "FUTURE",
            Self::Option => "OPTION",
            Self::Index => "INDEX",
            Self::Commodity => "COMMODITY",
        }
    }
}

impl fmt::Display for AssetClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AssetClass {
    type Err = CoreError;
    fn from_str(s: &str) -> CoreResult<Self> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "EQUITY" => Self::Equity,
            "ETF" => Self::Etf,
            "CRYPTO" => Self::Crypto,
            "FX" => Self::Fx,
            "FUTURE" => Self::Future,
            "OPTION" => Self::Option,
            "INDEX" => Self::Index,
            "COMMODITY" => Self::Commodity,
            _ => return Err(CoreError::invalid("asset_class", format!("unknown: {s:?}"))),
        })
    }
}

/// When an instrument can be traded: what the risk engine's trading-hours check applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Calendar {
    /// The risk session's trading hours (09:30–16:00 New York, Monday–Friday, in the built-in
    /// risk profiles): exchange-traded instruments such as US equities.
    #[default]
    Session,
    /// Always open (`"24/7"`): crypto, FX (its weekend close is not modelled), generated data.
    AlwaysOpen,
}

impl Calendar {
    /// `"session"` or `"24/7"`, as in configuration and the Python API.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::AlwaysOpen => "24/7",
        }
    }

    /// The usual calendar of an asset class: crypto and FX trade around the clock.
    #[must_use]
    pub const fn of_asset_class(asset_class: AssetClass) -> Self {
        match asset_class {
            AssetClass::Crypto | AssetClass::Fx => Self::AlwaysOpen,
            _ => Self::Session,
        }
    }
}

impl fmt::Display for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Calendar {
    type Err = CoreError;
    fn from_str(s: &str) -> CoreResult<Self> {
        match s {
            "session" => Ok(Self::Session),
            "24/7" => Ok(Self::AlwaysOpen),
            _ => Err(CoreError::invalid(
                "calendar",
                format!("{s:?} is not one of \"session\", \"24/7\""),
            )),
        }
    }
}

/// A tradable instrument. Prices are multiples of `tick_size`, quantities of `lot_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Instrument {
    pub symbol: Symbol,
    pub venue: Venue,
    pub asset_class: AssetClass,
    pub currency: Currency,
    pub tick_size: Price,
    pub lot_size: Quantity,
    pub min_quantity: Quantity,
    pub price_precision: u8,
    pub size_precision: u8,
    /// When it trades (default: the asset class's, see [`Calendar::of_asset_class`]).
    pub calendar: Calendar,
}

impl Instrument {
    /// Validates: tick and lot sizes > 0, min quantity >= 0 and a multiple of the lot,
    /// precisions at least those of the tick and lot sizes and at most 9.
    /// `None` precisions default to the tick's and the lot's; the calendar is the asset
    /// class's (`with_calendar` to choose another).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        symbol: Symbol,
        venue: Venue,
        asset_class: AssetClass,
        currency: Currency,
        tick_size: Price,
        lot_size: Quantity,
        min_quantity: Quantity,
        price_precision: Option<u8>,
        size_precision: Option<u8>,
    ) -> CoreResult<Self> {
        if !tick_size.is_positive() {
            return Err(CoreError::invalid("tick_size", "must be > 0"));
        }
        if !lot_size.is_positive() {
            return Err(CoreError::invalid("lot_size", "must be > 0"));
        }
        if min_quantity.is_negative() {
            return Err(CoreError::invalid("min_quantity", "must be >= 0"));
        }
        if !min_quantity.is_zero() && !min_quantity.is_multiple_of(lot_size) {
            return Err(CoreError::invalid(
                "min_quantity",
                format!("{min_quantity} is not a multiple of the lot size {lot_size}"),
            ));
        }
        let price_precision = price_precision.unwrap_or(tick_size.precision());
        let size_precision = size_precision.unwrap_or(lot_size.precision());
        for (field, p, min) in [
            ("price_precision", price_precision, tick_size.precision()),
            ("size_precision", size_precision, lot_size.precision()),
        ] {
            if p > super::FIXED_PRECISION || p < min {
                return Err(CoreError::invalid(
                    field,
                    format!("{p} must be between {min} and {}", super::FIXED_PRECISION),
                ));
            }
        }
        Ok(Self {
            symbol,
            venue,
            asset_class,
            currency,
            tick_size,
            lot_size,
            min_quantity,
            price_precision,
            size_precision,
            calendar: Calendar::of_asset_class(asset_class),
        })
    }

    /// The same instrument trading on `calendar`.
    #[must_use]
    pub const fn with_calendar(self, calendar: Calendar) -> Self {
        Self { calendar, ..self }
    }

    /// Checks that `price` is a multiple of the tick size.
    pub fn check_price(&self, field: &'static str, price: Price) -> CoreResult<()> {
        if price.is_multiple_of(self.tick_size) {
            Ok(())
        } else {
            Err(CoreError::invalid(
                field,
                format!(
                    "{price} is not a multiple of the tick size {} of {}",
                    self.tick_size, self.symbol
                ),
            ))
        }
    }

    /// Checks that `quantity` is a multiple of the lot size.
    pub fn check_quantity(&self, field: &'static str, quantity: Quantity) -> CoreResult<()> {
        if quantity.is_multiple_of(self.lot_size) {
            Ok(())
        } else {
            Err(CoreError::invalid(
                field,
                format!(
                    "{quantity} is not a multiple of the lot size {} of {}",
                    self.lot_size, self.symbol
                ),
            ))
        }
    }

    /// `price` rounded by `mode` to the tick size, declared with the price precision.
    pub fn round_price(&self, price: Price, mode: RoundingMode) -> CoreResult<Price> {
        price
            .round_to_increment(self.tick_size, mode)?
            .with_precision(self.price_precision)
    }

    /// `quantity` rounded by `mode` to the lot size, declared with the size precision.
    pub fn round_quantity(&self, quantity: Quantity, mode: RoundingMode) -> CoreResult<Quantity> {
        quantity
            .round_to_increment(self.lot_size, mode)?
            .with_precision(self.size_precision)
    }

    /// `price` declared with the price precision; it must fit it exactly and sit on the tick.
    pub fn conform_price(&self, field: &'static str, price: Price) -> CoreResult<Price> {
        if price.raw() % unit_of(self.price_precision) != 0 {
            return Err(CoreError::invalid(
                field,
                format!(
                    "{price} has more than the {} decimal places of {}",
                    self.price_precision, self.symbol
                ),
            ));
        }
        self.check_price(field, price)?;
        price.with_precision(self.price_precision)
    }

    /// `quantity` declared with the size precision; it must fit it exactly and sit on the lot.
    pub fn conform_quantity(
        &self,
        field: &'static str,
        quantity: Quantity,
    ) -> CoreResult<Quantity> {
        if quantity.raw() % unit_of(self.size_precision) != 0 {
            return Err(CoreError::invalid(
                field,
                format!(
                    "{quantity} has more than the {} decimal places of {}",
                    self.size_precision, self.symbol
                ),
            ));
        }
        self.check_quantity(field, quantity)?;
        quantity.with_precision(self.size_precision)
    }

    /// Parses a price and declares it with the price precision; it must be on the tick.
    pub fn make_price(&self, text: &str) -> CoreResult<Price> {
        self.conform_price("price", Price::parse("price", text)?)
    }

    /// Parses a quantity and declares it with the size precision; it must be on the lot.
    pub fn make_quantity(&self, text: &str) -> CoreResult<Quantity> {
        self.conform_quantity("quantity", Quantity::parse("quantity", text)?)
    }

    /// `price * quantity` in the instrument's currency at its default precision.
    pub fn notional(
        &self,
        price: Price,
        quantity: Quantity,
        mode: RoundingMode,
    ) -> CoreResult<Money> {
        Money::from_product(
            price,
            quantity,
            self.currency,
            self.currency.default_precision(),
            mode,
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn aapl() -> Instrument {
        Instrument::new(
            Symbol::new("symbol", "AAPL").unwrap(),
            Venue::new("venue", "XNAS").unwrap(),
            AssetClass::Equity,
            Currency::new("USD").unwrap(),
            "0.01".parse().unwrap(),
            "1".parse().unwrap(),
            "1".parse().unwrap(),
            None,
            None,
        )
        .unwrap()
    }

    #[test]
    fn validates_and_rounds() {
        let i = aapl();
        assert_eq!(i.price_precision, 2);
        assert_eq!(i.make_price("187.1").unwrap().to_string(), "187.10");
        let e = i.make_price("187.123").unwrap_err();
        assert!(e.to_string().starts_with("invalid price"), "{e}");
        let p: Price = "187.125".parse().unwrap();
        assert_eq!(
            i.round_price(p, RoundingMode::HalfEven)
                .unwrap()
                .to_string(),
            "187.12"
        );
        assert_eq!(
            i.round_price(p, RoundingMode::HalfUp).unwrap().to_string(),
            "187.13"
        );
        let q: Quantity = "10.7".parse().unwrap();
        assert_eq!(
            i.round_quantity(q, RoundingMode::Floor)
                .unwrap()
                .to_string(),
            "10"
        );
        assert!(i.make_quantity("1.5").is_err());
        assert_eq!(
            i.notional(
                "187.12".parse().unwrap(),
                "3".parse().unwrap(),
                RoundingMode::HalfEven
            )
            .unwrap()
            .to_string(),
            "561.36 USD"
        );
        assert_eq!("equity".parse::<AssetClass>().unwrap(), AssetClass::Equity);
    }

    #[test]
    fn rejects_bad_increments() {
        let mut args = aapl();
        args.tick_size = Price::ZERO;
        let e = Instrument::new(
            args.symbol,
            args.venue,
            args.asset_class,
            args.currency,
            args.tick_size,
            args.lot_size,
            args.min_quantity,
            None,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("invalid tick_size"));
        let e = Instrument::new(
            args.symbol,
            args.venue,
            args.asset_class,
            args.currency,
            "0.01".parse().unwrap(),
            "10".parse().unwrap(),
            "5".parse().unwrap(),
            None,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("invalid min_quantity"));
        let e = Instrument::new(
            args.symbol,
            args.venue,
            args.asset_class,
            args.currency,
            "0.01".parse().unwrap(),
            "1".parse().unwrap(),
            "1".parse().unwrap(),
            Some(1),
            None,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("invalid price_precision"));
    }
}
