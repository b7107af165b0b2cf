//! The trading engine, used alike by backtests and (next) the live trading node.
//!
//! * [`Engine`] owns the clock, venue, risk engine, indicator and crossover slots, the
//!   recorder and the event queue, with one command path (submit, modify, cancel, close,
//!   size) through risk then venue (`commands.rs`).
//! * Strategies plug in through the [`Strategy`] trait; the Python binding implements it
//!   over Python objects and only converts and forwards.
//! * The loop (`run.rs`) is driven by a historical feed ([`Engine::run`]) or one event at
//!   a time ([`Engine::step`]) with the same code.
//! * The vectorised mode ([`TargetPositions`]) is a strategy like any other.

pub mod broker;
pub mod commands;
pub mod cross;
pub mod feed;
pub mod record;
pub mod run;
pub mod signals;
pub mod state;
pub mod strategy;

#[cfg(test)]
mod tests;

pub use cross::CrossOver;
pub use feed::{BarSeries, Column, Feed};
pub use record::{round_trips, FillRecord, Recorder, RoundTrip};
pub use run::MarketEvent;
pub use signals::TargetPositions;
pub use state::{
    DenialRecord, Engine, EngineState, InstrumentSlot, OutEvent, Outbox, StrategySlot, StrategySpec,
};
pub use strategy::{Callbacks, FedIndicator, Strategy};
