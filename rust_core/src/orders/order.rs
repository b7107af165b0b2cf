//! The `Order`: what was asked for, and what has happened to it so far.

use super::{
    next_status, Fill, ModifiedTerms, OrderEvent, OrderEventKind, OrderSide, OrderStatus,
    OrderType, TimeInForce,
};
use crate::error::{CoreError, CoreResult};
use crate::types::{ClientOrderId, Price, Quantity, StrategyId, Symbol, UnixNanos};

/// How far a trailing stop trails the best price seen. (Raw: an offset is a distance the
/// venue adds to raw watermarks on its matching path, or a ratio, never a quoted price.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrailingOffset {
    /// An absolute distance in raw price units.
    Price(i64),
    /// A distance in basis points of the best price (100 = 1 %).
    BasisPoints(i64),
}

impl TrailingOffset {
    /// The trigger for a watermark: below it for a sell, above it for a buy.
    /// Rounded away from the market to a whole raw unit.
    #[must_use]
    pub fn trigger(self, side: OrderSide, watermark: i64) -> i64 {
        let distance = match self {
            Self::Price(d) => d,
            Self::BasisPoints(bps) => {
                let d = i128::from(watermark) * i128::from(bps);
                i64::try_from(d / 10_000).unwrap_or(i64::MAX)
            }
        };
        match side {
            OrderSide::Sell => watermark.saturating_sub(distance),
            OrderSide::Buy => watermark.saturating_add(distance),
        }
    }
}

/// An order: exact quantities and prices, inline (`Copy`) ids, UTC times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub client_order_id: ClientOrderId,
    /// Assigned by the venue on submission.
    pub venue_order_id: Option<u64>,
    pub strategy_id: StrategyId,
    pub instrument: Symbol,
    pub side: OrderSide,
    pub order_type: OrderType,
    pub quantity: Quantity,
    /// Limit price (limit, stop-limit).
    pub price: Option<Price>,
    /// Trigger price (stop-market, stop-limit, market-if-touched); for a trailing stop, the
    /// current trigger (set by the venue as the watermark moves; optional initial value).
    pub trigger_price: Option<Price>,
    pub trailing_offset: Option<TrailingOffset>,
    pub time_in_force: TimeInForce,
    /// For GTD: expires once the clock passes this time.
    pub expire_time: Option<UnixNanos>,
    pub reduce_only: bool,
    pub post_only: bool,
    pub tags: Vec<String>,
    /// Contingency links (client order ids): the OTO parent, its children, the OCO siblings.
    pub parent_order_id: Option<ClientOrderId>,
    pub child_order_ids: Vec<ClientOrderId>,
    pub linked_order_ids: Vec<ClientOrderId>,
    pub status: OrderStatus,
    pub filled_qty: Quantity,
    /// Σ fill qty × fill price over fills (raw × raw, units of 10^-18): an exact
    /// accumulator, deliberately wider than a `Price` so the average is rounded once.
    pub filled_notional: i128,
    /// Decimal places of the fill prices seen (the average price is declared with them).
    pub fill_px_precision: u8,
    pub triggered: bool,
    pub ts_init: UnixNanos,
    pub ts_last: UnixNanos,
}

impl Order {
    /// A new order in `Initialized`. Set prices, TIF and flags with the `with_*` methods,
    /// then `validate`.
    #[must_use]
    pub fn new(
        client_order_id: ClientOrderId,
        strategy_id: StrategyId,
        instrument: Symbol,
        side: OrderSide,
        order_type: OrderType,
        quantity: Quantity,
        ts_init: UnixNanos,
    ) -> Self {
        Self {
            client_order_id,
            venue_order_id: None,
            strategy_id,
            instrument,
            side,
            order_type,
            quantity,
            price: None,
            trigger_price: None,
            trailing_offset: None,
            time_in_force: TimeInForce::Gtc,
            expire_time: None,
            reduce_only: false,
            post_only: false,
            tags: Vec::new(),
            parent_order_id: None,
            child_order_ids: Vec::new(),
            linked_order_ids: Vec::new(),
            status: OrderStatus::Initialized,
            filled_qty: Quantity::from_raw_or_finer(0, quantity.precision()),
            filled_notional: 0,
            fill_px_precision: 0,
            triggered: false,
            ts_init,
            ts_last: ts_init,
        }
    }

    /// [`Order::new`] from id text: each id is checked (1 to N printable ASCII characters
    /// without spaces) and a bad one is an `InvalidInput` error naming its field.
    ///
    /// # Errors
    /// `CoreError::InvalidInput` for `client_order_id`, `strategy_id` or `instrument`.
    pub fn parse(
        client_order_id: &str,
        strategy_id: &str,
        instrument: &str,
        side: OrderSide,
        order_type: OrderType,
        quantity: Quantity,
        ts_init: UnixNanos,
    ) -> CoreResult<Self> {
        Ok(Self::new(
            ClientOrderId::new("client_order_id", client_order_id)?,
            StrategyId::new("strategy_id", strategy_id)?,
            Symbol::new("instrument", instrument)?,
            side,
            order_type,
            quantity,
            ts_init,
        ))
    }

    #[must_use]
    pub fn with_price(mut self, price: Price) -> Self {
        self.price = Some(price);
        self
    }

    #[must_use]
    pub fn with_trigger(mut self, trigger: Price) -> Self {
        self.trigger_price = Some(trigger);
        self
    }

    #[must_use]
    pub fn with_trailing(mut self, offset: TrailingOffset) -> Self {
        self.trailing_offset = Some(offset);
        self
    }

    #[must_use]
    pub fn with_tif(mut self, tif: TimeInForce, expire_time: Option<UnixNanos>) -> Self {
        self.time_in_force = tif;
        self.expire_time = expire_time;
        self
    }

    #[must_use]
    pub fn with_flags(mut self, reduce_only: bool, post_only: bool) -> Self {
        self.reduce_only = reduce_only;
        self.post_only = post_only;
        self
    }

    #[must_use]
    pub fn with_tags(mut self, tags: Vec<String>) -> Self {
        self.tags = tags;
        self
    }

    /// Quantity still to fill.
    #[must_use]
    pub fn leaves_qty(&self) -> Quantity {
        Quantity::from_raw_or_finer(self.leaves_raw(), self.quantity.precision())
    }

    /// Quantity still to fill in raw units (what the venue's matching works with).
    #[inline]
    #[must_use]
    pub fn leaves_raw(&self) -> i64 {
        self.quantity.raw() - self.filled_qty.raw()
    }

    /// A sell in `instrument` about to sell: a market order, or any order sent and not yet
    /// acknowledged (on its way to a broker); not a contingent (OCO/OTO) leg. Resting exits
    /// are not: they may never fill (risk's short-sale check counts these).
    #[must_use]
    pub fn is_sell_in_flight(&self, instrument: &str) -> bool {
        self.side == OrderSide::Sell
            && self.instrument == instrument
            && (self.order_type == OrderType::Market || self.status == OrderStatus::Submitted)
            && self.parent_order_id.is_none()
            && self.linked_order_ids.is_empty()
    }

    /// Average fill price in raw units (rounded half away from zero), if anything filled.
    #[must_use]
    pub fn avg_px_raw(&self) -> Option<i64> {
        if self.filled_qty.is_zero() {
            return None;
        }
        let q = i128::from(self.filled_qty.raw());
        let avg = (self.filled_notional + q / 2) / q;
        i64::try_from(avg).ok()
    }

    /// Average fill price (declared with the fill prices' places when it fits them).
    #[must_use]
    pub fn avg_px(&self) -> Option<Price> {
        self.avg_px_raw()
            .map(|raw| Price::from_raw_or_finer(raw, self.fill_px_precision))
    }

    /// Check that the fields fit the order type and time in force.
    ///
    /// # Errors
    /// `CoreError::InvalidInput` naming the offending field.
    pub fn validate(&self) -> CoreResult<()> {
        // Ids are never empty (their types refuse it).
        if !self.quantity.is_positive() {
            return Err(CoreError::invalid("quantity", "must be > 0"));
        }
        let needs_price = matches!(self.order_type, OrderType::Limit | OrderType::StopLimit);
        let needs_trigger = matches!(
            self.order_type,
            OrderType::StopMarket | OrderType::StopLimit | OrderType::MarketIfTouched
        );
        match (needs_price, self.price) {
            (true, None) => {
                return Err(CoreError::invalid(
                    "price",
                    format!("required for a {} order", self.order_type),
                ))
            }
            (false, Some(_)) => {
                return Err(CoreError::invalid(
                    "price",
                    format!("not used by a {} order", self.order_type),
                ))
            }
            (true, Some(p)) if !p.is_positive() => {
                return Err(CoreError::invalid("price", "must be > 0"))
            }
            _ => {}
        }
        match (needs_trigger, self.trigger_price) {
            (true, None) => {
                return Err(CoreError::invalid(
                    "trigger_price",
                    format!("required for a {} order", self.order_type),
                ))
            }
            (_, Some(p)) if !p.is_positive() => {
                return Err(CoreError::invalid("trigger_price", "must be > 0"))
            }
            (false, Some(_)) if self.order_type != OrderType::TrailingStopMarket => {
                return Err(CoreError::invalid(
                    "trigger_price",
                    format!("not used by a {} order", self.order_type),
                ))
            }
            _ => {}
        }
        match (self.order_type, self.trailing_offset) {
            (OrderType::TrailingStopMarket, None) => {
                return Err(CoreError::invalid(
                    "trailing_offset",
                    "required for a trailing stop",
                ))
            }
            (OrderType::TrailingStopMarket, Some(off)) => {
                let ok = match off {
                    TrailingOffset::Price(d) => d > 0,
                    TrailingOffset::BasisPoints(b) => b > 0 && b < 10_000,
                };
                if !ok {
                    return Err(CoreError::invalid(
                        "trailing_offset",
                        "must be > 0 (and < 10000 basis points)",
                    ));
                }
            }
            (_, Some(_)) => {
                return Err(CoreError::invalid(
                    "trailing_offset",
                    "only used by a trailing stop",
                ))
            }
            _ => {}
        }
        match (self.time_in_force, self.expire_time) {
            (TimeInForce::Gtd, None) => {
                return Err(CoreError::invalid("expire_time", "required for GTD"))
            }
            (TimeInForce::Gtd, Some(_)) | (_, None) => {}
            (_, Some(_)) => return Err(CoreError::invalid("expire_time", "only used with GTD")),
        }
        if self.post_only && self.order_type != OrderType::Limit {
            return Err(CoreError::invalid("post_only", "only for limit orders"));
        }
        if self.post_only && matches!(self.time_in_force, TimeInForce::Ioc | TimeInForce::Fok) {
            return Err(CoreError::invalid("post_only", "cannot be IOC or FOK"));
        }
        Ok(())
    }

    /// Apply one event: the status changes by the lifecycle table and, for a fill, the
    /// filled quantity and notional accumulate. Returns the event (for the caller's journal).
    ///
    /// # Errors
    /// `CoreError::InvalidState` for an illegal transition; `CoreError::InvalidInput` for a
    /// fill larger than the quantity left or not positive.
    pub fn apply(
        &mut self,
        kind: OrderEventKind,
        ts: UnixNanos,
        reason: impl Into<String>,
        fill: Option<Fill>,
    ) -> CoreResult<OrderEvent> {
        let mut complete = false;
        if kind == OrderEventKind::Filled {
            let f = fill
                .as_ref()
                .ok_or_else(|| CoreError::invalid("fill", "a fill event needs a fill"))?;
            let (q, leaves) = (f.quantity.raw(), self.leaves_raw());
            if q <= 0 || q > leaves {
                return Err(CoreError::invalid(
                    "fill.quantity",
                    format!("{} not in (0, {}]", f.quantity, self.leaves_qty()),
                ));
            }
            complete = q == leaves;
        }
        let status = next_status(self.status, kind, complete)?;
        if let Some(f) = &fill {
            // Cannot overflow: the fill is at most the quantity left.
            self.filled_qty = Quantity::from_raw_or_finer(
                self.filled_qty.raw() + f.quantity.raw(),
                self.quantity.precision().max(f.quantity.precision()),
            );
            self.filled_notional += i128::from(f.quantity.raw()) * i128::from(f.price.raw());
            self.fill_px_precision = self.fill_px_precision.max(f.price.precision());
        }
        if kind == OrderEventKind::Triggered {
            self.triggered = true;
        }
        self.status = status;
        self.ts_last = ts;
        Ok(OrderEvent {
            client_order_id: self.client_order_id,
            strategy_id: self.strategy_id,
            instrument: self.instrument,
            kind,
            status,
            ts,
            reason: reason.into(),
            fill,
            denial: None,
            // The venue changes the order's terms before it applies the event.
            modified: (kind == OrderEventKind::ModifyAccepted).then(|| {
                Box::new(ModifiedTerms {
                    quantity: self.quantity,
                    price: self.price,
                    trigger_price: self.trigger_price,
                })
            }),
        })
    }

    /// Risk refused the order before it reached the venue.
    ///
    /// # Errors
    /// `CoreError::InvalidState` unless the order is `Initialized`.
    pub fn deny(&mut self, ts: UnixNanos, reason: impl Into<String>) -> CoreResult<OrderEvent> {
        self.apply(OrderEventKind::Denied, ts, reason, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Currency, Money};

    const ONE: i64 = crate::types::FIXED_SCALE;

    fn q(raw: i64) -> Quantity {
        Quantity::from_raw_or_finer(raw, 0)
    }

    fn px(raw: i64) -> Price {
        Price::from_raw_or_finer(raw, 2)
    }

    fn new(side: OrderSide, t: OrderType, qty: i64) -> Order {
        Order::parse("O", "S", "X", side, t, q(qty), UnixNanos(0)).unwrap()
    }

    fn limit() -> Order {
        Order::parse(
            "O-1",
            "S1",
            "AAPL",
            OrderSide::Buy,
            OrderType::Limit,
            q(10 * ONE),
            UnixNanos(1),
        )
        .unwrap()
        .with_price(px(100 * ONE))
    }

    #[test]
    fn validate_requires_fields_by_type() {
        assert!(limit().validate().is_ok());
        let no_price = new(OrderSide::Buy, OrderType::Limit, ONE);
        assert!(matches!(
            no_price.validate(),
            Err(CoreError::InvalidInput { field: "price", .. })
        ));
        let stop = new(OrderSide::Sell, OrderType::StopMarket, ONE);
        assert!(matches!(
            stop.validate(),
            Err(CoreError::InvalidInput {
                field: "trigger_price",
                ..
            })
        ));
        let gtd = limit().with_tif(TimeInForce::Gtd, None);
        assert!(gtd.validate().is_err());
        let post_mkt = new(OrderSide::Buy, OrderType::Market, ONE).with_flags(false, true);
        assert!(post_mkt.validate().is_err());
        let zero = new(OrderSide::Buy, OrderType::Market, 0);
        assert!(zero.validate().is_err());
    }

    #[test]
    fn ids_that_do_not_fit_are_refused_naming_the_field() {
        let long = "x".repeat(64);
        let side = OrderSide::Buy;
        let mk = |c: &str, s: &str, i: &str| {
            Order::parse(c, s, i, side, OrderType::Market, q(ONE), UnixNanos(0))
        };
        for (result, field) in [
            (mk(&long, "S", "X"), "client_order_id"),
            (mk("O", &long[..48], "X"), "strategy_id"),
            (mk("O", "S", &long[..24]), "instrument"),
            (mk("O 1", "S", "X"), "client_order_id"),
            (mk("O", "", "X"), "strategy_id"),
        ] {
            match result {
                Err(CoreError::InvalidInput { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: expected InvalidInput, got {other:?}"),
            }
        }
    }

    #[test]
    fn fills_accumulate_and_overfill_is_refused() {
        let mut o = limit();
        o.apply(OrderEventKind::Submitted, UnixNanos(2), "", None)
            .unwrap();
        o.apply(OrderEventKind::Accepted, UnixNanos(3), "", None)
            .unwrap();
        let f = |qty, p| Fill {
            trade_id: 1,
            venue_order_id: 1,
            side: OrderSide::Buy,
            quantity: q(qty),
            price: px(p),
            commission: Money::zero(Currency::USD),
            liquidity: super::super::LiquiditySide::Maker,
        };
        let e = o
            .apply(
                OrderEventKind::Filled,
                UnixNanos(4),
                "",
                Some(f(4 * ONE, 100 * ONE)),
            )
            .unwrap();
        assert_eq!(e.status, OrderStatus::PartiallyFilled);
        assert!(o
            .apply(
                OrderEventKind::Filled,
                UnixNanos(5),
                "",
                Some(f(7 * ONE, 99 * ONE))
            )
            .is_err());
        let e = o
            .apply(
                OrderEventKind::Filled,
                UnixNanos(5),
                "",
                Some(f(6 * ONE, 99 * ONE)),
            )
            .unwrap();
        assert_eq!(e.status, OrderStatus::Filled);
        assert_eq!(o.avg_px_raw(), Some(99_400_000_000));
        assert_eq!(o.avg_px().unwrap().to_string(), "99.40");
        assert_eq!(o.filled_qty, q(10 * ONE));
        assert!(o
            .apply(OrderEventKind::Cancelled, UnixNanos(6), "", None)
            .is_err());
    }

    #[test]
    fn trailing_trigger() {
        let w = 100 * ONE;
        assert_eq!(
            TrailingOffset::Price(2 * ONE).trigger(OrderSide::Sell, w),
            98 * ONE
        );
        assert_eq!(
            TrailingOffset::BasisPoints(500).trigger(OrderSide::Buy, w),
            105 * ONE
        );
    }
}
