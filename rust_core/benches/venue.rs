//! Orders through the simulated venue: submit → accept → fill → portfolio, in-process.
//!
//! Workload: one instrument (tick 0.01, lot 1), a cash account with 10^9 of cash, default
//! fill models (1-tick slippage, $0.005/share commission with $1 minimum, 10 % participation).
//! Orders are 100-share market orders alternating buy/sell (so the position opens, closes and
//! the portfolio books realised P&L on every other fill); each iteration builds the order
//! (client id string included), submits it and collects the events.
//!
//! * `venue/this_close`: `MarketFillTiming::ThisClose`: the order fills inside `submit` at
//!   the last bar's close — the whole submit → fill → portfolio path in one call.
//! * `venue/next_open`: the default timing: `submit`, then the next bar fills it at the open.
//! * `venue/bar_resting/N`: one bar walked with N resting limit orders that are not touched
//!   (the cost of the intrabar path scan).
//!
//! After criterion, a latency report times 200,000 single orders of the `this_close` and
//! `next_open` paths with `std::time::Instant` and prints p50/p90/p99/p99.9/max.
//!
//! Run: `cargo bench -p pi5trading-core --no-default-features --profile bench-lto --bench venue`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use pi5trading_core::orders::{Order, OrderSide, OrderType};
use pi5trading_core::portfolio::{AccountConfig, Portfolio};
use pi5trading_core::types::{Price, Quantity, Symbol, UnixNanos, FIXED_SCALE};
use pi5trading_core::venue::{MarketFillTiming, SimulatedVenue, VenueConfig, VenueEvent};

const ONE: i64 = FIXED_SCALE;
const SYM: &str = "SPY";

fn sym() -> Symbol {
    Symbol::new("instrument", SYM).expect("valid symbol")
}

/// A bench order from raw quantity and time.
fn order(id: &str, side: OrderSide, quantity: i64, ts: u64) -> Order {
    Order::parse(
        id,
        "bench",
        SYM,
        side,
        OrderType::Market,
        Quantity::from_raw_or_finer(quantity, 0),
        UnixNanos(ts),
    )
    .expect("valid order")
}
const MIN: u64 = 60_000_000_000;
const T0: u64 = 1_704_898_800_000_000_000;
const BAR: [i64; 4] = [100 * ONE, 101 * ONE, 99 * ONE, 100 * ONE + ONE / 2];

fn venue(timing: MarketFillTiming) -> SimulatedVenue {
    let account = AccountConfig {
        starting_cash: 1_000_000_000 * ONE,
        ..AccountConfig::default()
    };
    let config = VenueConfig {
        market_fill: timing,
        ..VenueConfig::default()
    };
    let mut v = SimulatedVenue::new(config, Portfolio::new(account).expect("valid account"));
    v.add_instrument_raw(SYM, ONE / 100, ONE)
        .expect("valid instrument");
    let mut out = Vec::new();
    v.process_bar_raw(sym(), T0 - MIN, T0, BAR, 1_000_000 * ONE, &mut out)
        .expect("valid bar");
    v
}

struct Driver {
    v: SimulatedVenue,
    n: u64,
    out: Vec<VenueEvent>,
}

impl Driver {
    fn new(timing: MarketFillTiming) -> Self {
        Self {
            v: venue(timing),
            n: 0,
            out: Vec::with_capacity(16),
        }
    }

    fn order(&self) -> Order {
        let side = if self.n % 2 == 0 {
            OrderSide::Buy
        } else {
            OrderSide::Sell
        };
        order(&format!("O{}", self.n), side, 100 * ONE, T0)
    }

    /// One order: submit (fills inside submit with `ThisClose`).
    fn submit(&mut self) {
        let o = self.order();
        self.out.clear();
        self.v
            .submit(o, T0 + self.n * MIN, &mut self.out)
            .expect("valid order");
        self.n += 1;
        if self.n % 4096 == 0 {
            self.v.purge_closed();
        }
    }

    /// One order: submit, then the next bar fills it at the open.
    fn submit_and_bar(&mut self) {
        self.submit();
        self.v
            .process_bar_raw(
                sym(),
                T0 + (self.n - 1) * MIN,
                T0 + self.n * MIN,
                BAR,
                1_000_000 * ONE,
                &mut self.out,
            )
            .expect("valid bar");
    }
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("venue");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));
    let mut d = Driver::new(MarketFillTiming::ThisClose);
    g.bench_function("this_close", |b| {
        b.iter(|| {
            d.submit();
            black_box(d.out.len())
        });
    });
    let mut d = Driver::new(MarketFillTiming::NextOpen);
    g.bench_function("next_open", |b| {
        b.iter(|| {
            d.submit_and_bar();
            black_box(d.out.len())
        });
    });
    for resting in [0_u64, 1, 10, 100, 1000] {
        let mut v = venue(MarketFillTiming::NextOpen);
        let mut out = Vec::new();
        // Long position for the resting sells (cash account: no shorts).
        v.submit(
            order(
                "L",
                OrderSide::Buy,
                ONE * i64::try_from(resting + 1).expect("small"),
                T0,
            ),
            T0,
            &mut out,
        )
        .expect("valid order");
        v.process_bar_raw(sym(), T0, T0 + MIN, BAR, 1_000_000 * ONE, &mut out)
            .expect("valid bar");
        for i in 0..resting {
            let side = if i % 2 == 0 {
                OrderSide::Buy
            } else {
                OrderSide::Sell
            };
            let o = Order {
                order_type: OrderType::Limit,
                ..order(&format!("R{i}"), side, ONE, T0)
            };
            // Buys rest at 90.00 and below, sells at 110.00 and above: never touched.
            let px = if i % 2 == 0 {
                90 * ONE - i64::try_from(i).expect("small") * ONE / 100
            } else {
                110 * ONE
            };
            v.submit(o.with_price(Price::from_raw_or_finer(px, 2)), T0, &mut out)
                .expect("valid order");
        }
        assert_eq!(
            v.open_orders().count() as u64,
            resting,
            "all resting orders accepted"
        );
        let mut n = 1;
        g.bench_with_input(
            BenchmarkId::new("bar_resting", resting),
            &resting,
            |b, _| {
                b.iter(|| {
                    out.clear();
                    n += 1;
                    v.process_bar_raw(
                        sym(),
                        T0 + (n - 1) * MIN,
                        T0 + n * MIN,
                        BAR,
                        1_000_000 * ONE,
                        &mut out,
                    )
                    .expect("valid bar");
                    black_box(out.len())
                });
            },
        );
    }
    g.finish();
}

fn percentiles(name: &str, mut ns: Vec<u64>) {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 - 1.0) * q).round() as usize];
    let total: u64 = ns.iter().sum();
    println!(
        "latency {name:<11} n={} p50={}ns p90={}ns p99={}ns p99.9={}ns max={}ns orders/s={:.0}",
        ns.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        at(0.999),
        ns[ns.len() - 1],
        ns.len() as f64 / (total as f64 / 1e9),
    );
}

fn latency_report() {
    const N: usize = 200_000;
    for (name, timing) in [
        ("this_close", MarketFillTiming::ThisClose),
        ("next_open", MarketFillTiming::NextOpen),
    ] {
        let mut d = Driver::new(timing);
        // Warm-up.
        for _ in 0..10_000 {
            d.submit_and_bar();
        }
        let mut ns = Vec::with_capacity(N);
        for _ in 0..N {
            let t = Instant::now();
            if timing == MarketFillTiming::ThisClose {
                d.submit();
            } else {
                d.submit_and_bar();
            }
            ns.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
            black_box(d.out.len());
        }
        percentiles(name, ns);
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    throughput(&mut c);
    c.final_summary();
    latency_report();
}
