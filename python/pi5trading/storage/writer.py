"""The batched writer for engine events: buffer, flush by size or interval, survive outages.

``submit()`` appends to a bounded in-memory buffer; a background task flushes it when it
holds ``batch_size`` events or every ``flush_interval`` seconds. A flush writes through the
repository (COPY on PostgreSQL, idempotent). When the database is unreachable — the write
fails, or the circuit breaker is open — the batch goes to the durable journal instead.
While the journal holds anything, new batches are appended behind it, so events reach the
database in the order they were submitted; each flush (at most one trial call while the
breaker is half-open) tries to replay the journal first.

Backpressure: when the buffer is full, ``submit()`` waits for a flush to make room rather
than drop events or grow without bound.

Records the database refuses (a constraint violation: a bug upstream) cannot be retried
forever; they are written one by one so the good ones land, and the refused ones go to
``<journal>.rejected`` (JSON lines with the error) and the log.

Bars the core encoded (``EncodedBar``) are taken like records; the journal and the
rejected file hold them as the ``BarRow`` they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

from pi5trading.resilience import BreakerSnapshot
from pi5trading.storage.errors import DatabaseUnavailableError
from pi5trading.storage.journal import Journal
from pi5trading.storage.records import EngineEvent, Writable, as_record
from pi5trading.storage.repository import SqlRepository

log = logging.getLogger(__name__)


class WriterStats(msgspec.Struct, frozen=True, kw_only=True):
    """Counters for metrics and the API."""

    buffered: int
    written: int
    """Events handed to the database (duplicates it skipped included)."""
    journaled: int
    replayed: int
    rejected: int
    journal_pending: int
    flushes: int
    breaker: BreakerSnapshot | None
    journal_error: str | None = None
    """Why the journal cannot be written (disk full), while it cannot: the events it
    could not take wait in memory (``buffered``)."""


class _Rejected(msgspec.Struct, frozen=True):
    ts_ns: int
    error: str
    event: EngineEvent


class EventWriter:
    """Use as ``async with EventWriter(repo, journal) as w: await w.submit(event)``."""

    def __init__(
        self,
        repository: SqlRepository,
        journal: Journal,
        *,
        batch_size: int = 1000,
        flush_interval: float = 0.5,
        max_buffer: int = 100_000,
    ) -> None:
        if batch_size < 1 or max_buffer < batch_size:
            raise ValueError("need 1 <= batch_size <= max_buffer")
        self._repo = repository
        self._journal = journal
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self._buffer: list[Writable] = []
        self._flush_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._written = self._journaled = self._replayed = self._rejected = self._flushes = 0
        self._rejected_path = Path(str(journal.path) + ".rejected")
        self._journal_error: str | None = None

    async def __aenter__(self) -> EventWriter:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def buffered(self) -> int:
        """Events waiting in the buffer (readable from any thread)."""
        return len(self._buffer)

    @property
    def journal(self) -> Journal:
        return self._journal

    def stats(self) -> WriterStats:
        return WriterStats(
            buffered=len(self._buffer),
            written=self._written,
            journaled=self._journaled,
            replayed=self._replayed,
            rejected=self._rejected,
            journal_pending=self._journal.pending_events,
            flushes=self._flushes,
            breaker=self._repo.breaker_state(),
            journal_error=self._journal_error,
        )

    async def start(self) -> None:
        """Start the flush loop (which first replays a journal left by an earlier run)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pi5trading-event-writer")

    async def submit(self, event: Writable) -> None:
        if self._closed:
            raise RuntimeError("the event writer is closed")
        while len(self._buffer) >= self.max_buffer:
            self._room.clear()
            self._wake.set()
            await self._room.wait()
        self._buffer.append(event)
        if len(self._buffer) >= self.batch_size:
            self._wake.set()

    async def submit_many(self, events: Sequence[Writable]) -> None:
        """Like ``submit`` for each event, in order, filling the buffer a slice at a time."""
        if self._closed:
            raise RuntimeError("the event writer is closed")
        done, n = 0, len(events)
        while done < n:
            room = self.max_buffer - len(self._buffer)
            if room <= 0:
                self._room.clear()
                self._wake.set()
                await self._room.wait()
                continue
            take = events[done : done + room]
            self._buffer.extend(take)
            done += len(take)
            if len(self._buffer) >= self.batch_size:
                self._wake.set()

    async def flush(self) -> None:
        """Write out everything buffered now: to the database, or to the journal."""
        async with self._flush_lock:
            self._flushes += 1
            await self._replay()
            while self._buffer:
                batch = self._buffer[: self.batch_size]
                # Removed only once written or journaled: if the journal itself fails
                # (disk full), the batch stays buffered and the next flush retries it.
                await self._write(batch)
                del self._buffer[: len(batch)]
                self._room.set()

    async def drain(self, max_wait_s: float) -> bool:
        """Flush and replay until the buffer and journal are empty or ``max_wait_s`` passes."""
        deadline = time.monotonic() + max_wait_s
        while True:
            try:
                await self.flush()
            except OSError:
                if self._journal_error is None:
                    raise
                # The journal's disk is full: the database may come back (or space be
                # freed) before the deadline; the events wait in the buffer meanwhile.
            if not self._buffer and not self._journal:
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(min(self.flush_interval, 0.1))

    async def close(self) -> None:
        """Stop the loop and flush; what cannot reach the database stays in the journal."""
        self._closed = True
        if self._task is not None:
            # Let the loop finish its flush rather than cancel it inside a transaction.
            self._wake.set()
            await self._task
            self._task = None
        try:
            await self.flush()
        except OSError:
            if self._buffer:
                log.critical(
                    "%d events could be neither stored nor journaled (%s) and are lost "
                    "with this process",
                    len(self._buffer), self._journal_error,
                )  # fmt: skip
            raise

    # -- internals --

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            self._wake.clear()
            if self._closed:
                return
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except OSError:
                # The journal cannot be written: said once (``_append_journal``), retried
                # each tick; the events wait in the buffer.
                if self._journal_error is None:
                    log.exception("event writer flush failed")
            except Exception:
                # Never let the loop die: the next tick retries.
                log.exception("event writer flush failed")

    def _db_callable(self) -> bool:
        breaker = self._repo.breaker
        return breaker is None or breaker.allows_call()

    async def _write(self, batch: list[Writable]) -> None:
        if self._journal or not self._db_callable():
            await self._append_journal(batch)
            return
        try:
            await self._repo.write(batch)
        except DatabaseUnavailableError as exc:
            log.warning("database write failed (%s); %d events to the journal", exc, len(batch))
            await self._append_journal(batch)
            return
        except Exception as exc:
            await self._write_one_by_one(batch, exc)
            return
        self._written += len(batch)
        self._journal_ok("the database takes the events held in memory")

    async def _append_journal(self, batch: Sequence[Writable]) -> None:
        first = not self._journal
        records = [as_record(e) for e in batch]
        try:
            await asyncio.to_thread(self._journal.append, records)
        except OSError as exc:
            # Disk full or failing, with the database away: nothing is dropped — the batch
            # stays buffered, in order, and submitters wait once the buffer is full (the
            # node then stops stepping). Said once, loudly; retried every flush.
            if self._journal_error is None:
                log.error(
                    "the journal %s cannot be written (%s) while the database is away: "
                    "events are held in memory, in order (%d now, at most %d; a node "
                    "stops stepping at its backlog limit); free space or bring the "
                    "database back",
                    self._journal.path, exc, len(self._buffer), self.max_buffer,
                )  # fmt: skip
            self._journal_error = f"{type(exc).__name__}: {exc}"
            raise
        self._journaled += len(batch)
        self._journal_ok("the journal can be written again")
        if first:
            # Once per outage (the journal was empty): the operator sees where events go.
            log.warning(
                "the database cannot take events: holding them in the journal %s until it "
                "is back (replayed in order then)",
                self._journal.path,
            )

    def _journal_ok(self, how: str) -> None:
        if self._journal_error is not None:
            log.warning("journal trouble over: %s (was: %s)", how, self._journal_error)
            self._journal_error = None

    async def _replay(self) -> None:
        if not self._journal or not self._db_callable():
            return
        replayed = 0
        for end_offset, events in self._journal.frames():
            if not self._db_callable():
                break
            try:
                await self._repo.write(events)
            except DatabaseUnavailableError as exc:
                log.info("journal replay paused: %s", exc)
                break
            except Exception as exc:
                await self._write_one_by_one(events, exc)
            await asyncio.to_thread(self._journal.mark_replayed, end_offset, len(events))
            replayed += len(events)
            self._replayed += len(events)
        if replayed:
            log.info(
                "replayed %d journaled events; %d still pending",
                replayed,
                self._journal.pending_events,
            )

    async def _write_one_by_one(self, batch: Sequence[Writable], first: Exception) -> None:
        log.error("database refused a batch of %d events (%s); retrying singly", len(batch), first)
        for event in batch:
            try:
                await self._repo.write([event])
            except DatabaseUnavailableError:
                # Outage mid-way: the rest waits in the journal (idempotent on replay).
                await self._append_journal([event])
            except Exception as exc:
                self._rejected += 1
                log.error("rejected event %r: %s", event, exc)
                line = msgspec.json.encode(_Rejected(time.time_ns(), str(exc), as_record(event)))
                with self._rejected_path.open("ab") as f:
                    f.write(line + b"\n")
            else:
                self._written += 1


__all__ = ["EventWriter", "WriterStats"]
