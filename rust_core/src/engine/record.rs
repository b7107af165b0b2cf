//! What a run leaves behind: the equity curve, when a position was open, and every fill.

use crate::orders::{OrderEventKind, OrderSide};
use crate::portfolio::{notional, Portfolio};
use crate::venue::VenueEvent;

/// One execution, attributed to its strategy. Raw units (10^-9); `ts` in UTC ns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillRecord {
    pub ts: u64,
    pub strategy_id: String,
    pub instrument: String,
    pub client_order_id: String,
    pub side: OrderSide,
    pub quantity: i64,
    pub price: i64,
    pub commission: i64,
}

/// Collects the equity curve (one point per distinct timestamp) and the fills.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    pub ts: Vec<u64>,
    /// Equity in raw money units, exact.
    pub equity: Vec<i128>,
    pub position_open: Vec<bool>,
    pub fills: Vec<FillRecord>,
    /// Σ |quantity × price| of all fills, raw money.
    pub traded_notional: i128,
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

    /// Record the account at `ts` (after every bar of that timestamp was processed).
    #[inline]
    pub fn sample(&mut self, ts: u64, portfolio: &Portfolio) {
        self.ts.push(ts);
        self.equity.push(portfolio.equity());
        self.position_open
            .push(portfolio.positions().values().any(|p| p.quantity != 0));
    }

    /// Keep the fills among `events`.
    pub fn fills_from(&mut self, events: &[VenueEvent]) {
        for e in events {
            if let VenueEvent::Order(o) = e {
                if o.kind == OrderEventKind::Filled {
                    if let Some(f) = &o.fill {
                        self.traded_notional += notional(f.quantity, f.price).abs();
                        self.fills.push(FillRecord {
                            ts: o.ts,
                            strategy_id: o.strategy_id.clone(),
                            instrument: o.instrument.clone(),
                            client_order_id: o.client_order_id.clone(),
                            side: f.side,
                            quantity: f.quantity,
                            price: f.price,
                            commission: f.commission,
                        });
                    }
                }
            }
        }
    }
}
