//! A limit order book for one instrument: price-time priority on raw `i64` prices.
//!
//! Bids and asks are `BTreeMap`s from price to a FIFO queue of resting orders, so the best
//! level is the first (asks) or last (bids) key and time priority is queue order. An index by
//! order id makes cancels and modifies O(log levels + queue length). Iteration order is fully
//! determined by prices and arrival order: matching is deterministic.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::error::{CoreError, CoreResult};
use crate::orders::OrderSide;

/// One aggregated price level of the L2 depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookLevel {
    pub price: i64,
    /// Total resting quantity at this price.
    pub quantity: i64,
    /// Number of resting orders at this price.
    pub orders: usize,
}

/// One execution produced by matching an incoming order against the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookFill {
    /// The resting order that traded.
    pub order_id: u64,
    pub price: i64,
    pub quantity: i64,
    /// The resting order is now fully filled (and removed from the book).
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Resting {
    id: u64,
    quantity: i64,
}

type Side = BTreeMap<i64, VecDeque<Resting>>;

/// The resting limit orders of one instrument.
#[derive(Debug, Clone, Default)]
pub struct OrderBook {
    bids: Side,
    asks: Side,
    index: HashMap<u64, (OrderSide, i64)>,
}

impl OrderBook {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of resting orders.
    #[must_use]
    pub fn len(&self) -> usize {
        self.index.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    #[must_use]
    pub fn contains(&self, id: u64) -> bool {
        self.index.contains_key(&id)
    }

    fn side_mut(&mut self, side: OrderSide) -> &mut Side {
        match side {
            OrderSide::Buy => &mut self.bids,
            OrderSide::Sell => &mut self.asks,
        }
    }

    /// Rest an order at the back of its price level's queue.
    ///
    /// # Errors
    /// `InvalidInput` for a duplicate id or a non-positive price or quantity.
    pub fn add(&mut self, id: u64, side: OrderSide, price: i64, quantity: i64) -> CoreResult<()> {
        if self.index.contains_key(&id) {
            return Err(CoreError::invalid(
                "order_id",
                format!("{id} already rests"),
            ));
        }
        if price <= 0 {
            return Err(CoreError::invalid("price", "must be > 0"));
        }
        if quantity <= 0 {
            return Err(CoreError::invalid("quantity", "must be > 0"));
        }
        self.side_mut(side)
            .entry(price)
            .or_default()
            .push_back(Resting { id, quantity });
        self.index.insert(id, (side, price));
        Ok(())
    }

    /// Remove a resting order; returns its remaining quantity.
    ///
    /// # Errors
    /// `InvalidInput` if the id does not rest here.
    pub fn cancel(&mut self, id: u64) -> CoreResult<i64> {
        let (side, price) = self
            .index
            .remove(&id)
            .ok_or_else(|| CoreError::invalid("order_id", format!("{id} is not in the book")))?;
        let levels = self.side_mut(side);
        let mut remaining = 0;
        if let Some(queue) = levels.get_mut(&price) {
            if let Some(pos) = queue.iter().position(|r| r.id == id) {
                remaining = queue.remove(pos).map_or(0, |r| r.quantity);
            }
            if queue.is_empty() {
                levels.remove(&price);
            }
        }
        Ok(remaining)
    }

    /// Change a resting order. A new price, or a larger quantity, sends it to the back of the
    /// queue (it loses time priority); a smaller quantity at the same price keeps its place.
    ///
    /// # Errors
    /// `InvalidInput` if the id does not rest here or the new values are not positive.
    pub fn modify(&mut self, id: u64, price: i64, quantity: i64) -> CoreResult<()> {
        let &(side, old_price) = self
            .index
            .get(&id)
            .ok_or_else(|| CoreError::invalid("order_id", format!("{id} is not in the book")))?;
        if price <= 0 || quantity <= 0 {
            return Err(CoreError::invalid(
                "quantity",
                "price and quantity must be > 0",
            ));
        }
        if price == old_price {
            if let Some(r) = self
                .side_mut(side)
                .get_mut(&price)
                .and_then(|q| q.iter_mut().find(|r| r.id == id))
            {
                if quantity <= r.quantity {
                    r.quantity = quantity;
                    return Ok(());
                }
            }
        }
        self.cancel(id)?;
        self.add(id, side, price, quantity)
    }

    /// Reduce a resting order by a fill of `quantity`; removes it when nothing is left.
    /// Returns the quantity left.
    ///
    /// # Errors
    /// `InvalidInput` if the id does not rest here or `quantity` exceeds what rests.
    pub fn fill(&mut self, id: u64, quantity: i64) -> CoreResult<i64> {
        let &(side, price) = self
            .index
            .get(&id)
            .ok_or_else(|| CoreError::invalid("order_id", format!("{id} is not in the book")))?;
        let left = {
            let r = self
                .side_mut(side)
                .get_mut(&price)
                .and_then(|q| q.iter_mut().find(|r| r.id == id))
                .ok_or_else(|| CoreError::InvalidState(format!("book index stale for {id}")))?;
            if quantity <= 0 || quantity > r.quantity {
                return Err(CoreError::invalid(
                    "quantity",
                    "fill exceeds resting quantity",
                ));
            }
            r.quantity -= quantity;
            r.quantity
        };
        if left == 0 {
            self.cancel(id)?;
        }
        Ok(left)
    }

    /// Best bid: highest price and its total quantity.
    #[must_use]
    pub fn best_bid(&self) -> Option<BookLevel> {
        self.bids.iter().next_back().map(|(p, q)| level(*p, q))
    }

    /// Best ask: lowest price and its total quantity.
    #[must_use]
    pub fn best_ask(&self) -> Option<BookLevel> {
        self.asks.iter().next().map(|(p, q)| level(*p, q))
    }

    /// L2 depth: up to `levels` aggregated levels of one side, best first.
    #[must_use]
    pub fn depth(&self, side: OrderSide, levels: usize) -> Vec<BookLevel> {
        match side {
            OrderSide::Buy => self
                .bids
                .iter()
                .rev()
                .take(levels)
                .map(|(p, q)| level(*p, q))
                .collect(),
            OrderSide::Sell => self
                .asks
                .iter()
                .take(levels)
                .map(|(p, q)| level(*p, q))
                .collect(),
        }
    }

    /// Resting order ids of one side in priority order (best price first, then arrival).
    #[must_use]
    pub fn priority(&self, side: OrderSide) -> Vec<u64> {
        let ids = |(_, q): (&i64, &VecDeque<Resting>)| q.iter().map(|r| r.id).collect::<Vec<_>>();
        match side {
            OrderSide::Buy => self.bids.iter().rev().flat_map(ids).collect(),
            OrderSide::Sell => self.asks.iter().flat_map(ids).collect(),
        }
    }

    /// Match an incoming order of `side` for `quantity` against the opposite side, best price
    /// first and first-come first within a price, never beyond `limit` (a buy takes asks
    /// `<= limit`, a sell takes bids `>= limit`; `None` = market). Trades at the resting price.
    /// Fully filled resting orders leave the book; what the incoming order could not take is
    /// `quantity` minus the sum of the fills.
    pub fn match_order(
        &mut self,
        side: OrderSide,
        limit: Option<i64>,
        quantity: i64,
    ) -> Vec<BookFill> {
        let mut fills = Vec::new();
        let mut left = quantity;
        while left > 0 {
            let best = match side {
                OrderSide::Buy => self.asks.keys().next().copied(),
                OrderSide::Sell => self.bids.keys().next_back().copied(),
            };
            let Some(price) = best else { break };
            let crosses = match (side, limit) {
                (_, None) => true,
                (OrderSide::Buy, Some(l)) => price <= l,
                (OrderSide::Sell, Some(l)) => price >= l,
            };
            if !crosses {
                break;
            }
            let levels = self.side_mut(opposite(side));
            let Some(queue) = levels.get_mut(&price) else {
                break;
            };
            let mut done_ids = Vec::new();
            while left > 0 {
                let Some(front) = queue.front_mut() else {
                    break;
                };
                let q = front.quantity.min(left);
                front.quantity -= q;
                left -= q;
                let done = front.quantity == 0;
                fills.push(BookFill {
                    order_id: front.id,
                    price,
                    quantity: q,
                    done,
                });
                if done {
                    done_ids.push(front.id);
                    queue.pop_front();
                }
            }
            if queue.is_empty() {
                levels.remove(&price);
            }
            for id in done_ids {
                self.index.remove(&id);
            }
        }
        fills
    }
}

fn opposite(side: OrderSide) -> OrderSide {
    match side {
        OrderSide::Buy => OrderSide::Sell,
        OrderSide::Sell => OrderSide::Buy,
    }
}

fn level(price: i64, queue: &VecDeque<Resting>) -> BookLevel {
    BookLevel {
        price,
        quantity: queue.iter().map(|r| r.quantity).sum(),
        orders: queue.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use OrderSide::{Buy, Sell};

    #[test]
    fn price_then_time_priority() {
        let mut b = OrderBook::new();
        b.add(1, Sell, 101, 5).unwrap();
        b.add(2, Sell, 100, 5).unwrap();
        b.add(3, Sell, 100, 5).unwrap();
        b.add(4, Buy, 99, 7).unwrap();
        assert_eq!(b.priority(Sell), vec![2, 3, 1]);
        assert_eq!(b.best_ask().unwrap().quantity, 10);
        assert_eq!(b.best_bid().unwrap().price, 99);
        let fills = b.match_order(Buy, Some(101), 12);
        let got: Vec<_> = fills
            .iter()
            .map(|f| (f.order_id, f.price, f.quantity))
            .collect();
        assert_eq!(got, vec![(2, 100, 5), (3, 100, 5), (1, 101, 2)]);
        assert_eq!(
            b.depth(Sell, 5),
            vec![BookLevel {
                price: 101,
                quantity: 3,
                orders: 1
            }]
        );
        // A limit below the best ask takes nothing.
        assert!(b.match_order(Buy, Some(100), 1).is_empty());
    }

    #[test]
    fn modify_and_priority() {
        let mut b = OrderBook::new();
        b.add(1, Buy, 100, 5).unwrap();
        b.add(2, Buy, 100, 5).unwrap();
        b.modify(1, 100, 3).unwrap(); // smaller: keeps its place
        assert_eq!(b.priority(Buy), vec![1, 2]);
        b.modify(1, 100, 9).unwrap(); // larger: back of the queue
        assert_eq!(b.priority(Buy), vec![2, 1]);
        b.modify(2, 101, 5).unwrap();
        assert_eq!(
            b.depth(Buy, 2)[0],
            BookLevel {
                price: 101,
                quantity: 5,
                orders: 1
            }
        );
        assert_eq!(b.cancel(1).unwrap(), 9);
        assert!(b.cancel(1).is_err());
        assert!(b.add(2, Buy, 100, 1).is_err());
        assert_eq!(b.fill(2, 2).unwrap(), 3);
        assert_eq!(b.fill(2, 3).unwrap(), 0);
        assert!(b.is_empty());
    }

    proptest! {
        #[test]
        fn matching_conserves_quantity(
            rest in proptest::collection::vec((1_i64..20, 1_i64..50), 0..40),
            take in 1_i64..500,
        ) {
            let mut b = OrderBook::new();
            for (i, (p, q)) in rest.iter().enumerate() {
                b.add(i as u64, Sell, 90 + p, *q).unwrap();
            }
            let before: i64 = rest.iter().map(|r| r.1).sum();
            let fills = b.match_order(Buy, None, take);
            let taken: i64 = fills.iter().map(|f| f.quantity).sum();
            prop_assert_eq!(taken, take.min(before));
            let after: i64 = b.depth(Sell, usize::MAX).iter().map(|l| l.quantity).sum();
            prop_assert_eq!(after, before - taken);
            // Prices never improve for the book as matching proceeds.
            prop_assert!(fills.windows(2).all(|w| w[0].price <= w[1].price));
        }
    }
}
