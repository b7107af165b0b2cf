//! Risk engine tests: every check at, just below and just above its limit; the automatic
//! state transitions; sizing clipped to the limits; property tests.

use proptest::prelude::*;

use super::session::days_from_civil;
use super::*;
use crate::orders::OrderSide::{self, Buy, Sell};

/// An order from raw quantity and time (ids checked).
fn mk_order(
    cid: impl AsRef<str>,
    sid: &str,
    ins: &str,
    side: OrderSide,
    t: crate::orders::OrderType,
    qty: i64,
    ts: u64,
) -> crate::orders::Order {
    crate::orders::Order::parse(
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

/// A raw price (declared with two places, finer if it needs them).
fn order_px(raw: i64) -> crate::types::Price {
    crate::types::Price::from_raw_or_finer(raw, 2)
}

const S: u64 = 1_000_000_000;
const W: i128 = ONE as i128;

fn u(n: i64) -> i64 {
    n * ONE
}

fn m(n: i64) -> i128 {
    i128::from(n) * W
}

/// Cents as raw.
fn c(cents: i64) -> i64 {
    cents * (ONE / 100)
}

fn utc(y: i64, mo: i64, d: i64, hh: i64, mm: i64, ss: i64) -> u64 {
    u64::try_from((days_from_civil(y, mo, d) * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000_000)
        .unwrap()
}

/// Wednesday 2024-07-10 15:00 UTC = 11:00 in New York (market open).
fn t0() -> u64 {
    utc(2024, 7, 10, 15, 0, 0)
}

fn acct() -> SimpleAccount {
    let mut a = SimpleAccount::with_cash(m(1_000_000));
    a.set_last_price("AAPL", u(100));
    a.set_last_price("MSFT", u(400));
    a
}

fn buy(q: i64) -> OrderRequest<'static> {
    OrderRequest::new("S1", "AAPL", Buy, q)
}

fn sell(q: i64) -> OrderRequest<'static> {
    OrderRequest::new("S1", "AAPL", Sell, q)
}

fn engine(cfg: RiskConfig) -> RiskEngine {
    RiskEngine::new(cfg).unwrap()
}

fn code(r: Result<(), Denial>) -> Option<DenialCode> {
    r.err().map(|d| d.code)
}

/// Checks `make(v)` with a fresh engine from `cfg`: `Ok` or the denial code.
fn probe<'a>(
    cfg: &RiskConfig,
    a: &SimpleAccount,
    make: &dyn Fn(i64) -> OrderRequest<'a>,
    v: i64,
) -> Option<DenialCode> {
    code(engine(cfg.clone()).check(&make(v), a, t0()))
}

/// A maximum: passes below and at `limit`, denied with `want` one `step` above.
fn max_boundary<'a>(
    cfg: &RiskConfig,
    a: &SimpleAccount,
    make: &dyn Fn(i64) -> OrderRequest<'a>,
    limit: i64,
    step: i64,
    want: DenialCode,
) {
    assert_eq!(probe(cfg, a, make, limit - step), None, "just below");
    assert_eq!(probe(cfg, a, make, limit), None, "at the limit");
    assert_eq!(probe(cfg, a, make, limit + step), Some(want), "just above");
}

/// A minimum: passes at and above `limit`, denied one `step` below.
fn min_boundary<'a>(
    cfg: &RiskConfig,
    a: &SimpleAccount,
    make: &dyn Fn(i64) -> OrderRequest<'a>,
    limit: i64,
    step: i64,
    want: DenialCode,
) {
    assert_eq!(probe(cfg, a, make, limit - step), Some(want), "just below");
    assert_eq!(probe(cfg, a, make, limit), None, "at the limit");
    assert_eq!(probe(cfg, a, make, limit + step), None, "just above");
}

// ------------------------------------------------------------------ order size

#[test]
fn max_and_min_quantity_at_every_level() {
    let a = acct();
    let mut cfg = RiskConfig::unlimited();
    cfg.order.max_quantity = Some(u(500));
    max_boundary(&cfg, &a, &buy, u(500), 1, DenialCode::MaxQuantity);

    let mut cfg = RiskConfig::unlimited();
    cfg.strategies.insert(
        "S1".into(),
        StrategyLimits {
            order: OrderLimits {
                max_quantity: Some(u(100)),
                ..OrderLimits::default()
            },
            ..StrategyLimits::default()
        },
    );
    max_boundary(&cfg, &a, &buy, u(100), u(1), DenialCode::MaxQuantity);
    let d = engine(cfg.clone())
        .check(&buy(u(101)), &a, t0())
        .unwrap_err();
    assert_eq!(d.scope, LimitScope::Strategy);
    assert_eq!(d.limit, i128::from(u(100)));
    assert_eq!(d.actual, i128::from(u(101)));
    assert_eq!(d.message, "quantity 101 exceeds the strategy maximum 100");
    // Another strategy is not bound by S1's limit.
    let other = |q| OrderRequest::new("S2", "AAPL", Buy, q);
    assert_eq!(probe(&cfg, &a, &other, u(101)), None);

    let mut cfg = RiskConfig::unlimited();
    cfg.instruments.insert(
        "AAPL".into(),
        InstrumentLimits {
            order: OrderLimits {
                max_quantity: Some(u(50)),
                min_quantity: Some(u(10)),
                ..OrderLimits::default()
            },
            ..InstrumentLimits::default()
        },
    );
    max_boundary(&cfg, &a, &buy, u(50), u(1), DenialCode::MaxQuantity);
    min_boundary(&cfg, &a, &buy, u(10), u(1), DenialCode::MinQuantity);
    // Every level binds: a looser instrument limit does not lift the account's.
    cfg.order.max_quantity = Some(u(20));
    assert_eq!(probe(&cfg, &a, &buy, u(21)), Some(DenialCode::MaxQuantity));
}

#[test]
fn max_and_min_notional() {
    let a = acct();
    let mut cfg = RiskConfig::unlimited();
    cfg.order.max_notional = Some(m(25_000));
    cfg.order.min_notional = Some(m(1_000));
    // Limit buy at 100.00: 250 shares = 25,000.
    let at = |q| buy(q).with_price(u(100));
    max_boundary(&cfg, &a, &at, u(250), u(1), DenialCode::MaxNotional);
    min_boundary(&cfg, &a, &at, u(10), u(1), DenialCode::MinNotional);
    // By price, one cent either side of 25,000 for 250 shares.
    let px = |p| buy(u(250)).with_price(p);
    max_boundary(&cfg, &a, &px, u(100), c(1), DenialCode::MaxNotional);
    // A market order is valued at the last price (100).
    max_boundary(&cfg, &a, &buy, u(250), u(1), DenialCode::MaxNotional);
}

#[test]
fn price_collar_both_sides() {
    let mut a = acct();
    a.shorts_allowed = true;
    let mut cfg = RiskConfig::unlimited();
    cfg.order.price_collar = Some(ONE / 10); // 10 % of the last price 100
    let b = |p| buy(u(1)).with_price(p);
    max_boundary(&cfg, &a, &b, u(110), c(1), DenialCode::PriceCollar);
    let s = |p| sell(u(1)).with_price(p);
    min_boundary(&cfg, &a, &s, u(90), c(1), DenialCode::PriceCollar);
    let d = engine(cfg.clone())
        .check(&b(c(11_001)), &a, t0())
        .unwrap_err();
    assert_eq!(
        d.message,
        "limit price 110.01 is 10.01% from the last price 100: the account collar is 10%"
    );
    // No last price: the collar cannot apply, the limit price values the order.
    let unknown = |p| OrderRequest::new("S1", "NEWCO", Buy, u(1)).with_price(p);
    assert_eq!(probe(&cfg, &a, &unknown, u(500)), None);
    // No price at all: denied.
    let mkt = |q| OrderRequest::new("S1", "NEWCO", Buy, q);
    assert_eq!(
        probe(&cfg, &a, &mkt, u(1)),
        Some(DenialCode::NoReferencePrice)
    );
}

#[test]
fn tick_and_lot_grid() {
    let a = acct();
    let mut e = engine(RiskConfig::unlimited());
    e.add_instrument("AAPL", c(1), u(1));
    assert!(e.check(&buy(u(1)).with_price(c(10_001)), &a, t0()).is_ok());
    let d = e
        .check(&buy(u(2)).with_price(100_005_000_000), &a, t0())
        .unwrap_err();
    assert_eq!(d.code, DenialCode::PriceOffTick);
    assert_eq!(
        d.message,
        "price 100.005 is not a multiple of the tick size 0.01 of AAPL"
    );
    assert_eq!(
        code(e.check(&buy(u(3)).with_trigger(100_001_000_000), &a, t0())),
        Some(DenialCode::PriceOffTick)
    );
    assert_eq!(
        code(e.check(&buy(1_500_000_000), &a, t0())),
        Some(DenialCode::QuantityOffLot)
    );
    assert_eq!(
        code(e.check(&buy(u(1)).with_price(0), &a, t0())),
        Some(DenialCode::InvalidOrder)
    );
    assert_eq!(
        code(e.check(&buy(0), &a, t0())),
        Some(DenialCode::InvalidOrder)
    );
}

// ------------------------------------------------------------------ positions and exposure

#[test]
fn max_position_quantity_and_notional() {
    let mut a = acct();
    a.set_position("AAPL", u(900), u(100), Some("S1"));
    let mut cfg = RiskConfig::unlimited();
    cfg.order.max_position_quantity = Some(u(1_000));
    max_boundary(
        &cfg,
        &a,
        &buy,
        u(100),
        u(1),
        DenialCode::MaxPositionQuantity,
    );
    // Reducing (and flipping to no more than the current size) is never blocked.
    a.shorts_allowed = true;
    assert_eq!(probe(&cfg, &a, &sell, u(1_800)), None);
    // Shorts: a sell growing a short is bound the same way.
    a.set_position("AAPL", -u(900), u(100), Some("S1"));
    a.shorts_allowed = true;
    max_boundary(
        &cfg,
        &a,
        &sell,
        u(100),
        u(1),
        DenialCode::MaxPositionQuantity,
    );

    let mut a = acct();
    a.set_position("AAPL", u(400), u(100), Some("S1"));
    let mut cfg = RiskConfig::unlimited();
    cfg.order.max_position_notional = Some(m(50_000));
    // 400 held + 100 at 100.00 = 50,000.
    max_boundary(
        &cfg,
        &a,
        &buy,
        u(100),
        u(1),
        DenialCode::MaxPositionNotional,
    );
}

#[test]
fn strategy_position_limit_measures_the_strategy_position() {
    let mut a = acct();
    // The account holds 900 AAPL, of which S1 holds 100.
    a.set_position("AAPL", u(900), u(100), None);
    a.strategy_positions
        .entry("S1".into())
        .or_default()
        .insert("AAPL".into(), u(100));
    let mut cfg = RiskConfig::unlimited();
    cfg.strategies.insert(
        "S1".into(),
        StrategyLimits {
            order: OrderLimits {
                max_position_quantity: Some(u(200)),
                ..OrderLimits::default()
            },
            ..StrategyLimits::default()
        },
    );
    max_boundary(
        &cfg,
        &a,
        &buy,
        u(100),
        u(1),
        DenialCode::MaxPositionQuantity,
    );
}

#[test]
fn gross_and_net_exposure() {
    let mut a = acct();
    a.set_position("MSFT", u(1_000), u(400), None); // 400,000
    let mut cfg = RiskConfig::unlimited();
    cfg.account.max_gross_exposure = Some(m(500_000));
    // 100,000 of room at 100.00 = 1,000 shares.
    max_boundary(&cfg, &a, &buy, u(1_000), u(1), DenialCode::MaxGrossExposure);
    // Reducing MSFT is allowed even over the limit.
    a.set_position("MSFT", u(6_000), u(400), None);
    let s = |q| OrderRequest::new("S1", "MSFT", Sell, q);
    assert_eq!(probe(&cfg, &a, &s, u(10)), None);

    let mut a = acct();
    a.shorts_allowed = true;
    a.set_position("MSFT", -u(500), u(400), None); // −200,000
    let mut cfg = RiskConfig::unlimited();
    cfg.account.max_net_exposure = Some(m(300_000));
    // Buying AAPL moves net from −200k toward 0 and beyond: up to +300k → 5,000 shares.
    max_boundary(&cfg, &a, &buy, u(5_000), u(1), DenialCode::MaxNetExposure);
    // Selling AAPL short: net −200k − 100k = −300k at 1,000 shares.
    max_boundary(&cfg, &a, &sell, u(1_000), u(1), DenialCode::MaxNetExposure);
}

#[test]
fn max_open_positions_counts_new_instruments_only() {
    let mut a = acct();
    a.set_position("MSFT", u(10), u(400), None);
    a.set_position("AAPL", u(10), u(100), None);
    a.set_last_price("TSLA", u(200));
    let mut cfg = RiskConfig::unlimited();
    cfg.account.max_open_positions = Some(2);
    let tsla = |q| OrderRequest::new("S1", "TSLA", Buy, q);
    assert_eq!(
        probe(&cfg, &a, &tsla, u(1)),
        Some(DenialCode::MaxOpenPositions)
    );
    assert_eq!(probe(&cfg, &a, &buy, u(1)), None); // adds to an open one
    cfg.account.max_open_positions = Some(3);
    assert_eq!(probe(&cfg, &a, &tsla, u(1)), None);
    cfg.account.max_open_positions = Some(1);
    assert_eq!(
        probe(&cfg, &a, &tsla, u(1)),
        Some(DenialCode::MaxOpenPositions)
    );
}

#[test]
fn concentration_of_equity() {
    let a = acct(); // equity 1,000,000; 20 % = 200,000 = 2,000 AAPL at 100
    let mut cfg = RiskConfig::unlimited();
    cfg.account.max_concentration = Some(ONE / 5);
    max_boundary(&cfg, &a, &buy, u(2_000), u(1), DenialCode::MaxConcentration);
    let d = engine(cfg.clone())
        .check(&buy(u(2_001)), &a, t0())
        .unwrap_err();
    assert_eq!(
        d.message,
        "AAPL would be 20.01% of equity 1000000, over the limit 20%"
    );
    let broke = SimpleAccount::default();
    let mut b2 = broke.clone();
    b2.set_last_price("AAPL", u(100));
    assert_eq!(
        probe(&cfg, &b2, &buy, u(1)),
        Some(DenialCode::MaxConcentration)
    );
}

// ------------------------------------------------------------------ buying power

#[test]
fn buying_power_cash_and_shorts() {
    let mut a = SimpleAccount::with_cash(m(10_000));
    a.set_last_price("AAPL", u(100));
    let mut cfg = RiskConfig::unlimited();
    cfg.account.check_buying_power = true;
    let px = |p| buy(u(100)).with_price(p);
    max_boundary(
        &cfg,
        &a,
        &px,
        u(100),
        c(1),
        DenialCode::InsufficientBuyingPower,
    );
    // Pending buys reserve buying power.
    a.pending_buy_notional = m(5_000);
    max_boundary(
        &cfg,
        &a,
        &buy,
        u(50),
        u(1),
        DenialCode::InsufficientBuyingPower,
    );

    let mut a = SimpleAccount::with_cash(m(20_000));
    a.set_last_price("AAPL", u(100));
    let mut cfg = RiskConfig::unlimited();
    cfg.account.min_cash_balance = Some(m(10_000));
    max_boundary(&cfg, &a, &px, u(100), c(1), DenialCode::MinCashBalance);

    // A cash account cannot sell what it does not hold.
    let mut a = acct();
    a.set_position("AAPL", u(10), u(100), None);
    let cfg = RiskConfig::unlimited();
    max_boundary(
        &cfg,
        &a,
        &sell,
        u(10),
        u(1),
        DenialCode::ShortSellingNotAllowed,
    );
    a.shorts_allowed = true;
    assert_eq!(probe(&cfg, &a, &sell, u(11)), None);
}

// ------------------------------------------------------------------ flow

#[test]
fn rate_limits_per_second_and_minute() {
    let a = acct();
    let mut cfg = RiskConfig::unlimited();
    cfg.flow.max_orders_per_second = Some(5);
    let mut e = engine(cfg);
    let t = t0();
    for k in 0..5 {
        assert!(e.check(&buy(u(1 + k)), &a, t + k as u64).is_ok());
    }
    let d = e.check(&buy(u(10)), &a, t + 10).unwrap_err();
    assert_eq!(d.code, DenialCode::RateLimitSecond);
    assert_eq!((d.limit, d.actual), (5, 5));
    // One second after the first order there is room for one more.
    assert!(e.check(&buy(u(11)), &a, t + S - 1).is_err());
    assert!(e.check(&buy(u(11)), &a, t + S).is_ok());

    let mut cfg = RiskConfig::unlimited();
    cfg.strategies.insert(
        "S1".into(),
        StrategyLimits {
            flow: FlowLimits {
                max_orders_per_minute: Some(3),
                ..FlowLimits::default()
            },
            ..StrategyLimits::default()
        },
    );
    let mut e = engine(cfg);
    for k in 0..3 {
        assert!(e.check(&buy(u(1 + k)), &a, t + k as u64 * S).is_ok());
    }
    let d = e.check(&buy(u(9)), &a, t + 10 * S).unwrap_err();
    assert_eq!(
        (d.code, d.scope),
        (DenialCode::RateLimitMinute, LimitScope::Strategy)
    );
    // Other strategies are not throttled by S1's limit.
    assert!(e
        .check(&OrderRequest::new("S2", "AAPL", Buy, u(9)), &a, t + 10 * S)
        .is_ok());
    assert!(e.check(&buy(u(9)), &a, t + 60 * S).is_ok());
}

#[test]
fn orders_per_session_reset_with_the_session() {
    let a = acct();
    let mut cfg = RiskConfig::unlimited();
    cfg.flow.max_orders_per_session = Some(100);
    let mut e = engine(cfg);
    let t = t0();
    for k in 0..100 {
        assert!(e.check(&buy(u(1 + k)), &a, t + k as u64).is_ok(), "{k}");
    }
    assert_eq!(e.session_orders(), 100);
    assert_eq!(
        code(e.check(&buy(u(500)), &a, t + 200)),
        Some(DenialCode::MaxOrdersPerSession)
    );
    // The UTC day ends at midnight: a new session.
    let next = utc(2024, 7, 11, 0, 0, 0);
    assert!(e.check(&buy(u(500)), &a, next).is_ok());
    assert_eq!(e.session_orders(), 1);
    assert!(e.drain_events().any(
        |ev| matches!(ev, RiskEvent::SessionStarted { ref date, .. } if date == "2024-07-11")
    ));
}

#[test]
fn max_open_orders_and_duplicates() {
    let mut a = acct();
    let mut cfg = RiskConfig::unlimited();
    cfg.flow.max_open_orders = Some(3);
    a.open_orders = 2;
    assert_eq!(probe(&cfg, &a, &buy, u(1)), None);
    a.open_orders = 3;
    assert_eq!(probe(&cfg, &a, &buy, u(1)), Some(DenialCode::MaxOpenOrders));
    a.open_orders = 4;
    assert_eq!(probe(&cfg, &a, &buy, u(1)), Some(DenialCode::MaxOpenOrders));

    let a = acct();
    let mut cfg = RiskConfig::unlimited();
    cfg.flow.duplicate_window_ns = Some(S);
    let mut e = engine(cfg);
    let t = t0();
    assert!(e.check(&buy(u(10)).with_price(u(99)), &a, t).is_ok());
    let d = e
        .check(&buy(u(10)).with_price(u(99)), &a, t + S - 1)
        .unwrap_err();
    assert_eq!(d.code, DenialCode::DuplicateOrder);
    // A different price, quantity, side or strategy is not a duplicate.
    assert!(e.check(&buy(u(10)).with_price(u(98)), &a, t + 1).is_ok());
    assert!(e.check(&buy(u(11)).with_price(u(99)), &a, t + 1).is_ok());
    assert!(e
        .check(
            &OrderRequest::new("S2", "AAPL", Buy, u(10)).with_price(u(99)),
            &a,
            t + 1
        )
        .is_ok());
    // Past the window it passes again.
    assert!(e.check(&buy(u(10)).with_price(u(99)), &a, t + S).is_ok());
}

// ------------------------------------------------------------------ trading hours

#[test]
fn trading_hours_in_the_exchange_time_zone() {
    let a = acct();
    let mut cfg = RiskConfig::unlimited();
    cfg.session = SessionConfig::default(); // 09:30-16:00 New York, Mon-Fri
    let at = |t: u64| code(engine(cfg.clone()).check(&buy(u(1)), &a, t));
    // Summer (EDT, UTC-4): 13:30-20:00 UTC.
    assert_eq!(
        at(utc(2024, 7, 10, 13, 29, 59)),
        Some(DenialCode::OutsideTradingHours)
    );
    assert_eq!(at(utc(2024, 7, 10, 13, 30, 0)), None);
    assert_eq!(at(utc(2024, 7, 10, 19, 59, 59)), None);
    assert_eq!(
        at(utc(2024, 7, 10, 20, 0, 0)),
        Some(DenialCode::OutsideTradingHours)
    );
    // Winter (EST, UTC-5): 14:30-21:00 UTC.
    assert_eq!(
        at(utc(2024, 1, 10, 14, 29, 59)),
        Some(DenialCode::OutsideTradingHours)
    );
    assert_eq!(at(utc(2024, 1, 10, 14, 30, 0)), None);
    assert_eq!(at(utc(2024, 1, 10, 20, 59, 59)), None);
    // Saturday.
    assert_eq!(
        at(utc(2024, 7, 13, 15, 0, 0)),
        Some(DenialCode::OutsideTradingHours)
    );
    let d = engine(cfg.clone())
        .check(&buy(u(1)), &a, utc(2024, 7, 13, 15, 0, 0))
        .unwrap_err();
    assert_eq!(
        d.message,
        "AAPL outside trading hours (09:30-16:00 in America/New_York)"
    );
}

/// Sunday 2024-07-14 03:00 in New York (07:00 UTC).
fn sunday_night() -> u64 {
    utc(2024, 7, 14, 7, 0, 0)
}

fn instrument(symbol: &str, asset_class: crate::types::AssetClass) -> crate::types::Instrument {
    crate::types::Instrument::new(
        crate::types::Symbol::new("symbol", symbol).unwrap(),
        crate::types::Venue::new("venue", "SIM").unwrap(),
        asset_class,
        crate::types::Currency::new("USD").unwrap(),
        "0.01".parse().unwrap(),
        "1".parse().unwrap(),
        "1".parse().unwrap(),
        None,
        None,
    )
    .unwrap()
}

#[test]
fn a_24_7_instrument_is_never_outside_trading_hours() {
    use crate::types::{AssetClass, Calendar};
    let mut a = acct();
    a.set_last_price("BTC", u(100));
    let mut e = RiskEngine::with_profile("default").unwrap();
    e.add_instrument("AAPL", c(1), u(1));
    e.register_instrument(&instrument("BTC", AssetClass::Crypto));
    assert_eq!(e.calendar("BTC"), Calendar::AlwaysOpen);
    assert_eq!(e.calendar("AAPL"), Calendar::Session);
    assert_eq!(e.calendar("never-registered"), Calendar::Session);
    let btc = OrderRequest::new("S1", "BTC", Buy, u(1));
    let t = sunday_night();
    assert_eq!(code(e.check(&btc, &a, t)), None);
    assert_eq!(
        code(e.check(&buy(u(1)), &a, t + S)),
        Some(DenialCode::OutsideTradingHours)
    );
    // The other limits still apply to it: the default profile's max quantity is 500.
    assert_eq!(
        code(e.check(&OrderRequest::new("S1", "BTC", Buy, u(501)), &a, t + 2 * S)),
        Some(DenialCode::MaxQuantity)
    );
    // An equity made 24/7 explicitly trades at night; back on the session, it does not.
    e.register_instrument(
        &instrument("AAPL", AssetClass::Equity).with_calendar(Calendar::AlwaysOpen),
    );
    assert_eq!(code(e.check(&buy(u(1)), &a, t + 3 * S)), None);
    e.set_calendar("AAPL", Calendar::Session);
    assert_eq!(
        code(e.check(&buy(u(1)), &a, t + 4 * S)),
        Some(DenialCode::OutsideTradingHours)
    );
    // Re-registering the grid keeps the calendar; a copy of the configuration keeps both.
    e.add_instrument("BTC", c(1), u(1));
    assert_eq!(e.calendar("BTC"), Calendar::AlwaysOpen);
    let mut copy = RiskEngine::new(e.config()).unwrap();
    assert_eq!(code(copy.check(&btc, &a, t + 5 * S)), None);
    assert_eq!(copy.calendar("AAPL"), Calendar::Session);
}

#[test]
fn calendars_by_name_and_asset_class() {
    use crate::types::{AssetClass, Calendar};
    for c in [Calendar::Session, Calendar::AlwaysOpen] {
        assert_eq!(c.name().parse::<Calendar>().unwrap(), c);
    }
    assert!("always".parse::<Calendar>().is_err());
    assert_eq!(
        Calendar::of_asset_class(AssetClass::Crypto),
        Calendar::AlwaysOpen
    );
    assert_eq!(
        Calendar::of_asset_class(AssetClass::Fx),
        Calendar::AlwaysOpen
    );
    assert_eq!(
        Calendar::of_asset_class(AssetClass::Equity),
        Calendar::Session
    );
    assert_eq!(
        Calendar::of_asset_class(AssetClass::Future),
        Calendar::Session
    );
}

// ------------------------------------------------------------------ state machine

fn loss_cfg() -> RiskConfig {
    let mut cfg = RiskConfig::unlimited();
    cfg.account.max_daily_loss = Some(m(5_000));
    cfg.account.max_drawdown = Some(ONE * 15 / 100);
    cfg.cancel_on_halt = true;
    cfg.session.time_zone = TimeZone::NEW_YORK;
    cfg
}

#[test]
fn daily_loss_moves_to_reducing_and_the_next_session_resets_it() {
    let mut a = acct();
    a.set_position("AAPL", u(100), u(100), None);
    let mut e = engine(loss_cfg());
    let t = t0();
    e.update(&a, t); // session baseline: P&L 0
    a.realised_pnl = -m(5_000); // exactly at the limit
    e.update(&a, t + 1);
    assert_eq!(e.state(), TradingState::Active);
    a.realised_pnl = -m(5_000) - 1; // one raw unit beyond
    e.update(&a, t + 2);
    assert_eq!(e.state(), TradingState::Reducing);
    assert_eq!(e.cause(), Some(StateCause::DailyLoss));
    let events: Vec<_> = e.drain_events().collect();
    assert!(events.iter().any(|ev| matches!(
        ev,
        RiskEvent::StateChanged {
            strategy_id: None,
            from: TradingState::Active,
            to: TradingState::Reducing,
            cause: StateCause::DailyLoss,
            cancel_open_orders: false,
            ..
        }
    )));
    // REDUCING: increase denied, reduce allowed, flip denied.
    let d = e.check(&buy(u(1)), &a, t + 3).unwrap_err();
    assert_eq!(d.code, DenialCode::TradingReducing);
    assert!(e.check(&sell(u(100)), &a, t + 4).is_ok());
    assert_eq!(
        code(e.check(&sell(u(101)), &a, t + 5)),
        Some(DenialCode::TradingReducing)
    );
    // Working sells count: with 60 already working, a sell of 50 would flip the position.
    a.working.insert("AAPL".into(), [0, u(60)]);
    assert_eq!(
        code(e.check(&sell(u(50)), &a, t + 6)),
        Some(DenialCode::TradingReducing)
    );
    assert!(e.check(&sell(u(40)), &a, t + 7).is_ok());
    a.working.clear();
    // Midnight in New York (04:00 UTC in July): a new session clears it.
    let next = utc(2024, 7, 11, 4, 0, 0);
    e.update(&a, next - 1);
    assert_eq!(e.state(), TradingState::Reducing);
    e.update(&a, next);
    assert_eq!(e.state(), TradingState::Active);
    let events: Vec<_> = e.drain_events().collect();
    assert!(events.iter().any(|ev| matches!(
        ev,
        RiskEvent::StateChanged {
            to: TradingState::Active,
            cause: StateCause::NewSession,
            ..
        }
    )));
    // The new session's baseline is the loss carried over: nothing more lost today.
    assert_eq!(e.session_pnl(&a), 0);
    assert!(e.check(&buy(u(1)), &a, next + 1).is_ok());
}

#[test]
fn drawdown_halts_until_an_admin_resets() {
    let mut a = SimpleAccount::with_cash(m(1_000_000));
    a.set_last_price("AAPL", u(100));
    let mut cfg = loss_cfg();
    cfg.account.max_daily_loss = None;
    let mut e = engine(cfg);
    let t = t0();
    e.update(&a, t);
    assert_eq!(e.equity_peak(), Some(m(1_000_000)));
    a.cash = m(850_000); // exactly 15 %
    e.update(&a, t + 1);
    assert_eq!(e.state(), TradingState::Active);
    a.cash = m(850_000) - 1;
    e.update(&a, t + 2);
    assert_eq!(e.state(), TradingState::Halted);
    let ev: Vec<_> = e
        .drain_events()
        .filter(|ev| matches!(ev, RiskEvent::StateChanged { .. }))
        .collect();
    match &ev[..] {
        [RiskEvent::StateChanged {
            to,
            cause,
            cancel_open_orders,
            flatten_positions,
            message,
            ..
        }] => {
            assert_eq!(*to, TradingState::Halted);
            assert_eq!(*cause, StateCause::Drawdown);
            assert!(*cancel_open_orders);
            assert!(!*flatten_positions);
            assert_eq!(
                message,
                "equity 849999.999999999 is 150000.000000001 below its peak 1000000 (15%): \
                 over the drawdown limit 15%"
            );
        }
        other => panic!("unexpected events {other:?}"),
    }
    assert_eq!(
        code(e.check(&sell(u(1)), &a, t + 3)),
        Some(DenialCode::TradingHalted)
    );
    // A new session does not clear a drawdown halt.
    e.update(&a, utc(2024, 7, 12, 15, 0, 0));
    assert_eq!(e.state(), TradingState::Halted);
    // An admin does, and the peak restarts from the current equity.
    e.set_state(TradingState::Active, "reviewed", &a, t + 5);
    assert_eq!(e.state(), TradingState::Active);
    assert_eq!(e.equity_peak(), Some(m(850_000) - 1));
    assert!(e.check(&buy(u(1)), &a, utc(2024, 7, 12, 15, 0, 1)).is_ok());
}

#[test]
fn drawdown_upgrades_a_daily_loss_state_to_sticky() {
    let mut a = SimpleAccount::with_cash(m(1_000_000));
    a.set_last_price("AAPL", u(100));
    let mut cfg = loss_cfg();
    cfg.on_drawdown = TradingState::Reducing;
    let mut e = engine(cfg);
    e.update(&a, t0());
    a.realised_pnl = -m(200_000);
    a.cash = m(800_000);
    e.update(&a, t0() + 1);
    assert_eq!(e.state(), TradingState::Reducing);
    assert_eq!(e.cause(), Some(StateCause::Drawdown));
    e.update(&a, utc(2024, 7, 12, 15, 0, 0));
    assert_eq!(e.state(), TradingState::Reducing);
}

#[test]
fn strategy_loss_limit_reduces_only_that_strategy() {
    let mut a = acct();
    a.set_position("AAPL", u(100), u(100), Some("S1"));
    let mut cfg = RiskConfig::unlimited();
    cfg.strategies.insert(
        "S1".into(),
        StrategyLimits {
            max_loss: Some(m(1_000)),
            ..StrategyLimits::default()
        },
    );
    let mut e = engine(cfg);
    let t = t0();
    e.update(&a, t);
    a.strategy_pnl.insert("S1".into(), -m(1_000));
    e.update(&a, t + 1);
    assert_eq!(e.strategy_state("S1"), TradingState::Active);
    a.strategy_pnl.insert("S1".into(), -m(1_000) - 1);
    e.update(&a, t + 2);
    assert_eq!(e.strategy_state("S1"), TradingState::Reducing);
    assert_eq!(e.state(), TradingState::Active);
    let d = e.check(&buy(u(1)), &a, t + 3).unwrap_err();
    assert_eq!(
        (d.code, d.scope),
        (DenialCode::TradingReducing, LimitScope::Strategy)
    );
    assert!(e.check(&sell(u(50)), &a, t + 4).is_ok());
    assert!(e
        .check(&OrderRequest::new("S2", "AAPL", Buy, u(1)), &a, t + 5)
        .is_ok());
    // Next session.
    e.update(&a, utc(2024, 7, 11, 0, 0, 0));
    assert_eq!(e.strategy_state("S1"), TradingState::Active);
}

#[test]
fn admin_halt_and_reducing_commands() {
    let mut a = acct();
    a.set_position("AAPL", u(10), u(100), None);
    let mut cfg = RiskConfig::unlimited();
    cfg.cancel_on_halt = true;
    cfg.flatten_on_halt = true;
    let mut e = engine(cfg);
    e.set_state(TradingState::Halted, "operator", &a, t0());
    let ev: Vec<_> = e.drain_events().collect();
    assert!(matches!(
        &ev[..],
        [RiskEvent::StateChanged {
            cause: StateCause::Admin,
            cancel_open_orders: true,
            flatten_positions: true,
            ..
        }]
    ));
    assert_eq!(
        code(e.check(&sell(u(1)), &a, t0())),
        Some(DenialCode::TradingHalted)
    );
    e.set_state(TradingState::Reducing, "operator", &a, t0());
    assert!(e.check(&sell(u(1)), &a, t0()).is_ok());
    e.set_strategy_state("S1", TradingState::Halted, "operator", t0());
    assert_eq!(
        code(e.check(&sell(u(1)), &a, t0() + 1)),
        Some(DenialCode::TradingHalted)
    );
    let (checks, denials) = e.stats();
    assert_eq!(checks, 3);
    assert_eq!(denials[DenialCode::TradingHalted as usize], 2);
}

// ------------------------------------------------------------------ profiles

#[test]
fn default_profile_mirrors_the_original_limits() {
    let p = RiskConfig::profile("default").unwrap();
    assert_eq!(p.order.max_quantity, Some(u(500)));
    assert_eq!(p.order.max_notional, Some(m(25_000)));
    assert_eq!(p.order.max_position_quantity, Some(u(1_000)));
    assert_eq!(p.order.max_position_notional, Some(m(50_000)));
    assert_eq!(p.account.max_concentration, Some(ONE / 5));
    assert_eq!(p.account.max_daily_loss, Some(m(5_000)));
    assert_eq!(p.account.max_drawdown, Some(ONE * 15 / 100));
    assert_eq!(p.account.max_gross_exposure, Some(m(500_000)));
    assert_eq!(p.flow.max_orders_per_session, Some(100));
    assert_eq!(p.account.min_cash_balance, Some(m(10_000)));
    assert!(p.session.trading_hours.is_some());
    for name in RiskConfig::PROFILES {
        let cfg = RiskConfig::profile(name).unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.profile, name);
    }
    let (cons, agg) = (RiskConfig::conservative(), RiskConfig::aggressive());
    assert!(cons.order.max_quantity < p.order.max_quantity);
    assert!(agg.order.max_quantity > p.order.max_quantity);
    assert!(cons.account.max_drawdown < agg.account.max_drawdown);
    assert!(RiskConfig::profile("yolo").is_err());
}

#[test]
fn default_profile_end_to_end() {
    let mut e = RiskEngine::with_profile("default").unwrap();
    let mut a = SimpleAccount::with_cash(m(100_000));
    a.set_last_price("AAPL", u(100));
    e.add_instrument("AAPL", c(1), u(1));
    assert!(e.check(&buy(u(200)), &a, t0()).is_ok());
    // 500 shares at 100 = 50,000 > 25,000 max order value.
    assert_eq!(
        code(e.check(&buy(u(500)), &a, t0() + S)),
        Some(DenialCode::MaxNotional)
    );
    assert_eq!(
        code(e.check(&buy(u(501)), &a, t0() + 2 * S)),
        Some(DenialCode::MaxQuantity)
    );
    // Concentration 20 % of 100,000 = 20,000: 201 shares = 20,100.
    assert_eq!(
        code(e.check(&buy(u(201)), &a, t0() + 3 * S)),
        Some(DenialCode::MaxConcentration)
    );
    // Outside hours (20:00 UTC = 16:00 EDT).
    assert_eq!(
        code(e.check(&buy(u(1)), &a, utc(2024, 7, 10, 20, 0, 0))),
        Some(DenialCode::OutsideTradingHours)
    );
    let mut limits = e.strategy_limits("S1");
    limits.order.max_quantity = Some(u(5));
    e.set_strategy_limits("S1", limits);
    assert_eq!(
        code(e.check(&buy(u(6)), &a, t0() + 4 * S)),
        Some(DenialCode::MaxQuantity)
    );
    assert_eq!(e.config().strategies["S1"].order.max_quantity, Some(u(5)));
}

// ------------------------------------------------------------------ sizing

#[test]
fn sizing_is_clipped_to_the_limits() {
    let mut e = RiskEngine::with_profile("default").unwrap();
    e.add_instrument("AAPL", c(1), u(1));
    let mut a = SimpleAccount::with_cash(m(1_000_000));
    a.set_last_price("AAPL", u(100));
    // 10 % of 1M = 100,000 = 1,000 shares; max order 500 shares / 25,000 → 250.
    let pct = Sizing::PercentOfEquity { fraction: ONE / 10 };
    let q = e.size_order(&pct, "S1", "AAPL", Buy, None, &a).unwrap();
    assert_eq!(q, u(250));
    assert!(e.check(&buy(q), &a, t0()).is_ok());
    assert_eq!(
        e.max_order_quantity("S1", "AAPL", Buy, Some(u(100)), &a),
        u(250)
    );
    // Held 400: position value room 50,000 − 40,000 = 100 shares.
    a.set_position("AAPL", u(400), u(100), None);
    assert_eq!(e.max_order_quantity("S1", "AAPL", Buy, None, &a), u(100));
    // Selling in a cash account: at most the 400 held, and 250 by order value.
    assert_eq!(e.max_order_quantity("S1", "AAPL", Sell, None, &a), u(250));
    let small = Sizing::FixedQuantity { quantity: u(3) };
    assert_eq!(
        e.size_order(&small, "S1", "AAPL", Buy, None, &a).unwrap(),
        u(3)
    );
    assert!(e.size_order(&small, "S1", "NOPE", Buy, None, &a).is_err());
}

#[test]
fn portfolio_is_an_account_view() {
    use crate::portfolio::{AccountConfig, Portfolio};
    let mut p = Portfolio::new(AccountConfig::default()).unwrap();
    let mut out = Vec::new();
    let aapl = crate::types::Symbol::new("instrument", "AAPL").unwrap();
    p.apply_fill(
        crate::types::StrategyId::new("strategy_id", "S1").unwrap(),
        aapl,
        Buy,
        crate::types::Quantity::from_raw_or_finer(u(100), 0),
        order_px(u(100)),
        crate::types::Money::zero(crate::types::Currency::USD),
        crate::types::UnixNanos(1),
        &mut out,
    )
    .unwrap();
    p.mark(aapl, u(90));
    assert_eq!(AccountView::position_quantity(&p, "AAPL"), u(100));
    assert_eq!(p.strategy_position_quantity("S1", "AAPL"), u(100));
    assert_eq!(AccountView::total_pnl(&p), -m(1_000));
    assert_eq!(AccountView::strategy_pnl(&p, "S1"), -m(1_000));
    assert_eq!(AccountView::open_positions(&p), 1);
    // The one-pass totals agree with the portfolio's own methods.
    assert_eq!(
        p.totals(),
        Totals {
            equity: p.equity(),
            total_pnl: p.realised() + p.unrealised() - p.commissions(),
            gross_exposure: p.exposure(),
            net_exposure: p.net_exposure(),
        }
    );
    let view = PortfolioView {
        portfolio: &p,
        open_orders: 2,
        strategy_open_orders: 1,
        pending_buy_notional: 0,
    };
    assert_eq!(view.open_orders(None), 2);
    let mut cfg = RiskConfig::unlimited();
    cfg.account.max_daily_loss = Some(m(500));
    let mut e = engine(cfg);
    e.update(&view, 5); // baseline −1,000
    p.mark(aapl, u(84));
    let view = PortfolioView {
        portfolio: &p,
        open_orders: 2,
        strategy_open_orders: 1,
        pending_buy_notional: 0,
    };
    e.update(&view, 6);
    assert_eq!(e.state(), TradingState::Reducing);
    assert!(e.check(&sell(u(100)), &view, 7).is_ok());
}

// ------------------------------------------------------------------ properties

fn arb_account() -> impl Strategy<Value = (SimpleAccount, i64)> {
    (
        0_i64..2_000_000,  // cash, dollars
        -3_000_i64..3_000, // AAPL position, shares
        1_i64..100_000,    // last price, cents
        0_i64..500_000,    // other exposure (MSFT value), dollars
        any::<bool>(),
    )
        .prop_map(|(cash, pos, cents, other, shorts)| {
            let mut a = SimpleAccount::with_cash(m(cash));
            a.shorts_allowed = shorts;
            let pos = if shorts { pos } else { pos.abs() };
            a.set_position("AAPL", u(pos), c(cents), None);
            a.set_position("MSFT", u(other / 400), u(400), None);
            (a, c(cents))
        })
}

proptest! {
    #[test]
    fn sized_quantity_never_breaches_a_limit(
        (a, px) in arb_account(),
        profile in 0_usize..3,
        side in any::<bool>(),
        fraction in 1_i64..=100,
    ) {
        let mut cfg = RiskConfig::profile(RiskConfig::PROFILES[profile]).unwrap();
        cfg.session.trading_hours = None;
        cfg.account.max_net_exposure = Some(m(300_000));
        let mut e = engine(cfg);
        e.add_instrument("AAPL", c(1), u(1));
        let side = if side { Buy } else { Sell };
        let method = Sizing::PercentOfEquity { fraction: fraction * (ONE / 100) };
        let q = e.size_order(&method, "S1", "AAPL", side, Some(px), &a).unwrap();
        prop_assert!(q >= 0);
        prop_assert_eq!(q % ONE, 0);
        if q > 0 {
            let o = OrderRequest::new("S1", "AAPL", side, q).with_price(px);
            let r = e.check(&o, &a, t0());
            prop_assert!(r.is_ok(), "{:?} sized {} at {}", r, q, px);
        }
    }

    #[test]
    fn reducing_never_lets_a_position_grow(
        (a, _px) in arb_account(),
        qty in 1_i64..6_000,
        side in any::<bool>(),
    ) {
        let mut e = engine(RiskConfig::unlimited());
        e.set_state(TradingState::Reducing, "test", &a, t0());
        let side: OrderSide = if side { Buy } else { Sell };
        let pos = a.position_quantity("AAPL");
        let o = OrderRequest::new("S1", "AAPL", side, u(qty));
        if e.check(&o, &a, t0()).is_ok() {
            let after = pos + side.sign() * u(qty);
            prop_assert!(after.unsigned_abs() < pos.unsigned_abs());
            prop_assert!(after == 0 || (after > 0) == (pos > 0));
        }
    }

    #[test]
    fn passing_orders_respect_max_limits(
        (a, px) in arb_account(),
        qty in 1_i64..3_000,
        side in any::<bool>(),
    ) {
        let mut cfg = RiskConfig::default_profile();
        cfg.session.trading_hours = None;
        let mut e = engine(cfg.clone());
        let side: OrderSide = if side { Buy } else { Sell };
        let o = OrderRequest::new("S1", "AAPL", side, u(qty)).with_price(px);
        if e.check(&o, &a, t0()).is_ok() {
            prop_assert!(u(qty) <= cfg.order.max_quantity.unwrap());
            prop_assert!(crate::portfolio::notional(u(qty), px) <= cfg.order.max_notional.unwrap());
            let pos = a.position_quantity("AAPL");
            let after = pos + side.sign() * u(qty);
            if after.unsigned_abs() > pos.unsigned_abs() {
                prop_assert!(after.unsigned_abs() <= cfg.order.max_position_quantity.unwrap().unsigned_abs());
            }
        }
    }
}

#[test]
fn simulated_venue_reserves_open_buys_and_counts_open_orders() {
    use crate::orders::OrderType;
    use crate::portfolio::{AccountConfig, Portfolio};
    use crate::venue::{SimulatedVenue, VenueConfig};
    let p = Portfolio::new(AccountConfig {
        starting_cash: 10_000 * ONE,
        ..AccountConfig::default()
    })
    .unwrap();
    let mut v = SimulatedVenue::new(VenueConfig::default(), p);
    v.add_instrument_raw("AAPL", c(1), u(1)).unwrap();
    let mut out = Vec::new();
    // A resting limit buy of 60 at 100 reserves 6,000 of the 10,000 cash.
    let o =
        mk_order("O-1", "S1", "AAPL", Buy, OrderType::Limit, u(60), 1).with_price(order_px(u(100)));
    v.submit(o, 1, &mut out).unwrap();
    assert_eq!(AccountView::open_orders(&v, None), 1);
    assert_eq!(AccountView::open_orders(&v, Some("S1")), 1);
    assert_eq!(AccountView::open_orders(&v, Some("S2")), 0);
    assert_eq!(v.pending_buy_notional(), m(6_000));
    let mut cfg = RiskConfig::unlimited();
    cfg.account.check_buying_power = true;
    cfg.flow.max_open_orders = Some(2);
    let mut e = engine(cfg);
    let at = |q| buy(u(q)).with_price(u(100));
    assert!(e.check(&at(40), &v, t0()).is_ok());
    assert_eq!(
        code(e.check(&at(41), &v, t0() + 1)),
        Some(DenialCode::InsufficientBuyingPower)
    );
    let o =
        mk_order("O-2", "S1", "AAPL", Buy, OrderType::Limit, u(1), 2).with_price(order_px(u(90)));
    v.submit(o, 2, &mut out).unwrap();
    assert_eq!(
        code(e.check(&at(1), &v, t0() + 2)),
        Some(DenialCode::MaxOpenOrders)
    );
}
