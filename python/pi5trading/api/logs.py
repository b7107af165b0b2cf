"""Log lines as a person or a log shipper wants them: text on a terminal, one JSON object
per line otherwise (``PI5_LOGGING__FORMAT``), each with the id of the HTTP request it
belongs to (``X-Request-ID``, taken from the client or made here, and sent back)."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import uuid
from typing import Any, Final, cast

from litestar.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID: Final[contextvars.ContextVar[str | None]] = contextvars.ContextVar(
    "pi5_request_id", default=None
)
_HEADER: Final = b"x-request-id"


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC ISO-8601), level, logger, message, request id,
    and the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


JsonFormatter.converter = time.gmtime  # the times are UTC, as the Z says


def configure_logging(level: str, fmt: str = "auto") -> None:
    """The process's logging: ``text``, ``json`` or ``auto`` (JSON unless stderr is a
    terminal)."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    if use_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx says every request at INFO: each poll of each symbol, each broker call. Kept
    # for DEBUG; our own lines say what failed.
    quiet = logging.DEBUG if root.level <= logging.DEBUG else logging.WARNING
    logging.getLogger("httpx").setLevel(quiet)


def request_ids(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: each HTTP request gets an id (the client's ``X-Request-ID`` when it
    is sane, else a new one), set for its log lines (and kept in the scope for
    ``add_request_id``, which returns it in the response)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if str(scope["type"]) != "http":
            await app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(_HEADER, b"").decode("latin-1")
        rid = given if 0 < len(given) <= 64 and given.isprintable() else uuid.uuid4().hex
        cast("dict[str, Any]", scope)[_SCOPE_KEY] = rid
        token = REQUEST_ID.set(rid)
        try:
            await app(scope, receive, send)
        finally:
            REQUEST_ID.reset(token)

    return middleware


async def add_request_id(message: Message, scope: Scope) -> None:
    """``before_send`` hook: the request's id in every response, errors raised by the
    middleware included (those are sent from outside it)."""
    rid = cast("dict[str, Any]", scope).get(_SCOPE_KEY)
    if rid and message["type"] == "http.response.start":
        headers = list(message.get("headers") or [])
        headers.append((_HEADER, str(rid).encode("latin-1")))
        message["headers"] = headers


_SCOPE_KEY: Final = "pi5_request_id"


__all__ = ["REQUEST_ID", "JsonFormatter", "add_request_id", "configure_logging", "request_ids"]
