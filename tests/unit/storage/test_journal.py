"""The durable journal: order, exactly-once bookkeeping, crash recovery."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from pi5trading.storage.journal import Journal
from pi5trading.storage.records import BarRow, EngineEvent, FillRow, OrderEventRow


def events(start: int, n: int) -> list[EngineEvent]:
    out: list[EngineEvent] = []
    for i in range(start, start + n):
        p = Decimal("100.123456789") + i
        out.append(BarRow("AAPL.XNAS", "1m", i, p, p, p, p, Decimal(i)))
    return out


def test_appended_frames_come_back_in_order_after_reopening(tmp_path: Path) -> None:
    path = tmp_path / "events.journal"
    j = Journal(path)
    assert not j
    j.append(events(0, 3))
    j.append([OrderEventRow("o1", 1, 5, "created", detail={"a": [1, "b"]})])
    j.append(
        [FillRow("f1", "o1", "s", "X", "buy", Decimal("0.001"), Decimal("1E+3"), Decimal(0), 9)]
    )
    j.close()

    again = Journal(path)
    assert again.pending_frames == 3
    assert again.pending_events == 5
    got = [e for _, frame in again.frames() for e in frame]
    assert got[:3] == events(0, 3)
    assert got[3] == OrderEventRow("o1", 1, 5, "created", detail={"a": [1, "b"]})
    fill = got[4]
    assert isinstance(fill, FillRow)
    assert fill.price == Decimal("1E+3")
    assert str(fill.quantity) == "0.001"


def test_replay_progress_survives_a_restart_and_a_drained_journal_is_emptied(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.journal"
    j = Journal(path)
    for k in range(3):
        j.append(events(k * 10, 10))
    end, first = next(iter(j.frames()))
    j.mark_replayed(end, len(first))
    j.close()

    j = Journal(path)  # a crash after the first frame reached the database
    assert (j.pending_frames, j.pending_events) == (2, 20)
    remaining = list(j.frames())
    assert [e for _, f in remaining for e in f] == events(10, 20)
    for end, frame in remaining:
        j.mark_replayed(end, len(frame))
    assert not j
    assert path.stat().st_size == 0
    assert not path.with_name("events.journal.offset").exists()
    j.append(events(99, 1))  # appending after a drain starts again from the top
    assert [e for _, f in j.frames() for e in f] == events(99, 1)


def test_a_torn_last_frame_is_cut_and_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "events.journal"
    j = Journal(path)
    j.append(events(0, 2))
    j.append(events(2, 2))
    j.close()
    size = path.stat().st_size
    with path.open("r+b") as f:  # a power cut half-way through the second append
        f.truncate(size - 7)

    j = Journal(path)
    assert j.pending_events == 2
    assert [e for _, f in j.frames() for e in f] == events(0, 2)
    aside = list(tmp_path.glob("events.journal.corrupt-*"))
    assert len(aside) == 1
    j.append(events(4, 1))
    assert [e for _, f in j.frames() for e in f] == events(0, 2) + events(4, 1)


def test_a_corrupt_frame_stops_the_journal_there(tmp_path: Path) -> None:
    path = tmp_path / "events.journal"
    j = Journal(path)
    j.append(events(0, 1))
    j.append(events(1, 1))
    j.append(events(2, 1))
    j.close()
    raw = bytearray(path.read_bytes())
    frame = len(raw) // 3
    raw[frame + 12] ^= 0xFF  # flip a byte inside the second frame's payload
    path.write_bytes(bytes(raw))
    j = Journal(path)
    assert [e for _, f in j.frames() for e in f] == events(0, 1)


def test_a_failed_append_leaves_the_journal_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.journal"
    j = Journal(path)
    j.append(events(0, 2))

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr("pi5trading.storage.journal.os.fsync", disk_full)
        with pytest.raises(OSError, match="No space left"):
            j.append(events(2, 2))
    assert j.pending_events == 2
    j.append(events(4, 1))
    j.close()
    again = Journal(path)
    assert [e for _, f in again.frames() for e in f] == events(0, 2) + events(4, 1)
    assert not list(tmp_path.glob("*.corrupt-*"))
