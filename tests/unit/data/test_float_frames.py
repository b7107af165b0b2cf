"""A BarFrame built from float64 columns keeps them (no raw copy) and behaves exactly like
one built from raw columns: the same checks, the same line numbers, the same fills."""

from __future__ import annotations

import numpy as np
import pytest

import pi5trading.data.bars as bars_module
from pi5trading.data import BarFrame
from pi5trading.data.bars import BarDataError, check_bars, check_tick
from pi5trading.data.exact import raw_from_floats
from pi5trading.data.synthetic import random_walk_bars
from pi5trading.engine import BacktestRunner
from pi5trading.exceptions import InvalidInputError
from pi5trading.strategies.sma_crossover import MovingAverageCrossover


def _floats(n: int = 3000) -> dict[str, np.ndarray]:
    return random_walk_bars(n, seed=7)


def test_float_columns_are_kept_not_copied() -> None:
    d = _floats()
    f = BarFrame.from_columns(d, "mem")
    _ts, cols = f.engine_columns()
    for name, col in zip(("open", "high", "low", "close", "volume"), cols, strict=True):
        assert np.shares_memory(col, d[name]), name
        assert col.dtype == np.float64
    # The caller's arrays keep their own flags; the frame's views are read-only.
    assert d["close"].flags.writeable
    assert not f.close.flags.writeable
    raw, bad = raw_from_floats(d["close"])
    assert not bad.any()
    np.testing.assert_array_equal(f.close_raw, raw)


def test_float_and_raw_frames_trade_identically() -> None:
    d = _floats()
    floats = BarFrame.from_columns(d, "floats")
    raw = BarFrame.from_raw(d["ts"], *floats.raw_columns()[1:], source="raw")
    assert floats.engine_columns()[1][0].dtype == np.float64
    assert raw.engine_columns()[1][0].dtype == np.int64

    def fills(frame: BarFrame) -> list[tuple[int, str, int, int]]:
        runner = BacktestRunner(risk=None)
        runner.add_bars("SIM", frame)
        runner.add_strategy(MovingAverageCrossover({"fast": 5, "slow": 20, "quantity": 10}))
        result = runner.run()
        return [(f.ts, f.side, f.quantity_raw, f.price_raw) for f in result.fills]

    got = fills(floats)
    assert got, "the strategy should trade on 3,000 random-walk bars"
    assert got == fills(raw)


def test_bad_float_rows_are_named_by_line_across_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Small blocks, so rows in the second and third block are checked by a later block.
    monkeypatch.setattr(bars_module, "_BLOCK", 64)
    d = {k: v.copy() for k, v in _floats(200).items()}
    d["close"][10] = np.nan
    d["high"][70] = d["low"][70] - 1.0  # high below low: below max(open, close)
    d["volume"][150] = -5.0
    f = BarFrame.from_columns(d, "mem.csv")
    with pytest.raises(BarDataError) as err:
        check_bars(f)
    found = {(p.line, p.field): p.message.split(" =")[0] for p in err.value.problems}
    assert found == {
        (11, "close"): "not a number",
        (71, "high"): "below max(open, close)",
        (151, "volume"): "negative",
    }
    fixed, report = check_bars(f, "repair")
    assert len(fixed) == 197
    assert report.kept == 197
    assert fixed.engine_columns()[1][0].dtype == np.float64  # still floats after repair


def test_price_decimals_and_tick_over_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bars_module, "_BLOCK", 16)
    n = 100
    ts = np.arange(n, dtype=np.int64) * 60_000_000_000 + 1_700_000_000_000_000_000
    px = np.full(n, 10.25)
    px[90] = 10.255  # the one price off a 0.01 tick, in the last block
    f = BarFrame(ts, px, px + 0.5, px - 0.5, px)
    assert f.price_decimals == 3
    with pytest.raises(BarDataError, match=r"line 91.*tick 0.01"):
        check_tick(f, 10_000_000)


def test_a_float_beyond_the_raw_range_is_refused_by_position() -> None:
    d = {k: v.copy() for k, v in _floats(50).items()}
    d["open"][7] = 1e12
    with pytest.raises(InvalidInputError, match=r"open\[7\] = 1000000000000.0 is not an exact"):
        BarFrame.from_columns(d, "mem")


def test_a_frame_pickles_as_its_columns_and_comes_back_aligned() -> None:
    """What a cluster's workers receive: the columns (not the float cache), and arrays the
    engine accepts even when the buffer they arrive in is misaligned."""
    import pickle

    f = BarFrame.from_columns(random_walk_bars(1000, seed=3), "gen").between(None, None)
    _ = f.close  # fills the float cache, which must not travel
    data = pickle.dumps(f, protocol=5)
    assert len(data) < 1000 * 8 * 6 + 2000
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(f, protocol=5, buffer_callback=buffers.append)
    # Each out-of-band buffer one byte off its alignment, as a network frame may be.
    odd = []
    for b in buffers:
        raw = bytearray(len(b.raw()) + 1)
        raw[1:] = b.raw()
        odd.append(memoryview(raw)[1:])
    g = pickle.loads(data, buffers=odd)
    assert g.ts.flags.aligned
    assert g.ts.flags.c_contiguous
    assert np.array_equal(g.ts, f.ts)
    assert np.array_equal(g.close, f.close)
    r = BacktestRunner(risk=None)
    r.add_bars("SIM", g)
    r.add_strategy(MovingAverageCrossover({"fast": 5, "slow": 20}))
    assert len(r.run().trades) > 0
