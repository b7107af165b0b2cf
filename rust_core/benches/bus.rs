//! Event bus throughput (events/s), pure Rust.
//!
//! Workload: 100,000 validated `Bar`s (one symbol, 1-minute, random-walk prices), each
//! published to handlers that read the close (a counter and a running sum of raw closes,
//! so nothing is optimised away):
//!
//! * `dispatch/publish_id/1_handler` — a pre-resolved `TopicId`, one handler;
//! * `dispatch/publish_str/1_handler` — the topic string looked up per event;
//! * `dispatch/publish_str/4_handlers` — four subscriptions by exact topic, `*` and `>`
//!   patterns and a non-matching one, all resolved once and cached;
//! * `dispatch/publish_str/100_topics` — 100 symbols' topics round-robin, 1 handler;
//! * `ingest/send_drain` — one thread: send into the bounded queue, drain in `(ts, seq)`
//!   order through the reorder heap, publish;
//! * `ingest/cross_thread` — a feed thread sends one event per call (policy `block`,
//!   capacity 65,536) while this thread drains and publishes;
//! * `ingest/cross_thread_send_many_64` — the same, the feed sending 64 events per call
//!   (as a websocket feed receiving batched messages would).
//!
//! Run: `cargo bench -p pi5trading-core --no-default-features --profile bench-lto --bench bus`

// Benchmark set-up uses fixed, valid inputs.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pi5trading_core::bus::{ingest_queue, Backpressure, MessageBus, RustHandler};
use pi5trading_core::types::{Bar, BarType, MarketData, Price, Quantity, UnixNanos};

const N: usize = 100_000;

fn bars(symbol: &str) -> Vec<Bar> {
    let bar_type: BarType = format!("{symbol}-1m").parse().unwrap();
    let mut s: u64 = 0x2545_F491_4F6C_DD1D;
    let mut close: i64 = 100_000_000_000;
    (0..N)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let step = (s % 10_000_001) as i64 - 5_000_000;
            let open = close;
            close = (close + step).max(1_000_000);
            let high = open.max(close) + 10_000_000;
            let low = open.min(close) - 10_000_000;
            let p = |raw: i64| Price::from_raw(raw / 1_000_000 * 1_000_000, 3).unwrap();
            Bar::new(
                bar_type,
                p(open),
                p(high),
                p(low.max(0)),
                p(close),
                Quantity::from_raw(100_000_000_000, 0).unwrap(),
                UnixNanos(i as u64 * 60_000_000_000),
            )
            .unwrap()
        })
        .collect()
}

/// A handler that counts events and sums raw closes.
fn reader(count: &Arc<AtomicU64>, sum: &Arc<AtomicI64>) -> RustHandler<Bar> {
    let (c, s) = (count.clone(), sum.clone());
    Box::new(move |b: &Bar| {
        c.fetch_add(1, Ordering::Relaxed);
        s.fetch_add(b.close.raw(), Ordering::Relaxed);
    })
}

fn dispatch(c: &mut Criterion) {
    let data = bars("AAPL");
    let topic = data[0].bar_type.topic();
    let count = Arc::new(AtomicU64::new(0));
    let sum = Arc::new(AtomicI64::new(0));
    let mut g = c.benchmark_group("dispatch");
    g.throughput(Throughput::Elements(N as u64));
    g.measurement_time(Duration::from_secs(3));

    let mut bus: MessageBus<RustHandler<Bar>> = MessageBus::new();
    bus.subscribe(&topic, 0, reader(&count, &sum)).unwrap();
    let tid = bus.topic(&topic).unwrap();
    g.bench_function("publish_id/1_handler", |b| {
        b.iter(|| {
            for bar in &data {
                bus.publish_id(tid, black_box(bar));
            }
        });
    });
    g.bench_function("publish_str/1_handler", |b| {
        b.iter(|| {
            for bar in &data {
                bus.publish(black_box(&topic), black_box(bar)).unwrap();
            }
        });
    });

    let mut bus4: MessageBus<RustHandler<Bar>> = MessageBus::new();
    bus4.subscribe(&topic, 0, reader(&count, &sum)).unwrap();
    bus4.subscribe("data.bars.*.1m", 5, reader(&count, &sum))
        .unwrap();
    bus4.subscribe("data.>", -1, reader(&count, &sum)).unwrap();
    bus4.subscribe("orders.>", 0, reader(&count, &sum)).unwrap();
    g.bench_function("publish_str/4_handlers", |b| {
        b.iter(|| {
            for bar in &data {
                bus4.publish(black_box(&topic), black_box(bar)).unwrap();
            }
        });
    });

    let topics: Vec<String> = (0..100).map(|i| format!("data.bars.S{i}.1m")).collect();
    let mut bus100: MessageBus<RustHandler<Bar>> = MessageBus::new();
    bus100
        .subscribe("data.bars.*.1m", 0, reader(&count, &sum))
        .unwrap();
    g.bench_function("publish_str/100_topics", |b| {
        b.iter(|| {
            for (i, bar) in data.iter().enumerate() {
                bus100
                    .publish(black_box(&topics[i % 100]), black_box(bar))
                    .unwrap();
            }
        });
    });
    g.finish();
    black_box((count.load(Ordering::Relaxed), sum.load(Ordering::Relaxed)));
}

fn ingest(c: &mut Criterion) {
    let data = bars("AAPL");
    let events: Arc<Vec<MarketData>> =
        Arc::new(data.iter().copied().map(MarketData::Bar).collect());
    let count = Arc::new(AtomicU64::new(0));
    let sum = Arc::new(AtomicI64::new(0));
    let mut bus: MessageBus<RustHandler<MarketData>> = MessageBus::new();
    let (c2, s2) = (count.clone(), sum.clone());
    bus.subscribe(
        "data.bars.*.1m",
        0,
        Box::new(move |m: &MarketData| {
            c2.fetch_add(1, Ordering::Relaxed);
            if let MarketData::Bar(b) = m {
                s2.fetch_add(b.close.raw(), Ordering::Relaxed);
            }
        }),
    )
    .unwrap();
    let tid = bus.topic(&data[0].bar_type.topic()).unwrap();

    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(N as u64));
    g.measurement_time(Duration::from_secs(3));

    g.bench_function("send_drain", |b| {
        let (tx, mut rx) = ingest_queue::<MarketData>(4_096, Backpressure::Block, 0).unwrap();
        let mut out = Vec::with_capacity(4_096);
        b.iter(|| {
            for chunk in events.chunks(1_024) {
                for e in chunk {
                    tx.send(e.ts_event(), *e);
                }
                out.clear();
                rx.drain(usize::MAX, &mut out);
                for env in &out {
                    bus.publish_id(tid, &env.msg);
                }
            }
        });
    });

    for batch in [1_usize, 64] {
        let name = if batch == 1 {
            "cross_thread".to_string()
        } else {
            format!("cross_thread_send_many_{batch}")
        };
        g.bench_function(&name, |b| {
            b.iter(|| {
                let (tx, mut rx) =
                    ingest_queue::<MarketData>(65_536, Backpressure::Block, 0).unwrap();
                let feed_events = Arc::clone(&events);
                let feed = std::thread::spawn(move || {
                    if batch == 1 {
                        for e in feed_events.iter() {
                            tx.send(e.ts_event(), *e);
                        }
                    } else {
                        for chunk in feed_events.chunks(batch) {
                            tx.send_many(chunk.iter().map(|e| (e.ts_event(), *e)));
                        }
                    }
                    tx.close();
                });
                let mut out = Vec::with_capacity(65_536);
                let mut seen = 0;
                while seen < N {
                    out.clear();
                    let n = rx.drain_wait(usize::MAX, Duration::from_millis(100), &mut out);
                    for env in &out {
                        bus.publish_id(tid, &env.msg);
                    }
                    seen += n;
                    if n == 0 && feed.is_finished() {
                        break;
                    }
                }
                feed.join().unwrap();
                seen
            });
        });
    }
    g.finish();
    black_box((count.load(Ordering::Relaxed), sum.load(Ordering::Relaxed)));
}

criterion_group!(benches, dispatch, ingest);
criterion_main!(benches);
