//! The engine's state: venue, risk, clock, instruments, strategies, indicator and crossover
//! slots, the recorder. Registration and queries live here, commands in `commands.rs`, the
//! event loop in `run.rs`.

use std::borrow::Borrow;
use std::ops::{Deref, DerefMut};

use crate::clock::{Clock, TestClock, TimeEvent};
use crate::error::{CoreError, CoreResult};
use crate::orders::Order;
use crate::portfolio::{Portfolio, Position};
use crate::risk::{Denial, RiskEngine, RiskEvent};
use crate::types::{ClientOrderId, IdMap, Instrument, StrategyId, Symbol, UnixNanos};
use crate::venue::{SimulatedVenue, VenueEvent};

use super::cross::CrossOver;
use super::record::{FillRecord, Recorder};
use super::strategy::{Callbacks, FedIndicator};

/// Separates the strategy id from the timer name on the shared clock.
pub(super) const TIMER_SEP: char = '\u{1f}';

/// What the engine keeps per instrument.
#[derive(Debug, Clone)]
pub struct InstrumentSlot {
    pub symbol: Symbol,
    pub price_precision: u8,
    pub size_precision: u8,
    /// Raw tick and lot sizes.
    pub tick: i64,
    pub lot: i64,
    /// The venue's number for its market (`SimulatedVenue::process_bar_at`).
    pub market: usize,
}

/// A registered strategy.
#[derive(Debug, Clone)]
pub struct StrategySlot {
    pub id: StrategyId,
    pub callbacks: Callbacks,
    /// Called during indicator warm-up too.
    pub warmup: bool,
    /// Per instrument (by index): does the strategy receive its bars?
    pub subscribed: Vec<bool>,
    /// Orders sent so far; client order ids are `<strategy id>-<n>`.
    pub orders: u64,
    /// Receives callbacks. A live node pauses, stops or fails a strategy by clearing it:
    /// its indicators are still fed (they stay warm), its orders still fill.
    pub active: bool,
}

/// How a strategy registers with the engine.
#[derive(Debug, Clone)]
pub struct StrategySpec {
    /// Checked on registration: 1 to 47 printable ASCII characters without spaces.
    pub id: String,
    /// The instruments whose bars it receives.
    pub symbols: Vec<String>,
    pub callbacks: Callbacks,
    pub warmup: bool,
}

#[derive(Debug)]
pub(super) struct IndicatorSlot {
    pub instrument: usize,
    pub strategy: usize,
    /// `None`: the strategy feeds it ([`super::Strategy::feed_indicator`]) and the engine
    /// keeps its `level`.
    pub indicator: Option<Box<dyn FedIndicator>>,
    pub ready: bool,
    /// The value after the last feed of a strategy-fed slot.
    pub level: Option<f64>,
}

impl IndicatorSlot {
    /// The current value, for crossovers.
    #[inline]
    pub fn level(&self) -> Option<f64> {
        match &self.indicator {
            Some(i) => i.level(),
            None => self.level,
        }
    }
}

#[derive(Debug)]
pub(super) struct CrossSlot {
    pub instrument: usize,
    pub strategy: usize,
    pub a: usize,
    /// The second indicator's slot, or `None` to compare with `level`.
    pub b: Option<usize>,
    pub level: f64,
    pub cross: CrossOver,
    /// Call the strategy's `on_cross` only on the bars where it fires.
    pub handled: bool,
}

/// An order the risk engine refused, with the full structured reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DenialRecord {
    pub ts: u64,
    pub strategy_id: StrategyId,
    pub client_order_id: ClientOrderId,
    pub denial: Denial,
    /// A refused change of a working order (the order itself stands), not a refused order.
    pub modify: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Setup,
    Running,
    Stopped,
}

/// Everything the engine owns. Reached through [`Engine`] (which derefs to it).
#[derive(Debug)]
pub struct EngineState {
    pub(super) venue: SimulatedVenue,
    pub(super) risk: Option<RiskEngine>,
    pub(super) instruments: Vec<InstrumentSlot>,
    pub(super) by_symbol: IdMap<Symbol, usize>,
    /// Bars in the feed being run (0 when driven by `step`).
    pub(super) total: usize,
    pub(super) strategies: Vec<StrategySlot>,
    pub(super) strategy_index: IdMap<StrategyId, usize>,
    pub(super) indicators: Vec<IndicatorSlot>,
    pub(super) crosses: Vec<CrossSlot>,
    pub(super) recorder: Recorder,
    pub(super) denials: Vec<DenialRecord>,
    /// Keep only the latest denials, at most this many ([`Engine::keep_latest_records`]).
    pub(super) keep_denials: Option<usize>,
    /// New orders sent down the command path (denied ones included).
    pub(super) routed: u64,
    /// The bar being processed stands for a whole session or more (daily, weekly):
    /// orders sent on it are judged by their trading day, not the intraday hours.
    pub(super) session_bar: bool,
    /// Venue and risk events not yet delivered to the strategies.
    pub(super) pending: Vec<VenueEvent>,
    pub(super) scratch: Vec<VenueEvent>,
    pub(super) to_call: Vec<usize>,
    /// Crossover slots that fired on this bar and have a handler, with their direction.
    pub(super) fired: Vec<(usize, i8)>,
    pub(super) timer_events: Vec<TimeEvent>,
    /// Does any strategy handle order, fill or position events?
    pub(super) any_event_handler: bool,
    /// The engine clock: moved by the data (backtest) or by the live node's events.
    pub(super) clock: TestClock,
    pub(super) now: u64,
    /// Live: how far before the clock an event may be stamped and still be taken (at the
    /// clock's time, which does not go back); 0 refuses every one (backtests, replays).
    pub(super) late_ns: u64,
    pub(super) processed: u64,
    pub(super) phase: Phase,
    /// Every event the engine makes, for a live node to publish; `None` (the default, and
    /// in backtests) costs one branch per dispatch.
    pub(super) outbox: Option<Outbox>,
    /// Removed strategies' ids and their order counters: a new strategy with the id goes on
    /// numbering from there.
    pub(super) retired: IdMap<StrategyId, u64>,
}

/// An event the engine made, in the order it made them (see [`Engine::enable_outbox`]).
// Nearly every event is a venue event: boxing it would allocate for each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum OutEvent {
    /// The market event the driver stepped, by the driver's own number for it (the
    /// binding keeps the data objects and publishes them in their place).
    Market(usize),
    Venue(VenueEvent),
    Risk(RiskEvent),
    /// The account after a step that changed it (raw money units).
    Equity {
        ts: u64,
        cash: i128,
        equity: i128,
    },
}

/// Events waiting to be published, and the last account sample (to publish only changes).
#[derive(Debug, Default)]
pub struct Outbox {
    pub events: Vec<OutEvent>,
    last: Option<(i128, i128)>,
    /// Where in `events` the last sample sits, while it is there.
    last_at: Option<usize>,
}

impl Outbox {
    /// Sample the account if it changed since the last sample: one sample per timestamp
    /// (as the backtest's equity curve), a later step at the same time updating it.
    pub(super) fn sample(&mut self, ts: u64, portfolio: &Portfolio) {
        let now = (portfolio.cash(), portfolio.equity());
        if self.last == Some(now) {
            return;
        }
        self.last = Some(now);
        if let Some(OutEvent::Equity {
            ts: t,
            cash,
            equity,
        }) = self.last_at.and_then(|k| self.events.get_mut(k))
        {
            if *t == ts {
                (*cash, *equity) = now;
                return;
            }
        }
        self.last_at = Some(self.events.len());
        self.events.push(OutEvent::Equity {
            ts,
            cash: now.0,
            equity: now.1,
        });
    }

    /// Take the events, leaving none.
    pub fn take(&mut self) -> Vec<OutEvent> {
        self.last_at = None;
        // The next batch is about as long: no growing again from empty.
        let n = self.events.len();
        std::mem::replace(&mut self.events, Vec::with_capacity(n))
    }
}

/// The trading engine: one command path (risk, then venue) and one event loop, driven by a
/// historical feed ([`Engine::run`]) or one event at a time ([`Engine::step`]).
///
/// The state sits behind one box, so lending the engine to a callback and taking it back
/// (what the Python binding does around each Python call) moves a pointer, not the state.
#[derive(Debug)]
pub struct Engine {
    state: Box<EngineState>,
}

impl Deref for Engine {
    type Target = EngineState;
    #[inline]
    fn deref(&self) -> &EngineState {
        &self.state
    }
}

impl DerefMut for Engine {
    #[inline]
    fn deref_mut(&mut self) -> &mut EngineState {
        &mut self.state
    }
}

impl Engine {
    /// An engine over `venue` (its configuration and account) and an optional risk engine.
    /// A backtest starts from a fresh risk state: pass a risk engine built from a config.
    #[must_use]
    pub fn new(venue: SimulatedVenue, risk: Option<RiskEngine>) -> Self {
        Self {
            state: Box::new(EngineState {
                venue,
                risk,
                instruments: Vec::new(),
                by_symbol: IdMap::default(),
                total: 0,
                strategies: Vec::new(),
                strategy_index: IdMap::default(),
                indicators: Vec::new(),
                crosses: Vec::new(),
                recorder: Recorder::default(),
                denials: Vec::new(),
                keep_denials: None,
                routed: 0,
                session_bar: false,
                pending: Vec::new(),
                scratch: Vec::new(),
                to_call: Vec::new(),
                fired: Vec::new(),
                timer_events: Vec::new(),
                any_event_handler: false,
                clock: TestClock::new(UnixNanos(0)),
                now: 0,
                late_ns: 0,
                processed: 0,
                phase: Phase::Setup,
                outbox: None,
                retired: IdMap::default(),
            }),
        }
    }
}

impl EngineState {
    pub(super) fn setup_only(&self, what: &str) -> CoreResult<()> {
        if self.phase == Phase::Setup {
            Ok(())
        } else {
            Err(CoreError::InvalidState(format!(
                "{what}: the engine has already started"
            )))
        }
    }

    // ------------------------------------------------------------------ registration

    /// Register an instrument with the venue and the risk engine. Returns its index.
    ///
    /// # Errors
    /// `InvalidInput` when it is already registered.
    pub fn add_instrument(&mut self, ins: &Instrument) -> CoreResult<usize> {
        let symbol = ins.symbol;
        if self.by_symbol.contains_key(&symbol) {
            return Err(CoreError::invalid(
                "instrument",
                format!("{symbol:?} is already registered"),
            ));
        }
        self.venue.add_instrument(ins)?;
        let market = self
            .venue
            .market_index(&symbol)
            .ok_or_else(|| CoreError::InvalidState(format!("{symbol} has no market")))?;
        if let Some(r) = self.risk.as_mut() {
            // With its calendar: a 24/7 instrument is never outside trading hours.
            r.register_instrument(ins);
        }
        let idx = self.instruments.len();
        self.instruments.push(InstrumentSlot {
            symbol,
            price_precision: ins.price_precision,
            size_precision: ins.size_precision,
            tick: ins.tick_size.raw(),
            lot: ins.lot_size.raw(),
            market,
        });
        self.by_symbol.insert(symbol, idx);
        for st in &mut self.strategies {
            st.subscribed.push(false);
        }
        Ok(idx)
    }

    /// The index of a registered instrument.
    ///
    /// # Errors
    /// `InvalidInput` naming the symbol when it is unknown.
    pub fn instrument_index(&self, symbol: &str) -> CoreResult<usize> {
        self.by_symbol.get(symbol).copied().ok_or_else(|| {
            CoreError::invalid(
                "instrument",
                format!("{symbol:?} is not a registered instrument"),
            )
        })
    }

    /// The registered instrument at `index`.
    #[must_use]
    pub fn instrument(&self, index: usize) -> Option<&InstrumentSlot> {
        self.instruments.get(index)
    }

    /// Add a strategy; returns its index, used by the commands. A running engine (a live
    /// node) takes new strategies too: start each with [`Engine::start_strategy`].
    ///
    /// # Errors
    /// A duplicate or malformed id, an unknown symbol, or the engine has stopped.
    pub fn add_strategy(&mut self, spec: StrategySpec) -> CoreResult<usize> {
        if self.phase == Phase::Stopped {
            return Err(CoreError::InvalidState(
                "add_strategy: the engine has stopped".into(),
            ));
        }
        // 1 to 47 printable ASCII characters, no spaces (so never `TIMER_SEP`).
        let id = StrategyId::new("strategy_id", &spec.id)?;
        if self.strategy_index.contains_key(&id) {
            return Err(CoreError::invalid(
                "strategy_id",
                format!("{:?} is already used by another strategy", spec.id),
            ));
        }
        let mut subscribed = vec![false; self.instruments.len()];
        for s in &spec.symbols {
            subscribed[self.instrument_index(s)?] = true;
        }
        self.any_event_handler |= spec.callbacks.any_event();
        let k = self.strategies.len();
        self.strategy_index.insert(id, k);
        self.strategies.push(StrategySlot {
            id,
            callbacks: spec.callbacks,
            warmup: spec.warmup,
            subscribed,
            orders: self.retired.remove(&id).unwrap_or(0),
            active: true,
        });
        Ok(k)
    }

    /// Pause (`false`) or resume (`true`) a strategy's callbacks; its indicators are still
    /// fed and its working orders still fill.
    ///
    /// # Errors
    /// `InvalidInput` for an unknown index.
    pub fn set_active(&mut self, index: usize, active: bool) -> CoreResult<()> {
        self.strategy(index)?;
        self.strategies[index].active = active;
        Ok(())
    }

    /// The strategy registered at `index`.
    ///
    /// # Errors
    /// `InvalidInput` for an unknown index.
    pub fn strategy(&self, index: usize) -> CoreResult<&StrategySlot> {
        self.strategies
            .get(index)
            .ok_or_else(|| CoreError::invalid("strategy", format!("no strategy #{index}")))
    }

    /// Strategies registered, in order.
    #[must_use]
    pub fn strategies(&self) -> &[StrategySlot] {
        &self.strategies
    }

    /// Feed `indicator` with every bar of `symbol` before the strategy's callbacks; the
    /// strategy's `on_bar` there waits until all its indicators are ready. Returns the slot.
    ///
    /// # Errors
    /// Unknown strategy or symbol.
    pub fn register_indicator(
        &mut self,
        strategy: usize,
        symbol: &str,
        indicator: Box<dyn FedIndicator>,
    ) -> CoreResult<usize> {
        self.add_indicator_slot(strategy, symbol, Some(indicator))
    }

    /// An indicator slot the strategy feeds itself: before its callbacks, every bar of
    /// `symbol` goes to the strategy's [`super::Strategy::feed_indicator`] with this slot's
    /// number, in slot order with the engine-fed ones (what an adapter over another
    /// runtime uses to feed its own indicator objects). Otherwise as
    /// [`Self::register_indicator`].
    ///
    /// # Errors
    /// Unknown strategy or symbol.
    pub fn register_strategy_indicator(
        &mut self,
        strategy: usize,
        symbol: &str,
    ) -> CoreResult<usize> {
        self.add_indicator_slot(strategy, symbol, None)
    }

    fn add_indicator_slot(
        &mut self,
        strategy: usize,
        symbol: &str,
        indicator: Option<Box<dyn FedIndicator>>,
    ) -> CoreResult<usize> {
        self.strategy(strategy)?;
        let instrument = self.instrument_index(symbol)?;
        self.indicators.push(IndicatorSlot {
            instrument,
            strategy,
            indicator,
            ready: false,
            level: None,
        });
        Ok(self.indicators.len() - 1)
    }

    /// A crossover of two indicator slots of the same instrument, updated after them on
    /// every bar. Returns the crossover's slot.
    ///
    /// # Errors
    /// Unknown slots, or slots of different instruments.
    pub fn register_crossover(&mut self, a: usize, b: usize) -> CoreResult<usize> {
        let (Some(sa), Some(sb)) = (self.indicators.get(a), self.indicators.get(b)) else {
            return Err(CoreError::invalid("indicator", "unknown indicator slot"));
        };
        if sa.instrument != sb.instrument {
            return Err(CoreError::invalid(
                "indicator",
                "a crossover needs two indicators of the same symbol",
            ));
        }
        let (instrument, strategy) = (sa.instrument, sa.strategy);
        self.crosses.push(CrossSlot {
            instrument,
            strategy,
            a,
            b: Some(b),
            level: 0.0,
            cross: CrossOver::new(),
            handled: false,
        });
        Ok(self.crosses.len() - 1)
    }

    /// A crossover of an indicator slot and a fixed `level` (e.g. RSI and 30).
    ///
    /// # Errors
    /// Unknown slot or a level that is not finite.
    pub fn register_level_cross(&mut self, a: usize, level: f64) -> CoreResult<usize> {
        let Some(sa) = self.indicators.get(a) else {
            return Err(CoreError::invalid("indicator", "unknown indicator slot"));
        };
        if !level.is_finite() {
            return Err(CoreError::invalid("level", "must be a finite number"));
        }
        let (instrument, strategy) = (sa.instrument, sa.strategy);
        self.crosses.push(CrossSlot {
            instrument,
            strategy,
            a,
            b: None,
            level,
            cross: CrossOver::new(),
            handled: false,
        });
        Ok(self.crosses.len() - 1)
    }

    /// Call the owning strategy's `on_cross` on the bars where crossover `slot` fires.
    ///
    /// # Errors
    /// Unknown slot.
    pub fn handle_cross(&mut self, slot: usize) -> CoreResult<()> {
        let c = self
            .crosses
            .get_mut(slot)
            .ok_or_else(|| CoreError::invalid("crossover", "not registered with this engine"))?;
        c.handled = true;
        Ok(())
    }

    /// The crossover in `slot`.
    #[must_use]
    pub fn cross(&self, slot: usize) -> Option<&CrossOver> {
        self.crosses.get(slot).map(|c| &c.cross)
    }

    /// Set the clock to `start` (the first bar's time in a backtest, now for a live node),
    /// so timers set in `on_start` count from there.
    ///
    /// # Errors
    /// The engine has started.
    pub fn prime(&mut self, start: u64) -> CoreResult<()> {
        self.setup_only("prime")?;
        self.clock = TestClock::new(UnixNanos(start));
        self.now = start;
        Ok(())
    }

    // ------------------------------------------------------------------ timers

    fn timer_key(&self, strategy: usize, name: &str) -> CoreResult<String> {
        Ok(format!("{}{TIMER_SEP}{name}", self.strategy(strategy)?.id))
    }

    /// A firing time must not be before the engine's now. (The timer clock trails a bar by
    /// 1 ns while the bar's callbacks run, so its own check would let `now - 1` through and
    /// the engine clock would go back when it fired.)
    fn not_past(&self, field: &'static str, at: u64) -> CoreResult<()> {
        if at < self.now {
            return Err(CoreError::invalid(
                field,
                format!("{at} is in the past (now is {})", self.now),
            ));
        }
        Ok(())
    }

    /// A repeating timer for the strategy every `interval_ns` from `start` (default: now)
    /// until `stop`; a timer due at a bar's time fires after that bar's callbacks.
    ///
    /// # Errors
    /// Unknown strategy, bad interval, or a name already pending.
    pub fn set_timer(
        &mut self,
        strategy: usize,
        name: &str,
        interval_ns: u64,
        start: Option<u64>,
        stop: Option<u64>,
    ) -> CoreResult<()> {
        let key = self.timer_key(strategy, name)?;
        // Default start: the engine's now, not the clock's (which trails a bar by 1 ns
        // while that bar's callbacks run).
        let start = UnixNanos(start.unwrap_or(self.now));
        self.not_past("start", start.0.saturating_add(interval_ns))?;
        self.clock
            .set_timer(&key, interval_ns, Some(start), stop.map(UnixNanos))
    }

    /// A one-shot alert for the strategy at `at` (UTC ns, not in the past).
    ///
    /// # Errors
    /// Unknown strategy, a time in the past, or a name already pending.
    pub fn set_time_alert(&mut self, strategy: usize, name: &str, at: u64) -> CoreResult<()> {
        let key = self.timer_key(strategy, name)?;
        self.not_past("at", at)?;
        self.clock.set_time_alert(&key, UnixNanos(at))
    }

    /// Cancel one of the strategy's timers or alerts; `false` if none was pending.
    ///
    /// # Errors
    /// Unknown strategy.
    pub fn cancel_timer(&mut self, strategy: usize, name: &str) -> CoreResult<bool> {
        let key = self.timer_key(strategy, name)?;
        Ok(self.clock.cancel_timer(&key))
    }

    // ------------------------------------------------------------------ queries

    /// The engine clock: the time of the event being processed (UTC ns).
    #[must_use]
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Bars processed so far, and bars in the feed being run.
    #[must_use]
    pub fn progress(&self) -> (u64, usize) {
        (self.processed, self.total)
    }

    #[must_use]
    pub fn venue(&self) -> &SimulatedVenue {
        &self.venue
    }

    #[must_use]
    pub fn risk(&self) -> Option<&RiskEngine> {
        self.risk.as_ref()
    }

    #[must_use]
    pub fn portfolio(&self) -> &Portfolio {
        self.venue.portfolio()
    }

    /// An order (working or closed) by client order id.
    #[must_use]
    pub fn order(&self, client_order_id: &str) -> Option<&Order> {
        self.venue.order(client_order_id)
    }

    /// The strategy's position in `symbol` (`None` if it never traded it).
    ///
    /// # Errors
    /// Unknown strategy.
    pub fn position<Q: Ord + ?Sized>(
        &self,
        strategy: usize,
        symbol: &Q,
    ) -> CoreResult<Option<&Position>>
    where
        Symbol: Borrow<Q>,
    {
        let sid = self.strategy(strategy)?.id;
        Ok(self
            .venue
            .portfolio()
            .strategy(&sid)
            .and_then(|s| s.positions.get(symbol)))
    }

    /// The strategy's signed position in `symbol` in raw units (0 when flat).
    ///
    /// # Errors
    /// Unknown strategy.
    pub fn position_raw<Q: Ord + ?Sized>(&self, strategy: usize, symbol: &Q) -> CoreResult<i64>
    where
        Symbol: Borrow<Q>,
    {
        Ok(self
            .position(strategy, symbol)?
            .map_or(0, Position::raw_quantity))
    }

    /// The strategy's working orders (client order ids), in arrival order.
    ///
    /// # Errors
    /// Unknown strategy.
    pub fn open_orders(&self, strategy: usize) -> CoreResult<Vec<ClientOrderId>> {
        let sid = self.strategy(strategy)?.id;
        Ok(self
            .venue
            .open_orders()
            .filter(|o| o.strategy_id == sid)
            .map(|o| o.client_order_id)
            .collect())
    }

    /// What the run recorded: equity curve, fills.
    #[must_use]
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Orders the risk engine refused, in order.
    #[must_use]
    pub fn denials(&self) -> &[DenialRecord] {
        &self.denials
    }

    /// New orders the strategies sent (denied ones included; modifies not counted).
    #[must_use]
    pub fn orders_routed(&self) -> u64 {
        self.routed
    }

    /// Between [`Engine::start`] and [`Engine::stop`]?
    #[must_use]
    pub fn is_running(&self) -> bool {
        self.phase == Phase::Running
    }

    /// Is the outbox collecting events ([`Engine::enable_outbox`])?
    #[must_use]
    pub fn outbox_enabled(&self) -> bool {
        self.outbox.is_some()
    }

    /// Has [`Engine::start`] run?
    #[must_use]
    pub fn started(&self) -> bool {
        self.phase != Phase::Setup
    }
}

impl EngineState {
    /// The strategy that registered crossover `slot`.
    ///
    /// # Errors
    /// Unknown slot.
    pub fn cross_owner(&self, slot: usize) -> CoreResult<usize> {
        self.crosses
            .get(slot)
            .map(|c| c.strategy)
            .ok_or_else(|| CoreError::invalid("crossover", "unknown slot"))
    }
}

impl EngineState {
    /// Move the recorded fills out, leaving none: how a binding keeps them after a run
    /// without a copy.
    #[must_use]
    pub fn take_fills(&mut self) -> Vec<FillRecord> {
        std::mem::take(&mut self.recorder.fills)
    }

    /// Move the recorded equity curve out (`ts`, equity, position-open flags), leaving it
    /// empty: how a binding hands it over without a copy.
    #[must_use]
    pub fn take_curve(&mut self) -> (Vec<i64>, Vec<f64>, Vec<bool>) {
        let r = &mut self.recorder;
        (
            std::mem::take(&mut r.ts),
            std::mem::take(&mut r.equity),
            std::mem::take(&mut r.position_open),
        )
    }
}
