"""Load on a live node, CI-sized (benches/live_load.py runs it for minutes under
`make proof`): `pi5trading serve` with six strategies on 24 quoted symbols, REST pollers,
an order probe and 100 WebSocket clients, one of them too slow.

Correctness only, never time: the slow client is dropped with its reason and no other is;
every other client got the same stream, in order, nothing missing or doubled; no 5xx;
every fill the node logged is stored once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from benches.live_load import run_load, stream_gaps

from tests.integration.live_node import check_orders_and_fills, logged_fills, stored_fills

pytestmark = pytest.mark.integration


def test_a_hundred_live_clients_one_slow_none_else_dropped(pg_dsn: str, tmp_path: Path) -> None:
    # A queue of 200 messages per client: the slow one is dropped within seconds (its
    # socket's kernel buffer is bounded too: pi5trading.api.ws_protocol).
    load, result, text = run_load(pg_dsn, "", tmp_path, seconds=3, channel_queue=200)

    assert result.dropped_clients == 1, result
    assert result.slow_close_code == 4008, result
    assert result.slow_close_reason.startswith("slow client:"), result
    assert all(log.closed_code is None for log in load.logs), [
        (log.closed_code, log.closed_reason) for log in load.logs if log.closed_code
    ]
    assert stream_gaps(load.logs) == []
    assert all(log.hashes for log in load.logs)
    assert result.rest_5xx == 0, result.rest_statuses
    assert result.orders_placed > 0
    # Each probe order reached every client.
    for log in load.logs:
        assert set(load.placed) <= set(log.first_seen), "a client missed a probe order"
    assert logged_fills(text) == stored_fills(pg_dsn)
    check_orders_and_fills(pg_dsn)
