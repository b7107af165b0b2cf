//! Market data events: bars, quotes and trades. Each carries `ts_event`, UTC nanoseconds.
//!
//! Constructors validate (and name the offending field); events are `Copy` and hold no
//! heap data, so the bus moves them without allocating.

use std::fmt;
use std::str::FromStr;

use super::ids::{Symbol, TradeId};
use super::instrument::Instrument;
use super::time::UnixNanos;
use super::value::{Price, Quantity};
use crate::error::{CoreError, CoreResult};

/// The unit of a bar interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IntervalUnit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
}

impl IntervalUnit {
    #[must_use]
    pub const fn suffix(self) -> &'static str {
        match self {
            Self::Second => "s",
            Self::Minute => "m",
            Self::Hour => "h",
            Self::Day => "d",
            Self::Week => "w",
        }
    }

    const fn nanos(self) -> u64 {
        const S: u64 = 1_000_000_000;
        match self {
            Self::Second => S,
            Self::Minute => 60 * S,
            Self::Hour => 3_600 * S,
            Self::Day => 86_400 * S,
            Self::Week => 7 * 86_400 * S,
        }
    }
}

/// A bar interval such as `1m`, `5m`, `1h`, `1d` (`s`, `m`, `h`, `d`, `w`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interval {
    pub step: u32,
    pub unit: IntervalUnit,
}

impl Interval {
    /// The length in nanoseconds.
    #[must_use]
    pub const fn as_nanos(self) -> u64 {
        self.step as u64 * self.unit.nanos()
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.step, self.unit.suffix())
    }
}

impl FromStr for Interval {
    type Err = CoreError;
    fn from_str(s: &str) -> CoreResult<Self> {
        let bad = || {
            CoreError::invalid(
                "interval",
                format!("{s:?} must be a positive count and a unit s/m/h/d/w, e.g. 1m"),
            )
        };
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let step: u32 = s[..split].parse().map_err(|_| bad())?;
        let unit = match &s[split..] {
            "s" => IntervalUnit::Second,
            "m" => IntervalUnit::Minute,
            "h" => IntervalUnit::Hour,
            "d" => IntervalUnit::Day,
            "w" => IntervalUnit::Week,
            _ => return Err(bad()),
        };
        if step == 0 {
            return Err(bad());
        }
        Ok(Self { step, unit })
    }
}

/// What a bar aggregates: a symbol and an interval. Displayed as `AAPL-1m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BarType {
    pub symbol: Symbol,
    pub interval: Interval,
}

impl BarType {
    #[must_use]
    pub const fn new(symbol: Symbol, interval: Interval) -> Self {
        Self { symbol, interval }
    }

    /// The bus topic bars of this type are published on: `data.bars.AAPL.1m`.
    #[must_use]
    pub fn topic(&self) -> String {
        format!("data.bars.{}.{}", self.symbol, self.interval)
    }
}

impl fmt::Display for BarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.symbol, self.interval)
    }
}

impl FromStr for BarType {
    type Err = CoreError;
    /// Parses `SYMBOL-INTERVAL`, splitting at the last `-`.
    fn from_str(s: &str) -> CoreResult<Self> {
        let (sym, iv) = s.rsplit_once('-').ok_or_else(|| {
            CoreError::invalid("bar_type", format!("{s:?} is not SYMBOL-INTERVAL"))
        })?;
        Ok(Self {
            symbol: Symbol::new("symbol", sym)?,
            interval: iv.parse()?,
        })
    }
}

fn check_size(field: &'static str, q: Quantity) -> CoreResult<()> {
    if q.is_negative() {
        return Err(CoreError::invalid(field, format!("{q} must be >= 0")));
    }
    Ok(())
}

/// An OHLCV bar; `ts_event` is the bar's close time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bar {
    pub bar_type: BarType,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    pub volume: Quantity,
    pub ts_event: UnixNanos,
}

impl Bar {
    /// Validates `high >= max(open, close)`, `low <= min(open, close)`, `low <= high`,
    /// `volume >= 0`.
    pub fn new(
        bar_type: BarType,
        open: Price,
        high: Price,
        low: Price,
        close: Price,
        volume: Quantity,
        ts_event: UnixNanos,
    ) -> CoreResult<Self> {
        if low > high {
            return Err(CoreError::invalid(
                "low",
                format!("{low} is above high {high}"),
            ));
        }
        if high < open || high < close {
            return Err(CoreError::invalid(
                "high",
                format!("{high} is below max(open {open}, close {close})"),
            ));
        }
        if low > open || low > close {
            return Err(CoreError::invalid(
                "low",
                format!("{low} is above min(open {open}, close {close})"),
            ));
        }
        check_size("volume", volume)?;
        Ok(Self {
            bar_type,
            open,
            high,
            low,
            close,
            volume,
            ts_event,
        })
    }

    /// Checks the symbol and that prices and volume sit on the instrument's tick and lot.
    pub fn check_instrument(&self, instrument: &Instrument) -> CoreResult<()> {
        check_symbol(self.bar_type.symbol, instrument)?;
        instrument.check_price("open", self.open)?;
        instrument.check_price("high", self.high)?;
        instrument.check_price("low", self.low)?;
        instrument.check_price("close", self.close)?;
        instrument.check_quantity("volume", self.volume)
    }
}

fn check_symbol(symbol: Symbol, instrument: &Instrument) -> CoreResult<()> {
    if symbol != instrument.symbol {
        return Err(CoreError::invalid(
            "symbol",
            format!(
                "{symbol} does not match the instrument {}",
                instrument.symbol
            ),
        ));
    }
    Ok(())
}

/// Best bid and ask with their sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuoteTick {
    pub symbol: Symbol,
    pub bid: Price,
    pub ask: Price,
    pub bid_size: Quantity,
    pub ask_size: Quantity,
    pub ts_event: UnixNanos,
}

impl QuoteTick {
    /// Validates `bid <= ask` and sizes >= 0.
    pub fn new(
        symbol: Symbol,
        bid: Price,
        ask: Price,
        bid_size: Quantity,
        ask_size: Quantity,
        ts_event: UnixNanos,
    ) -> CoreResult<Self> {
        if bid > ask {
            return Err(CoreError::invalid(
                "bid",
                format!("{bid} is above ask {ask}"),
            ));
        }
        check_size("bid_size", bid_size)?;
        check_size("ask_size", ask_size)?;
        Ok(Self {
            symbol,
            bid,
            ask,
            bid_size,
            ask_size,
            ts_event,
        })
    }

    /// Checks the symbol, tick and lot multiples.
    pub fn check_instrument(&self, instrument: &Instrument) -> CoreResult<()> {
        check_symbol(self.symbol, instrument)?;
        instrument.check_price("bid", self.bid)?;
        instrument.check_price("ask", self.ask)?;
        instrument.check_quantity("bid_size", self.bid_size)?;
        instrument.check_quantity("ask_size", self.ask_size)
    }
}

/// Which side initiated a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AggressorSide {
    NoAggressor,
    Buyer,
    Seller,
}

impl AggressorSide {
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::NoAggressor => "NO_AGGRESSOR",
            Self::Buyer => "BUYER",
            Self::Seller => "SELLER",
        }
    }
}

/// A trade printed by a venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TradeTick {
    pub symbol: Symbol,
    pub price: Price,
    pub size: Quantity,
    pub aggressor_side: AggressorSide,
    pub trade_id: TradeId,
    pub ts_event: UnixNanos,
}

impl TradeTick {
    /// Validates size >= 0.
    pub fn new(
        symbol: Symbol,
        price: Price,
        size: Quantity,
        aggressor_side: AggressorSide,
        trade_id: TradeId,
        ts_event: UnixNanos,
    ) -> CoreResult<Self> {
        check_size("size", size)?;
        Ok(Self {
            symbol,
            price,
            size,
            aggressor_side,
            trade_id,
            ts_event,
        })
    }

    /// Checks the symbol, tick and lot multiples.
    pub fn check_instrument(&self, instrument: &Instrument) -> CoreResult<()> {
        check_symbol(self.symbol, instrument)?;
        instrument.check_price("price", self.price)?;
        instrument.check_quantity("size", self.size)
    }
}

/// Any market data event, as carried by the bus and the ingest queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MarketData {
    Bar(Bar),
    Quote(QuoteTick),
    Trade(TradeTick),
}

impl MarketData {
    /// The event's timestamp.
    #[must_use]
    pub const fn ts_event(&self) -> UnixNanos {
        match self {
            Self::Bar(b) => b.ts_event,
            Self::Quote(q) => q.ts_event,
            Self::Trade(t) => t.ts_event,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Price {
        s.parse().unwrap()
    }
    fn q(s: &str) -> Quantity {
        s.parse().unwrap()
    }
    fn bt() -> BarType {
        "AAPL-1m".parse().unwrap()
    }

    #[test]
    fn bar_type_and_interval() {
        let t = bt();
        assert_eq!(t.to_string(), "AAPL-1m");
        assert_eq!(t.topic(), "data.bars.AAPL.1m");
        assert_eq!(t.interval.as_nanos(), 60_000_000_000);
        assert_eq!(
            "BRK-B-5m".parse::<BarType>().unwrap().symbol.as_str(),
            "BRK-B"
        );
        for bad in ["1", "m", "0m", "1y", "-1m", ""] {
            assert!(bad.parse::<Interval>().is_err(), "{bad}");
        }
    }

    #[test]
    fn bar_validation_names_the_field() {
        let ok = Bar::new(
            bt(),
            p("10"),
            p("11"),
            p("9"),
            p("10.5"),
            q("100"),
            UnixNanos(1),
        );
        assert!(ok.is_ok());
        let field = |r: CoreResult<Bar>| match r {
            Err(CoreError::InvalidInput { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            field(Bar::new(
                bt(),
                p("10"),
                p("10.4"),
                p("9"),
                p("10.5"),
                q("1"),
                UnixNanos(1)
            )),
            "high"
        );
        assert_eq!(
            field(Bar::new(
                bt(),
                p("10"),
                p("11"),
                p("10.6"),
                p("10.5"),
                q("1"),
                UnixNanos(1)
            )),
            "low"
        );
        assert_eq!(
            field(Bar::new(
                bt(),
                p("10"),
                p("11"),
                p("12"),
                p("10.5"),
                q("1"),
                UnixNanos(1)
            )),
            "low"
        );
        assert_eq!(
            field(Bar::new(
                bt(),
                p("10"),
                p("11"),
                p("9"),
                p("10.5"),
                q("-1"),
                UnixNanos(1)
            )),
            "volume"
        );
    }

    #[test]
    fn ticks_validate() {
        let s = Symbol::new("symbol", "AAPL").unwrap();
        assert!(QuoteTick::new(s, p("1.01"), p("1.00"), q("1"), q("1"), UnixNanos(0)).is_err());
        assert!(QuoteTick::new(s, p("1.00"), p("1.00"), q("0"), q("1"), UnixNanos(0)).is_ok());
        let e = QuoteTick::new(s, p("1.00"), p("1.01"), q("1"), q("-1"), UnixNanos(0)).unwrap_err();
        assert!(e.to_string().starts_with("invalid ask_size"));
        let id = TradeId::new("trade_id", "T1").unwrap();
        let e =
            TradeTick::new(s, p("1"), q("-2"), AggressorSide::Buyer, id, UnixNanos(0)).unwrap_err();
        assert!(e.to_string().starts_with("invalid size"));
        let t = TradeTick::new(
            s,
            p("1.001"),
            q("2"),
            AggressorSide::Buyer,
            id,
            UnixNanos(0),
        )
        .unwrap();
        let inst = super::super::instrument::tests::aapl();
        assert!(t
            .check_instrument(&inst)
            .unwrap_err()
            .to_string()
            .starts_with("invalid price"));
        assert_eq!(MarketData::Trade(t).ts_event(), UnixNanos(0));
    }
}
