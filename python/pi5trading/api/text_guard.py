"""Text neither database can take as it is: a NUL character (``\\u0000``, ``%00``).

PostgreSQL refuses a NUL in ``text`` and ``jsonb`` (SQLite stores it), so a request carrying
one was a 500 on PostgreSQL, and after the request had acted: ``POST /api/v1/risk/state``
with a NUL in its reason halted trading, then failed writing its audit row, and the writer
rejected the risk event and the alert (issue 17, found by walking the OpenAPI schema with
injection text). No field of the API means a NUL, so the request is refused before any
handler runs: 400, the same on both databases.
"""

from __future__ import annotations

import re
from typing import Final

from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from pi5trading.api.errors import Problem

DETAIL: Final = "text may not contain a NUL character (\\u0000 or %00)"
# A JSON escape \u0000: an odd number of backslashes before it (an even number is a
# backslash written as \\ followed by the letters u0000).
_ESCAPED_NUL: Final = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_CARRY: Final = 64
"""Bytes of a body chunk kept to find an escape cut across two chunks."""


def _refused() -> Problem:
    return Problem(400, "Invalid request", DETAIL)


def refuse_nul_text(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: a NUL in the path, the query or a JSON body is a 400."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if str(scope["type"]) != "http":
            await app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope["query_string"].lower():
            raise _refused()
        carry = b""

        async def checked() -> ReceiveMessage:
            nonlocal carry
            message = await receive()
            if message["type"] == "http.request":
                data = carry + message.get("body", b"")
                if b"\x00" in data or _ESCAPED_NUL.search(data):
                    raise _refused()
                carry = data[-_CARRY:]
            return message

        await app(scope, checked, send)

    return middleware


__all__ = ["DETAIL", "refuse_nul_text"]
