"""SQLite's bulk inserts over JSON arrays store exactly what executemany stores.

Every batch goes to three real SQLite files: one through the whole write as one statement
(``_OneStatement``), one through a JSON statement per table, one through executemany (the
driver's path for small batches). Rows, SQL types and the counts the
writes return must match, for odd text, NULLs, big integers, duplicate keys and
out-of-order upserts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pi5trading.storage import SqlRepository, create_breaker
from pi5trading.storage import sqlite as sqlite_driver
from pi5trading.storage.migrate import migrate
from pi5trading.storage.records import AlertRow, BacktestResultRow, BarRow, OrderRow, Record
from pi5trading.storage.sqlite import SqliteDriver
from pi5trading.storage.tables import spec_for

pytestmark = pytest.mark.anyio

TABLES = {"bars": "instrument_id, interval, ts_ns", "alerts": "alert_id", "orders": "order_id"}


@contextlib.asynccontextmanager
async def _repo(path: Path) -> AsyncIterator[SqlRepository]:
    driver = await SqliteDriver.open(path)
    await migrate(driver)
    repo = SqlRepository(driver, create_breaker())
    try:
        yield repo
    finally:
        await repo.close()


async def _dump(repo: SqlRepository) -> dict[str, list[tuple[object, ...]]]:
    out = {}
    async with repo._driver.connection() as conn:
        for table, order in TABLES.items():
            cols = [r[1] for r in await conn.fetch(f"SELECT * FROM pragma_table_info('{table}')")]
            picks = ", ".join(f"{c}, typeof({c})" for c in cols)
            out[table] = [
                tuple(r) for r in await conn.fetch(f"SELECT {picks} FROM {table} ORDER BY {order}")
            ]
    return out


async def _write_both(
    tmp: Path, batches: Sequence[Sequence[Record]], monkeypatch: pytest.MonkeyPatch
) -> None:
    results = []
    for name, one_statement, threshold in (
        ("one statement", True, 1),
        ("json per table", False, 1),
        ("executemany", False, 10**9),
    ):
        monkeypatch.setattr(sqlite_driver, "_ONE_STATEMENT", one_statement)
        monkeypatch.setattr(sqlite_driver, "_JSON_BATCH_MIN", threshold)
        async with _repo(tmp / f"{name}.db") as repo:
            counts: list[int | str] = []
            for batch in batches:
                try:
                    counts.append(await repo.write(batch))
                except Exception as exc:  # both paths must refuse the same batches
                    counts.append(type(exc).__name__)
            results.append((counts, await _dump(repo)))
    assert results[0] == results[2]
    assert results[1] == results[2]


def test_the_json_statement_is_used_for_exact_tables_only() -> None:
    assert sqlite_driver._insert_sql(spec_for(BarRow)).from_json is not None
    assert sqlite_driver._insert_sql(spec_for(OrderRow)).from_json is not None

    # REAL columns (sharpe, win rate …): a JSON round trip of a double is not promised exact.
    assert sqlite_driver._insert_sql(spec_for(BacktestResultRow)).from_json is None


async def test_a_batch_writes_the_same_rows_either_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = ["a\x00b", 'quote " and \\ back', "é\u2028ü😀", "\n\t\r", "", "x" * 10_000, "'; DROP"]
    alerts = [
        AlertRow(f"a{i}", 2**62 + i, "info", "src", text, text[::-1], None if i % 2 else -i, None)
        for i, text in enumerate(odd)
    ]
    bars = [
        BarRow("AAPL.XNAS", "1m", i % 5, Decimal("1.10"), Decimal("2"), Decimal("0.000000001"),
               Decimal("1E+3"), Decimal("-0"))
        for i in range(12)
    ]  # fmt: skip
    orders = [
        OrderRow(f"o{i % 3}", "s", "AAPL.XNAS", "buy", "limit", Decimal(i + 1), status, 1, upd,
                 limit_price=None if i % 2 else Decimal("10.5"), reason=odd[i % len(odd)])
        for i, (status, upd) in enumerate(
            [("created", 5), ("accepted", 7), ("submitted", 3), ("filled", 9), ("cancelled", 9),
             ("rejected", 1), ("accepted", 8), ("filled", 10), ("expired", 2)]
        )
    ]  # fmt: skip
    await _write_both(tmp_path, [alerts, bars, orders, orders[::-1], alerts], monkeypatch)


async def test_a_refused_batch_is_refused_either_way_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok = [AlertRow(f"a{i}", i, "info", "s", "t", "m") for i in range(10)]
    bad_severity = [*ok[:5], AlertRow("z", 1, "loud", "s", "t", "m")]
    too_big = [AlertRow("big", 2**63, "info", "s", "t", "m"), *ok]
    await _write_both(tmp_path, [bad_severity, too_big, ok], monkeypatch)


_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 5), st.integers(-(2**63), 2**63 - 1), _text, st.none() | _text),
        min_size=1,
        max_size=30,
    )
)
def test_any_text_and_integers_round_trip_alike(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    rows: list[tuple[int, int, str, str | None]],
) -> None:
    tmp = tmp_path_factory.mktemp("prop")
    batch = [AlertRow(f"k{k}", ts, "warning", t, t, t, None, by) for k, ts, t, by in rows]
    asyncio.run(_write_both(tmp, [batch, batch[::-1]], monkeypatch))
