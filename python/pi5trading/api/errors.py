"""Errors as RFC 9457 problem details (``application/problem+json``): ``type``, ``title``,
``status``, ``detail``, ``instance``, plus extensions (``errors`` for invalid fields,
``code`` for a machine-readable reason such as a risk denial's)."""

from __future__ import annotations

import logging
from typing import Any, Final

import msgspec
import redis.exceptions
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from pi5trading.exceptions import ConfigurationError, InvalidInputError, InvalidStateError
from pi5trading.storage.errors import DatabaseUnavailableError

log = logging.getLogger("pi5trading.api")

PROBLEM_JSON = "application/problem+json"
SECURITY_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
"""On every response (the app's own and the errors, which do not pass through its
response headers)."""
_TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    422: "Unprocessable request",
    429: "Too many requests",
    503: "Service unavailable",
}


class Problem(HTTPException):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail=detail, status_code=status, headers=headers)
        self.title = title
        self.code = code
        self.fields = extra


def _response(
    request: Request[Any, Any, Any],
    status: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(
        body,
        status_code=status,
        media_type=PROBLEM_JSON,
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


def on_problem(request: Request[Any, Any, Any], exc: Problem) -> Response[dict[str, Any]]:
    return _response(
        request, exc.status_code, exc.title, exc.detail, exc.headers, code=exc.code, **exc.fields
    )


def on_validation(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    errors = exc.extra if isinstance(exc.extra, list) else None
    return _response(request, 400, "Invalid request", exc.detail, errors=errors)


def on_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    title = _TITLES.get(status, "Error")
    return _response(request, status, title, exc.detail or title, exc.headers)


def on_domain(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Our own refusals raised below the API: bad values 422, wrong state 409."""
    if isinstance(exc, InvalidStateError):
        return _response(request, 409, "Conflict", str(exc))
    return _response(request, 422, "Unprocessable request", str(exc))


def on_unavailable(
    request: Request[Any, Any, Any], exc: DatabaseUnavailableError
) -> Response[dict[str, Any]]:
    return _response(request, 503, "Service unavailable", str(exc), {"Retry-After": "5"})


def on_redis_unavailable(
    request: Request[Any, Any, Any], exc: redis.exceptions.RedisError
) -> Response[dict[str, Any]]:
    """Redis away (the shared rate limits, lockouts and revocations live there): 503 and
    come back later, not the 500 it was (issue 17), and never a request let through
    unchecked."""
    return _response(
        request, 503, "Service unavailable", f"Redis is unreachable: {exc}", {"Retry-After": "5"}
    )


def on_recursion(request: Request[Any, Any, Any], exc: RecursionError) -> Response[dict[str, Any]]:
    """A JSON body nested deeper than the decoder's limit (about 1,000 levels) is the
    client's fault, not the server's: 400, not the 500 it was (issue 17). Any other
    ``RecursionError`` stays an internal error."""
    if "deserializing" in str(exc):
        return _response(request, 400, "Invalid request", "the JSON body is nested too deeply")
    return on_unexpected(request, exc)


def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _response(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "Internal error",
        "the server failed on this request; the log has the details",
    )


class ProblemDocument(msgspec.Struct, frozen=True, kw_only=True):
    """An error (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    code: str | None = None
    """A machine-readable reason (a risk denial's code, ...)."""
    errors: list[dict[str, Any]] | None = None
    """The invalid fields of a request."""
    denial: dict[str, Any] | None = None
    order_id: str | None = None


_DOCUMENTED: Final = {
    400: "the request is malformed (see `errors`)",
    401: "not signed in, or the token is invalid or expired",
    403: "your role does not allow this",
    404: "no such thing",
    409: "not possible in the current state",
    413: "the request body is too large",
    422: "the request is refused (see `detail`, and `code` for a risk denial)",
    429: "too many requests (see `Retry-After`)",
    503: "a service this needs is unavailable (see `Retry-After`)",
}
PROBLEM_RESPONSES: Final = {
    status: ResponseSpec(
        data_container=ProblemDocument,
        description=text,
        media_type=PROBLEM_JSON,
        generate_examples=False,
    )
    for status, text in _DOCUMENTED.items()
}


def document_problems(handlers: list[Any]) -> None:
    """Every HTTP route documents its errors as problem documents (what it answers)."""
    for h in handlers:
        if isinstance(h, HTTPRouteHandler) and h.include_in_schema:
            h.responses = {**PROBLEM_RESPONSES, **(h.responses or {})}


HANDLERS: dict[type[Exception] | int, Any] = {
    Problem: on_problem,
    ValidationException: on_validation,
    HTTPException: on_http,
    InvalidInputError: on_domain,
    InvalidStateError: on_domain,
    ConfigurationError: on_domain,
    DatabaseUnavailableError: on_unavailable,
    redis.exceptions.ConnectionError: on_redis_unavailable,
    redis.exceptions.TimeoutError: on_redis_unavailable,
    RecursionError: on_recursion,
    Exception: on_unexpected,
}

__all__ = [
    "HANDLERS",
    "PROBLEM_JSON",
    "PROBLEM_RESPONSES",
    "Problem",
    "ProblemDocument",
    "document_problems",
]
