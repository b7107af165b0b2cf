//! The simulated venue: accepts orders, fills them against market data, books the fills
//! in the portfolio.
//!
//! # Fill rules (see `docs/venue.md` for the full statement)
//! * **Bars** are walked as a price path: a bar that closes at or above its open goes
//!   O→L→H→C, one that closes below goes O→H→L→C. First every order is checked at the open
//!   (a *point*: gapped stops, marketable limits and pending market orders fill at the open),
//!   then each leg is walked and orders fill where the path first touches their level: a
//!   limit at its limit price, a stop at its trigger plus slippage, a market-if-touched at
//!   its trigger. Fills never leave `[low, high]`.
//! * **Quotes**: buys trade at the ask, sells at the bid, up to the displayed size.
//! * **Trades**: a point at the trade price, up to `participation × size`.
//! * Orders are checked in venue-order-id (arrival) order at each price, which with the path
//!   gives price-time priority among resting limits.

mod external;
mod models;
pub mod session;

pub use external::{BrokerFill, BrokerUpdate, BrokerUpdateKind, Outgoing, OutgoingKind};
pub use models::{CommissionModel, MarketFillTiming, SlippageModel, VenueConfig};

use std::collections::{BTreeMap, BTreeSet};

use crate::book::{BookLevel, OrderBook};
use crate::error::{CoreError, CoreResult};
use crate::orders::{
    Fill, LiquiditySide, Order, OrderEvent, OrderEventKind, OrderSide, OrderStatus, OrderType,
    TimeInForce,
};
use crate::portfolio::{notional, Portfolio, PositionEvent};
use crate::types::{
    Bar, ClientOrderId, IdIndex, IdMap, Instrument, Money, Price, Quantity, QuoteTick, Symbol,
    TradeTick, UnixNanos, FIXED_PRECISION, FIXED_SCALE,
};

/// Everything the venue reports, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VenueEvent {
    Order(OrderEvent),
    Position(PositionEvent),
}

#[derive(Debug, Clone)]
struct Working {
    order: Order,
    arrival: u64,
    expire: Option<u64>,
    /// A contingent child waiting for its parent.
    dormant: bool,
    /// Has taken part in a price check (IOC/FOK end there; a limit that rested is a maker).
    seen: bool,
    watermark: Option<i64>,
    parent: Option<u64>,
    children: Vec<u64>,
    oco: Vec<u64>,
    notional: i128,
    commission: i128,
    in_book: bool,
    /// External mode: a modify sent to the broker, applied when it accepts it.
    pending_modify: Option<(Option<Quantity>, Option<Price>, Option<Price>)>,
}

impl Working {
    /// An order as it enters the venue: not yet arrived, linked or priced.
    fn new(order: Order) -> Self {
        Self {
            order,
            arrival: 0,
            expire: None,
            dormant: false,
            seen: false,
            watermark: None,
            parent: None,
            children: Vec::new(),
            oco: Vec::new(),
            notional: 0,
            commission: 0,
            in_book: false,
            pending_modify: None,
        }
    }
}

#[derive(Debug, Clone)]
struct Market {
    symbol: Symbol,
    tick: i64,
    lot: i64,
    /// Decimal places fills are declared with (the tick's and the lot's).
    price_precision: u8,
    size_precision: u8,
    /// Accepted, working orders by venue order id (arrival order).
    live: BTreeSet<u64>,
    book: OrderBook,
    last_price: Option<i64>,
    last_volume: i64,
    last_range: Option<(i64, i64)>,
    /// Time of the last market data of this instrument: a bar's close, a quote's or a
    /// trade's time (0: none yet).
    last_data_ts: u64,
    /// Working trailing stops (their watermarks move with every price).
    trailing: usize,
    /// Working IOC/FOK orders (cancelled after their first price check).
    immediate: usize,
    /// The portfolio's number for this instrument's mark, once it has one (saves a
    /// lookup per bar).
    mark_slot: Option<usize>,
}

impl Market {
    fn new(symbol: Symbol) -> Self {
        Self {
            symbol,
            tick: 1,
            lot: 1,
            price_precision: FIXED_PRECISION,
            size_precision: FIXED_PRECISION,
            live: BTreeSet::new(),
            book: OrderBook::default(),
            last_price: None,
            last_volume: 0,
            last_range: None,
            last_data_ts: 0,
            trailing: 0,
            immediate: 0,
            mark_slot: None,
        }
    }

    fn insert(&mut self, id: u64, o: &Order) {
        if self.live.insert(id) {
            self.trailing += usize::from(o.order_type == OrderType::TrailingStopMarket);
            self.immediate += usize::from(matches!(
                o.time_in_force,
                TimeInForce::Ioc | TimeInForce::Fok
            ));
        }
    }

    fn remove(&mut self, id: u64, o: &Order) {
        if self.live.remove(&id) {
            self.trailing -= usize::from(o.order_type == OrderType::TrailingStopMarket);
            self.immediate -= usize::from(matches!(
                o.time_in_force,
                TimeInForce::Ioc | TimeInForce::Fok
            ));
        }
    }
}

/// The venue's markets: a list (the per-bar path indexes it directly, once the symbol of
/// the data event is resolved) and the symbol → index map.
#[derive(Debug, Clone, Default)]
struct Markets {
    list: Vec<Market>,
    index: IdIndex<Symbol>,
}

impl Markets {
    #[inline]
    fn ix<Q: std::hash::Hash + Eq + ?Sized>(&self, symbol: &Q) -> Option<usize>
    where
        Symbol: std::borrow::Borrow<Q>,
    {
        self.index.get(symbol)
    }

    #[inline]
    fn get<Q: std::hash::Hash + Eq + ?Sized>(&self, symbol: &Q) -> Option<&Market>
    where
        Symbol: std::borrow::Borrow<Q>,
    {
        self.ix(symbol).map(|i| &self.list[i])
    }

    #[inline]
    fn get_mut(&mut self, symbol: &Symbol) -> Option<&mut Market> {
        self.ix(symbol).map(|i| &mut self.list[i])
    }

    fn entry(&mut self, symbol: Symbol) -> &mut Market {
        let (i, new) = self.index.insert(symbol);
        if new {
            self.list.push(Market::new(symbol));
        }
        &mut self.list[i]
    }
}

/// Prices and capacity of one data event.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    lo: i64,
    hi: i64,
    slippage: bool,
    volume: i64,
    cap_buy: Option<i64>,
    cap_sell: Option<i64>,
    ts: u64,
}

/// How an order would execute at a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eff {
    Market,
    Limit(i64),
    Stop(i64),
    Mit(i64),
}

fn effective(o: &Order) -> Eff {
    let trig = o.trigger_price.map_or(0, Price::raw);
    match (o.order_type, o.triggered) {
        (OrderType::Market, _)
        | (
            OrderType::StopMarket | OrderType::MarketIfTouched | OrderType::TrailingStopMarket,
            true,
        ) => Eff::Market,
        (OrderType::Limit, _) | (OrderType::StopLimit, true) => {
            Eff::Limit(o.price.map_or(0, Price::raw))
        }
        (OrderType::StopMarket | OrderType::StopLimit | OrderType::TrailingStopMarket, false) => {
            Eff::Stop(trig)
        }
        (OrderType::MarketIfTouched, false) => Eff::Mit(trig),
    }
}

/// The simulated venue and the account it books fills into.
#[derive(Debug, Clone)]
pub struct SimulatedVenue {
    config: VenueConfig,
    portfolio: Portfolio,
    /// Looked up several times per bar: hashed on the inline symbol.
    markets: Markets,
    orders: BTreeMap<u64, Working>,
    closed: IdMap<u64, Working>,
    ids: IdMap<ClientOrderId, u64>,
    inflight: BTreeSet<(u64, u64)>,
    expiries: BTreeSet<(u64, u64)>,
    next_id: u64,
    next_trade: u64,
    now: u64,
    scratch: Vec<u64>,
    positions_buf: Vec<PositionEvent>,
    /// External-venue mode (`external.rs`): a broker matches, this venue keeps the books.
    external: bool,
    /// External mode: requests for the broker, taken by the driver.
    outgoing: Vec<Outgoing>,
    /// Tests turn the quiet-bar shortcut off to compare it with the full path.
    #[cfg(test)]
    full_path_only: bool,
}

impl SimulatedVenue {
    #[must_use]
    pub fn new(config: VenueConfig, portfolio: Portfolio) -> Self {
        Self {
            config,
            portfolio,
            markets: Markets::default(),
            orders: BTreeMap::new(),
            closed: IdMap::default(),
            ids: IdMap::default(),
            inflight: BTreeSet::new(),
            expiries: BTreeSet::new(),
            next_id: 1,
            next_trade: 1,
            now: 0,
            scratch: Vec::new(),
            positions_buf: Vec::new(),
            external: false,
            outgoing: Vec::new(),
            #[cfg(test)]
            full_path_only: false,
        }
    }

    #[must_use]
    pub fn config(&self) -> &VenueConfig {
        &self.config
    }

    #[must_use]
    pub fn portfolio(&self) -> &Portfolio {
        &self.portfolio
    }

    /// Book a fill made before a restart into the account (cash, the account's and the
    /// strategy's positions) in raw units, as when it happened: no order, no event.
    ///
    /// # Errors
    /// A non-positive quantity or price, a negative commission.
    #[allow(clippy::too_many_arguments)]
    pub fn restore_fill(
        &mut self,
        strategy: crate::types::StrategyId,
        instrument: Symbol,
        side: OrderSide,
        quantity: Quantity,
        price: Price,
        commission_raw: i64,
        ts: u64,
    ) -> CoreResult<()> {
        let currency = self.config.currency;
        let commission =
            Money::from_raw_or_finer(commission_raw, currency.default_precision(), currency);
        let mut events = Vec::new();
        self.portfolio.apply_fill(
            strategy,
            instrument,
            side,
            quantity,
            price,
            commission,
            UnixNanos(ts),
            &mut events,
        )
    }

    /// Put an order that was working before a restart back to work, as it was: accepted
    /// (triggered, for a stop-limit whose stop had been hit), with the fills it had
    /// (`(quantity, price, commission raw)` each), resting in the book and the market
    /// without a risk check, an event or a match now (it matches on the next data, as a
    /// resting order does). Its later fills continue its average price and commission.
    ///
    /// # Errors
    /// An invalid or reused order, an order linked to others (bracket, OCO, OTO: their
    /// links cannot be rebuilt one order at a time), an instrument not traded here, fills
    /// that complete the order or do not fit it.
    pub fn restore_order(
        &mut self,
        order: Order,
        fills: &[(Quantity, Price, i64)],
        triggered: bool,
        ts: u64,
    ) -> CoreResult<()> {
        let oid = order.client_order_id;
        if order.parent_order_id.is_some()
            || !order.child_order_ids.is_empty()
            || !order.linked_order_ids.is_empty()
        {
            return Err(CoreError::invalid(
                "order",
                format!("{oid}: a linked order (bracket, OCO, OTO) cannot be restored alone"),
            ));
        }
        if matches!(order.time_in_force, TimeInForce::Ioc | TimeInForce::Fok) {
            return Err(CoreError::invalid(
                "order",
                format!("{oid}: an IOC or FOK order never rests, so it cannot be restored"),
            ));
        }
        if self.markets.get(&order.instrument).is_none() {
            return Err(CoreError::invalid(
                "order",
                format!("{oid}: {} is not traded here", order.instrument),
            ));
        }
        let filled: i64 = fills.iter().map(|(q, _, _)| q.raw()).sum();
        if filled >= order.quantity.raw() {
            return Err(CoreError::invalid(
                "fills",
                format!("{oid}: the fills complete the order; it is not working"),
            ));
        }
        self.now = self.now.max(ts);
        let id = self.register(order)?;
        let result = self.resume_working(id, fills, triggered, ts);
        if result.is_err() {
            // Nothing half-restored: the order leaves no trace.
            if let Some(w) = self.orders.remove(&id) {
                self.ids.remove(&w.order.client_order_id);
            }
        }
        result
    }

    fn resume_working(
        &mut self,
        id: u64,
        fills: &[(Quantity, Price, i64)],
        triggered: bool,
        ts: u64,
    ) -> CoreResult<()> {
        let currency = self.config.currency;
        let w = self
            .orders
            .get_mut(&id)
            .ok_or_else(|| CoreError::InvalidState(format!("order {id} is not working")))?;
        let at = UnixNanos(ts);
        w.order.apply(OrderEventKind::Submitted, at, "", None)?;
        w.order.apply(OrderEventKind::Accepted, at, "", None)?;
        if triggered && w.order.order_type == OrderType::StopLimit {
            w.order.apply(OrderEventKind::Triggered, at, "", None)?;
        }
        for &(quantity, price, commission) in fills {
            if !price.is_positive() || commission < 0 {
                return Err(CoreError::invalid(
                    "fills",
                    format!(
                        "{}: a fill at {price} with commission {commission}",
                        w.order.client_order_id
                    ),
                ));
            }
            let fill = Fill {
                trade_id: 0,
                venue_order_id: id,
                side: w.order.side,
                quantity,
                price,
                commission: Money::from_raw_or_finer(
                    commission,
                    currency.default_precision(),
                    currency,
                ),
                liquidity: LiquiditySide::Maker,
            };
            w.order.apply(OrderEventKind::Filled, at, "", Some(fill))?;
            w.notional += notional(quantity.raw(), price.raw());
            w.commission += i128::from(commission);
        }
        w.arrival = ts;
        // It has rested: a later fill is a maker's, and no IOC/FOK end applies.
        w.seen = true;
        self.place(id, ts)
    }

    /// Keep an order the pre-trade risk check refused (status `denied`) among the closed
    /// orders: it can be looked up like any other (what a recorder needs for its terms),
    /// and its client order id counts as used. Nothing else happens to it.
    ///
    /// # Errors
    /// An order that is not denied, or whose client order id is taken.
    pub fn record_denied(&mut self, order: Order) -> CoreResult<()> {
        if order.status != OrderStatus::Denied {
            return Err(CoreError::InvalidState(format!(
                "order {} is {}, not denied",
                order.client_order_id, order.status
            )));
        }
        let id = self.claim_id(order.client_order_id)?;
        self.closed.insert(id, Working::new(order));
        Ok(())
    }

    /// Number the venue's next trades after `n` (a restarted venue: a trade id, and so a
    /// fill id, is never used twice). Never goes back.
    pub fn resume_trade_ids(&mut self, n: u64) {
        self.next_trade = self.next_trade.max(n.saturating_add(1));
    }

    /// The venue's clock: the latest timestamp it has seen.
    #[must_use]
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Register an instrument with its tick and lot sizes (raw units); fills are declared
    /// with as many decimal places as the tick and the lot have.
    ///
    /// # Errors
    /// `InvalidInput` for a symbol that is not a valid `Symbol`, a non-positive tick or lot.
    pub fn add_instrument_raw(&mut self, symbol: &str, tick: i64, lot: i64) -> CoreResult<()> {
        let symbol = Symbol::new("instrument", symbol)?;
        self.add_market(symbol, tick, lot, places(tick), places(lot))
    }

    /// Register an instrument.
    ///
    /// # Errors
    /// As `add_instrument_raw`.
    pub fn add_instrument(&mut self, instrument: &Instrument) -> CoreResult<()> {
        self.add_market(
            instrument.symbol,
            instrument.tick_size.raw(),
            instrument.lot_size.raw(),
            instrument.price_precision,
            instrument.size_precision,
        )
    }

    fn add_market(
        &mut self,
        symbol: Symbol,
        tick: i64,
        lot: i64,
        price_precision: u8,
        size_precision: u8,
    ) -> CoreResult<()> {
        if tick <= 0 {
            return Err(CoreError::invalid("tick_size", "must be > 0"));
        }
        if lot <= 0 {
            return Err(CoreError::invalid("lot_size", "must be > 0"));
        }
        let m = self.markets.entry(symbol);
        m.tick = tick;
        m.lot = lot;
        m.price_precision = price_precision.min(FIXED_PRECISION);
        m.size_precision = size_precision.min(FIXED_PRECISION);
        Ok(())
    }

    /// An order by client id (working or closed).
    #[must_use]
    pub fn order(&self, client_order_id: &str) -> Option<&Order> {
        let id = self.ids.get(client_order_id)?;
        self.orders
            .get(id)
            .or_else(|| self.closed.get(id))
            .map(|w| &w.order)
    }

    /// Orders not yet terminal (in flight, contingent or working), in venue-id order.
    pub fn open_orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values().map(|w| &w.order)
    }

    /// Closed (terminal) orders still kept for [`Self::order`].
    #[must_use]
    pub fn closed_count(&self) -> usize {
        self.closed.len()
    }

    /// Forget closed orders (long runs keep memory flat); returns how many were dropped.
    pub fn purge_closed(&mut self) -> usize {
        let n = self.closed.len();
        for w in self.closed.values() {
            self.ids.remove(&w.order.client_order_id);
        }
        self.closed.clear();
        n
    }

    /// L2 depth of the resting limit orders at this venue.
    #[must_use]
    pub fn depth(&self, instrument: &str, side: OrderSide, levels: usize) -> Vec<BookLevel> {
        self.markets
            .get(instrument)
            .map_or_else(Vec::new, |m| m.book.depth(side, levels))
    }

    // ----------------------------------------------------------------------------- commands

    /// A venue order id for `client_order_id`, which must not have been used here.
    fn claim_id(&mut self, client_order_id: ClientOrderId) -> CoreResult<u64> {
        if self.ids.contains_key(&client_order_id) {
            return Err(CoreError::invalid(
                "client_order_id",
                format!("{client_order_id} already used"),
            ));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.ids.insert(client_order_id, id);
        Ok(id)
    }

    fn register(&mut self, mut order: Order) -> CoreResult<u64> {
        order.validate()?;
        if order.status != OrderStatus::Initialized {
            return Err(CoreError::InvalidState(format!(
                "order {} is {}, not initialized",
                order.client_order_id, order.status
            )));
        }
        let id = self.claim_id(order.client_order_id)?;
        order.venue_order_id = Some(id);
        self.orders.insert(id, Working::new(order));
        Ok(id)
    }

    fn send(&mut self, id: u64, ts: u64, out: &mut Vec<VenueEvent>) -> CoreResult<()> {
        if self.external {
            return self.send_external(id, ts, out);
        }
        self.emit(id, OrderEventKind::Submitted, ts, "", None, out)?;
        let arrival = ts.saturating_add(self.config.latency_ns);
        if let Some(w) = self.orders.get_mut(&id) {
            w.arrival = arrival;
        }
        if self.config.latency_ns == 0 {
            self.arrive(id, ts, out)
        } else {
            self.inflight.insert((arrival, id));
            Ok(())
        }
    }

    /// Submit one order at `ts`. Emits `submitted`, then (after the latency) `accepted` or
    /// `rejected`; fills follow as data arrives.
    ///
    /// # Errors
    /// `InvalidInput` for an invalid order or a reused client id; `InvalidState` if the order
    /// is not `Initialized`. Business refusals are `rejected` events, not errors.
    pub fn submit(&mut self, order: Order, ts: u64, out: &mut Vec<VenueEvent>) -> CoreResult<()> {
        self.now = self.now.max(ts);
        let id = self.register(order)?;
        self.send(id, ts, out)
    }

    /// Submit orders linked one-cancels-other: a fill of one reduces the others by the same
    /// quantity (cancelling them once nothing is left); cancelling, expiring or rejecting one
    /// cancels the others.
    ///
    /// # Errors
    /// As `submit`; nothing is submitted if any order is invalid.
    pub fn submit_oco(
        &mut self,
        orders: Vec<Order>,
        ts: u64,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<()> {
        let ids = self.register_all(orders)?;
        self.link_oco(&ids);
        for id in ids {
            self.send(id, ts, out)?;
        }
        Ok(())
    }

    /// Submit a parent with children that are released (submitted to the book) once the
    /// parent is completely filled. If the parent ends with a partial fill, the children are
    /// released for the filled quantity; with no fill, they are cancelled.
    ///
    /// # Errors
    /// As `submit`.
    pub fn submit_oto(
        &mut self,
        parent: Order,
        children: Vec<Order>,
        ts: u64,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<()> {
        let mut all = vec![parent];
        all.extend(children);
        let ids = self.register_all(all)?;
        self.link_oto(&ids);
        self.send_oto(&ids, ts, out)
    }

    /// Submit a bracket: `entry`, then on its fill a take-profit and a stop-loss linked OCO.
    ///
    /// # Errors
    /// As `submit`; also `InvalidInput` if the exits are not on the opposite side.
    pub fn submit_bracket(
        &mut self,
        entry: Order,
        take_profit: Order,
        stop_loss: Order,
        ts: u64,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<()> {
        if take_profit.side == entry.side || stop_loss.side == entry.side {
            return Err(CoreError::invalid(
                "side",
                "bracket exits must be on the opposite side of the entry",
            ));
        }
        let ids = self.register_all(vec![entry, take_profit, stop_loss])?;
        self.link_oto(&ids);
        self.link_oco(&ids[1..]);
        self.send_oto(&ids, ts, out)
    }

    fn register_all(&mut self, orders: Vec<Order>) -> CoreResult<Vec<u64>> {
        if self.external {
            // The broker links them (Alpaca's order classes); not routed from here yet.
            return Err(CoreError::invalid(
                "orders",
                "linked orders (OCO, OTO, bracket) cannot be sent to an external venue yet",
            ));
        }
        for o in &orders {
            o.validate()?;
            if self.ids.contains_key(&o.client_order_id) {
                return Err(CoreError::invalid(
                    "client_order_id",
                    format!("{} already used", o.client_order_id),
                ));
            }
        }
        let mut seen = BTreeSet::new();
        if !orders.iter().all(|o| seen.insert(o.client_order_id)) {
            return Err(CoreError::invalid(
                "client_order_id",
                "duplicate within the list",
            ));
        }
        orders.into_iter().map(|o| self.register(o)).collect()
    }

    fn link_oco(&mut self, ids: &[u64]) {
        let names: Vec<(u64, ClientOrderId)> = ids
            .iter()
            .filter_map(|id| Some((*id, self.orders.get(id)?.order.client_order_id)))
            .collect();
        for id in ids {
            if let Some(w) = self.orders.get_mut(id) {
                for (other, name) in &names {
                    if other != id {
                        w.oco.push(*other);
                        w.order.linked_order_ids.push(*name);
                    }
                }
            }
        }
    }

    fn link_oto(&mut self, ids: &[u64]) {
        let Some((&parent, children)) = ids.split_first() else {
            return;
        };
        let parent_name = self.orders.get(&parent).map(|w| w.order.client_order_id);
        for c in children {
            if let Some(w) = self.orders.get_mut(c) {
                w.parent = Some(parent);
                w.dormant = true;
                w.order.parent_order_id = parent_name;
                let name = w.order.client_order_id;
                if let Some(p) = self.orders.get_mut(&parent) {
                    p.children.push(*c);
                    p.order.child_order_ids.push(name);
                }
            }
        }
    }

    fn send_oto(&mut self, ids: &[u64], ts: u64, out: &mut Vec<VenueEvent>) -> CoreResult<()> {
        self.now = self.now.max(ts);
        for &c in &ids[1..] {
            self.emit(
                c,
                OrderEventKind::Submitted,
                ts,
                "contingent on parent",
                None,
                out,
            )?;
        }
        self.send(ids[0], ts, out)
    }

    /// Request a cancel. A closed order answers with `cancel_rejected`.
    ///
    /// # Errors
    /// `InvalidInput` for an unknown client id.
    pub fn cancel(
        &mut self,
        client_order_id: &str,
        ts: u64,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<()> {
        self.now = self.now.max(ts);
        let id = self.lookup(client_order_id)?;
        if !self.orders.contains_key(&id) {
            let status = self
                .closed
                .get(&id)
                .map_or("closed", |w| w.order.status.as_str());
            return self.emit_closed(
                id,
                OrderEventKind::CancelRejected,
                ts,
                &format!("order already {status}"),
                out,
            );
        }
        if self.external {
            // The broker answers (`cancelled` or `cancel_rejected`).
            self.queue_cancel(id, ts);
            return Ok(());
        }
        self.terminate(
            id,
            OrderEventKind::Cancelled,
            ts,
            "cancelled by request",
            out,
        )
    }

    /// Request a change of quantity, limit price and/or trigger price of a working order.
    /// A refused request answers with `modify_rejected` and changes nothing.
    ///
    /// # Errors
    /// `InvalidInput` for an unknown client id.
    pub fn modify(
        &mut self,
        client_order_id: &str,
        quantity: Option<i64>,
        price: Option<i64>,
        trigger_price: Option<i64>,
        ts: u64,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<()> {
        self.now = self.now.max(ts);
        let id = self.lookup(client_order_id)?;
        let Some(w) = self.orders.get(&id) else {
            return self.emit_closed(id, OrderEventKind::ModifyRejected, ts, "order closed", out);
        };
        let o = &w.order;
        let (lot, tick, size_places, price_places) = self
            .markets
            .get(&o.instrument)
            .map_or((1, 1, FIXED_PRECISION, FIXED_PRECISION), |m| {
                (m.lot, m.tick, m.size_precision, m.price_precision)
            });
        let refuse = if !o.status.is_open() {
            Some(format!("order is {}", o.status))
        } else if quantity.is_some_and(|q| q <= o.filled_qty.raw() || q % lot != 0) {
            Some("quantity must exceed the filled quantity and be a multiple of the lot".into())
        } else if price.is_some() && o.price.is_none() {
            Some(format!("a {} order has no limit price", o.order_type))
        } else if trigger_price.is_some() && (o.trigger_price.is_none() || o.triggered) {
            Some("no pending trigger to change".into())
        } else if price
            .into_iter()
            .chain(trigger_price)
            .any(|p| p <= 0 || p % tick != 0)
        {
            Some("prices must be > 0 and on the tick".into())
        } else if o.post_only && price.is_some_and(|p| self.crosses(o.instrument, o.side, p)) {
            Some("post-only order would take liquidity".into())
        } else {
            None
        };
        if let Some(reason) = refuse {
            return self.emit(id, OrderEventKind::ModifyRejected, ts, &reason, None, out);
        }
        if self.external {
            let o = &w.order;
            let q = quantity
                .map(|q| Quantity::from_raw_or_finer(q, o.quantity.precision().max(size_places)));
            let at = |p: i64, was: Option<Price>| {
                let places = was.map_or(price_places, Price::precision);
                Price::from_raw_or_finer(p, places.max(price_places))
            };
            let p = price.map(|p| at(p, o.price));
            let t = trigger_price.map(|t| at(t, o.trigger_price));
            self.queue_modify(id, (q, p, t), ts);
            return Ok(());
        }
        if let Some(w) = self.orders.get_mut(&id) {
            if let Some(q) = quantity {
                let places = w.order.quantity.precision().max(size_places);
                w.order.quantity = Quantity::from_raw_or_finer(q, places);
            }
            if let Some(p) = price {
                let places = w.order.price.map_or(price_places, Price::precision);
                w.order.price = Some(Price::from_raw_or_finer(p, places.max(price_places)));
            }
            if let Some(t) = trigger_price {
                let places = w.order.trigger_price.map_or(price_places, Price::precision);
                w.order.trigger_price = Some(Price::from_raw_or_finer(t, places.max(price_places)));
            }
            if w.in_book {
                let (p, q) = (w.order.price.map_or(0, Price::raw), w.order.leaves_raw());
                if let Some(m) = self.markets.get_mut(&w.order.instrument) {
                    m.book.modify(id, p, q)?;
                }
            }
        }
        self.emit(id, OrderEventKind::ModifyAccepted, ts, "", None, out)
    }

    fn lookup(&self, client_order_id: &str) -> CoreResult<u64> {
        self.ids.get(client_order_id).copied().ok_or_else(|| {
            CoreError::invalid(
                "client_order_id",
                format!("unknown order {client_order_id}"),
            )
        })
    }

    /// Would a limit at `price` on `side` take liquidity at the last known price?
    fn crosses(&self, instrument: Symbol, side: OrderSide, price: i64) -> bool {
        self.markets
            .get(&instrument)
            .and_then(|m| m.last_price)
            .is_some_and(|last| match side {
                OrderSide::Buy => price >= last,
                OrderSide::Sell => price <= last,
            })
    }

    // -------------------------------------------------------------------- data processing

    /// Process a bar: its timestamp is its close time, it opened one interval earlier.
    ///
    /// # Errors
    /// `InvalidInput` for an unregistered instrument.
    pub fn process_bar(&mut self, bar: &Bar, out: &mut Vec<VenueEvent>) -> CoreResult<()> {
        let ts_close = bar.ts_event.0;
        self.process_bar_raw(
            bar.bar_type.symbol,
            ts_close.saturating_sub(bar.bar_type.interval.as_nanos()),
            ts_close,
            [
                bar.open.raw(),
                bar.high.raw(),
                bar.low.raw(),
                bar.close.raw(),
            ],
            bar.volume.raw(),
            out,
        )
    }

    /// Process a bar given as raw `[open, high, low, close]` and volume, which opened at
    /// `ts_open` and closed at `ts_close`.
    ///
    /// The path's four points are at `ts_open`, one and two thirds of the way, and
    /// `ts_close`; an event inside a leg is stamped where the leg reaches its price
    /// (linear in price, rounded down), so every event lies in `[ts_open, ts_close]`.
    ///
    /// # Errors
    /// `InvalidInput` for an unregistered instrument, inconsistent prices or an open time
    /// after the close time.
    pub fn process_bar_raw(
        &mut self,
        instrument: Symbol,
        ts_open: u64,
        ts_close: u64,
        ohlc: [i64; 4],
        volume: i64,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<()> {
        Self::check_bar(ts_open, ts_close, ohlc, volume)?;
        let m = self.known(instrument)?;
        self.bar_at(m, ts_open, ts_close, ohlc, volume, out)
    }

    /// The number of a registered instrument's market, for [`Self::process_bar_at`].
    #[must_use]
    pub fn market_index(&self, instrument: &Symbol) -> Option<usize> {
        self.markets.ix(instrument)
    }

    /// [`Self::process_bar_raw`] for the market numbered `market` ([`Self::market_index`]):
    /// what a loop over one instrument's bars calls, without a symbol lookup per bar.
    ///
    /// # Errors
    /// As `process_bar_raw`; `InvalidInput` for an unknown market number.
    pub fn process_bar_at(
        &mut self,
        market: usize,
        ts_open: u64,
        ts_close: u64,
        ohlc: [i64; 4],
        volume: i64,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<()> {
        Self::check_bar(ts_open, ts_close, ohlc, volume)?;
        if market >= self.markets.list.len() {
            return Err(CoreError::invalid(
                "instrument",
                format!("no market number {market} at the venue"),
            ));
        }
        self.bar_at(market, ts_open, ts_close, ohlc, volume, out)
    }

    #[inline]
    fn check_bar(ts_open: u64, ts_close: u64, ohlc: [i64; 4], volume: i64) -> CoreResult<()> {
        let [o, h, l, c] = ohlc;
        if l > h || h < o.max(c) || l > o.min(c) || l <= 0 {
            return Err(CoreError::invalid(
                "bar",
                "needs 0 < low <= open, close <= high",
            ));
        }
        if volume < 0 {
            return Err(CoreError::invalid("volume", "must be >= 0"));
        }
        if ts_open > ts_close {
            return Err(CoreError::invalid(
                "ts_open",
                format!("{ts_open} is after the bar's close time {ts_close}"),
            ));
        }
        Ok(())
    }

    /// A checked bar of market `m`.
    #[inline]
    fn bar_at(
        &mut self,
        m: usize,
        ts_open: u64,
        ts_close: u64,
        ohlc: [i64; 4],
        volume: i64,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<()> {
        let [_, h, l, c] = ohlc;
        if self.quiet(m, ts_close) {
            // Nothing can happen on the path: only the clock and the mark move, exactly
            // what the full walk below leaves behind in this case.
            self.now = self.now.max(ts_close);
        } else {
            self.walk_bar(m, ts_open, ts_close, ohlc, volume, out)?;
        }
        let market = &mut self.markets.list[m];
        market.last_price = Some(c);
        market.last_volume = volume;
        market.last_range = Some((l, h));
        market.last_data_ts = market.last_data_ts.max(ts_close);
        match market.mark_slot {
            Some(slot) => self.portfolio.mark_slot(slot, c),
            None => market.mark_slot = Some(self.portfolio.mark(market.symbol, c)),
        }
        Ok(())
    }

    /// No working order in market `m`, and no order anywhere arriving (latency) or
    /// expiring up to `until`: a bar of this market ending at `until` can fill, trigger,
    /// expire, release or accept nothing (the orders that could take part in its path are
    /// the market's working orders and the ones arriving during it; everything else only
    /// happens as a consequence of those).
    #[inline]
    fn quiet(&self, m: usize, until: u64) -> bool {
        #[cfg(test)]
        if self.full_path_only {
            return false;
        }
        self.markets.list[m].live.is_empty()
            && self
                .inflight
                .first()
                .is_none_or(|&(arrival, _)| arrival > until)
            && self
                .expiries
                .first()
                .is_none_or(|&(expire, _)| expire >= until)
    }

    /// A bar's full path: the open as a point, then its three legs.
    fn walk_bar(
        &mut self,
        m: usize,
        ts_open: u64,
        ts_close: u64,
        ohlc: [i64; 4],
        volume: i64,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<()> {
        let [o, h, l, c] = ohlc;
        // Live data mixes bars with quotes and trades: the venue may already have seen
        // this instrument's prices inside this bar (a quote that filled part of an order).
        // The path's points before the last of them are stamped at it, so no event goes
        // back in time; bars alone start at their open as before.
        let start = ts_open.max(self.markets.list[m].last_data_ts);
        self.advance(start, out)?;
        let cap = self.capacity(m, volume);
        let mut ctx = Ctx {
            lo: l,
            hi: h,
            slippage: true,
            volume,
            cap_buy: cap,
            cap_sell: cap,
            ts: start,
        };
        self.point(m, o, o, &mut ctx, out)?;
        self.end_immediate(m, start, out)?;
        let path = if c >= o { [o, l, h, c] } else { [o, h, l, c] };
        let times = path_times(ts_open, ts_close).map(|t| t.max(start));
        for k in 0..3 {
            let (from, to) = ((path[k], times[k]), (path[k + 1], times[k + 1]));
            self.walk(m, from, to, &mut ctx, out)?;
            // The clock reaches the next point of the path.
            ctx.ts = to.1;
            self.advance(to.1, out)?;
        }
        Ok(())
    }

    /// Process a quote: buys trade at the ask (up to the ask size), sells at the bid.
    ///
    /// # Errors
    /// `InvalidInput` for an unregistered instrument or a crossed quote.
    pub fn process_quote(&mut self, q: &QuoteTick, out: &mut Vec<VenueEvent>) -> CoreResult<()> {
        self.process_quote_raw(
            q.symbol,
            q.ts_event.0,
            [q.bid.raw(), q.ask.raw()],
            [q.bid_size.raw(), q.ask_size.raw()],
            out,
        )
    }

    /// Process a quote given as raw `[bid, ask]` and `[bid_size, ask_size]` (0 = unknown).
    ///
    /// # Errors
    /// `InvalidInput` for an unregistered instrument or a crossed quote.
    pub fn process_quote_raw(
        &mut self,
        instrument: Symbol,
        ts: u64,
        bid_ask: [i64; 2],
        sizes: [i64; 2],
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<()> {
        let [bid, ask] = bid_ask;
        if bid <= 0 || bid > ask {
            return Err(CoreError::invalid("bid", "needs 0 < bid <= ask"));
        }
        let m = self.known(instrument)?;
        self.advance(ts, out)?;
        let size = |s: i64| (s > 0).then_some(s);
        let mut ctx = Ctx {
            lo: bid,
            hi: ask,
            slippage: false,
            volume: 0,
            cap_buy: size(sizes[1]),
            cap_sell: size(sizes[0]),
            ts,
        };
        self.point(m, bid, ask, &mut ctx, out)?;
        self.end_immediate(m, ts, out)?;
        let mid = bid + (ask - bid) / 2;
        let market = &mut self.markets.list[m];
        market.last_price = Some(mid);
        market.last_range = Some((bid, ask));
        market.last_data_ts = market.last_data_ts.max(ts);
        market.last_volume = 0;
        self.portfolio.mark(instrument, mid);
        Ok(())
    }

    /// Process a trade print: a point at its price, up to `participation × size` per side.
    ///
    /// # Errors
    /// `InvalidInput` for an unregistered instrument.
    pub fn process_trade(&mut self, t: &TradeTick, out: &mut Vec<VenueEvent>) -> CoreResult<()> {
        self.process_trade_raw(t.symbol, t.ts_event.0, t.price.raw(), t.size.raw(), out)
    }

    /// Process a trade given as raw price and size.
    ///
    /// # Errors
    /// `InvalidInput` for an unregistered instrument or a non-positive price.
    pub fn process_trade_raw(
        &mut self,
        instrument: Symbol,
        ts: u64,
        price: i64,
        size: i64,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<()> {
        if price <= 0 {
            return Err(CoreError::invalid("price", "must be > 0"));
        }
        let m = self.known(instrument)?;
        self.advance(ts, out)?;
        let cap = self.capacity(m, size);
        let mut ctx = Ctx {
            lo: price,
            hi: price,
            slippage: false,
            volume: size,
            cap_buy: cap,
            cap_sell: cap,
            ts,
        };
        self.point(m, price, price, &mut ctx, out)?;
        self.end_immediate(m, ts, out)?;
        let market = &mut self.markets.list[m];
        market.last_price = Some(price);
        market.last_range = Some((price, price));
        market.last_volume = size;
        market.last_data_ts = market.last_data_ts.max(ts);
        self.portfolio.mark(instrument, price);
        Ok(())
    }

    /// Move the clock to `ts`: orders in flight arrive, DAY/GTD orders past their expiry
    /// expire (an order expires when the clock is strictly past its expiry time).
    ///
    /// # Errors
    /// Only on an internal inconsistency (`InvalidState`).
    pub fn advance(&mut self, ts: u64, out: &mut Vec<VenueEvent>) -> CoreResult<()> {
        self.now = self.now.max(ts);
        while let Some(&(arrival, id)) = self.inflight.first() {
            if arrival > ts {
                break;
            }
            self.inflight.remove(&(arrival, id));
            self.arrive(id, arrival, out)?;
        }
        while let Some(&(expire, id)) = self.expiries.first() {
            if expire >= ts {
                break;
            }
            self.expiries.remove(&(expire, id));
            if self.orders.contains_key(&id) {
                self.terminate(id, OrderEventKind::Expired, ts, "time in force ended", out)?;
            }
        }
        Ok(())
    }

    /// The market of a registered instrument, by index.
    fn known(&self, instrument: Symbol) -> CoreResult<usize> {
        if let Some(m) = self.markets.ix(&instrument) {
            Ok(m)
        } else {
            Err(CoreError::invalid(
                "instrument",
                format!("{instrument} is not registered at the venue"),
            ))
        }
    }

    fn capacity(&self, m: usize, volume: i64) -> Option<i64> {
        let rate = self.config.participation?;
        if volume <= 0 {
            return None;
        }
        let lot = self.markets.list[m].lot.max(1);
        let cap = i128::from(volume) * i128::from(rate) / i128::from(FIXED_SCALE);
        let cap = i64::try_from(cap).unwrap_or(i64::MAX);
        Some(cap / lot * lot)
    }

    // ------------------------------------------------------------------------- lifecycle

    fn emit(
        &mut self,
        id: u64,
        kind: OrderEventKind,
        ts: u64,
        reason: &str,
        fill: Option<Fill>,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<()> {
        let w = self
            .orders
            .get_mut(&id)
            .ok_or_else(|| CoreError::InvalidState(format!("order {id} is not working")))?;
        let ev = w.order.apply(kind, UnixNanos(ts), reason, fill)?;
        let terminal = ev.status.is_terminal();
        out.push(VenueEvent::Order(ev));
        if terminal {
            self.close(id);
        }
        Ok(())
    }

    fn emit_closed(
        &mut self,
        id: u64,
        kind: OrderEventKind,
        ts: u64,
        reason: &str,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<()> {
        let w = self
            .closed
            .get_mut(&id)
            .ok_or_else(|| CoreError::invalid("client_order_id", "order was purged"))?;
        let ev = w.order.apply(kind, UnixNanos(ts), reason, None)?;
        out.push(VenueEvent::Order(ev));
        Ok(())
    }

    fn close(&mut self, id: u64) {
        if let Some(w) = self.orders.remove(&id) {
            if let Some(m) = self.markets.get_mut(&w.order.instrument) {
                m.remove(id, &w.order);
                if w.in_book {
                    let _ = m.book.cancel(id);
                }
            }
            if let Some(e) = w.expire {
                self.expiries.remove(&(e, id));
            }
            self.inflight.remove(&(w.arrival, id));
            self.closed.insert(id, w);
        }
    }

    /// Cancel / expire / reject an order and apply its contingencies.
    fn terminate(
        &mut self,
        id: u64,
        kind: OrderEventKind,
        ts: u64,
        reason: &str,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<()> {
        if !self.orders.contains_key(&id) {
            return Ok(());
        }
        self.emit(id, kind, ts, reason, None, out)?;
        self.after_close(id, ts, out)
    }

    /// Contingencies of a closed order: release or cancel children, cancel OCO siblings.
    fn after_close(&mut self, id: u64, ts: u64, out: &mut Vec<VenueEvent>) -> CoreResult<()> {
        let Some(w) = self.closed.get(&id) else {
            return Ok(());
        };
        let filled = w.order.filled_qty;
        let complete = w.order.status == OrderStatus::Filled;
        let children = w.children.clone();
        let oco = w.oco.clone();
        for c in children {
            if !self.orders.contains_key(&c) {
                continue;
            }
            if filled.is_positive() {
                if !complete {
                    if let Some(cw) = self.orders.get_mut(&c) {
                        cw.order.quantity = cw.order.quantity.min(filled);
                    }
                }
                self.release(c, ts, out)?;
            } else {
                self.terminate(
                    c,
                    OrderEventKind::Cancelled,
                    ts,
                    "parent closed unfilled",
                    out,
                )?;
            }
        }
        if !complete {
            for s in oco {
                self.terminate(s, OrderEventKind::Cancelled, ts, "OCO sibling closed", out)?;
            }
        }
        Ok(())
    }

    fn release(&mut self, id: u64, ts: u64, out: &mut Vec<VenueEvent>) -> CoreResult<()> {
        if let Some(w) = self.orders.get_mut(&id) {
            if !w.dormant {
                return Ok(());
            }
            w.dormant = false;
            w.arrival = ts;
        }
        self.arrive(id, ts, out)
    }

    /// The order reaches the venue: accept or reject it.
    fn arrive(&mut self, id: u64, ts: u64, out: &mut Vec<VenueEvent>) -> CoreResult<()> {
        let Some(w) = self.orders.get(&id) else {
            return Ok(());
        };
        let o = &w.order;
        let Some(m) = self.markets.get(&o.instrument) else {
            let reason = format!("{} is not traded here", o.instrument);
            self.emit(id, OrderEventKind::Rejected, ts, &reason, None, out)?;
            return self.after_close(id, ts, out);
        };
        let pos = self.portfolio.net_quantity(&o.instrument);
        let on_tick = |p: Option<Price>| p.is_none_or(|p| p.raw() % m.tick == 0);
        let quantity = o.quantity.raw();
        let refuse: Option<String> = if quantity % m.lot != 0 {
            Some("quantity is not a multiple of the lot size".into())
        } else if !on_tick(o.price)
            || (o.order_type != OrderType::TrailingStopMarket && !on_tick(o.trigger_price))
        {
            Some("price is not a multiple of the tick size".into())
        } else if o.time_in_force == TimeInForce::Gtd && o.expire_time.is_some_and(|e| e.0 <= ts) {
            Some("expire time has passed".into())
        } else if o.post_only
            && o.price
                .is_some_and(|p| self.crosses(o.instrument, o.side, p.raw()))
        {
            Some("post-only order would take liquidity".into())
        } else if o.reduce_only
            && !((o.side == OrderSide::Sell && pos > 0) || (o.side == OrderSide::Buy && pos < 0))
        {
            Some("reduce-only order would open or increase a position".into())
        } else if o.side == OrderSide::Sell
            && !o.reduce_only
            && !self.portfolio.shorts_allowed()
            && quantity > pos.max(0)
            && w.parent.is_none()
        {
            Some("short selling is not allowed in this account".into())
        } else if o.side == OrderSide::Buy && self.config.check_buying_power && !o.reduce_only {
            let reference = o.price.or(o.trigger_price).map(Price::raw).or(m.last_price);
            // Buying back a short in a margin account needs no buying power.
            let cover = if self.portfolio.shorts_allowed() {
                (-pos).max(0)
            } else {
                0
            };
            let uncovered = quantity - cover.min(quantity);
            reference.filter(|_| uncovered > 0).and_then(|px| {
                let value = notional(quantity, px);
                let cost = value + self.config.commission.total(quantity, value);
                (cost > self.portfolio.buying_power())
                    .then(|| "insufficient buying power".to_owned())
            })
        } else {
            None
        };
        if let Some(reason) = refuse {
            self.emit(id, OrderEventKind::Rejected, ts, &reason, None, out)?;
            return self.after_close(id, ts, out);
        }
        let instrument = o.instrument;
        self.emit(id, OrderEventKind::Accepted, ts, "", None, out)?;
        self.place(id, ts)?;
        if let (MarketFillTiming::ThisClose, Some(mi)) =
            (self.config.market_fill, self.markets.ix(&instrument))
        {
            let m = &self.markets.list[mi];
            if let (Some(px), Some((lo, hi))) = (m.last_price, m.last_range) {
                let volume = m.last_volume;
                let cap = self.capacity(mi, volume);
                let mut ctx = Ctx {
                    lo,
                    hi,
                    slippage: true,
                    volume,
                    cap_buy: cap,
                    cap_sell: cap,
                    ts,
                };
                self.point(mi, px, px, &mut ctx, out)?;
                self.end_immediate(mi, ts, out)?;
            }
        }
        Ok(())
    }

    /// Put an accepted order to work: its expiry, a trailing stop's first trigger, its
    /// place in the market (and in the book for a limit).
    fn place(&mut self, id: u64, ts: u64) -> CoreResult<()> {
        if self.external {
            return Ok(()); // the broker matches it; nothing rests here
        }
        let Some(w) = self.orders.get(&id) else {
            return Ok(());
        };
        let o = &w.order;
        let instrument = o.instrument;
        let Some(m) = self.markets.get(&instrument) else {
            return Ok(());
        };
        let expire = match o.time_in_force {
            TimeInForce::Gtd => o.expire_time.map(UnixNanos::as_u64),
            TimeInForce::Day => Some(session::next_session_close(
                ts,
                self.config.session_close_minutes,
            )),
            _ => None,
        };
        let (last, price_places) = (m.last_price, m.price_precision);
        let is_limit = o.order_type == OrderType::Limit;
        let trailing = o.order_type == OrderType::TrailingStopMarket;
        let (side, price, leaves) = (o.side, o.price.map_or(0, Price::raw), o.leaves_raw());
        if let Some(e) = expire {
            self.expiries.insert((e, id));
        }
        if let Some(w) = self.orders.get_mut(&id) {
            w.expire = expire;
            if trailing {
                if let (Some(px), Some(off)) = (last, w.order.trailing_offset) {
                    w.watermark = Some(px);
                    let t = Price::from_raw_or_finer(off.trigger(side, px), price_places);
                    w.order.trigger_price = Some(match (side, w.order.trigger_price) {
                        (OrderSide::Sell, Some(given)) => given.max(t),
                        (OrderSide::Buy, Some(given)) => given.min(t),
                        (_, None) => t,
                    });
                }
            }
            w.in_book = is_limit;
        }
        if let (Some(m), Some(w)) = (self.markets.get_mut(&instrument), self.orders.get(&id)) {
            m.insert(id, &w.order);
            if is_limit {
                m.book.add(id, side, price, leaves)?;
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------------------- matching

    fn live_ids(&mut self, m: usize) -> Vec<u64> {
        let mut ids = std::mem::take(&mut self.scratch);
        ids.clear();
        ids.extend(self.markets.list[m].live.iter().copied());
        ids
    }

    /// Move trailing stops' watermarks with the price seen at `ts` (orders that arrive
    /// later have not seen it).
    fn update_watermarks(&mut self, m: usize, ids: &[u64], price: i64, ts: u64) {
        let places = self.markets.list[m].price_precision;
        for id in ids {
            if let Some(w) = self.orders.get_mut(id) {
                if w.order.order_type != OrderType::TrailingStopMarket
                    || w.order.triggered
                    || w.arrival > ts
                {
                    continue;
                }
                let Some(off) = w.order.trailing_offset else {
                    continue;
                };
                let wm = match (w.order.side, w.watermark) {
                    (_, None) => price,
                    (OrderSide::Sell, Some(x)) => x.max(price),
                    (OrderSide::Buy, Some(x)) => x.min(price),
                };
                w.watermark = Some(wm);
                let t = Price::from_raw_or_finer(off.trigger(w.order.side, wm), places);
                w.order.trigger_price = Some(match (w.order.side, w.order.trigger_price) {
                    (OrderSide::Sell, Some(old)) => old.max(t),
                    (OrderSide::Buy, Some(old)) => old.min(t),
                    (_, None) => t,
                });
            }
        }
    }

    /// Check every working order at one price point (`bid`/`ask`; equal for bars and trades)
    /// until nothing more happens (a fill can release children that are marketable too).
    fn point(
        &mut self,
        m: usize,
        bid: i64,
        ask: i64,
        ctx: &mut Ctx,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<()> {
        let mut rounds = 0;
        loop {
            let ids = self.live_ids(m);
            if self.has_trailing(m) {
                self.update_watermarks(
                    m,
                    &ids,
                    if bid == ask {
                        bid
                    } else {
                        bid + (ask - bid) / 2
                    },
                    ctx.ts,
                );
            }
            let mut progress = false;
            for &id in &ids {
                progress |= self.check(id, bid, ask, ctx, out)?;
                if let Some(w) = self.orders.get_mut(&id) {
                    // An order accepted later in the bar has not seen this price.
                    w.seen |= w.arrival <= ctx.ts;
                }
            }
            self.scratch = ids;
            rounds += 1;
            if !progress || rounds > 64 {
                return Ok(());
            }
        }
    }

    fn has_trailing(&self, m: usize) -> bool {
        self.markets.list[m].trailing > 0
    }

    /// IOC and FOK orders end after their first price check.
    fn end_immediate(&mut self, m: usize, ts: u64, out: &mut Vec<VenueEvent>) -> CoreResult<()> {
        if self.markets.list[m].immediate == 0 {
            return Ok(());
        }
        let ids = self.live_ids(m);
        for &id in &ids {
            let Some(w) = self.orders.get(&id) else {
                continue;
            };
            let tif = w.order.time_in_force;
            if w.seen && matches!(tif, TimeInForce::Ioc | TimeInForce::Fok) {
                let reason = if tif == TimeInForce::Ioc {
                    "immediate-or-cancel remainder"
                } else {
                    "fill-or-kill could not fill"
                };
                self.terminate(id, OrderEventKind::Cancelled, ts, reason, out)?;
            }
        }
        self.scratch = ids;
        Ok(())
    }

    /// Walk one leg of a bar's path from `(price, time)` `start` to `end`, filling orders
    /// where the path first touches their level, at the time the leg reaches it. An order
    /// that arrives (or was placed) inside the leg joins it at its arrival time, at the
    /// price the leg has reached by then (rounded back to the tick).
    fn walk(
        &mut self,
        mi: usize,
        start: (i64, u64),
        end: (i64, u64),
        ctx: &mut Ctx,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<()> {
        let (from, to) = (start.0, end.0);
        let rising = to > from;
        let instrument = self.markets.list[mi].symbol;
        if from != to && self.has_trailing(mi) {
            let ids = self.live_ids(mi);
            self.update_watermarks(mi, &ids, from, start.1);
            self.scratch = ids;
        }
        let (mut cur, mut cur_ts) = start;
        loop {
            let mut next: Option<i64> = None;
            let mut join: Option<u64> = None;
            let m = &self.markets.list[mi];
            for id in &m.live {
                let Some(w) = self.orders.get(id) else {
                    continue;
                };
                if let Some(t) = touch(&w.order, cur, to, rising) {
                    next = Some(match next {
                        None => t,
                        Some(n) if rising => n.min(t),
                        Some(n) => n.max(t),
                    });
                }
                if !w.seen && w.arrival > cur_ts && w.arrival <= end.1 {
                    join = Some(join.map_or(w.arrival, |j| j.min(w.arrival)));
                }
            }
            let tick = m.tick.max(1);
            // In-flight orders are sorted by arrival: the first one here is the earliest.
            for &(arrival, id) in &self.inflight {
                if arrival > end.1 || join.is_some_and(|j| arrival >= j) {
                    break;
                }
                if arrival > cur_ts
                    && self
                        .orders
                        .get(&id)
                        .is_some_and(|w| w.order.instrument == instrument)
                {
                    join = Some(arrival);
                    break;
                }
            }
            let touch_at = next.map(|t| (t, time_at(t, start, end).max(cur_ts)));
            let (price, ts) = match (touch_at, join) {
                (Some((t, tt)), j) if j.is_none_or(|j| tt <= j) => (t, tt),
                (_, Some(j)) => {
                    let p = price_at(j, start, end, tick);
                    (if rising { p.max(cur) } else { p.min(cur) }, j)
                }
                _ => return Ok(()),
            };
            ctx.ts = ts;
            // Orders arriving and expiring on the way take effect before this price.
            self.advance(ts, out)?;
            self.point(mi, price, price, ctx, out)?;
            self.end_immediate(mi, ts, out)?;
            (cur, cur_ts) = (price, ts);
        }
    }

    /// Check one order at a price; returns whether anything happened.
    fn check(
        &mut self,
        id: u64,
        bid: i64,
        ask: i64,
        ctx: &mut Ctx,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<bool> {
        let Some(w) = self.orders.get(&id) else {
            return Ok(false);
        };
        if w.dormant || !w.order.status.is_open() || w.arrival > ctx.ts {
            return Ok(false);
        }
        let buy = w.order.side == OrderSide::Buy;
        let px = if buy { ask } else { bid };
        let maker = w.seen;
        match effective(&w.order) {
            Eff::Market => self.fill(id, px, true, LiquiditySide::Taker, ctx, out),
            Eff::Limit(l) => {
                if (buy && px <= l) || (!buy && px >= l) {
                    let liq = if maker {
                        LiquiditySide::Maker
                    } else {
                        LiquiditySide::Taker
                    };
                    self.fill(id, px, false, liq, ctx, out)
                } else {
                    Ok(false)
                }
            }
            Eff::Stop(t) | Eff::Mit(t) => {
                let is_stop = matches!(effective(&w.order), Eff::Stop(_));
                let hit = if is_stop == buy { px >= t } else { px <= t };
                if !hit {
                    return Ok(false);
                }
                let stop_limit = w.order.order_type == OrderType::StopLimit;
                let (side, price, leaves, instrument) = (
                    w.order.side,
                    w.order.price.map_or(0, Price::raw),
                    w.order.leaves_raw(),
                    w.order.instrument,
                );
                self.emit(id, OrderEventKind::Triggered, ctx.ts, "", None, out)?;
                if stop_limit {
                    if let Some(w) = self.orders.get_mut(&id) {
                        w.in_book = true;
                    }
                    if let Some(m) = self.markets.get_mut(&instrument) {
                        m.book.add(id, side, price, leaves)?;
                    }
                    // Checked again as a limit in the next round at this same price.
                    return Ok(true);
                }
                self.fill(id, px, true, LiquiditySide::Taker, ctx, out)?;
                Ok(true)
            }
        }
    }

    /// Fill as much of an order as capacity, cash, short and reduce-only rules allow, at
    /// `base` (plus slippage when `market_like` and the event allows it).
    #[allow(clippy::too_many_lines)]
    fn fill(
        &mut self,
        id: u64,
        base: i64,
        market_like: bool,
        liquidity: LiquiditySide,
        ctx: &mut Ctx,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<bool> {
        let Some(w) = self.orders.get(&id) else {
            return Ok(false);
        };
        let o = &w.order;
        let (lot, tick, price_places, size_places) =
            self.markets
                .get(&o.instrument)
                .map_or((1, 1, FIXED_PRECISION, FIXED_PRECISION), |m| {
                    (
                        m.lot.max(1),
                        m.tick.max(1),
                        m.price_precision,
                        m.size_precision,
                    )
                });
        let buy = o.side == OrderSide::Buy;
        let leaves = o.leaves_raw();
        let cap = if buy { ctx.cap_buy } else { ctx.cap_sell };
        let mut qty = cap.map_or(leaves, |c| leaves.min(c));
        let mut limit_reason: Option<&'static str> = None;

        let pos = self.portfolio.net_quantity(&o.instrument);
        if o.reduce_only {
            let room = match (buy, pos) {
                (true, p) if p < 0 => -p,
                (false, p) if p > 0 => p,
                _ => 0,
            };
            if room < qty {
                qty = room;
                limit_reason = Some("reduce-only: position fully reduced");
            }
        }
        if !buy && !self.portfolio.shorts_allowed() && pos.max(0) < qty {
            qty = pos.max(0);
            limit_reason = Some("short selling is not allowed in this account");
        }
        qty = qty / lot * lot;

        let price = if market_like && ctx.slippage {
            let d = self
                .config
                .slippage
                .distance(base, qty.max(lot), ctx.volume, tick);
            if buy {
                base.saturating_add(d).min(ctx.hi)
            } else {
                base.saturating_sub(d).max(ctx.lo)
            }
        } else {
            base
        };

        // Cash: a fill may never take cash below zero (no leverage), except that a margin
        // account may always buy back a short (the cover borrows cash if it must).
        let cash = self.portfolio.cash();
        let cover = if buy && self.portfolio.shorts_allowed() {
            (-pos).max(0)
        } else {
            0
        };
        let model = self.config.commission;
        let (paid_n, paid_c) = (w.notional, w.commission);
        let cost = |q: i64| -> (i128, i128) {
            let value = notional(q, price);
            let fee = model.total(o.filled_qty.raw() + q, paid_n + value) - paid_c;
            (value, fee)
        };
        if qty > 0 {
            let ok = |q: i64| {
                if q <= cover {
                    return true;
                }
                let (value, fee) = cost(q);
                if buy {
                    value + fee <= cash
                } else {
                    cash + value - fee >= 0
                }
            };
            if !ok(qty) {
                limit_reason = Some("insufficient cash");
                if buy {
                    // Largest affordable number of lots (cost grows with quantity).
                    let (mut lo, mut hi) = (0_i64, qty / lot);
                    while lo < hi {
                        let mid = lo + (hi - lo + 1) / 2;
                        if ok(mid * lot) {
                            lo = mid;
                        } else {
                            hi = mid - 1;
                        }
                    }
                    qty = lo * lot;
                } else {
                    qty = 0;
                }
            }
        }
        let fok = o.time_in_force == TimeInForce::Fok;
        if fok && qty < leaves {
            // All or nothing; the end of the first check cancels it.
            return Ok(false);
        }
        if qty <= 0 {
            if let Some(reason) = limit_reason {
                self.terminate(id, OrderEventKind::Cancelled, ctx.ts, reason, out)?;
                return Ok(true);
            }
            return Ok(false);
        }
        let (value, fee) = cost(qty);
        let commission = i64::try_from(fee).map_err(|_| CoreError::Overflow {
            operation: "commission",
        })?;
        let (side, strategy, instrument) = (o.side, o.strategy_id, o.instrument);
        let currency = self.config.currency;
        let fill = Fill {
            trade_id: self.next_trade,
            venue_order_id: id,
            side,
            quantity: Quantity::from_raw_or_finer(qty, size_places.max(o.quantity.precision())),
            price: Price::from_raw_or_finer(price, price_places),
            commission: Money::from_raw_or_finer(
                commission,
                currency.default_precision(),
                currency,
            ),
            liquidity,
        };
        self.next_trade += 1;
        if let Some(w) = self.orders.get_mut(&id) {
            w.notional += value;
            w.commission += fee;
            if w.in_book {
                if let Some(m) = self.markets.get_mut(&instrument) {
                    m.book.fill(id, qty)?;
                }
                if qty == leaves {
                    w.in_book = false;
                }
            }
        }
        match cap {
            Some(c) if buy => ctx.cap_buy = Some(c - qty),
            Some(c) => ctx.cap_sell = Some(c - qty),
            None => {}
        }
        let oco = self
            .orders
            .get(&id)
            .map(|w| w.oco.clone())
            .unwrap_or_default();
        self.emit(id, OrderEventKind::Filled, ctx.ts, "", Some(fill), out)?;
        let mut pos_events = std::mem::take(&mut self.positions_buf);
        pos_events.clear();
        self.portfolio.apply_fill(
            strategy,
            instrument,
            side,
            fill.quantity,
            fill.price,
            fill.commission,
            UnixNanos(ctx.ts),
            &mut pos_events,
        )?;
        out.extend(pos_events.drain(..).map(VenueEvent::Position));
        self.positions_buf = pos_events;

        // OCO: siblings shrink by the filled quantity; at zero they are cancelled.
        for s in oco {
            let Some(sw) = self.orders.get_mut(&s) else {
                continue;
            };
            let left = sw.order.quantity.raw() - qty;
            if left <= sw.order.filled_qty.raw() || !sw.order.status.is_open() {
                self.terminate(
                    s,
                    OrderEventKind::Cancelled,
                    ctx.ts,
                    "OCO sibling filled",
                    out,
                )?;
            } else {
                sw.order.quantity =
                    Quantity::from_raw_or_finer(left, sw.order.quantity.precision());
                let (p, l, in_book) = (
                    sw.order.price.map_or(0, Price::raw),
                    sw.order.leaves_raw(),
                    sw.in_book,
                );
                if in_book {
                    if let Some(m) = self.markets.get_mut(&instrument) {
                        m.book.modify(s, p, l)?;
                    }
                }
                self.emit(
                    s,
                    OrderEventKind::ModifyAccepted,
                    ctx.ts,
                    "reduced by OCO sibling fill",
                    None,
                    out,
                )?;
            }
        }
        if self.closed.contains_key(&id) {
            self.after_close(id, ctx.ts, out)?;
        } else if let Some(reason) = limit_reason {
            self.terminate(id, OrderEventKind::Cancelled, ctx.ts, reason, out)?;
        }
        Ok(true)
    }
}

/// Decimal places of a raw tick or lot (0.01 → 2, 5 → 0, 0.5 → 1).
fn places(raw: i64) -> u8 {
    (0..FIXED_PRECISION)
        .find(|&p| raw % (FIXED_SCALE / 10_i64.pow(u32::from(p))) == 0)
        .unwrap_or(FIXED_PRECISION)
}

/// Times of a bar's four path points: the open, one and two thirds of the way, the close.
fn path_times(ts_open: u64, ts_close: u64) -> [u64; 4] {
    let d = u128::from(ts_close - ts_open);
    let at = |k: u128| ts_open + u64::try_from(d * k / 3).unwrap_or(0);
    [ts_open, at(1), at(2), ts_close]
}

/// When the leg from `start` to `end` (`(price, time)`, prices differ) reaches `price`:
/// linear in price, rounded down, never outside the leg's times.
fn time_at(price: i64, start: (i64, u64), end: (i64, u64)) -> u64 {
    let span = (i128::from(end.0) - i128::from(start.0)).unsigned_abs();
    let done = (i128::from(price) - i128::from(start.0))
        .unsigned_abs()
        .min(span);
    let d = u128::from(end.1.saturating_sub(start.1));
    match span {
        0 => end.1,
        _ => start.1 + u64::try_from(d * done / span).unwrap_or(0),
    }
}

/// The price the leg from `start` to `end` (`(price, time)`) has reached at `ts`: linear in
/// time, rounded back towards the start to a whole number of ticks.
fn price_at(ts: u64, start: (i64, u64), end: (i64, u64), tick: i64) -> i64 {
    let d = u128::from(end.1.saturating_sub(start.1));
    if d == 0 {
        return end.0;
    }
    let span = (i128::from(end.0) - i128::from(start.0)).unsigned_abs();
    let elapsed = u128::from(ts.clamp(start.1, end.1) - start.1);
    let tick = u128::from(tick.unsigned_abs().max(1));
    let moved = i64::try_from(span * elapsed / d / tick * tick).unwrap_or(0);
    if end.0 >= start.0 {
        start.0 + moved
    } else {
        start.0 - moved
    }
}

/// Where the path from `cur` (exclusive) to `to` (inclusive) first reaches an order's level.
fn touch(o: &Order, cur: i64, to: i64, rising: bool) -> Option<i64> {
    let buy = o.side == OrderSide::Buy;
    let level = match effective(o) {
        Eff::Market => return None,
        Eff::Limit(l) => (rising != buy).then_some(l)?,
        Eff::Stop(t) => (rising == buy).then_some(t)?,
        Eff::Mit(t) => (rising != buy).then_some(t)?,
    };
    let inside = if rising {
        level > cur && level <= to
    } else {
        level < cur && level >= to
    };
    inside.then_some(level)
}

#[cfg(test)]
mod tests;
