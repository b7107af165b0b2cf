//! Routing to a broker: the engine over an external venue (`venue/external.rs`).
//!
//! Orders pass risk as always and are `submitted`; the driver takes the requests
//! ([`Engine::take_outgoing`]) and sends them, and hands what the broker reports to
//! [`Engine::apply_broker_update`], whose events reach the strategies and the outbox like
//! those of a simulated step. The broker's timestamps stamp the events; the engine clock is
//! not moved by them (it follows the data, which may lag the broker's clock).

use crate::error::CoreError;
use crate::venue::{BrokerUpdate, Outgoing};

use super::state::{Engine, EngineState};
use super::strategy::Strategy;

impl Engine {
    /// The requests for the broker made since the last call, in order (empty unless the
    /// venue is external).
    pub fn take_outgoing(&mut self) -> Vec<Outgoing> {
        self.venue.take_outgoing()
    }

    /// Apply one broker update to the order `client_order_id` and deliver what it caused
    /// (order and position events to the strategies, the outbox, risk's view of the
    /// account). Returns `false` for an update that changed nothing (a repeat).
    ///
    /// # Errors
    /// Not running; an update the order cannot take (see
    /// [`SimulatedVenue::apply_broker_update`](crate::venue::SimulatedVenue::apply_broker_update)),
    /// which changes nothing; a strategy's error.
    pub fn apply_broker_update<E, S>(
        &mut self,
        client_order_id: &str,
        update: &BrokerUpdate,
        strategies: &mut [S],
    ) -> Result<bool, E>
    where
        E: From<CoreError>,
        S: Strategy<E>,
    {
        self.running()?;
        let st: &mut EngineState = self;
        st.scratch.clear();
        let applied = st
            .venue
            .apply_broker_update(client_order_id, update, &mut st.scratch)?;
        st.recorder.fills_from(&st.scratch);
        st.pending.append(&mut st.scratch);
        if applied {
            let now = st.now;
            if let Some(r) = st.risk.as_mut() {
                r.update(&st.venue, now);
            }
        }
        if self.outbox.is_some() {
            self.settle(strategies)?;
        } else {
            self.dispatch(strategies)?;
        }
        Ok(applied)
    }
}
