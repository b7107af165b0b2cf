"""Reading Alpaca's market data stream: items/s from WebSocket frame text to model objects.

Workload: 1,560 frames of the stand-in's tape (each minute a frame with a trade and a
quote, then one with the minute bar: 2,340 items), read by ``AlpacaStream._read`` (JSON
decode, exact prices on the tick, RFC 3339 times to ns, ``Bar``/``QuoteTick``/
``TradeTick`` construction). No socket: this is the per-message cost the stream adds.
Records ``items_per_s`` in ``extra_info``.

Run: ``.venv/bin/pytest benches/bench_vendor_stream.py --benchmark-only -p no:cacheprovider``
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.standins.alpaca_data import data_frames
from tests.standins.tape import utc

from pi5trading.config import AlpacaSettings
from pi5trading.feeds.alpaca import AlpacaStream

pytestmark = pytest.mark.benchmark

FRAMES = data_frames("AAPL", utc("2024-01-02T14:30"), 2000)
ITEMS = sum(len(json.loads(f)) for f in FRAMES)


def test_stream_frames_to_model_objects(benchmark: Any) -> None:
    stream = AlpacaStream(AlpacaSettings(key_id="bench", secret_key="bench"))

    def read_all() -> None:
        for frame in FRAMES:
            stream._read(frame)
        stream._ready.clear()

    benchmark.pedantic(read_all, rounds=5, iterations=1, warmup_rounds=1)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["items_per_s"] = round(ITEMS / stats.stats.mean)
    assert stream.stats.malformed == 0
