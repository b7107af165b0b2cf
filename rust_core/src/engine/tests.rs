//! The engine's loop, driven by small Rust strategies that record what they see and send
//! commands: ordering within a bar, timers, every command, risk on every modify, sizing
//! with and without a risk engine, vectorised denials, `step` against `run`, and a proptest
//! of random order flows (accounting identity after every bar, every fill inside its bar).
//!
//! Fill *times* are not asserted (how a fill is stamped is the venue's business); fills are
//! identified by their price and by the bar during which they arrive.

use std::cell::RefCell;
use std::rc::Rc;

use proptest::prelude::*;
use proptest::strategy::Strategy as _;

use super::*;
// The engine's `Strategy`, not proptest's (both are glob-imported).
use super::Strategy;
use crate::clock::TimeEvent;
use crate::error::{CoreError, CoreResult};
use crate::indicators::Sma;
use crate::orders::{Order, OrderEvent, OrderEventKind, OrderSide, OrderStatus, OrderType};
use crate::portfolio::{AccountConfig, AccountType, Portfolio, PositionEvent};
use crate::risk::{DenialCode, LimitScope, RiskConfig, RiskEngine, Sizing};
use crate::types::{
    AssetClass, Bar, BarType, Currency, Instrument, Price, Quantity, Symbol, UnixNanos, Venue,
    FIXED_SCALE,
};
use crate::venue::{CommissionModel, MarketFillTiming, SimulatedVenue, SlippageModel, VenueConfig};

/// An order from raw quantity and time (ids checked).
fn mk_order(
    cid: impl AsRef<str>,
    sid: &str,
    ins: &str,
    side: OrderSide,
    t: OrderType,
    qty: i64,
    ts: u64,
) -> Order {
    Order::parse(
        cid.as_ref(),
        sid,
        ins,
        side,
        t,
        crate::types::Quantity::from_raw_or_finer(qty, 0),
        crate::types::UnixNanos(ts),
    )
    .unwrap()
}

/// A raw quantity (declared with no places, finer if it needs them).
fn q(raw: i64) -> crate::types::Quantity {
    crate::types::Quantity::from_raw_or_finer(raw, 0)
}

/// A raw price (declared with two places, finer if it needs them).
fn px(raw: i64) -> crate::types::Price {
    crate::types::Price::from_raw_or_finer(raw, 2)
}

const ONE: i64 = FIXED_SCALE;
const W: i128 = FIXED_SCALE as i128;
const CENT: i64 = ONE / 100;
const S: u64 = 1_000_000_000;
const MIN: u64 = 60 * S;
/// The first bar's close time (2024-01-10 15:01 UTC); bar `i` closes at `at(i)`.
const T0: u64 = 1_704_898_860_000_000_000;

fn at(i: u64) -> u64 {
    T0 + i * MIN
}

fn at_i64(i: u64) -> i64 {
    i64::try_from(at(i)).unwrap()
}

/// Cents to a raw price.
fn c(cents: i64) -> i64 {
    cents * CENT
}

// ------------------------------------------------------------------ building blocks

fn instrument(symbol: &str, lot: &str) -> Instrument {
    Instrument::new(
        Symbol::new("symbol", symbol).unwrap(),
        Venue::new("venue", "SIM").unwrap(),
        AssetClass::Equity,
        Currency::new("USD").unwrap(),
        "0.01".parse().unwrap(),
        lot.parse().unwrap(),
        lot.parse().unwrap(),
        None,
        None,
    )
    .unwrap()
}

/// No slippage, no commission, no volume cap: fills that can be computed by hand.
fn plain() -> VenueConfig {
    VenueConfig {
        slippage: SlippageModel::None,
        commission: CommissionModel::ZERO,
        participation: None,
        ..VenueConfig::default()
    }
}

fn margin(cash: i64) -> AccountConfig {
    AccountConfig {
        starting_cash: cash * ONE,
        account_type: AccountType::Margin,
        allow_short: true,
    }
}

fn new_engine(config: VenueConfig, account: AccountConfig, risk: Option<RiskConfig>) -> Engine {
    let venue = SimulatedVenue::new(config, Portfolio::new(account).unwrap());
    Engine::new(venue, risk.map(|r| RiskEngine::new(r).unwrap()))
}

/// `(open, close)` in cents per bar; high and low 50 cents beyond; 1000 units of volume.
fn series(symbol: &str, oc: &[(i64, i64)]) -> BarSeries<'static> {
    let n = oc.len();
    BarSeries::new(
        format!("{symbol}-1m").parse::<BarType>().unwrap(),
        (0..n as u64).map(at_i64).collect::<Vec<_>>(),
        oc.iter().map(|&(o, _)| c(o)).collect::<Vec<_>>(),
        oc.iter()
            .map(|&(o, cl)| c(o.max(cl) + 50))
            .collect::<Vec<_>>(),
        oc.iter()
            .map(|&(o, cl)| c(o.min(cl) - 50))
            .collect::<Vec<_>>(),
        oc.iter().map(|&(_, cl)| c(cl)).collect::<Vec<_>>(),
        vec![1_000 * ONE; n],
    )
    .unwrap()
}

/// `n` bars at 100.00 (open = close), range 99.50..100.50.
fn flat(n: usize) -> Vec<(i64, i64)> {
    vec![(10_000, 10_000); n]
}

/// The series' rows as `Bar`s, for `step`.
fn bars_of(s: &BarSeries) -> Vec<Bar> {
    (0..s.len())
        .map(|i| {
            let p = |raw: i64| Price::from_raw(raw, 2).unwrap();
            Bar::new(
                s.bar_type,
                p(s.open.get(i)),
                p(s.high.get(i)),
                p(s.low.get(i)),
                p(s.close.get(i)),
                Quantity::from_raw(s.volume.get(i), 0).unwrap(),
                UnixNanos(s.ts_at(i)),
            )
            .unwrap()
        })
        .collect()
}

fn spec(id: &str, symbols: &[&str], callbacks: Callbacks, warmup: bool) -> StrategySpec {
    StrategySpec {
        id: id.into(),
        symbols: symbols.iter().map(|s| (*s).to_owned()).collect(),
        callbacks,
        warmup,
    }
}

type NoProgress = fn(u64, usize) -> CoreResult<()>;

/// Run `series` (merged in time order, ties in this order) through `e`.
fn run_all<S: Strategy<CoreError>>(
    e: &mut Engine,
    series: Vec<BarSeries<'_>>,
    strategies: &mut [S],
) {
    let mut feed = Feed::new();
    for s in series {
        feed.add(s);
    }
    e.run::<CoreError, S, NoProgress>(&mut feed, strategies, None, 1)
        .unwrap();
}

fn start<S: Strategy<CoreError>>(e: &mut Engine, s: &mut [S], at: u64) -> CoreResult<()> {
    e.start(s, Some(at))
}

fn step<S: Strategy<CoreError>>(e: &mut Engine, s: &mut [S], event: MarketEvent) -> CoreResult<()> {
    e.step(&event, s)
}

fn stop<S: Strategy<CoreError>>(e: &mut Engine, s: &mut [S]) -> CoreResult<()> {
    e.stop(s)
}

// ------------------------------------------------------------------ the recording strategy

type Log = Rc<RefCell<Vec<String>>>;
type Events = Rc<RefCell<Vec<OrderEvent>>>;
type StartHook = Box<dyn FnMut(&mut Engine) -> CoreResult<()>>;
type BarHook = Box<dyn FnMut(&mut Engine, &Bar) -> CoreResult<()>>;
type TimerHook = Box<dyn FnMut(&mut Engine, &TimeEvent) -> CoreResult<()>>;

/// Logs every callback as text (`"<tag> bar AAA 3"`: bar 3, i.e. closing at `at(3)`;
/// timers in seconds after `T0`; prices in cents) into a log shared by all strategies of a
/// run, keeps its order events, and runs the hooks it was given.
#[derive(Default)]
struct Probe {
    tag: &'static str,
    log: Log,
    events: Events,
    start: Option<StartHook>,
    bar: Option<BarHook>,
    timer: Option<TimerHook>,
}

impl Probe {
    fn new(tag: &'static str, log: &Log) -> Self {
        Self {
            tag,
            log: log.clone(),
            ..Self::default()
        }
    }
    fn on_start(mut self, f: impl FnMut(&mut Engine) -> CoreResult<()> + 'static) -> Self {
        self.start = Some(Box::new(f));
        self
    }
    fn on_bar(mut self, f: impl FnMut(&mut Engine, &Bar) -> CoreResult<()> + 'static) -> Self {
        self.bar = Some(Box::new(f));
        self
    }
    fn on_timer(
        mut self,
        f: impl FnMut(&mut Engine, &TimeEvent) -> CoreResult<()> + 'static,
    ) -> Self {
        self.timer = Some(Box::new(f));
        self
    }
    fn note(&self, what: String) {
        self.log.borrow_mut().push(format!("{} {what}", self.tag));
    }
}

fn bar_index(bar: &Bar) -> u64 {
    (bar.ts_event.0 - T0) / MIN
}

impl Strategy<CoreError> for Probe {
    fn on_start(&mut self, engine: &mut Engine) -> CoreResult<()> {
        self.note("start".into());
        self.start.as_mut().map_or(Ok(()), |f| f(engine))
    }
    fn on_bar(&mut self, engine: &mut Engine, bar: &Bar) -> CoreResult<()> {
        assert_eq!(
            engine.now(),
            bar.ts_event.0,
            "the clock reads the bar's time"
        );
        self.note(format!("bar {} {}", bar.bar_type.symbol, bar_index(bar)));
        self.bar.as_mut().map_or(Ok(()), |f| f(engine, bar))
    }
    fn on_cross(
        &mut self,
        _engine: &mut Engine,
        _cross: usize,
        bar: &Bar,
        direction: i8,
    ) -> CoreResult<()> {
        self.note(format!("cross {direction:+} {}", bar_index(bar)));
        Ok(())
    }
    fn on_order(&mut self, _engine: &mut Engine, event: &OrderEvent) -> CoreResult<()> {
        self.note(format!(
            "order {} {}",
            event.client_order_id,
            event.kind.as_str()
        ));
        self.events.borrow_mut().push(event.clone());
        Ok(())
    }
    fn on_fill(&mut self, _engine: &mut Engine, event: &OrderEvent) -> CoreResult<()> {
        let f = event.fill.as_ref().expect("a fill event carries its fill");
        self.note(format!(
            "fill {} {} @ {}",
            event.client_order_id,
            f.quantity.raw() / ONE,
            f.price.raw() / CENT
        ));
        Ok(())
    }
    fn on_position(&mut self, _engine: &mut Engine, event: &PositionEvent) -> CoreResult<()> {
        assert!(
            event.strategy_id.is_some(),
            "only the strategy's own positions"
        );
        self.note(format!(
            "position {} {}",
            event.instrument,
            event.quantity.raw() / ONE
        ));
        Ok(())
    }
    fn on_timer(&mut self, engine: &mut Engine, event: &TimeEvent) -> CoreResult<()> {
        assert_eq!(
            engine.now(),
            event.ts_event.0,
            "the clock reads the timer's time"
        );
        self.note(format!(
            "timer {} {}",
            event.name,
            (event.ts_event.0 - T0) / S
        ));
        self.timer.as_mut().map_or(Ok(()), |f| f(engine, event))
    }
    fn on_stop(&mut self, _engine: &mut Engine) -> CoreResult<()> {
        self.note("stop".into());
        Ok(())
    }
}

fn log_of(log: &Log) -> Vec<String> {
    log.borrow().clone()
}

/// One strategy `S` on `AAA` (every callback, called during warm-up) over `bars`; `script`
/// runs in its `on_bar` with the bar's index.
fn scripted(
    risk: Option<RiskConfig>,
    account: AccountConfig,
    bars: &[(i64, i64)],
    mut script: impl FnMut(&mut Engine, u64, &Bar) -> CoreResult<()> + 'static,
) -> (Engine, Vec<String>, Vec<OrderEvent>) {
    let log = Log::default();
    let mut e = new_engine(plain(), account, risk);
    e.add_instrument(&instrument("AAA", "1")).unwrap();
    e.add_strategy(spec("S", &["AAA"], Callbacks::all(), true))
        .unwrap();
    let mut probe = Probe::new("S", &log).on_bar(move |e, bar| script(e, bar_index(bar), bar));
    let events = probe.events.clone();
    run_all(
        &mut e,
        vec![series("AAA", bars)],
        std::slice::from_mut(&mut probe),
    );
    let events = events.borrow().clone();
    (e, log_of(&log), events)
}

fn events_of<'a>(events: &'a [OrderEvent], id: &str) -> Vec<&'a OrderEvent> {
    events.iter().filter(|e| e.client_order_id == id).collect()
}

// ------------------------------------------------------------------ ordering within a bar

#[test]
fn within_a_bar_venue_events_then_crosses_then_bars_across_instruments() {
    let log = Log::default();
    let mut e = new_engine(plain(), margin(1_000_000), None);
    e.add_instrument(&instrument("AAA", "1")).unwrap();
    e.add_instrument(&instrument("BBB", "1")).unwrap();
    // SMA(2) − SMA(3) = (c[i-1] + c[i] − 2·c[i-2]) / 6 over the AAA closes: −3 at bar 2
    // (first known side: below), +1 at bar 3 (cross up), +7 at bar 4, −1 at bar 5 (down).
    let aaa = [
        (10_000, 10_000),
        (10_000, 9_900),
        (9_900, 9_800),
        (9_850, 10_100),
        (10_100, 10_200),
        (10_200, 9_900),
    ];
    let bbb = [
        (5_000, 5_010),
        (5_020, 5_030),
        (5_040, 5_050),
        (5_060, 5_070),
        (5_080, 5_090),
        (5_100, 5_110),
    ];
    let a = e
        .add_strategy(spec("A", &["AAA", "BBB"], Callbacks::all(), false))
        .unwrap();
    let b = e
        .add_strategy(spec("B", &["BBB"], Callbacks::all(), false))
        .unwrap();
    let fast = e
        .register_indicator(a, "AAA", Box::new(Sma::new(2).unwrap()))
        .unwrap();
    let slow = e
        .register_indicator(a, "AAA", Box::new(Sma::new(3).unwrap()))
        .unwrap();
    let x = e.register_crossover(fast, slow).unwrap();
    e.handle_cross(x).unwrap();

    let mut sent = false;
    let pa = Probe::new("A", &log)
        .on_start(move |e| e.set_time_alert(a, "at-bar-3", at(3)))
        .on_bar(move |e, bar| {
            if bar.bar_type.symbol.as_str() == "AAA" && !sent {
                sent = true;
                e.submit_market(a, "AAA", OrderSide::Buy, q(10 * ONE))?;
            }
            Ok(())
        });
    let pb = Probe::new("B", &log).on_bar(move |e, bar| {
        if bar_index(bar) == 0 {
            e.submit_market(b, "BBB", OrderSide::Buy, q(5 * ONE))?;
        }
        Ok(())
    });
    let mut strategies = [pa, pb];
    // Same timestamps for both; AAA's series comes first.
    run_all(
        &mut e,
        vec![series("AAA", &aaa), series("BBB", &bbb)],
        &mut strategies,
    );

    let want = [
        "A start",
        "B start",
        // t0: AAA's bar reaches no one (A's indicators warm up); BBB's reaches A then B.
        "A bar BBB 0",
        "B bar BBB 0",
        "B order B-1 submitted",
        "B order B-1 accepted",
        // t1: the venue fills B's order at BBB's open before any callback of the bar.
        "B order B-1 filled",
        "B fill B-1 5 @ 5020",
        "B position BBB 5",
        "A bar BBB 1",
        "B bar BBB 1",
        // t2: A's indicators are ready: its first AAA bar.
        "A bar AAA 2",
        "A order A-1 submitted",
        "A order A-1 accepted",
        "A bar BBB 2",
        "B bar BBB 2",
        // t3: fill (order, fill, position), then the cross, then the bar.
        "A order A-1 filled",
        "A fill A-1 10 @ 9850",
        "A position AAA 10",
        "A cross +1 3",
        "A bar AAA 3",
        "A bar BBB 3",
        "B bar BBB 3",
        // A timer due at t3 fires after every bar of t3.
        "A timer at-bar-3 180",
        "A bar AAA 4",
        "A bar BBB 4",
        "B bar BBB 4",
        "A cross -1 5",
        "A bar AAA 5",
        "A bar BBB 5",
        "B bar BBB 5",
        "A stop",
        "B stop",
    ];
    assert_eq!(log_of(&log), want);
    assert_eq!(e.progress(), (12, 12));

    // One equity point per timestamp, holding the account after both bars of that time:
    // 5 BBB bought at 50.20 (bar 1's open), 10 AAA at 98.50 (bar 3's open).
    let r = e.recorder();
    assert_eq!(r.ts, (0..6).map(at_i64).collect::<Vec<_>>());
    let want_equity: Vec<i128> = (0..6)
        .map(|i| {
            let mut eq = 1_000_000 * W;
            if i >= 1 {
                eq += 5 * i128::from(c(bbb[i].1 - 5_020));
            }
            if i >= 3 {
                eq += 10 * i128::from(c(aaa[i].1 - 9_850));
            }
            eq
        })
        .collect();
    // The curve is in money units as floats (the exact account is the portfolio's).
    let as_money: Vec<f64> = want_equity.iter().map(|&e| e as f64 / 1e9).collect();
    assert_eq!(r.equity, as_money);
    assert_eq!(r.position_open, vec![false, true, true, true, true, true]);
    assert_eq!(e.portfolio().equity(), want_equity[5]);
}

#[test]
fn without_indicators_or_with_warmup_every_bar_is_delivered() {
    // The same AAA strategy with `warmup`: called from the first bar although its SMA(3)
    // is not ready; a second strategy's indicator does not hold back this one.
    let log = Log::default();
    let mut e = new_engine(plain(), margin(100_000), None);
    e.add_instrument(&instrument("AAA", "1")).unwrap();
    let early = e
        .add_strategy(spec("E", &["AAA"], Callbacks::all(), true))
        .unwrap();
    let late = e
        .add_strategy(spec("L", &["AAA"], Callbacks::all(), false))
        .unwrap();
    e.register_indicator(early, "AAA", Box::new(Sma::new(3).unwrap()))
        .unwrap();
    e.register_indicator(late, "AAA", Box::new(Sma::new(2).unwrap()))
        .unwrap();
    let mut s = [Probe::new("E", &log), Probe::new("L", &log)];
    run_all(&mut e, vec![series("AAA", &flat(4))], &mut s);
    let bars: Vec<String> = log_of(&log)
        .into_iter()
        .filter(|l| l.contains(" bar "))
        .collect();
    assert_eq!(
        bars,
        [
            "E bar AAA 0",
            "E bar AAA 1",
            "L bar AAA 1",
            "E bar AAA 2",
            "L bar AAA 2",
            "E bar AAA 3",
            "L bar AAA 3"
        ]
    );
}

#[test]
fn run_refuses_bars_it_cannot_trade_and_runs_once() {
    let make = || {
        let mut e = new_engine(plain(), margin(100_000), None);
        e.add_instrument(&instrument("AAA", "1")).unwrap();
        e.add_strategy(spec("S", &["AAA"], Callbacks::all(), true))
            .unwrap();
        e
    };
    let run = |e: &mut Engine, series: Vec<BarSeries<'static>>| {
        let mut feed = Feed::new();
        for s in series {
            feed.add(s);
        }
        let mut s = [Probe::new("S", &Log::default())];
        e.run::<CoreError, Probe, NoProgress>(&mut feed, &mut s, None, 1)
    };
    let err = run(&mut make(), vec![series("ZZZ", &flat(2))]).unwrap_err();
    assert!(
        err.to_string().contains("not a registered instrument"),
        "{err}"
    );
    let twice = vec![series("AAA", &flat(2)), series("AAA", &flat(2))];
    let err = run(&mut make(), twice).unwrap_err();
    assert!(err.to_string().contains("two series"), "{err}");
    let half_cent = BarSeries::new(
        "AAA-1m".parse::<BarType>().unwrap(),
        vec![at_i64(0)],
        vec![c(10_000) + CENT / 2],
        vec![c(10_100)],
        vec![c(9_900)],
        vec![c(10_000)],
        vec![ONE],
    )
    .unwrap();
    let mut e = make();
    let err = run(&mut e, vec![half_cent]).unwrap_err();
    assert!(err.to_string().contains("tick"), "{err}");
    // Refused before it started: the engine still runs good bars, once.
    run(&mut e, vec![series("AAA", &flat(3))]).unwrap();
    assert_eq!(e.progress(), (3, 3));
    assert!(run(&mut e, vec![series("AAA", &flat(3))]).is_err());
}

// ------------------------------------------------------------------ timers

#[test]
fn timers_fire_in_time_order_between_bars() {
    let log = Log::default();
    let mut e = new_engine(plain(), margin(100_000), None);
    e.add_instrument(&instrument("AAA", "1")).unwrap();
    let bars: Vec<(i64, i64)> = (0..10)
        .map(|i| (10_000 + 10 * i, 10_005 + 10 * i))
        .collect();
    let k = e
        .add_strategy(spec("T", &["AAA"], Callbacks::all(), true))
        .unwrap();
    let probe = Probe::new("T", &log)
        .on_start(move |e| {
            assert_eq!(e.now(), T0, "on_start runs at the first bar's time");
            // Every 90 s from now until bar 6 (inclusive): 90, 180 (= bar 3), 270, 360 (= bar 6).
            e.set_timer(k, "rep", 90 * S, None, Some(at(6)))?;
            // Due at bar 2's time: fires after bar 2's callbacks.
            e.set_time_alert(k, "once", at(2))?;
            e.set_time_alert(k, "later", T0 + 170 * S)?;
            // Due with rep's second firing; scheduled before it, so it fires first.
            e.set_time_alert(k, "tie", at(3))?;
            e.set_time_alert(k, "gone", T0 + 270 * S + 1)?;
            e.set_time_alert(k, "end", at(9))?;
            e.set_time_alert(k, "never", at(9) + 1)?;
            // Names are unique among pending timers.
            assert!(e.set_time_alert(k, "once", T0 + 10 * S).is_err());
            Ok(())
        })
        .on_bar(move |e, bar| {
            if bar_index(bar) == 2 {
                assert!(e.cancel_timer(k, "gone")?);
                assert!(!e.cancel_timer(k, "gone")?, "already cancelled");
            }
            Ok(())
        })
        .on_timer(move |e, ev| {
            if &*ev.name == "once" {
                // Sent at bar 2's close, bar 3's open time: fills at bar 3's open.
                e.submit_market(k, "AAA", OrderSide::Buy, q(10 * ONE))?;
                // Due before the next bar and before "later": fires between them, in order.
                let soon = e.now() + 10 * S;
                e.set_time_alert(k, "soon", soon)?;
                let nested = e.now() + 90 * S;
                e.set_time_alert(k, "nested", nested)?;
            }
            Ok(())
        });
    let mut s = [probe];
    run_all(&mut e, vec![series("AAA", &bars)], &mut s);
    let want = [
        "T start",
        "T bar AAA 0",
        "T bar AAA 1",
        "T timer rep 90",
        "T bar AAA 2",
        "T timer once 120",
        "T order T-1 submitted",
        "T order T-1 accepted",
        "T timer soon 130",
        "T timer later 170",
        "T order T-1 filled",
        "T fill T-1 10 @ 10030",
        "T position AAA 10",
        "T bar AAA 3",
        "T timer tie 180",
        "T timer rep 180",
        "T timer nested 210",
        "T bar AAA 4",
        "T timer rep 270",
        "T bar AAA 5",
        "T bar AAA 6",
        "T timer rep 360",
        "T bar AAA 7",
        "T bar AAA 8",
        "T bar AAA 9",
        "T timer end 540",
        "T stop",
    ];
    assert_eq!(log_of(&log), want);
    assert_eq!(e.recorder().fills.len(), 1);
    assert_eq!(e.recorder().fills[0].price.raw(), c(10_030));
}

#[test]
fn timers_cannot_be_set_in_the_past() {
    // While a bar's callbacks run the clock has not passed the bar yet; an alert or a first
    // firing before the bar's time must still be refused, or the engine's clock would go
    // back in time when it fires.
    let (_, log, _) = scripted(None, margin(100_000), &flat(3), move |e, i, _| {
        if i == 1 {
            let now = e.now();
            assert!(e.set_time_alert(0, "past", now - 1).is_err());
            assert!(e
                .set_timer(0, "late", MIN, Some(now - MIN - 1), None)
                .is_err());
            e.set_time_alert(0, "now", now)?;
        }
        Ok(())
    });
    assert_eq!(
        log,
        [
            "S start",
            "S bar AAA 0",
            "S bar AAA 1",
            "S timer now 60",
            "S bar AAA 2",
            "S stop"
        ]
    );
}

// ------------------------------------------------------------------ commands

/// Bars for the command tests: every price between 99.50 and 101.50.
const CMD_BARS: [(i64, i64); 6] = [
    (10_000, 10_010),
    (10_020, 10_030),
    (10_040, 10_030),
    (10_050, 10_060),
    (10_070, 10_080),
    (10_090, 10_100),
];

fn command_script(e: &mut Engine, i: u64, _bar: &Bar) -> CoreResult<()> {
    let now = e.now();
    match i {
        0 => {
            // An order carrying another strategy's id, or for an unknown strategy: errors.
            let foreign = mk_order(
                "x-1",
                "O",
                "AAA",
                OrderSide::Buy,
                OrderType::Market,
                ONE,
                now,
            );
            let err = e.submit(0, foreign.clone()).unwrap_err();
            assert!(err.to_string().contains("not this strategy's"), "{err}");
            assert!(e.submit(7, foreign).is_err());
            assert_eq!(
                e.submit_market(0, "AAA", OrderSide::Buy, q(10 * ONE))?,
                "S-1"
            );
            let limit = mk_order(
                e.next_order_id(0)?,
                "S",
                "AAA",
                OrderSide::Buy,
                OrderType::Limit,
                10 * ONE,
                now,
            )
            .with_price(px(c(9_000)));
            assert_eq!(e.submit(0, limit)?, OrderStatus::Accepted);
            let stop = mk_order(
                e.next_order_id(0)?,
                "S",
                "AAA",
                OrderSide::Sell,
                OrderType::StopMarket,
                10 * ONE,
                now,
            )
            .with_trigger(px(c(8_000)));
            assert_eq!(e.submit(0, stop)?, OrderStatus::Accepted);
            let far = mk_order(
                e.next_order_id(0)?,
                "S",
                "AAA",
                OrderSide::Sell,
                OrderType::Limit,
                5 * ONE,
                now,
            )
            .with_price(px(c(12_000)));
            e.submit(0, far)?;
        }
        1 => {
            assert_eq!(e.position_raw(0, "AAA")?, 10 * ONE);
            e.modify("S-2", Some(15 * ONE), None, None)?;
            assert_eq!(e.order("S-2").unwrap().quantity.raw(), 15 * ONE);
            e.modify("S-2", Some(5 * ONE), None, None)?;
            assert_eq!(e.order("S-2").unwrap().quantity.raw(), 5 * ONE);
            e.modify("S-2", None, Some(c(9_100)), None)?;
            let o = e.order("S-2").unwrap();
            assert_eq!(
                (o.quantity.raw(), o.price.map(Price::raw)),
                (5 * ONE, Some(c(9_100)))
            );
            e.modify("S-3", None, None, Some(c(8_500)))?;
            assert_eq!(
                e.order("S-3").unwrap().trigger_price.map(Price::raw),
                Some(c(8_500))
            );
            e.cancel("S-4")?;
            assert_eq!(e.open_orders(0)?, ["S-2", "S-3"]);
            // A filled order can be neither cancelled nor changed: events, not errors.
            e.cancel("S-1")?;
            e.modify("S-1", Some(20 * ONE), None, None)?;
            assert!(e.cancel("nope").is_err());
            assert!(e.modify("nope", Some(ONE), None, None).is_err());
        }
        2 => {
            // Move the buy limit above the market: it fills at the next bar's open.
            e.modify("S-2", None, Some(c(10_500)), None)?;
        }
        3 => {
            assert_eq!(e.position_raw(0, "AAA")?, 15 * ONE);
            // Cancels the working stop, then a reduce-only market order for the 15.
            assert_eq!(
                e.close_position(0, "AAA")?.map(String::from).as_deref(),
                Some("S-5")
            );
            let o = e.order("S-5").unwrap();
            assert!(o.reduce_only);
            assert_eq!(
                (o.side, o.order_type, o.quantity.raw()),
                (OrderSide::Sell, OrderType::Market, 15 * ONE)
            );
            assert!(e.open_orders(0)?.iter().all(|id| id == "S-5"));
        }
        4 => {
            assert_eq!(e.position_raw(0, "AAA")?, 0);
            assert_eq!(e.close_position(0, "AAA")?, None, "already flat");
        }
        _ => {}
    }
    Ok(())
}

const COMMAND_LOG: [&str; 36] = [
    "S start",
    "S bar AAA 0",
    "S order S-1 submitted",
    "S order S-1 accepted",
    "S order S-2 submitted",
    "S order S-2 accepted",
    "S order S-3 submitted",
    "S order S-3 accepted",
    "S order S-4 submitted",
    "S order S-4 accepted",
    "S order S-1 filled",
    "S fill S-1 10 @ 10020",
    "S position AAA 10",
    "S bar AAA 1",
    "S order S-2 modify_accepted",
    "S order S-2 modify_accepted",
    "S order S-2 modify_accepted",
    "S order S-3 modify_accepted",
    "S order S-4 cancelled",
    "S order S-1 cancel_rejected",
    "S order S-1 modify_rejected",
    "S bar AAA 2",
    "S order S-2 modify_accepted",
    // The raised limit fills at the open (100.50), not at its limit.
    "S order S-2 filled",
    "S fill S-2 5 @ 10050",
    "S position AAA 15",
    "S bar AAA 3",
    "S order S-3 cancelled",
    "S order S-5 submitted",
    "S order S-5 accepted",
    "S order S-5 filled",
    "S fill S-5 15 @ 10070",
    "S position AAA 0",
    "S bar AAA 4",
    "S bar AAA 5",
    "S stop",
];

#[test]
fn every_command_without_a_risk_engine() {
    let (e, log, _) = scripted(None, margin(1_000_000), &CMD_BARS, command_script);
    assert_eq!(log, COMMAND_LOG);
    assert!(e.denials().is_empty());
    assert_eq!(e.portfolio().identity_residual(), 0);
    // Bought 10 at 100.20 and 5 at 100.50, sold 15 at 100.70.
    let want = 10 * i128::from(c(50)) + 5 * i128::from(c(20));
    assert_eq!(e.portfolio().realised(), want);
}

#[test]
fn every_command_through_a_risk_engine_that_allows_them() {
    let (e, log, _) = scripted(
        Some(RiskConfig::unlimited()),
        margin(1_000_000),
        &CMD_BARS,
        command_script,
    );
    assert_eq!(log, COMMAND_LOG);
    assert!(e.denials().is_empty());
}

// ------------------------------------------------------------------ sizing

#[test]
fn size_without_a_risk_engine_uses_the_account_and_rounds_down_to_the_lot() {
    let log = Log::default();
    let mut e = new_engine(plain(), margin(1_000_000), None);
    e.add_instrument(&instrument("LOT", "10")).unwrap();
    e.add_strategy(spec("S", &["LOT"], Callbacks::all(), true))
        .unwrap();
    let sizes = Rc::new(RefCell::new(Vec::new()));
    let (s1, s2) = (sizes.clone(), sizes.clone());
    let tenth = Sizing::PercentOfEquity { fraction: ONE / 10 };
    let probe = Probe::new("S", &log)
        .on_start(move |e| {
            // No bar yet: no last price to size at, unless one is given.
            let err = e.size(0, "LOT", &tenth, OrderSide::Buy, None).unwrap_err();
            assert!(err.to_string().contains("no last price"), "{err}");
            s1.borrow_mut()
                .push(e.size(0, "LOT", &tenth, OrderSide::Buy, Some(c(12_500)))?);
            assert!(e
                .size(0, "NOPE", &tenth, OrderSide::Buy, Some(ONE))
                .is_err());
            Ok(())
        })
        .on_bar(move |e, bar| {
            if bar_index(bar) == 0 {
                let mut s = s2.borrow_mut();
                s.push(e.size(0, "LOT", &tenth, OrderSide::Buy, None)?);
                s.push(e.size(0, "LOT", &tenth, OrderSide::Sell, None)?);
                let fixed = Sizing::FixedQuantity { quantity: 25 * ONE };
                s.push(e.size(0, "LOT", &fixed, OrderSide::Buy, None)?);
            }
            Ok(())
        });
    run_all(
        &mut e,
        vec![series("LOT", &[(9_870, 9_877), (9_900, 9_900)])],
        &mut [probe],
    );
    // 10 % of 1,000,000 at 125.00 = 800; at the last close 98.77: 1012.45 → 1010 (lot 10),
    // either side; a fixed 25 → 20.
    assert_eq!(
        *sizes.borrow(),
        [800 * ONE, 1_010 * ONE, 1_010 * ONE, 20 * ONE]
    );
}

#[test]
fn size_with_a_risk_engine_is_clipped_to_its_limits() {
    let run = |cfg: RiskConfig| {
        let mut e = new_engine(plain(), margin(1_000_000), Some(cfg));
        e.add_instrument(&instrument("LOT", "10")).unwrap();
        e.add_strategy(spec("S", &["LOT"], Callbacks::all(), true))
            .unwrap();
        let got = Rc::new(RefCell::new(None));
        let g = got.clone();
        let probe = Probe::new("S", &Log::default()).on_bar(move |e, _| {
            let m = Sizing::PercentOfEquity { fraction: ONE / 10 };
            *g.borrow_mut() = Some(e.size(0, "LOT", &m, OrderSide::Buy, None)?);
            Ok(())
        });
        run_all(&mut e, vec![series("LOT", &[(9_870, 9_877)])], &mut [probe]);
        got.take().expect("sized")
    };
    // Unlimited: the account alone decides (1010, as without a risk engine).
    assert_eq!(run(RiskConfig::unlimited()), 1_010 * ONE);
    // $25,000 per order at 98.77: 253.1 → 250 (lot 10).
    let mut cfg = RiskConfig::unlimited();
    cfg.order.max_notional = Some(25_000 * W);
    assert_eq!(run(cfg), 250 * ONE);
    // 125 per order → 120 (lot 10).
    let mut cfg = RiskConfig::unlimited();
    cfg.order.max_quantity = Some(125 * ONE);
    assert_eq!(run(cfg), 120 * ONE);
}

// ------------------------------------------------------------------ risk on every modify

/// A buy limit `S-1` of `qty` at `price` on bar 0 (every bar at 100.00), then `changes`
/// (quantity, price, trigger) on bar 1, then `after` on bar 1.
fn modify_run(
    cfg: RiskConfig,
    cash: i64,
    qty: i64,
    price: i64,
    changes: Vec<(Option<i64>, Option<i64>)>,
    after: fn(&mut Engine) -> CoreResult<()>,
) -> (Engine, Vec<OrderEvent>) {
    let (e, _, events) = scripted(Some(cfg), margin(cash), &flat(3), move |e, i, _| {
        match i {
            0 => {
                let o = mk_order(
                    e.next_order_id(0)?,
                    "S",
                    "AAA",
                    OrderSide::Buy,
                    OrderType::Limit,
                    qty * ONE,
                    e.now(),
                )
                .with_price(px(c(price)));
                assert_eq!(e.submit(0, o)?, OrderStatus::Accepted);
            }
            1 => {
                for (q, p) in &changes {
                    e.modify("S-1", q.map(|q| q * ONE), p.map(c), None)?;
                }
                after(e)?;
            }
            _ => {}
        }
        Ok(())
    });
    (e, events)
}

/// The `modify_*` events of `S-1`: `(kind, denial code)`.
fn modify_outcomes(events: &[OrderEvent]) -> Vec<(OrderEventKind, Option<DenialCode>)> {
    events_of(events, "S-1")
        .into_iter()
        .filter(|e| {
            matches!(
                e.kind,
                OrderEventKind::ModifyAccepted | OrderEventKind::ModifyRejected
            )
        })
        .map(|e| (e.kind, e.denial.as_ref().map(|d| d.code)))
        .collect()
}

fn nothing(_: &mut Engine) -> CoreResult<()> {
    Ok(())
}

#[test]
fn a_price_only_modify_outside_the_collar_is_refused() {
    let mut cfg = RiskConfig::unlimited();
    cfg.order.price_collar = Some(ONE / 10);
    // 95 passes; 89 is 11 % from the last price 100; 91 is 9 %.
    let (e, events) = modify_run(
        cfg,
        1_000_000,
        10,
        9_500,
        vec![(None, Some(8_900)), (None, Some(9_100))],
        nothing,
    );
    use OrderEventKind::{ModifyAccepted, ModifyRejected};
    assert_eq!(
        modify_outcomes(&events),
        [
            (ModifyRejected, Some(DenialCode::PriceCollar)),
            (ModifyAccepted, None)
        ]
    );
    let rejected = events.iter().find(|e| e.kind == ModifyRejected).unwrap();
    assert_eq!(
        rejected.status,
        OrderStatus::Accepted,
        "the order keeps working"
    );
    assert!(
        rejected.reason.starts_with("price_collar"),
        "{}",
        rejected.reason
    );
    let d = e.denials();
    assert_eq!(d.len(), 1);
    assert_eq!(
        (
            d[0].ts,
            d[0].strategy_id.as_str(),
            d[0].client_order_id.as_str()
        ),
        (at(1), "S", "S-1")
    );
    assert_eq!(d[0].denial.code, DenialCode::PriceCollar);
    assert_eq!(d[0].denial.scope, LimitScope::Account);
    assert_eq!(d[0].denial.limit, W / 10);
    assert_eq!(d[0].denial.actual, 11 * W / 100);
    assert_eq!(
        e.order("S-1").unwrap().price.map(Price::raw),
        Some(c(9_100))
    );
}

#[test]
fn a_price_only_modify_over_the_notional_limit_is_refused() {
    let mut cfg = RiskConfig::unlimited();
    cfg.order.max_notional = Some(950 * W);
    // 10 at 90 = 900 passes; at 96 = 960 > 950; at 95 = 950 passes (at the limit).
    let (e, events) = modify_run(
        cfg,
        1_000_000,
        10,
        9_000,
        vec![(None, Some(9_600)), (None, Some(9_500))],
        nothing,
    );
    use OrderEventKind::{ModifyAccepted, ModifyRejected};
    assert_eq!(
        modify_outcomes(&events),
        [
            (ModifyRejected, Some(DenialCode::MaxNotional)),
            (ModifyAccepted, None)
        ]
    );
    let d = &e.denials()[0].denial;
    assert_eq!((d.limit, d.actual), (950 * W, 960 * W));
    assert_eq!(e.denials().len(), 1);
    assert_eq!(
        e.order("S-1").unwrap().price.map(Price::raw),
        Some(c(9_500))
    );
}

#[test]
fn a_price_only_modify_beyond_buying_power_is_refused_without_counting_itself_twice() {
    let mut cfg = RiskConfig::unlimited();
    cfg.account.check_buying_power = true;
    // Cash 9,500: 100 at 90 = 9,000 passes. At 94 = 9,400 it still fits — as long as the
    // order's own 9,000 is not counted as well; at 96 = 9,600 it does not.
    let (e, events) = modify_run(
        cfg,
        9_500,
        100,
        9_000,
        vec![(None, Some(9_400)), (None, Some(9_600))],
        nothing,
    );
    use OrderEventKind::{ModifyAccepted, ModifyRejected};
    assert_eq!(
        modify_outcomes(&events),
        [
            (ModifyAccepted, None),
            (ModifyRejected, Some(DenialCode::InsufficientBuyingPower))
        ]
    );
    let d = &e.denials()[0].denial;
    assert_eq!((d.limit, d.actual), (9_500 * W, 9_600 * W));
    assert_eq!(
        e.order("S-1").unwrap().price.map(Price::raw),
        Some(c(9_400))
    );
}

#[test]
fn a_modify_does_not_count_its_own_order_against_max_open_orders() {
    let mut cfg = RiskConfig::unlimited();
    cfg.flow.max_open_orders = Some(1);
    fn second_order(e: &mut Engine) -> CoreResult<()> {
        // The limit binds: a second order is denied.
        e.submit_market(0, "AAA", OrderSide::Buy, q(ONE))?;
        Ok(())
    }
    let (e, events) = modify_run(
        cfg,
        1_000_000,
        10,
        9_500,
        vec![
            (None, Some(9_600)),
            (Some(12), None),
            (Some(8), Some(9_400)),
        ],
        second_order,
    );
    use OrderEventKind::ModifyAccepted;
    assert_eq!(
        modify_outcomes(&events),
        [
            (ModifyAccepted, None),
            (ModifyAccepted, None),
            (ModifyAccepted, None)
        ]
    );
    let o = e.order("S-1").unwrap();
    assert_eq!(
        (o.quantity.raw(), o.price.map(Price::raw)),
        (8 * ONE, Some(c(9_400)))
    );
    let d = e.denials();
    assert_eq!(d.len(), 1);
    assert_eq!(
        (d[0].client_order_id.as_str(), d[0].denial.code),
        ("S-2", DenialCode::MaxOpenOrders)
    );
    let denied = events_of(&events, "S-2");
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].kind, OrderEventKind::Denied);
    assert_eq!(
        denied[0].denial.as_ref().map(|d| d.code),
        Some(DenialCode::MaxOpenOrders)
    );
}

#[test]
fn a_quantity_modify_over_the_limit_is_refused_and_a_trigger_modify_is_checked() {
    let mut cfg = RiskConfig::unlimited();
    cfg.order.max_quantity = Some(20 * ONE);
    cfg.order.max_notional = Some(2_000 * W);
    let (e, _, events) = scripted(Some(cfg), margin(1_000_000), &flat(3), |e, i, _| {
        let now = e.now();
        match i {
            0 => {
                let stop = mk_order(
                    e.next_order_id(0)?,
                    "S",
                    "AAA",
                    OrderSide::Buy,
                    OrderType::StopMarket,
                    10 * ONE,
                    now,
                )
                .with_trigger(px(c(15_000)));
                e.submit(0, stop)?;
            }
            1 => {
                e.modify("S-1", Some(21 * ONE), None, None)?; // max_quantity
                e.modify("S-1", None, None, Some(c(20_100)))?; // 10 × 201 > 2,000
                e.modify("S-1", None, None, Some(c(19_000)))?; // 1,900: passes
            }
            _ => {}
        }
        Ok(())
    });
    use OrderEventKind::{ModifyAccepted, ModifyRejected};
    assert_eq!(
        modify_outcomes(&events),
        [
            (ModifyRejected, Some(DenialCode::MaxQuantity)),
            (ModifyRejected, Some(DenialCode::MaxNotional)),
            (ModifyAccepted, None)
        ]
    );
    let o = e.order("S-1").unwrap();
    assert_eq!(
        (o.quantity.raw(), o.trigger_price.map(Price::raw)),
        (10 * ONE, Some(c(19_000)))
    );
    assert_eq!(e.denials().len(), 2);
}

// ------------------------------------------------------------------ vectorised

#[test]
fn vectorised_denials_carry_their_real_codes() {
    let mut cfg = RiskConfig::unlimited();
    cfg.order.max_quantity = Some(5 * ONE);
    let mut e = new_engine(plain(), margin(1_000_000), Some(cfg));
    e.add_instrument(&instrument("AAA", "1")).unwrap();
    let bars: Vec<(i64, i64)> = (0..6).map(|i| (10_000 + i, 10_000 + i)).collect();
    assert!(TargetPositions::register(&mut e, "bad", "AAA", vec![0; 5], bars.len()).is_err());
    let t = TargetPositions::register(
        &mut e,
        "sig",
        "AAA",
        vec![0, 10 * ONE, 10 * ONE, 3 * ONE, 3 * ONE, 0],
        bars.len(),
    )
    .unwrap();
    let mut s = [t];
    run_all(&mut e, vec![series("AAA", &bars)], &mut s);
    // Bars 1 and 2 want 10 > 5: denied; bar 3 buys 3 (filled at bar 4's open); bar 5 sells.
    assert_eq!(s[0].orders, 4);
    let d = e.denials();
    assert_eq!(d.len(), 2);
    for (rec, (i, id)) in d.iter().zip([(1, "sig-1"), (2, "sig-2")]) {
        assert_eq!(
            (
                rec.ts,
                rec.strategy_id.as_str(),
                rec.client_order_id.as_str()
            ),
            (at(i), "sig", id)
        );
        assert_eq!(rec.denial.code, DenialCode::MaxQuantity);
        assert_eq!(rec.denial.code.as_str(), "max_quantity");
        assert_eq!((rec.denial.limit, rec.denial.actual), (5 * W, 10 * W));
    }
    let fills = &e.recorder().fills;
    assert_eq!(fills.len(), 1);
    assert_eq!(
        (
            fills[0].client_order_id.as_str(),
            fills[0].quantity.raw(),
            fills[0].price.raw()
        ),
        ("sig-3", 3 * ONE, c(10_004))
    );
}

// ------------------------------------------------------------------ step against run

/// A strategy exercising timers, orders, modifies, cancels, closes and denials.
fn busy(k: usize, tag: &'static str, log: &Log) -> Probe {
    Probe::new(tag, log)
        .on_start(move |e| e.set_timer(k, "tick", 45 * S, None, None))
        .on_bar(move |e, bar| {
            let i = bar_index(bar);
            let close = bar.close.raw();
            match i % 4 {
                // Denied above 20 (see the risk config).
                0 => {
                    e.submit_market(k, "AAA", OrderSide::Buy, q((4 + 6 * (i as i64)) * ONE))?;
                }
                1 => {
                    let o = mk_order(
                        e.next_order_id(k)?,
                        "S",
                        "AAA",
                        OrderSide::Buy,
                        OrderType::Limit,
                        3 * ONE,
                        e.now(),
                    )
                    .with_price(px(close - c(30)));
                    e.submit(k, o)?;
                }
                2 => {
                    for id in e.open_orders(k)? {
                        // Outside the 5 % collar: refused; then within: accepted.
                        e.modify(id.as_str(), None, Some(close * 9 / 10 / CENT * CENT), None)?;
                        e.modify(id.as_str(), Some(4 * ONE), Some(close - c(10)), None)?;
                    }
                }
                _ => {
                    if i % 8 == 7 {
                        e.close_position(k, "AAA")?;
                    } else if let Some(id) = e.open_orders(k)?.first() {
                        e.cancel(id.as_str())?;
                    }
                }
            }
            Ok(())
        })
        .on_timer({
            let mut n = 0;
            move |e, _| {
                n += 1;
                if n % 3 == 0 && e.position_raw(k, "AAA")? > 0 {
                    e.submit_market(k, "AAA", OrderSide::Sell, q(ONE))?;
                }
                Ok(())
            }
        })
}

fn busy_bars() -> Vec<(i64, i64)> {
    (0..24i64)
        .map(|i| {
            let o = 10_000 + 37 * ((i * 7) % 11) - 150;
            (o, o + 23 * ((i % 5) - 2))
        })
        .collect()
}

fn busy_risk() -> RiskConfig {
    let mut cfg = RiskConfig::unlimited();
    cfg.order.max_quantity = Some(20 * ONE);
    cfg.order.price_collar = Some(ONE / 20);
    cfg
}

#[test]
fn step_drives_the_same_bars_to_the_same_result_as_run() {
    let s = series("AAA", &busy_bars());
    let config = VenueConfig {
        commission: CommissionModel::IBKR_FIXED,
        ..plain()
    };

    let run_log = Log::default();
    let mut by_run = new_engine(config, margin(100_000), Some(busy_risk()));
    by_run.add_instrument(&instrument("AAA", "1")).unwrap();
    by_run
        .add_strategy(spec("S", &["AAA"], Callbacks::all(), true))
        .unwrap();
    run_all(&mut by_run, vec![s.clone()], &mut [busy(0, "S", &run_log)]);

    let step_log = Log::default();
    let mut by_step = new_engine(config, margin(100_000), Some(busy_risk()));
    by_step.add_instrument(&instrument("AAA", "1")).unwrap();
    by_step
        .add_strategy(spec("S", &["AAA"], Callbacks::all(), true))
        .unwrap();
    let mut strategies = [busy(0, "S", &step_log)];
    // Not started yet.
    let first = MarketEvent::bar(bars_of(&s)[0]);
    assert!(step(&mut by_step, &mut strategies, first).is_err());
    start(&mut by_step, &mut strategies, T0).unwrap();
    let mut ticks = 0;
    for (i, bar) in bars_of(&s).into_iter().enumerate() {
        step(&mut by_step, &mut strategies, MarketEvent::bar(bar)).unwrap();
        if i + 1 == s.len() {
            // `run` fires nothing after the last bar's time: neither does this loop.
            break;
        }
        // A clock tick between bars (the live node's idle clock) fires the timers due by then.
        let t = at(i as u64) + 30 * S;
        let before = step_log.borrow().len();
        step(&mut by_step, &mut strategies, MarketEvent::Time(t)).unwrap();
        assert_eq!(by_step.now(), t);
        let fired: Vec<String> = step_log.borrow()[before..].to_vec();
        for line in fired.iter().filter(|l| l.contains(" timer ")) {
            let secs: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
            // Due since the bar (one due at the bar's own time fires after it) and by the tick.
            let bar_secs = 60 * i as u64;
            assert!(bar_secs <= secs && secs <= bar_secs + 30, "{line}");
            ticks += 1;
        }
        assert!(
            fired.iter().all(|l| !l.contains(" bar ")),
            "a tick is not a bar"
        );
    }
    assert!(ticks > 5, "timers fired on clock ticks");
    // Events must come in time order.
    assert!(step(&mut by_step, &mut strategies, MarketEvent::Time(at(3))).is_err());
    stop(&mut by_step, &mut strategies).unwrap();
    assert!(step(&mut by_step, &mut strategies, MarketEvent::Time(at(99))).is_err());

    assert_eq!(log_of(&step_log), log_of(&run_log));
    let (a, b) = (by_run.recorder(), by_step.recorder());
    assert!(a.fills.len() > 5, "a busy run: {} fills", a.fills.len());
    assert_eq!(a.fills, b.fills);
    assert_eq!(a.ts, b.ts);
    assert_eq!(a.equity, b.equity);
    assert_eq!(a.position_open, b.position_open);
    assert!(by_run.denials().len() > 3);
    assert!(by_run
        .denials()
        .iter()
        .any(|d| d.denial.code == DenialCode::PriceCollar));
    assert_eq!(by_run.denials(), by_step.denials());
    assert_eq!(by_run.portfolio().equity(), by_step.portfolio().equity());
}

#[test]
fn time_ticks_after_the_data_fire_the_timers_a_backtest_never_reaches() {
    let log = Log::default();
    let mut e = new_engine(plain(), margin(100_000), None);
    e.add_instrument(&instrument("AAA", "1")).unwrap();
    e.add_strategy(spec("S", &["AAA"], Callbacks::all(), true))
        .unwrap();
    let mut s = [Probe::new("S", &log).on_start(|e| {
        e.set_timer(0, "rep", MIN, None, None)?;
        e.set_time_alert(0, "later", T0 + 150 * S)
    })];
    start(&mut e, &mut s, T0).unwrap();
    step(&mut e, &mut s, MarketEvent::Time(T0 + 130 * S)).unwrap();
    step(&mut e, &mut s, MarketEvent::Time(T0 + 180 * S)).unwrap();
    stop(&mut e, &mut s).unwrap();
    assert_eq!(
        log_of(&log),
        [
            "S start",
            "S timer rep 60",
            "S timer rep 120",
            "S timer later 150",
            "S timer rep 180",
            "S stop"
        ]
    );
}

// ------------------------------------------------------------------ random order flows

#[derive(Debug, Clone)]
enum Act {
    Nothing,
    Market {
        buy: bool,
        qty: i64,
    },
    /// A limit `ticks` dimes away from the close on the passive side (negative: marketable).
    Limit {
        buy: bool,
        qty: i64,
        ticks: i64,
    },
    /// A stop `ticks` dimes away from the close on the adverse side.
    Stop {
        buy: bool,
        qty: i64,
        ticks: i64,
    },
    Cancel {
        pick: usize,
    },
    Modify {
        pick: usize,
        qty: Option<i64>,
        ticks: Option<i64>,
    },
    Close,
}

fn act() -> impl proptest::strategy::Strategy<Value = Act> {
    prop_oneof![
        2 => Just(Act::Nothing),
        3 => (any::<bool>(), 1..60i64).prop_map(|(buy, qty)| Act::Market { buy, qty }),
        3 => (any::<bool>(), 1..60i64, -3..15i64)
            .prop_map(|(buy, qty, ticks)| Act::Limit { buy, qty, ticks }),
        2 => (any::<bool>(), 1..60i64, 0..15i64)
            .prop_map(|(buy, qty, ticks)| Act::Stop { buy, qty, ticks }),
        1 => (0..8usize).prop_map(|pick| Act::Cancel { pick }),
        4 => (0..8usize, proptest::option::of(1..60i64), proptest::option::of(-3..15i64))
            .prop_map(|(pick, qty, ticks)| Act::Modify { pick, qty, ticks }),
        1 => Just(Act::Close),
    ]
}

/// `(open, high, low, close, volume)` in cents and units: a random walk from 100.00.
fn random_bars() -> impl proptest::strategy::Strategy<Value = Vec<(i64, i64, i64, i64, i64)>> {
    proptest::collection::vec(
        (
            -200..200i64,
            -200..200i64,
            0..150i64,
            0..150i64,
            0..3_000i64,
        ),
        2..40,
    )
    .prop_map(|steps| {
        let mut last = 10_000i64;
        steps
            .into_iter()
            .map(|(gap, body, up, down, volume)| {
                let open = (last + gap).max(1_000);
                let close = (open + body).max(1_000);
                last = close;
                let high = open.max(close) + up;
                let low = (open.min(close) - down).max(500);
                (open, high, low, close, volume)
            })
            .collect()
    })
}

fn random_series(rows: &[(i64, i64, i64, i64, i64)]) -> BarSeries<'static> {
    let n = rows.len();
    BarSeries::new(
        "AAA-1m".parse::<BarType>().unwrap(),
        (0..n as u64).map(at_i64).collect::<Vec<_>>(),
        rows.iter().map(|r| c(r.0)).collect::<Vec<_>>(),
        rows.iter().map(|r| c(r.1)).collect::<Vec<_>>(),
        rows.iter().map(|r| c(r.2)).collect::<Vec<_>>(),
        rows.iter().map(|r| c(r.3)).collect::<Vec<_>>(),
        rows.iter().map(|r| r.4 * ONE).collect::<Vec<_>>(),
    )
    .unwrap()
}

fn flow(k: usize, id: &'static str, acts: Vec<Act>) -> Probe {
    let log = Log::default();
    Probe::new(id, &log).on_bar(move |e, bar| {
        let i = usize::try_from(bar_index(bar)).unwrap();
        let close = bar.close.raw();
        let dime = 10 * CENT;
        let side = |buy: bool| if buy { OrderSide::Buy } else { OrderSide::Sell };
        let away = |buy: bool, ticks: i64| {
            let px = if buy {
                close - ticks * dime
            } else {
                close + ticks * dime
            };
            px.max(CENT)
        };
        let new = |e: &mut Engine, buy: bool, t: OrderType, qty: i64| -> CoreResult<Order> {
            Ok(mk_order(
                e.next_order_id(k)?,
                id,
                "AAA",
                side(buy),
                t,
                qty * ONE,
                e.now(),
            ))
        };
        match acts[i % acts.len()].clone() {
            Act::Nothing => {}
            Act::Market { buy, qty } => {
                e.submit_market(k, "AAA", side(buy), q(qty * ONE))?;
            }
            Act::Limit { buy, qty, ticks } => {
                let o = new(e, buy, OrderType::Limit, qty)?.with_price(px(away(buy, ticks)));
                e.submit(k, o)?;
            }
            Act::Stop { buy, qty, ticks } => {
                let o =
                    new(e, buy, OrderType::StopMarket, qty)?.with_trigger(px(away(!buy, ticks)));
                e.submit(k, o)?;
            }
            Act::Cancel { pick } => {
                let open = e.open_orders(k)?;
                if !open.is_empty() {
                    e.cancel(open[pick % open.len()].as_str())?;
                }
            }
            Act::Modify { pick, qty, ticks } => {
                let open = e.open_orders(k)?;
                if !open.is_empty() {
                    let oid = open[pick % open.len()];
                    let o = e.order(oid.as_str()).unwrap().clone();
                    let buy = o.side == OrderSide::Buy;
                    // A new limit price for a limit, a new trigger for anything else.
                    let (price, trigger) = match ticks {
                        None => (None, None),
                        Some(t) if o.price.is_some() => (Some(away(buy, t)), None),
                        Some(t) => (None, Some(away(!buy, t))),
                    };
                    e.modify(oid.as_str(), qty.map(|q| q * ONE), price, trigger)?;
                }
            }
            Act::Close => {
                e.close_position(k, "AAA")?;
            }
        }
        Ok(())
    })
}

#[derive(Debug, Clone, Copy)]
struct Setup {
    slippage: i64,
    commission: bool,
    participation: bool,
    this_close: bool,
    margin_account: bool,
    risk: bool,
}

fn setup() -> impl proptest::strategy::Strategy<Value = Setup> {
    (
        0..3i64,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(slippage, commission, participation, this_close, margin_account)| Setup {
                slippage,
                commission,
                participation,
                this_close,
                margin_account,
                risk: false,
            },
        )
}

fn flow_engine(s: Setup) -> Engine {
    let config = VenueConfig {
        slippage: SlippageModel::FixedTicks(s.slippage),
        commission: if s.commission {
            CommissionModel::IBKR_FIXED
        } else {
            CommissionModel::ZERO
        },
        participation: s.participation.then_some(ONE / 10),
        market_fill: if s.this_close {
            MarketFillTiming::ThisClose
        } else {
            MarketFillTiming::NextOpen
        },
        ..VenueConfig::default()
    };
    let account = AccountConfig {
        starting_cash: 50_000 * ONE,
        account_type: if s.margin_account {
            AccountType::Margin
        } else {
            AccountType::Cash
        },
        allow_short: s.margin_account,
    };
    let risk = s.risk.then(|| {
        let mut cfg = RiskConfig::unlimited();
        cfg.order.max_quantity = Some(40 * ONE);
        cfg.order.price_collar = Some(ONE / 20);
        cfg.order.max_position_quantity = Some(80 * ONE);
        cfg.flow.max_open_orders = Some(4);
        cfg.account.check_buying_power = true;
        cfg
    });
    let mut e = new_engine(config, account, risk);
    e.add_instrument(&instrument("AAA", "1")).unwrap();
    e.add_strategy(spec("P0", &["AAA"], Callbacks::all(), true))
        .unwrap();
    e.add_strategy(spec("P1", &["AAA"], Callbacks::all(), true))
        .unwrap();
    e
}

fn check_random_flow(
    s: Setup,
    rows: &[(i64, i64, i64, i64, i64)],
    a0: Vec<Act>,
    a1: Vec<Act>,
) -> Result<(), TestCaseError> {
    let series = random_series(rows);
    let mut e = flow_engine(s);
    let mut strategies = [flow(0, "P0", a0.clone()), flow(1, "P1", a1.clone())];
    start(&mut e, &mut strategies, T0).unwrap();
    let mut seen = 0;
    for (i, bar) in bars_of(&series).into_iter().enumerate() {
        step(&mut e, &mut strategies, MarketEvent::bar(bar)).unwrap();
        let p = e.portfolio();
        prop_assert_eq!(p.identity_residual(), 0, "after bar {}", i);
        for sid in ["P0", "P1"] {
            prop_assert_eq!(
                p.strategy_identity_residual(sid),
                0,
                "{} after bar {}",
                sid,
                i
            );
        }
        // Every fill booked while this bar was processed lies inside it: its price in
        // [low, high], its time in [open time, close time].
        let fills = &e.recorder().fills;
        let (low, high) = (series.low.get(i), series.high.get(i));
        let (opened, closed) = (series.open_ts(i), series.ts_at(i));
        for f in &fills[seen..] {
            prop_assert!(
                low <= f.price.raw() && f.price.raw() <= high,
                "fill {:?} outside bar {} [{}, {}]",
                f,
                i,
                low,
                high
            );
            prop_assert!(
                opened <= f.ts.0 && f.ts.0 <= closed,
                "fill {:?} outside bar {}'s time [{}, {}]",
                f,
                i,
                opened,
                closed
            );
            prop_assert!(f.quantity.is_positive());
        }
        seen = fills.len();
    }
    stop(&mut e, &mut strategies).unwrap();

    // The same flows through `run` give the same result.
    let mut by_run = flow_engine(s);
    run_all(
        &mut by_run,
        vec![series],
        &mut [flow(0, "P0", a0), flow(1, "P1", a1)],
    );
    prop_assert_eq!(&by_run.recorder().fills, &e.recorder().fills);
    prop_assert_eq!(&by_run.recorder().equity, &e.recorder().equity);
    prop_assert_eq!(by_run.denials(), e.denials());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(150)))]

    #[test]
    fn random_order_flows_keep_the_books_and_stay_inside_the_bars(
        s in setup(),
        rows in random_bars(),
        a0 in proptest::collection::vec(act(), 1..12),
        a1 in proptest::collection::vec(act(), 1..12),
    ) {
        check_random_flow(s, &rows, a0, a1)?;
    }

    #[test]
    fn random_order_flows_through_a_risk_engine(
        s in setup(),
        rows in random_bars(),
        a0 in proptest::collection::vec(act(), 1..12),
        a1 in proptest::collection::vec(act(), 1..12),
    ) {
        check_random_flow(Setup { risk: true, ..s }, &rows, a0, a1)?;
    }
}

/// A crossover trader whose two SMAs are either engine-fed (`own: None`) or its own,
/// fed through `feed_indicator` (`own: Some`), on the slots `slots`.
struct SelfFed {
    k: usize,
    own: Option<(Sma, Sma)>,
    slots: (usize, usize),
    calls: Vec<(usize, u64)>,
}

impl Strategy<CoreError> for SelfFed {
    fn on_cross(
        &mut self,
        e: &mut Engine,
        cross: usize,
        bar: &Bar,
        direction: i8,
    ) -> CoreResult<()> {
        let side = if direction > 0 {
            OrderSide::Buy
        } else {
            OrderSide::Sell
        };
        self.calls.push((cross, bar.ts_event.0));
        e.submit_market(self.k, "AAA", side, q(10 * ONE))
            .map(|_| ())
    }
    fn on_bar(&mut self, _e: &mut Engine, bar: &Bar) -> CoreResult<()> {
        self.calls.push((usize::MAX, bar.ts_event.0));
        Ok(())
    }
    fn feed_indicator(
        &mut self,
        slot: usize,
        bar: &crate::indicators::BarInput,
    ) -> CoreResult<(bool, Option<f64>)> {
        let (fast, slow) = self.own.as_mut().expect("own indicators");
        let ind = if slot == self.slots.0 {
            fast
        } else if slot == self.slots.1 {
            slow
        } else {
            return Err(CoreError::invalid("slot", "not mine"));
        };
        let ready = FedIndicator::feed(ind, bar)?;
        Ok((ready, FedIndicator::level(ind)))
    }
}

/// Strategy-fed indicator slots (what the Python binding uses to feed its indicator
/// objects without attaching to the interpreter per feed) give the same readiness, levels,
/// crossovers, callbacks, fills and equity as engine-fed ones.
#[test]
fn strategy_fed_indicators_equal_engine_fed_ones() {
    // A zig-zag with plateaus: crosses both ways, equal averages in between.
    let mut oc = Vec::new();
    let mut p = 10_000_i64;
    for i in 0..400_i64 {
        let step = [30, -10, 0, 45, -60, 0, 0, 25, -35, 15][usize::try_from(i % 10).unwrap()]
            * if (i / 37) % 2 == 0 { 1 } else { -1 };
        let o = p;
        p = (p + step).max(1_000);
        oc.push((o, p));
    }
    let run = |own: bool| {
        let mut e = new_engine(plain(), margin(1_000_000), None);
        e.add_instrument(&instrument("AAA", "1")).unwrap();
        let callbacks = Callbacks {
            bar: true,
            ..Callbacks::default()
        };
        let k = e
            .add_strategy(spec("S", &["AAA"], callbacks, false))
            .unwrap();
        let (fast, slow) = if own {
            (
                e.register_strategy_indicator(k, "AAA").unwrap(),
                e.register_strategy_indicator(k, "AAA").unwrap(),
            )
        } else {
            (
                e.register_indicator(k, "AAA", Box::new(Sma::new(5).unwrap()))
                    .unwrap(),
                e.register_indicator(k, "AAA", Box::new(Sma::new(12).unwrap()))
                    .unwrap(),
            )
        };
        let x = e.register_crossover(fast, slow).unwrap();
        e.handle_cross(x).unwrap();
        let mut s = [SelfFed {
            k,
            own: own.then(|| (Sma::new(5).unwrap(), Sma::new(12).unwrap())),
            slots: (fast, slow),
            calls: Vec::new(),
        }];
        run_all(&mut e, vec![series("AAA", &oc)], &mut s);
        let [s] = s;
        (s.calls, e.recorder().fills.clone(), e.take_curve())
    };
    let (engine_fed, strategy_fed) = (run(false), run(true));
    assert!(engine_fed.0.len() > 300, "on_bar and crosses ran");
    assert!(engine_fed.1.len() > 10, "crosses traded");
    assert_eq!(engine_fed.0, strategy_fed.0);
    assert_eq!(engine_fed.1, strategy_fed.1);
    assert_eq!(engine_fed.2 .0, strategy_fed.2 .0);
    assert_eq!(engine_fed.2 .1, strategy_fed.2 .1);
    assert_eq!(engine_fed.2 .2, strategy_fed.2 .2);

    // A strategy that does not feed its slot stops the run with an error.
    let mut e = new_engine(plain(), margin(1_000_000), None);
    e.add_instrument(&instrument("AAA", "1")).unwrap();
    let k = e
        .add_strategy(spec("S", &["AAA"], Callbacks::all(), false))
        .unwrap();
    e.register_strategy_indicator(k, "AAA").unwrap();
    let mut feed = Feed::new();
    feed.add(series("AAA", &flat(3)));
    let mut s = [Probe::new("S", &Log::default())];
    assert!(e
        .run::<CoreError, _, NoProgress>(&mut feed, &mut s, None, 1)
        .is_err());
}

// ------------------------------------------------------------------ live: run-time strategies

#[test]
fn strategies_start_pause_stop_and_go_while_the_engine_runs() {
    let log: Log = Rc::default();
    let mut e = new_engine(plain(), margin(100_000), None);
    e.add_instrument(&instrument("AAA", "1")).unwrap();
    let all = Callbacks::all();
    let a = e.add_strategy(spec("a", &["AAA"], all, true)).unwrap();
    let bars = bars_of(&series("AAA", &flat(8)));
    let timer = |e: &mut Engine| e.set_timer(1, "t", 30 * S, None, None);
    let mut s = vec![Probe::new("a", &log).on_bar(move |e, _| {
        e.submit_market(a, "AAA", OrderSide::Buy, q(ONE))
            .map(|_| ())
    })];
    start(&mut e, &mut s, at(0)).unwrap();
    step(&mut e, &mut s, MarketEvent::bar(bars[1])).unwrap();
    // Added while running, started alone: its on_start runs, its timer counts from now.
    let b = e.add_strategy(spec("b", &["AAA"], all, true)).unwrap();
    s.push(Probe::new("b", &log).on_start(timer));
    e.start_strategy(b, &mut s).unwrap();
    step(&mut e, &mut s, MarketEvent::bar(bars[2])).unwrap();
    e.set_active(a, false).unwrap(); // paused: no callbacks, its order still fills
    step(&mut e, &mut s, MarketEvent::bar(bars[3])).unwrap();
    e.set_active(a, true).unwrap();
    e.stop_strategy(b, &mut s).unwrap(); // its timer goes with it
    step(&mut e, &mut s, MarketEvent::bar(bars[4])).unwrap();
    step(&mut e, &mut s, MarketEvent::Time(at(6))).unwrap();
    e.remove_strategy(b).unwrap();
    // The id is free again and its order numbering goes on.
    let b2 = e.add_strategy(spec("b", &["AAA"], all, true)).unwrap();
    s.push(Probe::new("b2", &log));
    e.start_strategy(b2, &mut s).unwrap();
    assert_eq!(e.next_order_id(b2).unwrap().as_str(), "b-1");
    stop(&mut e, &mut s).unwrap();
    let got = log_of(&log);
    let a_bars: Vec<_> = got.iter().filter(|l| l.starts_with("a bar")).collect();
    assert_eq!(a_bars, ["a bar AAA 1", "a bar AAA 2", "a bar AAA 4"]);
    assert!(got.contains(&"b start".to_owned()));
    // Every 30 s from its start at bar 1 (60 s) until it stopped after bar 3 (180 s):
    // the one due at 180 s would fire before the next event, after the stop.
    let b_timers: Vec<_> = got.iter().filter(|l| l.starts_with("b timer")).collect();
    assert_eq!(b_timers, ["b timer t 90", "b timer t 120", "b timer t 150"]);
    assert_eq!(got.iter().filter(|l| *l == "b stop").count(), 1);
    assert!(got.contains(&"b2 start".to_owned()));
    // a's orders of bars 1 and 2 filled at the next opens (the second on bar 3, while it
    // was paused); bar 4's is still working.
    assert_eq!(e.position_raw(a, "AAA").unwrap(), 2 * ONE);
    assert_eq!(e.open_orders(a).unwrap().len(), 1);
}

#[test]
fn the_outbox_is_off_by_default_and_keeps_every_event_in_order() {
    let run = |outbox: bool| {
        let log: Log = Rc::default();
        let mut e = new_engine(plain(), margin(100_000), None);
        e.add_instrument(&instrument("AAA", "1")).unwrap();
        let a = e
            .add_strategy(spec("a", &["AAA"], Callbacks::all(), true))
            .unwrap();
        if outbox {
            e.enable_outbox();
        }
        let mut s = vec![Probe::new("a", &log).on_bar(move |e, _| {
            e.submit_market(a, "AAA", OrderSide::Buy, q(ONE))
                .map(|_| ())
        })];
        start(&mut e, &mut s, at(0)).unwrap();
        for (n, bar) in bars_of(&series("AAA", &flat(4)))
            .into_iter()
            .enumerate()
            .skip(1)
        {
            e.outbox_mark(n);
            step(&mut e, &mut s, MarketEvent::bar(bar)).unwrap();
        }
        (e.take_outbox(), log_of(&log))
    };
    let (none, quiet_log) = run(false);
    assert!(none.is_empty());
    let (events, log) = run(true);
    assert_eq!(
        log, quiet_log,
        "the outbox changes nothing the strategies see"
    );
    let kinds: Vec<String> = events
        .iter()
        .map(|ev| match ev {
            OutEvent::Market(n) => format!("bar {n}"),
            OutEvent::Venue(crate::venue::VenueEvent::Order(o)) => o.kind.as_str().to_owned(),
            OutEvent::Venue(crate::venue::VenueEvent::Position(p)) => {
                format!(
                    "position {}",
                    p.strategy_id.map_or("account".to_owned(), String::from)
                )
            }
            OutEvent::Risk(_) => "risk".into(),
            OutEvent::Equity { .. } => "equity".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "equity", // at start
            "bar 1",
            "submitted",
            "accepted", // the order bar 1's on_bar sent
            "bar 2",
            "filled",
            "position account",
            "position a",
            "submitted",
            "accepted",
            "equity", // the fill moved cash
            "bar 3",
            "filled",
            "position account",
            "position a",
            "submitted",
            "accepted",
            "equity",
        ]
    );
}

#[test]
fn a_live_engine_keeping_the_latest_records_holds_at_most_those_and_trades_the_same() {
    // A node runs for months: its fills are published; only the latest are kept (issue
    // 17, memory over time).
    let run = |records: bool| {
        let log: Log = Rc::default();
        let mut e = new_engine(plain(), margin(100_000), None);
        e.add_instrument(&instrument("AAA", "1")).unwrap();
        let a = e
            .add_strategy(spec("a", &["AAA"], Callbacks::all(), true))
            .unwrap();
        e.enable_outbox();
        if !records {
            e.keep_latest_records(2);
        }
        let mut s = vec![Probe::new("a", &log).on_bar(move |e, _| {
            e.submit_market(a, "AAA", OrderSide::Buy, q(ONE))
                .map(|_| ())
        })];
        start(&mut e, &mut s, at(0)).unwrap();
        for (n, bar) in bars_of(&series("AAA", &flat(6)))
            .into_iter()
            .enumerate()
            .skip(1)
        {
            e.outbox_mark(n);
            step(&mut e, &mut s, MarketEvent::bar(bar)).unwrap();
        }
        let fills = e
            .take_outbox()
            .iter()
            .filter(|ev| {
                matches!(ev, OutEvent::Venue(crate::venue::VenueEvent::Order(o))
                    if o.kind == OrderEventKind::Filled)
            })
            .count();
        let kept: Vec<_> = e.recorder().fills.iter().map(|f| f.ts).collect();
        (fills, kept, e.recorder().traded_notional, log_of(&log))
    };
    let (published, all, notional, log) = run(true);
    assert!(published >= 4);
    assert_eq!(all.len(), published);
    let (published_live, latest, notional_live, log_live) = run(false);
    assert_eq!(published_live, published);
    assert!((1..=2).contains(&latest.len()), "{latest:?}");
    assert_eq!(latest[..], all[all.len() - latest.len()..]);
    assert_eq!(notional_live, notional);
    assert_eq!(log_live, log);
}

#[test]
fn an_external_venue_routes_orders_out_and_broker_fills_reach_the_strategy() {
    use crate::venue::{BrokerFill, BrokerUpdate, BrokerUpdateKind, OutgoingKind};
    let log: Log = Rc::default();
    let mut venue = SimulatedVenue::new(plain(), Portfolio::new(margin(100_000)).unwrap());
    venue.set_external().unwrap();
    let mut e = Engine::new(venue, None);
    e.add_instrument(&instrument("AAA", "1")).unwrap();
    let a = e
        .add_strategy(spec("a", &["AAA"], Callbacks::all(), true))
        .unwrap();
    e.enable_outbox();
    let mut s = vec![Probe::new("a", &log).on_bar(move |e, b| {
        if bar_index(b) == 1 {
            e.submit_market(a, "AAA", OrderSide::Buy, q(5 * ONE))?;
        }
        Ok(())
    })];
    start(&mut e, &mut s, at(0)).unwrap();
    let bars = bars_of(&series("AAA", &flat(4)));
    for bar in &bars[1..4] {
        step(&mut e, &mut s, MarketEvent::bar(*bar)).unwrap();
    }
    // Not matched by the bars that followed: only sent.
    assert_eq!(e.order("a-1").unwrap().status, OrderStatus::Submitted);
    let out = e.take_outgoing();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind, OutgoingKind::Submit);
    assert!(e.take_outgoing().is_empty());
    e.take_outbox();
    let fill = BrokerUpdate {
        kind: BrokerUpdateKind::Filled,
        ts: at(3) + 5 * S,
        fill: Some(BrokerFill {
            quantity: q(5 * ONE),
            price: px(c(10_003)),
            commission_raw: 0,
            cum_qty: Some(q(5 * ONE)),
        }),
        reason: String::new(),
    };
    assert!(e
        .apply_broker_update::<CoreError, _>("a-1", &fill, &mut s)
        .unwrap());
    // A repeat is skipped; an unknown order is an error; neither changes anything.
    assert!(!e
        .apply_broker_update::<CoreError, _>("a-1", &fill, &mut s)
        .unwrap());
    assert!(e
        .apply_broker_update::<CoreError, _>("zz-9", &fill, &mut s)
        .is_err());
    let lines = log_of(&log);
    let tail: Vec<&str> = lines
        .iter()
        .rev()
        .take(4)
        .rev()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        [
            "a order a-1 accepted",
            "a order a-1 filled",
            "a fill a-1 5 @ 10003",
            "a position AAA 5"
        ]
    );
    assert_eq!(
        e.portfolio().cash(),
        i128::from(100_000 * ONE) - 5 * i128::from(c(10_003))
    );
    assert_eq!(e.recorder().fills.len(), 1);
    // The outbox has the events and an equity sample, as after a step.
    let outbox = e.take_outbox();
    assert!(outbox.iter().any(|ev| matches!(
        ev,
        OutEvent::Venue(crate::venue::VenueEvent::Order(o)) if o.kind == OrderEventKind::Filled
    )));
    assert!(outbox
        .iter()
        .any(|ev| matches!(ev, OutEvent::Equity { .. })));
}
