"""The sinks' per-event work done in the core gives what the Python reference gives, byte
for byte: bars as storage rows (``_core.bar_rows`` vs ``RecordConverter`` +
``TableSpec.encode``), rows as COPY text (``_core.copy_text`` vs
``copy_payload_python``), bars as channel JSON (``_core.bar_message`` vs ``to_message`` +
msgspec), and a whole recorded run stored both ways into identical tables."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pi5trading import _core
from pi5trading.bus import Bus
from pi5trading.sinks.messages import DECODER, ENCODER, to_message
from pi5trading.sinks.records import RecordConverter
from pi5trading.sinks.storage import StorageSink
from pi5trading.storage import EventWriter, Journal, SqlRepository
from pi5trading.storage.errors import DatabaseUnavailableError
from pi5trading.storage.migrate import migrate
from pi5trading.storage.postgres import _insert_sql
from pi5trading.storage.records import (
    AuditRow,
    BarRow,
    EngineEvent,
    as_record,
    bar_record,
)
from pi5trading.storage.repository import create_breaker
from pi5trading.storage.sqlite import SqliteDriver
from pi5trading.storage.tables import spec_for
from tests.unit.sinks.engine_events import Recorded, record_run
from tests.unit.sinks.market_data import market_data

pytestmark = pytest.mark.anyio

ODD = [
    # Printable ASCII symbols with what JSON and COPY must escape; far and near times.
    _core.Bar(_core.BarType('X"Y\\Z', "5m"), "0.000000001", "1000", "0", "0.5", "0", 300 * 10**9),
    _core.Bar(_core.BarType("BTC/USD", "1d"), "-3.50", "-1", "-4.25", "-2", "1.000000000", 1),
    _core.Bar(
        _core.BarType("A.B", "1h"),
        "92233720.368547758",
        "92233720.368547758",
        "1",
        "2",
        "3",
        2**64 - 1,
    ),
    _core.Bar("LEAP-1m", "1", "1", "1", "1", "1", 951_782_400 * 10**9 + 59 * 10**9 + 7),
]


@pytest.fixture(scope="module")
def run() -> Recorded:
    return record_run()


def bars_of(run: Recorded) -> list[_core.Bar]:
    bars = [m for _, m in run.messages if isinstance(m, _core.Bar)]
    bars += [m for _, m in market_data(3000) if isinstance(m, _core.Bar)]
    return bars + ODD


def python_rows(bars: list[_core.Bar]) -> list[tuple[Any, ...]]:
    records = RecordConverter().convert_many(bars)
    return spec_for(BarRow).encode(records, json_text=True, bool_int=True)


def test_bar_rows_are_the_converters_encoded_rows(run: Recorded) -> None:
    bars = bars_of(run)
    assert len(bars) > 500
    assert _core.bar_rows(bars) == python_rows(bars)
    # Back to records: the converter's own BarRows (the journal stores these).
    assert [bar_record(r) for r in _core.bar_rows(bars)] == RecordConverter().convert_many(bars)  # type: ignore[arg-type]


def test_bar_rows_keep_other_payloads_in_place(run: Recorded) -> None:
    payloads = [m for _, m in run.messages]
    out = _core.bar_rows(payloads)
    assert len(out) == len(payloads)
    for m, o in zip(payloads, out, strict=True):
        if isinstance(m, _core.Bar):
            assert o == python_rows([m])[0]
        else:
            assert o is m
    with pytest.raises(TypeError):
        _core.bar_rows(42)  # type: ignore[arg-type]


def test_copy_text_is_the_python_copy_payload(run: Recorded) -> None:
    records = RecordConverter().convert_many(m for _, m in run.messages)
    records.append(
        AuditRow("tab\tnew\nline\rback\\slash", 5, "x", "success", details={"k": "a\tb\\"})
    )
    by_type: dict[type, list[EngineEvent]] = {}
    for r in records:
        by_type.setdefault(type(r), []).append(r)
    assert len(by_type) >= 6
    for typ, recs in by_type.items():
        spec = spec_for(typ)
        rows = spec.encode(spec.dedupe_by_key(recs), json_text=True, bool_int=False)
        sql = _insert_sql(spec)
        assert _core.copy_text(rows) == sql.copy_payload_python(rows), typ.__name__
    bar_rows = python_rows(bars_of(run))
    assert _core.copy_text(bar_rows) == _insert_sql(spec_for(BarRow)).copy_payload_python(bar_rows)
    # Values of other types are written as Python's str() writes them.
    odd = [(True, 1.5, None, 2**70, "")]
    assert _core.copy_text(odd) == b"True\t1.5\t\\N\t1180591620717411303424\t\n"


def test_bar_message_is_the_msgspec_message(run: Recorded) -> None:
    for bar in bars_of(run):
        msg = to_message(bar)
        assert msg is not None
        assert bar.topic == msg.topic == bar.bar_type.topic
        assert _core.bar_message(bar) == ENCODER.encode(msg)
        assert DECODER.decode(_core.bar_message(bar)) == msg


def test_bar_message_times_over_the_calendar() -> None:
    # Every day boundary of a leap-year cycle and a century, against the datetime module.
    day = 86_400 * 10**9
    for k in range(0, 200 * 366, 37):
        ts = k * day + (k * 7919) % day
        bar = _core.Bar("T-1m", "1", "1", "1", "1", "1", ts)
        sent = msgspec.json.decode(_core.bar_message(bar))["ts"]
        whole = dt.datetime.fromtimestamp(ts // 10**9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        assert sent == f"{whole}.{ts % 10**9:09d}Z"


async def stored(tmp_path: Path, run: Recorded, *, core_bars: bool) -> dict[str, list[Any]]:
    driver = await SqliteDriver.open(tmp_path / f"core-{core_bars}.db")
    await migrate(driver)
    repo = SqlRepository(driver, create_breaker())
    try:
        writer = EventWriter(repo, Journal(tmp_path / f"core-{core_bars}.journal"), batch_size=300)
        sink = StorageSink(writer, repo, core_bars=core_bars)
        bus = Bus()
        sink.subscribe(bus)
        await sink.start()
        for topic, payload in [*run.messages, *market_data(2000)]:
            bus.publish(topic, payload)
        await sink.close()
        tables = {}
        for table in (
            "bars", "quote_ticks", "trade_ticks", "orders", "order_events", "fills",
            "position_snapshots", "equity_snapshots", "audit_log", "alerts",
        ):  # fmt: skip
            async with repo.driver.connection() as conn:
                tables[table] = sorted(map(tuple, await conn.fetch(f"SELECT * FROM {table}")))
        return tables
    finally:
        await repo.close()


async def test_a_run_stored_with_core_bars_is_identical(run: Recorded, tmp_path: Path) -> None:
    fast = await stored(tmp_path, run, core_bars=True)
    reference = await stored(tmp_path, run, core_bars=False)
    assert len(fast["bars"]) > 400
    assert fast == reference


async def test_encoded_bars_go_to_the_journal_as_bar_rows(tmp_path: Path) -> None:
    # The database is down: the writer journals encoded bars as the BarRows they are, and
    # replays them once it is back.
    bars = bars_of(Recorded())
    rows = _core.bar_rows(bars)
    driver = await SqliteDriver.open(tmp_path / "j.db")
    await migrate(driver)
    breaker = create_breaker(failure_threshold=1, reset_timeout=0.01)
    repo = SqlRepository(driver, breaker)
    journal = Journal(tmp_path / "j.journal")
    try:
        breaker.record_failure(DatabaseUnavailableError("down"))
        writer = EventWriter(repo, journal, batch_size=100)
        await writer.submit_many(rows)  # type: ignore[arg-type]
        await writer.flush()
        assert writer.stats().journaled == len(rows)
        journaled = [e for _, frame in journal.frames() for e in frame]
        assert journaled == [as_record(r) for r in rows]  # type: ignore[arg-type]
        assert all(type(e) is BarRow for e in journaled)
        assert await writer.drain(5.0)
        assert await repo.count_bars("LEAP", "1m") == 1
        # The bar at 2**64 - 1 ns does not fit SQLite's INTEGER: refused alone, the others
        # stored, and the refused one kept as its BarRow.
        assert writer.stats().rejected == 1
        async with repo.driver.connection() as conn:
            assert (await conn.fetch("SELECT count(*) FROM bars"))[0][0] == len(rows) - 1
        rejected = Path(str(journal.path) + ".rejected")
        (line,) = (await asyncio.to_thread(rejected.read_bytes)).splitlines()
        assert msgspec.json.decode(line)["event"]["kind"] == "bar"
    finally:
        await repo.close()


def test_as_record_leaves_records_alone() -> None:
    row = BarRow("A", "1m", 0, *(Decimal(1),) * 5)
    assert as_record(row) is row


def test_first_order_events_is_the_python_scan(run: Recorded) -> None:
    final = {"denied", "rejected", "filled", "cancelled", "expired"}
    payloads = [m for _, m in run.messages]
    for size in (1, 7, 100, len(payloads)):
        known_core: set[str] = set()
        known_py: set[str] = set()
        for start in range(0, len(payloads), size):
            batch = payloads[start : start + size]
            want = []
            for i, m in enumerate(batch):
                if isinstance(m, _core.OrderEvent):
                    if m.client_order_id not in known_py:
                        known_py.add(m.client_order_id)
                        want.append((i, m.client_order_id))
                    if m.status in final:
                        known_py.discard(m.client_order_id)
            assert _core.first_order_events(batch, known_core) == want
            assert known_core == known_py
    assert any(isinstance(m, _core.OrderEvent) for m in payloads)
