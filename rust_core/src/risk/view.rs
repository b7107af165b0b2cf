//! What risk reads from the account, and a plain in-memory account for tests, benchmarks and
//! callers that keep their own books.
//!
//! Money is raw `i128` units of 10^-9, quantities and prices raw `i64` units of 10^-9.

use std::collections::BTreeMap;

use crate::orders::OrderSide;
use crate::portfolio::notional;

/// The account-wide numbers a check reads (raw money).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub equity: i128,
    pub total_pnl: i128,
    pub gross_exposure: i128,
    pub net_exposure: i128,
}

/// A read-only view of the account at the moment of a check.
pub trait AccountView {
    /// Cash + marked positions.
    fn equity(&self) -> i128;
    /// Equity, P&L and exposures together, read once per check; views that can derive them
    /// from one pass over the positions override it.
    fn totals(&self) -> Totals {
        Totals {
            equity: self.equity(),
            total_pnl: self.total_pnl(),
            gross_exposure: self.gross_exposure(),
            net_exposure: self.net_exposure(),
        }
    }
    fn cash(&self) -> i128;
    /// What buys may spend now (a cash account: its cash).
    fn buying_power(&self) -> i128;
    /// Notional of open buy orders not yet filled (reserved against buying power).
    fn pending_buy_notional(&self) -> i128 {
        0
    }
    /// Whether a sell may leave a position short.
    fn shorts_allowed(&self) -> bool;
    /// The account's signed net position in `instrument` (raw quantity).
    fn position_quantity(&self, instrument: &str) -> i64;
    /// One strategy's signed position in `instrument`.
    fn strategy_position_quantity(&self, strategy_id: &str, instrument: &str) -> i64;
    /// The last (mark) price of `instrument`, if known.
    fn last_price(&self, instrument: &str) -> Option<i64>;
    /// Σ |marked position value|.
    fn gross_exposure(&self) -> i128;
    /// Σ marked position value (longs − shorts).
    fn net_exposure(&self) -> i128;
    /// Number of instruments with a non-zero position.
    fn open_positions(&self) -> u32;
    /// Realised + unrealised − commissions, since the account opened.
    fn total_pnl(&self) -> i128;
    /// The same for one strategy.
    fn strategy_pnl(&self, strategy_id: &str) -> i128;
    /// Open (working) orders: all of the account's, or one strategy's.
    fn open_orders(&self, strategy_id: Option<&str>) -> u32;
    /// Unfilled quantity of working orders on `side` in `instrument` (the account's, or one
    /// strategy's). Read only in the REDUCING state; 0 for views that know no orders.
    fn working_quantity(
        &self,
        _strategy_id: Option<&str>,
        _instrument: &str,
        _side: OrderSide,
    ) -> i64 {
        0
    }
    /// Unfilled quantity of the account's sells in `instrument` that are about to sell:
    /// market orders, and any order sent but not yet acknowledged (on its way to a
    /// broker). Resting limit and stop exits and contingent (OCO/OTO) legs are not counted:
    /// they may never fill, and the simulated venue cuts a sell to the position at fill
    /// time. 0 for views that know no orders.
    fn sells_in_flight(&self, _instrument: &str) -> i64 {
        0
    }
}

/// A plain account: set the numbers, then check against them. Equity and exposure are
/// derived from cash, positions and last prices; the position aggregates are kept up to date
/// by the setters, so every read is O(1) or one map lookup.
#[derive(Debug, Clone, Default)]
pub struct SimpleAccount {
    pub cash: i128,
    pub shorts_allowed: bool,
    /// Overrides the derived buying power (cash) when set.
    pub buying_power: Option<i128>,
    pub pending_buy_notional: i128,
    /// P&L not visible from positions (realised, net of commissions).
    pub realised_pnl: i128,
    /// instrument -> (quantity, average price); set with `set_position`.
    positions: BTreeMap<String, (i64, i64)>,
    /// strategy -> instrument -> quantity.
    pub strategy_positions: BTreeMap<String, BTreeMap<String, i64>>,
    pub strategy_pnl: BTreeMap<String, i128>,
    /// Set with `set_last_price` / `set_position`.
    last_prices: BTreeMap<String, i64>,
    pub open_orders: u32,
    pub strategy_open_orders: BTreeMap<String, u32>,
    /// instrument -> unfilled working quantity `[buy, sell]` (the account's; strategies
    /// see the same numbers).
    pub working: BTreeMap<String, [i64; 2]>,
    /// Aggregates over the positions: Σ marked value, Σ |marked value|, Σ cost, open count.
    marked: i128,
    gross: i128,
    cost: i128,
    open: u32,
}

impl SimpleAccount {
    /// An account holding `cash` and nothing else.
    #[must_use]
    pub fn with_cash(cash: i128) -> Self {
        Self {
            cash,
            ..Self::default()
        }
    }

    /// Sets a position (and its strategy's share, if given) at `avg_price`; the last price
    /// defaults to the average price.
    pub fn set_position(
        &mut self,
        instrument: &str,
        quantity: i64,
        avg_price: i64,
        strategy_id: Option<&str>,
    ) {
        self.positions
            .insert(instrument.to_owned(), (quantity, avg_price));
        self.last_prices
            .entry(instrument.to_owned())
            .or_insert(avg_price);
        if let Some(s) = strategy_id {
            self.strategy_positions
                .entry(s.to_owned())
                .or_default()
                .insert(instrument.to_owned(), quantity);
        }
        self.aggregate();
    }

    pub fn set_last_price(&mut self, instrument: &str, price: i64) {
        self.last_prices.insert(instrument.to_owned(), price);
        self.aggregate();
    }

    /// `(quantity, average price)` of every position, by instrument.
    #[must_use]
    pub fn positions(&self) -> &BTreeMap<String, (i64, i64)> {
        &self.positions
    }

    fn aggregate(&mut self) {
        let (mut marked, mut gross, mut cost, mut open) = (0, 0, 0, 0_u32);
        for (v, c, q) in self.marked() {
            marked += v;
            gross += v.abs();
            cost += c;
            open += u32::from(q != 0);
        }
        (self.marked, self.gross, self.cost, self.open) = (marked, gross, cost, open);
    }

    fn mark(&self, instrument: &str, avg: i64) -> i64 {
        self.last_prices.get(instrument).copied().unwrap_or(avg)
    }

    fn marked(&self) -> impl Iterator<Item = (i128, i128, i64)> + '_ {
        self.positions.iter().map(|(i, &(q, avg))| {
            let m = self.mark(i, avg);
            (notional(q, m), notional(q, avg), q)
        })
    }

    /// Unrealised P&L of the positions at their last prices.
    #[must_use]
    pub fn unrealised(&self) -> i128 {
        self.marked - self.cost
    }
}

impl AccountView for SimpleAccount {
    fn equity(&self) -> i128 {
        self.cash + self.marked
    }
    fn cash(&self) -> i128 {
        self.cash
    }
    fn buying_power(&self) -> i128 {
        self.buying_power.unwrap_or(self.cash.max(0))
    }
    fn pending_buy_notional(&self) -> i128 {
        self.pending_buy_notional
    }
    fn shorts_allowed(&self) -> bool {
        self.shorts_allowed
    }
    fn position_quantity(&self, instrument: &str) -> i64 {
        self.positions.get(instrument).map_or(0, |p| p.0)
    }
    fn strategy_position_quantity(&self, strategy_id: &str, instrument: &str) -> i64 {
        self.strategy_positions
            .get(strategy_id)
            .and_then(|m| m.get(instrument))
            .copied()
            .unwrap_or(0)
    }
    fn last_price(&self, instrument: &str) -> Option<i64> {
        self.last_prices.get(instrument).copied()
    }
    fn gross_exposure(&self) -> i128 {
        self.gross
    }
    fn net_exposure(&self) -> i128 {
        self.marked
    }
    fn open_positions(&self) -> u32 {
        self.open
    }
    fn total_pnl(&self) -> i128 {
        self.realised_pnl + self.unrealised()
    }
    fn strategy_pnl(&self, strategy_id: &str) -> i128 {
        self.strategy_pnl.get(strategy_id).copied().unwrap_or(0)
    }
    fn working_quantity(
        &self,
        _strategy_id: Option<&str>,
        instrument: &str,
        side: OrderSide,
    ) -> i64 {
        self.working
            .get(instrument)
            .map_or(0, |w| w[usize::from(side == OrderSide::Sell)])
    }
    fn open_orders(&self, strategy_id: Option<&str>) -> u32 {
        match strategy_id {
            None => self.open_orders,
            Some(s) => self.strategy_open_orders.get(s).copied().unwrap_or(0),
        }
    }
}
