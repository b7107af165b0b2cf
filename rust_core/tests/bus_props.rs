//! Properties of the bus: wildcard matching equals a naive reference matcher; dispatch
//! order is (priority desc, subscription asc); ingest releases in (ts, seq) order.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::sync::{Arc, Mutex};

use pi5trading_core::bus::{
    ingest_queue, Backpressure, MessageBus, Pattern, RustHandler, SendOutcome,
};
use pi5trading_core::types::UnixNanos;
use proptest::prelude::*;

/// Reference: recursive matching over segment lists.
fn naive_match(pattern: &[&str], topic: &[&str]) -> bool {
    match (pattern.split_first(), topic.split_first()) {
        (None, None) => true,
        (Some((&">", [])), Some(_)) => true,
        (Some((&"*", pr)), Some((_, tr))) => naive_match(pr, tr),
        (Some((p, pr)), Some((t, tr))) => p == t && naive_match(pr, tr),
        _ => false,
    }
}

fn segment() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "bars", "AAPL"]).prop_map(str::to_string)
}

fn topic() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(segment(), 1..5)
}

fn pattern() -> impl Strategy<Value = Vec<String>> {
    (
        prop::collection::vec(
            prop_oneof![3 => segment(), 1 => Just("*".to_string())],
            1..5,
        ),
        any::<bool>(),
    )
        .prop_map(|(mut v, rest)| {
            if rest {
                v.push(">".into());
            }
            v
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn matching_equals_reference(p in pattern(), t in topic()) {
        let pat = Pattern::parse(&p.join(".")).unwrap();
        let ps: Vec<&str> = p.iter().map(String::as_str).collect();
        let ts: Vec<&str> = t.iter().map(String::as_str).collect();
        prop_assert_eq!(pat.matches(&t.join(".")), naive_match(&ps, &ts));
    }

    #[test]
    fn dispatch_order_is_priority_then_subscription(
        subs in prop::collection::vec((pattern(), -3_i32..3), 0..12),
        unsub in prop::collection::vec(any::<prop::sample::Index>(), 0..4),
        topics in prop::collection::vec(topic(), 1..8),
    ) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut bus: MessageBus<RustHandler<usize>> = MessageBus::new();
        let mut live = Vec::new(); // (id, pattern, priority)
        for (p, prio) in &subs {
            let log = log.clone();
            let text = p.join(".");
            let id_cell = Arc::new(Mutex::new(0_u64));
            let idc = id_cell.clone();
            let id = bus
                .subscribe(&text, *prio, Box::new(move |m: &usize| {
                    log.lock().unwrap().push((*m, *idc.lock().unwrap()));
                }))
                .unwrap();
            *id_cell.lock().unwrap() = id;
            live.push((id, p.clone(), *prio));
        }
        for ix in unsub {
            if live.is_empty() { break; }
            let (id, _, _) = live.remove(ix.index(live.len()));
            prop_assert!(bus.unsubscribe(id).is_some());
        }
        for (n, t) in topics.iter().enumerate() {
            let text = t.join(".");
            log.lock().unwrap().clear();
            bus.publish(&text, &n).unwrap();
            let got: Vec<u64> = log.lock().unwrap().iter().map(|(_, id)| *id).collect();
            let ts: Vec<&str> = t.iter().map(String::as_str).collect();
            let mut want: Vec<(i32, u64)> = live
                .iter()
                .filter(|(_, p, _)| {
                    let ps: Vec<&str> = p.iter().map(String::as_str).collect();
                    naive_match(&ps, &ts)
                })
                .map(|(id, _, prio)| (-*prio, *id))
                .collect();
            want.sort_unstable();
            let want: Vec<u64> = want.into_iter().map(|(_, id)| id).collect();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn ingest_releases_in_ts_seq_order_and_accounts_for_everything(
        events in prop::collection::vec(0_u64..50, 1..200),
        capacity in 1_usize..40,
        policy in prop::sample::select(vec![Backpressure::DropNewest, Backpressure::DropOldest]),
        window in 0_u64..10,
        drain_every in 1_usize..30,
    ) {
        let (tx, mut rx) = ingest_queue::<usize>(capacity, policy, window).unwrap();
        let mut out = Vec::new();
        let mut dropped = 0;
        for (i, ts) in events.iter().enumerate() {
            match tx.send(UnixNanos(*ts), i) {
                SendOutcome::DroppedNewest | SendOutcome::AcceptedDroppedOldest => dropped += 1,
                SendOutcome::Accepted => {}
                SendOutcome::Closed => prop_assert!(false, "closed"),
            }
            if i % drain_every == 0 {
                rx.drain(usize::MAX, &mut out);
            }
        }
        rx.flush(&mut out);
        // Released in non-decreasing (ts, seq) order.
        for w in out.windows(2) {
            prop_assert!((w[0].ts, w[0].seq) < (w[1].ts, w[1].seq));
        }
        let s = rx.stats();
        prop_assert_eq!(s.delivered as usize, out.len());
        prop_assert_eq!(s.dropped_newest + s.dropped_oldest, dropped as u64);
        prop_assert_eq!(out.len() as u64 + s.dropped_late + dropped as u64, events.len() as u64);
        // Each delivered event is the one sent with that ts.
        for e in &out {
            prop_assert_eq!(events[e.msg], e.ts.0);
        }
    }
}
