//! What a run leaves behind: the equity curve, when a position was open, and every fill.

use crate::orders::{OrderEventKind, OrderSide};
use crate::portfolio::{notional, Portfolio};
use crate::types::{ClientOrderId, Money, Price, Quantity, StrategyId, Symbol, UnixNanos};
use crate::venue::VenueEvent;

/// One execution, attributed to its strategy: exact values, inline ids (recording a fill
/// allocates nothing but its slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillRecord {
    pub ts: UnixNanos,
    pub strategy_id: StrategyId,
    pub instrument: Symbol,
    pub client_order_id: ClientOrderId,
    pub side: OrderSide,
    pub quantity: Quantity,
    pub price: Price,
    pub commission: Money,
}

/// Collects the equity curve (one point per distinct timestamp) and the fills.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    /// UTC ns (i64: what NumPy and the analytics take, without a copy).
    pub ts: Vec<i64>,
    /// Equity in money units. A float: the curve feeds the analytics; the exact account
    /// is the portfolio's.
    pub equity: Vec<f64>,
    pub position_open: Vec<bool>,
    pub fills: Vec<FillRecord>,
    /// Σ |quantity × price| of all fills, raw money.
    pub traded_notional: i128,
    /// Keep only the latest fills, at most this many (a live node publishes them as they
    /// happen; all kept, they would grow for as long as it runs). `None`: all (a run's
    /// result). The notional is summed over all of them either way.
    pub keep_fills: Option<usize>,
}

/// Drop the oldest entries of `v` once it holds more than `keep`, down to half of it: at
/// most `keep` are held, and the cost stays one move per entry (amortised).
pub fn keep_latest<T>(v: &mut Vec<T>, keep: Option<usize>) {
    if let Some(keep) = keep {
        if v.len() > keep {
            v.drain(..v.len() - keep / 2);
        }
    }
}

impl Recorder {
    #[must_use]
    pub fn with_capacity(points: usize) -> Self {
        Self {
            ts: Vec::with_capacity(points),
            equity: Vec::with_capacity(points),
            position_open: Vec::with_capacity(points),
            ..Self::default()
        }
    }

    /// Record the account at `ts`. One point per timestamp: a later sample at the same
    /// time (the next instrument's bar) replaces the earlier one, so the point holds the
    /// account after every bar of that time.
    // Always: once per bar, and its branch on a repeated timestamp is cheap inline.
    #[inline(always)]
    pub fn sample(&mut self, ts: u64, portfolio: &Portfolio) {
        let ts = i64::try_from(ts).unwrap_or(i64::MAX);
        let equity = money_to_f64(portfolio.equity());
        let open = portfolio.has_open_position();
        if self.ts.last() == Some(&ts) {
            if let (Some(e), Some(o)) = (self.equity.last_mut(), self.position_open.last_mut()) {
                *e = equity;
                *o = open;
                return;
            }
        }
        self.ts.push(ts);
        self.equity.push(equity);
        self.position_open.push(open);
    }

    /// Keep the fills among `events`.
    pub fn fills_from(&mut self, events: &[VenueEvent]) {
        for e in events {
            if let VenueEvent::Order(o) = e {
                if o.kind == OrderEventKind::Filled {
                    if let Some(f) = &o.fill {
                        self.traded_notional += notional(f.quantity.raw(), f.price.raw()).abs();
                        self.fills.push(FillRecord {
                            ts: o.ts,
                            strategy_id: o.strategy_id,
                            instrument: o.instrument,
                            client_order_id: o.client_order_id,
                            side: f.side,
                            quantity: f.quantity,
                            price: f.price,
                            commission: f.commission,
                        });
                    }
                }
            }
        }
        keep_latest(&mut self.fills, self.keep_fills);
    }
}

/// Raw money as a float in money units: the nearest `f64` to the integer, divided by 10^9.
/// An `i64` converts in one instruction, an `i128` through a library call; both round the
/// same integer to nearest, so the result is the same either way. (`black_box` only keeps
/// the optimiser from folding the two branches back into the library call.)
#[inline]
#[allow(clippy::cast_precision_loss)]
fn money_to_f64(raw: i128) -> f64 {
    match i64::try_from(raw) {
        Ok(r) => std::hint::black_box(r) as f64 / 1e9,
        Err(_) => raw as f64 / 1e9,
    }
}

/// A closed round trip of one strategy in one instrument: from a flat position back to
/// flat. Scaling in and out is averaged through the exact notionals; a fill that reverses
/// the position closes the trip with the part that flattens it and opens the next with
/// the rest (its commission split by quantity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundTrip {
    pub strategy_id: StrategyId,
    pub instrument: Symbol,
    /// +1 long, -1 short.
    pub sign: i8,
    pub entry_ts: u64,
    pub exit_ts: u64,
    /// Raw quantity entered (= exited). Raw like the notional sums: an accumulator over
    /// the trip's fills.
    pub quantity: i64,
    /// Σ quantity × price of the entries and of the exits (raw × raw).
    pub entry_notional: i128,
    pub exit_notional: i128,
    /// Raw money.
    pub commission: i64,
}

#[derive(Debug, Default)]
struct OpenTrip {
    sign: i8,
    entry_ts: u64,
    entry_qty: i64,
    entry_notional: i128,
    exit_qty: i64,
    exit_notional: i128,
    commission: i64,
}

/// Round trips from fills (in their order), and what is still open per
/// `(strategy, instrument)` as a signed raw quantity.
#[must_use]
pub fn round_trips(fills: &[FillRecord]) -> (Vec<RoundTrip>, Vec<(StrategyId, Symbol, i64)>) {
    use std::collections::BTreeMap;
    let mut open: BTreeMap<(StrategyId, Symbol), (i64, Option<OpenTrip>)> = BTreeMap::new();
    let mut out = Vec::new();
    for f in fills {
        let key = (f.strategy_id, f.instrument);
        let (pos, trip) = open.entry(key).or_default();
        let mut remaining = if f.side == OrderSide::Buy {
            f.quantity.raw()
        } else {
            -f.quantity.raw()
        };
        let mut fee = f.commission.raw();
        while remaining != 0 {
            let t = trip.get_or_insert_with(|| OpenTrip {
                sign: if remaining > 0 { 1 } else { -1 },
                entry_ts: f.ts.0,
                ..OpenTrip::default()
            });
            let px = i128::from(f.price.raw());
            if (remaining > 0) == (t.sign > 0) {
                t.entry_qty += remaining.abs();
                t.entry_notional += i128::from(remaining.abs()) * px;
                t.commission += fee;
                *pos += remaining;
                remaining = 0;
            } else {
                let take = remaining.abs().min(pos.abs());
                // The part of the fee for the quantity that closes this trip.
                let part = if take < remaining.abs() {
                    i64::try_from(i128::from(fee) * i128::from(take) / i128::from(remaining.abs()))
                        .unwrap_or(fee)
                } else {
                    fee
                };
                t.exit_qty += take;
                t.exit_notional += i128::from(take) * px;
                t.commission += part;
                fee -= part;
                let step = if remaining > 0 { take } else { -take };
                *pos += step;
                remaining -= step;
                if *pos == 0 {
                    if let Some(done) = trip.take() {
                        out.push(RoundTrip {
                            strategy_id: f.strategy_id,
                            instrument: f.instrument,
                            sign: done.sign,
                            entry_ts: done.entry_ts,
                            exit_ts: f.ts.0,
                            quantity: done.entry_qty,
                            entry_notional: done.entry_notional,
                            exit_notional: done.exit_notional,
                            commission: done.commission,
                        });
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| {
        (a.exit_ts, a.entry_ts, &a.strategy_id, &a.instrument).cmp(&(
            b.exit_ts,
            b.entry_ts,
            &b.strategy_id,
            &b.instrument,
        ))
    });
    let still = open
        .into_iter()
        .filter(|(_, (p, _))| *p != 0)
        .map(|((s, i), (p, _))| (s, i, p))
        .collect();
    (out, still)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::types::Currency;

    fn fill(ts: u64, side: OrderSide, qty: i64, price: i64, fee: i64) -> FillRecord {
        FillRecord {
            ts: UnixNanos(ts),
            strategy_id: StrategyId::new("strategy_id", "s").unwrap(),
            instrument: Symbol::new("instrument", "X").unwrap(),
            client_order_id: ClientOrderId::new("client_order_id", &format!("s-{ts}")).unwrap(),
            side,
            quantity: Quantity::from_raw_or_finer(qty, 9),
            price: Price::from_raw_or_finer(price, 9),
            commission: Money::from_raw_or_finer(fee, 9, Currency::USD),
        }
    }

    #[test]
    fn scale_in_scale_out_and_reverse() {
        use OrderSide::{Buy, Sell};
        let fills = [
            fill(1, Buy, 10, 100, 1),
            fill(2, Buy, 10, 110, 1),
            fill(3, Sell, 5, 120, 1),
            // Sells 25: closes the remaining 15 long, opens 10 short.
            fill(4, Sell, 25, 130, 5),
            fill(5, Buy, 10, 125, 2),
        ];
        let (trips, open) = round_trips(&fills);
        assert!(open.is_empty());
        assert_eq!(trips.len(), 2);
        let long = &trips[0];
        assert_eq!(
            (long.sign, long.entry_ts, long.exit_ts, long.quantity),
            (1, 1, 4, 20)
        );
        assert_eq!(long.entry_notional, 10 * 100 + 10 * 110);
        assert_eq!(long.exit_notional, 5 * 120 + 15 * 130);
        assert_eq!(long.commission, 1 + 1 + 1 + 3); // 15/25 of 5
        let short = &trips[1];
        assert_eq!(
            (short.sign, short.entry_ts, short.exit_ts, short.quantity),
            (-1, 4, 5, 10)
        );
        assert_eq!(short.commission, 2 + 2);
    }

    mod conversion {
        use super::super::money_to_f64;
        use proptest::prelude::*;

        proptest! {
            /// The `i64` route of the equity conversion equals the `i128` one.
            #[test]
            fn money_to_f64_equals_the_i128_conversion(
                raw in prop_oneof![
                    any::<i64>().prop_map(i128::from),
                    any::<i128>(),
                    (0_i64..(1 << 60)).prop_map(|x| i128::from(x) * 1024 + 513),
                ],
            ) {
                #[allow(clippy::cast_precision_loss)]
                let want = raw as f64 / 1e9;
                prop_assert_eq!(money_to_f64(raw).to_bits(), want.to_bits());
            }
        }
    }

    #[test]
    fn open_position_is_reported() {
        let (trips, open) = round_trips(&[fill(1, OrderSide::Buy, 3, 100, 0)]);
        assert!(trips.is_empty());
        assert_eq!(open.len(), 1);
        assert_eq!(
            (open[0].0.as_str(), open[0].1.as_str(), open[0].2),
            ("s", "X", 3)
        );
    }
}
