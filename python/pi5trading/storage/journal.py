"""The durable local journal: where engine events go while the database is unreachable.

An append-only file of frames ``[u32 length][u32 crc32][msgpack list of events]``; every
append is fsync'd before it returns, so an event the writer accepted survives a crash or a
power cut. ``<path>.offset`` records how far replay has got (fsync'd after each frame is
committed to the database). A crash between the database commit and the offset update
replays that frame again, which is harmless: every event table write is idempotent.

On open, a torn last frame (a crash mid-append) is cut off; a corrupt frame in the middle
stops the journal there and the rest is moved aside to ``<path>.corrupt-<ns>`` for a human.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import msgspec

from pi5trading.storage.records import EngineEvent

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<II")
_OFFSET = struct.Struct("<Q")
_MAX_FRAME = 256 * 1024 * 1024


def _fsync_dir(path: Path) -> None:
    # A new or renamed file is durable only once its directory entry is.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """Append-only, fsync'd event journal. Not thread-safe: one writer owns it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._offset_path = self.path.with_name(self.path.name + ".offset")
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(list[EngineEvent])
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        if created:
            _fsync_dir(self.path.parent)
        self._replayed = self._read_offset()
        self._pending_frames, self._pending_events, self._size = self._recover()

    @property
    def pending_events(self) -> int:
        """Events appended and not yet replayed."""
        return self._pending_events

    @property
    def pending_frames(self) -> int:
        return self._pending_frames

    @property
    def size_bytes(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._pending_frames > 0

    def append(self, events: Sequence[EngineEvent]) -> None:
        """Append one frame holding ``events`` and fsync it."""
        if not events:
            return
        payload = self._encoder.encode(list(events))
        frame = _HEADER.pack(len(payload), zlib.crc32(payload)) + payload
        written = 0
        try:
            while written < len(frame):
                written += os.write(self._fd, frame[written:])
            os.fsync(self._fd)
        except OSError:
            # Disk full or I/O error: cut the partial frame so later appends stay readable.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(frame)
        self._pending_frames += 1
        self._pending_events += len(events)

    def frames(self) -> Iterator[tuple[int, list[EngineEvent]]]:
        """``(end_offset, events)`` for each frame not yet replayed, oldest first."""
        with self.path.open("rb") as f:
            f.seek(self._replayed)
            pos = self._replayed
            while pos < self._size:
                header = f.read(_HEADER.size)
                length, _crc = _HEADER.unpack(header)
                payload = f.read(length)
                pos += _HEADER.size + length
                yield pos, self._decoder.decode(payload)

    def mark_replayed(self, end_offset: int, events: int) -> None:
        """Record that everything up to ``end_offset`` is in the database (fsync'd)."""
        if end_offset < self._size:
            try:
                self._write_offset(end_offset)
            except OSError as exc:
                # A full disk cannot take the offset file. Replay goes on from memory: a
                # crash now replays these frames again, which stores nothing twice (the
                # writes are idempotent), and the last frame empties the file.
                log.warning("journal offset not recorded (%s); replay continues", exc)
        self._replayed = end_offset
        self._pending_frames -= 1
        self._pending_events -= events
        if self._replayed >= self._size:
            self._reset()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)

    # -- internals --

    def _reset(self) -> None:
        # Truncate first: a crash before the offset file goes leaves offset > size, read as 0.
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)
        with contextlib.suppress(FileNotFoundError):
            self._offset_path.unlink()
        self._replayed = 0
        self._size = 0
        self._pending_frames = 0
        self._pending_events = 0

    def _read_offset(self) -> int:
        try:
            raw = self._offset_path.read_bytes()
        except FileNotFoundError:
            return 0
        if len(raw) != _OFFSET.size:
            log.warning("journal offset file %s is damaged; replaying from the start", raw)
            return 0
        return int(_OFFSET.unpack(raw)[0])

    def _write_offset(self, offset: int) -> None:
        tmp = self._offset_path.with_name(self._offset_path.name + ".tmp")
        with tmp.open("wb") as f:
            f.write(_OFFSET.pack(offset))
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self._offset_path)
        _fsync_dir(self._offset_path.parent)

    def _recover(self) -> tuple[int, int, int]:
        """Scan the file: count pending frames/events, cut a torn or corrupt tail."""
        size = os.fstat(self._fd).st_size
        if self._replayed > size:
            self._replayed = 0
        frames = events = 0
        good_end = 0
        with self.path.open("rb") as f:
            pos = 0
            while pos < size:
                header = f.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    break
                length, crc = _HEADER.unpack(header)
                if length > _MAX_FRAME:
                    break
                payload = f.read(length)
                if len(payload) < length or zlib.crc32(payload) != crc:
                    break
                pos += _HEADER.size + length
                if pos > self._replayed:
                    try:
                        count = len(self._decoder.decode(payload))
                    except msgspec.DecodeError:
                        pos -= _HEADER.size + length
                        break
                    frames += 1
                    events += count
                good_end = pos
        if good_end < size:
            self._set_aside_tail(good_end, size)
        if self._replayed > good_end:
            self._replayed = 0
        return frames, events, good_end

    def _set_aside_tail(self, good_end: int, size: int) -> None:
        with self.path.open("rb") as f:
            f.seek(good_end)
            tail = f.read()
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.time_ns()}")
        aside.write_bytes(tail)
        log.error(
            "journal %s: %d bytes after offset %d are torn or corrupt; moved to %s",
            self.path,
            size - good_end,
            good_end,
            aside,
        )
        os.ftruncate(self._fd, good_end)
        os.fsync(self._fd)


__all__ = ["Journal"]
