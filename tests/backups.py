"""A database worth backing up (orders, fills, bars … written through the repository) and a
fingerprint of it (every table's row count, a checksum of the orders and fills rows), for the
backup → destroy → restore tests on SQLite and the real PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from decimal import Decimal

import msgspec

from pi5trading.storage.records import (
    BarRow,
    FillRow,
    InstrumentRow,
    OrderEventRow,
    OrderRow,
)
from pi5trading.storage.repository import SqlRepository, create_breaker
from tests.contract.databases import TABLES, open_driver

MIN = 60_000_000_000
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def _orders(n: int) -> list[OrderRow]:
    return [
        OrderRow(
            order_id=f"o{i:04d}",
            strategy_id="s1" if i % 2 else "s2",
            instrument_id="AAPL.XNAS",
            side="buy" if i % 3 else "sell",
            order_type="limit",
            quantity=Decimal(10 + i),
            status="filled",
            created_ns=T0 + i * MIN,
            updated_ns=T0 + i * MIN + 5,
            limit_price=Decimal("99.95") + Decimal(i) / 100,
        )
        for i in range(n)
    ]


def _fills(n: int) -> list[FillRow]:
    return [
        FillRow(
            f"f{i:04d}",
            f"o{i // 2:04d}",
            "s1" if (i // 2) % 2 else "s2",
            "AAPL.XNAS",
            "buy",
            Decimal("0.5") + i,
            Decimal("101.25") + Decimal(i) / 1000,
            Decimal("0.01"),
            T0 + i * MIN + 7,
        )
        for i in range(n)
    ]


def _bars(n: int) -> list[BarRow]:
    out = []
    for i in range(n):
        p = Decimal(100) + Decimal(i) / 100
        out.append(
            BarRow("AAPL.XNAS", "1m", T0 + i * MIN, p, p + 1, p - 1, p + Decimal("0.5"), Decimal(i))
        )
    return out


async def _seed(kind: str, target: str) -> None:
    repo = SqlRepository(await open_driver(kind, target), create_breaker())
    try:
        await repo.upsert_instrument(InstrumentRow("AAPL.XNAS", "AAPL", "XNAS"))
        await repo.insert_bars(_bars(600))
        orders = _orders(60)
        events = [
            OrderEventRow(o.order_id, seq, o.created_ns + seq, status)
            for o in orders
            for seq, status in enumerate(("created", "accepted", "filled"), start=1)
        ]
        await repo.write([*orders, *events, *_fills(120)])
    finally:
        await repo.close()


def seed(kind: str, target: str) -> None:
    """Instruments, 600 bars, 60 orders with 180 events, 120 fills (a migrated database)."""
    asyncio.run(_seed(kind, target))


class Fingerprint(msgspec.Struct, frozen=True):
    rows: dict[str, int]
    """Every table's row count."""
    sha256: dict[str, str]
    """A SHA-256 of the orders and of the fills rows, in key order."""


async def _fingerprint(kind: str, target: str) -> Fingerprint:
    driver = await open_driver(kind, target)
    try:
        async with driver.connection() as conn:
            counts = {
                t: int((await conn.fetch(f"SELECT count(*) FROM {t}"))[0][0])
                for t in (*TABLES, "schema_migrations")
            }
            sums = {}
            for table, key in (("orders", "order_id"), ("fills", "fill_id")):
                rows = await conn.fetch(f"SELECT * FROM {table} ORDER BY {key}")
                sums[table] = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
    finally:
        await driver.close()
    return Fingerprint(counts, sums)


def fingerprint(kind: str, target: str) -> Fingerprint:
    """Every table's row count and a SHA-256 of the orders and fills rows."""
    return asyncio.run(_fingerprint(kind, target))


def delete_some(kind: str, target: str) -> None:
    """Change the database after a backup (half the fills gone, an order edited)."""

    async def run() -> None:
        driver = await open_driver(kind, target)
        try:
            async with driver.transaction() as conn:
                await conn.execute("DELETE FROM fills WHERE fill_id >= 'f0060'")
                await conn.execute("UPDATE orders SET status = 'cancelled' WHERE order_id='o0001'")
        finally:
            await driver.close()

    asyncio.run(run())
