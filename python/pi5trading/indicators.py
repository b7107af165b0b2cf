"""Technical indicators: streaming objects updated in Rust, and batch forms over NumPy arrays.

Streaming (one object per indicator, O(1) per update, no allocation after construction)::

    from pi5trading.indicators import SMA

    fast, slow = SMA(10), SMA(30)
    for close in closes:
        fast.update(close)        # float, int (whole units) or Decimal
        slow.update(close)
        if fast.value > slow.value:   # False while either is warming up (NaN)
            ...

Batch (research, vectorised use)::

    import numpy as np
    from pi5trading.indicators import sma, bollinger

    out = sma(np.asarray(closes), 20)       # float64 array, NaN during warm-up
    middle, upper, lower, pct_b, bandwidth = bollinger(closes, 20, 2.0)

Every input is put on the engine's fixed-point grid (10^-9, round half to even) before it
is used: ``update_raw(int)`` and ``raw=True`` (an ``int64`` array) take raw units directly.
The batch functions run the streaming code over the series, so both forms give identical
floats. Sums (SMA, WMA, Bollinger middle, standard deviation numerator, VWAP, Donchian,
momentum) are exact integers: equal windows give equal values, with no drift however
long the series. EMA, RSI, MACD and ATR smooth recursively in f64 from exact inputs.

``value`` is NaN until ``is_ready``; exact indicators also expose ``value_raw`` (``int``
raw units, ``None`` until ready). See ``docs/indicators.md`` for formulas and warm-up.

``CrossOver`` follows two series (``update(a, b)``): ``value`` is +1 on the update where
the first moved above the second, -1 where it moved below, 0 otherwise. Strategies get
one fed by the engine from ``Strategy.crossover`` / ``crossover_level``.
"""

from __future__ import annotations

from pi5trading._core import (
    ATR,
    EMA,
    MACD,
    ROC,
    RSI,
    SMA,
    VWAP,
    WMA,
    BollingerBands,
    CrossOver,
    Donchian,
    Momentum,
    StdDev,
    atr,
    bollinger,
    donchian,
    ema,
    macd,
    momentum,
    roc,
    rsi,
    sma,
    stddev,
    vwap,
    wma,
)

#: Every streaming indicator class.
STREAMING = (
    SMA,
    EMA,
    WMA,
    RSI,
    MACD,
    BollingerBands,
    ATR,
    StdDev,
    VWAP,
    ROC,
    Momentum,
    Donchian,
)

__all__ = [
    "ATR",
    "EMA",
    "MACD",
    "ROC",
    "RSI",
    "SMA",
    "STREAMING",
    "VWAP",
    "WMA",
    "BollingerBands",
    "CrossOver",
    "Donchian",
    "Momentum",
    "StdDev",
    "atr",
    "bollinger",
    "donchian",
    "ema",
    "macd",
    "momentum",
    "roc",
    "rsi",
    "sma",
    "stddev",
    "vwap",
    "wma",
]
