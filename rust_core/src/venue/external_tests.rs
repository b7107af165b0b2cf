//! External-venue mode: hand-built lifecycles with known answers, refused updates that
//! change nothing, and a proptest that random broker update sequences keep cash, positions
//! and orders reconciled.

use proptest::prelude::*;

use super::super::*;
use super::{BrokerFill, BrokerUpdate, BrokerUpdateKind as K, OutgoingKind};
use crate::portfolio::{AccountConfig, AccountType};
use crate::types::{Price, Quantity, Symbol, UnixNanos};

const ONE: i64 = FIXED_SCALE;
const T0: u64 = 1_704_898_800_000_000_000;
const MIN: u64 = 60_000_000_000;
const SYM: &str = "AAPL";

fn c(cents: i64) -> i64 {
    cents * ONE / 100
}

fn external() -> SimulatedVenue {
    let account = AccountConfig {
        starting_cash: 100_000 * ONE,
        account_type: AccountType::Margin,
        allow_short: true,
    };
    let config = VenueConfig {
        slippage: SlippageModel::None,
        commission: CommissionModel::ZERO,
        participation: None,
        ..VenueConfig::default()
    };
    let mut v = SimulatedVenue::new(config, Portfolio::new(account).unwrap());
    v.add_instrument_raw(SYM, c(1), ONE).unwrap();
    v.set_external().unwrap();
    v
}

fn order(id: &str, side: OrderSide, t: OrderType, shares: i64) -> Order {
    let mut o = Order::parse(
        id,
        "S1",
        SYM,
        side,
        t,
        Quantity::from_raw_or_finer(shares * ONE, 0),
        UnixNanos(T0),
    )
    .unwrap();
    if t == OrderType::Limit {
        o.price = Some(Price::from_raw_or_finer(c(10_000), 2));
    }
    o
}

fn fill(shares: i64, cents: i64, cum: Option<i64>) -> BrokerUpdate {
    BrokerUpdate {
        kind: K::Filled,
        ts: T0 + MIN,
        fill: Some(BrokerFill {
            quantity: Quantity::from_raw_or_finer(shares * ONE, 0),
            price: Price::from_raw_or_finer(c(cents), 2),
            commission_raw: 0,
            cum_qty: cum.map(|q| Quantity::from_raw_or_finer(q * ONE, 0)),
        }),
        reason: String::new(),
    }
}

fn plain(kind: super::BrokerUpdateKind, reason: &str) -> BrokerUpdate {
    BrokerUpdate {
        kind,
        ts: T0 + MIN,
        fill: None,
        reason: reason.into(),
    }
}

fn kinds(events: &[VenueEvent]) -> Vec<OrderEventKind> {
    events
        .iter()
        .filter_map(|e| match e {
            VenueEvent::Order(o) => Some(o.kind),
            VenueEvent::Position(_) => None,
        })
        .collect()
}

fn apply(
    v: &mut SimulatedVenue,
    id: &str,
    u: &BrokerUpdate,
) -> CoreResult<(bool, Vec<VenueEvent>)> {
    let mut out = Vec::new();
    let applied = v.apply_broker_update(id, u, &mut out)?;
    Ok((applied, out))
}

fn bar(v: &mut SimulatedVenue, n: u64, cents: i64) -> Vec<VenueEvent> {
    let mut out = Vec::new();
    let close = T0 + n * MIN;
    let p = c(cents);
    v.process_bar_raw(
        Symbol::new("i", SYM).unwrap(),
        close - MIN,
        close,
        [p, p, p, p],
        1000 * ONE,
        &mut out,
    )
    .unwrap();
    out
}

#[test]
fn an_order_is_queued_not_matched_and_fills_only_from_the_broker() {
    let mut v = external();
    let mut out = Vec::new();
    v.submit(
        order("A-1", OrderSide::Buy, OrderType::Market, 10),
        T0,
        &mut out,
    )
    .unwrap();
    assert_eq!(kinds(&out), vec![OrderEventKind::Submitted]);
    let sent = v.take_outgoing();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].kind, OutgoingKind::Submit);
    assert_eq!(sent[0].client_order_id.as_str(), "A-1");
    assert_eq!(
        sent[0].order.as_ref().unwrap().status,
        OrderStatus::Submitted
    );
    assert!(v.take_outgoing().is_empty());
    // Market data marks, never matches.
    assert!(bar(&mut v, 1, 10_000).is_empty());
    assert_eq!(v.order("A-1").unwrap().status, OrderStatus::Submitted);

    let (applied, out) = apply(&mut v, "A-1", &plain(K::Accepted, "")).unwrap();
    assert!(applied);
    assert_eq!(kinds(&out), vec![OrderEventKind::Accepted]);
    // A repeated acceptance changes nothing.
    assert!(!apply(&mut v, "A-1", &plain(K::Accepted, "")).unwrap().0);

    let (_, out) = apply(&mut v, "A-1", &fill(4, 10_012, Some(4))).unwrap();
    assert_eq!(kinds(&out), vec![OrderEventKind::Filled]);
    assert_eq!(v.order("A-1").unwrap().status, OrderStatus::PartiallyFilled);
    assert!(out.iter().any(|e| matches!(e, VenueEvent::Position(_))));
    let (_, out) = apply(&mut v, "A-1", &fill(6, 10_013, Some(10))).unwrap();
    assert_eq!(kinds(&out), vec![OrderEventKind::Filled]);
    assert_eq!(v.order("A-1").unwrap().status, OrderStatus::Filled);
    // 4 @ 100.12 + 6 @ 100.13, exactly.
    assert_eq!(
        v.portfolio().cash(),
        i128::from(100_000 * ONE) - i128::from(4 * c(10_012) + 6 * c(10_013))
    );
    assert_eq!(v.portfolio().net_quantity(SYM), 10 * ONE);
    assert_eq!(v.portfolio().identity_residual(), 0);
    // Market data marks the position (and still fills nothing).
    assert!(bar(&mut v, 2, 10_150).is_empty());
    assert_eq!(
        v.portfolio().equity(),
        v.portfolio().cash() + i128::from(10 * c(10_150))
    );
    // The stream repeats the last fill after a reconnect: skipped.
    let (applied, out) = apply(&mut v, "A-1", &fill(6, 10_013, Some(10))).unwrap();
    assert!(!applied);
    assert!(out.is_empty());
    // Without its filled quantity it is a fill on a closed order: refused.
    let err = apply(&mut v, "A-1", &fill(6, 10_013, None)).unwrap_err();
    assert!(err.to_string().contains("already filled"), "{err}");
    assert_eq!(v.portfolio().net_quantity(SYM), 10 * ONE);
}

#[test]
fn a_fill_before_the_acceptance_accepts_first() {
    let mut v = external();
    let mut out = Vec::new();
    v.submit(
        order("A-1", OrderSide::Sell, OrderType::Market, 5),
        T0,
        &mut out,
    )
    .unwrap();
    let (_, out) = apply(&mut v, "A-1", &fill(5, 9_999, None)).unwrap();
    assert_eq!(
        kinds(&out),
        vec![OrderEventKind::Accepted, OrderEventKind::Filled]
    );
    assert_eq!(v.portfolio().net_quantity(SYM), -5 * ONE);
    // The late `new` is a repeat.
    assert!(!apply(&mut v, "A-1", &plain(K::Accepted, "")).unwrap().0);
}

#[test]
fn refused_updates_change_nothing() {
    let mut v = external();
    let mut out = Vec::new();
    v.submit(
        order("A-1", OrderSide::Buy, OrderType::Market, 10),
        T0,
        &mut out,
    )
    .unwrap();
    let cash = v.portfolio().cash();
    let before = v.order("A-1").unwrap().clone();
    let err = apply(&mut v, "A-1", &fill(11, 10_000, None)).unwrap_err();
    assert!(err.to_string().contains("overfills"), "{err}");
    // Nothing half-applied: not even the implied acceptance.
    assert_eq!(v.order("A-1").unwrap(), &before);
    assert_eq!(v.portfolio().cash(), cash);
    let err = apply(&mut v, "B-9", &plain(K::Accepted, "")).unwrap_err();
    assert!(err.to_string().contains("unknown order B-9"), "{err}");
    let err = apply(&mut v, "A-1", &fill(0, 10_000, None)).unwrap_err();
    assert!(err.to_string().contains("must be > 0"), "{err}");
    let mut bad = plain(K::Accepted, "");
    bad.fill = fill(1, 1, None).fill;
    assert!(apply(&mut v, "A-1", &bad).is_err());
    let mut no_fill = fill(1, 1, None);
    no_fill.fill = None;
    assert!(apply(&mut v, "A-1", &no_fill).is_err());
    assert_eq!(v.order("A-1").unwrap(), &before);
    assert_eq!(v.portfolio().cash(), cash);
    // Cancelled, then a cancel of a filled order is refused.
    apply(&mut v, "A-1", &plain(K::Cancelled, "by request")).unwrap();
    let err = apply(&mut v, "A-1", &plain(K::Expired, "")).unwrap_err();
    assert!(err.to_string().contains("already cancelled"), "{err}");
    assert!(!apply(&mut v, "A-1", &plain(K::Cancelled, "")).unwrap().0);
}

#[test]
fn a_simulated_venue_takes_no_broker_update_and_mode_is_set_before_orders() {
    let mut v = SimulatedVenue::new(
        VenueConfig::default(),
        Portfolio::new(AccountConfig::default()).unwrap(),
    );
    v.add_instrument_raw(SYM, c(1), ONE).unwrap();
    let mut out = Vec::new();
    v.submit(
        order("A-1", OrderSide::Buy, OrderType::Market, 1),
        T0,
        &mut out,
    )
    .unwrap();
    assert!(v
        .apply_broker_update("A-1", &plain(K::Accepted, ""), &mut out)
        .is_err());
    assert!(v.set_external().is_err());
    assert!(v.take_outgoing().is_empty());
}

#[test]
fn rejection_cancel_and_modify_wait_for_the_broker() {
    let mut v = external();
    let mut out = Vec::new();
    v.submit(
        order("A-1", OrderSide::Buy, OrderType::Market, 10),
        T0,
        &mut out,
    )
    .unwrap();
    let (_, out) = apply(
        &mut v,
        "A-1",
        &plain(K::Rejected, "insufficient buying power"),
    )
    .unwrap();
    match &out[0] {
        VenueEvent::Order(o) => {
            assert_eq!(o.kind, OrderEventKind::Rejected);
            assert_eq!(o.reason, "insufficient buying power");
        }
        VenueEvent::Position(_) => panic!("no position"),
    }

    let mut out = Vec::new();
    v.submit(
        order("A-2", OrderSide::Buy, OrderType::Limit, 10),
        T0,
        &mut out,
    )
    .unwrap();
    v.take_outgoing();
    apply(&mut v, "A-2", &plain(K::Accepted, "")).unwrap();
    let mut out = Vec::new();
    v.modify(
        "A-2",
        Some(20 * ONE),
        Some(c(9_950)),
        None,
        T0 + 1,
        &mut out,
    )
    .unwrap();
    assert!(out.is_empty(), "a modify waits for the broker");
    let sent = v.take_outgoing();
    assert_eq!(sent[0].kind, OutgoingKind::Modify);
    assert_eq!(sent[0].quantity.unwrap().raw(), 20 * ONE);
    assert_eq!(sent[0].price.unwrap().raw(), c(9_950));
    assert_eq!(v.order("A-2").unwrap().quantity.raw(), 10 * ONE);
    let (_, out) = apply(&mut v, "A-2", &plain(K::ModifyAccepted, "")).unwrap();
    assert_eq!(kinds(&out), vec![OrderEventKind::ModifyAccepted]);
    let o = v.order("A-2").unwrap();
    assert_eq!(
        (o.quantity.raw(), o.price.unwrap().raw()),
        (20 * ONE, c(9_950))
    );
    // A refused modify checked here never reaches the broker.
    let mut out = Vec::new();
    v.modify("A-2", Some(0), None, None, T0 + 2, &mut out)
        .unwrap();
    assert_eq!(kinds(&out), vec![OrderEventKind::ModifyRejected]);
    assert!(v.take_outgoing().is_empty());

    let mut out = Vec::new();
    v.cancel("A-2", T0 + 3, &mut out).unwrap();
    assert!(out.is_empty());
    let sent = v.take_outgoing();
    assert_eq!(sent[0].kind, OutgoingKind::Cancel);
    assert_eq!(v.order("A-2").unwrap().status, OrderStatus::Accepted);
    let (_, out) = apply(&mut v, "A-2", &plain(K::Cancelled, "")).unwrap();
    assert_eq!(kinds(&out), vec![OrderEventKind::Cancelled]);
    assert_eq!(v.open_orders().count(), 0);
    // Linked orders are not routed yet: refused before anything is registered.
    let mut out = Vec::new();
    let err = v
        .submit_oco(
            vec![
                order("O-1", OrderSide::Sell, OrderType::Limit, 1),
                order("O-2", OrderSide::Sell, OrderType::Limit, 1),
            ],
            T0,
            &mut out,
        )
        .unwrap_err();
    assert!(err.to_string().contains("external venue"), "{err}");
    assert!(v.order("O-1").is_none());
}

/// One step of a random broker conversation.
#[derive(Debug, Clone)]
enum Op {
    Submit {
        buy: bool,
        shares: i64,
    },
    Fill {
        order: usize,
        shares: i64,
        cents: i64,
        commission: i64,
        with_cum: bool,
    },
    Repeat {
        order: usize,
    },
    End {
        order: usize,
        kind: u8,
    },
    Accept {
        order: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<bool>(), 1..50_i64).prop_map(|(buy, shares)| Op::Submit { buy, shares }),
        (
            0..6_usize,
            1..60_i64,
            1..30_000_i64,
            0..500_i64,
            any::<bool>()
        )
            .prop_map(|(order, shares, cents, commission, with_cum)| Op::Fill {
                order,
                shares,
                cents,
                commission,
                with_cum
            }),
        (0..6_usize).prop_map(|order| Op::Repeat { order }),
        (0..6_usize, 0..3_u8).prop_map(|(order, kind)| Op::End { order, kind }),
        (0..6_usize).prop_map(|order| Op::Accept { order }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(300)))]

    /// Whatever the broker says, in whatever order: cash is the starting cash less every
    /// fill booked (exact notional and commission), the position is their signed sum, each
    /// order's filled quantity is the sum of its fills, a refused update changes nothing,
    /// and a repeated fill (same cumulative quantity) is never booked twice.
    #[test]
    fn broker_updates_keep_cash_and_positions_reconciled(ops in proptest::collection::vec(op(), 1..80)) {
        let mut v = external();
        let start = v.portfolio().cash();
        let mut ids: Vec<String> = Vec::new();
        let mut last_fill: Vec<Option<BrokerUpdate>> = Vec::new();
        let mut booked: Vec<i64> = Vec::new();
        let (mut cash, mut position) = (start, 0_i64);
        for (n, op) in ops.iter().enumerate() {
            let snapshot = (v.portfolio().cash(), v.portfolio().net_quantity(SYM),
                ids.iter().map(|i| v.order(i).cloned()).collect::<Vec<_>>());
            let (id, update) = match op {
                Op::Submit { buy, shares } => {
                    let id = format!("S1-{n}");
                    let side = if *buy { OrderSide::Buy } else { OrderSide::Sell };
                    let mut out = Vec::new();
                    v.submit(order(&id, side, OrderType::Market, *shares), T0, &mut out).unwrap();
                    prop_assert_eq!(v.take_outgoing().len(), 1);
                    ids.push(id);
                    last_fill.push(None);
                    booked.push(0);
                    continue;
                }
                _ if ids.is_empty() => continue,
                Op::Fill { order, shares, cents, commission, with_cum } => {
                    let k = order % ids.len();
                    let mut u = fill(*shares, *cents, None);
                    if let Some(f) = u.fill.as_mut() {
                        f.commission_raw = commission * ONE / 100;
                        if *with_cum {
                            f.cum_qty = Some(Quantity::from_raw_or_finer((booked[k] + shares) * ONE, 0));
                        }
                    }
                    (k, u)
                }
                Op::Repeat { order } => {
                    let k = order % ids.len();
                    match &last_fill[k] {
                        Some(u) => (k, u.clone()),
                        None => continue,
                    }
                }
                Op::End { order, kind } => {
                    let k = order % ids.len();
                    (k, plain([K::Cancelled, K::Expired, K::Rejected][usize::from(*kind)], "end"))
                }
                Op::Accept { order } => (order % ids.len(), plain(K::Accepted, "")),
            };
            let mut out = Vec::new();
            match v.apply_broker_update(&ids[id], &update, &mut out) {
                Ok(applied) => {
                    if let (true, Some(f)) = (applied, update.fill) {
                        let o = v.order(&ids[id]).unwrap();
                        let q = f.quantity.raw();
                        let sign = if o.side == OrderSide::Buy { 1 } else { -1 };
                        cash -= i128::from(sign) * i128::from(q) * i128::from(f.price.raw()) / i128::from(ONE);
                        cash -= i128::from(f.commission_raw);
                        position += sign * q;
                        booked[id] += q / ONE;
                        if f.cum_qty.is_some() {
                            last_fill[id] = Some(update.clone());
                        }
                    }
                    if !applied {
                        prop_assert!(out.is_empty());
                    }
                }
                Err(_) => {
                    // Nothing half-applied.
                    prop_assert!(out.is_empty());
                    prop_assert_eq!(v.portfolio().cash(), snapshot.0);
                    prop_assert_eq!(v.portfolio().net_quantity(SYM), snapshot.1);
                    let now: Vec<_> = ids.iter().map(|i| v.order(i).cloned()).collect();
                    prop_assert_eq!(now, snapshot.2);
                }
            }
            prop_assert_eq!(v.portfolio().cash(), cash);
            prop_assert_eq!(v.portfolio().net_quantity(SYM), position);
            prop_assert_eq!(v.portfolio().identity_residual(), 0);
            for (k, i) in ids.iter().enumerate() {
                let o = v.order(i).unwrap();
                prop_assert_eq!(o.filled_qty.raw(), booked[k] * ONE);
                prop_assert!(o.filled_qty.raw() <= o.quantity.raw());
            }
        }
    }
}

#[test]
fn sells_on_their_way_to_the_broker_count_as_being_sold_until_acknowledged() {
    use crate::risk::AccountView;
    let mut v = external();
    let mut out = Vec::new();
    v.submit(
        order("B-1", OrderSide::Buy, OrderType::Market, 10),
        T0,
        &mut out,
    )
    .unwrap();
    apply(&mut v, "B-1", &fill(10, 10_000, Some(10))).unwrap();
    assert_eq!(v.sells_in_flight(SYM), 0);
    // A limit sell sent, not yet acknowledged: in flight. Once the broker accepts it, it
    // rests (it may never fill) and no longer counts; a market sell counts until it fills.
    v.submit(
        order("S-1", OrderSide::Sell, OrderType::Limit, 4),
        T0,
        &mut out,
    )
    .unwrap();
    assert_eq!(v.sells_in_flight(SYM), 4 * ONE);
    v.submit(
        order("S-2", OrderSide::Sell, OrderType::Market, 3),
        T0,
        &mut out,
    )
    .unwrap();
    assert_eq!(v.sells_in_flight(SYM), 7 * ONE);
    apply(&mut v, "S-1", &plain(K::Accepted, "")).unwrap();
    assert_eq!(v.sells_in_flight(SYM), 3 * ONE);
    apply(&mut v, "S-2", &plain(K::Accepted, "")).unwrap();
    assert_eq!(v.sells_in_flight(SYM), 3 * ONE);
    apply(&mut v, "S-2", &fill(1, 10_000, Some(1))).unwrap();
    assert_eq!(v.sells_in_flight(SYM), 2 * ONE);
    apply(&mut v, "S-2", &fill(2, 10_000, Some(3))).unwrap();
    assert_eq!(v.sells_in_flight(SYM), 0);
    assert_eq!(v.sells_in_flight("MSFT"), 0);
}
