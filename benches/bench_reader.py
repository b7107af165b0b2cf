"""Bar file reading (pytest-benchmark; run by ``make bench``, never by ``make test``).

One million one-minute bars (two-decimal prices, integer volume) read into exact columns
by ``pi5trading.data.reader.read_bars``: CSV with ISO 8601 or epoch-second timestamps, and
Parquet with float columns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from pi5trading.data import random_walk_bars, read_bars

ROWS = 1_000_000


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = random_walk_bars(ROWS)
    root = tmp_path_factory.mktemp("bars")
    iso = np.datetime_as_string(d["ts"].astype("datetime64[ns]"), unit="s")
    secs = (d["ts"] // 10**9).tolist()
    cols = zip(d["open"], d["high"], d["low"], d["close"], d["volume"].astype(int), strict=True)
    body = [f"{o:.2f},{h:.2f},{lo:.2f},{c:.2f},{v}" for o, h, lo, c, v in cols]
    header = "timestamp,open,high,low,close,volume\n"
    out = {"iso": root / "iso.csv", "epoch": root / "epoch.csv", "parquet": root / "bars.parquet"}
    out["iso"].write_text(header + "".join(f"{t}Z,{r}\n" for t, r in zip(iso, body, strict=True)))
    out["epoch"].write_text(header + "".join(f"{t},{r}\n" for t, r in zip(secs, body, strict=True)))
    table = pa.table({k: d[k] for k in ("open", "high", "low", "close", "volume")})
    table = table.append_column("timestamp", pa.array(d["ts"], pa.timestamp("ns", tz="UTC")))
    pq.write_table(table, out["parquet"])
    return out


@pytest.mark.parametrize("kind", ["iso", "epoch", "parquet"])
def test_read_1m_bars(benchmark: BenchmarkFixture, files: dict[str, Path], kind: str) -> None:
    frame, report = benchmark.pedantic(read_bars, args=(files[kind],), rounds=3, iterations=1)
    assert len(frame) == ROWS
    assert report.price_decimals == 2
