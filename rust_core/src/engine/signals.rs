//! The vectorised mode: a strategy given as an array of target positions, simulated with
//! the same venue rules as an event-driven strategy.
//!
//! At each bar `i` (after the venue has processed it, exactly when an event-driven
//! strategy's `on_bar` runs) the engine compares `target[i]` with the strategy's position
//! and sends one market order for the difference. So a Python strategy that does the same
//! in `on_bar` produces the same fills; `tests/unit/engine/test_vectorised.py` checks it.

use crate::error::{CoreError, CoreResult};
use crate::orders::{Order, OrderSide, OrderType};
use crate::risk::{OrderRequest, RiskEngine};
use crate::venue::{SimulatedVenue, VenueEvent};

use super::feed::BarSeries;
use super::record::Recorder;

/// Orders the risk engine refused during a vectorised run, with its reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignalRun {
    pub orders: u64,
    pub denials: Vec<(u64, String)>,
}

/// Run `target` (raw signed quantities, one per bar of `series`) through `venue`.
///
/// # Errors
/// `InvalidInput` when `target` and the series differ in length, or a venue error (an
/// unregistered instrument).
pub fn run_signals(
    series: &BarSeries,
    target: &[i64],
    strategy_id: &str,
    venue: &mut SimulatedVenue,
    mut risk: Option<&mut RiskEngine>,
    recorder: &mut Recorder,
) -> CoreResult<SignalRun> {
    if target.len() != series.len() {
        return Err(CoreError::invalid(
            "target",
            format!("has {} entries for {} bars", target.len(), series.len()),
        ));
    }
    let symbol = series.bar_type.symbol.as_str().to_owned();
    let mut events: Vec<VenueEvent> = Vec::new();
    let mut run = SignalRun::default();
    for (i, &want) in target.iter().enumerate() {
        let ts = series.ts[i];
        events.clear();
        let ts_open = ts.saturating_sub(series.bar_type.interval.as_nanos());
        venue.process_bar_raw(
            &symbol,
            ts_open,
            ts,
            series.ohlc(i),
            series.volume[i],
            &mut events,
        )?;
        recorder.fills_from(&events);
        if let Some(r) = risk.as_deref_mut() {
            r.update(&*venue, ts);
        }
        let held = venue
            .portfolio()
            .strategy(strategy_id)
            .and_then(|s| s.positions.get(&symbol))
            .map_or(0, |p| p.quantity);
        // An order still working (submitted on the previous bar, not yet filled) counts
        // towards the target, as it would for a strategy that checks its open orders.
        let working: i64 = venue
            .open_orders()
            .filter(|o| o.strategy_id == strategy_id && o.instrument == symbol)
            .map(|o| o.side.sign() * o.leaves_qty())
            .sum();
        let diff = want - held - working;
        if diff != 0 {
            let side = if diff > 0 {
                OrderSide::Buy
            } else {
                OrderSide::Sell
            };
            let qty = diff.abs();
            run.orders += 1;
            let id = format!("{strategy_id}-{}", run.orders);
            let denied = match risk.as_deref_mut() {
                Some(r) => r
                    .check(
                        &OrderRequest::new(strategy_id, &symbol, side, qty),
                        &*venue,
                        ts,
                    )
                    .err(),
                None => None,
            };
            if let Some(d) = denied {
                run.denials.push((ts, d.to_string()));
            } else {
                events.clear();
                let order = Order::new(
                    id,
                    strategy_id,
                    symbol.as_str(),
                    side,
                    OrderType::Market,
                    qty,
                    ts,
                );
                venue.submit(order, ts, &mut events)?;
                recorder.fills_from(&events);
            }
        }
        recorder.sample(ts, venue.portfolio());
    }
    Ok(run)
}
