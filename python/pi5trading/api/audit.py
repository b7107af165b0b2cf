"""The audit trail of the API: every security event (logins, token reuse, role and password
changes) and every trading action taken through it, as ``audit_log`` rows: who, what, when,
from where, outcome."""

from __future__ import annotations

import logging
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any, Literal

import msgspec
from litestar import Request, get
from litestar.params import FromQuery

from pi5trading.api.errors import Problem
from pi5trading.api.roles import ADMIN
from pi5trading.api.timefmt import iso, parse_iso
from pi5trading.storage.audit_chain import Verdict, verify_stored
from pi5trading.storage.errors import DatabaseUnavailableError
from pi5trading.storage.protocol import Repository
from pi5trading.storage.records import AuditRow
from pi5trading.storage.writer import EventWriter

log = logging.getLogger("pi5trading.audit")

Outcome = Literal["success", "failure", "denied"]


_NODE_WRITERS: weakref.WeakKeyDictionary[Repository, EventWriter] = weakref.WeakKeyDictionary()


def journal_audit_rows(repository: Repository, writer: EventWriter) -> Callable[[], None]:
    """While a node runs in this process (``serve``): audit rows for ``repository`` may go
    through the node's event writer (``writer``) — order actions always, every other row
    when the database cannot take it (the writer journals it and replays it once the
    database is back) — instead of being lost to the log. Returns the undo."""
    _NODE_WRITERS[repository] = writer

    def undo() -> None:
        _NODE_WRITERS.pop(repository, None)

    return undo


async def audit(
    repository: Repository,
    action: str,
    outcome: Outcome,
    *,
    actor: str | None = None,
    resource: str | None = None,
    ip: str | None = None,
    with_orders: bool = False,
    **details: Any,
) -> None:
    """Record one event. The database being down never fails the request: the row waits
    in the node's journal when a node runs in this process (``journal_audit_rows``), else
    it is lost and logged instead (with the same fields).

    ``with_orders`` (order actions): with a node in this process the row joins the
    action's own order events in the node writer's next batch: stored with them, linked
    into the chain in that transaction. The request does not wait for a commit of its own
    (about a quarter of an order request's time, and most of its tail)."""
    now = time.time_ns()
    row = AuditRow(
        f"api:{uuid.uuid4().hex}", now, action, outcome,
        actor=actor, resource=resource, ip=ip, details=details,
    )  # fmt: skip
    writer = _NODE_WRITERS.get(repository)
    if with_orders and await _hand_to(writer, row):
        return
    try:
        await repository.write([row])
    except DatabaseUnavailableError as exc:
        if await _hand_to(writer, row):
            log.warning("audit row %s kept for the database (%s)", row.event_id, exc)
            return
        log.error("audit row not stored (%s): %s", exc, row)


async def _hand_to(writer: EventWriter | None, row: AuditRow) -> bool:
    """``row`` given to the node's writer, if there is one with room. Never waits for room:
    with the journal's disk full too the buffer may stay full, and the request must not
    hang on its audit row."""
    if writer is None or writer.buffered >= writer.max_buffer:
        return False
    try:
        await writer.submit(row)
    except RuntimeError:  # the writer closed: the node is stopping
        return False
    return True


class AuditOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    at: str
    action: str
    outcome: str
    actor: str | None
    resource: str | None
    ip: str | None
    details: dict[str, Any]
    seq: int | None


@get("/api/v1/audit", tags=["audit"], guards=ADMIN, operation_id="listAudit")
async def list_audit(
    request: Request[Any, Any, Any],
    actor: FromQuery[str | None] = None,
    action: FromQuery[str | None] = None,
    start: FromQuery[str | None] = None,
    limit: FromQuery[int] = 100,
) -> list[AuditOut]:
    """The audit log, newest first (admin), by actor (user id), action and time."""
    if not 1 <= limit <= 1000:
        raise Problem(400, "Invalid request", f"limit: expected 1 to 1000, got {limit}")
    try:
        start_ns = parse_iso(start, "start") if start is not None else None
    except ValueError as exc:
        raise Problem(400, "Invalid request", str(exc)) from None
    rows = await request.app.state.repository.list_audit(
        actor=actor, action=action, start_ns=start_ns, limit=limit
    )
    return [
        AuditOut(
            id=r.event_id,
            at=iso(r.ts_ns),
            action=r.action,
            outcome=r.outcome,
            actor=r.actor,
            resource=r.resource,
            ip=r.ip,
            details=r.details,
            seq=r.seq,
        )
        for r in rows
    ]


@get("/api/v1/audit/verify", tags=["audit"], guards=ADMIN, operation_id="verifyAudit")
async def verify_audit(request: Request[Any, Any, Any]) -> Verdict:
    """Walk the audit log's hash chain: ``ok``, or the first edited or deleted row."""
    repository: Repository = request.app.state.repository
    return await verify_stored(repository)


ROUTES = [list_audit, verify_audit]

__all__ = ["ROUTES", "Outcome", "audit", "journal_audit_rows"]
