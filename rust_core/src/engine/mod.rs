//! The backtest engine's data side: validated bar series, their merge in time order, the
//! crossover signal, and the records a run produces (equity curve, fills).
//!
//! The loop itself lives where it can call strategies: `python/engine.rs` drives Python
//! strategies; [`signals::run_signals`] drives a vectorised strategy (target positions
//! given as an array) entirely in Rust. Both feed the same [`crate::venue::SimulatedVenue`],
//! so their fills agree for the same signals.

pub mod cross;
pub mod feed;
pub mod record;
pub mod signals;

pub use cross::CrossOver;
pub use feed::{BarSeries, Feed};
pub use record::{round_trips, FillRecord, Recorder, RoundTrip};
