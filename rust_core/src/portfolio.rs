//! The account: cash, netting positions per instrument, exact P&L, per-strategy attribution.
//!
//! Positions hold exact `Quantity`s and report `Price`s; ids are `Symbol` / `StrategyId`
//! (inline, `Copy`: booking a fill or marking a price allocates nothing). All money *sums*
//! (cash, cost, P&L, commissions) are deliberately wider `i128` raw units of 10^-9 (the
//! shared fixed-point scale), so sums of many fills never overflow and never round. Each fill's notional (`quantity × price`, brought
//! back to the money scale, rounded half to even) is computed once and used for both the cash
//! movement and the position's cost, which is what keeps the accounting identity exact:
//!
//! ```text
//! cash + Σ marked_value = starting_cash + realised + unrealised − commissions
//! ```
//!
//! where `realised` is price P&L only (gross of commissions), `unrealised = marked_value −
//! cost` per open position, and `commissions` is every commission paid (already taken out of
//! `cash`). The same identity holds per strategy with `starting_cash` replaced by 0 and
//! `cash` by the strategy's net cash flow.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::hash::Hash;

use crate::error::{CoreError, CoreResult};
use crate::orders::OrderSide;
use crate::types::{IdIndex, Money, Price, Quantity, StrategyId, Symbol, UnixNanos, FIXED_SCALE};

/// `a / b` rounded half to even (`b != 0`).
#[must_use]
pub fn div_round(a: i128, b: i128) -> i128 {
    let (a, b) = if b < 0 { (-a, -b) } else { (a, b) };
    let q = a.div_euclid(b);
    let r = a.rem_euclid(b);
    match (2 * r).cmp(&b) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

/// `quantity × price` in raw money units (both inputs raw), rounded half to even.
///
/// Exactly `div_round(quantity · price, 10^9)`, without a 128-bit division (a library
/// call on the per-bar path): with `|q| = qh·S + ql` and `|p| = ph·S + pl` (`S = 10^9`),
/// `|q·p| / S = qh·ph·S + qh·pl + ql·ph + ql·pl / S`, where only the last term has a
/// fraction and `ql·pl < S²` fits in 64 bits. Half-even rounding is symmetric, so the sign
/// is applied afterwards.
#[must_use]
#[inline]
pub fn notional(quantity: i64, price: i64) -> i128 {
    const S: u64 = FIXED_SCALE.unsigned_abs();
    let (q, p) = (quantity.unsigned_abs(), price.unsigned_abs());
    let (qh, ql) = (q / S, q % S);
    let (ph, pl) = (p / S, p % S);
    let low = ql * pl;
    let (fq, fr) = (low / S, low % S);
    let whole = u128::from(qh) * u128::from(ph) * u128::from(S)
        + u128::from(qh) * u128::from(pl)
        + u128::from(ql) * u128::from(ph)
        + u128::from(fq);
    let up = fr > S / 2 || (fr == S / 2 && whole & 1 == 1);
    // |q·p| / S < 2^126 / 10^9: always an i128.
    let magnitude = i128::try_from(whole + u128::from(up)).unwrap_or(i128::MAX);
    if (quantity < 0) == (price < 0) {
        magnitude
    } else {
        -magnitude
    }
}

/// Cash account (no shorts, cash never negative) or margin account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountType {
    /// Buys are limited by cash; short selling is refused. The retail default.
    Cash,
    /// Short selling allowed when `allow_short`; buys still limited by cash (no leverage yet).
    Margin,
}

/// How the account starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountConfig {
    /// Raw money units.
    pub starting_cash: i64,
    pub account_type: AccountType,
    /// Only with a margin account.
    pub allow_short: bool,
}

impl Default for AccountConfig {
    fn default() -> Self {
        Self {
            starting_cash: 100_000 * FIXED_SCALE,
            account_type: AccountType::Cash,
            allow_short: false,
        }
    }
}

/// What a fill did to a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PositionEventKind {
    Opened,
    Changed,
    Closed,
}

impl PositionEventKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opened => "opened",
            Self::Changed => "changed",
            Self::Closed => "closed",
        }
    }
}

/// A position event. `strategy_id` is `None` for the account's netting position and names
/// the strategy for its attributed position. A fill that flips a position emits `Closed`
/// then `Opened`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PositionEvent {
    pub instrument: Symbol,
    pub strategy_id: Option<StrategyId>,
    pub kind: PositionEventKind,
    /// Signed quantity after the event.
    pub quantity: Quantity,
    /// `None` when flat.
    pub avg_px: Option<Price>,
    /// The position's realised P&L so far (raw money, gross of commissions; an `i128` sum,
    /// wider than `Money`).
    pub realised: i128,
    pub ts: UnixNanos,
}

/// A netting position in one instrument. The quantity is exact; the money fields are the
/// `i128` sums the accounting identity is kept in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// Signed quantity (> 0 long, < 0 short).
    pub quantity: Quantity,
    /// Decimal places of the fill prices seen (the average price is declared with them).
    pub price_precision: u8,
    /// Signed cost of the open quantity, raw money (negative for a short).
    pub cost: i128,
    /// Realised price P&L, gross of commissions.
    pub realised: i128,
    pub commissions: i128,
    /// When it last changed: the latest fill time booked into it (raw ns). Its events are
    /// stamped with it, so they never go back in time per position even when a broker's
    /// fills are booked out of their order (a reconciliation booking one the stream missed).
    pub changed_ns: u64,
}

impl Position {
    /// Average open price in raw units, rounded half to even; `None` when flat.
    #[must_use]
    pub fn avg_px_raw(&self) -> Option<i64> {
        if self.quantity.is_zero() {
            return None;
        }
        i64::try_from(div_round(
            self.cost * i128::from(FIXED_SCALE),
            i128::from(self.quantity.raw()),
        ))
        .ok()
    }

    /// Average open price (declared with the fill prices' places when it fits them);
    /// `None` when flat.
    #[must_use]
    pub fn avg_px(&self) -> Option<Price> {
        self.avg_px_raw()
            .map(|raw| Price::from_raw_or_finer(raw, self.price_precision))
    }

    /// Signed quantity in raw units.
    #[inline]
    #[must_use]
    pub fn raw_quantity(&self) -> i64 {
        self.quantity.raw()
    }

    /// Value at `mark` (raw price; at cost when there is no mark yet).
    #[must_use]
    pub fn marked_value(&self, mark: Option<i64>) -> i128 {
        match mark {
            Some(m) => notional(self.quantity.raw(), m),
            None => self.cost,
        }
    }

    #[must_use]
    pub fn unrealised(&self, mark: Option<i64>) -> i128 {
        self.marked_value(mark) - self.cost
    }

    /// Apply a fill of `qty` (> 0) on `side` whose notional is `value`. Returns the event
    /// kinds (one, or `Closed` + `Opened` on a flip).
    fn apply(
        &mut self,
        side: OrderSide,
        fill: (Quantity, Price),
        value: i128,
        commission: i128,
    ) -> ([Option<PositionEventKind>; 2], i128) {
        let (qty, price) = (fill.0.raw(), fill.1.raw());
        self.price_precision = self.price_precision.max(fill.1.precision());
        let places = self.quantity.precision().max(fill.0.precision());
        let (kinds, realised, quantity) = self.apply_raw(side, qty, price, value, commission);
        // |quantity| never exceeds the quantities traded, each an i64.
        self.quantity = Quantity::from_raw_or_finer(quantity, places);
        (kinds, realised)
    }

    fn apply_raw(
        &mut self,
        side: OrderSide,
        qty: i64,
        price: i64,
        value: i128,
        commission: i128,
    ) -> ([Option<PositionEventKind>; 2], i128, i64) {
        let mut quantity = self.quantity.raw();
        let sign = i128::from(side.sign());
        let was_flat = quantity == 0;
        let same_dir = was_flat || (quantity > 0) == (side == OrderSide::Buy);
        self.commissions += commission;
        if same_dir {
            quantity += side.sign() * qty;
            self.cost += sign * value;
            let kind = if was_flat {
                PositionEventKind::Opened
            } else {
                PositionEventKind::Changed
            };
            return ([Some(kind), None], 0, quantity);
        }
        let open = quantity.abs();
        let close_q = qty.min(open);
        let removed = if close_q == open {
            self.cost
        } else {
            div_round(self.cost * i128::from(close_q), i128::from(open))
        };
        let close_value = if close_q == qty {
            value
        } else {
            notional(close_q, price)
        };
        let realised = -sign * close_value - removed;
        self.realised += realised;
        self.cost -= removed;
        quantity += side.sign() * close_q;
        let rest = qty - close_q;
        if rest > 0 {
            quantity += side.sign() * rest;
            self.cost += sign * (value - close_value);
            return (
                [
                    Some(PositionEventKind::Closed),
                    Some(PositionEventKind::Opened),
                ],
                realised,
                quantity,
            );
        }
        let kind = if quantity == 0 {
            PositionEventKind::Closed
        } else {
            PositionEventKind::Changed
        };
        ([Some(kind), None], realised, quantity)
    }
}

/// One strategy's share of the account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StrategyLedger {
    /// Net cash the strategy's fills moved (sells − buys − commissions), raw money.
    pub cash_flow: i128,
    pub realised: i128,
    pub commissions: i128,
    pub positions: BTreeMap<Symbol, Position>,
}

/// The account all strategies share.
#[derive(Debug, Clone)]
pub struct Portfolio {
    config: AccountConfig,
    cash: i128,
    realised: i128,
    commissions: i128,
    positions: BTreeMap<Symbol, Position>,
    strategies: BTreeMap<StrategyId, StrategyLedger>,
    /// Per instrument (`marks[mark_ix.get(symbol)]`, found by the inline symbol): the last
    /// raw price and the account position's value at it.
    mark_ix: IdIndex<Symbol>,
    marks: Vec<Mark>,
    /// Σ `marks[i].value`: the marked value of every position, kept up to date by `mark`
    /// and `apply_fill` (exact), so the equity is read without a pass over the positions.
    marked: i128,
    /// Σ |`marks[i].value`|: the gross exposure, kept like `marked`, so the risk engine's
    /// per-step totals need no pass over the positions (a hash lookup per instrument).
    gross: i128,
    /// Positions with a non-zero quantity.
    open: usize,
}

/// One instrument's last price and the account's position in it, valued at that price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    price: i64,
    /// The account's net raw quantity.
    quantity: i64,
    /// `notional(quantity, price)`.
    value: i128,
}

impl Mark {
    /// Re-value at the current price and quantity; returns the change.
    #[inline]
    fn revalue(&mut self) -> i128 {
        let value = notional(self.quantity, self.price);
        let change = value - self.value;
        self.value = value;
        change
    }
}

impl Portfolio {
    /// A fresh account.
    ///
    /// # Errors
    /// `InvalidInput` for negative starting cash or shorts on a cash account.
    pub fn new(config: AccountConfig) -> CoreResult<Self> {
        if config.starting_cash < 0 {
            return Err(CoreError::invalid("starting_cash", "must be >= 0"));
        }
        if config.allow_short && config.account_type == AccountType::Cash {
            return Err(CoreError::invalid(
                "allow_short",
                "a cash account cannot sell short; use a margin account",
            ));
        }
        Ok(Self {
            config,
            cash: i128::from(config.starting_cash),
            realised: 0,
            commissions: 0,
            positions: BTreeMap::new(),
            strategies: BTreeMap::new(),
            mark_ix: IdIndex::default(),
            marks: Vec::new(),
            marked: 0,
            gross: 0,
            open: 0,
        })
    }

    #[must_use]
    pub fn config(&self) -> AccountConfig {
        self.config
    }

    #[must_use]
    pub fn starting_cash(&self) -> i128 {
        i128::from(self.config.starting_cash)
    }

    #[must_use]
    pub fn cash(&self) -> i128 {
        self.cash
    }

    /// What can be spent on buys now: the cash (no leverage in either account type).
    #[must_use]
    pub fn buying_power(&self) -> i128 {
        self.cash.max(0)
    }

    /// Whether a fill may leave this position short.
    #[must_use]
    pub fn shorts_allowed(&self) -> bool {
        self.config.account_type == AccountType::Margin && self.config.allow_short
    }

    #[must_use]
    pub fn realised(&self) -> i128 {
        self.realised
    }

    #[must_use]
    pub fn commissions(&self) -> i128 {
        self.commissions
    }

    /// The last raw price of `instrument`.
    #[must_use]
    pub fn mark_of<Q: Hash + Eq + ?Sized>(&self, instrument: &Q) -> Option<i64>
    where
        Symbol: Borrow<Q>,
    {
        self.mark_ix.get(instrument).map(|i| self.marks[i].price)
    }

    /// The last raw price of `instrument` (by its symbol: what the per-bar sums use).
    #[inline]
    #[must_use]
    pub fn mark_at(&self, instrument: &Symbol) -> Option<i64> {
        self.mark_ix.get(instrument).map(|i| self.marks[i].price)
    }

    /// The account's netting position (default: flat).
    #[must_use]
    pub fn position<Q: Ord + ?Sized>(&self, instrument: &Q) -> Option<&Position>
    where
        Symbol: Borrow<Q>,
    {
        self.positions.get(instrument)
    }

    /// Signed raw quantity held in `instrument`.
    #[must_use]
    pub fn net_quantity<Q: Ord + ?Sized>(&self, instrument: &Q) -> i64
    where
        Symbol: Borrow<Q>,
    {
        self.positions
            .get(instrument)
            .map_or(0, Position::raw_quantity)
    }

    /// Every position, by instrument (flat ones included once traded).
    #[must_use]
    pub fn positions(&self) -> &BTreeMap<Symbol, Position> {
        &self.positions
    }

    /// A `changed` event for every position traded so far (the account's, then each
    /// strategy's; flat ones included), each stamped with its own last change: what a
    /// restarted node publishes so caches and dashboards show the restored account rather
    /// than what they last saw. Not the engine's clock: with a broker the fills carry the
    /// broker's clock, and a snapshot later than the fills that follow would make them
    /// look older than the position they change.
    pub fn position_snapshot(&self, out: &mut Vec<PositionEvent>) {
        let event =
            |instrument: Symbol, strategy_id: Option<StrategyId>, pos: &Position| PositionEvent {
                instrument,
                strategy_id,
                kind: PositionEventKind::Changed,
                quantity: pos.quantity,
                avg_px: pos.avg_px(),
                realised: pos.realised,
                ts: UnixNanos(pos.changed_ns),
            };
        out.extend(self.positions.iter().map(|(s, p)| event(*s, None, p)));
        for (id, ledger) in &self.strategies {
            out.extend(
                ledger
                    .positions
                    .iter()
                    .map(|(s, p)| event(*s, Some(*id), p)),
            );
        }
    }

    /// The strategies that have traded, with their ledgers.
    #[must_use]
    pub fn strategies(&self) -> &BTreeMap<StrategyId, StrategyLedger> {
        &self.strategies
    }

    #[must_use]
    pub fn strategy<Q: Ord + ?Sized>(&self, strategy_id: &Q) -> Option<&StrategyLedger>
    where
        StrategyId: Borrow<Q>,
    {
        self.strategies.get(strategy_id)
    }

    /// Σ marked values of the open positions (kept as the marks and fills come in).
    #[inline]
    #[must_use]
    pub fn marked_positions(&self) -> i128 {
        self.marked
    }

    /// Σ marked values recomputed from the positions: what `marked_positions` keeps.
    #[cfg(test)]
    pub(crate) fn marked_recomputed(&self) -> i128 {
        self.positions
            .iter()
            .map(|(i, p)| p.marked_value(self.mark_at(i)))
            .sum()
    }

    /// Is any position open (non-zero)?
    #[inline]
    #[must_use]
    pub fn has_open_position(&self) -> bool {
        self.open > 0
    }

    #[must_use]
    pub fn unrealised(&self) -> i128 {
        self.positions
            .iter()
            .map(|(i, p)| p.unrealised(self.mark_at(i)))
            .sum()
    }

    /// Cash + marked positions.
    #[inline]
    #[must_use]
    pub fn equity(&self) -> i128 {
        self.cash + self.marked_positions()
    }

    /// Gross exposure: Σ |marked value| (kept as the marks and fills come in).
    #[inline]
    #[must_use]
    pub fn exposure(&self) -> i128 {
        self.gross
    }

    /// Σ |marked value| recomputed from the positions: what `exposure` keeps.
    #[cfg(test)]
    pub(crate) fn exposure_recomputed(&self) -> i128 {
        self.positions
            .iter()
            .map(|(i, p)| p.marked_value(self.mark_at(i)).abs())
            .sum()
    }

    /// Net exposure: Σ marked value (longs minus shorts).
    #[must_use]
    pub fn net_exposure(&self) -> i128 {
        self.marked_positions()
    }

    /// `(cash + marked) − (starting + realised + unrealised − commissions)`: always 0.
    #[must_use]
    pub fn identity_residual(&self) -> i128 {
        self.equity()
            - (self.starting_cash() + self.realised + self.unrealised() - self.commissions)
    }

    /// A strategy's `(realised, unrealised, commissions)`.
    #[must_use]
    pub fn strategy_pnl<Q: Ord + ?Sized>(&self, strategy_id: &Q) -> (i128, i128, i128)
    where
        StrategyId: Borrow<Q>,
    {
        self.strategies.get(strategy_id).map_or((0, 0, 0), |s| {
            let unrealised = s
                .positions
                .iter()
                .map(|(i, p)| p.unrealised(self.mark_at(i)))
                .sum();
            (s.realised, unrealised, s.commissions)
        })
    }

    /// The per-strategy identity residual:
    /// `cash_flow + marked − (realised + unrealised − commissions)`: always 0.
    #[must_use]
    pub fn strategy_identity_residual<Q: Ord + ?Sized>(&self, strategy_id: &Q) -> i128
    where
        StrategyId: Borrow<Q>,
    {
        self.strategies.get(strategy_id).map_or(0, |s| {
            let marked: i128 = s
                .positions
                .iter()
                .map(|(i, p)| p.marked_value(self.mark_at(i)))
                .sum();
            let (r, u, c) = self.strategy_pnl(strategy_id);
            s.cash_flow + marked - (r + u - c)
        })
    }

    /// Set the mark price (raw) used for unrealised P&L and equity. Returns the
    /// instrument's mark number, for [`Self::mark_slot`].
    #[inline]
    pub fn mark(&mut self, instrument: Symbol, price: i64) -> usize {
        let (i, new) = self.mark_ix.insert(instrument);
        if new {
            // No position without a mark: nothing held here yet.
            self.marks.push(Mark {
                price,
                quantity: 0,
                value: 0,
            });
        } else {
            self.mark_slot(i, price);
        }
        i
    }

    /// Set the mark price of the instrument numbered `slot` (returned by [`Self::mark`]
    /// for it): the per-bar form, without looking the symbol up.
    #[inline]
    pub fn mark_slot(&mut self, slot: usize, price: i64) {
        if let Some(m) = self.marks.get_mut(slot) {
            m.price = price;
            if m.quantity != 0 {
                let before = m.value.abs();
                self.marked += m.revalue();
                self.gross += m.value.abs() - before;
            }
        }
    }

    /// Book one fill: cash, the account's netting position and the strategy's position.
    /// Position events are appended to `out`.
    ///
    /// # Errors
    /// `InvalidInput` for a non-positive quantity or price or a negative commission.
    #[allow(clippy::too_many_arguments)]
    pub fn apply_fill(
        &mut self,
        strategy_id: StrategyId,
        instrument: Symbol,
        side: OrderSide,
        quantity: Quantity,
        price: Price,
        commission: Money,
        ts: UnixNanos,
        out: &mut Vec<PositionEvent>,
    ) -> CoreResult<()> {
        if !quantity.is_positive() {
            return Err(CoreError::invalid("quantity", "must be > 0"));
        }
        if !price.is_positive() {
            return Err(CoreError::invalid("price", "must be > 0"));
        }
        if commission.raw() < 0 {
            return Err(CoreError::invalid("commission", "must be >= 0"));
        }
        // Until the venue marks it, an instrument is valued at its last fill.
        let (mi, new) = self.mark_ix.insert(instrument);
        if new {
            self.marks.push(Mark {
                price: price.raw(),
                quantity: 0,
                value: 0,
            });
        }
        let value = notional(quantity.raw(), price.raw());
        let fee = i128::from(commission.raw());
        let flow = -i128::from(side.sign()) * value - fee;
        self.cash += flow;
        self.commissions += fee;

        let pos = self.positions.entry(instrument).or_default();
        let (kinds, realised) = pos.apply(side, (quantity, price), value, fee);
        pos.changed_ns = pos.changed_ns.max(ts.0);
        self.realised += realised;
        push_events(out, instrument, None, kinds, pos);
        let m = &mut self.marks[mi];
        let was_open = m.quantity != 0;
        m.quantity = pos.quantity.raw();
        let before = m.value.abs();
        self.marked += m.revalue();
        self.gross += m.value.abs() - before;
        match (was_open, m.quantity != 0) {
            (false, true) => self.open += 1,
            (true, false) => self.open -= 1,
            _ => {}
        }

        let ledger = self.strategies.entry(strategy_id).or_default();
        ledger.cash_flow += flow;
        ledger.commissions += fee;
        let pos = ledger.positions.entry(instrument).or_default();
        let (kinds, realised) = pos.apply(side, (quantity, price), value, fee);
        pos.changed_ns = pos.changed_ns.max(ts.0);
        ledger.realised += realised;
        push_events(out, instrument, Some(strategy_id), kinds, pos);
        Ok(())
    }
}

fn push_events(
    out: &mut Vec<PositionEvent>,
    instrument: Symbol,
    strategy_id: Option<StrategyId>,
    kinds: [Option<PositionEventKind>; 2],
    pos: &Position,
) {
    let ts = UnixNanos(pos.changed_ns);
    for kind in kinds.into_iter().flatten() {
        let closed_half_of_flip = kind == PositionEventKind::Closed && !pos.quantity.is_zero();
        out.push(PositionEvent {
            instrument,
            strategy_id,
            kind,
            quantity: if closed_half_of_flip {
                Quantity::from_raw_or_finer(0, pos.quantity.precision())
            } else {
                pos.quantity
            },
            avg_px: if closed_half_of_flip {
                None
            } else {
                pos.avg_px()
            },
            realised: pos.realised,
            ts,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::types::Currency;

    const ONE: i64 = FIXED_SCALE;

    fn sym(s: &str) -> Symbol {
        Symbol::new("instrument", s).unwrap()
    }

    /// `apply_fill` with raw quantity, price and commission.
    #[allow(clippy::too_many_arguments)]
    fn fill(
        p: &mut Portfolio,
        strategy: &str,
        instrument: &str,
        side: OrderSide,
        q: i64,
        px: i64,
        fee: i64,
        ts: u64,
        ev: &mut Vec<PositionEvent>,
    ) -> CoreResult<()> {
        p.apply_fill(
            StrategyId::new("strategy_id", strategy).unwrap(),
            sym(instrument),
            side,
            Quantity::from_raw_or_finer(q, 0),
            Price::from_raw_or_finer(px, 2),
            Money::from_raw_or_finer(fee, 2, Currency::USD),
            UnixNanos(ts),
            ev,
        )
    }

    fn pf() -> Portfolio {
        Portfolio::new(AccountConfig {
            starting_cash: 10_000 * ONE,
            account_type: AccountType::Margin,
            allow_short: true,
        })
        .unwrap()
    }

    #[test]
    fn round_half_even() {
        assert_eq!(div_round(5, 2), 2);
        assert_eq!(div_round(7, 2), 4);
        assert_eq!(div_round(-5, 2), -2);
        assert_eq!(div_round(-7, 2), -4);
        assert_eq!(div_round(-4, 3), -1);
        assert_eq!(div_round(-24, -2), 12);
        assert_eq!(div_round(5, -2), -2);
    }

    #[test]
    fn position_times_never_go_back_when_fills_come_out_of_order() {
        // A broker's fill booked late (the reconciliation found what the stream missed)
        // is older than the one before it: its events keep the position's latest time.
        let mut p = pf();
        let mut ev = Vec::new();
        for (s, i, px, ts) in [
            ("S", "SPY", 100, 500),
            ("S", "SPY", 101, 300),
            ("T", "QQQ", 50, 100),
        ] {
            fill(&mut p, s, i, OrderSide::Buy, ONE, px * ONE, 0, ts, &mut ev).unwrap();
        }
        let times: Vec<u64> = ev.iter().map(|e| e.ts.0).collect();
        assert_eq!(times, [500, 500, 500, 500, 100, 100]);
        // The restored account is announced at each position's own last change, not at
        // one clock for all.
        let mut snap = Vec::new();
        p.position_snapshot(&mut snap);
        let stamped: Vec<(&str, Option<String>, u64)> = snap
            .iter()
            .map(|e| {
                (
                    e.instrument.as_str(),
                    e.strategy_id.map(|s| s.as_str().to_owned()),
                    e.ts.0,
                )
            })
            .collect();
        assert_eq!(
            stamped,
            [
                ("QQQ", None, 100),
                ("SPY", None, 500),
                ("SPY", Some("S".to_owned()), 500),
                ("QQQ", Some("T".to_owned()), 100),
            ]
        );
    }

    #[test]
    fn long_round_trip_with_commissions() {
        let mut p = pf();
        let mut ev = Vec::new();
        fill(
            &mut p,
            "S",
            "AAPL",
            OrderSide::Buy,
            10 * ONE,
            100 * ONE,
            ONE,
            1,
            &mut ev,
        )
        .unwrap();
        assert_eq!(ev[0].kind, PositionEventKind::Opened);
        assert_eq!(p.cash(), i128::from(10_000 * ONE - 1_000 * ONE - ONE));
        p.mark(sym("AAPL"), 105 * ONE);
        assert_eq!(p.unrealised(), i128::from(50 * ONE));
        assert_eq!(p.identity_residual(), 0);
        fill(
            &mut p,
            "S",
            "AAPL",
            OrderSide::Sell,
            4 * ONE,
            110 * ONE,
            ONE,
            2,
            &mut ev,
        )
        .unwrap();
        assert_eq!(p.realised(), i128::from(40 * ONE));
        assert_eq!(ev.last().unwrap().kind, PositionEventKind::Changed);
        fill(
            &mut p,
            "S",
            "AAPL",
            OrderSide::Sell,
            6 * ONE,
            90 * ONE,
            ONE,
            3,
            &mut ev,
        )
        .unwrap();
        assert_eq!(p.realised(), i128::from(40 * ONE - 60 * ONE));
        assert_eq!(p.commissions(), i128::from(3 * ONE));
        assert_eq!(p.cash(), i128::from(10_000 * ONE - 20 * ONE - 3 * ONE));
        assert_eq!(p.net_quantity("AAPL"), 0);
        assert_eq!(p.identity_residual(), 0);
        assert_eq!(ev.last().unwrap().kind, PositionEventKind::Closed);
    }

    #[test]
    fn flip_realises_then_opens() {
        let mut p = pf();
        let mut ev = Vec::new();
        fill(
            &mut p,
            "S",
            "X",
            OrderSide::Buy,
            3 * ONE,
            10 * ONE,
            0,
            1,
            &mut ev,
        )
        .unwrap();
        ev.clear();
        fill(
            &mut p,
            "S",
            "X",
            OrderSide::Sell,
            5 * ONE,
            12 * ONE,
            0,
            2,
            &mut ev,
        )
        .unwrap();
        let kinds: Vec<_> = ev
            .iter()
            .filter(|e| e.strategy_id.is_none())
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            vec![PositionEventKind::Closed, PositionEventKind::Opened]
        );
        let pos = p.position("X").unwrap();
        assert_eq!(pos.quantity.raw(), -2 * ONE);
        assert_eq!(pos.avg_px_raw(), Some(12 * ONE));
        assert_eq!(pos.avg_px().unwrap().to_string(), "12.00");
        assert_eq!(p.realised(), i128::from(6 * ONE));
        assert_eq!(p.identity_residual(), 0);
    }

    #[test]
    fn strategies_attributed_separately() {
        let mut p = pf();
        let mut ev = Vec::new();
        fill(
            &mut p,
            "A",
            "X",
            OrderSide::Buy,
            10 * ONE,
            100 * ONE,
            0,
            1,
            &mut ev,
        )
        .unwrap();
        fill(
            &mut p,
            "B",
            "X",
            OrderSide::Sell,
            10 * ONE,
            110 * ONE,
            0,
            2,
            &mut ev,
        )
        .unwrap();
        p.mark(sym("X"), 105 * ONE);
        assert_eq!(p.net_quantity("X"), 0);
        assert_eq!(p.realised(), i128::from(100 * ONE));
        assert_eq!(p.strategy_pnl("A"), (0, i128::from(50 * ONE), 0));
        assert_eq!(p.strategy_pnl("B"), (0, i128::from(50 * ONE), 0));
        assert_eq!(p.strategy_identity_residual("A"), 0);
    }

    #[test]
    fn cash_account_refuses_shorts_config() {
        assert!(Portfolio::new(AccountConfig {
            starting_cash: 0,
            account_type: AccountType::Cash,
            allow_short: true
        })
        .is_err());
    }

    /// The notional as it was defined: one 128-bit division, rounded half to even.
    fn notional_by_division(quantity: i64, price: i64) -> i128 {
        div_round(
            i128::from(quantity) * i128::from(price),
            i128::from(FIXED_SCALE),
        )
    }

    #[test]
    fn notional_edges() {
        let edges = [
            0,
            1,
            -1,
            499_999_999,
            500_000_000,
            500_000_001,
            1_500_000_000,
            2_500_000_000,
            ONE,
            -ONE,
            ONE - 1,
            ONE + 1,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
            i64::MAX - 1,
        ];
        for q in edges {
            for p in edges {
                assert_eq!(notional(q, p), notional_by_division(q, p), "{q} x {p}");
            }
        }
    }

    proptest! {
        /// The split computation of the notional equals the 128-bit division, ties included.
        #[test]
        fn notional_equals_the_division(
            q in prop_oneof![any::<i64>(), -1_000_000_000_000_i64..1_000_000_000_000, (-2000_i64..2000).prop_map(|k| k * 500_000_000)],
            p in prop_oneof![any::<i64>(), 1_i64..10_000_000_000_000, (-2000_i64..2000).prop_map(|k| k * 500_000_000 + 1)],
        ) {
            prop_assert_eq!(notional(q, p), notional_by_division(q, p));
        }

        /// After every fill and mark: the account identity and every strategy's identity hold
        /// exactly, and strategy P&L sums to account P&L.
        #[test]
        fn identity_after_every_event(
            ops in proptest::collection::vec(
                (0_u8..3, 0_u8..2, any::<bool>(), 1_i64..1_000, 1_i64..100_000, 0_i64..500, any::<bool>()),
                1..80,
            ),
        ) {
            let mut p = pf();
            let mut ev = Vec::new();
            let strategies = ["A", "B", "C"];
            let instruments = ["X", "Y"];
            for (s, i, buy, q, px, fee, mark) in ops {
                let inst = instruments[usize::from(i)];
                let price = px * 10_000_000; // cents
                if mark {
                    p.mark(sym(inst), price);
                } else {
                    let side = if buy { OrderSide::Buy } else { OrderSide::Sell };
                    // Fractional quantities (3 decimals) with cent prices stay exact.
                    fill(&mut p, strategies[usize::from(s)], inst, side, q * 1_000_000, price,
                        fee * 10_000_000, 0, &mut ev).unwrap();
                }
                prop_assert_eq!(p.identity_residual(), 0);
                prop_assert_eq!(p.marked_positions(), p.marked_recomputed());
                prop_assert_eq!(p.exposure(), p.exposure_recomputed());
                prop_assert_eq!(
                    p.has_open_position(),
                    p.positions().values().any(|x| !x.quantity.is_zero())
                );
                let mut total = 0;
                for id in strategies {
                    prop_assert_eq!(p.strategy_identity_residual(id), 0);
                    let (r, u, c) = p.strategy_pnl(id);
                    total += r + u - c;
                }
                prop_assert_eq!(total, p.realised() + p.unrealised() - p.commissions());
            }
        }
    }
}
