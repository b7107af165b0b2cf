//! The vectorised mode: a strategy given as an array of target positions, run as an
//! ordinary strategy of the engine (no second loop), entirely in Rust.
//!
//! At each bar `i` of its instrument (after the venue has processed it, exactly when an
//! event-driven strategy's `on_bar` runs) it compares `target[i]` with its position plus
//! its working orders and sends one market order for the difference, through the same risk
//! checks and venue as any order. So a Python strategy that does the same in `on_bar`
//! produces the same fills; `tests/unit/engine/test_vectorised.py` checks it.

use crate::error::{CoreError, CoreResult};
use crate::orders::OrderSide;
use crate::types::{Bar, Quantity, Symbol};

use super::state::{Engine, StrategySpec};
use super::strategy::{Callbacks, Strategy};

/// Target positions (raw signed quantities, one per bar of `symbol`).
#[derive(Debug, Clone)]
pub struct TargetPositions {
    pub strategy: usize,
    pub symbol: Symbol,
    /// Decimal places of the instrument's quantities (orders are declared with them).
    size_precision: u8,
    pub target: Vec<i64>,
    next: usize,
    /// Orders sent.
    pub orders: u64,
}

impl TargetPositions {
    /// Register a target-position strategy `strategy_id` on `symbol` with `engine`, for a
    /// run over `bars` bars of that symbol.
    ///
    /// # Errors
    /// `target` and `bars` differ in length, or registration fails.
    pub fn register(
        engine: &mut Engine,
        strategy_id: &str,
        symbol: &str,
        target: Vec<i64>,
        bars: usize,
    ) -> CoreResult<Self> {
        if target.len() != bars {
            return Err(CoreError::invalid(
                "target",
                format!("has {} entries for {bars} bars of {symbol}", target.len()),
            ));
        }
        let strategy = engine.add_strategy(StrategySpec {
            id: strategy_id.to_owned(),
            symbols: vec![symbol.to_owned()],
            callbacks: Callbacks {
                bar: true,
                ..Callbacks::default()
            },
            warmup: true,
        })?;
        let ins = &engine.instruments[engine.instrument_index(symbol)?];
        let (symbol, size_precision) = (ins.symbol, ins.size_precision);
        Ok(Self {
            strategy,
            symbol,
            size_precision,
            target,
            next: 0,
            orders: 0,
        })
    }
}

impl<E: From<CoreError>> Strategy<E> for TargetPositions {
    fn on_bar(&mut self, engine: &mut Engine, _bar: &Bar) -> Result<(), E> {
        let Some(&want) = self.target.get(self.next) else {
            return Ok(());
        };
        self.next += 1;
        let held = engine.position_raw(self.strategy, &self.symbol)?;
        let sid = engine.strategies[self.strategy].id;
        // A working order (sent on the previous bar, not filled yet) counts towards the
        // target, as it would for a strategy that checks its open orders.
        let working: i64 = engine
            .venue
            .open_orders()
            .filter(|o| o.strategy_id == sid && o.instrument == self.symbol)
            .map(|o| o.side.sign() * o.leaves_raw())
            .sum();
        let diff = want - held - working;
        if diff != 0 {
            let side = if diff > 0 {
                OrderSide::Buy
            } else {
                OrderSide::Sell
            };
            self.orders += 1;
            let quantity = Quantity::from_raw_or_finer(diff.abs(), self.size_precision);
            engine.submit_market(self.strategy, self.symbol.as_str(), side, quantity)?;
        }
        Ok(())
    }
}
