//! The one command path: every order a strategy (or, later, the API) sends — new, changed,
//! cancelled, closing — passes the pre-trade risk checks, then reaches the venue. Outcomes
//! are queued as events for the strategies.

use crate::error::{CoreError, CoreResult};
use crate::orders::{Order, OrderEvent, OrderEventKind, OrderSide, OrderStatus, OrderType};
use crate::portfolio::notional;
use crate::risk::{AccountView, Denial, OrderRequest, Sizing, Totals};
use crate::types::{ClientOrderId, Price, Quantity, UnixNanos};
use crate::venue::VenueEvent;

use super::state::{DenialRecord, EngineState};

/// `raw` rounded down (`up == false`) or up to a multiple of `tick` (> 0).
fn to_step(raw: i64, tick: i64, up: bool) -> CoreResult<i64> {
    let floor = raw
        .div_euclid(tick)
        .checked_mul(tick)
        .ok_or(CoreError::Overflow {
            operation: "price onto the tick",
        })?;
    if up && floor != raw {
        floor.checked_add(tick).ok_or(CoreError::Overflow {
            operation: "price onto the tick",
        })
    } else {
        Ok(floor)
    }
}

/// An order's prices on the instrument's tick, each rounded to the side that never gives
/// the strategy a worse deal or an earlier trigger than it asked for: a buy limit rounds
/// down and a sell limit up; a stop's trigger (buy: at or above) rounds away from the
/// market, a buy up and a sell down; a market-if-touched trigger (buy: at or below) rounds
/// down for a buy and up for a sell. A trailing stop's trigger is the venue's to set.
/// Data finer than the tick is never refused: fills take the data's prices.
///
/// # Errors
/// A price so large that rounding it overflows.
pub(super) fn onto_tick(
    side: OrderSide,
    kind: OrderType,
    tick: i64,
    price: Option<i64>,
    trigger: Option<i64>,
) -> CoreResult<(Option<i64>, Option<i64>)> {
    if tick <= 1 {
        return Ok((price, trigger));
    }
    let buy = side == OrderSide::Buy;
    let price = price.map(|p| to_step(p, tick, !buy)).transpose()?;
    let trigger = match kind {
        OrderType::StopMarket | OrderType::StopLimit => {
            trigger.map(|t| to_step(t, tick, buy)).transpose()?
        }
        OrderType::MarketIfTouched => trigger.map(|t| to_step(t, tick, !buy)).transpose()?,
        _ => trigger,
    };
    Ok((price, trigger))
}

impl EngineState {
    fn record_denial(&mut self, ts: u64, order: &Order, d: &Denial, modify: bool) {
        self.denials.push(DenialRecord {
            ts,
            strategy_id: order.strategy_id,
            client_order_id: order.client_order_id,
            denial: d.clone(),
            modify,
        });
        super::record::keep_latest(&mut self.denials, self.keep_denials);
    }

    /// The order's prices on its instrument's tick (see [`onto_tick`]).
    pub(super) fn order_onto_tick(&self, order: &mut Order) -> CoreResult<()> {
        let Ok(k) = self.instrument_index(order.instrument.as_str()) else {
            return Ok(()); // the venue names an unknown instrument
        };
        let slot = &self.instruments[k];
        let (price, trigger) = onto_tick(
            order.side,
            order.order_type,
            slot.tick,
            order.price.map(Price::raw),
            order.trigger_price.map(Price::raw),
        )?;
        let at = |raw: i64| Price::from_raw_or_finer(raw, slot.price_precision);
        order.price = price.map(at);
        order.trigger_price = trigger.map(at);
        Ok(())
    }

    /// Risk, then venue, for one order; the events are queued. Returns its status.
    fn route(&mut self, mut order: Order) -> CoreResult<OrderStatus> {
        let ts = self.now;
        self.routed += 1;
        self.order_onto_tick(&mut order)?;
        if let Some(r) = self.risk.as_mut() {
            let mut req = OrderRequest::from_order(&order);
            req.whole_session = self.session_bar;
            if let Err(d) = r.check(&req, &self.venue, ts) {
                self.record_denial(ts, &order, &d, false);
                let mut ev = order.deny(UnixNanos(ts), d.to_string())?;
                ev.denial = Some(Box::new(d));
                self.pending.push(VenueEvent::Order(ev));
                // Kept with the closed orders: found by id (its terms recorded) and its id
                // never reused. A reused id was already refused, so this cannot fail.
                let _ = self.venue.record_denied(order);
                return Ok(OrderStatus::Denied);
            }
        }
        let id = order.client_order_id;
        self.scratch.clear();
        self.venue.submit(order, ts, &mut self.scratch)?;
        self.recorder.fills_from(&self.scratch);
        self.pending.append(&mut self.scratch);
        Ok(self
            .venue
            .order(id.as_str())
            .map_or(OrderStatus::Submitted, |o| o.status))
    }

    /// A fresh client order id for the strategy: `<strategy id>-<n>`.
    ///
    /// # Errors
    /// Unknown strategy; an id past `ClientOrderId`'s length (a strategy id of the longest
    /// kind after 10^15 orders).
    pub fn next_order_id(&mut self, strategy: usize) -> CoreResult<ClientOrderId> {
        let st = self
            .strategies
            .get_mut(strategy)
            .ok_or_else(|| CoreError::invalid("strategy", format!("no strategy #{strategy}")))?;
        st.orders += 1;
        ClientOrderId::numbered("client_order_id", &st.id, st.orders)
    }

    /// Send `order` for strategy `strategy` (whose id it must carry): pre-trade risk first
    /// (a refusal becomes a `denied` event with the structured reason), then the venue.
    ///
    /// # Errors
    /// Unknown strategy, an order of another strategy, or an invalid order.
    pub fn submit(&mut self, strategy: usize, order: Order) -> CoreResult<OrderStatus> {
        let sid = self.strategy(strategy)?.id;
        if order.strategy_id != sid {
            return Err(CoreError::invalid(
                "order",
                format!(
                    "strategy_id {:?} is not this strategy's ({sid:?})",
                    order.strategy_id
                ),
            ));
        }
        self.route(order)
    }

    /// A market order built in one call (the common case). Returns its client order id.
    ///
    /// # Errors
    /// Unknown strategy or an invalid quantity/instrument.
    pub fn submit_market(
        &mut self,
        strategy: usize,
        symbol: &str,
        side: OrderSide,
        quantity: Quantity,
    ) -> CoreResult<ClientOrderId> {
        let instrument = self.instruments[self.instrument_index(symbol)?].symbol;
        let oid = self.next_order_id(strategy)?;
        let sid = self.strategies[strategy].id;
        let order = Order::new(
            oid,
            sid,
            instrument,
            side,
            OrderType::Market,
            quantity,
            UnixNanos(self.now),
        );
        self.route(order)?;
        Ok(oid)
    }

    /// Flatten the strategy's position in `symbol`: cancel its working orders there, then a
    /// reduce-only market order (through risk like any other) for the rest. Returns the
    /// order id, or `None` when already flat.
    ///
    /// # Errors
    /// Unknown strategy.
    pub fn close_position(
        &mut self,
        strategy: usize,
        symbol: &str,
    ) -> CoreResult<Option<ClientOrderId>> {
        let sid = self.strategy(strategy)?.id;
        let working: Vec<ClientOrderId> = self
            .venue
            .open_orders()
            .filter(|o| o.strategy_id == sid && o.instrument == symbol)
            .map(|o| o.client_order_id)
            .collect();
        for oid in working {
            self.cancel(oid.as_str())?;
        }
        let held = self.position(strategy, symbol)?.map(|p| p.quantity);
        let Some(held) = held.filter(|q| !q.is_zero()) else {
            return Ok(None);
        };
        let instrument = self.instruments[self.instrument_index(symbol)?].symbol;
        let side = if held.is_positive() {
            OrderSide::Sell
        } else {
            OrderSide::Buy
        };
        let oid = self.next_order_id(strategy)?;
        let order = Order::new(
            oid,
            sid,
            instrument,
            side,
            OrderType::Market,
            held.checked_abs()?,
            UnixNanos(self.now),
        )
        .with_flags(true, false);
        self.route(order)?;
        Ok(Some(oid))
    }

    /// Cancel a working order; the outcome arrives as an order event.
    ///
    /// # Errors
    /// Unknown order id.
    pub fn cancel(&mut self, client_order_id: &str) -> CoreResult<()> {
        self.scratch.clear();
        self.venue
            .cancel(client_order_id, self.now, &mut self.scratch)?;
        self.pending.append(&mut self.scratch);
        Ok(())
    }

    /// Change a working order's quantity and/or prices. The order as it would be after the
    /// change passes the same pre-trade checks as a new order (collar, notional, buying
    /// power, position, trading hours, state ...), with the order itself taken out of the
    /// working orders it would otherwise be counted against. A refusal is a
    /// `modify_rejected` event carrying the denial; outcomes arrive as order events.
    ///
    /// # Errors
    /// Unknown order id, or invalid values.
    pub fn modify(
        &mut self,
        client_order_id: &str,
        quantity: Option<i64>,
        price: Option<i64>,
        trigger_price: Option<i64>,
    ) -> CoreResult<()> {
        let ts = self.now;
        let (mut price, mut trigger_price) = (price, trigger_price);
        if let Some(order) = self.venue.order(client_order_id) {
            let tick = self
                .instrument_index(order.instrument.as_str())
                .map_or(1, |k| self.instruments[k].tick);
            (price, trigger_price) =
                onto_tick(order.side, order.order_type, tick, price, trigger_price)?;
        }
        if let (Some(order), Some(r)) = (self.venue.order(client_order_id), self.risk.as_mut()) {
            if order.status.is_open() {
                let mut changed = order.clone();
                if let Some(q) = quantity {
                    changed.quantity = Quantity::from_raw_or_finer(q, order.quantity.precision());
                }
                if let Some(p) = price {
                    changed.price = Some(Price::from_raw_or_finer(p, 0));
                }
                if let Some(t) = trigger_price {
                    changed.trigger_price = Some(Price::from_raw_or_finer(t, 0));
                }
                let mut req = OrderRequest::from_order(&changed);
                req.whole_session = self.session_bar;
                // Only what is still to trade can add exposure.
                req.quantity = changed.leaves_raw();
                let view = Without {
                    venue: &self.venue,
                    order,
                };
                if req.quantity > 0 {
                    if let Err(d) = r.check(&req, &view, ts) {
                        let ev = OrderEvent {
                            client_order_id: order.client_order_id,
                            strategy_id: order.strategy_id,
                            instrument: order.instrument,
                            kind: OrderEventKind::ModifyRejected,
                            status: order.status,
                            ts: UnixNanos(ts),
                            reason: d.to_string(),
                            fill: None,
                            denial: Some(Box::new(d.clone())),
                            modified: None,
                        };
                        let order = order.clone();
                        self.record_denial(ts, &order, &d, true);
                        self.pending.push(VenueEvent::Order(ev));
                        return Ok(());
                    }
                }
            }
        }
        self.scratch.clear();
        self.venue.modify(
            client_order_id,
            quantity,
            price,
            trigger_price,
            ts,
            &mut self.scratch,
        )?;
        self.recorder.fills_from(&self.scratch);
        self.pending.append(&mut self.scratch);
        Ok(())
    }

    /// Quantity for a sizing `method` on this account at `price` (or the last price),
    /// rounded down to the instrument's lot; with a risk engine also clipped to what its
    /// limits allow. Without one, the account's equity is used with no limits.
    ///
    /// # Errors
    /// Unknown strategy or instrument, bad sizing parameters, no price known.
    pub fn size(
        &self,
        strategy: usize,
        symbol: &str,
        method: &Sizing,
        side: OrderSide,
        price: Option<i64>,
    ) -> CoreResult<i64> {
        let sid = self.strategy(strategy)?.id;
        let ins = &self.instruments[self.instrument_index(symbol)?];
        if let Some(r) = &self.risk {
            return r.size_order(method, sid.as_str(), symbol, side, price, &self.venue);
        }
        let px = price
            .or_else(|| self.venue.portfolio().mark_of(symbol))
            .ok_or_else(|| {
                CoreError::invalid(
                    "price",
                    format!("no price given and no last price for {symbol}"),
                )
            })?;
        crate::risk::size(method, self.venue.portfolio().equity(), px, ins.lot)
    }
}

/// The venue's account as risk sees it, without one working order: a changed order is
/// checked as if it replaced itself, not as an addition to itself.
struct Without<'a> {
    venue: &'a crate::venue::SimulatedVenue,
    order: &'a Order,
}

impl Without<'_> {
    fn is_mine(&self, strategy_id: Option<&str>) -> bool {
        strategy_id.is_none_or(|s| self.order.strategy_id == s)
    }
}

impl AccountView for Without<'_> {
    fn equity(&self) -> i128 {
        self.venue.equity()
    }
    fn totals(&self) -> Totals {
        self.venue.totals()
    }
    fn cash(&self) -> i128 {
        self.venue.cash()
    }
    fn buying_power(&self) -> i128 {
        self.venue.buying_power()
    }
    fn pending_buy_notional(&self) -> i128 {
        let mine = if self.order.side == OrderSide::Buy {
            let o = self.order;
            let px = o
                .price
                .or(o.trigger_price)
                .map(Price::raw)
                .or_else(|| self.venue.portfolio().mark_at(&o.instrument))
                .unwrap_or(0);
            notional(o.leaves_raw(), px)
        } else {
            0
        };
        self.venue.pending_buy_notional() - mine
    }
    fn shorts_allowed(&self) -> bool {
        self.venue.shorts_allowed()
    }
    fn position_quantity(&self, instrument: &str) -> i64 {
        self.venue.position_quantity(instrument)
    }
    fn strategy_position_quantity(&self, strategy_id: &str, instrument: &str) -> i64 {
        self.venue
            .strategy_position_quantity(strategy_id, instrument)
    }
    fn last_price(&self, instrument: &str) -> Option<i64> {
        self.venue.last_price(instrument)
    }
    fn gross_exposure(&self) -> i128 {
        self.venue.gross_exposure()
    }
    fn net_exposure(&self) -> i128 {
        self.venue.net_exposure()
    }
    fn open_positions(&self) -> u32 {
        self.venue.open_positions()
    }
    fn total_pnl(&self) -> i128 {
        self.venue.total_pnl()
    }
    fn strategy_pnl(&self, strategy_id: &str) -> i128 {
        self.venue.strategy_pnl(strategy_id)
    }
    fn open_orders(&self, strategy_id: Option<&str>) -> u32 {
        let n = AccountView::open_orders(self.venue, strategy_id);
        n.saturating_sub(u32::from(self.is_mine(strategy_id)))
    }
    fn sells_in_flight(&self, instrument: &str) -> i64 {
        let all = self.venue.sells_in_flight(instrument);
        let o = self.order;
        // The order being changed is not in flight beside itself.
        if o.is_sell_in_flight(instrument) {
            all - o.leaves_raw()
        } else {
            all
        }
    }
    fn working_quantity(
        &self,
        strategy_id: Option<&str>,
        instrument: &str,
        side: OrderSide,
    ) -> i64 {
        let all = self.venue.working_quantity(strategy_id, instrument, side);
        let o = self.order;
        if self.is_mine(strategy_id) && o.instrument == instrument && o.side == side {
            all - o.leaves_raw()
        } else {
            all
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::onto_tick;
    use crate::orders::{OrderSide, OrderType};

    const TICK: i64 = 10_000_000; // 0.01

    #[test]
    fn prices_round_to_the_side_that_never_worsens_the_order() {
        let p = Some(10_005_000_000); // 10.005
        let buy = onto_tick(OrderSide::Buy, OrderType::Limit, TICK, p, None).unwrap();
        let sell = onto_tick(OrderSide::Sell, OrderType::Limit, TICK, p, None).unwrap();
        assert_eq!(buy, (Some(10_000_000_000), None)); // pays at most 10.00
        assert_eq!(sell, (Some(10_010_000_000), None)); // receives at least 10.01
        let stop = onto_tick(OrderSide::Buy, OrderType::StopMarket, TICK, None, p).unwrap();
        assert_eq!(stop, (None, Some(10_010_000_000))); // triggers no earlier than asked
        let mit = onto_tick(OrderSide::Buy, OrderType::MarketIfTouched, TICK, None, p).unwrap();
        assert_eq!(mit, (None, Some(10_000_000_000)));
        // A trailing stop's trigger is the venue's; prices on the tick stay as they are.
        let trail = onto_tick(
            OrderSide::Sell,
            OrderType::TrailingStopMarket,
            TICK,
            None,
            p,
        );
        assert_eq!(trail.unwrap(), (None, p));
        let on = Some(10_010_000_000);
        assert_eq!(
            onto_tick(OrderSide::Buy, OrderType::Limit, TICK, on, None).unwrap(),
            (on, None)
        );
    }

    proptest! {
        #[test]
        fn rounded_prices_sit_on_the_tick_within_one_tick_on_the_safe_side(
            raw in 1_i64..1_000_000_000_000_000,
            tick in 1_i64..1_000_000_000,
            buy in any::<bool>(),
        ) {
            let side = if buy { OrderSide::Buy } else { OrderSide::Sell };
            let (p, t) = onto_tick(side, OrderType::StopLimit, tick, Some(raw), Some(raw)).unwrap();
            let (p, t) = (p.unwrap(), t.unwrap());
            prop_assert_eq!(p % tick, 0);
            prop_assert_eq!(t % tick, 0);
            prop_assert!((p - raw).abs() < tick && (t - raw).abs() < tick);
            if buy {
                prop_assert!(p <= raw && t >= raw); // limit never higher, trigger never lower
            } else {
                prop_assert!(p >= raw && t <= raw);
            }
        }
    }
}
