"""docs/strategies.md: every ``python`` block runs as pasted, in order."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from tests.venues import fill_rows

DOC = Path(__file__).resolve().parents[3] / "docs" / "strategies.md"


def blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


def test_the_doc_has_a_worked_example() -> None:
    assert len(blocks()) >= 4
    assert "class TrendPullback(Strategy)" in blocks()[0]


def test_every_python_block_runs(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real module, as when the code is pasted into a file: msgspec resolves the
    # Config annotations through sys.modules.
    module = types.ModuleType("strategies_doc")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    for k, code in enumerate(blocks()):
        # dont_inherit: without this test module's ``from __future__ import annotations``.
        exec(compile(code, f"{DOC.name}[block {k}]", "exec", dont_inherit=True), namespace)
    out = capsys.readouterr().out
    # The worked example traded, closed trades, and its stop orders were used.
    result = namespace["result"]
    trades = result.trades  # type: ignore[attr-defined]
    assert len(trades) > 20
    assert re.search(r"^\d+ trades, total return -?\d+\.\d\d%$", out, flags=re.M)
    # Some exits were the resting stop, filled inside a bar (below its open less the
    # 1-tick slippage of a market order).
    bars = namespace["bars"]
    intrabar = [
        f
        for f in fill_rows(result.fills)  # type: ignore[attr-defined]
        if f[4] == "sell"
        and f[6] < round(bars.open[int(np.searchsorted(bars.ts, f[0]))] * 1e9) - 10**7  # type: ignore[attr-defined]
    ]
    assert intrabar
    assert "EMA crossover trades" in out
    assert "strategy file not found" in out
    together = namespace["together"]
    assert {t.strategy_id for t in together.trades} == {  # type: ignore[attr-defined]
        "ma_fast",
        "ma_slow",
        "rsi_mean_reversion",
    }
