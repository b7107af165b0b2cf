//! The full pre-trade risk check, in-process.
//!
//! Workload: the `default` profile (every order, position, exposure, concentration, loss,
//! buying-power and flow check switched on) with the trading session widened to 24 hours
//! every day so orders keep passing, rate limits raised to 1,000/s and 60,000/min (the rings
//! are still consulted on every order), 1,000,000 orders per session; one registered
//! instrument (tick 0.01, lot 1) with its own limits, one strategy with its own limits.
//! The account holds 20 open positions. Orders are limit buys of 1–100 shares near the last
//! price (all pass), 1 ms apart on the engine clock. The `+sloss` latency lines add a
//! per-strategy loss limit, which reads the strategy's P&L (a pass over its positions) on
//! every check.
//!
//! * `risk/check/simple_account`: against [`SimpleAccount`] (a plain view).
//! * `risk/check/portfolio`: against the engine's own `Portfolio` (its equity and exposure are
//!   recomputed from the positions on every call).
//! * `risk/check/denied`: an order over the maximum quantity (formats the denial message).
//!
//! After criterion, a latency report times 200,000 single checks of each passing path with
//! `std::time::Instant` and prints p50/p90/p99/p99.9/max.
//!
//! Run: `cargo bench -p pi5trading-core --no-default-features --profile bench-lto --bench risk`

// Benchmark set-up uses fixed, valid parameters.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use pi5trading_core::orders::OrderSide;
use pi5trading_core::portfolio::{AccountConfig, Portfolio};
use pi5trading_core::risk::{
    AccountView, InstrumentLimits, OrderLimits, OrderRequest, RiskConfig, RiskEngine,
    SimpleAccount, StrategyLimits, TradingHours, ONE,
};
use pi5trading_core::types::{Currency, Money, Price, Quantity, StrategyId, Symbol, UnixNanos};

const MS: u64 = 1_000_000;
/// 2024-07-10 14:00 UTC.
const T0: u64 = 1_720_620_000 * 1_000_000_000;

fn engine_with(strategy_loss: bool) -> RiskEngine {
    let mut cfg = RiskConfig::default_profile();
    cfg.session.trading_hours = Some(TradingHours {
        open: 0,
        close: 24 * 60,
        weekdays: 0b111_1111,
        holidays: Vec::new(),
        early_closes: Vec::new(),
    });
    cfg.flow.max_orders_per_second = Some(1_000);
    cfg.flow.max_orders_per_minute = Some(60_000);
    cfg.flow.max_orders_per_session = Some(1_000_000);
    cfg.flow.max_open_orders = Some(1_000);
    cfg.account.max_open_positions = Some(100);
    cfg.account.max_concentration = Some(ONE / 2);
    cfg.account.max_gross_exposure = Some(100_000_000 * i128::from(ONE));
    cfg.strategies.insert(
        "S1".into(),
        StrategyLimits {
            order: OrderLimits {
                max_quantity: Some(400 * ONE),
                ..OrderLimits::default()
            },
            max_loss: strategy_loss.then_some(50_000 * i128::from(ONE)),
            ..StrategyLimits::default()
        },
    );
    cfg.instruments.insert(
        "AAPL".into(),
        InstrumentLimits {
            tick_size: Some(ONE / 100),
            lot_size: Some(ONE),
            order: OrderLimits {
                max_position_quantity: Some(1_000_000 * ONE),
                ..OrderLimits::default()
            },
            ..InstrumentLimits::default()
        },
    );
    cfg.order.max_position_notional = Some(1_000_000_000 * i128::from(ONE));
    cfg.order.max_position_quantity = Some(1_000_000 * ONE);
    RiskEngine::new(cfg).unwrap()
}

fn engine() -> RiskEngine {
    engine_with(false)
}

const SYMBOLS: [&str; 20] = [
    "AAPL", "MSFT", "AMZN", "GOOG", "META", "NVDA", "TSLA", "JPM", "V", "UNH", "XOM", "JNJ", "WMT",
    "PG", "MA", "HD", "CVX", "ABBV", "KO", "PEP",
];

fn simple_account() -> SimpleAccount {
    let mut a = SimpleAccount::with_cash(10_000_000 * i128::from(ONE));
    for (k, s) in SYMBOLS.iter().enumerate() {
        let px = (50 + 10 * k as i64) * ONE;
        a.set_position(s, 10 * ONE, px, Some("S1"));
    }
    a
}

fn portfolio() -> Portfolio {
    let mut p = Portfolio::new(AccountConfig {
        starting_cash: 1_000_000_000 * ONE / 100,
        ..AccountConfig::default()
    })
    .unwrap();
    let mut out = Vec::new();
    for (k, s) in SYMBOLS.iter().enumerate() {
        let px = (50 + 10 * k as i64) * ONE;
        let symbol = Symbol::new("instrument", s).unwrap();
        p.apply_fill(
            StrategyId::new("strategy_id", "S1").unwrap(),
            symbol,
            OrderSide::Buy,
            Quantity::from_raw_or_finer(10 * ONE, 0),
            Price::from_raw_or_finer(px, 2),
            Money::zero(Currency::USD),
            UnixNanos(1),
            &mut out,
        )
        .unwrap();
        p.mark(symbol, px + ONE);
    }
    p
}

fn order(k: u64) -> OrderRequest<'static> {
    // 1..=100 shares, limit within a few cents of the last price 50.00.
    let q = (k % 100 + 1) as i64 * ONE;
    let px = 50 * ONE + (k % 7) as i64 * (ONE / 100);
    OrderRequest::new("S1", "AAPL", OrderSide::Buy, q).with_price(px)
}

fn run_check<V: AccountView>(e: &mut RiskEngine, v: &V, k: u64) -> bool {
    e.check(black_box(&order(k)), v, T0 + k * MS).is_ok()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("risk/check");
    g.measurement_time(Duration::from_secs(3));
    {
        let a = simple_account();
        let mut e = engine();
        let mut k = 0_u64;
        g.bench_function("simple_account", |b| {
            b.iter(|| {
                k += 1;
                run_check(&mut e, &a, k)
            });
        });
    }
    {
        let p = portfolio();
        let mut e = engine();
        let mut k = 0_u64;
        g.bench_function("portfolio", |b| {
            b.iter(|| {
                k += 1;
                run_check(&mut e, &p, k)
            });
        });
    }
    {
        let a = simple_account();
        let mut e = engine();
        let big = OrderRequest::new("S1", "AAPL", OrderSide::Buy, 5_000 * ONE).with_price(50 * ONE);
        let mut k = 0_u64;
        g.bench_function("denied", |b| {
            b.iter(|| {
                k += 1;
                e.check(black_box(&big), &a, T0 + k * MS).is_err()
            });
        });
    }
    g.finish();
}

fn percentiles(name: &str, mut ns: Vec<u64>, passed: usize) {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 * q) as usize).min(ns.len() - 1)];
    println!(
        "{name:<28} n={} passed={passed} p50={}ns p90={}ns p99={}ns p99.9={}ns max={}ns",
        ns.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        at(0.999),
        ns[ns.len() - 1]
    );
}

fn latency<V: AccountView>(name: &str, v: &V, strategy_loss: bool) {
    const N: u64 = 200_000;
    let mut e = engine_with(strategy_loss);
    // Warm up: the strategy entry and the caches.
    for k in 0..1_000 {
        run_check(&mut e, v, k);
    }
    let mut ns = Vec::with_capacity(N as usize);
    let mut passed = 0;
    for k in 1_000..1_000 + N {
        let o = order(k);
        let t = Instant::now();
        let ok = e.check(black_box(&o), v, T0 + k * MS).is_ok();
        ns.push(u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
        passed += usize::from(ok);
    }
    percentiles(name, ns, passed);
}

fn latency_report(_c: &mut Criterion) {
    println!("\nrisk: single pre-trade check latency (Instant per check)");
    latency("check/simple_account", &simple_account(), false);
    latency("check/portfolio", &portfolio(), false);
    latency("check/simple_account+sloss", &simple_account(), true);
    latency("check/portfolio+sloss", &portfolio(), true);
}

criterion_group!(benches, bench, latency_report);
criterion_main!(benches);
