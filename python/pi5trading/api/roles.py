"""Who may do what: guards for the three roles (admin > trader > viewer)."""

from __future__ import annotations

from typing import Any, Final

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from pi5trading.api.security.tokens import Identity, Role


def requires(*roles: Role) -> Any:
    """A guard: the signed-in user has one of ``roles``."""

    # async: Litestar runs a sync guard in a worker thread, a thread hop on every request.
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        user = connection.scope.get("user")
        if not isinstance(user, Identity):
            raise NotAuthorizedException("sign in first", headers={"WWW-Authenticate": "Bearer"})
        if user.role not in roles:
            raise PermissionDeniedException(
                f"this needs the role {' or '.join(roles)}; you are {user.role}"
            )

    return guard


ADMIN: Final = [requires("admin")]
TRADER: Final = [requires("admin", "trader")]
ANYONE: Final = [requires("admin", "trader", "viewer")]


__all__ = ["ADMIN", "ANYONE", "TRADER", "requires"]
