//! The event loop. One bar, quote, trade or clock tick at a time ([`Engine::step`]); a
//! backtest is the same step over a historical feed ([`Engine::run`]).
//!
//! Per bar: timers due before it fire first; then the venue processes the bar (fills at
//! their market times, marks), risk sees the new marks, the instrument's indicators and
//! crossovers update, the equity is sampled (one point per timestamp), the venue's events
//! go to the strategies, then `on_cross` for the crossovers that fired and `on_bar` for the
//! subscribed strategies whose indicators are ready — each callback followed by the events
//! its own orders caused. Orders go through risk and the venue at once; a market order sent
//! from `on_bar` fills at the next bar's open (or this close, per the venue's setting).
//! Timers due at a bar's time fire after every bar of that time.

use crate::clock::TimeEvent;
use crate::error::{CoreError, CoreResult};
use crate::orders::{Order, OrderEventKind};
use crate::risk::{RiskRestore, TradingState};
use crate::types::{Bar, BarType, Price, Quantity, QuoteTick, TradeTick, UnixNanos};
use crate::venue::VenueEvent;

use super::feed::Feed;
use super::record::Recorder;
use super::state::{Engine, EngineState, Phase, TIMER_SEP};
use super::strategy::Strategy;

/// Closed orders kept for `order()` lookups: once more have accumulated, they are
/// forgotten in one sweep at the start of the next bar (their fills stay recorded).
pub const KEEP_CLOSED: usize = 4096;

/// A market event for [`Engine::step`].
#[derive(Debug, Clone)]
pub enum MarketEvent {
    /// A bar, stamped with its close time; `open_ts` is when it opened (its close time
    /// minus its interval when not known better).
    Bar {
        bar: Bar,
        open_ts: u64,
    },
    Quote(QuoteTick),
    Trade(TradeTick),
    /// The clock moved with no data: timers due by then fire.
    Time(u64),
}

impl MarketEvent {
    /// A bar whose open time is its close time minus its interval.
    #[must_use]
    pub fn bar(bar: Bar) -> Self {
        let open_ts = bar
            .ts_event
            .0
            .saturating_sub(bar.bar_type.interval.as_nanos());
        Self::Bar { bar, open_ts }
    }

    /// The event's time (UTC ns).
    #[must_use]
    pub fn ts(&self) -> u64 {
        match self {
            Self::Bar { bar, .. } => bar.ts_event.0,
            Self::Quote(q) => q.ts_event.0,
            Self::Trade(t) => t.ts_event.0,
            Self::Time(t) => *t,
        }
    }
}

/// One bar in raw units, as the loop moves it around.
#[derive(Debug, Clone, Copy)]
struct RawBar {
    instrument: usize,
    bar_type: BarType,
    open_ts: u64,
    ts: u64,
    /// When the engine takes it: `ts`, or the clock for a late bar (live).
    at: u64,
    ohlc: [i64; 4],
    volume: i64,
}

impl EngineState {
    /// Flat memory on long runs (bars and ticks alike): fills are recorded, closed orders
    /// past `KEEP_CLOSED` are not needed.
    /// With an outbox (a live node) the sweep waits for `sweep_published`: the events of
    /// an order opened and closed in one batch are published after the step, and their
    /// subscribers (the storage sink) still look the order up.
    fn sweep_closed(&mut self) {
        if self.outbox.is_none() && self.venue.closed_count() > KEEP_CLOSED {
            self.venue.purge_closed();
        }
    }

    /// The sweep of a live node, once the outbox is published.
    pub fn sweep_published(&mut self) {
        if self.venue.closed_count() > KEEP_CLOSED {
            self.venue.purge_closed();
        }
    }

    fn make_bar(&self, b: &RawBar) -> Bar {
        let ins = &self.instruments[b.instrument];
        let p = |raw: i64| Price::from_raw_or_finer(raw, ins.price_precision);
        Bar {
            bar_type: b.bar_type,
            open: p(b.ohlc[0]),
            high: p(b.ohlc[1]),
            low: p(b.ohlc[2]),
            close: p(b.ohlc[3]),
            volume: Quantity::from_raw_or_finer(b.volume, ins.size_precision),
            ts_event: UnixNanos(b.ts),
        }
    }

    /// The Rust part of a bar: venue, risk, indicators, crossovers, equity; leaves the
    /// strategies to call in `to_call` and the fired crossovers in `fired`.
    fn process_bar<E, S>(&mut self, b: &RawBar, strategies: &mut [S]) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        let market = self.instruments[b.instrument].market;
        self.scratch.clear();
        self.venue
            .process_bar_at(market, b.open_ts, b.ts, b.ohlc, b.volume, &mut self.scratch)?;
        if !self.scratch.is_empty() {
            self.recorder.fills_from(&self.scratch);
            self.pending.append(&mut self.scratch);
        }
        if let Some(r) = self.risk.as_mut() {
            r.update(&self.venue, b.at);
        }
        let input = crate::indicators::BarInput {
            high: b.ohlc[1],
            low: b.ohlc[2],
            close: b.ohlc[3],
            volume: b.volume,
            ts_ns: b.ts,
        };
        for (k, slot) in self
            .indicators
            .iter_mut()
            .enumerate()
            .filter(|(_, x)| x.instrument == b.instrument)
        {
            slot.ready = match &mut slot.indicator {
                Some(indicator) => indicator.feed(&input)?,
                None => {
                    let (ready, level) = strategies[slot.strategy].feed_indicator(k, &input)?;
                    slot.level = level;
                    ready
                }
            };
        }
        self.fired.clear();
        for (ci, c) in self
            .crosses
            .iter_mut()
            .enumerate()
            .filter(|(_, c)| c.instrument == b.instrument)
        {
            let va = self.indicators[c.a].level();
            let vb = match c.b {
                Some(k) => self.indicators[k].level(),
                None => Some(c.level),
            };
            c.cross.update(va, vb);
            if c.handled && c.cross.value() != 0 && self.strategies[c.strategy].active {
                self.fired.push((ci, c.cross.value()));
            }
        }
        if self.outbox.is_none() {
            // Live, the outbox's equity samples stand for the curve (which would grow
            // without end).
            self.recorder.sample(b.at, self.venue.portfolio());
        }
        self.to_call.clear();
        for (k, st) in self.strategies.iter().enumerate() {
            if !st.callbacks.bar || !st.active || !st.subscribed[b.instrument] {
                continue;
            }
            let ready = st.warmup
                || self
                    .indicators
                    .iter()
                    .all(|x| x.strategy != k || x.instrument != b.instrument || x.ready);
            if ready {
                self.to_call.push(k);
            }
        }
        self.processed += 1;
        Ok(())
    }
}

impl EngineState {
    /// Feed a past bar to its instrument's indicators and crossovers only: no venue, no
    /// risk, no clock, no callbacks (what a restarted node gives its strategies' indicators
    /// before trading resumes).
    fn warm_up_bar<E, S>(&mut self, bar: &Bar, strategies: &mut [S]) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        let instrument = self.instrument_index(bar.bar_type.symbol.as_str())?;
        let input = crate::indicators::BarInput {
            high: bar.high.raw(),
            low: bar.low.raw(),
            close: bar.close.raw(),
            volume: bar.volume.raw(),
            ts_ns: bar.ts_event.0,
        };
        for (k, slot) in self
            .indicators
            .iter_mut()
            .enumerate()
            .filter(|(_, x)| x.instrument == instrument)
        {
            slot.ready = match &mut slot.indicator {
                Some(indicator) => indicator.feed(&input)?,
                None => {
                    let (ready, level) = strategies[slot.strategy].feed_indicator(k, &input)?;
                    slot.level = level;
                    ready
                }
            };
        }
        for c in self
            .crosses
            .iter_mut()
            .filter(|c| c.instrument == instrument)
        {
            let va = self.indicators[c.a].level();
            let vb = match c.b {
                Some(k) => self.indicators[k].level(),
                None => Some(c.level),
            };
            c.cross.update(va, vb);
        }
        Ok(())
    }
}

impl Engine {
    /// Warm the indicators up on past bars (see [`EngineState::warm_up_bar`]): nothing
    /// trades, the clock and the account do not move. Call it after `start` (the
    /// strategies register their indicators in `on_start`), before live data.
    ///
    /// # Errors
    /// Not running, an unknown instrument, an indicator's input error.
    pub fn warm_up<E, S>(&mut self, bars: &[Bar], strategies: &mut [S]) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        self.running()?;
        for bar in bars {
            self.warm_up_bar(bar, strategies)?;
        }
        Ok(())
    }

    /// Book a fill made before a restart (from storage) into the account: cash, the
    /// account's and the strategy's positions, exactly as when it happened. No order, no
    /// event, no callback; not one of this run's fills. Replaying every fill of the account
    /// in order rebuilds its cash and positions to the digit. A fill of a strategy not in
    /// this engine (removed, not restarted) is booked all the same: the account holds its
    /// positions, and a strategy added later with its id takes them over.
    ///
    /// # Errors
    /// An unknown instrument, a bad quantity, price or commission.
    pub fn restore_fill(&mut self, f: &super::record::FillRecord) -> CoreResult<()> {
        let ins = self.instrument_index(f.instrument.as_str())?;
        let (pp, sp) = (
            self.instruments[ins].price_precision,
            self.instruments[ins].size_precision,
        );
        self.venue.restore_fill(
            f.strategy_id,
            f.instrument,
            f.side,
            Quantity::from_raw_or_finer(f.quantity.raw(), sp),
            Price::from_raw_or_finer(f.price.raw(), pp),
            f.commission.raw(),
            f.ts.0,
        )
    }

    /// Put an order that was working before a restart (from storage) back to work in the
    /// venue, with the fills it had: no risk check, no event, no callback (see
    /// [`SimulatedVenue::restore_order`]). Its prices go onto the instrument's tick as a new
    /// order's do; later fills and cancels reach its strategy as for any of its orders.
    ///
    /// # Errors
    /// An unknown strategy or instrument; an order the venue cannot restore.
    pub fn restore_order(
        &mut self,
        mut order: Order,
        fills: &[(Quantity, Price, i64)],
        triggered: bool,
    ) -> CoreResult<()> {
        if !self.strategy_index.contains_key(&order.strategy_id) {
            return Err(CoreError::invalid(
                "strategy_id",
                format!(
                    "{}: {:?} is not a strategy of this engine",
                    order.client_order_id,
                    order.strategy_id.as_str()
                ),
            ));
        }
        self.instrument_index(order.instrument.as_str())?;
        self.order_onto_tick(&mut order)?;
        let now = self.now;
        self.venue.restore_order(order, fills, triggered, now)
    }

    /// Number the venue's next trades after `n` (the highest trade id stored before a
    /// restart): no fill id is used twice.
    pub fn resume_trade_ids(&mut self, n: u64) {
        self.venue.resume_trade_ids(n);
    }

    /// Operator command: move the account (`strategy` `None`) or one strategy to `to`
    /// (halt, reduce-only, active). The state change is an event like any other, published
    /// with the next step or `settle`.
    ///
    /// # Errors
    /// `InvalidState` when the engine has no risk engine.
    pub fn set_trading_state(
        &mut self,
        strategy: Option<&str>,
        to: TradingState,
        reason: &str,
    ) -> CoreResult<()> {
        let now = self.now;
        let st: &mut EngineState = self;
        let r = st.risk.as_mut().ok_or_else(no_risk)?;
        match strategy {
            Some(id) => r.set_strategy_state(id, to, reason, now),
            None => r.set_state(to, reason, &st.venue, now),
        }
        Ok(())
    }

    /// Give the risk engine back what it had before a restart (see [`RiskEngine::restore`]);
    /// call after the account is restored. Without a risk engine there is nothing to do.
    pub fn restore_risk(&mut self, saved: &RiskRestore) {
        let now = self.now;
        let st: &mut EngineState = self;
        if let Some(r) = st.risk.as_mut() {
            r.restore(&st.venue, now, saved);
        }
    }

    /// Put a `changed` event for every position (see [`Portfolio::position_snapshot`]) in
    /// the outbox, published with the next `publish`: after a restart, what the account
    /// holds reaches the bus's subscribers without waiting for the next fill.
    ///
    /// # Errors
    /// `InvalidState` when the engine does not keep an outbox.
    pub fn announce_positions(&mut self) -> CoreResult<()> {
        let st: &mut EngineState = self;
        let o = st.outbox.as_mut().ok_or_else(|| {
            CoreError::InvalidState("announce_positions: start the engine with an outbox".into())
        })?;
        let mut events = Vec::new();
        st.venue.portfolio().position_snapshot(&mut events);
        o.events.extend(
            events
                .into_iter()
                .map(|e| super::state::OutEvent::Venue(VenueEvent::Position(e))),
        );
        Ok(())
    }

    /// Continue a strategy's order numbering after `n` orders (a restarted node: client
    /// order ids it sent before the restart are not used again). Never goes back.
    ///
    /// # Errors
    /// An unknown strategy.
    pub fn resume_order_ids(&mut self, k: usize, n: u64) -> CoreResult<()> {
        self.strategy(k)?;
        let slot = &mut self.strategies[k];
        slot.orders = slot.orders.max(n);
        Ok(())
    }
}

/// Bars this long or longer stand for a whole session (daily, weekly).
const SESSION_NS: u64 = 86_400 * 1_000_000_000;

impl Engine {
    /// Start: the clock reads `start` (default: the feed's first bar, else 0), then every
    /// strategy's `on_start` runs.
    ///
    /// # Errors
    /// Already started, or a strategy's error.
    pub fn start<E, S>(&mut self, strategies: &mut [S], start: Option<u64>) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        if strategies.len() != self.strategies.len() {
            return Err(CoreError::invalid(
                "strategies",
                format!(
                    "{} handlers for {} registered strategies",
                    strategies.len(),
                    self.strategies.len()
                ),
            )
            .into());
        }
        self.prime(start.unwrap_or(0))?;
        self.phase = Phase::Running;
        if self.total > 0 {
            self.recorder = Recorder::with_capacity(self.total);
        }
        for k in 0..strategies.len() {
            strategies[k].on_start(self)?;
            self.dispatch(strategies)?;
        }
        if self.outbox.is_some() {
            self.settle(strategies)?;
        }
        Ok(())
    }

    /// Stop: fire the timers due by the last event's time, then every strategy's `on_stop`.
    ///
    /// # Errors
    /// Not running, or a strategy's error.
    pub fn stop<E, S>(&mut self, strategies: &mut [S]) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        self.running()?;
        let now = self.now;
        self.fire_timers(now, strategies)?;
        for k in 0..strategies.len() {
            // Strategies a live node stopped, paused or failed had (or get) their own stop.
            if self.strategies[k].active {
                strategies[k].on_stop(self)?;
                self.dispatch(strategies)?;
            }
        }
        self.settle(strategies)?;
        self.phase = Phase::Stopped;
        Ok(())
    }

    /// Collect what a live node publishes: the outbox, from now on (off by default: a
    /// backtest pays one branch per dispatch for it).
    /// Live: take events stamped up to `late_ns` before the clock (a bar that arrives
    /// after its close, once a quote or a timer has moved the clock past it) at the
    /// clock's time instead of refusing them; 0 (the default) refuses every one.
    pub fn accept_late(&mut self, late_ns: u64) {
        self.late_ns = late_ns;
    }

    pub fn enable_outbox(&mut self) {
        if self.outbox.is_none() {
            self.outbox = Some(super::state::Outbox::default());
        }
    }

    /// Keep only the latest `keep` fills and denials from now on (at most that many): a
    /// live node publishes each as it happens, and a record of all of them would grow for
    /// as long as it runs (issue 17, memory over time). The traded notional is still
    /// summed over all.
    pub fn keep_latest_records(&mut self, keep: usize) {
        self.recorder.keep_fills = Some(keep);
        self.keep_denials = Some(keep);
    }

    /// Take the events made since the last call (empty without an outbox).
    pub fn take_outbox(&mut self) -> Vec<super::state::OutEvent> {
        self.outbox
            .as_mut()
            .map(super::state::Outbox::take)
            .unwrap_or_default()
    }

    /// Mark in the outbox where the driver's market event `n` goes (before its step's
    /// events), so data and what it caused are published in order.
    pub fn outbox_mark(&mut self, n: usize) {
        if let Some(o) = self.outbox.as_mut() {
            o.events.push(super::state::OutEvent::Market(n));
        }
    }

    /// Deliver what commands sent outside a step caused (a node cancelling a strategy's
    /// orders), then sample risk and the account into the outbox.
    ///
    /// # Errors
    /// A strategy's error.
    pub fn settle<E, S>(&mut self, strategies: &mut [S]) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        self.dispatch(strategies)?;
        let st: &mut EngineState = self;
        if let Some(o) = st.outbox.as_mut() {
            if let Some(r) = st.risk.as_mut() {
                o.events
                    .extend(r.drain_events().map(super::state::OutEvent::Risk));
            }
            // Before the clock's first event the account has no time to be stamped with
            // (a sample at 0 would be a point in 1970 on every equity chart).
            if st.now > 0 {
                o.sample(st.now, st.venue.portfolio());
            }
        }
        Ok(())
    }

    /// Start one strategy of a running engine (added after `start`, or stopped):
    /// it becomes active and its `on_start` runs. (Pause and resume are
    /// [`EngineState::set_active`]: no callbacks.)
    ///
    /// # Errors
    /// Not running, an unknown strategy, or the strategy's error.
    pub fn start_strategy<E, S>(&mut self, k: usize, strategies: &mut [S]) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        self.running()?;
        self.strategy(k)?;
        let Some(s) = strategies.get_mut(k) else {
            return Err(CoreError::invalid("strategy", format!("no handler for #{k}")).into());
        };
        // A fresh start: timers left from a run before (stopped, failed) go.
        self.cancel_timers_of(k);
        self.strategies[k].active = true;
        s.on_start(self)?;
        self.settle(strategies)
    }

    /// Stop one strategy of a running engine (active or paused): its `on_stop` runs and it
    /// gets no more callbacks. Its orders stand: the caller cancels them by its policy.
    ///
    /// # Errors
    /// Not running, an unknown strategy, or the strategy's error.
    pub fn stop_strategy<E, S>(&mut self, k: usize, strategies: &mut [S]) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        self.running()?;
        self.strategy(k)?;
        let Some(s) = strategies.get_mut(k) else {
            return Err(CoreError::invalid("strategy", format!("no handler for #{k}")).into());
        };
        let result = s.on_stop(self);
        self.strategies[k].active = false;
        self.cancel_timers_of(k);
        result?;
        self.settle(strategies)
    }

    /// Remove a stopped strategy for good: it gets no callbacks, its indicators are no
    /// longer fed, its timers are cancelled, and its id is free for a new strategy (which
    /// continues its order numbering, so client order ids stay unique, and its ledger).
    ///
    /// # Errors
    /// An unknown strategy.
    pub fn remove_strategy(&mut self, k: usize) -> CoreResult<()> {
        self.strategy(k)?;
        self.strategies[k].active = false;
        self.cancel_timers_of(k);
        for slot in self.indicators.iter_mut().filter(|x| x.strategy == k) {
            slot.instrument = usize::MAX;
        }
        for c in self.crosses.iter_mut().filter(|c| c.strategy == k) {
            c.instrument = usize::MAX;
        }
        let st: &mut EngineState = self;
        let slot = &mut st.strategies[k];
        slot.subscribed.iter_mut().for_each(|s| *s = false);
        if st.strategy_index.get(&slot.id) == Some(&k) {
            st.strategy_index.remove(&slot.id);
            st.retired.insert(slot.id, slot.orders);
        }
        Ok(())
    }

    fn cancel_timers_of(&mut self, k: usize) {
        use crate::clock::Clock;
        let prefix = format!("{}{TIMER_SEP}", self.strategies[k].id);
        for name in self.clock.timer_names() {
            if name.starts_with(&prefix) {
                self.clock.cancel_timer(&name);
            }
        }
    }

    /// Take back the mark of market event `n` when its step was refused (nothing of it
    /// is published).
    pub fn outbox_retract(&mut self, n: usize) {
        if let Some(o) = self.outbox.as_mut() {
            if matches!(o.events.last(), Some(super::state::OutEvent::Market(m)) if *m == n) {
                o.events.pop();
            }
        }
    }

    /// When the next timer or alert is due (UTC ns), if any: what a live driver waits for.
    #[must_use]
    pub fn next_timer(&self) -> Option<u64> {
        use crate::clock::Clock;
        self.clock.next_deadline().map(|t| t.0)
    }

    pub(super) fn running(&self) -> CoreResult<()> {
        match self.phase {
            Phase::Running => Ok(()),
            Phase::Setup => Err(CoreError::InvalidState(
                "the engine has not started (call start first)".into(),
            )),
            Phase::Stopped => Err(CoreError::InvalidState("the engine has stopped".into())),
        }
    }

    /// Process one market event with the live (or any externally driven) clock: what a
    /// trading node calls for each bar, quote, trade or clock tick it receives. Events
    /// must come in time order.
    ///
    /// # Errors
    /// Not running, an event before the clock, an unknown instrument, a strategy's error.
    pub fn step<E, S>(&mut self, event: &MarketEvent, strategies: &mut [S]) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        self.running()?;
        let ts = event.ts();
        let late = ts < self.now;
        if late && self.now - ts > self.late_ns {
            return Err(CoreError::invalid(
                "event",
                format!(
                    "at {ts} is before the engine clock {}: events must come in time order",
                    self.now
                ),
            )
            .into());
        }
        // A late event (live, within `late_ns`): taken at the clock's time, which stays;
        // no timer fires for it. Strategies see its own time.
        let at = ts.max(self.now);
        match event {
            MarketEvent::Bar { bar, open_ts } => {
                let instrument = self.instrument_index(bar.bar_type.symbol.as_str())?;
                let raw = RawBar {
                    instrument,
                    bar_type: bar.bar_type,
                    open_ts: *open_ts,
                    ts,
                    at,
                    ohlc: [
                        bar.open.raw(),
                        bar.high.raw(),
                        bar.low.raw(),
                        bar.close.raw(),
                    ],
                    volume: bar.volume.raw(),
                };
                self.bar(&raw, strategies)?;
            }
            MarketEvent::Quote(q) => {
                self.sweep_closed();
                if !late {
                    self.fire_timers(ts.saturating_sub(1), strategies)?;
                    self.now = ts;
                }
                let st: &mut EngineState = self;
                st.scratch.clear();
                st.venue.process_quote(q, &mut st.scratch)?;
                self.after_tick(at, strategies)?;
            }
            MarketEvent::Trade(t) => {
                self.sweep_closed();
                if !late {
                    self.fire_timers(ts.saturating_sub(1), strategies)?;
                    self.now = ts;
                }
                let st: &mut EngineState = self;
                st.scratch.clear();
                st.venue.process_trade(t, &mut st.scratch)?;
                self.after_tick(at, strategies)?;
            }
            MarketEvent::Time(t) => self.fire_timers(*t, strategies)?,
        }
        if self.outbox.is_some() {
            self.settle(strategies)?;
        }
        Ok(())
    }

    fn after_tick<E, S>(&mut self, ts: u64, strategies: &mut [S]) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        let st: &mut EngineState = self;
        st.recorder.fills_from(&st.scratch);
        st.pending.append(&mut st.scratch);
        if st.outbox.is_none() {
            st.recorder.sample(ts, st.venue.portfolio());
        }
        if let Some(r) = st.risk.as_mut() {
            r.update(&st.venue, ts);
        }
        self.dispatch(strategies)
    }

    /// Run every bar of `feed`, in time order across instruments (ties in the order the
    /// series were added): `start` at the first bar's time, a step per bar, `stop`.
    /// `progress(done, total)` is called every `progress_every` bars and at the end.
    ///
    /// # Errors
    /// Already started, a series of an unknown instrument or with prices off its tick, a
    /// strategy's or the progress callback's error.
    pub fn run<E, S, P>(
        &mut self,
        feed: &mut Feed<'_>,
        strategies: &mut [S],
        mut progress: Option<P>,
        progress_every: u64,
    ) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
        P: FnMut(u64, usize) -> Result<(), E>,
    {
        self.setup_only("run")?;
        let mut instrument_of = Vec::with_capacity(feed.series.len());
        for series in &feed.series {
            let ins = self.instrument_index(series.bar_type.symbol.as_str())?;
            if instrument_of.contains(&ins) {
                return Err(CoreError::invalid(
                    "bars",
                    format!("two series for {}", series.bar_type.symbol),
                )
                .into());
            }
            series.check_tick(self.instruments[ins].tick)?;
            instrument_of.push(ins);
        }
        feed.rewind();
        self.total = feed.total();
        self.start(strategies, feed.peek_ts())?;
        let every = progress_every.max(1);
        let total = self.total;
        while let Some((s, i)) = feed.next_row() {
            let series = &feed.series[s];
            let raw = RawBar {
                instrument: instrument_of[s],
                bar_type: series.bar_type,
                open_ts: series.open_ts(i),
                ts: series.ts_at(i),
                at: series.ts_at(i),
                ohlc: series.ohlc(i),
                volume: series.volume.get(i),
            };
            self.bar(&raw, strategies)?;
            if let Some(p) = progress.as_mut() {
                if self.processed % every == 0 {
                    p(self.processed, total)?;
                }
            }
        }
        self.stop(strategies)?;
        if let Some(p) = progress.as_mut() {
            p(self.processed, total)?;
        }
        Ok(())
    }

    fn bar<E, S>(&mut self, b: &RawBar, strategies: &mut [S]) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        // Timers due strictly before this bar fire first, in time order (a late bar's
        // have fired already).
        if b.at == b.ts {
            self.fire_timers(b.ts.saturating_sub(1), strategies)?;
            self.now = b.ts;
        }
        self.sweep_closed();
        self.session_bar = b.bar_type.interval.as_nanos() >= SESSION_NS;
        let result = self.bar_inner(b, strategies);
        self.session_bar = false; // timers, quotes and trades are intraday
        result
    }

    fn bar_inner<E, S>(&mut self, b: &RawBar, strategies: &mut [S]) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        self.process_bar(b, strategies)?;
        if !self.pending.is_empty() {
            self.dispatch(strategies)?;
        }
        if self.fired.is_empty() && self.to_call.is_empty() {
            return Ok(());
        }
        // One Bar per bar, shared by every callback that runs on it.
        let bar = self.make_bar(b);
        let fired = std::mem::take(&mut self.fired);
        let calls = std::mem::take(&mut self.to_call);
        let result = self.callbacks(&bar, &fired, &calls, strategies);
        // Keep the buffers' allocations for the next bar.
        self.fired = fired;
        self.to_call = calls;
        result
    }

    fn callbacks<E, S>(
        &mut self,
        bar: &Bar,
        fired: &[(usize, i8)],
        calls: &[usize],
        strategies: &mut [S],
    ) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        for &(ci, direction) in fired {
            let k = self.crosses[ci].strategy;
            strategies[k].on_cross(self, ci, bar, direction)?;
            self.dispatch(strategies)?;
        }
        for &k in calls {
            strategies[k].on_bar(self, bar)?;
            self.dispatch(strategies)?;
        }
        Ok(())
    }

    /// Advance the clock to `to` and run the due timers' handlers in time order. The clock
    /// moves one due time at a time, so a handler may set a timer due before `to` (it fires
    /// in its turn) and the clock never reads later than the event being handled.
    #[inline]
    fn fire_timers<E, S>(&mut self, to: u64, strategies: &mut [S]) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        use crate::clock::Clock;
        if to <= self.clock.now().0 {
            return Ok(());
        }
        if self.clock.advance_idle(UnixNanos(to)) {
            // No timer at all: what `move_clock` does when nothing is due.
            self.now = self.now.max(to);
            return Ok(());
        }
        self.move_clock(to, strategies)
    }

    fn move_clock<E, S>(&mut self, to: u64, strategies: &mut [S]) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        use crate::clock::Clock;
        if self.clock.next_deadline().is_none_or(|t| t.0 > to) {
            // Nothing due (every bar of a run without timers): just move the clock.
            let st: &mut EngineState = self;
            st.clock.advance_to(UnixNanos(to), &mut st.timer_events)?;
            st.now = st.now.max(to);
            return Ok(());
        }
        let mut events = std::mem::take(&mut self.timer_events);
        let mut result = Ok(());
        while let Some(due) = self.clock.next_deadline().filter(|t| t.0 <= to) {
            events.clear();
            self.clock.advance_to(due, &mut events)?;
            result = self.deliver_timers(&events, strategies);
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            events.clear();
            self.clock.advance_to(UnixNanos(to), &mut events)?;
            self.now = self.now.max(to);
        }
        self.timer_events = events;
        result
    }

    fn deliver_timers<E, S>(&mut self, events: &[TimeEvent], strategies: &mut [S]) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        for ev in events {
            let Some((sid, name)) = ev.name.split_once(TIMER_SEP) else {
                continue;
            };
            let Some(&k) = self.strategy_index.get(sid) else {
                continue;
            };
            self.now = ev.ts_event.0;
            if !self.strategies[k].callbacks.timer || !self.strategies[k].active {
                continue;
            }
            let public = TimeEvent {
                name: name.into(),
                ts_event: ev.ts_event,
                seq: ev.seq,
            };
            strategies[k].on_timer(self, &public)?;
            self.dispatch(strategies)?;
        }
        Ok(())
    }

    /// Deliver queued venue and risk events to the strategies that handle them, in order
    /// (including the events the handlers' own orders cause).
    pub(super) fn dispatch<E, S>(&mut self, strategies: &mut [S]) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        while !self.pending.is_empty() {
            let st: &mut EngineState = self;
            if let Some(o) = st.outbox.as_mut() {
                o.events.extend(
                    st.pending
                        .iter()
                        .cloned()
                        .map(super::state::OutEvent::Venue),
                );
            }
            if !self.any_event_handler {
                // Nobody listens: drop them without a call.
                self.pending.clear();
                return Ok(());
            }
            let events = std::mem::take(&mut self.pending);
            for ev in &events {
                self.deliver(ev, strategies)?;
            }
            if self.pending.is_empty() {
                // Give the buffer back for the next batch.
                let mut events = events;
                events.clear();
                self.pending = events;
            }
        }
        Ok(())
    }

    fn deliver<E, S>(&mut self, ev: &VenueEvent, strategies: &mut [S]) -> Result<(), E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        let sid = match ev {
            VenueEvent::Order(o) => o.strategy_id,
            VenueEvent::Position(p) => match p.strategy_id {
                Some(s) => s,
                None => return Ok(()),
            },
        };
        let Some(&k) = self.strategy_index.get(&sid) else {
            return Ok(());
        };
        if !self.strategies[k].active {
            return Ok(());
        }
        let cb = self.strategies[k].callbacks;
        match ev {
            VenueEvent::Order(o) => {
                if cb.order {
                    strategies[k].on_order(self, o)?;
                }
                if cb.fill && o.kind == OrderEventKind::Filled {
                    strategies[k].on_fill(self, o)?;
                }
            }
            VenueEvent::Position(p) => {
                if cb.position {
                    strategies[k].on_position(self, p)?;
                }
            }
        }
        Ok(())
    }
}

fn no_risk() -> CoreError {
    CoreError::InvalidState("this engine has no risk engine (risk=None): no trading state".into())
}
