//! How strategies plug into the engine: one trait, implemented by Rust strategies and by
//! the Python binding's adapter alike.
//!
//! Every callback receives the engine itself, so a strategy sends orders, reads positions
//! and sets timers through the one command path ([`Engine::submit`] and friends) while it
//! runs. The engine calls only the callbacks a strategy declared in its [`Callbacks`]: an
//! adapter over Python never pays for a method the strategy did not write.

use crate::clock::TimeEvent;
use crate::error::CoreError;
use crate::indicators::BarInput;
use crate::orders::OrderEvent;
use crate::portfolio::PositionEvent;
use crate::types::Bar;

use super::state::Engine;

/// Which callbacks a strategy implements (the others are never called).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Callbacks {
    pub bar: bool,
    pub order: bool,
    pub fill: bool,
    pub position: bool,
    pub timer: bool,
}

impl Callbacks {
    /// Every callback.
    #[must_use]
    pub const fn all() -> Self {
        Self {
            bar: true,
            order: true,
            fill: true,
            position: true,
            timer: true,
        }
    }

    /// Does the strategy want any order, fill or position event?
    #[must_use]
    pub const fn any_event(&self) -> bool {
        self.order || self.fill || self.position
    }
}

/// A strategy as the engine sees it. `E` is the error type callbacks may fail with (the
/// engine's own errors convert into it); a failed callback stops the run with that error.
///
/// Ordering within one bar (see [`Engine::step`]): the venue processes the bar (fills,
/// marks), risk sees the new marks, indicators and crossovers update, then `on_order` /
/// `on_fill` / `on_position` for the venue's events, `on_cross` for crossovers that fired,
/// `on_bar`, each followed by the events the callback's own orders caused.
#[allow(unused_variables)]
pub trait Strategy<E: From<CoreError>> {
    /// Once before the first event: register indicators, set timers.
    fn on_start(&mut self, engine: &mut Engine) -> Result<(), E> {
        Ok(())
    }
    /// A bar of a subscribed instrument, once the strategy's indicators there are ready
    /// (every bar when registered with `warmup`).
    fn on_bar(&mut self, engine: &mut Engine, bar: &Bar) -> Result<(), E> {
        Ok(())
    }
    /// A crossover registered with a handler fired: `direction` +1 up, -1 down.
    fn on_cross(
        &mut self,
        engine: &mut Engine,
        cross: usize,
        bar: &Bar,
        direction: i8,
    ) -> Result<(), E> {
        Ok(())
    }
    /// Every lifecycle event of the strategy's orders.
    fn on_order(&mut self, engine: &mut Engine, event: &OrderEvent) -> Result<(), E> {
        Ok(())
    }
    /// Fills of the strategy's orders (after `on_order` for the same event).
    fn on_fill(&mut self, engine: &mut Engine, event: &OrderEvent) -> Result<(), E> {
        Ok(())
    }
    /// One of the strategy's positions opened, changed or closed.
    fn on_position(&mut self, engine: &mut Engine, event: &PositionEvent) -> Result<(), E> {
        Ok(())
    }
    /// One of the strategy's timers or alerts fired (`event.name` is the name it was set
    /// with).
    fn on_timer(&mut self, engine: &mut Engine, event: &TimeEvent) -> Result<(), E> {
        Ok(())
    }
    /// Once after the last event.
    fn on_stop(&mut self, engine: &mut Engine) -> Result<(), E> {
        Ok(())
    }
    /// Feed the indicator of `slot`, registered with
    /// [`crate::engine::EngineState::register_strategy_indicator`], with one bar; returns
    /// `(ready, value)`. Only called for such slots.
    fn feed_indicator(&mut self, slot: usize, bar: &BarInput) -> Result<(bool, Option<f64>), E> {
        Err(CoreError::InvalidState(format!(
            "indicator slot {slot} is fed by its strategy, which does not feed indicators"
        ))
        .into())
    }
}

impl<'a, E: From<CoreError>> Strategy<E> for Box<dyn Strategy<E> + 'a> {
    fn on_start(&mut self, engine: &mut Engine) -> Result<(), E> {
        (**self).on_start(engine)
    }
    fn on_bar(&mut self, engine: &mut Engine, bar: &Bar) -> Result<(), E> {
        (**self).on_bar(engine, bar)
    }
    fn on_cross(
        &mut self,
        engine: &mut Engine,
        cross: usize,
        bar: &Bar,
        direction: i8,
    ) -> Result<(), E> {
        (**self).on_cross(engine, cross, bar, direction)
    }
    fn on_order(&mut self, engine: &mut Engine, event: &OrderEvent) -> Result<(), E> {
        (**self).on_order(engine, event)
    }
    fn on_fill(&mut self, engine: &mut Engine, event: &OrderEvent) -> Result<(), E> {
        (**self).on_fill(engine, event)
    }
    fn on_position(&mut self, engine: &mut Engine, event: &PositionEvent) -> Result<(), E> {
        (**self).on_position(engine, event)
    }
    fn on_timer(&mut self, engine: &mut Engine, event: &TimeEvent) -> Result<(), E> {
        (**self).on_timer(engine, event)
    }
    fn on_stop(&mut self, engine: &mut Engine) -> Result<(), E> {
        (**self).on_stop(engine)
    }
    fn feed_indicator(&mut self, slot: usize, bar: &BarInput) -> Result<(bool, Option<f64>), E> {
        (**self).feed_indicator(slot, bar)
    }
}

/// An indicator the engine feeds with every bar of its instrument before the strategies'
/// callbacks. Implemented for every [`crate::indicators::Indicator`]; the Python binding
/// implements it over the indicator objects a Python strategy holds.
pub trait FedIndicator: std::fmt::Debug + Send + Sync {
    /// Feed one bar; returns whether the indicator is ready.
    ///
    /// # Errors
    /// The indicator's own input errors.
    fn feed(&mut self, bar: &crate::indicators::BarInput) -> Result<bool, CoreError>;
    /// The current value (`None` while warming up), for crossovers.
    fn level(&self) -> Option<f64>;
}

impl<T: crate::indicators::Indicator + Send + Sync> FedIndicator for T {
    #[inline]
    fn feed(&mut self, bar: &crate::indicators::BarInput) -> Result<bool, CoreError> {
        self.update_bar_input(bar)?;
        Ok(self.is_ready())
    }
    #[inline]
    fn level(&self) -> Option<f64> {
        self.value()
    }
}
