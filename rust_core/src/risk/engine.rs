//! The risk engine: pre-trade checks, trading state and its automatic transitions.
//!
//! One call per order, [`RiskEngine::check`], on raw integers. The common path (an order
//! that passes) allocates nothing: lookups borrow `&str` keys, flow state lives in fixed
//! rings, and strings are formatted only for a denial or a state change.

use std::collections::BTreeMap;

use super::config::{
    AccountLimits, FlowLimits, InstrumentLimits, OrderLimits, RiskConfig, StrategyLimits, ONE,
};
use super::denial::{Denial, DenialCode, LimitScope, RiskEvent, StateCause, TradingState};
use super::flow::{fingerprint, FlowState};
use super::session::{format_date, SessionClock};
use super::view::{AccountView, Totals};
use crate::error::CoreResult;
use crate::orders::{Order, OrderSide};
use crate::portfolio::notional;
use crate::types::{Calendar, Instrument, Price};

/// What risk needs to know about an order. Quantities and prices are raw units of 10^-9.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderRequest<'a> {
    pub strategy_id: &'a str,
    pub instrument: &'a str,
    pub side: OrderSide,
    pub quantity: i64,
    /// Limit price (limit, stop-limit).
    pub price: Option<i64>,
    /// Trigger price (stops, market-if-touched).
    pub trigger_price: Option<i64>,
    /// Sent on a bar that stands for a whole session or more (daily, weekly bars): the
    /// trading-hours check asks whether that day traded, not whether the bar's close
    /// stamp falls inside the intraday hours (a daily bar closes after them).
    pub whole_session: bool,
}

impl<'a> OrderRequest<'a> {
    /// A market order (no prices).
    #[must_use]
    pub fn new(strategy_id: &'a str, instrument: &'a str, side: OrderSide, quantity: i64) -> Self {
        Self {
            strategy_id,
            instrument,
            side,
            quantity,
            price: None,
            trigger_price: None,
            whole_session: false,
        }
    }

    #[must_use]
    pub fn with_price(mut self, price: i64) -> Self {
        self.price = Some(price);
        self
    }

    #[must_use]
    pub fn with_trigger(mut self, trigger: i64) -> Self {
        self.trigger_price = Some(trigger);
        self
    }

    /// The request for an [`Order`] (borrowing its ids).
    #[must_use]
    pub fn from_order(order: &'a Order) -> Self {
        Self {
            strategy_id: order.strategy_id.as_str(),
            instrument: order.instrument.as_str(),
            side: order.side,
            quantity: order.quantity.raw(),
            price: order.price.map(Price::raw),
            trigger_price: order.trigger_price.map(Price::raw),
            whole_session: false,
        }
    }

    fn signed(&self) -> i64 {
        self.side.sign().saturating_mul(self.quantity)
    }
}

/// Where a limit is set: the account, one strategy or one instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    Account,
    Strategy(&'a str),
    Instrument(&'a str),
}

#[derive(Debug, Clone, Default)]
struct StrategyEntry {
    limits: StrategyLimits,
    flow: FlowState,
    state: TradingState,
    cause: Option<StateCause>,
    /// Strategy P&L at the session start (set at the first sight in a session).
    baseline: Option<i128>,
}

/// What [`RiskEngine::restore`] puts back after a restart.
#[derive(Debug, Clone, Default)]
pub struct RiskRestore {
    /// Account P&L (raw) at the start of the session in progress.
    pub session_start_pnl: Option<i128>,
    /// Highest equity (raw) seen before the restart.
    pub equity_peak: Option<i128>,
    pub state: TradingState,
    pub cause: Option<StateCause>,
    /// `(strategy id, state, cause)` of strategies not active.
    pub strategies: Vec<(String, TradingState, Option<StateCause>)>,
}

/// The pre-trade risk engine. See the module docs and `docs/risk.md`.
#[derive(Debug)]
pub struct RiskEngine {
    /// Account-level configuration (the strategy and instrument maps live in the entries).
    config: RiskConfig,
    clock: SessionClock,
    state: TradingState,
    cause: Option<StateCause>,
    peak: Option<i128>,
    baseline: Option<i128>,
    flow: FlowState,
    strategies: BTreeMap<String, StrategyEntry>,
    instruments: BTreeMap<String, InstrumentLimits>,
    events: Vec<RiskEvent>,
    checks: u64,
    denials: [u64; DenialCode::ALL.len()],
}

impl RiskEngine {
    /// An engine with `config` (validated).
    ///
    /// # Errors
    /// `InvalidInput` for an inconsistent configuration.
    pub fn new(mut config: RiskConfig) -> CoreResult<Self> {
        config.validate()?;
        let clock = SessionClock::new(config.session.clone())?;
        let strategies = std::mem::take(&mut config.strategies)
            .into_iter()
            .map(|(id, limits)| {
                let entry = StrategyEntry {
                    limits,
                    flow: FlowState::new(&limits.flow),
                    ..StrategyEntry::default()
                };
                (id, entry)
            })
            .collect();
        let instruments = std::mem::take(&mut config.instruments);
        Ok(Self {
            flow: FlowState::new(&config.flow),
            config,
            clock,
            state: TradingState::Active,
            cause: None,
            peak: None,
            baseline: None,
            strategies,
            instruments,
            events: Vec::with_capacity(8),
            checks: 0,
            denials: [0; DenialCode::ALL.len()],
        })
    }

    /// An engine with a named profile.
    ///
    /// # Errors
    /// `InvalidInput` for an unknown profile.
    pub fn with_profile(name: &str) -> CoreResult<Self> {
        Self::new(RiskConfig::profile(name)?)
    }

    /// The full configuration (a copy, including strategy and instrument limits).
    #[must_use]
    pub fn config(&self) -> RiskConfig {
        let mut c = self.config.clone();
        c.strategies = self
            .strategies
            .iter()
            .map(|(k, v)| (k.clone(), v.limits))
            .collect();
        c.instruments = self.instruments.clone();
        c
    }

    // ------------------------------------------------------------------ configuration

    /// Replaces one strategy's limits.
    pub fn set_strategy_limits(&mut self, strategy_id: &str, limits: StrategyLimits) {
        let e = self.strategy_entry(strategy_id);
        e.limits = limits;
        e.flow.resize(&limits.flow);
    }

    /// Replaces one instrument's limits (tick, lot and order limits).
    pub fn set_instrument_limits(&mut self, instrument: &str, limits: InstrumentLimits) {
        self.instruments.insert(instrument.to_owned(), limits);
    }

    /// Registers an instrument's tick and lot size (keeps its limits and calendar).
    pub fn add_instrument(&mut self, instrument: &str, tick_size: i64, lot_size: i64) {
        let e = self.instruments.entry(instrument.to_owned()).or_default();
        e.tick_size = (tick_size > 0).then_some(tick_size);
        e.lot_size = (lot_size > 0).then_some(lot_size);
    }

    /// Registers an instrument: its tick and lot size and its calendar (keeps its limits).
    pub fn register_instrument(&mut self, instrument: &Instrument) {
        let symbol = instrument.symbol.as_str();
        self.add_instrument(
            symbol,
            instrument.tick_size.raw(),
            instrument.lot_size.raw(),
        );
        self.set_calendar(symbol, instrument.calendar);
    }

    /// When `instrument` trades: `Session` (the default) applies the session's trading
    /// hours, `AlwaysOpen` never denies it for hours.
    pub fn set_calendar(&mut self, instrument: &str, calendar: Calendar) {
        self.instruments
            .entry(instrument.to_owned())
            .or_default()
            .calendar = calendar;
    }

    /// An instrument's calendar (`Session` when never set).
    #[must_use]
    pub fn calendar(&self, instrument: &str) -> Calendar {
        self.instruments
            .get(instrument)
            .map_or(Calendar::Session, |i| i.calendar)
    }

    /// Mutable account-level limits (flow limits: use [`RiskEngine::set_flow_limits`]).
    pub fn account_limits_mut(&mut self) -> &mut AccountLimits {
        &mut self.config.account
    }

    /// Mutable account-level order limits.
    pub fn order_limits_mut(&mut self) -> &mut OrderLimits {
        &mut self.config.order
    }

    /// Replaces the account-level flow limits.
    pub fn set_flow_limits(&mut self, flow: FlowLimits) {
        self.config.flow = flow;
        self.flow.resize(&flow);
    }

    /// Sets the automatic transitions and the halt commands.
    pub fn set_actions(
        &mut self,
        on_daily_loss: TradingState,
        on_drawdown: TradingState,
        on_strategy_loss: TradingState,
        cancel_on_halt: bool,
        flatten_on_halt: bool,
    ) {
        self.config.on_daily_loss = on_daily_loss.max(TradingState::Reducing);
        self.config.on_drawdown = on_drawdown.max(TradingState::Reducing);
        self.config.on_strategy_loss = on_strategy_loss.max(TradingState::Reducing);
        self.config.cancel_on_halt = cancel_on_halt;
        self.config.flatten_on_halt = flatten_on_halt;
    }

    /// Replaces the session configuration (time zone, reset time, trading hours).
    ///
    /// # Errors
    /// `InvalidInput` for invalid hours.
    pub fn set_session(&mut self, session: super::session::SessionConfig) -> CoreResult<()> {
        self.clock = SessionClock::new(session.clone())?;
        self.config.session = session;
        Ok(())
    }

    fn strategy_entry(&mut self, strategy_id: &str) -> &mut StrategyEntry {
        self.strategies.entry(strategy_id.to_owned()).or_default()
    }

    /// The order limits at one scope, for editing (created empty when missing).
    pub fn order_limits_at(&mut self, scope: Scope<'_>) -> &mut OrderLimits {
        match scope {
            Scope::Account => &mut self.config.order,
            Scope::Strategy(s) => &mut self.strategy_entry(s).limits.order,
            Scope::Instrument(i) => &mut self.instruments.entry(i.to_owned()).or_default().order,
        }
    }

    /// A strategy's limits (defaults when never configured).
    #[must_use]
    pub fn strategy_limits(&self, strategy_id: &str) -> StrategyLimits {
        self.strategies
            .get(strategy_id)
            .map(|e| e.limits)
            .unwrap_or_default()
    }

    /// An instrument's limits (defaults when never configured).
    #[must_use]
    pub fn instrument_limits(&self, instrument: &str) -> InstrumentLimits {
        self.instruments
            .get(instrument)
            .copied()
            .unwrap_or_default()
    }

    /// Account-level configuration (without the per-strategy and per-instrument maps).
    #[must_use]
    pub fn account_config(&self) -> &RiskConfig {
        &self.config
    }

    // ------------------------------------------------------------------ state

    /// The account's trading state.
    #[must_use]
    pub fn state(&self) -> TradingState {
        self.state
    }

    /// Why the account is in its state (`None` when ACTIVE from the start).
    #[must_use]
    pub fn cause(&self) -> Option<StateCause> {
        self.cause
    }

    /// A strategy's own trading state.
    #[must_use]
    pub fn strategy_state(&self, strategy_id: &str) -> TradingState {
        self.strategies
            .get(strategy_id)
            .map_or(TradingState::Active, |e| e.state)
    }

    /// The highest equity seen.
    #[must_use]
    pub fn equity_peak(&self) -> Option<i128> {
        self.peak
    }

    /// P&L since the session start (0 before the first update).
    pub fn session_pnl<V: AccountView + ?Sized>(&self, view: &V) -> i128 {
        self.baseline.map_or(0, |b| view.total_pnl() - b)
    }

    /// Orders accepted by risk this session (account-wide).
    #[must_use]
    pub fn session_orders(&self) -> u32 {
        self.flow.session_orders
    }

    /// Checks run and denials by code (index = `DenialCode as usize`).
    #[must_use]
    pub fn stats(&self) -> (u64, &[u64; DenialCode::ALL.len()]) {
        (self.checks, &self.denials)
    }

    /// Takes the events produced since the last call (state changes, new sessions).
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, RiskEvent> {
        self.events.drain(..)
    }

    /// Operator command: move the account to `to` (any direction). Leaving a state set by
    /// the drawdown limit also resets the equity peak to the current equity.
    pub fn set_state<V: AccountView + ?Sized>(
        &mut self,
        to: TradingState,
        reason: &str,
        view: &V,
        now: u64,
    ) {
        if to == TradingState::Active {
            self.peak = Some(view.equity());
        }
        let from = self.state;
        self.state = to;
        self.cause = Some(StateCause::Admin);
        self.push_state_event(None, from, to, StateCause::Admin, reason.to_owned(), now);
    }

    /// A restarted node's risk state, as storage had it: the session in progress (so the
    /// next update does not start a new one and reset the daily loss), the account's P&L at
    /// that session's start (`None`: now, when nothing older is stored), the equity peak
    /// (never below the current equity) and the trading states with their causes (a
    /// drawdown halt stays sticky; a daily-loss state still clears at the next session).
    /// Strategies' loss limits count from now (their session-start P&L is not stored).
    /// Emits nothing: these are not changes.
    pub fn restore<V: AccountView + ?Sized>(&mut self, view: &V, now: u64, saved: &RiskRestore) {
        let _ = self.clock.risk_day(now);
        self.baseline = Some(saved.session_start_pnl.unwrap_or_else(|| view.total_pnl()));
        let equity = view.equity();
        self.peak = Some(saved.equity_peak.map_or(equity, |p| p.max(equity)));
        self.state = saved.state;
        self.cause = saved.cause;
        for (id, state, cause) in &saved.strategies {
            let e = self.strategy_entry(id);
            e.state = *state;
            e.cause = *cause;
        }
        for (id, e) in &mut self.strategies {
            e.baseline = Some(view.strategy_pnl(id));
        }
    }

    /// UTC ns at which the risk day holding `ts` started (where a restarted node looks
    /// for the session's first equity).
    #[must_use]
    pub fn risk_day_start(&self, ts: u64) -> u64 {
        u64::try_from(self.clock.day_start_of(ts)).unwrap_or(0)
    }

    /// Operator command: move one strategy to `to`.
    pub fn set_strategy_state(
        &mut self,
        strategy_id: &str,
        to: TradingState,
        reason: &str,
        now: u64,
    ) {
        let e = self.strategy_entry(strategy_id);
        let from = e.state;
        e.state = to;
        e.cause = Some(StateCause::Admin);
        self.push_state_event(
            Some(strategy_id.to_owned()),
            from,
            to,
            StateCause::Admin,
            reason.to_owned(),
            now,
        );
    }

    fn push_state_event(
        &mut self,
        strategy_id: Option<String>,
        from: TradingState,
        to: TradingState,
        cause: StateCause,
        message: String,
        ts: u64,
    ) {
        let ev = state_event(&self.config, strategy_id, from, to, cause, message, ts);
        self.events.push(ev);
    }

    /// Raises the account state to `to` if that is more severe.
    fn escalate(
        &mut self,
        to: TradingState,
        cause: StateCause,
        message: impl FnOnce() -> String,
        now: u64,
    ) {
        if to > self.state {
            let from = self.state;
            self.state = to;
            self.cause = Some(cause);
            self.push_state_event(None, from, to, cause, message(), now);
        } else if to == self.state
            && cause == StateCause::Drawdown
            && self.cause == Some(StateCause::DailyLoss)
        {
            // Same state, stickier cause: only an admin may now clear it.
            self.cause = Some(cause);
        }
    }

    /// Session roll-over, equity peak, daily loss, drawdown and every strategy's loss limit.
    /// Call after fills and marks so breaches move the state without waiting for an order.
    pub fn update<V: AccountView + ?Sized>(&mut self, view: &V, now: u64) {
        let _ = self.refresh(view, now);
        let on_loss = self.config.on_strategy_loss;
        for (id, e) in &mut self.strategies {
            if let Some((from, msg)) = strategy_loss(id, e, view, on_loss) {
                self.events.push(state_event(
                    &self.config,
                    Some(id.clone()),
                    from,
                    on_loss,
                    StateCause::StrategyLoss,
                    msg,
                    now,
                ));
            }
        }
    }

    /// Returns the account totals (read once per check and shared).
    fn refresh<V: AccountView + ?Sized>(&mut self, view: &V, now: u64) -> Totals {
        let (day, changed) = self.clock.risk_day(now);
        if changed {
            self.start_session(day, view, now);
        }
        let totals = view.totals();
        let (equity, pnl) = (totals.equity, totals.total_pnl);
        let peak = match self.peak {
            Some(p) if p >= equity => p,
            _ => {
                self.peak = Some(equity);
                equity
            }
        };
        if let Some(max) = self.config.account.max_daily_loss {
            let pnl = pnl - self.baseline.unwrap_or(0);
            if pnl < -max {
                let to = self.config.on_daily_loss;
                self.escalate(
                    to,
                    StateCause::DailyLoss,
                    || format!("daily loss {} exceeds the limit {}", dec(-pnl), dec(max)),
                    now,
                );
            }
        }
        if let Some(max) = self.config.account.max_drawdown {
            if peak > 0 && (peak - equity) * i128::from(ONE) > i128::from(max) * peak {
                let to = self.config.on_drawdown;
                self.escalate(
                    to,
                    StateCause::Drawdown,
                    || {
                        format!(
                            "equity {} is {} below its peak {} ({}): over the drawdown limit {}",
                            dec(equity),
                            dec(peak - equity),
                            dec(peak),
                            ratio_pct((peak - equity) * i128::from(ONE) / peak),
                            ratio_pct(i128::from(max))
                        )
                    },
                    now,
                );
            }
        }
        totals
    }

    fn start_session<V: AccountView + ?Sized>(&mut self, day: i64, view: &V, now: u64) {
        self.baseline = Some(view.total_pnl());
        self.flow.session_orders = 0;
        let mut cleared: Vec<String> = Vec::new();
        for (id, e) in &mut self.strategies {
            e.flow.session_orders = 0;
            e.baseline = Some(view.strategy_pnl(id));
            if e.cause == Some(StateCause::StrategyLoss) {
                e.state = TradingState::Active;
                e.cause = Some(StateCause::NewSession);
                cleared.push(id.clone());
            }
        }
        let date = format_date(day);
        for id in cleared {
            self.push_state_event(
                Some(id),
                self.config.on_strategy_loss,
                TradingState::Active,
                StateCause::NewSession,
                format!("new risk session {date}: strategy loss limit reset"),
                now,
            );
        }
        if self.cause == Some(StateCause::DailyLoss) {
            let from = self.state;
            self.state = TradingState::Active;
            self.cause = Some(StateCause::NewSession);
            self.push_state_event(
                None,
                from,
                TradingState::Active,
                StateCause::NewSession,
                format!("new risk session {date}: daily loss limit reset"),
                now,
            );
        }
        self.events
            .push(RiskEvent::SessionStarted { date, ts: now });
    }

    fn refresh_strategy<V: AccountView + ?Sized>(&mut self, strategy_id: &str, view: &V, now: u64) {
        let on_loss = self.config.on_strategy_loss;
        let Some(e) = self.strategies.get_mut(strategy_id) else {
            return;
        };
        if let Some((from, msg)) = strategy_loss(strategy_id, e, view, on_loss) {
            self.push_state_event(
                Some(strategy_id.to_owned()),
                from,
                on_loss,
                StateCause::StrategyLoss,
                msg,
                now,
            );
        }
    }

    // ------------------------------------------------------------------ checks

    /// The pre-trade check. `Ok(())` lets the order through (and counts it against the flow
    /// limits); `Err(denial)` refuses it. `now` is the engine clock (UTC ns).
    ///
    /// # Errors
    /// A [`Denial`] — a business outcome, to be turned into an order-denied event.
    pub fn check<V: AccountView + ?Sized>(
        &mut self,
        order: &OrderRequest<'_>,
        view: &V,
        now: u64,
    ) -> Result<(), Denial> {
        self.checks += 1;
        let r = self.check_inner(order, view, now);
        if let Err(d) = &r {
            self.denials[d.code as usize] += 1;
        }
        r
    }

    fn check_inner<V: AccountView + ?Sized>(
        &mut self,
        o: &OrderRequest<'_>,
        view: &V,
        now: u64,
    ) -> Result<(), Denial> {
        if o.quantity <= 0
            || o.price.is_some_and(|p| p <= 0)
            || o.trigger_price.is_some_and(|p| p <= 0)
        {
            return Err(deny(
                DenialCode::InvalidOrder,
                LimitScope::Account,
                0,
                i128::from(o.quantity),
                "quantity and prices must be > 0".to_owned(),
            ));
        }
        let totals = self.refresh(view, now);
        if !self.strategies.contains_key(o.strategy_id) {
            // First order of this strategy: the only allocation, once.
            self.strategies
                .insert(o.strategy_id.to_owned(), StrategyEntry::default());
        }
        self.refresh_strategy(o.strategy_id, view, now);

        // Trading state: the account's, then the strategy's.
        // When REDUCING, working orders on the same side count too, so several reducing
        // orders cannot flip the position together.
        let pos = view.position_quantity(o.instrument);
        let reducing_ok = |p: i64, strategy: Option<&str>| {
            let pending = view.working_quantity(strategy, o.instrument, o.side);
            reduces(
                p,
                o.signed()
                    .saturating_add(o.side.sign().saturating_mul(pending)),
            )
        };
        let account_ok = self.state == TradingState::Reducing && reducing_ok(pos, None);
        state_gate(self.state, account_ok, LimitScope::Account, "the account")?;
        let strategy_pos = view.strategy_position_quantity(o.strategy_id, o.instrument);
        let entry_state = self
            .strategies
            .get(o.strategy_id)
            .map_or(TradingState::Active, |e| e.state);
        let strategy_ok =
            entry_state == TradingState::Reducing && reducing_ok(strategy_pos, Some(o.strategy_id));
        state_gate(
            entry_state,
            strategy_ok,
            LimitScope::Strategy,
            "the strategy",
        )?;

        let instrument = self.instruments.get(o.instrument);
        let calendar = instrument.map_or(Calendar::Session, |i| i.calendar);
        let open = if o.whole_session {
            self.clock.is_trading_day(now)
        } else {
            self.clock.is_open(now)
        };
        if calendar == Calendar::Session && !open {
            return Err(deny(
                DenialCode::OutsideTradingHours,
                LimitScope::Account,
                0,
                0,
                format!(
                    "{} outside trading hours ({} in {})",
                    o.instrument,
                    self.config.session.trading_hours.as_ref().map_or_else(
                        String::new,
                        |h| format!(
                            "{:02}:{:02}-{:02}:{:02}",
                            h.open / 60,
                            h.open % 60,
                            h.close / 60,
                            h.close % 60
                        )
                    ),
                    self.config.session.time_zone
                ),
            ));
        }

        let strategy = self.strategies.get(o.strategy_id).map(|e| &e.limits);
        let ctx = Static {
            account: &self.config.account,
            order: &self.config.order,
            strategy,
            instrument,
        };
        evaluate_static(&ctx, o, view, pos, strategy_pos, &totals)?;

        // Flow: open orders, rates, per-session counts, duplicates.
        let fp = fingerprint(
            o.instrument,
            o.side == OrderSide::Buy,
            o.quantity,
            o.price.unwrap_or(0),
            o.trigger_price.unwrap_or(0),
        );
        let account_flow = self.config.flow;
        check_flow(
            &account_flow,
            &self.flow,
            LimitScope::Account,
            || view.open_orders(None),
            now,
        )?;
        let window = self
            .strategies
            .get(o.strategy_id)
            .map_or(account_flow.duplicate_window_ns, |e| {
                max_opt(
                    e.limits.flow.duplicate_window_ns,
                    account_flow.duplicate_window_ns,
                )
            })
            .unwrap_or(0);
        if let Some(e) = self.strategies.get_mut(o.strategy_id) {
            check_flow(
                &e.limits.flow,
                &e.flow,
                LimitScope::Strategy,
                || view.open_orders(Some(o.strategy_id)),
                now,
            )?;
            if window > 0 && e.flow.duplicates.seen(fp, now, window) {
                return Err(deny(
                    DenialCode::DuplicateOrder,
                    LimitScope::Strategy,
                    i128::from(window),
                    0,
                    format!(
                        "same order ({} {} {}) accepted less than {} ms ago",
                        o.side,
                        dec(i128::from(o.quantity)),
                        o.instrument,
                        window / 1_000_000
                    ),
                ));
            }
            e.flow.record(now, fp);
        }
        self.flow.record(now, fp);
        Ok(())
    }

    /// The largest quantity (raw, a multiple of the instrument's lot, or whole units when no
    /// lot is registered) that passes the static limits — size, notional, position, exposure,
    /// concentration, buying power, cash — for an order at `price` (or the last price).
    /// State, trading hours and flow limits are not considered. 0 when nothing fits.
    pub fn max_order_quantity<V: AccountView + ?Sized>(
        &self,
        strategy_id: &str,
        instrument: &str,
        side: OrderSide,
        price: Option<i64>,
        view: &V,
    ) -> i64 {
        let Some(px) = price.or_else(|| view.last_price(instrument)) else {
            return 0;
        };
        if px <= 0 {
            return 0;
        }
        let inst = self.instruments.get(instrument);
        let lot = inst.and_then(|i| i.lot_size).unwrap_or(ONE);
        let ctx = Static {
            account: &self.config.account,
            order: &self.config.order,
            strategy: self.strategies.get(strategy_id).map(|e| &e.limits),
            instrument: inst,
        };
        let pos = view.position_quantity(instrument);
        let spos = view.strategy_position_quantity(strategy_id, instrument);
        let mark = view.last_price(instrument).unwrap_or(px);
        let totals = view.totals();
        let bound = quantity_bound(&ctx, side, px, mark, view, pos, spos, &totals);
        let mut q = (bound / lot) * lot;
        let make = |q: i64| OrderRequest {
            strategy_id,
            instrument,
            side,
            quantity: q,
            price: Some(px),
            trigger_price: None,
            whole_session: false,
        };
        // The bound is exact up to notional rounding; step down a few lots if needed.
        for _ in 0..4 {
            if q <= 0 {
                return 0;
            }
            match evaluate_static(&ctx, &make(q), view, pos, spos, &totals) {
                Ok(()) => return q,
                Err(d) if is_min_limit(d.code) => return 0,
                Err(_) => q -= lot,
            }
        }
        0
    }
}

/// A state-change event; entering HALTED carries the configured commands.
fn state_event(
    config: &RiskConfig,
    strategy_id: Option<String>,
    from: TradingState,
    to: TradingState,
    cause: StateCause,
    message: String,
    ts: u64,
) -> RiskEvent {
    let halting = to == TradingState::Halted && from != TradingState::Halted;
    RiskEvent::StateChanged {
        strategy_id,
        from,
        to,
        cause,
        message,
        cancel_open_orders: halting && config.cancel_on_halt,
        flatten_positions: halting && config.flatten_on_halt,
        ts,
    }
}

/// Evaluates a strategy's loss limit; on a breach moves it to `on_loss` and returns the
/// previous state and the message. Nothing is read when the limit is off or already acted on.
fn strategy_loss<V: AccountView + ?Sized>(
    strategy_id: &str,
    e: &mut StrategyEntry,
    view: &V,
    on_loss: TradingState,
) -> Option<(TradingState, String)> {
    let max = e.limits.max_loss?;
    if e.state >= on_loss && e.baseline.is_some() {
        return None;
    }
    let pnl_now = view.strategy_pnl(strategy_id);
    let base = *e.baseline.get_or_insert(pnl_now);
    let pnl = pnl_now - base;
    if pnl < -max && on_loss > e.state {
        let from = e.state;
        e.state = on_loss;
        e.cause = Some(StateCause::StrategyLoss);
        let msg = format!(
            "strategy {strategy_id} lost {} this session, over its limit {}",
            dec(-pnl),
            dec(max)
        );
        return Some((from, msg));
    }
    None
}

fn is_min_limit(code: DenialCode) -> bool {
    matches!(code, DenialCode::MinQuantity | DenialCode::MinNotional)
}

fn max_opt<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// Whether a signed change `delta` shrinks `pos` without flipping it.
fn reduces(pos: i64, delta: i64) -> bool {
    pos != 0 && (pos > 0) != (delta > 0) && delta.unsigned_abs() <= pos.unsigned_abs()
}

fn state_gate(
    state: TradingState,
    reduces: bool,
    scope: LimitScope,
    who: &str,
) -> Result<(), Denial> {
    match state {
        TradingState::Active => Ok(()),
        TradingState::Reducing if reduces => Ok(()),
        TradingState::Reducing => Err(deny(
            DenialCode::TradingReducing,
            scope,
            0,
            0,
            format!("{who} is reducing: only orders that shrink a position pass"),
        )),
        TradingState::Halted => Err(deny(
            DenialCode::TradingHalted,
            scope,
            0,
            0,
            format!("{who} is halted: no orders pass"),
        )),
    }
}

fn check_flow(
    limits: &FlowLimits,
    flow: &FlowState,
    scope: LimitScope,
    open_orders: impl FnOnce() -> u32,
    now: u64,
) -> Result<(), Denial> {
    if let Some(max) = limits.max_open_orders {
        let open_orders = open_orders();
        if open_orders >= max {
            return Err(deny(
                DenialCode::MaxOpenOrders,
                scope,
                i128::from(max),
                i128::from(open_orders),
                format!("{open_orders} open orders: the {scope} limit is {max}"),
            ));
        }
    }
    if let Some(w) = &flow.per_second {
        if !w.allows(now) {
            return Err(deny(
                DenialCode::RateLimitSecond,
                scope,
                w.limit() as i128,
                w.count(now) as i128,
                format!("more than {} orders per second ({scope} limit)", w.limit()),
            ));
        }
    }
    if let Some(w) = &flow.per_minute {
        if !w.allows(now) {
            return Err(deny(
                DenialCode::RateLimitMinute,
                scope,
                w.limit() as i128,
                w.count(now) as i128,
                format!("more than {} orders per minute ({scope} limit)", w.limit()),
            ));
        }
    }
    if let Some(max) = limits.max_orders_per_session {
        if flow.session_orders >= max {
            return Err(deny(
                DenialCode::MaxOrdersPerSession,
                scope,
                i128::from(max),
                i128::from(flow.session_orders),
                format!(
                    "{} orders this session: the {scope} limit is {max}",
                    flow.session_orders
                ),
            ));
        }
    }
    Ok(())
}

/// The limits that apply to one order, borrowed from the engine.
struct Static<'a> {
    account: &'a AccountLimits,
    order: &'a OrderLimits,
    strategy: Option<&'a StrategyLimits>,
    instrument: Option<&'a InstrumentLimits>,
}

impl Static<'_> {
    /// The order limits by level, with the position each level measures.
    fn levels(&self) -> [(Option<&OrderLimits>, LimitScope); 3] {
        [
            (Some(self.order), LimitScope::Account),
            (self.strategy.map(|s| &s.order), LimitScope::Strategy),
            (self.instrument.map(|i| &i.order), LimitScope::Instrument),
        ]
    }
}

fn deny(code: DenialCode, scope: LimitScope, limit: i128, actual: i128, message: String) -> Denial {
    Denial {
        code,
        scope,
        limit,
        actual,
        message,
    }
}

/// Every check that depends only on the order, the limits and the account view.
fn evaluate_static<V: AccountView + ?Sized>(
    ctx: &Static<'_>,
    o: &OrderRequest<'_>,
    view: &V,
    pos: i64,
    strategy_pos: i64,
    totals: &Totals,
) -> Result<(), Denial> {
    let last = view.last_price(o.instrument);
    let Some(px) = o.price.or(o.trigger_price).or(last) else {
        return Err(deny(
            DenialCode::NoReferencePrice,
            LimitScope::Instrument,
            0,
            0,
            format!(
                "no price to value this order: {} has no last price",
                o.instrument
            ),
        ));
    };

    // Grid.
    if let Some(inst) = ctx.instrument {
        if let Some(tick) = inst.tick_size {
            for p in [o.price, o.trigger_price].into_iter().flatten() {
                if p % tick != 0 {
                    return Err(deny(
                        DenialCode::PriceOffTick,
                        LimitScope::Instrument,
                        i128::from(tick),
                        i128::from(p),
                        format!(
                            "price {} is not a multiple of the tick size {} of {}",
                            dec(i128::from(p)),
                            dec(i128::from(tick)),
                            o.instrument
                        ),
                    ));
                }
            }
        }
        if let Some(lot) = inst.lot_size {
            if o.quantity % lot != 0 {
                return Err(deny(
                    DenialCode::QuantityOffLot,
                    LimitScope::Instrument,
                    i128::from(lot),
                    i128::from(o.quantity),
                    format!(
                        "quantity {} is not a multiple of the lot size {} of {}",
                        dec(i128::from(o.quantity)),
                        dec(i128::from(lot)),
                        o.instrument
                    ),
                ));
            }
        }
    }

    let qty = i128::from(o.quantity);
    let order_value = notional(o.quantity, px);
    let delta = o.signed();
    let new_pos = pos.saturating_add(delta);
    let account_grows = new_pos.unsigned_abs() > pos.unsigned_abs();
    let new_spos = strategy_pos.saturating_add(delta);
    let strategy_grows = new_spos.unsigned_abs() > strategy_pos.unsigned_abs();

    for (limits, scope) in ctx.levels() {
        let Some(l) = limits else { continue };
        if let Some(max) = l.max_quantity {
            if qty > i128::from(max) {
                return Err(deny(
                    DenialCode::MaxQuantity,
                    scope,
                    i128::from(max),
                    qty,
                    format!(
                        "quantity {} exceeds the {scope} maximum {}",
                        dec(qty),
                        dec(i128::from(max))
                    ),
                ));
            }
        }
        if let Some(min) = l.min_quantity {
            if qty < i128::from(min) {
                return Err(deny(
                    DenialCode::MinQuantity,
                    scope,
                    i128::from(min),
                    qty,
                    format!(
                        "quantity {} is below the {scope} minimum {}",
                        dec(qty),
                        dec(i128::from(min))
                    ),
                ));
            }
        }
        if let Some(max) = l.max_notional {
            if order_value > max {
                return Err(deny(
                    DenialCode::MaxNotional,
                    scope,
                    max,
                    order_value,
                    format!(
                        "order value {} exceeds the {scope} maximum {}",
                        dec(order_value),
                        dec(max)
                    ),
                ));
            }
        }
        if let Some(min) = l.min_notional {
            if order_value < min {
                return Err(deny(
                    DenialCode::MinNotional,
                    scope,
                    min,
                    order_value,
                    format!(
                        "order value {} is below the {scope} minimum {}",
                        dec(order_value),
                        dec(min)
                    ),
                ));
            }
        }
        if let (Some(collar), Some(p), Some(ref_px)) = (l.price_collar, o.price, last) {
            let dist = (i128::from(p) - i128::from(ref_px)).abs();
            if ref_px > 0 && dist * i128::from(ONE) > i128::from(collar) * i128::from(ref_px) {
                return Err(deny(
                    DenialCode::PriceCollar,
                    scope,
                    i128::from(collar),
                    dist * i128::from(ONE) / i128::from(ref_px),
                    format!(
                        "limit price {} is {} from the last price {}: the {scope} collar is {}",
                        dec(i128::from(p)),
                        ratio_pct(dist * i128::from(ONE) / i128::from(ref_px)),
                        dec(i128::from(ref_px)),
                        ratio_pct(i128::from(collar))
                    ),
                ));
            }
        }
        // Position limits: the strategy level measures the strategy's own position.
        let (new_q, grows) = if scope == LimitScope::Strategy {
            (new_spos, strategy_grows)
        } else {
            (new_pos, account_grows)
        };
        if grows {
            let abs_q = i128::from(new_q.unsigned_abs());
            if let Some(max) = l.max_position_quantity {
                if abs_q > i128::from(max) {
                    return Err(deny(
                        DenialCode::MaxPositionQuantity,
                        scope,
                        i128::from(max),
                        abs_q,
                        format!(
                            "position in {} would be {}, over the {scope} maximum {}",
                            o.instrument,
                            dec(abs_q),
                            dec(i128::from(max))
                        ),
                    ));
                }
            }
            if let Some(max) = l.max_position_notional {
                let value = notional(new_q, px).abs();
                if value > max {
                    return Err(deny(
                        DenialCode::MaxPositionNotional,
                        scope,
                        max,
                        value,
                        format!(
                            "position value in {} would be {}, over the {scope} maximum {}",
                            o.instrument,
                            dec(value),
                            dec(max)
                        ),
                    ));
                }
            }
        }
    }

    // Short selling in an account that cannot. Sells already on their way count: one by one,
    // each of several market sells sent before the first fills sees the whole position (a
    // broker's fills took an account short that way; issue 17).
    if o.side == OrderSide::Sell && !view.shorts_allowed() {
        let in_flight = view.sells_in_flight(o.instrument);
        let held = pos.saturating_sub(in_flight);
        let after = held.saturating_add(delta);
        if after < 0 && after < held {
            let also = if in_flight > 0 {
                format!(", {} of it already being sold", dec(i128::from(in_flight)))
            } else {
                String::new()
            };
            return Err(deny(
                DenialCode::ShortSellingNotAllowed,
                LimitScope::Account,
                i128::from(held.max(0)),
                qty,
                format!(
                    "selling {} of {} would leave the account short (holding {}{also}); shorts are not allowed",
                    dec(qty),
                    o.instrument,
                    dec(i128::from(pos))
                ),
            ));
        }
    }

    let a = ctx.account;
    if account_grows {
        if let Some(max) = a.max_open_positions {
            let open = view.open_positions();
            if pos == 0 && open >= max {
                return Err(deny(
                    DenialCode::MaxOpenPositions,
                    LimitScope::Account,
                    i128::from(max),
                    i128::from(open),
                    format!("{open} positions are open: the account limit is {max}"),
                ));
            }
        }
        let mark = last.unwrap_or(px);
        let old_value = notional(pos, mark);
        let new_value = notional(new_pos, px);
        if let Some(max) = a.max_gross_exposure {
            let gross = totals.gross_exposure - old_value.abs() + new_value.abs();
            if gross > max {
                return Err(deny(
                    DenialCode::MaxGrossExposure,
                    LimitScope::Account,
                    max,
                    gross,
                    format!(
                        "gross exposure would be {}, over the limit {}",
                        dec(gross),
                        dec(max)
                    ),
                ));
            }
        }
        if let Some(max) = a.max_net_exposure {
            let before = totals.net_exposure;
            let net = before - old_value + new_value;
            if net.abs() > max && net.abs() > before.abs() {
                return Err(deny(
                    DenialCode::MaxNetExposure,
                    LimitScope::Account,
                    max,
                    net,
                    format!(
                        "net exposure would be {}, over the limit {}",
                        dec(net),
                        dec(max)
                    ),
                ));
            }
        }
        if let Some(max) = a.max_concentration {
            let equity = totals.equity;
            let value = new_value.abs();
            if equity <= 0 || value * i128::from(ONE) > i128::from(max) * equity {
                let share = if equity > 0 {
                    value * i128::from(ONE) / equity
                } else {
                    i128::MAX
                };
                return Err(deny(
                    DenialCode::MaxConcentration,
                    LimitScope::Account,
                    i128::from(max),
                    share,
                    format!(
                        "{} would be {} of equity {}, over the limit {}",
                        o.instrument,
                        if equity > 0 {
                            ratio_pct(share)
                        } else {
                            "all".to_owned()
                        },
                        dec(equity),
                        ratio_pct(i128::from(max))
                    ),
                ));
            }
        }
    }

    if o.side == OrderSide::Buy {
        let pending = view.pending_buy_notional();
        if a.check_buying_power {
            let available = view.buying_power() - pending;
            if order_value > available {
                return Err(deny(
                    DenialCode::InsufficientBuyingPower,
                    LimitScope::Account,
                    available,
                    order_value,
                    format!(
                        "order value {} exceeds the buying power {}",
                        dec(order_value),
                        dec(available)
                    ),
                ));
            }
        }
        if let Some(min) = a.min_cash_balance {
            let left = view.cash() - pending - order_value;
            if account_grows && left < min {
                return Err(deny(
                    DenialCode::MinCashBalance,
                    LimitScope::Account,
                    min,
                    left,
                    format!(
                        "cash after this order would be {}, below the minimum {}",
                        dec(left),
                        dec(min)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// An upper bound on the order quantity allowed by the static maximum limits.
#[allow(clippy::too_many_arguments)]
fn quantity_bound<V: AccountView + ?Sized>(
    ctx: &Static<'_>,
    side: OrderSide,
    px: i64,
    mark: i64,
    view: &V,
    pos: i64,
    spos: i64,
    totals: &Totals,
) -> i64 {
    let s = i128::from(side.sign());
    let pxw = i128::from(px);
    let one = i128::from(ONE);
    // Largest |q| of a raw quantity whose value at px is <= money.
    let qty_for = |money: i128| -> i128 { (money.max(0) * one) / pxw };
    // Largest order q such that |p + s*q| <= cap (cap >= 0), for a position p.
    let room = |p: i64, cap: i128| -> i128 { (cap - s * i128::from(p)).max(0) };
    let mut bound: i128 = i128::from(i64::MAX);
    let mut cap = |b: i128| bound = bound.min(b);
    for (limits, scope) in ctx.levels() {
        let Some(l) = limits else { continue };
        let p = if scope == LimitScope::Strategy {
            spos
        } else {
            pos
        };
        if let Some(m) = l.max_quantity {
            cap(i128::from(m));
        }
        if let Some(m) = l.max_notional {
            cap(qty_for(m));
        }
        if let Some(m) = l.max_position_quantity {
            cap(room(p, i128::from(m).max(i128::from(p.unsigned_abs()))));
        }
        if let Some(m) = l.max_position_notional {
            cap(room(p, qty_for(m).max(i128::from(p.unsigned_abs()))));
        }
    }
    let a = ctx.account;
    let old_signed = notional(pos, mark);
    let old_value = old_signed.abs();
    if let Some(m) = a.max_gross_exposure {
        let rest = totals.gross_exposure - old_value;
        cap(room(
            pos,
            qty_for(m - rest).max(i128::from(pos.unsigned_abs())),
        ));
    }
    if let Some(m) = a.max_net_exposure {
        let rest = totals.net_exposure - old_signed;
        cap((qty_for(m - s * rest) - s * i128::from(pos)).max(room(pos, 0)));
    }
    if let Some(m) = a.max_concentration {
        let equity = totals.equity.max(0);
        cap(room(
            pos,
            qty_for(i128::from(m) * equity / one).max(i128::from(pos.unsigned_abs())),
        ));
    }
    if !view.shorts_allowed() && side == OrderSide::Sell {
        cap(i128::from(pos.max(0)));
    }
    if side == OrderSide::Buy {
        let pending = view.pending_buy_notional();
        if a.check_buying_power {
            cap(qty_for(view.buying_power() - pending));
        }
        if let Some(m) = a.min_cash_balance {
            cap(qty_for(view.cash() - pending - m).max(room(pos, 0)));
        }
    }
    i64::try_from(bound.max(0)).unwrap_or(i64::MAX)
}

/// A raw fixed-point value (10^-9) as trimmed decimal text: `25000`, `475.5`, `-0.01`.
#[must_use]
pub fn dec(raw: i128) -> String {
    let one = i128::from(ONE);
    let sign = if raw < 0 { "-" } else { "" };
    let a = raw.unsigned_abs();
    let int = a / one.unsigned_abs();
    let frac = a % one.unsigned_abs();
    if frac == 0 {
        return format!("{sign}{int}");
    }
    let f = format!("{frac:09}");
    format!("{sign}{int}.{}", f.trim_end_matches('0'))
}

/// A raw ratio (10^-9 = 1) as a percentage, e.g. `15%`, `12.5%`.
#[must_use]
pub fn ratio_pct(raw: i128) -> String {
    format!("{}%", dec(raw.saturating_mul(100)))
}

impl RiskEngine {
    /// Sizes an order with `method` at `price` (or the last price), then clips it to what the
    /// static limits allow ([`RiskEngine::max_order_quantity`]) and rounds down to the lot.
    ///
    /// # Errors
    /// `InvalidInput` for bad sizing parameters or when there is no price at all.
    pub fn size_order<V: AccountView + ?Sized>(
        &self,
        method: &super::sizing::Sizing,
        strategy_id: &str,
        instrument: &str,
        side: OrderSide,
        price: Option<i64>,
        view: &V,
    ) -> CoreResult<i64> {
        let px = price
            .or_else(|| view.last_price(instrument))
            .ok_or_else(|| {
                crate::error::CoreError::invalid(
                    "price",
                    format!("no price given and no last price for {instrument}"),
                )
            })?;
        let lot = self
            .instruments
            .get(instrument)
            .and_then(|i| i.lot_size)
            .unwrap_or(ONE);
        let wanted = super::sizing::size(method, view.equity(), px, lot)?;
        let allowed = self.max_order_quantity(strategy_id, instrument, side, Some(px), view);
        Ok(wanted.min(allowed))
    }
}
