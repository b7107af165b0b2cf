//! The order state machine. One table, one function: every status change goes through here.
//!
//! ```text
//! initialized ─▶ denied
//!      │
//!      ▼
//!  submitted ─▶ rejected | cancelled (in flight / contingent child never released)
//!      │
//!      ▼
//!  accepted ─▶ partially_filled ─▶ filled
//!      │              │
//!      └──────────────┴─▶ cancelled | expired
//! ```
//! Triggered, modify-accepted/rejected and cancel-rejected events keep the status; a refused
//! modify or cancel is also legal on a closed order (the venue answers it with a rejection).

use super::{OrderEventKind, OrderStatus};
use crate::error::{CoreError, CoreResult};

/// The status after `kind` happens to an order in `status`.
///
/// `complete` tells a fill that brings the filled quantity to the order quantity.
///
/// # Errors
/// `CoreError::InvalidState` for a transition the lifecycle does not allow.
pub fn next_status(
    status: OrderStatus,
    kind: OrderEventKind,
    complete: bool,
) -> CoreResult<OrderStatus> {
    use OrderEventKind as K;
    use OrderStatus as S;
    let next = match (status, kind) {
        (S::Initialized, K::Denied) => Some(S::Denied),
        (S::Initialized, K::Submitted) => Some(S::Submitted),
        (S::Submitted, K::Accepted) => Some(S::Accepted),
        (S::Submitted, K::Rejected) => Some(S::Rejected),
        (S::Submitted | S::Accepted | S::PartiallyFilled, K::Cancelled) => Some(S::Cancelled),
        (S::Accepted | S::PartiallyFilled, K::Expired) => Some(S::Expired),
        (S::Accepted | S::PartiallyFilled, K::Filled) => Some(if complete {
            S::Filled
        } else {
            S::PartiallyFilled
        }),
        (S::Accepted | S::PartiallyFilled, K::Triggered | K::ModifyAccepted) => Some(status),
        (_, K::ModifyRejected | K::CancelRejected) if status != S::Initialized => Some(status),
        _ => None,
    };
    next.ok_or_else(|| {
        CoreError::InvalidState(format!(
            "order cannot go from {} on event {}",
            status.as_str(),
            kind.as_str()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderEventKind as K;
    use OrderStatus as S;

    #[test]
    fn happy_path() {
        let s = next_status(S::Initialized, K::Submitted, false).unwrap();
        let s = next_status(s, K::Accepted, false).unwrap();
        let s = next_status(s, K::Filled, false).unwrap();
        assert_eq!(s, S::PartiallyFilled);
        let s = next_status(s, K::Filled, true).unwrap();
        assert_eq!(s, S::Filled);
    }

    #[test]
    fn terminal_states_refuse_everything_but_rejections_of_requests() {
        for t in [S::Denied, S::Rejected, S::Filled, S::Cancelled, S::Expired] {
            for k in [
                K::Submitted,
                K::Accepted,
                K::Filled,
                K::Cancelled,
                K::Expired,
            ] {
                assert!(matches!(
                    next_status(t, k, true),
                    Err(CoreError::InvalidState(_))
                ));
            }
            assert_eq!(next_status(t, K::CancelRejected, false).unwrap(), t);
        }
    }

    #[test]
    fn cannot_fill_before_acceptance() {
        assert!(next_status(S::Initialized, K::Filled, true).is_err());
        assert!(next_status(S::Submitted, K::Filled, true).is_err());
        assert!(next_status(S::Initialized, K::Accepted, true).is_err());
        assert!(next_status(S::Submitted, K::Expired, true).is_err());
    }
}
