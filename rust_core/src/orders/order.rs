//! The `Order`: what was asked for, and what has happened to it so far.

use super::{
    next_status, Fill, OrderEvent, OrderEventKind, OrderSide, OrderStatus, OrderType, TimeInForce,
};
use crate::error::{CoreError, CoreResult};

/// How far a trailing stop trails the best price seen.
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

/// An order. Prices and quantities are raw fixed-point units (10^-9); times are UNIX ns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub client_order_id: String,
    /// Assigned by the venue on submission.
    pub venue_order_id: Option<u64>,
    pub strategy_id: String,
    pub instrument: String,
    pub side: OrderSide,
    pub order_type: OrderType,
    pub quantity: i64,
    /// Limit price (limit, stop-limit).
    pub price: Option<i64>,
    /// Trigger price (stop-market, stop-limit, market-if-touched); for a trailing stop, the
    /// current trigger (set by the venue as the watermark moves; optional initial value).
    pub trigger_price: Option<i64>,
    pub trailing_offset: Option<TrailingOffset>,
    pub time_in_force: TimeInForce,
    /// For GTD: expires once the clock passes this time.
    pub expire_time: Option<u64>,
    pub reduce_only: bool,
    pub post_only: bool,
    pub tags: Vec<String>,
    /// Contingency links (client order ids): the OTO parent, its children, the OCO siblings.
    pub parent_order_id: Option<String>,
    pub child_order_ids: Vec<String>,
    pub linked_order_ids: Vec<String>,
    pub status: OrderStatus,
    pub filled_qty: i64,
    /// Σ fill qty × fill price over fills (raw × raw), for the exact average price.
    pub filled_notional: i128,
    pub triggered: bool,
    pub ts_init: u64,
    pub ts_last: u64,
}

impl Order {
    /// A new order in `Initialized`. Set prices, TIF and flags with the `with_*` methods,
    /// then `validate`.
    #[must_use]
    pub fn new(
        client_order_id: impl Into<String>,
        strategy_id: impl Into<String>,
        instrument: impl Into<String>,
        side: OrderSide,
        order_type: OrderType,
        quantity: i64,
        ts_init: u64,
    ) -> Self {
        Self {
            client_order_id: client_order_id.into(),
            venue_order_id: None,
            strategy_id: strategy_id.into(),
            instrument: instrument.into(),
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
            filled_qty: 0,
            filled_notional: 0,
            triggered: false,
            ts_init,
            ts_last: ts_init,
        }
    }

    #[must_use]
    pub fn with_price(mut self, price: i64) -> Self {
        self.price = Some(price);
        self
    }

    #[must_use]
    pub fn with_trigger(mut self, trigger: i64) -> Self {
        self.trigger_price = Some(trigger);
        self
    }

    #[must_use]
    pub fn with_trailing(mut self, offset: TrailingOffset) -> Self {
        self.trailing_offset = Some(offset);
        self
    }

    #[must_use]
    pub fn with_tif(mut self, tif: TimeInForce, expire_time: Option<u64>) -> Self {
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
    pub fn leaves_qty(&self) -> i64 {
        self.quantity - self.filled_qty
    }

    /// Average fill price in raw units (rounded half away from zero), if anything filled.
    #[must_use]
    pub fn avg_px(&self) -> Option<i64> {
        if self.filled_qty == 0 {
            return None;
        }
        let q = i128::from(self.filled_qty);
        let avg = (self.filled_notional + q / 2) / q;
        i64::try_from(avg).ok()
    }

    /// Check that the fields fit the order type and time in force.
    ///
    /// # Errors
    /// `CoreError::InvalidInput` naming the offending field.
    pub fn validate(&self) -> CoreResult<()> {
        if self.client_order_id.is_empty() {
            return Err(CoreError::invalid("client_order_id", "must not be empty"));
        }
        if self.strategy_id.is_empty() {
            return Err(CoreError::invalid("strategy_id", "must not be empty"));
        }
        if self.instrument.is_empty() {
            return Err(CoreError::invalid("instrument", "must not be empty"));
        }
        if self.quantity <= 0 {
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
            (true, Some(p)) if p <= 0 => return Err(CoreError::invalid("price", "must be > 0")),
            _ => {}
        }
        match (needs_trigger, self.trigger_price) {
            (true, None) => {
                return Err(CoreError::invalid(
                    "trigger_price",
                    format!("required for a {} order", self.order_type),
                ))
            }
            (_, Some(p)) if p <= 0 => {
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
        ts: u64,
        reason: impl Into<String>,
        fill: Option<Fill>,
    ) -> CoreResult<OrderEvent> {
        let mut complete = false;
        if kind == OrderEventKind::Filled {
            let f = fill
                .as_ref()
                .ok_or_else(|| CoreError::invalid("fill", "a fill event needs a fill"))?;
            if f.quantity <= 0 || f.quantity > self.leaves_qty() {
                return Err(CoreError::invalid(
                    "fill.quantity",
                    format!("{} not in 1..={}", f.quantity, self.leaves_qty()),
                ));
            }
            complete = f.quantity == self.leaves_qty();
        }
        let status = next_status(self.status, kind, complete)?;
        if let Some(f) = &fill {
            self.filled_qty += f.quantity;
            self.filled_notional += i128::from(f.quantity) * i128::from(f.price);
        }
        if kind == OrderEventKind::Triggered {
            self.triggered = true;
        }
        self.status = status;
        self.ts_last = ts;
        Ok(OrderEvent {
            client_order_id: self.client_order_id.clone(),
            strategy_id: self.strategy_id.clone(),
            instrument: self.instrument.clone(),
            kind,
            status,
            ts,
            reason: reason.into(),
            fill,
            denial: None,
        })
    }

    /// Risk refused the order before it reached the venue.
    ///
    /// # Errors
    /// `CoreError::InvalidState` unless the order is `Initialized`.
    pub fn deny(&mut self, ts: u64, reason: impl Into<String>) -> CoreResult<OrderEvent> {
        self.apply(OrderEventKind::Denied, ts, reason, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: i64 = crate::types::FIXED_SCALE;

    fn limit() -> Order {
        Order::new(
            "O-1",
            "S1",
            "AAPL",
            OrderSide::Buy,
            OrderType::Limit,
            10 * ONE,
            1,
        )
        .with_price(100 * ONE)
    }

    #[test]
    fn validate_requires_fields_by_type() {
        assert!(limit().validate().is_ok());
        let no_price = Order::new("O", "S", "X", OrderSide::Buy, OrderType::Limit, ONE, 0);
        assert!(matches!(
            no_price.validate(),
            Err(CoreError::InvalidInput { field: "price", .. })
        ));
        let stop = Order::new(
            "O",
            "S",
            "X",
            OrderSide::Sell,
            OrderType::StopMarket,
            ONE,
            0,
        );
        assert!(matches!(
            stop.validate(),
            Err(CoreError::InvalidInput {
                field: "trigger_price",
                ..
            })
        ));
        let gtd = limit().with_tif(TimeInForce::Gtd, None);
        assert!(gtd.validate().is_err());
        let post_mkt = Order::new("O", "S", "X", OrderSide::Buy, OrderType::Market, ONE, 0)
            .with_flags(false, true);
        assert!(post_mkt.validate().is_err());
        let zero = Order::new("O", "S", "X", OrderSide::Buy, OrderType::Market, 0, 0);
        assert!(zero.validate().is_err());
    }

    #[test]
    fn fills_accumulate_and_overfill_is_refused() {
        let mut o = limit();
        o.apply(OrderEventKind::Submitted, 2, "", None).unwrap();
        o.apply(OrderEventKind::Accepted, 3, "", None).unwrap();
        let f = |q, p| Fill {
            trade_id: 1,
            venue_order_id: 1,
            side: OrderSide::Buy,
            quantity: q,
            price: p,
            commission: 0,
            liquidity: super::super::LiquiditySide::Maker,
        };
        let e = o
            .apply(OrderEventKind::Filled, 4, "", Some(f(4 * ONE, 100 * ONE)))
            .unwrap();
        assert_eq!(e.status, OrderStatus::PartiallyFilled);
        assert!(o
            .apply(OrderEventKind::Filled, 5, "", Some(f(7 * ONE, 99 * ONE)))
            .is_err());
        let e = o
            .apply(OrderEventKind::Filled, 5, "", Some(f(6 * ONE, 99 * ONE)))
            .unwrap();
        assert_eq!(e.status, OrderStatus::Filled);
        assert_eq!(o.avg_px(), Some(99_400_000_000));
        assert!(o.apply(OrderEventKind::Cancelled, 6, "", None).is_err());
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
