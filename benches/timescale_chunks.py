"""TimescaleDB compression by chunk size: how much space one instrument's one-minute bars
take before and after ``compress_chunk``, with the bars' chunks 1, 7 and 30 days long.

    PYTHONPATH=python:. .venv/bin/python benches/timescale_chunks.py [--bars 200000] [--days 1,7,30]

Needs TimescaleDB installed for Debian's PostgreSQL (``sudo scripts/dev/system_deps.sh test``);
starts its own private cluster with it preloaded (tests/services.py). Per chunk size: a
fresh database migrated as ``pi5trading migrate`` does with ``PI5_DATABASE__BARS_CHUNK_DAYS``
set, the bars written through the repository (a random walk, prices to the cent, integer
volumes, 24/7 minutes), every chunk compressed, and the sizes from
``chunk_compression_stats`` (table + indexes + TOAST, before and after). Figures go to
docs/storage.md ("Chunk sizing").
"""

from __future__ import annotations

import argparse
import asyncio
import time
from decimal import Decimal

import asyncpg
from tests.contract.databases import create_pg_database, open_driver
from tests.services import TIMESCALE_OPTIONS, PostgresServer

from pi5trading.config import load_settings
from pi5trading.data import random_walk_bars
from pi5trading.storage.connect import prepare_database
from pi5trading.storage.records import BarRow
from pi5trading.storage.repository import SqlRepository, create_breaker

MB = 1024 * 1024


def make_bars(n: int) -> list[BarRow]:
    d = random_walk_bars(n, seed=7)
    minute = 60 * 10**9
    return [
        BarRow(
            "AAPL.XNAS",
            "1m",
            int(d["ts"][i]) - minute,
            Decimal(f"{d['open'][i]:.2f}"),
            Decimal(f"{d['high'][i]:.2f}"),
            Decimal(f"{d['low'][i]:.2f}"),
            Decimal(f"{d['close'][i]:.2f}"),
            Decimal(int(d["volume"][i])),
        )
        for i in range(n)
    ]


async def measure(dsn: str, days: int, bars: list[BarRow]) -> tuple[int, int, int, float]:
    settings = load_settings(
        env={"PI5_DATABASE__URL": dsn, "PI5_DATABASE__BARS_CHUNK_DAYS": str(days)},
        dotenv_path=None,
    )
    repo = SqlRepository(await open_driver("postgres", dsn), create_breaker())
    try:
        await prepare_database(settings, repo.driver)
        await repo.insert_bars(bars)
    finally:
        await repo.close()
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        await conn.execute("SELECT compress_chunk(c) FROM show_chunks('bars') c")
        elapsed = time.perf_counter() - started
        row = await conn.fetchrow(
            "SELECT count(*), sum(before_compression_total_bytes),"
            " sum(after_compression_total_bytes) FROM chunk_compression_stats('bars')"
        )
    finally:
        await conn.close()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2]), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=200_000)
    parser.add_argument("--days", default="1,7,30")
    args = parser.parse_args()
    bars = make_bars(args.bars)
    server = PostgresServer(options=TIMESCALE_OPTIONS)
    try:
        server.start()
        print(f"{args.bars:,} one-minute bars of one instrument, TimescaleDB 2.28.3")
        print(f"{'chunk':>8} {'chunks':>6} {'before':>9} {'after':>9} {'saved':>6} {'time':>6}")
        for days in (int(d) for d in args.days.split(",")):
            _, dsn = create_pg_database(server, f"chunks{days}")
            chunks, before, after, elapsed = asyncio.run(measure(dsn, days, bars))
            print(
                f"{days:>6} d {chunks:>6} {before / MB:>6.1f} MB {after / MB:>6.1f} MB"
                f" {1 - after / before:>6.0%} {elapsed:>5.1f}s"
            )
    finally:
        server.close()


if __name__ == "__main__":
    main()
