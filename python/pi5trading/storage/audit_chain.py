"""The audit log as a hash chain.

Every audit row written gets ``seq`` (its place, 1, 2, 3, ...), ``prev_hash`` (the hash of
the row before it) and ``hash`` = SHA-256 of ``prev_hash`` and the row's canonical content
(seq, id, time, action, outcome, actor, resource, address, details with sorted keys). The
repository assigns them inside the writing transaction, under a lock (PostgreSQL: an
advisory lock; SQLite: its single writer), so writers in several processes extend one
chain. ``verify`` walks the chain in order: a row edited (its hash no longer matches its
content), deleted (a gap in ``seq``, or the next row's ``prev_hash`` not matching) or
inserted by hand (no link, or a link that does not fit) is reported with the first broken
place. Rows older than the chain (written before migration 0002) and, on TimescaleDB, rows
dropped by the retention policy are outside it: the oldest remaining row is the anchor.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Final

import msgspec

from pi5trading.storage.records import AuditRow

if TYPE_CHECKING:
    from pi5trading.storage.protocol import Repository

GENESIS: Final = "0" * 64
_ENCODE: Final = msgspec.json.Encoder(order="sorted")


def link_hash(prev_hash: str, row: AuditRow, seq: int) -> str:
    content = _ENCODE.encode(
        [seq, row.event_id, row.ts_ns, row.action, row.outcome, row.actor, row.resource,
         row.ip, row.details]
    )  # fmt: skip
    return hashlib.sha256(prev_hash.encode() + b"\n" + content).hexdigest()


def chain(rows: Sequence[AuditRow], last_seq: int, last_hash: str) -> list[AuditRow]:
    """``rows`` linked after ``(last_seq, last_hash)`` (``(0, GENESIS)`` for a new chain)."""
    out = []
    seq, prev = last_seq, last_hash
    for row in rows:
        seq += 1
        h = link_hash(prev, row, seq)
        out.append(msgspec.structs.replace(row, seq=seq, prev_hash=prev, hash=h))
        prev = h
    return out


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    checked: int
    """Rows of the chain checked."""
    unchained: int
    """Rows without a link (written before the chain existed)."""
    first_seq: int | None
    last_seq: int | None
    broken_at: int | None = None
    """``seq`` of the first row found broken (or of the row after a gap)."""
    event_id: str | None = None
    reason: str | None = None


async def verify(rows: AsyncIterator[AuditRow], unchained: int = 0) -> Verdict:
    """Check the chain, rows in ``seq`` order; stops at the first broken link."""
    checked = 0
    first: int | None = None
    prev: AuditRow | None = None
    async for row in rows:
        if row.seq is None or row.hash is None or row.prev_hash is None:
            continue
        if first is None:
            first = row.seq
        problem = None
        if row.hash != link_hash(row.prev_hash, row, row.seq):
            problem = "its content does not match its hash (the row was edited)"
        elif prev is not None and row.seq != (prev.seq or 0) + 1:
            problem = (
                f"rows {(prev.seq or 0) + 1}-{row.seq - 1} are missing after row {prev.seq} "
                "(deleted)"
            )
        elif prev is not None and row.prev_hash != prev.hash:
            problem = f"it does not follow row {prev.seq} (its link names another row)"
        elif prev is None and row.seq == 1 and row.prev_hash != GENESIS:
            problem = "the first row does not start the chain"
        if problem is not None:
            return Verdict(
                ok=False, checked=checked, unchained=unchained, first_seq=first,
                last_seq=prev.seq if prev else None, broken_at=row.seq, event_id=row.event_id,
                reason=problem,
            )  # fmt: skip
        checked += 1
        prev = row
    return Verdict(
        ok=True, checked=checked, unchained=unchained, first_seq=first,
        last_seq=prev.seq if prev else None,
    )  # fmt: skip


async def verify_stored(repository: Repository, *, page: int = 5000) -> Verdict:
    """``verify`` over the whole stored chain, read ``page`` rows at a time."""

    async def rows() -> AsyncIterator[AuditRow]:
        after = 0
        while batch := await repository.audit_chain(after_seq=after, limit=page):
            for row in batch:
                yield row
            after = batch[-1].seq or after

    return await verify(rows(), await repository.count_unchained_audit())


__all__ = ["GENESIS", "Verdict", "chain", "link_hash", "verify", "verify_stored"]
