//! Property tests across the indicators: exactness against plain reference
//! computations, and streaming == batch.

use proptest::prelude::*;

use super::batch::{self, PriceSeries, VwapSessions};
use super::rounding::{raw_from_f64, raw_to_f64};
use super::*;

/// Round half to even, written independently of `div_round_half_even`: compare twice
/// the remainder with the divisor.
fn ref_round(num: i128, den: i128) -> i128 {
    let mut q = num / den; // truncates toward zero
    let mut r = num % den; // same sign as num
    if r < 0 {
        q -= 1;
        r += den;
    }
    match (2 * r).cmp(&den) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn opt_bits(v: Option<f64>) -> u64 {
    v.unwrap_or(f64::NAN).to_bits()
}

/// Prices in a wide but realistic range (raw units): 10^-9 .. 10^6.
fn raw_prices(max_len: usize) -> impl Strategy<Value = Vec<i64>> {
    prop::collection::vec(1i64..1_000_000_000_000_000, 0..max_len)
}

/// Any i64 whose window sums and squares stay inside the documented domain.
fn any_raw(max_len: usize) -> impl Strategy<Value = Vec<i64>> {
    prop::collection::vec(-(1i64 << 40)..(1i64 << 40), 0..max_len)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(256)))]

    #[test]
    fn sma_is_the_correctly_rounded_window_mean(
        xs in prop::collection::vec(any::<i64>(), 0..200), period in 1usize..30,
    ) {
        let mut sma = Sma::new(period).unwrap();
        for (i, &x) in xs.iter().enumerate() {
            sma.update_raw(x);
            if i + 1 < period {
                prop_assert_eq!(sma.value_raw(), None);
                continue;
            }
            let sum: i128 = xs[i + 1 - period..=i].iter().map(|&v| i128::from(v)).sum();
            let want = i64::try_from(ref_round(sum, period as i128)).unwrap();
            prop_assert_eq!(sma.value_raw(), Some(want));
            prop_assert_eq!(sma.value(), Some(raw_to_f64(want)));
        }
        prop_assert_eq!(sma.count(), xs.len() as u64);
    }

    #[test]
    fn equal_windows_give_equal_outputs(
        history_a in any_raw(300), history_b in any_raw(50),
        window in prop::collection::vec(-(1i64 << 40)..(1i64 << 40), 1..40),
        seed in any::<u64>(),
    ) {
        let period = window.len();
        // Same multiset, different order for the order-free indicators.
        let mut shuffled = window.clone();
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            shuffled.swap(i, (s % (i as u64 + 1)) as usize);
        }
        let mut a = (Sma::new(period).unwrap(), StdDev::new(period, 0).unwrap(),
                     Bollinger::new(period, 2.0).unwrap(), Donchian::new(period).unwrap(),
                     Wma::new(period).unwrap());
        let mut b = (Sma::new(period).unwrap(), StdDev::new(period, 0).unwrap(),
                     Bollinger::new(period, 2.0).unwrap(), Donchian::new(period).unwrap(),
                     Wma::new(period).unwrap());
        for &x in history_a.iter().chain(&window) {
            a.0.update_raw(x); a.1.update_raw(x); a.2.update_raw(x); a.3.update_raw(x);
            a.4.update_raw(x);
        }
        for &x in &history_b {
            b.4.update_raw(x);
        }
        for &x in &window {
            b.4.update_raw(x);
        }
        for &x in history_b.iter().chain(&shuffled) {
            b.0.update_raw(x); b.1.update_raw(x); b.2.update_raw(x); b.3.update_raw(x);
        }
        prop_assert_eq!(a.0.value_raw(), b.0.value_raw());
        prop_assert_eq!(opt_bits(a.1.value()), opt_bits(b.1.value()));
        prop_assert_eq!(a.2.bands().map(|v| v.upper.to_bits()), b.2.bands().map(|v| v.upper.to_bits()));
        prop_assert_eq!(a.3.middle_raw(), b.3.middle_raw());
        prop_assert_eq!(a.4.value_raw(), b.4.value_raw());
    }

    #[test]
    fn donchian_matches_naive_max_min(
        highs in prop::collection::vec(any::<i64>(), 0..300),
        spread in prop::collection::vec(0i64..1_000, 300),
        period in 1usize..40,
    ) {
        let lows: Vec<i64> = highs.iter().zip(&spread)
            .map(|(&h, &s)| h.saturating_sub(s)).collect();
        let mut d = Donchian::new(period).unwrap();
        for i in 0..highs.len() {
            d.update_bar(highs[i], lows[i]).unwrap();
            if i + 1 < period {
                prop_assert_eq!(d.upper_raw(), None);
                continue;
            }
            let lo = i + 1 - period;
            let hi = highs[lo..=i].iter().copied().max();
            let lw = lows[lo..=i].iter().copied().min();
            prop_assert_eq!(d.upper_raw(), hi);
            prop_assert_eq!(d.lower_raw(), lw);
            let mid = ref_round(i128::from(hi.unwrap()) + i128::from(lw.unwrap()), 2);
            prop_assert_eq!(d.middle_raw().map(i128::from), Some(mid));
        }
    }

    #[test]
    fn wma_and_stddev_match_naive_windows(xs in any_raw(200), period in 1usize..25) {
        let mut w = Wma::new(period).unwrap();
        let mut sd = StdDev::new(period.max(2), 1).unwrap();
        let sp = period.max(2);
        for (i, &x) in xs.iter().enumerate() {
            w.update_raw(x);
            sd.update_raw(x);
            if i + 1 >= period {
                let win = &xs[i + 1 - period..=i];
                let num: i128 = win.iter().enumerate()
                    .map(|(k, &v)| (k as i128 + 1) * i128::from(v)).sum();
                let den = (period * (period + 1) / 2) as i128;
                prop_assert_eq!(w.value_raw().map(i128::from), Some(ref_round(num, den)));
            }
            if i + 1 >= sp {
                let win = &xs[i + 1 - sp..=i];
                let n = sp as i128;
                let s: i128 = win.iter().map(|&v| i128::from(v)).sum();
                let q: i128 = win.iter().map(|&v| i128::from(v) * i128::from(v)).sum();
                let m2 = n * q - s * s; // exact in this domain
                let want = ((m2 as f64) / ((n * (n - 1)) as f64)).sqrt() / 1e9;
                prop_assert_eq!(sd.value(), Some(want));
            }
        }
    }

    #[test]
    fn streaming_equals_batch(xs in raw_prices(300), spreads in prop::collection::vec(0i64..5_000_000_000, 300),
                              vols in prop::collection::vec(0i64..1_000_000_000_000, 300),
                              period in 1usize..20) {
        let n = xs.len();
        let highs: Vec<i64> = xs.iter().zip(&spreads).map(|(&x, &s)| x + s).collect();
        let lows: Vec<i64> = xs.iter().zip(&spreads).map(|(&x, &s)| x - s / 2).collect();
        let vols = &vols[..n];
        let raw: &[i64] = &xs;

        macro_rules! check_single {
            ($ctor:expr, $batch:expr) => {{
                let mut ind = $ctor;
                let stream: Vec<f64> = xs.iter().map(|&x| { ind.update_raw(x); opt_bits_f(ind.value()) }).collect();
                prop_assert_eq!(bits(&stream), bits(&$batch));
            }};
        }
        fn opt_bits_f(v: Option<f64>) -> f64 { v.unwrap_or(f64::NAN) }
        check_single!(Sma::new(period).unwrap(), batch::sma(raw, period).unwrap());
        check_single!(Ema::new(period).unwrap(), batch::ema(raw, period).unwrap());
        check_single!(Wma::new(period).unwrap(), batch::wma(raw, period).unwrap());
        check_single!(Rsi::new(period).unwrap(), batch::rsi(raw, period).unwrap());
        check_single!(Roc::new(period).unwrap(), batch::roc(raw, period).unwrap());
        check_single!(Momentum::new(period).unwrap(), batch::momentum(raw, period).unwrap());
        check_single!(StdDev::new(period, 0).unwrap(), batch::stddev(raw, period, 0).unwrap());

        let m = batch::macd(raw, period, period + 3, 4).unwrap();
        let mut mi = Macd::new(period, period + 3, 4).unwrap();
        let b = batch::bollinger(raw, period, 2.0).unwrap();
        let mut bi = Bollinger::new(period, 2.0).unwrap();
        let a = batch::atr(&highs[..], &lows[..], raw, period).unwrap();
        let mut ai = Atr::new(period).unwrap();
        let v = batch::vwap(&highs[..], &lows[..], raw, vols, VwapSessions::default()).unwrap();
        let mut vi = Vwap::new(None, 0).unwrap();
        let d = batch::donchian(&highs[..], &lows[..], period).unwrap();
        let mut di = Donchian::new(period).unwrap();
        for i in 0..n {
            mi.update_raw(xs[i]);
            prop_assert_eq!(opt_bits(mi.line()), m.line[i].to_bits());
            prop_assert_eq!(opt_bits(mi.signal()), m.signal[i].to_bits());
            prop_assert_eq!(opt_bits(mi.histogram()), m.histogram[i].to_bits());
            bi.update_raw(xs[i]);
            prop_assert_eq!(opt_bits(bi.bands().map(|x| x.lower)), b.lower[i].to_bits());
            prop_assert_eq!(opt_bits(bi.bands().map(|x| x.percent_b)), b.percent_b[i].to_bits());
            ai.update_bar(highs[i], lows[i], xs[i]).unwrap();
            prop_assert_eq!(opt_bits(ai.value()), a[i].to_bits());
            vi.update_bar(0, highs[i], lows[i], xs[i], vols[i]).unwrap();
            prop_assert_eq!(opt_bits(vi.value()), v[i].to_bits());
            di.update_bar(highs[i], lows[i]).unwrap();
            prop_assert_eq!(opt_bits(di.value()), d.middle[i].to_bits());
        }
        // Float prices take the same path once on the grid.
        let floats: Vec<f64> = xs.iter().map(|&x| raw_to_f64(x)).collect();
        prop_assert_eq!(bits(&batch::sma(&PriceSeries(&floats), period).unwrap()),
                        bits(&batch::sma(raw, period).unwrap()));
    }

    #[test]
    fn float_round_trip_on_the_grid(raw in -(1i64 << 52)..(1i64 << 52)) {
        prop_assert_eq!(raw_from_f64(raw_to_f64(raw)).unwrap(), raw);
    }

    #[test]
    fn constant_series_stay_exact(c in 1i64..1_000_000_000_000_000, period in 1usize..30, len in 1usize..400) {
        let mut e = Ema::new(period).unwrap();
        let mut r = Rsi::new(period).unwrap();
        let mut a = Atr::new(period).unwrap();
        let mut b = Bollinger::new(period, 2.0).unwrap();
        for _ in 0..len {
            e.update_raw(c); r.update_raw(c); a.update_bar(c, c, c).unwrap(); b.update_raw(c);
        }
        if len >= period {
            prop_assert_eq!(e.value(), Some(raw_to_f64(c)));
            prop_assert_eq!(a.value(), Some(0.0));
            let bands = b.bands().unwrap();
            prop_assert_eq!(bands.upper, raw_to_f64(c));
            prop_assert_eq!(bands.lower, raw_to_f64(c));
        }
        if len > period {
            prop_assert_eq!(r.value(), Some(50.0));
        }
    }
}

#[test]
fn no_drift_over_a_million_updates() {
    // A long random walk: after 1,000,000 updates, the streaming SMA still equals the
    // mean of its window computed from scratch, and two SMAs over the same window agree.
    let mut x: i64 = 100_000_000_000;
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    let period = 50;
    let mut sma = Sma::new(period).unwrap();
    let mut tail = std::collections::VecDeque::new();
    for _ in 0..1_000_000 {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x += (s % 2_000_001) as i64 - 1_000_000;
        sma.update_raw(x);
        tail.push_back(x);
        if tail.len() > period {
            tail.pop_front();
        }
    }
    let sum: i128 = tail.iter().map(|&v| i128::from(v)).sum();
    assert_eq!(
        sma.value_raw().map(i128::from),
        Some(ref_round(sum, period as i128))
    );
    let mut fresh = Sma::new(period).unwrap();
    for &v in &tail {
        fresh.update_raw(v);
    }
    assert_eq!(fresh.value_raw(), sma.value_raw());
}

#[test]
fn indicators_are_usable_as_trait_objects() {
    let mut list: Vec<Box<dyn Indicator>> = vec![
        Box::new(Sma::new(2).unwrap()),
        Box::new(Ema::new(2).unwrap()),
        Box::new(Wma::new(2).unwrap()),
        Box::new(Rsi::new(2).unwrap()),
        Box::new(Macd::new(2, 3, 2).unwrap()),
        Box::new(Bollinger::new(2, 2.0).unwrap()),
        Box::new(Atr::new(2).unwrap()),
        Box::new(StdDev::new(2, 0).unwrap()),
        Box::new(Vwap::new(None, 0).unwrap()),
        Box::new(Roc::new(2).unwrap()),
        Box::new(Momentum::new(2).unwrap()),
        Box::new(Donchian::new(2).unwrap()),
    ];
    let bar = BarInput {
        high: 11_000_000_000,
        low: 9_000_000_000,
        close: 10_000_000_000,
        volume: 1_000_000_000,
        ts_ns: 0,
    };
    for _ in 0..4 {
        for ind in &mut list {
            ind.update_bar_input(&bar).unwrap();
        }
    }
    for ind in &mut list {
        assert!(ind.is_ready(), "{}", ind.name());
        assert!(ind.value().is_some(), "{}", ind.name());
        assert_eq!(ind.count(), 4);
        ind.reset();
        assert!(!ind.is_ready(), "{}", ind.name());
        assert_eq!(ind.count(), 0);
    }
}
