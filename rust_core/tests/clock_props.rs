//! Properties of the simulated clock: timers fire exactly at start + k*interval (<= stop),
//! alerts once, all in (ts, seq) order, however time is advanced.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use pi5trading_core::clock::{Clock, TestClock, TimeEvent};
use pi5trading_core::types::UnixNanos;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Spec {
    Timer {
        interval: u64,
        start: u64,
        stop: Option<u64>,
    },
    Alert {
        at: u64,
    },
}

fn spec() -> impl Strategy<Value = Spec> {
    prop_oneof![
        (1_u64..40, 0_u64..50, prop::option::of(0_u64..300)).prop_map(|(interval, start, stop)| {
            Spec::Timer {
                interval,
                start,
                stop: stop.map(|s| s.max(start + interval)),
            }
        }),
        (0_u64..300).prop_map(|at| Spec::Alert { at }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn firings_match_reference_in_order(
        specs in prop::collection::vec(spec(), 0..8),
        steps in prop::collection::vec(0_u64..60, 1..12),
    ) {
        let mut clock = TestClock::new(UnixNanos(0));
        for (i, s) in specs.iter().enumerate() {
            let name = format!("t{i}");
            match s {
                Spec::Timer { interval, start, stop } => clock
                    .set_timer(&name, *interval, Some(UnixNanos(*start)), stop.map(UnixNanos))
                    .unwrap(),
                Spec::Alert { at } => clock.set_time_alert(&name, UnixNanos(*at)).unwrap(),
            }
        }
        let mut events: Vec<TimeEvent> = Vec::new();
        let mut now = 0;
        for step in &steps {
            now += step;
            let before = events.len();
            clock.advance_to(UnixNanos(now), &mut events).unwrap();
            prop_assert!(events[before..].iter().all(|e| e.ts_event.0 <= now));
        }
        // Global order: non-decreasing (ts, seq).
        for w in events.windows(2) {
            prop_assert!((w[0].ts_event, w[0].seq) < (w[1].ts_event, w[1].seq));
        }
        // Per timer: exactly the reference firings up to `now`.
        for (i, s) in specs.iter().enumerate() {
            let name = format!("t{i}");
            let got: Vec<u64> = events.iter().filter(|e| *e.name == name).map(|e| e.ts_event.0).collect();
            let want: Vec<u64> = match s {
                Spec::Timer { interval, start, stop } => (1..)
                    .map(|k| start + k * interval)
                    .take_while(|t| *t <= now && stop.is_none_or(|s| *t <= s))
                    .collect(),
                Spec::Alert { at } => if *at <= now { vec![*at] } else { vec![] },
            };
            prop_assert_eq!(got, want, "{}", name);
        }
        // Ties: at equal times, the timer scheduled first fires first (seq order).
        prop_assert_eq!(clock.now(), UnixNanos(now));
    }
}
