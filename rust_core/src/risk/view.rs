//! What risk reads from the account, and a plain in-memory account for tests, benchmarks and
//! callers that keep their own books.
//!
//! Money is raw `i128` units of 10^-9, quantities and prices raw `i64` units of 10^-9.

use std::collections::BTreeMap;

use crate::portfolio::notional;

/// A read-only view of the account at the moment of a check.
pub trait AccountView {
    /// Cash + marked positions.
    fn equity(&self) -> i128;
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
}

/// A plain account: set the numbers, then check against them. Equity and exposure are
/// derived from cash, positions and last prices.
#[derive(Debug, Clone, Default)]
pub struct SimpleAccount {
    pub cash: i128,
    pub shorts_allowed: bool,
    /// Overrides the derived buying power (cash) when set.
    pub buying_power: Option<i128>,
    pub pending_buy_notional: i128,
    /// P&L not visible from positions (realised, net of commissions).
    pub realised_pnl: i128,
    /// instrument -> (quantity, average price).
    pub positions: BTreeMap<String, (i64, i64)>,
    /// strategy -> instrument -> quantity.
    pub strategy_positions: BTreeMap<String, BTreeMap<String, i64>>,
    pub strategy_pnl: BTreeMap<String, i128>,
    pub last_prices: BTreeMap<String, i64>,
    pub open_orders: u32,
    pub strategy_open_orders: BTreeMap<String, u32>,
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
    }

    pub fn set_last_price(&mut self, instrument: &str, price: i64) {
        self.last_prices.insert(instrument.to_owned(), price);
    }

    fn mark(&self, instrument: &str, avg: i64) -> i64 {
        self.last_prices.get(instrument).copied().unwrap_or(avg)
    }

    fn marked(&self) -> impl Iterator<Item = (i128, i128)> + '_ {
        self.positions.iter().map(|(i, &(q, avg))| {
            let m = self.mark(i, avg);
            (notional(q, m), notional(q, avg))
        })
    }

    /// Unrealised P&L of the positions at their last prices.
    #[must_use]
    pub fn unrealised(&self) -> i128 {
        self.marked().map(|(v, c)| v - c).sum()
    }
}

impl AccountView for SimpleAccount {
    fn equity(&self) -> i128 {
        self.cash + self.marked().map(|(v, _)| v).sum::<i128>()
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
        self.marked().map(|(v, _)| v.abs()).sum()
    }
    fn net_exposure(&self) -> i128 {
        self.marked().map(|(v, _)| v).sum()
    }
    fn open_positions(&self) -> u32 {
        u32::try_from(self.positions.values().filter(|p| p.0 != 0).count()).unwrap_or(u32::MAX)
    }
    fn total_pnl(&self) -> i128 {
        self.realised_pnl + self.unrealised()
    }
    fn strategy_pnl(&self, strategy_id: &str) -> i128 {
        self.strategy_pnl.get(strategy_id).copied().unwrap_or(0)
    }
    fn open_orders(&self, strategy_id: Option<&str>) -> u32 {
        match strategy_id {
            None => self.open_orders,
            Some(s) => self.strategy_open_orders.get(s).copied().unwrap_or(0),
        }
    }
}
