//! [`AccountView`] for the engine's own books: the [`Portfolio`] alone, a portfolio with the
//! caller's open-order counts ([`PortfolioView`]), and the [`SimulatedVenue`] (its portfolio
//! plus its working orders).

use super::view::{AccountView, Totals};
use crate::orders::{Order, OrderSide};
use crate::portfolio::{notional, Portfolio, Position};
use crate::types::Price;
use crate::venue::SimulatedVenue;

fn total_pnl(p: &Portfolio) -> i128 {
    p.realised() + p.unrealised() - p.commissions()
}

fn strategy_pnl(p: &Portfolio, strategy_id: &str) -> i128 {
    let (r, u, c) = p.strategy_pnl(strategy_id);
    r + u - c
}

fn strategy_position(p: &Portfolio, strategy_id: &str, instrument: &str) -> i64 {
    p.strategy(strategy_id)
        .and_then(|s| s.positions.get(instrument))
        .map_or(0, Position::raw_quantity)
}

fn open_positions(p: &Portfolio) -> u32 {
    u32::try_from(
        p.positions()
            .values()
            .filter(|x| !x.quantity.is_zero())
            .count(),
    )
    .unwrap_or(u32::MAX)
}

/// Access to the portfolio behind a view.
trait Books {
    fn books(&self) -> &Portfolio;
}

impl Books for Portfolio {
    fn books(&self) -> &Portfolio {
        self
    }
}

impl Books for PortfolioView<'_> {
    fn books(&self) -> &Portfolio {
        self.portfolio
    }
}

impl Books for SimulatedVenue {
    fn books(&self) -> &Portfolio {
        self.portfolio()
    }
}

macro_rules! portfolio_account_view {
    () => {
        fn equity(&self) -> i128 {
            self.books().equity()
        }
        /// From the sums the portfolio keeps (no pass over the positions: this runs on
        /// every step); its identity makes P&L = equity − starting cash.
        fn totals(&self) -> Totals {
            let p = self.books();
            let (net, gross) = (p.marked_positions(), p.exposure());
            let equity = p.cash() + net;
            Totals {
                equity,
                total_pnl: equity - p.starting_cash(),
                gross_exposure: gross,
                net_exposure: net,
            }
        }
        fn cash(&self) -> i128 {
            self.books().cash()
        }
        fn buying_power(&self) -> i128 {
            self.books().buying_power()
        }
        fn shorts_allowed(&self) -> bool {
            self.books().shorts_allowed()
        }
        fn position_quantity(&self, instrument: &str) -> i64 {
            self.books().net_quantity(instrument)
        }
        fn strategy_position_quantity(&self, strategy_id: &str, instrument: &str) -> i64 {
            strategy_position(self.books(), strategy_id, instrument)
        }
        fn last_price(&self, instrument: &str) -> Option<i64> {
            self.books().mark_of(instrument)
        }
        fn gross_exposure(&self) -> i128 {
            self.books().exposure()
        }
        fn net_exposure(&self) -> i128 {
            self.books().net_exposure()
        }
        fn open_positions(&self) -> u32 {
            open_positions(self.books())
        }
        fn total_pnl(&self) -> i128 {
            total_pnl(self.books())
        }
        fn strategy_pnl(&self, strategy_id: &str) -> i128 {
            strategy_pnl(self.books(), strategy_id)
        }
    };
}

/// The portfolio alone knows no orders: open orders count 0, nothing is pending.
impl AccountView for Portfolio {
    portfolio_account_view!();
    fn open_orders(&self, _strategy_id: Option<&str>) -> u32 {
        0
    }
}

/// A portfolio plus the open-order counts the caller keeps.
#[derive(Debug, Clone, Copy)]
pub struct PortfolioView<'a> {
    pub portfolio: &'a Portfolio,
    /// Every open order of the account.
    pub open_orders: u32,
    /// Open orders of the strategy being checked (the one in the order request).
    pub strategy_open_orders: u32,
    pub pending_buy_notional: i128,
}

impl AccountView for PortfolioView<'_> {
    portfolio_account_view!();
    fn pending_buy_notional(&self) -> i128 {
        self.pending_buy_notional
    }
    fn open_orders(&self, strategy_id: Option<&str>) -> u32 {
        match strategy_id {
            None => self.open_orders,
            Some(_) => self.strategy_open_orders,
        }
    }
}

/// The simulated venue: its portfolio, and its working orders (counted by a scan, so use a
/// [`PortfolioView`] with maintained counts on a hot path with many working orders).
impl AccountView for SimulatedVenue {
    portfolio_account_view!();
    fn pending_buy_notional(&self) -> i128 {
        self.open_orders()
            .filter(|o| o.side == OrderSide::Buy)
            .map(|o| {
                let px = o
                    .price
                    .or(o.trigger_price)
                    .map(Price::raw)
                    .or_else(|| self.portfolio().mark_at(&o.instrument))
                    .unwrap_or(0);
                notional(o.leaves_raw(), px)
            })
            .sum()
    }
    fn working_quantity(
        &self,
        strategy_id: Option<&str>,
        instrument: &str,
        side: OrderSide,
    ) -> i64 {
        SimulatedVenue::open_orders(self)
            .filter(|o| {
                o.side == side
                    && o.instrument == instrument
                    && strategy_id.is_none_or(|s| o.strategy_id == s)
            })
            .map(Order::leaves_raw)
            .sum()
    }
    fn sells_in_flight(&self, instrument: &str) -> i64 {
        SimulatedVenue::open_orders(self)
            .filter(|o| o.is_sell_in_flight(instrument))
            .map(Order::leaves_raw)
            .sum()
    }
    fn open_orders(&self, strategy_id: Option<&str>) -> u32 {
        let n = match strategy_id {
            None => self.open_orders().count(),
            Some(s) => self.open_orders().filter(|o| o.strategy_id == s).count(),
        };
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}
