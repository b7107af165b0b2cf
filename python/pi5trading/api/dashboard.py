"""The web dashboard (``frontend/``, built by ``make dashboard`` into ``_dashboard/``) at ``/``.

Any GET outside the API that is not a built file answers ``index.html`` (the dashboard's
own router shows the page), with ``Cache-Control: no-cache``; the hashed files under
``/assets/`` are cached for a year, and sent gzipped (the ``.gz`` twin the build writes)
to a client that takes gzip. Without a build (a Python-only install, no Node) ``/``
answers a short page saying how to build it, and the API runs as ever. Unknown paths under
``/api``, ``/schema`` and ``/ws`` stay 404 problems.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any, Final

from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import File

from pi5trading.api.errors import Problem

DASHBOARD_DIR: Final = Path(__file__).parent / "_dashboard"
"""Where ``make dashboard`` (vite's ``build.outDir``) puts the built files; a wheel ships them."""

IMMUTABLE: Final = "public, max-age=31536000, immutable"
NO_CACHE: Final = "no-cache"
# Paths that are never the dashboard's: their unknown routes stay 404 problems.
_NOT_DASHBOARD: Final = ("api", "schema", "ws", "health", "ready", "metrics")

NOT_BUILT: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pi5trading</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto;
 padding: 0 1rem">
<h1>pi5trading</h1>
<p>The API is running, but the web dashboard is not built in this installation.</p>
<p>Build it from a source checkout with Node.js 20.19 or newer: <code>make dashboard</code>
(or <code>cd frontend &amp;&amp; npm ci &amp;&amp; npm run build</code>), then restart
<code>pi5trading serve</code>.</p>
<p>The API's documentation is at <a href="/schema/redoc">/schema/redoc</a>;
its health at <a href="/health">/health</a>.</p>
</body></html>
"""


def _file(path: Path, cache: str, accept_encoding: str = "") -> File:
    """The file, or its gzip twin (written by the build) when the client takes gzip."""
    headers = {"Cache-Control": cache}
    gz = path.with_name(path.name + ".gz")
    if gz.is_file():
        headers["Vary"] = "Accept-Encoding"
        if "gzip" in accept_encoding.lower():
            media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return File(path=gz, filename=path.name, content_disposition_type="inline",
                        media_type=media_type,
                        headers={**headers, "Content-Encoding": "gzip"})  # fmt: skip
    return File(path=path, filename=path.name, content_disposition_type="inline",
                headers=headers)  # fmt: skip


def dashboard_routes(dist: Path | None = None) -> list[HTTPRouteHandler]:
    """``GET /`` and the SPA fallback, serving ``dist`` (default: the package's build)."""
    root = (dist or DASHBOARD_DIR).resolve()

    def serve(path: str, accept_encoding: str) -> Response[str] | File:
        rel = path.strip("/")
        first = rel.split("/", 1)[0]
        if first in _NOT_DASHBOARD:
            raise Problem(404, "Not found", "no such thing")
        index = root / "index.html"
        if not index.is_file():
            if rel:
                raise Problem(404, "Not found", "no such thing (the dashboard is not built)")
            return Response(NOT_BUILT, media_type="text/html", headers={"Cache-Control": NO_CACHE})
        if rel:
            target = (root / rel).resolve()
            if target.is_relative_to(root) and target.is_file():
                cache = IMMUTABLE if rel.startswith("assets/") else NO_CACHE
                return _file(target, cache, accept_encoding)
            if first == "assets" or "." in rel.rsplit("/", 1)[-1]:
                raise Problem(404, "Not found", "no such file")
        return _file(index, NO_CACHE, accept_encoding)

    # The files are public (the API behind them is not): exclude_from_auth.
    @get("/", include_in_schema=False, sync_to_thread=False, security=[], exclude_from_auth=True)
    def dashboard_root(request: Request[Any, Any, Any]) -> Response[str] | File:
        return serve("", request.headers.get("accept-encoding", ""))

    @get(
        "/{path:path}",
        include_in_schema=False,
        sync_to_thread=False,
        security=[],
        exclude_from_auth=True,
    )
    def dashboard_page(
        request: Request[Any, Any, Any], path: FromPath[str]
    ) -> Response[str] | File:
        return serve(path, request.headers.get("accept-encoding", ""))

    return [dashboard_root, dashboard_page]


__all__ = ["DASHBOARD_DIR", "IMMUTABLE", "NOT_BUILT", "NO_CACHE", "dashboard_routes"]
