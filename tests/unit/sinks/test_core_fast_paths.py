"""The sinks' per-event work done in the core gives what the Python reference gives, byte
for byte: bars as storage rows (``_core.bar_rows`` vs ``RecordConverter`` +
``TableSpec.encode``), rows as COPY text (``_core.copy_text`` vs
``copy_payload_python``), bars as channel JSON (``_core.bar_message`` vs ``to_message`` +
msgspec), and a whole recorded run stored both ways into identical tables."""

from __future__ import annotations

import asyncio
import datetime as dt
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from pi5trading import _core
from pi5trading.bus import Bus
from pi5trading.data import BarFrame, random_walk_bars
from pi5trading.engine import BacktestRunner
from pi5trading.engine.denials import RiskDenialWarning
from pi5trading.events import StrategyStatus
from pi5trading.model import Bar
from pi5trading.risk import RiskEngine
from pi5trading.sinks.messages import DECODER, ENCODER, to_message
from pi5trading.sinks.records import RecordConverter
from pi5trading.sinks.storage import StorageSink, restore_converter
from pi5trading.storage import EventWriter, Journal, SqlRepository
from pi5trading.storage.errors import DatabaseUnavailableError
from pi5trading.storage.migrate import migrate
from pi5trading.storage.postgres import _insert_sql
from pi5trading.storage.records import (
    AuditRow,
    BarRow,
    EncodedRow,
    EngineEvent,
    FillRow,
    OrderRow,
    as_record,
    bar_record,
    encoded_record,
)
from pi5trading.storage.repository import create_breaker
from pi5trading.storage.sqlite import SqliteDriver
from pi5trading.storage.tables import spec_for, spec_for_tag
from tests.unit.sinks.engine_events import Recorded, Trader, record_run
from tests.unit.sinks.market_data import market_data
from tests.venues import no_cost_venue

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


async def stored(
    tmp_path: Path, run: Recorded, *, core_bars: bool, core_records: bool | None = None
) -> dict[str, list[Any]]:
    core_records = core_bars if core_records is None else core_records
    driver = await SqliteDriver.open(tmp_path / f"core-{core_bars}-{core_records}.db")
    await migrate(driver)
    repo = SqlRepository(driver, create_breaker())
    try:
        journal = Journal(tmp_path / f"core-{core_bars}-{core_records}.journal")
        writer = EventWriter(repo, journal, batch_size=300)
        sink = StorageSink(writer, repo, core_bars=core_bars, core_records=core_records)
        assert sink.converter.core is core_records
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
    # Each fast path alone too.
    assert await stored(tmp_path, run, core_bars=True, core_records=False) == reference
    assert await stored(tmp_path, run, core_bars=False, core_records=True) == reference


async def test_a_run_with_modifies_and_odd_terms_is_stored_identically(tmp_path: Path) -> None:
    run = modify_run()
    kinds = {m.kind for m in run.payloads(_core.OrderEvent)}  # type: ignore[attr-defined]
    assert {"modify_accepted", "filled", "denied", "cancelled"} <= kinds
    fast = await stored(tmp_path, run, core_bars=True)
    reference = await stored(tmp_path, run, core_bars=False)
    assert len(fast["order_events"]) > 100
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


class ModifyTrader(Trader):
    """The recorded run's trades, plus: each resting limit sell modified twice in one bar
    (two modifies in one batch), and a reduce-only GTD limit buy with odd tags, resting
    far below the market until it is cancelled."""

    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        close = bar.close.as_decimal()
        limits = [o for o in self.out.orders.values() if o.order_type == "limit"]
        if self.i % 21 == 8 and limits:
            oid = limits[-1].client_order_id
            self.modify(oid, price=close + Decimal("0.07"))
            self.modify(oid, quantity=2, price=close + Decimal("0.11"))
        if self.i == 30:
            self._send(
                "buy",
                1,
                "limit",
                price=close / 2,
                tags=['q"uo\\te\nx', "é"],
                time_in_force="gtd",
                expire_time=self.now + 10**15,
            )
            self.odd = next(reversed(self.out.orders))
        if self.i == 40:
            self.cancel(self.odd)


def modify_run() -> Recorded:
    out = Recorded()
    frame = BarFrame.from_columns(random_walk_bars(300, seed=11, volatility=0.002), "gen")
    r = BacktestRunner(venue=no_cost_venue(), risk=None)
    r.risk = RiskEngine("unlimited")
    r.risk.set_limit("max_quantity", 500)
    r.add_bars("AAA", frame)
    r.add_strategy(ModifyTrader(out, strategy_id="trader"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RiskDenialWarning)
        r.run()
    return out


def core_and_reference(
    messages: list[object], core: RecordConverter, reference: RecordConverter
) -> tuple[dict[str, list[EncodedRow]], dict[str, list[EngineEvent]]]:
    """The core's rows and the reference's records of ``messages``, by record tag."""
    rows: dict[str, list[EncodedRow]] = {}
    for r in core.encode(messages, bars=False):
        if isinstance(r, ValueError):
            raise r
        if type(r) is EncodedRow:
            rows.setdefault(r.kind, []).append(r)
    records: dict[str, list[EngineEvent]] = {}
    for rec in reference.convert_many(messages):
        records.setdefault(rec.__struct_config__.tag, []).append(rec)
    return rows, records


def assert_same(rows: dict[str, list[EncodedRow]], records: dict[str, list[EngineEvent]]) -> None:
    for kind in ("fill", "order_event", "order", "position", "equity"):
        recs = records.get(kind, [])
        got = rows.get(kind, [])
        want = spec_for_tag(kind).encode(recs, json_text=True, bool_int=True) if recs else []
        assert [r.row for r in got] == want, kind
        # Back to records (the journal stores these): the reference's own.
        assert [encoded_record(r) for r in got] == recs, kind


@pytest.mark.parametrize("make", [record_run, modify_run])
def test_core_rows_are_the_reference_encoded_rows(make: Any) -> None:
    run = make()
    messages = [m for _, m in run.messages if not isinstance(m, _core.Bar)]
    core, reference = RecordConverter(core=True), RecordConverter()
    rows, records = core_and_reference(messages, core, reference)
    assert set(rows) == {"fill", "order_event", "order", "position", "equity"}
    assert_same(rows, records)
    assert core.open_orders == reference.open_orders
    # (modifies of orders already filled are dropped as replays, by both)
    dropped = reference.replays_dropped
    assert core.replays_dropped == dropped
    # Replayed (as a restarted feed might re-send the tail): dropped alike.
    rows, records = core_and_reference(messages[-60:], core, reference)
    assert core.replays_dropped == reference.replays_dropped > dropped
    assert_same(rows, records)


async def test_restored_converters_continue_alike(tmp_path: Path) -> None:
    # Half a run stored, then both converters restored from the database (as after a
    # restart) and fed the rest with the stored tail again: the same rows.
    run = modify_run()
    messages = [m for _, m in run.messages if not isinstance(m, _core.Bar)]
    half = len(messages) // 2
    driver = await SqliteDriver.open(tmp_path / "half.db")
    await migrate(driver)
    repo = SqlRepository(driver, create_breaker())
    try:
        writer = EventWriter(repo, Journal(tmp_path / "half.journal"), batch_size=300)
        sink = StorageSink(writer, repo, core_records=False)
        bus = Bus()
        sink.subscribe(bus)
        await sink.start()
        # The strategy's row (restore reads the positions of known strategies).
        bus.publish("x", StrategyStatus(0, "trader", "running"))
        for m in messages[:half]:
            bus.publish("x", m)
        await sink.close()
        core, reference = RecordConverter(core=True), RecordConverter()
        restored = await restore_converter(repo, core)
        assert restored == await restore_converter(repo, reference)
        assert restored.open_orders
        assert restored.positions
        assert restored.equity
        assert core.open_orders == reference.open_orders == len(restored.open_orders)
    finally:
        await repo.close()
    rows, records = core_and_reference(messages[half - 40 :], core, reference)
    assert core.replays_dropped == reference.replays_dropped > 0
    assert_same(rows, records)
    assert rows["order"]
    assert rows["equity"]


def test_an_inexact_average_price_is_left_to_python() -> None:
    # Fills at 10 and 2 x 10.01: the average 10.00666… is not exact; the core leaves the
    # division (and its two roundings) to Python's decimal, which gives the reference's.
    order = _core.Order("o-1", "s", "AAA", "buy", "limit", 5, price="10.02", ts_init=1)
    row = OrderRow("o-1", "s", "AAA", "buy", "limit", Decimal(5), "partially_filled", 1, 2,
                   limit_price=Decimal("10.02"), filled_quantity=Decimal(3))  # fmt: skip
    fills = [
        FillRow("o-1:1", "o-1", "s", "AAA", "buy", Decimal(1), Decimal(10), Decimal(0), 2),
        FillRow("o-1:2", "o-1", "s", "AAA", "buy", Decimal(2), Decimal("10.01"), Decimal(0), 2),
    ]
    core, reference = RecordConverter(core=True), RecordConverter()
    for c in (core, reference):
        c.restore_order(row, [], fills)
    rows, records = core_and_reference([order.deny(3, "no")], core, reference)
    assert_same(rows, records)
    (stored,) = rows["order"]
    assert stored.row[13] == "10.006666667"


async def test_encoded_rows_go_to_the_journal_as_their_records(tmp_path: Path) -> None:
    run = modify_run()
    messages = [m for _, m in run.messages if not isinstance(m, _core.Bar)]
    rows = [r for r in RecordConverter(core=True).encode(messages) if type(r) is EncodedRow]
    driver = await SqliteDriver.open(tmp_path / "j.db")
    await migrate(driver)
    breaker = create_breaker(failure_threshold=1, reset_timeout=0.01)
    repo = SqlRepository(driver, breaker)
    journal = Journal(tmp_path / "j.journal")
    try:
        breaker.record_failure(DatabaseUnavailableError("down"))
        writer = EventWriter(repo, journal, batch_size=100)
        await writer.submit_many(rows)
        await writer.flush()
        assert writer.stats().journaled == len(rows)
        journaled = [e for _, frame in journal.frames() for e in frame]
        assert journaled == [as_record(r) for r in rows]
        assert journaled == [e for e in RecordConverter().convert_many(messages)
                             if e.__struct_config__.tag != "audit"]  # fmt: skip
        assert await writer.drain(5.0)
        assert writer.stats().rejected == 0
        async with repo.driver.connection() as conn:
            (n,) = (await conn.fetch("SELECT count(*) FROM order_events"))[0]
        assert n == sum(1 for r in rows if r.kind == "order_event")
    finally:
        await repo.close()


@pytest.mark.parametrize("make", [record_run, modify_run])
def test_order_and_position_messages_are_the_msgspec_messages(make: Any) -> None:
    run = make()
    events = run.payloads(_core.OrderEvent) + run.payloads(_core.PositionEvent)
    kinds = {type(m) for m in events}
    assert kinds == {_core.OrderEvent, _core.PositionEvent}
    for m in events:
        msg = to_message(m)
        assert msg is not None
        core = (
            _core.order_message(m)  # type: ignore[arg-type]
            if isinstance(m, _core.OrderEvent)
            else _core.position_message(m)  # type: ignore[arg-type]
        )
        assert core == (msg.topic, ENCODER.encode(msg))
    # Reasons with what JSON escapes (a denial's message names the order's terms).
    assert any(isinstance(m, _core.OrderEvent) and m.denial is not None for m in events)
    order = _core.Order("o-1", "s", "AAA", "buy", "market", 1, ts_init=1)
    odd = order.deny(5, 'a "quoted"\\ reason\nwith\ttabs, \x01 and é')
    msg = to_message(odd)
    assert msg is not None
    assert _core.order_message(odd) == (msg.topic, ENCODER.encode(msg))
