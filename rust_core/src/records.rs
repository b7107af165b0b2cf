//! Engine events as the storage rows `pi5trading.storage` writes: order events, fills, order
//! states, position and equity snapshots, with the state the Python `RecordConverter`
//! (`python/pi5trading/sinks/records.py`, the reference) keeps — per-order event numbers,
//! replay keys, snapshot times nudged past ties, the account's cost basis.
//!
//! Every value is written as the repository would encode the reference's record
//! (`TableSpec.encode`: `str(canonical_decimal(value))` for money, JSON text for details),
//! so a run stored either way gives identical tables; `tests/unit/sinks/test_core_fast_paths.py`
//! proves it on recorded runs. Money follows Python's `decimal` exactly ([`Dec`]: a
//! coefficient and an exponent, the same arithmetic and the same text) while amounts stay
//! within the 28 significant digits of Python's default context; beyond that an event is
//! refused ([`RowError::TooWide`]) instead of being stored with other digits. One division
//! is left to the caller: an average fill price that is not exact in a few digits
//! ([`AvgPrice::Inexact`]; Python's `decimal` rounds it, twice).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;

use crate::orders::{Order, OrderEvent, OrderEventKind};
use crate::portfolio::PositionEvent;
use crate::types::FIXED_PRECISION;

/// `strategy_id` of the account's netting positions and `account_id` of its equity.
pub const ACCOUNT: &str = "account";
/// Orders that reached a final status kept to recognise their replayed events.
const DONE_KEPT: usize = 10_000;
/// Python's default decimal context precision.
const PREC_LIMIT: u128 = 10_u128.pow(28);

/// Why an event could not be turned into rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("{0}: more than 28 significant digits (Python's decimal context would round it)")]
    TooWide(&'static str),
    #[error("{0}: not a decimal number: {1:?}")]
    NotDecimal(&'static str, String),
}

type RowResult<T> = Result<T, RowError>;

/// A decimal as Python's `decimal.Decimal` holds a finite one: `coef × 10^exp`, the
/// exponent kept (`1.50` is not `1.5`), since it decides the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dec {
    pub coef: i128,
    pub exp: i32,
}

fn pow10(n: u32) -> Option<i128> {
    10_i128.checked_pow(n)
}

impl Dec {
    pub const ZERO: Dec = Dec { coef: 0, exp: 0 };

    /// An engine amount (units of 10^-9) as the core hands it to Python (`decimal()` in
    /// `python/orders.rs`): its 9-place text without trailing zeros.
    #[must_use]
    pub fn from_raw(raw: i128) -> Dec {
        let mut d = Dec {
            coef: raw,
            exp: -i32::from(FIXED_PRECISION),
        };
        while d.exp < 0 && d.coef % 10 == 0 {
            d.coef /= 10;
            d.exp += 1;
        }
        if d.coef == 0 {
            d.exp = 0;
        }
        d
    }

    /// Python's text of a finite `Decimal` (`str(d)`): `-12.50`, `1E-7`, `1.2E+3`.
    ///
    /// # Errors
    /// `NotDecimal` for anything else, `TooWide` beyond 28 digits.
    pub fn parse(field: &'static str, text: &str) -> RowResult<Dec> {
        let bad = || RowError::NotDecimal(field, text.to_owned());
        let (neg, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exp) = match body.split_once(['E', 'e']) {
            Some((m, e)) => (m, e.parse::<i32>().map_err(|_| bad())?),
            None => (body, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        let mut coef: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            if !b.is_ascii_digit() {
                return Err(bad());
            }
            coef = coef
                .checked_mul(10)
                .and_then(|c| c.checked_add(i128::from(b - b'0')))
                .ok_or(RowError::TooWide(field))?;
        }
        let frac_len = i32::try_from(frac.len()).map_err(|_| bad())?;
        let d = Dec {
            coef: if neg { -coef } else { coef },
            exp: exp - frac_len,
        };
        d.checked(field)
    }

    fn checked(self, field: &'static str) -> RowResult<Dec> {
        if self.coef.unsigned_abs() >= PREC_LIMIT {
            Err(RowError::TooWide(field))
        } else {
            Ok(self)
        }
    }

    /// `self` with its coefficient scaled to exponent `exp` (<= `self.exp`).
    fn at(self, exp: i32) -> Option<i128> {
        let k = u32::try_from(self.exp - exp).ok()?;
        self.coef.checked_mul(pow10(k)?)
    }

    /// `self + other` as Python computes it (exact, at the smaller exponent).
    fn add(self, other: Dec, field: &'static str) -> RowResult<Dec> {
        let exp = self.exp.min(other.exp);
        let coef = self
            .at(exp)
            .zip(other.at(exp))
            .and_then(|(a, b)| a.checked_add(b))
            .ok_or(RowError::TooWide(field))?;
        Dec { coef, exp }.checked(field)
    }

    fn neg(self) -> Dec {
        Dec {
            coef: -self.coef,
            exp: self.exp,
        }
    }

    fn sub(self, other: Dec, field: &'static str) -> RowResult<Dec> {
        self.add(other.neg(), field)
    }

    fn mul(self, other: Dec, field: &'static str) -> RowResult<Dec> {
        let coef = self
            .coef
            .checked_mul(other.coef)
            .ok_or(RowError::TooWide(field))?;
        Dec {
            coef,
            exp: self.exp + other.exp,
        }
        .checked(field)
    }

    /// Equal values (`Decimal.__eq__`: `1.50 == 1.5`).
    #[must_use]
    pub fn same_value(self, other: Dec) -> bool {
        let exp = self.exp.min(other.exp);
        match (self.at(exp), other.at(exp)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }

    /// `_fit`: more than 9 places rounded half-even to 9.
    fn fit(self) -> Dec {
        let places = i32::from(FIXED_PRECISION);
        if self.exp >= -places {
            return self;
        }
        let Some(div) = u32::try_from(-places - self.exp).ok().and_then(pow10) else {
            // Far below 10^-9: rounds to zero.
            return Dec {
                coef: 0,
                exp: -places,
            };
        };
        let (q, r) = (self.coef / div, self.coef % div);
        let twice = r.abs() * 2;
        let up = twice > div || (twice == div && q % 2 != 0);
        let coef = if up { q + self.coef.signum() } else { q };
        Dec { coef, exp: -places }
    }

    /// `Decimal.normalize()`: no trailing zeros (zero is `0`).
    fn normalized(mut self) -> Dec {
        if self.coef == 0 {
            return Dec::ZERO;
        }
        while self.coef % 10 == 0 {
            self.coef /= 10;
            self.exp += 1;
        }
        self
    }

    /// `_canon`: fitted to 9 places, then normalised (one spelling per value).
    fn canon(self) -> Dec {
        self.fit().normalized()
    }

    /// `str(self)`, as Python writes a `Decimal`.
    #[must_use]
    pub fn python_str(self) -> String {
        let mut s = String::with_capacity(24);
        self.push_python_str(&mut s);
        s
    }

    fn push_python_str(self, buf: &mut String) {
        let mut digits = String::with_capacity(40);
        let _ = write!(digits, "{}", self.coef.unsigned_abs());
        let n = i64::try_from(digits.len()).unwrap_or(i64::MAX);
        let exp = i64::from(self.exp);
        let left = exp + n;
        let dot = if exp <= 0 && left > -6 { left } else { 1 };
        if self.coef < 0 {
            buf.push('-');
        }
        if dot <= 0 {
            buf.push_str("0.");
            for _ in 0..-dot {
                buf.push('0');
            }
            buf.push_str(&digits);
        } else if dot >= n {
            buf.push_str(&digits);
            for _ in 0..dot - n {
                buf.push('0');
            }
        } else {
            let (a, b) = digits.split_at(usize::try_from(dot).unwrap_or(0));
            buf.push_str(a);
            buf.push('.');
            buf.push_str(b);
        }
        if left != dot {
            let _ = write!(buf, "E{:+}", left - dot);
        }
    }

    /// What the repository stores: `str(canonical_decimal(self))` (no positive exponent:
    /// `1E+3` is `1000`; zero without a sign).
    #[must_use]
    pub fn encoded(self) -> String {
        if self.exp > 0 {
            if let Some(coef) = u32::try_from(self.exp)
                .ok()
                .and_then(pow10)
                .and_then(|p| self.coef.checked_mul(p))
            {
                return Dec { coef, exp: 0 }.python_str();
            }
        }
        self.python_str()
    }

    fn is_zero(self) -> bool {
        self.coef == 0
    }
}

/// `notional / filled` as Python's `decimal` divides, when the quotient is exact within
/// 27 digits (then it is the exact value at the exponent nearest the ideal one); `None`
/// otherwise.
fn div_exact(n: Dec, d: Dec) -> Option<Dec> {
    if d.coef == 0 {
        return None;
    }
    let ideal = n.exp - d.exp;
    for k in 0..=27_u32 {
        let num = n.coef.checked_mul(pow10(k)?)?;
        if num % d.coef == 0 {
            let q = num / d.coef;
            // Within Python's working digits, so its result is exact too.
            let exp = ideal - i32::try_from(k).ok()?;
            return (q.unsigned_abs() < 10_u128.pow(27)).then_some(Dec { coef: q, exp });
        }
    }
    None
}

/// An order's average fill price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvgPrice {
    /// Not filled.
    None,
    /// The stored text.
    Exact(Dec),
    /// Python's `decimal` must divide (`str(_fit(notional / filled))`, canonical).
    Inexact { notional: Dec, filled: Dec },
}

/// One stored row, its values as the repository encodes them (money as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// `fills`: fill id, order id, strategy, instrument, side, quantity, price,
    /// commission, time.
    Fill {
        fill_id: String,
        order_id: String,
        strategy_id: String,
        instrument_id: String,
        side: &'static str,
        quantity: String,
        price: String,
        commission: String,
        ts_ns: u64,
    },
    /// `order_events`: order id, number, time, status, reason, detail (JSON text).
    OrderEvent {
        order_id: String,
        seq: u64,
        ts_ns: u64,
        status: &'static str,
        reason: Option<String>,
        detail: String,
    },
    /// `orders`: the order's latest state.
    Order {
        order_id: String,
        strategy_id: String,
        instrument_id: String,
        side: String,
        order_type: &'static str,
        quantity: String,
        status: &'static str,
        created_ns: u64,
        updated_ns: u64,
        time_in_force: &'static str,
        limit_price: Option<String>,
        stop_price: Option<String>,
        filled_quantity: String,
        avg_fill_price: AvgPrice,
        reason: Option<String>,
    },
    /// `position_snapshots`.
    Position {
        strategy_id: String,
        instrument_id: String,
        ts_ns: u64,
        quantity: String,
        avg_price: String,
        realized_pnl: String,
    },
    /// `equity_snapshots` (of [`ACCOUNT`]).
    Equity {
        ts_ns: u64,
        cash: String,
        equity: String,
        realized_pnl: String,
        unrealized_pnl: String,
    },
}

/// The engine's order statuses in the storage vocabulary (`ORDER_STATUS`).
#[must_use]
pub fn stored_status(engine: &str) -> &'static str {
    match engine {
        "initialized" => "created",
        "denied" | "rejected" => "rejected",
        "submitted" => "submitted",
        "accepted" => "accepted",
        "partially_filled" => "partially_filled",
        "filled" => "filled",
        "cancelled" => "cancelled",
        "expired" => "expired",
        _ => "created",
    }
}

/// `ORDER_TYPE`: the schema's name of an engine order type.
fn stored_order_type(engine: &str) -> Option<&'static str> {
    Some(match engine {
        "market" => "market",
        "limit" => "limit",
        "stop_market" | "market_if_touched" => "stop",
        "stop_limit" => "stop_limit",
        "trailing_stop_market" => "trailing_stop",
        _ => return None,
    })
}

/// `TIME_IN_FORCE` (`gtd` is stored as `gtc`, its expiry in the first event's detail).
fn stored_tif(engine: &str) -> Option<&'static str> {
    Some(match engine {
        "gtc" | "gtd" => "gtc",
        "day" => "day",
        "ioc" => "ioc",
        "fok" => "fok",
        _ => return None,
    })
}

fn is_terminal(status: &str) -> bool {
    matches!(
        status,
        "denied" | "rejected" | "filled" | "cancelled" | "expired"
    )
}

/// What an `orders` row needs that the events do not carry (engine vocabulary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub side: String,
    pub order_type: String,
    pub quantity: Dec,
    pub time_in_force: String,
    pub limit_price: Option<Dec>,
    pub stop_price: Option<Dec>,
    pub expire_time: Option<u64>,
    /// The flags and links as a JSON object's text (`OrderTerms.links`), when any is set.
    pub links: Option<String>,
}

impl Terms {
    /// `OrderTerms.of(order)`.
    #[must_use]
    pub fn of(order: &Order) -> Terms {
        let mut links = String::new();
        let field = |links: &mut String, name: &str| {
            links.push(if links.is_empty() { '{' } else { ',' });
            push_json_str(links, name);
            links.push(':');
        };
        if order.reduce_only {
            field(&mut links, "reduce_only");
            links.push_str("true");
        }
        if order.post_only {
            field(&mut links, "post_only");
            links.push_str("true");
        }
        if !order.tags.is_empty() {
            field(&mut links, "tags");
            push_json_list(&mut links, order.tags.iter().map(String::as_str));
        }
        if let Some(parent) = &order.parent_order_id {
            field(&mut links, "parent_order_id");
            push_json_str(&mut links, parent.as_str());
        }
        if !order.child_order_ids.is_empty() {
            field(&mut links, "child_order_ids");
            push_json_list(&mut links, order.child_order_ids.iter().map(|i| i.as_str()));
        }
        if !order.linked_order_ids.is_empty() {
            field(&mut links, "linked_order_ids");
            push_json_list(
                &mut links,
                order.linked_order_ids.iter().map(|i| i.as_str()),
            );
        }
        if !links.is_empty() {
            links.push('}');
        }
        Terms {
            side: order.side.as_str().to_owned(),
            order_type: order.order_type.as_str().to_owned(),
            quantity: Dec::from_raw(i128::from(order.quantity.raw())),
            time_in_force: order.time_in_force.as_str().to_owned(),
            limit_price: order.price.map(|p| Dec::from_raw(i128::from(p.raw()))),
            stop_price: order
                .trigger_price
                .map(|p| Dec::from_raw(i128::from(p.raw()))),
            expire_time: order.expire_time.map(|t| t.0),
            links: (!links.is_empty()).then_some(links),
        }
    }
}

/// The replay key of an order event (`event_key`): time, kind, trade id (-1 for none)
/// and, for a modify, the terms it accepted.
pub type EventKey = (u64, String, i64, String);

#[derive(Debug, Default)]
struct Track {
    seq: u64,
    created_ns: u64,
    /// The newest time among its events: the row's `updated_ns`. A broker stamps its answers
    /// with its own clock, which may be behind the data's; storage keeps the row with the
    /// newest `updated_ns`, so each later state must still carry the newest time.
    updated_ns: u64,
    terms: Option<Terms>,
    filled: Option<Dec>,
    notional: Option<Dec>,
    seen: HashSet<EventKey>,
}

/// A position snapshot's state: quantity, average price, realised P&L.
type PositionState = (Dec, Dec, Dec);

/// The converter's state (see the module doc). Not thread-safe.
#[derive(Debug, Default)]
pub struct RowConverter {
    orders: HashMap<String, Track>,
    done: HashSet<String>,
    done_order: VecDeque<String>,
    snapshot_ns: HashMap<(String, String), u64>,
    snapshot_src: HashMap<(String, String), u64>,
    snapshot_state: HashMap<(String, String), PositionState>,
    equity_ns: Option<u64>,
    equity_src: Option<u64>,
    equity_state: Option<(Dec, Dec)>,
    cost: HashMap<(String, String), Dec>,
    realised: HashMap<(String, String), Dec>,
    cost_total: [Option<Dec>; 2],
    realised_total: [Option<Dec>; 2],
    account_positions: bool,
    /// Order rows not written because the order's terms were not known (yet).
    pub orders_without_terms: u64,
    /// Events recognised as replays of ones already recorded (not stored again).
    pub replays_dropped: u64,
}

/// The order event's detail, as `msgspec.json.encode` writes the reference's dict.
struct Detail(String);

impl Detail {
    fn new(kind: &str) -> Detail {
        let mut s = String::with_capacity(64);
        s.push_str("{\"kind\":");
        push_json_str(&mut s, kind);
        Detail(s)
    }
    fn key(&mut self, name: &str) {
        self.0.push(',');
        push_json_str(&mut self.0, name);
        self.0.push(':');
    }
    fn string(&mut self, name: &str, value: &str) {
        self.key(name);
        push_json_str(&mut self.0, value);
    }
    fn finish(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

impl RowConverter {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Open orders tracked.
    #[must_use]
    pub fn open_orders(&self) -> usize {
        self.orders.len()
    }

    /// Has the order no terms yet (an `order_lookup` may supply them)?
    #[must_use]
    pub fn needs_terms(&self, order_id: &str) -> bool {
        !self.done.contains(order_id) && self.orders.get(order_id).is_none_or(|t| t.terms.is_none())
    }

    /// `remember_order`: learn an order's terms.
    pub fn remember(&mut self, order_id: &str, terms: Terms) {
        if self.done.contains(order_id) {
            return;
        }
        self.orders.entry(order_id.to_owned()).or_default().terms = Some(terms);
    }

    /// `restore_order`: an open order as storage has it (its fills' quantities and
    /// prices, its events' replay keys).
    ///
    /// # Errors
    /// Remember a final order (its later events are replays), keeping the latest
    /// `DONE_KEPT`.
    fn mark_done(&mut self, oid: &str) {
        if self.done.insert(oid.to_owned()) {
            self.done_order.push_back(oid.to_owned());
        }
        if self.done_order.len() > DONE_KEPT {
            if let Some(old) = self.done_order.pop_front() {
                self.done.remove(&old);
            }
        }
    }

    /// After a restart: orders storage has as final, oldest first (their events, if they
    /// come again, are replays and are dropped; without this a replayed fill of a
    /// finished order looked like the first event of a new one and rewrote its row).
    pub fn restore_done<'a>(&mut self, order_ids: impl IntoIterator<Item = &'a str>) {
        for oid in order_ids {
            self.orders.remove(oid);
            self.mark_done(oid);
        }
    }

    /// `TooWide` when the fill totals leave Python's 28 digits.
    // One argument per stored column of the order, as the binding receives them.
    #[allow(clippy::too_many_arguments)]
    pub fn restore_order(
        &mut self,
        order_id: &str,
        terms: Terms,
        seq: u64,
        created_ns: u64,
        updated_ns: u64,
        fills: &[(Dec, Dec)],
        seen: Vec<EventKey>,
    ) -> RowResult<()> {
        let mut track = Track {
            seq,
            created_ns,
            updated_ns,
            terms: Some(terms),
            ..Track::default()
        };
        for &(q, p) in fills {
            add_fill(&mut track, q, p)?;
        }
        track.seen.extend(seen);
        self.orders.insert(order_id.to_owned(), track);
        Ok(())
    }

    /// `restore_snapshots`, one position: its time, quantity, average price, realised.
    ///
    /// # Errors
    /// `TooWide` when the cost basis leaves Python's 28 digits.
    pub fn restore_position(
        &mut self,
        strategy_id: &str,
        instrument: &str,
        ts_ns: u64,
        state: PositionState,
    ) -> RowResult<()> {
        let key = (strategy_id.to_owned(), instrument.to_owned());
        self.snapshot_ns.insert(key.clone(), ts_ns);
        self.snapshot_src.insert(key.clone(), ts_ns);
        self.snapshot_state.insert(key.clone(), state);
        let cost = state.0.mul(state.1, "cost")?;
        self.book(key, cost, state.2)
    }

    /// `restore_snapshots`, the equity: its time, cash and equity.
    pub fn restore_equity(&mut self, ts_ns: u64, cash: Dec, equity: Dec) {
        self.equity_ns = Some(ts_ns);
        self.equity_src = Some(ts_ns);
        self.equity_state = Some((cash, equity));
    }

    /// The rows of one order event (`_order_event`). `lookup` gives the order's terms
    /// when they are not known yet.
    ///
    /// # Errors
    /// `TooWide` when the fill totals leave Python's 28 digits (nothing is recorded).
    pub fn order_event(
        &mut self,
        e: &OrderEvent,
        lookup: impl FnOnce(&str) -> Option<Terms>,
        out: &mut Vec<Row>,
    ) -> RowResult<()> {
        let oid = e.client_order_id.as_str();
        if self.done.contains(oid) {
            self.replays_dropped += 1;
            return Ok(());
        }
        let track = self.orders.entry(oid.to_owned()).or_default();
        if track.terms.is_none() {
            track.terms = lookup(oid);
        }
        let kind = e.kind.as_str();
        if let (Some(m), Some(t)) = (
            e.modified
                .as_deref()
                .filter(|_| e.kind == OrderEventKind::ModifyAccepted),
            track.terms.as_mut(),
        ) {
            // The event's own terms, not the order's now.
            t.quantity = Dec::from_raw(i128::from(m.quantity.raw()));
            t.limit_price = m.price.map(|p| Dec::from_raw(i128::from(p.raw())));
            t.stop_price = m.trigger_price.map(|p| Dec::from_raw(i128::from(p.raw())));
        }
        let mut detail = Detail::new(kind);
        let mut modify_key = String::new();
        if e.kind == OrderEventKind::ModifyAccepted {
            let (mut q, mut p, mut s) = (String::new(), String::new(), String::new());
            if let Some(t) = &track.terms {
                q = t.quantity.python_str();
                detail.string("quantity", &q);
                if let Some(v) = t.limit_price {
                    p = v.python_str();
                    detail.string("price", &p);
                }
                if let Some(v) = t.stop_price {
                    s = v.python_str();
                    detail.string("trigger_price", &s);
                }
            }
            modify_key = format!("{q}|{p}|{s}");
        }
        let trade = e
            .fill
            .map_or(-1, |f| i64::try_from(f.trade_id).unwrap_or(i64::MAX));
        let key = (e.ts.0, kind.to_owned(), trade, modify_key);
        if track.seen.contains(&key) {
            self.replays_dropped += 1;
            return Ok(());
        }
        if let Some(f) = &e.fill {
            // Totals first: an event that cannot be booked records nothing.
            let q = Dec::from_raw(i128::from(f.quantity.raw()));
            let p = Dec::from_raw(i128::from(f.price.raw()));
            add_fill(track, q, p)?;
        }
        track.seen.insert(key);
        track.seq += 1;
        let ts = e.ts.0;
        if track.seq == 1 {
            track.created_ns = ts;
        }
        track.updated_ns = track.updated_ns.max(ts);
        let status = stored_status(e.status.as_str());
        let mut reason = (!e.reason.is_empty()).then(|| e.reason.clone());
        if let Some(d) = e.denial.as_deref() {
            let number = |v: i128| {
                if d.code.is_count() {
                    v.to_string()
                } else {
                    Dec::from_raw(v).python_str()
                }
            };
            detail.key("denial");
            detail.0.push_str("{\"code\":");
            push_json_str(&mut detail.0, d.code.as_str());
            detail.0.push_str(",\"scope\":");
            push_json_str(&mut detail.0, d.scope.as_str());
            detail.0.push_str(",\"limit\":");
            push_json_str(&mut detail.0, &number(d.limit));
            detail.0.push_str(",\"actual\":");
            push_json_str(&mut detail.0, &number(d.actual));
            detail.0.push('}');
            reason = Some(format!("{}: {}", d.code.as_str(), d.message));
        }
        if track.seq == 1 {
            if let Some(t) = &track.terms {
                if !matches!(t.order_type.as_str(), "market" | "limit" | "stop_limit") {
                    detail.string("order_type", &t.order_type);
                }
                if t.time_in_force == "gtd" {
                    detail.key("expire_time");
                    match t.expire_time {
                        Some(x) => {
                            let _ = write!(detail.0, "{x}");
                        }
                        None => detail.0.push_str("null"),
                    }
                }
                if let Some(links) = &t.links {
                    detail.key("order");
                    detail.0.push_str(links);
                }
            }
        }
        if let Some(f) = &e.fill {
            let _ = write!(detail.0, ",\"trade_id\":{}", f.trade_id);
            out.push(Row::Fill {
                fill_id: format!("{oid}:{}", f.trade_id),
                order_id: oid.to_owned(),
                strategy_id: e.strategy_id.as_str().to_owned(),
                instrument_id: e.instrument.as_str().to_owned(),
                side: f.side.as_str(),
                quantity: Dec::from_raw(i128::from(f.quantity.raw())).encoded(),
                price: Dec::from_raw(i128::from(f.price.raw())).encoded(),
                commission: Dec::from_raw(i128::from(f.commission.raw())).encoded(),
                ts_ns: ts,
            });
        }
        out.push(Row::OrderEvent {
            order_id: oid.to_owned(),
            seq: track.seq,
            ts_ns: ts,
            status,
            reason: reason.clone(),
            detail: detail.finish(),
        });
        match &track.terms {
            Some(t) => {
                let filled = track.filled.unwrap_or(Dec::ZERO);
                let avg = match (track.filled, track.notional) {
                    (Some(f), Some(n)) if !f.is_zero() => match div_exact(n, f) {
                        Some(q) => AvgPrice::Exact(q.fit()),
                        None => AvgPrice::Inexact {
                            notional: n,
                            filled: f,
                        },
                    },
                    _ => AvgPrice::None,
                };
                out.push(Row::Order {
                    order_id: oid.to_owned(),
                    strategy_id: e.strategy_id.as_str().to_owned(),
                    instrument_id: e.instrument.as_str().to_owned(),
                    side: t.side.clone(),
                    order_type: stored_order_type(&t.order_type).unwrap_or("market"),
                    quantity: t.quantity.encoded(),
                    status,
                    created_ns: track.created_ns,
                    updated_ns: track.updated_ns,
                    time_in_force: stored_tif(&t.time_in_force).unwrap_or("gtc"),
                    limit_price: t.limit_price.map(Dec::encoded),
                    stop_price: t.stop_price.map(Dec::encoded),
                    filled_quantity: filled.encoded(),
                    avg_fill_price: avg,
                    reason,
                });
            }
            None => self.orders_without_terms += 1,
        }
        if is_terminal(e.status.as_str()) {
            self.orders.remove(oid);
            self.mark_done(oid);
        }
        Ok(())
    }

    /// The row of a position event (`_position`).
    ///
    /// # Errors
    /// `TooWide` when the account's cost basis leaves Python's 28 digits.
    pub fn position(&mut self, p: &PositionEvent, out: &mut Vec<Row>) -> RowResult<()> {
        let sid = p.strategy_id.as_ref().map_or(ACCOUNT, |s| s.as_str());
        let key = (sid.to_owned(), p.instrument.as_str().to_owned());
        let src = p.ts.0;
        let qty = Dec::from_raw(i128::from(p.quantity.raw()));
        let avg = p
            .avg_px
            .map_or(Dec::ZERO, |a| Dec::from_raw(i128::from(a.raw())));
        let realised = Dec::from_raw(p.realised);
        let state = (qty, avg, realised);
        let last_src = self.snapshot_src.get(&key).copied();
        let same = |s: &PositionState| {
            s.0.same_value(state.0) && s.1.same_value(state.1) && s.2.same_value(state.2)
        };
        if last_src.is_some_and(|l| {
            src < l || (src == l && self.snapshot_state.get(&key).is_some_and(same))
        }) {
            self.replays_dropped += 1;
            return Ok(());
        }
        let cost = qty.mul(avg, "cost")?;
        self.book(key.clone(), cost, realised)?;
        self.snapshot_state.insert(key.clone(), state);
        let mut ts = src;
        if let Some(&last) = self.snapshot_ns.get(&key) {
            if ts <= last {
                ts = last + 1;
            }
        }
        self.snapshot_ns.insert(key.clone(), ts);
        self.snapshot_src.insert(key.clone(), src);
        out.push(Row::Position {
            strategy_id: key.0,
            instrument_id: key.1,
            ts_ns: ts,
            quantity: qty.encoded(),
            avg_price: avg.encoded(),
            realized_pnl: realised.encoded(),
        });
        Ok(())
    }

    /// The row of an equity sample (`_equity`).
    ///
    /// # Errors
    /// `TooWide` when the unrealised P&L leaves Python's 28 digits.
    pub fn equity(&mut self, ts: u64, cash: Dec, equity: Dec, out: &mut Vec<Row>) -> RowResult<()> {
        let src = ts;
        if let Some(last_src) = self.equity_src {
            let same = self
                .equity_state
                .is_some_and(|(c, q)| c.same_value(cash) && q.same_value(equity));
            if src < last_src || (src == last_src && same) {
                self.replays_dropped += 1;
                return Ok(());
            }
        }
        let i = usize::from(!self.account_positions);
        let cost = self.cost_total[i].unwrap_or(Dec::ZERO);
        let realised = self.realised_total[i].unwrap_or(Dec::ZERO);
        let unrealised = equity
            .sub(cash, "unrealized_pnl")?
            .sub(cost, "unrealized_pnl")?;
        self.equity_state = Some((cash, equity));
        let mut stamp = ts;
        if let Some(last) = self.equity_ns {
            if stamp <= last {
                stamp = last + 1;
            }
        }
        self.equity_ns = Some(stamp);
        self.equity_src = Some(src);
        out.push(Row::Equity {
            ts_ns: stamp,
            cash: cash.encoded(),
            equity: equity.encoded(),
            realized_pnl: realised.canon().encoded(),
            unrealized_pnl: unrealised.canon().encoded(),
        });
        Ok(())
    }

    /// `_book`: running totals of cost and realised P&L, [account, strategies].
    fn book(&mut self, key: (String, String), cost: Dec, realised: Dec) -> RowResult<()> {
        let i = usize::from(key.0 != ACCOUNT);
        if i == 0 {
            self.account_positions = true;
        }
        let old_cost = self.cost.get(&key).copied().unwrap_or(Dec::ZERO);
        let old_realised = self.realised.get(&key).copied().unwrap_or(Dec::ZERO);
        let cost_total = self.cost_total[i]
            .unwrap_or(Dec::ZERO)
            .add(cost.sub(old_cost, "cost")?, "cost")?;
        let realised_total = self.realised_total[i]
            .unwrap_or(Dec::ZERO)
            .add(realised.sub(old_realised, "realized_pnl")?, "realized_pnl")?;
        self.cost_total[i] = Some(cost_total);
        self.realised_total[i] = Some(realised_total);
        self.cost.insert(key.clone(), cost);
        self.realised.insert(key, realised);
        Ok(())
    }
}

/// `track.filled += q; track.notional += q * p`, from `Decimal(0)` as the reference starts.
fn add_fill(track: &mut Track, q: Dec, p: Dec) -> RowResult<()> {
    let filled = track
        .filled
        .unwrap_or(Dec::ZERO)
        .add(q, "filled_quantity")?;
    let notional = track
        .notional
        .unwrap_or(Dec::ZERO)
        .add(q.mul(p, "avg_fill_price")?, "avg_fill_price")?;
    track.filled = Some(filled);
    track.notional = Some(notional);
    Ok(())
}

/// `text` as a JSON string, as msgspec writes it (short escapes where JSON has them).
pub fn push_json_str(buf: &mut String, text: &str) {
    buf.push('"');
    if !text.contains(|c: char| c == '"' || c == '\\' || (c as u32) < 0x20) {
        buf.push_str(text);
    } else {
        for c in text.chars() {
            match c {
                '"' => buf.push_str("\\\""),
                '\\' => buf.push_str("\\\\"),
                '\n' => buf.push_str("\\n"),
                '\r' => buf.push_str("\\r"),
                '\t' => buf.push_str("\\t"),
                '\u{8}' => buf.push_str("\\b"),
                '\u{c}' => buf.push_str("\\f"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(buf, "\\u{:04x}", c as u32);
                }
                _ => buf.push(c),
            }
        }
    }
    buf.push('"');
}

fn push_json_list<'a>(buf: &mut String, items: impl Iterator<Item = &'a str>) {
    buf.push('[');
    for (i, s) in items.enumerate() {
        if i > 0 {
            buf.push(',');
        }
        push_json_str(buf, s);
    }
    buf.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Dec {
        Dec::parse("x", text).unwrap()
    }

    #[test]
    fn decimal_text_as_python_writes_it() {
        for (text, python) in [
            ("100.25", "100.25"),
            ("1.50", "1.50"),
            ("0.0000001", "1E-7"),
            ("0.00000012", "1.2E-7"),
            ("-0.000000001", "-1E-9"),
            ("0E-9", "0E-9"),
            ("0.000000000", "0E-9"),
            ("1E+3", "1E+3"),
            ("12E+1", "1.2E+2"),
            ("0", "0"),
            ("-3.5", "-3.5"),
            ("0.000001", "0.000001"),
        ] {
            assert_eq!(d(text).python_str(), python, "{text}");
        }
        assert_eq!(d("1E+3").encoded(), "1000");
        assert_eq!(d("-0.00").encoded(), "0.00");
        assert!(Dec::parse("x", "1.2.3").is_err());
        assert!(Dec::parse("x", "NaN").is_err());
        assert!(Dec::parse("x", "").is_err());
    }

    #[test]
    fn raw_amounts_as_the_core_hands_them_over() {
        assert_eq!(Dec::from_raw(100_250_000_000), d("100.25"));
        assert_eq!(Dec::from_raw(0), d("0"));
        assert_eq!(Dec::from_raw(-1), d("-0.000000001"));
        assert_eq!(Dec::from_raw(5_000_000_000_000), d("5000"));
    }

    #[test]
    fn arithmetic_keeps_python_exponents() {
        assert_eq!(d("1.5").add(d("2.25"), "x").unwrap().python_str(), "3.75");
        assert_eq!(d("1.50").add(d("1"), "x").unwrap().python_str(), "2.50");
        assert_eq!(
            d("10").mul(d("100.25"), "x").unwrap().python_str(),
            "1002.50"
        );
        assert_eq!(d("1.23").sub(d("1.23"), "x").unwrap().python_str(), "0.00");
        assert!(d("9999999999999999999999999999").add(d("1"), "x").is_err());
        assert_eq!(d("1.2000").canon().encoded(), "1.2");
        assert_eq!(d("1000").canon().encoded(), "1000");
        assert_eq!(d("0.0000000005").fit(), d("0E-9"));
        assert_eq!(d("0.0000000015").fit(), d("2E-9"));
        assert_eq!(d("-0.0000000025").fit(), d("-2E-9"));
        assert_eq!(d("0.0000000026").fit(), d("3E-9"));
    }

    #[test]
    fn exact_quotients_at_the_ideal_exponent() {
        // Python: Decimal('1002.50') / Decimal('10') == Decimal('100.25')
        assert_eq!(div_exact(d("1002.50"), d("10")), Some(d("100.25")));
        assert_eq!(div_exact(d("10"), d("4")), Some(d("2.5")));
        assert_eq!(div_exact(d("300"), d("3")), Some(d("100")));
        assert_eq!(div_exact(d("1"), d("3")), None);
    }

    #[test]
    fn json_strings_as_msgspec_writes_them() {
        let mut s = String::new();
        push_json_str(&mut s, "a\"b\\c\nd\t\u{1}");
        assert_eq!(s, r#""a\"b\\c\nd\t\u0001""#);
    }
}
