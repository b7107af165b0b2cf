//! External-venue mode: the venue keeps the orders, their lifecycle and the account, but a
//! broker does the matching.
//!
//! In this mode (`SimulatedVenue::set_external`) an order that reaches the venue is
//! registered and `submitted`, and a request to send it is queued ([`Outgoing`]); it is
//! never matched against market data (data only marks the account). Cancels and modifies
//! are queued the same way and change nothing until the broker answers. The driver takes
//! the queued requests (`take_outgoing`), hands them to the broker, and feeds what the
//! broker reports back through [`SimulatedVenue::apply_broker_update`], which moves the
//! order through the same lifecycle as a simulated event (accepted, rejected, filled —
//! booked into the portfolio with the broker's exact price and commission —, cancelled,
//! expired, modified) and emits the same `VenueEvent`s.
//!
//! Updates are idempotent where the broker may repeat itself (a reconnecting stream and
//! the reconciliation both report a fill): a fill carrying the order's filled quantity
//! after it (`cum_qty`) that the order already has is skipped, as is an end the order
//! already reached. Everything else that cannot apply (an unknown order, an overfill, a
//! fill on a closed order, a change to an order that is not working) is an error that
//! changes nothing.

use crate::error::{CoreError, CoreResult};
use crate::orders::{Fill, LiquiditySide, Order, OrderEventKind, OrderStatus};
use crate::types::{ClientOrderId, Money, Price, Quantity, UnixNanos};

use super::{SimulatedVenue, VenueEvent};

/// What the engine asks the broker to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutgoingKind {
    Submit,
    Cancel,
    Modify,
}

impl OutgoingKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::Cancel => "cancel",
            Self::Modify => "modify",
        }
    }
}

/// One request for the broker, queued in the order the engine made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub kind: OutgoingKind,
    pub client_order_id: ClientOrderId,
    /// `Submit`: the order as sent (status `submitted`).
    pub order: Option<Order>,
    /// `Modify`: the new values asked for (`None`: unchanged).
    pub quantity: Option<Quantity>,
    pub price: Option<Price>,
    pub trigger_price: Option<Price>,
    pub ts: u64,
}

/// What the broker reported about one of our orders (our lifecycle's words, `notice` for
/// anything that moves no state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerUpdateKind {
    Submitted,
    Accepted,
    Rejected,
    Triggered,
    ModifyAccepted,
    ModifyRejected,
    CancelRejected,
    Filled,
    Cancelled,
    Expired,
    Notice,
}

impl BrokerUpdateKind {
    /// Parse the wire name (`"filled"`, `"modify_accepted"`, ...).
    ///
    /// # Errors
    /// `InvalidInput` naming the accepted values.
    pub fn parse(s: &str) -> CoreResult<Self> {
        Ok(match s {
            "submitted" => Self::Submitted,
            "accepted" => Self::Accepted,
            "rejected" => Self::Rejected,
            "triggered" => Self::Triggered,
            "modify_accepted" => Self::ModifyAccepted,
            "modify_rejected" => Self::ModifyRejected,
            "cancel_rejected" => Self::CancelRejected,
            "filled" => Self::Filled,
            "cancelled" => Self::Cancelled,
            "expired" => Self::Expired,
            "notice" => Self::Notice,
            _ => {
                return Err(CoreError::invalid(
                    "kind",
                    format!(
                        "{s:?} is not a broker update (submitted, accepted, rejected, triggered, \
                         modify_accepted, modify_rejected, cancel_rejected, filled, cancelled, \
                         expired, notice)"
                    ),
                ))
            }
        })
    }

    fn terminal_status(self) -> Option<OrderStatus> {
        match self {
            Self::Rejected => Some(OrderStatus::Rejected),
            Self::Cancelled => Some(OrderStatus::Cancelled),
            Self::Expired => Some(OrderStatus::Expired),
            _ => None,
        }
    }
}

/// A fill the broker made: exact quantity and price, commission in raw money units, and
/// (when the broker says) the order's filled quantity after it, which makes it idempotent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BrokerFill {
    pub quantity: Quantity,
    pub price: Price,
    pub commission_raw: i64,
    pub cum_qty: Option<Quantity>,
}

/// One broker update for [`SimulatedVenue::apply_broker_update`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUpdate {
    pub kind: BrokerUpdateKind,
    pub ts: u64,
    /// Required for `Filled`, refused otherwise.
    pub fill: Option<BrokerFill>,
    pub reason: String,
}

impl SimulatedVenue {
    /// Switch to external-venue mode (see the module docs). Only before any order.
    ///
    /// # Errors
    /// `InvalidState` once an order has been registered.
    pub fn set_external(&mut self) -> CoreResult<()> {
        if self.next_id > 1 {
            return Err(CoreError::InvalidState(
                "external mode must be chosen before the venue takes any order".into(),
            ));
        }
        self.external = true;
        Ok(())
    }

    /// Whether orders go to a broker instead of being matched here.
    #[must_use]
    pub fn is_external(&self) -> bool {
        self.external
    }

    /// The requests queued for the broker since the last call, in order.
    pub fn take_outgoing(&mut self) -> Vec<Outgoing> {
        std::mem::take(&mut self.outgoing)
    }

    /// Requests queued and not yet taken.
    #[must_use]
    pub fn outgoing_len(&self) -> usize {
        self.outgoing.len()
    }

    /// External mode: an order sent is `submitted` and queued for the broker.
    pub(super) fn send_external(
        &mut self,
        id: u64,
        ts: u64,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<()> {
        self.emit(id, OrderEventKind::Submitted, ts, "", None, out)?;
        if let Some(w) = self.orders.get_mut(&id) {
            w.arrival = ts;
            self.outgoing.push(Outgoing {
                kind: OutgoingKind::Submit,
                client_order_id: w.order.client_order_id,
                order: Some(w.order.clone()),
                quantity: None,
                price: None,
                trigger_price: None,
                ts,
            });
        }
        Ok(())
    }

    pub(super) fn queue_cancel(&mut self, id: u64, ts: u64) {
        if let Some(w) = self.orders.get(&id) {
            self.outgoing.push(Outgoing {
                kind: OutgoingKind::Cancel,
                client_order_id: w.order.client_order_id,
                order: None,
                quantity: None,
                price: None,
                trigger_price: None,
                ts,
            });
        }
    }

    /// Queue a checked modify; its values apply when the broker accepts it.
    pub(super) fn queue_modify(
        &mut self,
        id: u64,
        change: (Option<Quantity>, Option<Price>, Option<Price>),
        ts: u64,
    ) {
        if let Some(w) = self.orders.get_mut(&id) {
            w.pending_modify = Some(change);
            self.outgoing.push(Outgoing {
                kind: OutgoingKind::Modify,
                client_order_id: w.order.client_order_id,
                order: None,
                quantity: change.0,
                price: change.1,
                trigger_price: change.2,
                ts,
            });
        }
    }

    /// Apply what the broker reported about one of our orders, emitting the events it
    /// causes (order events; position events after a fill). Returns `false` when the
    /// update changes nothing: a `notice`, a repeat of a state the order already has (an
    /// acceptance, an end it already reached), a fill whose `cum_qty` the order already
    /// has.
    ///
    /// # Errors
    /// `InvalidState` when not in external mode; `InvalidInput` for an unknown order, a
    /// fill that is missing, not positive, larger than what is left, or on a closed order,
    /// a fill part on a non-fill update; `InvalidState` for a transition the order cannot
    /// make (a cancel of a filled order ...). Nothing is changed on error.
    pub fn apply_broker_update(
        &mut self,
        client_order_id: &str,
        update: &BrokerUpdate,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<bool> {
        use BrokerUpdateKind as K;
        if !self.external {
            return Err(CoreError::InvalidState(
                "broker updates apply to an external venue only (set_external)".into(),
            ));
        }
        let id = self.lookup(client_order_id)?;
        if update.kind != K::Filled && update.fill.is_some() {
            return Err(CoreError::invalid(
                "fill",
                format!(
                    "{client_order_id}: a {:?} update carries no fill",
                    update.kind
                ),
            ));
        }
        let ts = update.ts;
        let reason = update.reason.as_str();
        let Some(w) = self.orders.get(&id) else {
            return self.closed_update(id, client_order_id, update, out);
        };
        let status = w.order.status;
        match update.kind {
            K::Notice => Ok(false),
            K::Submitted => Ok(false),
            K::Accepted => {
                if status == OrderStatus::Submitted {
                    self.emit(id, OrderEventKind::Accepted, ts, reason, None, out)?;
                    Ok(true)
                } else {
                    Ok(false) // already working
                }
            }
            K::Filled => {
                let fill = update.fill.ok_or_else(|| {
                    CoreError::invalid("fill", format!("{client_order_id}: a fill needs a fill"))
                })?;
                self.external_fill(id, &fill, ts, out)
            }
            K::Rejected | K::Cancelled | K::Expired => {
                let mut kind = match update.kind {
                    K::Rejected => OrderEventKind::Rejected,
                    K::Cancelled => OrderEventKind::Cancelled,
                    _ => OrderEventKind::Expired,
                };
                if kind == OrderEventKind::Rejected && status != OrderStatus::Submitted {
                    // Refused after it was working: for our lifecycle it was cancelled.
                    kind = OrderEventKind::Cancelled;
                }
                if kind == OrderEventKind::Expired && status == OrderStatus::Submitted {
                    self.emit(id, OrderEventKind::Accepted, ts, "", None, out)?;
                }
                self.terminate(id, kind, ts, reason, out)?;
                Ok(true)
            }
            K::Triggered => {
                if status == OrderStatus::Submitted {
                    self.emit(id, OrderEventKind::Accepted, ts, "", None, out)?;
                }
                self.emit(id, OrderEventKind::Triggered, ts, reason, None, out)?;
                Ok(true)
            }
            K::ModifyAccepted => {
                if !matches!(status, OrderStatus::Accepted | OrderStatus::PartiallyFilled) {
                    return Err(CoreError::InvalidState(format!(
                        "{client_order_id}: a modify cannot be accepted while the order is {status}"
                    )));
                }
                if let Some(w) = self.orders.get_mut(&id) {
                    if let Some((q, p, t)) = w.pending_modify.take() {
                        if let Some(q) = q {
                            if q.raw() <= w.order.filled_qty.raw() {
                                w.pending_modify = Some((Some(q), p, t));
                                return Err(CoreError::invalid(
                                    "quantity",
                                    format!(
                                        "{client_order_id}: the new quantity {q} is not above \
                                         the {} filled",
                                        w.order.filled_qty
                                    ),
                                ));
                            }
                            w.order.quantity = q;
                        }
                        if p.is_some() {
                            w.order.price = p;
                        }
                        if t.is_some() {
                            w.order.trigger_price = t;
                        }
                    }
                }
                self.emit(id, OrderEventKind::ModifyAccepted, ts, reason, None, out)?;
                Ok(true)
            }
            K::ModifyRejected => {
                if let Some(w) = self.orders.get_mut(&id) {
                    w.pending_modify = None;
                }
                self.emit(id, OrderEventKind::ModifyRejected, ts, reason, None, out)?;
                Ok(true)
            }
            K::CancelRejected => {
                self.emit(id, OrderEventKind::CancelRejected, ts, reason, None, out)?;
                Ok(true)
            }
        }
    }

    /// An update for an order that is no longer working.
    fn closed_update(
        &mut self,
        id: u64,
        client_order_id: &str,
        update: &BrokerUpdate,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<bool> {
        use BrokerUpdateKind as K;
        let w = self
            .closed
            .get(&id)
            .ok_or_else(|| CoreError::invalid("client_order_id", "order was purged"))?;
        let status = w.order.status;
        let filled = w.order.filled_qty;
        match update.kind {
            K::Notice | K::Submitted | K::Accepted | K::Triggered => Ok(false),
            K::Filled => match update.fill.and_then(|f| f.cum_qty) {
                // The broker repeats a fill the order already has.
                Some(cum) if cum.raw() <= filled.raw() => Ok(false),
                _ => Err(CoreError::invalid(
                    "fill",
                    format!("{client_order_id}: a fill on an order already {status}"),
                )),
            },
            K::Rejected | K::Cancelled | K::Expired => {
                let same = update.kind.terminal_status() == Some(status)
                    || (update.kind == K::Rejected && status == OrderStatus::Cancelled);
                if same {
                    Ok(false)
                } else {
                    Err(CoreError::InvalidState(format!(
                        "{client_order_id}: the order is already {status}; the broker's {} \
                         cannot apply",
                        update.kind.as_str()
                    )))
                }
            }
            K::ModifyAccepted => Err(CoreError::InvalidState(format!(
                "{client_order_id}: a modify cannot be accepted on an order already {status}"
            ))),
            K::ModifyRejected => {
                self.emit_closed(
                    id,
                    OrderEventKind::ModifyRejected,
                    update.ts,
                    &update.reason,
                    out,
                )?;
                Ok(true)
            }
            K::CancelRejected => {
                self.emit_closed(
                    id,
                    OrderEventKind::CancelRejected,
                    update.ts,
                    &update.reason,
                    out,
                )?;
                Ok(true)
            }
        }
    }

    /// Book a broker fill: checked in full first, then the portfolio, then the order's
    /// events, so an error leaves everything as it was.
    fn external_fill(
        &mut self,
        id: u64,
        fill: &BrokerFill,
        ts: u64,
        out: &mut Vec<VenueEvent>,
    ) -> CoreResult<bool> {
        let Some(w) = self.orders.get(&id) else {
            return Ok(false);
        };
        let o = &w.order;
        let oid = o.client_order_id;
        if !fill.quantity.is_positive() {
            return Err(CoreError::invalid(
                "quantity",
                format!("{oid}: a fill of {} (must be > 0)", fill.quantity),
            ));
        }
        if !fill.price.is_positive() {
            return Err(CoreError::invalid(
                "price",
                format!("{oid}: a fill at {} (must be > 0)", fill.price),
            ));
        }
        if fill.commission_raw < 0 {
            return Err(CoreError::invalid(
                "commission",
                format!("{oid}: a negative commission"),
            ));
        }
        let mut qty = fill.quantity.raw();
        if let Some(cum) = fill.cum_qty {
            let already = o.filled_qty.raw();
            if cum.raw() <= already {
                return Ok(false); // booked before (the stream and the reconciliation)
            }
            // Only the part the order does not have yet.
            qty = qty.min(cum.raw() - already);
        }
        let leaves = o.leaves_raw();
        if qty > leaves {
            return Err(CoreError::invalid(
                "quantity",
                format!(
                    "{oid}: a fill of {} overfills the order ({} left of {})",
                    fill.quantity,
                    o.leaves_qty(),
                    o.quantity
                ),
            ));
        }
        let (price_places, size_places) = self
            .markets
            .get(&o.instrument)
            .map_or((fill.price.precision(), fill.quantity.precision()), |m| {
                (m.price_precision, m.size_precision)
            });
        let currency = self.config.currency;
        let quantity = Quantity::from_raw_or_finer(
            qty,
            size_places
                .max(o.quantity.precision())
                .max(fill.quantity.precision()),
        );
        let price =
            Price::from_raw_or_finer(fill.price.raw(), price_places.max(fill.price.precision()));
        let commission =
            Money::from_raw_or_finer(fill.commission_raw, currency.default_precision(), currency);
        let (side, strategy, instrument) = (o.side, o.strategy_id, o.instrument);
        let submitted = o.status == OrderStatus::Submitted;
        // The account first: it checks everything before it changes anything.
        let mut positions = std::mem::take(&mut self.positions_buf);
        positions.clear();
        let booked = self.portfolio.apply_fill(
            strategy,
            instrument,
            side,
            quantity,
            price,
            commission,
            UnixNanos(ts),
            &mut positions,
        );
        if let Err(e) = booked {
            self.positions_buf = positions;
            return Err(e);
        }
        if submitted {
            // A fill implies the broker accepted the order (its `new` may come later).
            self.emit(id, OrderEventKind::Accepted, ts, "", None, out)?;
        }
        let f = Fill {
            trade_id: self.next_trade,
            venue_order_id: id,
            side,
            quantity,
            price,
            commission,
            liquidity: LiquiditySide::Taker,
        };
        self.next_trade += 1;
        if let Some(w) = self.orders.get_mut(&id) {
            w.notional += crate::portfolio::notional(qty, price.raw());
            w.commission += i128::from(fill.commission_raw);
        }
        self.emit(id, OrderEventKind::Filled, ts, "", Some(f), out)?;
        out.extend(positions.drain(..).map(VenueEvent::Position));
        self.positions_buf = positions;
        Ok(true)
    }
}

impl BrokerUpdateKind {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Triggered => "triggered",
            Self::ModifyAccepted => "modify_accepted",
            Self::ModifyRejected => "modify_rejected",
            Self::CancelRejected => "cancel_rejected",
            Self::Filled => "filled",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Notice => "notice",
        }
    }
}

#[cfg(test)]
#[path = "external_tests.rs"]
mod tests;
