//! Hand-built scenarios with known answers, and proptest invariants over random order flows.

use proptest::prelude::*;

use super::*;
use crate::orders::TrailingOffset;
use crate::portfolio::{AccountConfig, AccountType};
use crate::types::{Price, Quantity, Symbol, UnixNanos};

const ONE: i64 = FIXED_SCALE;
const MIN: u64 = 60_000_000_000;
/// 2024-01-10 15:00 UTC (a Wednesday, 10:00 in New York).
const T0: u64 = 1_704_898_800_000_000_000;
const SYM: &str = "AAPL";

/// Cents to raw price.
fn c(cents: i64) -> i64 {
    cents * ONE / 100
}

fn sym(s: &str) -> Symbol {
    Symbol::new("instrument", s).unwrap()
}

/// A raw price (declared with two places, finer if it needs them).
fn px(raw: i64) -> Price {
    Price::from_raw_or_finer(raw, 2)
}

fn plain() -> VenueConfig {
    VenueConfig {
        slippage: SlippageModel::None,
        commission: CommissionModel::ZERO,
        participation: None,
        ..VenueConfig::default()
    }
}

fn venue_with(config: VenueConfig, account: AccountConfig) -> SimulatedVenue {
    let mut v = SimulatedVenue::new(config, Portfolio::new(account).unwrap());
    v.add_instrument_raw(SYM, c(1), ONE).unwrap();
    v
}

fn venue(config: VenueConfig) -> SimulatedVenue {
    venue_with(config, AccountConfig::default())
}

fn order(id: &str, side: OrderSide, t: OrderType, shares: i64) -> Order {
    Order::parse(
        id,
        "S1",
        SYM,
        side,
        t,
        Quantity::from_raw_or_finer(shares * ONE, 0),
        UnixNanos(T0),
    )
    .unwrap()
}

/// One-minute bar closing at minute `n` after T0 with prices in cents.
fn bar(v: &mut SimulatedVenue, n: u64, ohlc: [i64; 4], volume: i64) -> Vec<VenueEvent> {
    let mut out = Vec::new();
    let close = T0 + n * MIN;
    v.process_bar_raw(
        sym(SYM),
        close - MIN,
        close,
        ohlc.map(c),
        volume * ONE,
        &mut out,
    )
    .unwrap();
    out
}

fn submit(v: &mut SimulatedVenue, o: Order, n: u64) -> Vec<VenueEvent> {
    let mut out = Vec::new();
    v.submit(o, T0 + n * MIN, &mut out).unwrap();
    out
}

/// `(client id, shares, cents)` of every fill, plus commissions in raw units.
fn fills(events: &[VenueEvent]) -> Vec<(String, i64, i64)> {
    events
        .iter()
        .filter_map(|e| match e {
            VenueEvent::Order(o) => o.fill.as_ref().map(|f| {
                (
                    o.client_order_id.to_string(),
                    f.quantity.raw() / ONE,
                    f.price.raw() * 100 / ONE,
                )
            }),
            VenueEvent::Position(_) => None,
        })
        .collect()
}

fn status(v: &SimulatedVenue, id: &str) -> OrderStatus {
    v.order(id).unwrap().status
}

fn kinds(events: &[VenueEvent], id: &str) -> Vec<OrderEventKind> {
    events
        .iter()
        .filter_map(|e| match e {
            VenueEvent::Order(o) if o.client_order_id == id => Some(o.kind),
            _ => None,
        })
        .collect()
}

/// Buy `shares` at the open of a bar at 100.00 (minute `n`), leaving a long position.
fn go_long(v: &mut SimulatedVenue, shares: i64, n: u64) {
    submit(v, order("L", OrderSide::Buy, OrderType::Market, shares), n);
    bar(v, n + 1, [10_000, 10_000, 10_000, 10_000], 0);
}

#[test]
fn market_order_fills_at_next_open_with_slippage() {
    let mut v = venue(VenueConfig {
        slippage: SlippageModel::FixedTicks(1),
        ..plain()
    });
    bar(&mut v, 0, [9_900, 10_100, 9_800, 10_050], 1_000);
    let ev = submit(&mut v, order("M", OrderSide::Buy, OrderType::Market, 10), 0);
    assert_eq!(
        kinds(&ev, "M"),
        vec![OrderEventKind::Submitted, OrderEventKind::Accepted]
    );
    assert!(
        fills(&ev).is_empty(),
        "no fill at the bar the order was placed in"
    );
    let ev = bar(&mut v, 1, [10_000, 10_200, 9_950, 10_100], 1_000);
    assert_eq!(fills(&ev), vec![("M".into(), 10, 10_001)]);
    assert_eq!(status(&v, "M"), OrderStatus::Filled);
    assert_eq!(v.portfolio().identity_residual(), 0);
}

#[test]
fn market_order_this_close_option() {
    let mut v = venue(VenueConfig {
        market_fill: MarketFillTiming::ThisClose,
        ..plain()
    });
    bar(&mut v, 0, [9_900, 10_100, 9_800, 10_050], 1_000);
    let ev = submit(&mut v, order("M", OrderSide::Buy, OrderType::Market, 10), 0);
    assert_eq!(fills(&ev), vec![("M".into(), 10, 10_050)]);
}

#[test]
fn slippage_never_leaves_the_bar() {
    let mut v = venue(VenueConfig {
        slippage: SlippageModel::FixedTicks(50),
        ..plain()
    });
    submit(&mut v, order("M", OrderSide::Buy, OrderType::Market, 1), 0);
    let ev = bar(&mut v, 1, [10_000, 10_010, 9_990, 10_005], 0);
    assert_eq!(fills(&ev), vec![("M".into(), 1, 10_010)]); // clamped at the high
}

#[test]
fn limit_never_touched_keeps_working() {
    let mut v = venue(plain());
    submit(
        &mut v,
        order("B", OrderSide::Buy, OrderType::Limit, 10).with_price(px(c(9_500))),
        0,
    );
    for n in 1..5 {
        let ev = bar(&mut v, n, [10_000, 10_100, 9_900, 10_050], 1_000);
        assert!(fills(&ev).is_empty());
    }
    assert_eq!(status(&v, "B"), OrderStatus::Accepted);
    assert_eq!(v.depth(SYM, OrderSide::Buy, 5)[0].price, c(9_500));
}

#[test]
fn limit_touched_fills_at_limit_and_gap_fills_at_open() {
    let mut v = venue(plain());
    submit(
        &mut v,
        order("B", OrderSide::Buy, OrderType::Limit, 10).with_price(px(c(9_950))),
        0,
    );
    let ev = bar(&mut v, 1, [10_000, 10_050, 9_900, 10_020], 1_000);
    assert_eq!(fills(&ev), vec![("B".into(), 10, 9_950)]);
    let maker = ev.iter().any(|e| {
        matches!(e, VenueEvent::Order(o)
        if o.fill.as_ref().is_some_and(|f| f.liquidity == LiquiditySide::Maker))
    });
    assert!(maker, "a resting limit that is touched is a maker");
    // Gap down through a buy limit: fills at the (better) open.
    submit(
        &mut v,
        order("B2", OrderSide::Buy, OrderType::Limit, 10).with_price(px(c(9_950))),
        1,
    );
    let ev = bar(&mut v, 2, [9_800, 9_900, 9_700, 9_850], 1_000);
    assert_eq!(fills(&ev), vec![("B2".into(), 10, 9_800)]);
}

#[test]
fn stop_gapped_through_fills_at_the_open_not_the_stop() {
    let mut v = venue(plain());
    go_long(&mut v, 10, 0);
    submit(
        &mut v,
        order("SL", OrderSide::Sell, OrderType::StopMarket, 10).with_trigger(px(c(9_500))),
        1,
    );
    let ev = bar(&mut v, 2, [9_000, 9_200, 8_900, 9_100], 1_000);
    assert_eq!(fills(&ev), vec![("SL".into(), 10, 9_000)]);
    assert_eq!(
        kinds(&ev, "SL"),
        vec![OrderEventKind::Triggered, OrderEventKind::Filled]
    );
    assert_eq!(v.portfolio().realised(), i128::from(-10 * ONE * 10));
}

#[test]
fn stop_triggers_intrabar_at_trigger_plus_slippage() {
    let mut v = venue(VenueConfig {
        slippage: SlippageModel::FixedTicks(2),
        ..plain()
    });
    submit(
        &mut v,
        order("S", OrderSide::Buy, OrderType::StopMarket, 5).with_trigger(px(c(10_100))),
        0,
    );
    let ev = bar(&mut v, 1, [10_000, 10_200, 9_950, 10_150], 1_000);
    assert_eq!(fills(&ev), vec![("S".into(), 5, 10_102)]);
}

#[test]
fn stop_limit_gapped_past_its_limit_waits_for_the_limit() {
    let mut v = venue(plain());
    submit(
        &mut v,
        order("SLB", OrderSide::Buy, OrderType::StopLimit, 5)
            .with_trigger(px(c(10_100)))
            .with_price(px(c(10_120))),
        0,
    );
    let ev = bar(&mut v, 1, [10_200, 10_300, 10_150, 10_250], 1_000);
    assert!(fills(&ev).is_empty());
    assert_eq!(kinds(&ev, "SLB"), vec![OrderEventKind::Triggered]);
    let ev = bar(&mut v, 2, [10_250, 10_260, 10_100, 10_110], 1_000);
    assert_eq!(fills(&ev), vec![("SLB".into(), 5, 10_120)]);
}

#[test]
fn market_if_touched_buys_on_the_dip() {
    let mut v = venue(plain());
    submit(
        &mut v,
        order("MIT", OrderSide::Buy, OrderType::MarketIfTouched, 5).with_trigger(px(c(9_900))),
        0,
    );
    let ev = bar(&mut v, 1, [10_000, 10_050, 9_950, 10_000], 1_000);
    assert!(fills(&ev).is_empty());
    let ev = bar(&mut v, 2, [10_000, 10_100, 9_850, 10_050], 1_000);
    assert_eq!(fills(&ev), vec![("MIT".into(), 5, 9_900)]);
}

#[test]
fn trailing_stop_follows_the_high_and_fills_on_the_pullback() {
    let mut v = venue(plain());
    go_long(&mut v, 10, 0);
    submit(
        &mut v,
        order("TS", OrderSide::Sell, OrderType::TrailingStopMarket, 10)
            .with_trailing(TrailingOffset::Price(c(100))),
        1,
    );
    assert_eq!(
        v.order("TS").unwrap().trigger_price.map(Price::raw),
        Some(c(9_900))
    );
    // Up-closing bar: O 100 -> L 99.50 -> H 103 -> C 102.50; trigger trails to 102.
    let ev = bar(&mut v, 2, [10_000, 10_300, 9_950, 10_250], 1_000);
    assert!(fills(&ev).is_empty());
    assert_eq!(
        v.order("TS").unwrap().trigger_price.map(Price::raw),
        Some(c(10_200))
    );
    let ev = bar(&mut v, 3, [10_250, 10_260, 10_150, 10_160], 1_000);
    assert_eq!(fills(&ev), vec![("TS".into(), 10, 10_200)]);
    // Percent offset: 1 % below the best price.
    let mut v = venue(plain());
    go_long(&mut v, 10, 0);
    submit(
        &mut v,
        order("TP", OrderSide::Sell, OrderType::TrailingStopMarket, 10)
            .with_trailing(TrailingOffset::BasisPoints(100)),
        1,
    );
    assert_eq!(
        v.order("TP").unwrap().trigger_price.map(Price::raw),
        Some(c(9_900))
    );
}

fn bracket(v: &mut SimulatedVenue) {
    let mut out = Vec::new();
    v.submit_bracket(
        order("E", OrderSide::Buy, OrderType::Market, 10),
        order("TP", OrderSide::Sell, OrderType::Limit, 10).with_price(px(c(10_500))),
        order("SL", OrderSide::Sell, OrderType::StopMarket, 10).with_trigger(px(c(9_500))),
        T0,
        &mut out,
    )
    .unwrap();
    assert_eq!(kinds(&out, "TP"), vec![OrderEventKind::Submitted]);
    let ev = bar(v, 1, [10_000, 10_000, 10_000, 10_000], 0);
    assert_eq!(fills(&ev), vec![("E".into(), 10, 10_000)]);
    assert_eq!(status(v, "TP"), OrderStatus::Accepted);
    assert_eq!(status(v, "SL"), OrderStatus::Accepted);
}

#[test]
fn bracket_both_exits_inside_an_up_bar_stop_wins() {
    // Up bar: O -> L -> H -> C, the low (stop) comes first.
    let mut v = venue(plain());
    bracket(&mut v);
    let ev = bar(&mut v, 2, [10_000, 10_600, 9_400, 10_400], 1_000);
    assert_eq!(fills(&ev), vec![("SL".into(), 10, 9_500)]);
    assert_eq!(status(&v, "TP"), OrderStatus::Cancelled);
    assert_eq!(v.portfolio().net_quantity(SYM), 0);
}

#[test]
fn bracket_both_exits_inside_a_down_bar_target_wins() {
    // Down bar: O -> H -> L -> C, the high (take-profit) comes first.
    let mut v = venue(plain());
    bracket(&mut v);
    let ev = bar(&mut v, 2, [10_000, 10_600, 9_400, 9_600], 1_000);
    assert_eq!(fills(&ev), vec![("TP".into(), 10, 10_500)]);
    assert_eq!(status(&v, "SL"), OrderStatus::Cancelled);
    assert_eq!(v.portfolio().realised(), i128::from(50 * ONE));
}

#[test]
fn bracket_entry_cancelled_unfilled_cancels_the_exits() {
    let mut v = venue(plain());
    let mut out = Vec::new();
    v.submit_bracket(
        order("E", OrderSide::Buy, OrderType::Limit, 10).with_price(px(c(9_000))),
        order("TP", OrderSide::Sell, OrderType::Limit, 10).with_price(px(c(10_500))),
        order("SL", OrderSide::Sell, OrderType::StopMarket, 10).with_trigger(px(c(8_500))),
        T0,
        &mut out,
    )
    .unwrap();
    v.cancel("E", T0 + MIN, &mut out).unwrap();
    assert_eq!(status(&v, "TP"), OrderStatus::Cancelled);
    assert_eq!(status(&v, "SL"), OrderStatus::Cancelled);
}

#[test]
fn partial_fill_across_bars_by_participation() {
    let mut v = venue(VenueConfig {
        participation: Some(ONE / 10),
        ..plain()
    });
    submit(
        &mut v,
        order("P", OrderSide::Buy, OrderType::Market, 100),
        0,
    );
    let ev = bar(&mut v, 1, [10_000, 10_100, 9_900, 10_050], 500);
    assert_eq!(fills(&ev), vec![("P".into(), 50, 10_000)]);
    assert_eq!(status(&v, "P"), OrderStatus::PartiallyFilled);
    let ev = bar(&mut v, 2, [10_050, 10_100, 10_000, 10_080], 1_000);
    assert_eq!(fills(&ev), vec![("P".into(), 50, 10_050)]);
    assert_eq!(status(&v, "P"), OrderStatus::Filled);
    assert_eq!(v.order("P").unwrap().avg_px_raw(), Some(c(10_025)));
}

#[test]
fn ioc_and_fok() {
    let mut v = venue(VenueConfig {
        participation: Some(ONE / 10),
        ..plain()
    });
    let ioc = |id: &str| {
        order(id, OrderSide::Buy, OrderType::Market, 100).with_tif(TimeInForce::Ioc, None)
    };
    submit(&mut v, ioc("I"), 0);
    let ev = bar(&mut v, 1, [10_000, 10_100, 9_900, 10_050], 500);
    assert_eq!(fills(&ev), vec![("I".into(), 50, 10_000)]);
    assert_eq!(status(&v, "I"), OrderStatus::Cancelled);
    // An IOC limit not marketable at the first price is cancelled.
    submit(
        &mut v,
        order("IL", OrderSide::Buy, OrderType::Limit, 1)
            .with_price(px(c(9_000)))
            .with_tif(TimeInForce::Ioc, None),
        1,
    );
    bar(&mut v, 2, [10_000, 10_100, 8_900, 10_050], 500);
    assert_eq!(status(&v, "IL"), OrderStatus::Cancelled);
    assert_eq!(v.order("IL").unwrap().filled_qty.raw(), 0);
    // FOK: 100 wanted, 50 available -> nothing; 100 available -> all.
    let fok = |id: &str| {
        order(id, OrderSide::Buy, OrderType::Market, 100).with_tif(TimeInForce::Fok, None)
    };
    submit(&mut v, fok("F1"), 2);
    let ev = bar(&mut v, 3, [10_000, 10_100, 9_900, 10_050], 500);
    assert!(fills(&ev).is_empty());
    assert_eq!(status(&v, "F1"), OrderStatus::Cancelled);
    submit(&mut v, fok("F2"), 3);
    let ev = bar(&mut v, 4, [10_000, 10_100, 9_900, 10_050], 1_000);
    assert_eq!(fills(&ev), vec![("F2".into(), 100, 10_000)]);
}

#[test]
fn day_gtd_and_gtc_expiry() {
    let mut v = venue(plain());
    let lim = |id: &str| order(id, OrderSide::Buy, OrderType::Limit, 1).with_price(px(c(5_000)));
    submit(&mut v, lim("DAY").with_tif(TimeInForce::Day, None), 0);
    submit(
        &mut v,
        lim("GTD").with_tif(TimeInForce::Gtd, Some(UnixNanos(T0 + 5 * MIN))),
        0,
    );
    submit(&mut v, lim("GTC"), 0);
    bar(&mut v, 5, [10_000; 4], 0);
    assert_eq!(
        status(&v, "GTD"),
        OrderStatus::Accepted,
        "not expired at its expiry"
    );
    bar(&mut v, 6, [10_000; 4], 0);
    assert_eq!(status(&v, "GTD"), OrderStatus::Expired);
    // 16:00 New York = 21:00 UTC in January = T0 + 6 h.
    bar(&mut v, 360, [10_000; 4], 0);
    assert_eq!(status(&v, "DAY"), OrderStatus::Accepted);
    let ev = bar(&mut v, 361, [10_000; 4], 0);
    assert_eq!(kinds(&ev, "DAY"), vec![OrderEventKind::Expired]);
    bar(&mut v, 3 * 24 * 60, [10_000; 4], 0);
    assert_eq!(status(&v, "GTC"), OrderStatus::Accepted);
}

#[test]
fn oco_one_fills_the_other_is_cancelled() {
    let mut v = venue(plain());
    go_long(&mut v, 10, 0);
    let mut out = Vec::new();
    v.submit_oco(
        vec![
            order("A", OrderSide::Sell, OrderType::Limit, 10).with_price(px(c(10_200))),
            order("B", OrderSide::Sell, OrderType::StopMarket, 10).with_trigger(px(c(9_800))),
        ],
        T0 + MIN,
        &mut out,
    )
    .unwrap();
    assert_eq!(v.order("A").unwrap().linked_order_ids, vec!["B"]);
    let ev = bar(&mut v, 2, [10_000, 10_250, 9_990, 10_240], 1_000);
    assert_eq!(fills(&ev), vec![("A".into(), 10, 10_200)]);
    assert_eq!(status(&v, "B"), OrderStatus::Cancelled);
}

#[test]
fn oco_partial_fill_reduces_the_sibling() {
    let mut v = venue(VenueConfig {
        participation: Some(ONE / 10),
        ..plain()
    });
    go_long(&mut v, 10, 0);
    let mut out = Vec::new();
    v.submit_oco(
        vec![
            order("A", OrderSide::Sell, OrderType::Limit, 10).with_price(px(c(10_200))),
            order("B", OrderSide::Sell, OrderType::StopMarket, 10).with_trigger(px(c(9_800))),
        ],
        T0 + MIN,
        &mut out,
    )
    .unwrap();
    let ev = bar(&mut v, 2, [10_000, 10_250, 9_990, 10_240], 40);
    assert_eq!(fills(&ev), vec![("A".into(), 4, 10_200)]);
    assert_eq!(v.order("B").unwrap().quantity.raw(), 6 * ONE);
    assert_eq!(status(&v, "B"), OrderStatus::Accepted);
}

#[test]
fn modify_and_cancel_requests() {
    let mut v = venue(plain());
    bar(&mut v, 0, [10_000; 4], 0);
    submit(
        &mut v,
        order("B", OrderSide::Buy, OrderType::Limit, 10).with_price(px(c(9_000))),
        0,
    );
    let mut out = Vec::new();
    v.modify("B", Some(20 * ONE), Some(c(9_100)), None, T0, &mut out)
        .unwrap();
    assert_eq!(kinds(&out, "B"), vec![OrderEventKind::ModifyAccepted]);
    // The event carries the terms it put in force.
    let modified = out.iter().find_map(|e| match e {
        VenueEvent::Order(o) => o.modified.as_deref().copied(),
        VenueEvent::Position(_) => None,
    });
    let m = modified.expect("modify_accepted carries its terms");
    assert_eq!(
        (m.quantity.raw(), m.price.map(Price::raw)),
        (20 * ONE, Some(c(9_100)))
    );
    assert_eq!(m.trigger_price, None);
    assert_eq!(
        v.depth(SYM, OrderSide::Buy, 1)[0],
        BookLevel {
            price: c(9_100),
            quantity: 20 * ONE,
            orders: 1
        }
    );
    out.clear();
    v.modify("B", None, None, Some(c(1)), T0, &mut out).unwrap();
    assert_eq!(kinds(&out, "B"), vec![OrderEventKind::ModifyRejected]);
    v.cancel("B", T0, &mut out).unwrap();
    assert_eq!(status(&v, "B"), OrderStatus::Cancelled);
    assert!(v.depth(SYM, OrderSide::Buy, 1).is_empty());
    out.clear();
    v.cancel("B", T0, &mut out).unwrap();
    assert_eq!(kinds(&out, "B"), vec![OrderEventKind::CancelRejected]);
    assert!(v.cancel("nope", T0, &mut out).is_err());
}

#[test]
fn flags_and_account_rules() {
    let mut v = venue(plain());
    bar(&mut v, 0, [10_000; 4], 0);
    // Reduce-only with no position.
    let ev = submit(
        &mut v,
        order("R", OrderSide::Sell, OrderType::Market, 1).with_flags(true, false),
        0,
    );
    assert_eq!(
        kinds(&ev, "R"),
        vec![OrderEventKind::Submitted, OrderEventKind::Rejected]
    );
    // Post-only buy at/above the market.
    submit(
        &mut v,
        order("P", OrderSide::Buy, OrderType::Limit, 1)
            .with_price(px(c(10_000)))
            .with_flags(false, true),
        0,
    );
    assert_eq!(status(&v, "P"), OrderStatus::Rejected);
    // Short sale in a cash account.
    submit(
        &mut v,
        order("SS", OrderSide::Sell, OrderType::Market, 1),
        0,
    );
    assert_eq!(status(&v, "SS"), OrderStatus::Rejected);
    // More than the cash.
    submit(
        &mut v,
        order("BIG", OrderSide::Buy, OrderType::Market, 2_000),
        0,
    );
    assert_eq!(status(&v, "BIG"), OrderStatus::Rejected);
    // Reduce-only caps at the position.
    go_long(&mut v, 5, 1);
    submit(
        &mut v,
        order("R2", OrderSide::Sell, OrderType::Market, 8).with_flags(true, false),
        2,
    );
    let ev = bar(&mut v, 3, [10_000; 4], 0);
    assert_eq!(fills(&ev), vec![("R2".into(), 5, 10_000)]);
    assert_eq!(status(&v, "R2"), OrderStatus::Cancelled);
    assert_eq!(v.portfolio().net_quantity(SYM), 0);
}

#[test]
fn margin_account_can_short() {
    let mut v = venue_with(
        plain(),
        AccountConfig {
            starting_cash: 10_000 * ONE,
            account_type: AccountType::Margin,
            allow_short: true,
        },
    );
    submit(
        &mut v,
        order("SS", OrderSide::Sell, OrderType::Market, 10),
        0,
    );
    bar(&mut v, 1, [10_000, 10_100, 9_900, 9_950], 0);
    assert_eq!(v.portfolio().net_quantity(SYM), -10 * ONE);
    assert_eq!(v.portfolio().unrealised(), i128::from(5 * ONE));
    assert_eq!(v.portfolio().identity_residual(), 0);
}

#[test]
fn gap_up_clamps_buy_to_cash() {
    // Accepted at 100 with just enough cash; the next open gaps to 200.
    let mut v = venue_with(
        plain(),
        AccountConfig {
            starting_cash: 1_000 * ONE,
            ..AccountConfig::default()
        },
    );
    bar(&mut v, 0, [10_000; 4], 0);
    submit(&mut v, order("B", OrderSide::Buy, OrderType::Market, 10), 0);
    let ev = bar(&mut v, 1, [20_000; 4], 0);
    assert_eq!(fills(&ev), vec![("B".into(), 5, 20_000)]);
    assert_eq!(status(&v, "B"), OrderStatus::Cancelled);
    assert_eq!(v.portfolio().cash(), 0);
}

#[test]
fn latency_delays_arrival() {
    let mut v = venue(VenueConfig {
        latency_ns: 90_000_000_000,
        ..plain()
    });
    let ev = submit(&mut v, order("M", OrderSide::Buy, OrderType::Market, 1), 0);
    assert_eq!(kinds(&ev, "M"), vec![OrderEventKind::Submitted]);
    let ev = bar(&mut v, 1, [10_000; 4], 0);
    assert!(fills(&ev).is_empty());
    let ev = bar(&mut v, 2, [10_100; 4], 0);
    assert_eq!(
        kinds(&ev, "M"),
        vec![OrderEventKind::Accepted, OrderEventKind::Filled]
    );
    assert_eq!(fills(&ev), vec![("M".into(), 1, 10_100)]);
}

#[test]
fn commission_minimum_is_per_order_across_partial_fills() {
    let mut v = venue(VenueConfig {
        commission: CommissionModel::IBKR_FIXED,
        participation: Some(ONE / 10),
        ..plain()
    });
    submit(
        &mut v,
        order("P", OrderSide::Buy, OrderType::Market, 100),
        0,
    );
    let ev1 = bar(&mut v, 1, [10_000; 4], 500);
    let ev2 = bar(&mut v, 2, [10_000; 4], 500);
    let fees: Vec<i64> = ev1
        .iter()
        .chain(&ev2)
        .filter_map(|e| match e {
            VenueEvent::Order(o) => o.fill.as_ref().map(|f| f.commission.raw()),
            VenueEvent::Position(_) => None,
        })
        .collect();
    assert_eq!(fees, vec![ONE, 0]); // $1 minimum once; 100 × $0.005 = $0.50 < $1
    assert_eq!(v.portfolio().commissions(), i128::from(ONE));
    assert_eq!(v.portfolio().identity_residual(), 0);
}

#[test]
fn quotes_fill_at_the_touch() {
    let mut v = venue(plain());
    submit(&mut v, order("M", OrderSide::Buy, OrderType::Market, 10), 0);
    submit(
        &mut v,
        order("L", OrderSide::Buy, OrderType::Limit, 10).with_price(px(c(9_990))),
        0,
    );
    let mut out = Vec::new();
    v.process_quote_raw(
        sym(SYM),
        T0 + 1,
        [c(9_995), c(10_000)],
        [0, 4 * ONE],
        &mut out,
    )
    .unwrap();
    assert_eq!(fills(&out), vec![("M".into(), 4, 10_000)]);
    out.clear();
    v.process_quote_raw(sym(SYM), T0 + 2, [c(9_985), c(9_990)], [0, 0], &mut out)
        .unwrap();
    assert_eq!(
        fills(&out),
        vec![("M".into(), 6, 9_990), ("L".into(), 10, 9_990)]
    );
    out.clear();
    // A trade print is a point.
    submit(&mut v, order("S", OrderSide::Sell, OrderType::Market, 5), 0);
    v.process_trade_raw(sym(SYM), T0 + 3, c(9_999), 0, &mut out)
        .unwrap();
    assert_eq!(fills(&out), vec![("S".into(), 5, 9_999)]);
}

#[test]
fn a_bar_after_quotes_inside_it_stamps_nothing_before_them() {
    // Live data mixes quotes and bars: a quote inside the minute fills part of a market
    // order, then the minute's bar (sent at its close) fills the rest. The bar's path starts
    // at its open, before the quote; its events must not be stamped before the quote (the
    // order's events would go back in time, and storage would keep the older state).
    let mut v = venue(plain());
    submit(&mut v, order("M", OrderSide::Buy, OrderType::Market, 10), 0);
    let mut out = Vec::new();
    let quote_ts = T0 + MIN / 2;
    v.process_quote_raw(
        sym(SYM),
        quote_ts,
        [c(9_995), c(10_000)],
        [0, 4 * ONE],
        &mut out,
    )
    .unwrap();
    assert_eq!(fills(&out), vec![("M".into(), 4, 10_000)]);
    let events = bar(&mut v, 1, [10_000, 10_010, 9_990, 10_005], 0);
    assert_eq!(fills(&events), vec![("M".into(), 6, 10_000)]);
    for e in &events {
        let ts = match e {
            VenueEvent::Order(o) => o.ts.0,
            VenueEvent::Position(p) => p.ts.0,
        };
        assert!(
            ts >= quote_ts,
            "{e:?} stamped before the quote at {quote_ts}"
        );
    }
    // Without quotes inside it, a bar still fills at its open, stamped there.
    submit(&mut v, order("N", OrderSide::Buy, OrderType::Market, 1), 1);
    let events = bar(&mut v, 2, [10_000, 10_010, 9_990, 10_005], 0);
    assert_eq!(fills(&events), vec![("N".into(), 1, 10_000)]);
    assert!(events.iter().all(|e| match e {
        VenueEvent::Order(o) => o.ts.0 == T0 + MIN,
        VenueEvent::Position(p) => p.ts.0 == T0 + MIN,
    }));
}

#[test]
fn invalid_inputs_are_errors() {
    let mut v = venue(plain());
    let mut out = Vec::new();
    assert!(v
        .process_bar_raw(
            sym(SYM),
            T0,
            T0,
            [c(100), c(99), c(98), c(100)],
            0,
            &mut out
        )
        .is_err());
    assert!(v
        .process_bar_raw(sym("MSFT"), T0, T0, [c(100); 4], 0, &mut out)
        .is_err());
    assert!(v.market_index(&sym("MSFT")).is_none());
    assert!(v
        .process_bar_at(7, T0, T0, [c(100); 4], 0, &mut out)
        .is_err());
    assert!(v
        .process_bar_at(0, T0, T0, [c(100), c(99), c(98), c(100)], 0, &mut out)
        .is_err());
    assert!(v
        .process_bar_raw(sym(SYM), T0 + 1, T0, [c(100); 4], 0, &mut out)
        .is_err());
    submit(&mut v, order("X", OrderSide::Buy, OrderType::Market, 1), 0);
    assert!(v
        .submit(
            order("X", OrderSide::Buy, OrderType::Market, 1),
            T0,
            &mut out
        )
        .is_err());
    let mut filled = order("Y", OrderSide::Buy, OrderType::Market, 1);
    filled.status = OrderStatus::Filled;
    assert!(matches!(
        v.submit(filled, T0, &mut out),
        Err(CoreError::InvalidState(_))
    ));
}

// --------------------------------------------------------------------------- properties

#[derive(Debug, Clone)]
enum Op {
    Submit {
        side: bool,
        kind: u8,
        shares: i64,
        offset: i64,
        tif: u8,
        /// Nanoseconds after the last bar's close: inside the next bar when > 0.
        delay: u64,
    },
    Cancel(usize),
    Bar {
        up: bool,
        body: i64,
        wick_hi: i64,
        wick_lo: i64,
        gap: i64,
        volume: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            any::<bool>(),
            0_u8..7,
            1_i64..60,
            -300_i64..300,
            0_u8..5,
            prop_oneof![Just(0_u64), 0..MIN]
        )
            .prop_map(|(side, kind, shares, offset, tif, delay)| Op::Submit {
                side,
                kind,
                shares,
                offset,
                tif,
                delay
            }),
        (0_usize..50).prop_map(Op::Cancel),
        (
            any::<bool>(),
            0_i64..200,
            0_i64..150,
            0_i64..150,
            -300_i64..300,
            0_i64..400
        )
            .prop_map(|(up, body, wick_hi, wick_lo, gap, volume)| Op::Bar {
                up,
                body,
                wick_hi,
                wick_lo,
                gap,
                volume
            }),
    ]
}

/// The order of an `Op::Submit` (`(buy, kind, shares)`; its level `offset` cents from
/// `last`) placed at `ts`.
#[allow(clippy::too_many_arguments)]
fn flow_order(
    id: &str,
    strategy: &str,
    symbol: &str,
    (side, kind, shares): (bool, u8, i64),
    last: i64,
    offset: i64,
    tif: u8,
    ts: u64,
) -> Order {
    let side = if side {
        OrderSide::Buy
    } else {
        OrderSide::Sell
    };
    let level = c((last + offset).max(100));
    let base = Order::parse(
        id,
        strategy,
        symbol,
        side,
        OrderType::Market,
        Quantity::from_raw_or_finer(shares * ONE, 0),
        UnixNanos(T0),
    )
    .unwrap();
    let o = match kind {
        0 => base,
        1 => Order {
            order_type: OrderType::Limit,
            ..base
        }
        .with_price(px(level)),
        2 => Order {
            order_type: OrderType::StopMarket,
            ..base
        }
        .with_trigger(px(level)),
        3 => Order {
            order_type: OrderType::StopLimit,
            ..base
        }
        .with_trigger(px(level))
        .with_price(px(level)),
        4 => Order {
            order_type: OrderType::MarketIfTouched,
            ..base
        }
        .with_trigger(px(level)),
        5 => Order {
            order_type: OrderType::TrailingStopMarket,
            ..base
        }
        .with_trailing(TrailingOffset::Price(c(offset.abs() + 1))),
        _ => Order {
            order_type: OrderType::Limit,
            ..base
        }
        .with_price(px(level))
        .with_flags(true, false),
    };
    match tif {
        0 => o,
        1 => o.with_tif(TimeInForce::Ioc, None),
        2 if o.order_type != OrderType::Market => o.with_tif(TimeInForce::Day, None),
        4 => o.with_tif(TimeInForce::Gtd, Some(UnixNanos(ts + 90 * 1_000_000_000))),
        _ => o.with_tif(TimeInForce::Fok, None),
    }
}

fn run_flow(ops: &[Op], account: AccountConfig, config: VenueConfig) -> Result<(), TestCaseError> {
    let mut v = venue_with(config, account);
    let mut last = 10_000_i64; // cents
    let mut n = 0_u64;
    let mut submitted: Vec<String> = Vec::new();
    let mut placed: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let strategies = ["A", "B"];
    for (i, op) in ops.iter().enumerate() {
        let mut out = Vec::new();
        let mut range = None;
        match op {
            Op::Submit {
                side,
                kind,
                shares,
                offset,
                tif,
                delay,
            } => {
                let ts = T0 + n * MIN + delay;
                let id = format!("O{i}");
                let o = flow_order(
                    &id,
                    strategies[i % 2],
                    SYM,
                    (*side, *kind, *shares),
                    last,
                    *offset,
                    *tif,
                    ts,
                );
                v.submit(o, ts, &mut out).unwrap();
                placed.insert(id.clone(), ts);
                submitted.push(id);
            }
            Op::Cancel(k) => {
                if let Some(id) = submitted.get(*k) {
                    v.cancel(id, T0 + n * MIN, &mut out).unwrap();
                }
            }
            Op::Bar {
                up,
                body,
                wick_hi,
                wick_lo,
                gap,
                volume,
            } => {
                n += 1;
                let o = (last + gap).max(1_000);
                let cl = if *up { o + body } else { (o - body).max(500) };
                let h = o.max(cl) + wick_hi;
                let l = (o.min(cl) - wick_lo).max(100);
                let (open_ts, close_ts) = (T0 + (n - 1) * MIN, T0 + n * MIN);
                v.process_bar_raw(
                    sym(SYM),
                    open_ts,
                    close_ts,
                    [o, h, l, cl].map(c),
                    volume * ONE,
                    &mut out,
                )
                .unwrap();
                range = Some((c(l), c(h)));
                // Every event of the bar lies inside it, in time order, and no order
                // fills before it was placed.
                let mut prev = open_ts;
                for e in &out {
                    let (ts, fill_of) = match e {
                        VenueEvent::Order(ev) => (
                            ev.ts.0,
                            ev.fill.as_ref().map(|_| ev.client_order_id.as_str()),
                        ),
                        VenueEvent::Position(p) => (p.ts.0, None),
                    };
                    prop_assert!(
                        (prev..=close_ts).contains(&ts),
                        "event at {ts} outside [{prev}, {close_ts}]: {e:?}"
                    );
                    prev = ts;
                    if let Some(id) = fill_of {
                        prop_assert!(ts >= placed[id], "{id} filled before it was placed");
                        let expiry = v.order(id).and_then(|o| o.expire_time).map(|e| e.0);
                        prop_assert!(
                            expiry.is_none_or(|x| ts <= x),
                            "{id} filled at {ts} after its expiry {expiry:?}"
                        );
                    }
                    if let VenueEvent::Order(ev) = e {
                        if ev.kind == OrderEventKind::Expired {
                            let expiry = v
                                .order(ev.client_order_id.as_str())
                                .and_then(|o| o.expire_time)
                                .map(|e| e.0);
                            prop_assert!(expiry.is_none_or(|x| ts > x), "expired early: {ev:?}");
                        }
                    }
                }
                last = cl;
            }
        }
        let p = v.portfolio();
        prop_assert_eq!(p.identity_residual(), 0);
        prop_assert_eq!(p.strategy_identity_residual("A"), 0);
        prop_assert_eq!(p.strategy_identity_residual("B"), 0);
        if p.config().account_type == AccountType::Cash {
            prop_assert!(p.cash() >= 0, "cash went negative: {}", p.cash());
            prop_assert!(p.net_quantity(SYM) >= 0, "a cash account went short");
        }
        for e in &out {
            if let VenueEvent::Order(ev) = e {
                if let Some(f) = &ev.fill {
                    if let Some((l, h)) = range {
                        prop_assert!(
                            f.price.raw() >= l && f.price.raw() <= h,
                            "fill {} outside [{l}, {h}]",
                            f.price
                        );
                    }
                    prop_assert!(f.quantity.is_positive());
                }
            }
        }
        for id in &submitted {
            let o = v.order(id).unwrap();
            prop_assert!(o.filled_qty <= o.quantity);
            prop_assert!(!o.filled_qty.is_negative());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(200)))]

    #[test]
    fn random_flows_keep_the_books_straight(ops in proptest::collection::vec(op(), 1..60)) {
        run_flow(&ops, AccountConfig::default(), VenueConfig {
            participation: Some(ONE / 5),
            ..VenueConfig::default()
        })?;
    }

    #[test]
    fn random_flows_with_latency(ops in proptest::collection::vec(op(), 1..60)) {
        run_flow(&ops, AccountConfig::default(), VenueConfig {
            latency_ns: 25_000_000_000,
            participation: Some(ONE / 5),
            ..VenueConfig::default()
        })?;
    }

    #[test]
    fn random_flows_margin_account(ops in proptest::collection::vec(op(), 1..60)) {
        run_flow(&ops, AccountConfig {
            starting_cash: 50_000 * ONE,
            account_type: AccountType::Margin,
            allow_short: true,
        }, VenueConfig {
            slippage: SlippageModel::Rate(1_000_000),
            ..VenueConfig::default()
        })?;
    }
}

/// The same flow over two instruments through a venue with the quiet-bar shortcut and
/// one that always walks the full path: every event, order and account figure agrees.
fn quiet_bars_flow(
    ops: &[(Op, bool)],
    config: VenueConfig,
    account: AccountConfig,
) -> Result<(), TestCaseError> {
    let make = |full: bool| {
        let mut v = venue_with(config, account);
        v.add_instrument_raw("MSFT", c(1), ONE).unwrap();
        v.full_path_only = full;
        v
    };
    let (mut fast, mut full) = (make(false), make(true));
    let symbols = [SYM, "MSFT"];
    let mut last = [10_000_i64, 20_000];
    let mut n = 0_u64;
    let mut ids: Vec<String> = Vec::new();
    for (i, (op, second)) in ops.iter().enumerate() {
        let j = usize::from(*second);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        match op {
            Op::Submit {
                side,
                kind,
                shares,
                offset,
                tif,
                delay,
            } => {
                let ts = T0 + n * MIN + delay;
                let id = format!("O{i}");
                let o = flow_order(
                    &id,
                    ["A", "B"][i % 2],
                    symbols[j],
                    (*side, *kind, *shares),
                    last[j],
                    *offset,
                    *tif,
                    ts,
                );
                fast.submit(o.clone(), ts, &mut a).unwrap();
                full.submit(o, ts, &mut b).unwrap();
                ids.push(id);
            }
            Op::Cancel(k) => {
                if let Some(id) = ids.get(*k) {
                    fast.cancel(id, T0 + n * MIN, &mut a).unwrap();
                    full.cancel(id, T0 + n * MIN, &mut b).unwrap();
                }
            }
            Op::Bar {
                up,
                body,
                wick_hi,
                wick_lo,
                gap,
                volume,
            } => {
                n += 1;
                let o = (last[j] + gap).max(1_000);
                let cl = if *up { o + body } else { (o - body).max(500) };
                let h = o.max(cl) + wick_hi;
                let l = (o.min(cl) - wick_lo).max(100);
                let ohlc = [o, h, l, cl].map(c);
                let (open_ts, close_ts) = (T0 + (n - 1) * MIN, T0 + n * MIN);
                let s = sym(symbols[j]);
                // The fast venue by market number (cached mark slot), the other by symbol.
                let market = fast.market_index(&s).unwrap();
                fast.process_bar_at(market, open_ts, close_ts, ohlc, volume * ONE, &mut a)
                    .unwrap();
                full.process_bar_raw(s, open_ts, close_ts, ohlc, volume * ONE, &mut b)
                    .unwrap();
                last[j] = cl;
            }
        }
        prop_assert_eq!(&a, &b, "events after op {}: {:?}", i, op);
        prop_assert_eq!(fast.now(), full.now());
        let (p, q) = (fast.portfolio(), full.portfolio());
        prop_assert_eq!(p.equity(), q.equity());
        prop_assert_eq!(p.cash(), q.cash());
        prop_assert_eq!(p.positions(), q.positions());
        for s in symbols {
            prop_assert_eq!(p.mark_of(s), q.mark_of(s));
        }
        let open = |v: &SimulatedVenue| v.open_orders().cloned().collect::<Vec<_>>();
        prop_assert_eq!(open(&fast), open(&full));
    }
    for id in &ids {
        prop_assert_eq!(fast.order(id), full.order(id));
    }
    Ok(())
}

fn quiet_config() -> impl Strategy<Value = (VenueConfig, AccountConfig)> {
    (
        prop_oneof![Just(0_u64), Just(25_000_000_000), Just(150_000_000_000)],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(latency_ns, participation, this_close, margin)| {
            (
                VenueConfig {
                    latency_ns,
                    participation: participation.then_some(ONE / 5),
                    market_fill: if this_close {
                        MarketFillTiming::ThisClose
                    } else {
                        MarketFillTiming::NextOpen
                    },
                    ..VenueConfig::default()
                },
                if margin {
                    AccountConfig {
                        starting_cash: 50_000 * ONE,
                        account_type: AccountType::Margin,
                        allow_short: true,
                    }
                } else {
                    AccountConfig::default()
                },
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(300)))]

    /// The quiet-bar shortcut (no working order in the instrument, nothing arriving or
    /// expiring before the close) equals the full path walk.
    #[test]
    fn quiet_bar_shortcut_equals_the_full_path(
        ops in proptest::collection::vec((op(), any::<bool>()), 1..80),
        (config, account) in quiet_config(),
    ) {
        quiet_bars_flow(&ops, config, account)?;
    }
}

#[test]
fn oto_child_released_only_after_the_parent_fills() {
    let mut v = venue(plain());
    let mut out = Vec::new();
    v.submit_oto(
        order("P", OrderSide::Buy, OrderType::Limit, 10).with_price(px(c(9_900))),
        vec![order("C", OrderSide::Sell, OrderType::Limit, 10).with_price(px(c(10_100)))],
        T0,
        &mut out,
    )
    .unwrap();
    assert_eq!(status(&v, "C"), OrderStatus::Submitted);
    assert_eq!(
        v.order("C").unwrap().parent_order_id.map(String::from),
        Some("P".to_owned())
    );
    // The bar touches 101 before 99 (down bar: O->H->L->C): the child is not working yet.
    let ev = bar(&mut v, 1, [10_000, 10_150, 9_850, 9_900], 0);
    assert_eq!(fills(&ev), vec![("P".into(), 10, 9_900)]);
    assert_eq!(status(&v, "C"), OrderStatus::Accepted);
    // Up bar: O->L->H->C; the child fills at its limit.
    let ev = bar(&mut v, 2, [9_950, 10_150, 9_900, 10_100], 0);
    assert_eq!(fills(&ev), vec![("C".into(), 10, 10_100)]);
}

#[test]
fn entry_and_exit_in_the_same_bar_follow_the_path() {
    // Up bar O->L->H->C: the entry limit fills on the way down, the released take-profit on
    // the way up, all inside one bar.
    let mut v = venue(plain());
    let mut out = Vec::new();
    v.submit_bracket(
        order("E", OrderSide::Buy, OrderType::Limit, 10).with_price(px(c(9_900))),
        order("TP", OrderSide::Sell, OrderType::Limit, 10).with_price(px(c(10_100))),
        order("SL", OrderSide::Sell, OrderType::StopMarket, 10).with_trigger(px(c(9_700))),
        T0,
        &mut out,
    )
    .unwrap();
    let ev = bar(&mut v, 1, [10_000, 10_200, 9_850, 10_150], 0);
    assert_eq!(
        fills(&ev),
        vec![("E".into(), 10, 9_900), ("TP".into(), 10, 10_100)]
    );
    assert_eq!(status(&v, "SL"), OrderStatus::Cancelled);
    assert_eq!(v.portfolio().realised(), i128::from(20 * ONE));
}

#[test]
fn sell_side_stop_limit_and_mit() {
    let mut v = venue(plain());
    go_long(&mut v, 20, 0);
    submit(
        &mut v,
        order("SSL", OrderSide::Sell, OrderType::StopLimit, 10)
            .with_trigger(px(c(9_900)))
            .with_price(px(c(9_850))),
        1,
    );
    submit(
        &mut v,
        order("SMIT", OrderSide::Sell, OrderType::MarketIfTouched, 10).with_trigger(px(c(10_100))),
        1,
    );
    // Down bar O->H->L->C: MIT at 101 on the way up, stop-limit triggers at 99 and fills at
    // 99 (marketable against its 98.50 limit).
    let ev = bar(&mut v, 2, [10_000, 10_150, 9_800, 9_850], 0);
    assert_eq!(
        fills(&ev),
        vec![("SMIT".into(), 10, 10_100), ("SSL".into(), 10, 9_900)]
    );
}

#[test]
fn quotes_trigger_stops_on_the_right_side() {
    let mut v = venue(plain());
    go_long(&mut v, 1, 0);
    submit(
        &mut v,
        order("BS", OrderSide::Buy, OrderType::StopMarket, 1).with_trigger(px(c(10_100))),
        1,
    );
    submit(
        &mut v,
        order("SS", OrderSide::Sell, OrderType::StopMarket, 1).with_trigger(px(c(9_900))),
        1,
    );
    let mut quote = |bid: i64, ask: i64| {
        let mut out = Vec::new();
        v.process_quote_raw(sym(SYM), T0 + 2 * MIN, [c(bid), c(ask)], [0, 0], &mut out)
            .unwrap();
        fills(&out)
    };
    // Mid inside both triggers, but a buy stop looks at the ask and a sell stop at the bid.
    assert!(quote(9_901, 10_099).is_empty());
    assert_eq!(quote(9_950, 10_101), vec![("BS".into(), 1, 10_101)]);
    assert_eq!(quote(9_900, 10_000), vec![("SS".into(), 1, 9_900)]);
}

#[test]
fn trailing_buy_stop_covers_a_short() {
    let mut v = venue_with(
        plain(),
        AccountConfig {
            starting_cash: 10_000 * ONE,
            account_type: AccountType::Margin,
            allow_short: true,
        },
    );
    submit(
        &mut v,
        order("SS", OrderSide::Sell, OrderType::Market, 10),
        0,
    );
    bar(&mut v, 1, [10_000; 4], 0);
    submit(
        &mut v,
        order("TB", OrderSide::Buy, OrderType::TrailingStopMarket, 10)
            .with_trailing(TrailingOffset::BasisPoints(200)),
        1,
    );
    assert_eq!(
        v.order("TB").unwrap().trigger_price.map(Price::raw),
        Some(c(10_200))
    );
    // Down bar O->H->L->C: 100.50 high (trigger stays 102), low 95 (trigger 96.90), close 97.
    let ev = bar(&mut v, 2, [10_000, 10_050, 9_500, 9_700], 0);
    assert_eq!(fills(&ev), vec![("TB".into(), 10, 9_690)]);
    assert_eq!(v.portfolio().net_quantity(SYM), 0);
    assert_eq!(v.portfolio().realised(), i128::from(31 * ONE));
}

#[test]
fn post_only_modify_that_would_cross_is_rejected() {
    let mut v = venue(plain());
    bar(&mut v, 0, [10_000; 4], 0);
    submit(
        &mut v,
        order("P", OrderSide::Buy, OrderType::Limit, 1)
            .with_price(px(c(9_900)))
            .with_flags(false, true),
        0,
    );
    assert_eq!(status(&v, "P"), OrderStatus::Accepted);
    let mut out = Vec::new();
    v.modify("P", None, Some(c(10_000)), None, T0, &mut out)
        .unwrap();
    assert_eq!(kinds(&out, "P"), vec![OrderEventKind::ModifyRejected]);
    assert_eq!(v.order("P").unwrap().price.map(Price::raw), Some(c(9_900)));
}

#[test]
fn margin_account_can_always_cover_a_short() {
    let mut v = venue_with(
        plain(),
        AccountConfig {
            starting_cash: 0,
            account_type: AccountType::Margin,
            allow_short: true,
        },
    );
    submit(
        &mut v,
        order("SS", OrderSide::Sell, OrderType::Market, 10),
        0,
    );
    bar(&mut v, 1, [10_000; 4], 0);
    assert_eq!(v.portfolio().cash(), i128::from(1_000 * ONE));
    // The price doubles: covering costs 2,000 with 1,000 of cash. Accepted and filled in full.
    bar(&mut v, 2, [20_000; 4], 0);
    submit(
        &mut v,
        order("COVER", OrderSide::Buy, OrderType::Market, 10),
        2,
    );
    assert_eq!(status(&v, "COVER"), OrderStatus::Accepted);
    let ev = bar(&mut v, 3, [20_000; 4], 0);
    assert_eq!(fills(&ev), vec![("COVER".into(), 10, 20_000)]);
    assert_eq!(v.portfolio().cash(), i128::from(-1_000 * ONE));
    assert_eq!(v.portfolio().identity_residual(), 0);
    // Going long beyond the cover is still limited by cash (here: none).
    submit(
        &mut v,
        order("MORE", OrderSide::Buy, OrderType::Market, 1),
        3,
    );
    assert_eq!(status(&v, "MORE"), OrderStatus::Rejected);
}

// ------------------------------------------------------------------------ fill timing

const SEC: u64 = 1_000_000_000;

/// `(client id, kind, ts)` of every order event.
fn stamps(events: &[VenueEvent]) -> Vec<(String, OrderEventKind, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            VenueEvent::Order(o) => Some((o.client_order_id.to_string(), o.kind, o.ts.0)),
            VenueEvent::Position(_) => None,
        })
        .collect()
}

#[test]
fn fill_at_the_open_is_stamped_at_the_open_time() {
    let mut v = venue(plain());
    submit(&mut v, order("M", OrderSide::Buy, OrderType::Market, 1), 0);
    // The bar closing at minute 1 opened at T0, when the order was placed.
    let ev = bar(&mut v, 1, [10_000, 10_100, 9_900, 10_050], 0);
    assert_eq!(stamps(&ev), vec![("M".into(), OrderEventKind::Filled, T0)]);
    let positions: Vec<u64> = ev
        .iter()
        .filter_map(|e| match e {
            VenueEvent::Position(p) => Some(p.ts.0),
            VenueEvent::Order(_) => None,
        })
        .collect();
    assert!(!positions.is_empty() && positions.iter().all(|&t| t == T0));
}

#[test]
fn fills_inside_a_leg_are_stamped_where_the_path_reaches_their_price() {
    let mut v = venue(plain());
    go_long(&mut v, 10, 0);
    let buy = order("B", OrderSide::Buy, OrderType::Limit, 1).with_price(px(c(9_900)));
    let sell = order("S", OrderSide::Sell, OrderType::Limit, 1).with_price(px(c(10_200)));
    submit(&mut v, buy, 1);
    submit(&mut v, sell, 1);
    // Up bar from minute 1 to 2: O 100 at 0 s, L 97 at 20 s, H 103 at 40 s, C 102 at 60 s.
    let ev = bar(&mut v, 2, [10_000, 10_300, 9_700, 10_200], 0);
    let open = T0 + MIN;
    // 100 -> 97 reaches 99 a third of the way: 20 s / 3, rounded down to the nanosecond.
    // 97 -> 103 reaches 102 five sixths of the way: 20 s + 20 s * 5 / 6.
    assert_eq!(
        stamps(&ev),
        vec![
            ("B".into(), OrderEventKind::Filled, open + 6_666_666_666),
            ("S".into(), OrderEventKind::Filled, open + 36_666_666_666),
        ]
    );
}

#[test]
fn a_stop_triggers_and_fills_at_the_time_of_its_trigger() {
    let mut v = venue(VenueConfig {
        slippage: SlippageModel::FixedTicks(2),
        ..plain()
    });
    submit(
        &mut v,
        order("S", OrderSide::Buy, OrderType::StopMarket, 5).with_trigger(px(c(10_100))),
        0,
    );
    // Up bar: O 100 (0 s), L 99.50 (20 s), H 102 (40 s), C 101.50; 101 is reached
    // 1.5 / 2.5 of the way up the second leg: 20 s + 12 s.
    let ev = bar(&mut v, 1, [10_000, 10_200, 9_950, 10_150], 0);
    let t = T0 + 32 * SEC;
    assert_eq!(
        stamps(&ev),
        vec![
            ("S".into(), OrderEventKind::Triggered, t),
            ("S".into(), OrderEventKind::Filled, t),
        ]
    );
    assert_eq!(fills(&ev), vec![("S".into(), 5, 10_102)]);
}

#[test]
fn a_down_bar_walks_high_before_low() {
    let mut v = venue(plain());
    go_long(&mut v, 10, 0);
    submit(
        &mut v,
        order("TP", OrderSide::Sell, OrderType::Limit, 10).with_price(px(c(10_100))),
        1,
    );
    // Down bar: O 100 (0 s), H 102 (20 s), L 98 (40 s), C 99; 101 is half way up leg one.
    let ev = bar(&mut v, 2, [10_000, 10_200, 9_800, 9_900], 0);
    assert_eq!(
        stamps(&ev),
        vec![("TP".into(), OrderEventKind::Filled, T0 + MIN + 10 * SEC)]
    );
}

#[test]
fn gtd_expiring_inside_a_bar_fills_before_its_expiry_and_never_after() {
    let mut v = venue(plain());
    let open = T0 + MIN;
    let lim = |id: &str, cents: i64, expire: u64| {
        order(id, OrderSide::Buy, OrderType::Limit, 1)
            .with_price(px(c(cents)))
            .with_tif(TimeInForce::Gtd, Some(UnixNanos(expire)))
    };
    // Both expire 30 s into the bar from minute 1 to 2, a down bar:
    // O 100 (0 s), H 101 (20 s), L 97 (40 s), C 98 (60 s).
    submit(&mut v, lim("EARLY", 9_950, open + 30 * SEC), 1);
    submit(&mut v, lim("LATE", 9_800, open + 30 * SEC), 1);
    let ev = bar(&mut v, 2, [10_000, 10_100, 9_700, 9_800], 0);
    // 101 -> 97 reaches 99.50 3/8 of the way (27.5 s): before the expiry. It reaches 98
    // 3/4 of the way (35 s): past it, so LATE expires there instead of filling.
    assert_eq!(
        stamps(&ev),
        vec![
            (
                "EARLY".into(),
                OrderEventKind::Filled,
                open + 27_500_000_000
            ),
            ("LATE".into(), OrderEventKind::Expired, open + 35 * SEC),
        ]
    );
    assert_eq!(status(&v, "LATE"), OrderStatus::Expired);
}

#[test]
fn an_order_placed_inside_a_bar_never_fills_before_it_was_placed() {
    let mut v = venue(plain());
    bar(&mut v, 1, [10_000; 4], 0);
    // Placed 30 s into the bar from minute 1 to 2, before the venue sees that bar.
    let mut out = Vec::new();
    let placed = T0 + MIN + 30 * SEC;
    v.submit(
        order("M", OrderSide::Buy, OrderType::Market, 1),
        placed,
        &mut out,
    )
    .unwrap();
    // Up bar: O 100 (0 s), L 99 (20 s), H 103 (40 s), C 102 (60 s). Not at the open, nor on
    // the way down: it joins the path at 30 s, half way up from 99 to 103.
    let ev = bar(&mut v, 2, [10_000, 10_300, 9_900, 10_200], 0);
    assert_eq!(
        stamps(&ev),
        vec![("M".into(), OrderEventKind::Filled, placed)]
    );
    assert_eq!(fills(&ev), vec![("M".into(), 1, 10_100)]);
}

#[test]
fn latency_arrival_inside_a_bar_joins_the_path_there() {
    let mut v = venue(VenueConfig {
        latency_ns: 25 * SEC,
        ..plain()
    });
    submit(
        &mut v,
        order("L", OrderSide::Buy, OrderType::Limit, 1).with_price(px(c(10_250))),
        1,
    );
    // Up bar: O 100 (0 s), L 99 (20 s), H 104 (40 s), C 103 (60 s). The order arrives at
    // 25 s, a quarter of the way up from 99 to 104: 100.25, below its limit, so it fills
    // there (a better price than the limit), not at the open nor on the way down.
    let ev = bar(&mut v, 2, [10_000, 10_400, 9_900, 10_300], 0);
    let arrival = T0 + MIN + 25 * SEC;
    assert_eq!(
        stamps(&ev),
        vec![
            ("L".into(), OrderEventKind::Accepted, arrival),
            ("L".into(), OrderEventKind::Filled, arrival),
        ]
    );
    assert_eq!(fills(&ev), vec![("L".into(), 1, 10_025)]);
}

#[test]
fn process_bar_opens_one_interval_before_its_close() {
    let mut v = venue(plain());
    submit(&mut v, order("M", OrderSide::Buy, OrderType::Market, 1), 0);
    let bar = Bar::new(
        crate::types::BarType::new(
            crate::types::Symbol::new("symbol", SYM).unwrap(),
            "5m".parse().unwrap(),
        ),
        "100".parse().unwrap(),
        "100".parse().unwrap(),
        "100".parse().unwrap(),
        "100".parse().unwrap(),
        crate::types::Quantity::ZERO,
        crate::types::UnixNanos(T0 + 5 * MIN),
    )
    .unwrap();
    let mut out = Vec::new();
    v.process_bar(&bar, &mut out).unwrap();
    assert_eq!(stamps(&out), vec![("M".into(), OrderEventKind::Filled, T0)]);
}

#[test]
fn path_times_and_interpolation() {
    assert_eq!(path_times(0, 60), [0, 20, 40, 60]);
    assert_eq!(path_times(10, 10), [10; 4]);
    assert_eq!(path_times(0, 100), [0, 33, 66, 100]);
    assert_eq!(path_times(0, u64::MAX)[3], u64::MAX);
    assert_eq!(time_at(5, (0, 100), (10, 200)), 150);
    assert_eq!(time_at(5, (10, 100), (0, 200)), 150);
    assert_eq!(time_at(10, (0, 100), (10, 200)), 200);
    assert_eq!(time_at(1, (0, 0), (3, 10)), 3);
    assert_eq!(time_at(i64::MAX, (1, 0), (i64::MAX, u64::MAX)), u64::MAX);
    // Linear in time, rounded back towards the start to whole ticks.
    assert_eq!(price_at(150, (0, 100), (10, 200), 1), 5);
    assert_eq!(price_at(150, (0, 100), (10, 200), 3), 3);
    assert_eq!(price_at(150, (10, 100), (0, 200), 3), 7);
    assert_eq!(price_at(50, (10, 100), (0, 200), 3), 10);
    assert_eq!(price_at(100, (10, 100), (0, 100), 1), 0);
    assert_eq!(
        price_at(u64::MAX, (1, 0), (i64::MAX, u64::MAX), 1),
        i64::MAX
    );
}

/// `(kind, status, shares raw, price raw, commission raw, trade id)` of an order's events.
type EventSig = (OrderEventKind, OrderStatus, i64, i64, i64, u64);

fn signature(events: &[VenueEvent]) -> Vec<EventSig> {
    events
        .iter()
        .filter_map(|e| match e {
            VenueEvent::Order(o) => {
                Some(o.fill.as_ref().map_or((o.kind, o.status, 0, 0, 0, 0), |f| {
                    (
                        o.kind,
                        o.status,
                        f.quantity.raw(),
                        f.price.raw(),
                        f.commission.raw(),
                        f.trade_id,
                    )
                }))
            }
            VenueEvent::Position(_) => None,
        })
        .collect()
}

#[test]
fn a_restored_order_goes_on_as_if_the_venue_had_never_stopped() {
    let config = VenueConfig {
        participation: Some(ONE / 10),
        commission: CommissionModel::IBKR_FIXED,
        ..plain()
    };
    let limit = || order("R", OrderSide::Buy, OrderType::Limit, 100).with_price(px(c(10_050)));
    // The venue that ran: a limit order half filled by the volume limit.
    let mut a = venue(config);
    bar(&mut a, 0, [10_100, 10_100, 10_100, 10_100], 1_000);
    submit(&mut a, limit(), 0);
    let first = bar(&mut a, 1, [10_060, 10_080, 10_000, 10_040], 500);
    let fills_before: Vec<(Quantity, Price, i64)> = first
        .iter()
        .filter_map(|e| match e {
            VenueEvent::Order(o) => o
                .fill
                .as_ref()
                .map(|f| (f.quantity, f.price, f.commission.raw())),
            VenueEvent::Position(_) => None,
        })
        .collect();
    assert_eq!(fills(&first), vec![("R".into(), 50, 10_050)]);
    // The venue after a restart: the fills booked, the order restored, trade ids resumed.
    let mut b = venue(config);
    for &(q, p, fee) in &fills_before {
        b.restore_fill(
            crate::types::StrategyId::new("s", "S1").unwrap(),
            sym(SYM),
            OrderSide::Buy,
            q,
            p,
            fee,
            T0 + MIN,
        )
        .unwrap();
    }
    b.restore_order(limit(), &fills_before, false, T0 + MIN)
        .unwrap();
    b.resume_trade_ids(1);
    assert_eq!(status(&b, "R"), OrderStatus::PartiallyFilled);
    assert_eq!(b.order("R").unwrap().leaves_raw(), 50 * ONE);
    // The next bar: the same fill, commission (the per-order minimum already paid counts),
    // trade id, final status and account in both.
    let next = [10_040, 10_060, 10_010, 10_030];
    let ea = bar(&mut a, 2, next, 1_000);
    let eb = bar(&mut b, 2, next, 1_000);
    assert!(!signature(&ea).is_empty());
    assert_eq!(signature(&ea), signature(&eb));
    assert_eq!(status(&b, "R"), OrderStatus::Filled);
    assert_eq!(
        a.order("R").unwrap().avg_px_raw(),
        b.order("R").unwrap().avg_px_raw()
    );
    assert_eq!(a.portfolio().cash(), b.portfolio().cash());
    assert_eq!(
        a.portfolio().net_quantity(&sym(SYM)),
        b.portfolio().net_quantity(&sym(SYM))
    );
    assert_eq!(b.portfolio().identity_residual(), 0);
}

#[test]
fn restore_refuses_what_it_cannot_rebuild_and_leaves_no_trace() {
    let mut v = venue(plain());
    let q = |shares: i64| Quantity::from_raw_or_finer(shares * ONE, 0);
    let mut linked = order("O1", OrderSide::Sell, OrderType::Limit, 10).with_price(px(c(11_000)));
    linked.linked_order_ids = vec![ClientOrderId::new("id", "O2").unwrap()];
    let ioc = order("I", OrderSide::Buy, OrderType::Market, 10).with_tif(TimeInForce::Ioc, None);
    let done = order("D", OrderSide::Buy, OrderType::Market, 10);
    let mut elsewhere = order("X", OrderSide::Buy, OrderType::Market, 10);
    elsewhere.instrument = sym("MSFT");
    for (o, fills) in [
        (linked, vec![]),
        (ioc, vec![]),
        (done, vec![(q(10), px(c(10_000)), 0)]),
        (elsewhere, vec![]),
    ] {
        let id = o.client_order_id;
        assert!(v.restore_order(o, &fills, false, T0).is_err(), "{id}");
        assert!(v.order(id.as_str()).is_none());
    }
    // A fill that does not fit: refused, and the id is still free.
    let bad = vec![(q(5), px(0), 0)];
    let o = || order("B", OrderSide::Buy, OrderType::Market, 10);
    assert!(v.restore_order(o(), &bad, false, T0).is_err());
    v.restore_order(o(), &[], false, T0).unwrap();
    assert_eq!(status(&v, "B"), OrderStatus::Accepted);
    let ev = bar(&mut v, 1, [10_000, 10_000, 10_000, 10_000], 0);
    assert_eq!(fills(&ev), vec![("B".into(), 10, 10_000)]);
}
