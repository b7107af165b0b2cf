"""The node as ``pi5trading serve`` runs it: configured feed, sinks and demo strategies
wired together on the embedded default (SQLite), trading and recording at once."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import anyio
import pytest

from pi5trading.config import load_settings
from pi5trading.node.runtime import paper_node


def _settings(tmp_path: Path, **env: str) -> object:
    base = {"PI5_DATA_DIR": str(tmp_path), "PI5_FEED__SPEED": "0", "PI5_FEED__SYMBOLS": "AAPL,SPY"}
    return load_settings(env={**base, **env}, dotenv_path=None)


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as c:
        return c.execute(sql).fetchall()


@pytest.mark.anyio
async def test_the_demo_node_trades_and_records_everything(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    async with paper_node(settings) as node:  # type: ignore[arg-type]
        # The demo strategies, and the owner of the orders placed through the API.
        assert set(node.strategies()) == {"demo-sma", "demo-rsi", "manual"}
        for _ in range(200):  # as fast as the node takes them: fills come within seconds
            await asyncio.sleep(0.05)
            if len(await node.call(lambda e: e.fills())) >= 4:
                break
    engine_fills = len(node.engine.fills())  # the node has stopped: its final count
    db = tmp_path / "pi5trading.db"
    assert engine_fills >= 4
    # Every fill the engine made is stored once, after a graceful stop.
    assert _rows(db, "select count(*) from fills")[0][0] == engine_fills
    assert _rows(db, "select count(*) from bars")[0][0] > 0
    # Stopped by the node's shutdown, not by an operator: they run again on a restart,
    # and their runs are closed.
    strategies = dict(_rows(db, "select strategy_id, status from strategies"))
    assert strategies == {"demo-sma": "running", "demo-rsi": "running", "manual": "running"}
    runs = _rows(db, "select strategy_id, status from strategy_runs order by 1")
    assert runs == [("demo-rsi", "stopped"), ("demo-sma", "stopped"), ("manual", "stopped")]
    configs = dict(_rows(db, "select strategy_id, config from strategies"))
    assert json.loads(str(configs["demo-sma"]))["fast"] == 5


@pytest.mark.anyio
async def test_demo_strategies_can_be_switched_off(tmp_path: Path) -> None:
    settings = _settings(tmp_path, PI5_NODE__DEMO_STRATEGIES="false")
    async with paper_node(settings) as node:  # type: ignore[arg-type]
        assert node.strategies() == {"manual": "running"}  # the API's orders only
        await asyncio.sleep(0.2)
    assert _rows(tmp_path / "pi5trading.db", "select count(*) from fills")[0][0] == 0


@pytest.mark.anyio
async def test_a_replay_of_the_stored_bars_trades_on_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """PI5_FEED__KIND=replay without a folder replays the bars in the database (it could
    not start: the node gave its feed no database)."""
    from click.testing import CliRunner

    from pi5trading.cli import main
    from pi5trading.data.synthetic import random_walk_bars

    walk = random_walk_bars(390, seed=3, market_hours=True)
    lines = ["timestamp,open,high,low,close,volume"]
    cols = ("open", "high", "low", "close", "volume")
    for i, ts in enumerate(walk["ts"]):
        lines.append(",".join([str(int(ts)), *(f"{float(walk[c][i]):.2f}" for c in cols)]))
    csv = tmp_path / "AAPL.csv"
    csv.write_text("\n".join(lines) + "\n")
    env = {"PI5_DATA_DIR": str(tmp_path)}
    args = ["data", "import", str(csv), "-i", "AAPL"]
    done = await anyio.to_thread.run_sync(lambda: CliRunner(env=env).invoke(main, args))
    assert done.exit_code == 0, done.output
    settings = _settings(tmp_path, PI5_FEED__KIND="replay", PI5_FEED__SYMBOLS="AAPL,MSFT")
    caplog.set_level("INFO", logger="pi5trading.feeds")
    async with paper_node(settings) as node:  # type: ignore[arg-type]
        for _ in range(200):
            await asyncio.sleep(0.05)
            if any("replay finished" in r.getMessage() for r in caplog.records):
                break
    messages = [r.getMessage() for r in caplog.records]
    assert "replay finished: 390 events" in messages
    assert "replay: nothing to play for MSFT (stored MSFT 1m bars: none in the range)" in messages
    assert node.engine.fills()  # the demo strategies traded on them
