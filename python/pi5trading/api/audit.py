"""The audit trail of the API: every security event (logins, token reuse, role and password
changes) and every trading action taken through it, as ``audit_log`` rows: who, what, when,
from where, outcome."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, Literal

from pi5trading.storage.errors import DatabaseUnavailableError
from pi5trading.storage.protocol import Repository
from pi5trading.storage.records import AuditRow

log = logging.getLogger("pi5trading.audit")

Outcome = Literal["success", "failure", "denied"]


async def audit(
    repository: Repository,
    action: str,
    outcome: Outcome,
    *,
    actor: str | None = None,
    resource: str | None = None,
    ip: str | None = None,
    **details: Any,
) -> None:
    """Record one event. The database being down loses the row but not the request: the
    event is logged instead (with the same fields)."""
    now = time.time_ns()
    row = AuditRow(
        f"api:{uuid.uuid4().hex}", now, action, outcome,
        actor=actor, resource=resource, ip=ip, details=details,
    )  # fmt: skip
    try:
        await repository.write([row])
    except DatabaseUnavailableError as exc:
        log.error("audit row not stored (%s): %s", exc, row)


__all__ = ["Outcome", "audit"]
