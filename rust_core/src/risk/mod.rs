//! Pre-trade risk: every order — from a strategy, the API or a test — passes
//! [`RiskEngine::check`] before it reaches the venue.
//!
//! - [`config`]: limits at three levels (account, strategy, instrument) and the named
//!   profiles (`conservative`, `default` = the original system's limits, `aggressive`).
//! - [`engine`]: the checks, the trading state (ACTIVE → REDUCING → HALTED) and its
//!   automatic transitions on a breached daily loss, drawdown or strategy loss limit.
//! - [`denial`]: a denial is data — a machine code, the limit's level, the numbers and a
//!   message — never an error; state changes are [`RiskEvent`]s.
//! - [`session`]: time zones (US/EU daylight saving, fixed offsets), the risk day and the
//!   trading hours in the exchange's zone.
//! - [`sizing`]: position sizing helpers; [`RiskEngine::size_order`] clips them to the limits.
//! - [`view`]: [`AccountView`], what risk reads from the account; `portfolio_view` implements
//!   it for the engine's `Portfolio` and `SimulatedVenue`.
//!
//! Everything is raw integers on the shared 10^-9 scale; see `docs/risk.md`.

pub mod config;
pub mod denial;
pub mod engine;
pub mod flow;
pub mod limits;
mod portfolio_view;
pub mod session;
pub mod sizing;
pub mod view;

#[cfg(test)]
mod tests;

pub use config::{
    AccountLimits, FlowLimits, InstrumentLimits, OrderLimits, RiskConfig, StrategyLimits, ONE,
};
pub use denial::{Denial, DenialCode, LimitScope, RiskEvent, StateCause, TradingState};
pub use engine::{OrderRequest, RiskEngine, RiskRestore, Scope};
pub use limits::{limit_kind, limit_names, LimitKind};
pub use portfolio_view::PortfolioView;
pub use session::{DstRule, SessionConfig, TimeZone, TradingHours};
pub use sizing::{size, Sizing};
pub use view::{AccountView, SimpleAccount, Totals};
