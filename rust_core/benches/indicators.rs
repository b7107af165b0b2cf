//! Indicator throughput (updates/s), pure Rust.
//!
//! Workload: a 100,000-point random walk of raw prices around 100.0 (10^-9 grid, steps up
//! to ±0.05) and bars around it (high/low ±0.5, volume up to 10,000). `streaming/*` feeds
//! one indicator with `update_raw` (or `update_bar`) and reads its value after every input,
//! as the engine does before a strategy callback; `batch/*` runs the batch form over the
//! whole series (raw `i64` input, and `f64` prices converted to the grid).
//!
//! Run: `cargo bench -p pi5trading-core --no-default-features --profile bench-lto --bench indicators`

// Benchmark set-up uses fixed, valid parameters.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pi5trading_core::indicators::batch::{self, PriceSeries, VwapSessions};
use pi5trading_core::indicators::rounding::raw_to_f64;
use pi5trading_core::indicators::{
    Atr, Bollinger, Donchian, Ema, Indicator, Macd, Momentum, Roc, Rsi, Sma, StdDev, Vwap, Wma,
};

const N: usize = 100_000;

struct Series {
    close: Vec<i64>,
    high: Vec<i64>,
    low: Vec<i64>,
    volume: Vec<i64>,
}

fn series() -> Series {
    let mut s: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut x: i64 = 100_000_000_000;
    let mut out = Series {
        close: Vec::with_capacity(N),
        high: Vec::with_capacity(N),
        low: Vec::with_capacity(N),
        volume: Vec::with_capacity(N),
    };
    for _ in 0..N {
        x += (next() % 100_000_001) as i64 - 50_000_000;
        out.close.push(x);
        out.high.push(x + (next() % 500_000_000) as i64);
        out.low.push(x - (next() % 500_000_000) as i64);
        out.volume.push((next() % 10_000_000_000_000) as i64);
    }
    out
}

fn streaming(c: &mut Criterion) {
    let data = series();
    let mut g = c.benchmark_group("indicators/streaming");
    g.throughput(Throughput::Elements(N as u64));

    macro_rules! bench_single {
        ($name:literal, $ctor:expr) => {
            g.bench_function($name, |b| {
                let mut ind = $ctor;
                b.iter(|| {
                    let mut acc = 0.0;
                    for &x in &data.close {
                        ind.update_raw(x);
                        acc += ind.value().unwrap_or(0.0);
                    }
                    black_box(acc)
                })
            });
        };
    }
    bench_single!("sma_20", Sma::new(20).unwrap());
    bench_single!("ema_20", Ema::new(20).unwrap());
    bench_single!("wma_20", Wma::new(20).unwrap());
    bench_single!("rsi_14", Rsi::new(14).unwrap());
    bench_single!("macd_12_26_9", Macd::new(12, 26, 9).unwrap());
    bench_single!("bollinger_20_2", Bollinger::new(20, 2.0).unwrap());
    bench_single!("stddev_20", StdDev::new(20, 0).unwrap());
    bench_single!("roc_10", Roc::new(10).unwrap());
    bench_single!("momentum_10", Momentum::new(10).unwrap());
    bench_single!("donchian_20", Donchian::new(20).unwrap());

    g.bench_function("bollinger_20_2_all_bands", |b| {
        let mut ind = Bollinger::new(20, 2.0).unwrap();
        b.iter(|| {
            let mut acc = 0.0;
            for &x in &data.close {
                ind.update_raw(x);
                if let Some(v) = ind.bands() {
                    acc += v.upper + v.lower + v.percent_b;
                }
            }
            black_box(acc)
        })
    });
    g.bench_function("atr_14", |b| {
        let mut ind = Atr::new(14).unwrap();
        b.iter(|| {
            let mut acc = 0.0;
            for i in 0..N {
                let _ = ind.update_bar(data.high[i], data.low[i], data.close[i]);
                acc += ind.value().unwrap_or(0.0);
            }
            black_box(acc)
        })
    });
    g.bench_function("vwap", |b| {
        let mut ind = Vwap::new(None, 0).unwrap();
        b.iter(|| {
            ind.reset();
            let mut acc = 0.0;
            for i in 0..N {
                let _ = ind.update_bar(0, data.high[i], data.low[i], data.close[i], data.volume[i]);
                acc += ind.value().unwrap_or(0.0);
            }
            black_box(acc)
        })
    });
    g.bench_function("sma_20_update_only", |b| {
        let mut ind = Sma::new(20).unwrap();
        b.iter(|| {
            for &x in &data.close {
                ind.update_raw(black_box(x));
            }
            black_box(ind.value_raw())
        })
    });
    g.finish();
}

fn batch_forms(c: &mut Criterion) {
    let data = series();
    let floats: Vec<f64> = data.close.iter().map(|&x| raw_to_f64(x)).collect();
    let raw: &[i64] = &data.close;
    let mut g = c.benchmark_group("indicators/batch");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function(BenchmarkId::new("sma_20", "raw"), |b| {
        b.iter(|| black_box(batch::sma(raw, 20).unwrap()))
    });
    g.bench_function(BenchmarkId::new("sma_20", "f64"), |b| {
        b.iter(|| black_box(batch::sma(&PriceSeries(&floats), 20).unwrap()))
    });
    g.bench_function(BenchmarkId::new("ema_20", "raw"), |b| {
        b.iter(|| black_box(batch::ema(raw, 20).unwrap()))
    });
    g.bench_function(BenchmarkId::new("rsi_14", "raw"), |b| {
        b.iter(|| black_box(batch::rsi(raw, 14).unwrap()))
    });
    g.bench_function(BenchmarkId::new("macd_12_26_9", "raw"), |b| {
        b.iter(|| black_box(batch::macd(raw, 12, 26, 9).unwrap()))
    });
    g.bench_function(BenchmarkId::new("bollinger_20_2", "raw"), |b| {
        b.iter(|| black_box(batch::bollinger(raw, 20, 2.0).unwrap()))
    });
    g.bench_function(BenchmarkId::new("donchian_20", "raw"), |b| {
        b.iter(|| black_box(batch::donchian(&data.high[..], &data.low[..], 20).unwrap()))
    });
    g.bench_function(BenchmarkId::new("vwap", "raw"), |b| {
        b.iter(|| {
            black_box(
                batch::vwap(
                    &data.high[..],
                    &data.low[..],
                    raw,
                    &data.volume[..],
                    VwapSessions::default(),
                )
                .unwrap(),
            )
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = streaming, batch_forms
}
criterion_main!(benches);
