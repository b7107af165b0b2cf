"""Sign-in and the identity of every request.

``POST /api/v1/auth/login`` gives an access token (15 minutes) and a refresh token
(7 days); ``/refresh`` rotates the refresh token (a rotated one used again revokes its whole
family: someone replayed a stolen token); ``/logout`` revokes the family and the access
token; ``/me`` and ``/password`` are the signed-in user's. Every other route needs
``Authorization: Bearer <access token>``; guards check the role.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Final

import msgspec
from litestar import Request, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore

from pi5trading.api.audit import audit
from pi5trading.api.errors import Problem
from pi5trading.api.roles import ANYONE
from pi5trading.api.security.tokens import (
    Identity,
    SigningKeys,
    TokenError,
    VerifiedTokens,
    issue_access,
    new_refresh_token,
    refresh_hash,
)
from pi5trading.api.users import (
    LockedOutError,
    LoginGuard,
    UserError,
    UserOut,
    authenticate,
    set_password,
)
from pi5trading.config import AuthSettings
from pi5trading.storage.protocol import Repository
from pi5trading.storage.records import RefreshTokenRow, UserRow

OPEN_PATHS: Final = (
    "/health",
    "/ready",
    "/metrics",
    "/schema",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/ws",  # signs in with its first message
)
"""Paths without a token (the dashboard's files are added by the app)."""


class AuthContext:
    """What the auth routes and the middleware share (on ``app.state.auth``)."""

    def __init__(
        self,
        keys: SigningKeys,
        settings: AuthSettings,
        login_store: Store | None = None,
        revoked_store: Store | None = None,
    ) -> None:
        self.keys = keys
        self.settings = settings
        self.logins = LoginGuard(settings.login_max_failures, settings.lockout_s, login_store)
        # Signed-out access tokens' ids, each kept until its token would have expired: in
        # Redis with PI5_REDIS__URL (every API process refuses the token at once), else in
        # this process's memory.
        self.revoked: Store = revoked_store if revoked_store is not None else MemoryStore()
        self.verified = VerifiedTokens()

    async def revoke_access(self, identity: Identity) -> None:
        """A signed-out access token is refused until it would have expired anyway."""
        left = identity.expires - int(time.time())
        if left > 0:
            try:
                await self.revoked.set(identity.token_id, b"1", expires_in=left + 1)
            except Exception as exc:  # Redis away: say the sign-out did not happen
                raise Problem(
                    503, "Service unavailable", f"the sign-out could not be recorded: {exc}",
                    headers={"Retry-After": "5"},
                ) from None  # fmt: skip

    async def is_revoked(self, identity: Identity) -> bool:
        try:
            return await self.revoked.exists(identity.token_id)
        except Exception as exc:  # Redis away: refuse rather than let a revoked token in
            raise Problem(
                503, "Service unavailable", f"token revocations unreadable: {exc}",
                headers={"Retry-After": "5"},
            ) from None  # fmt: skip


class TokenAuthMiddleware(AbstractAuthenticationMiddleware):
    """``Authorization: Bearer <access token>`` → ``request.user`` (an ``Identity``)."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        ctx: AuthContext = connection.app.state.auth
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException(
                "sign in: send 'Authorization: Bearer <access token>' (POST /api/v1/auth/login)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            identity = ctx.verified.decode(token.strip(), ctx.keys, ctx.settings)
        except TokenError as exc:
            raise NotAuthorizedException(
                str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
            ) from None
        if await ctx.is_revoked(identity):
            raise NotAuthorizedException(
                "token revoked (signed out)",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return AuthenticationResult(user=identity, auth=token)


# -- DTOs --


class LoginRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: str = msgspec.field()
    password: str = msgspec.field()


class RefreshRequest(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: str


class TokenPair(msgspec.Struct, frozen=True):
    access_token: str
    refresh_token: str
    expires_in: int
    """Seconds the access token is valid."""
    user: UserOut
    token_type: str = "Bearer"


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    current_password: str
    new_password: str


def _ip(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


def _repo(request: Request[Any, Any, Any]) -> Repository:
    repository: Repository = request.app.state.repository
    return repository


async def _issue(
    ctx: AuthContext, repository: Repository, user: UserRow, family: str | None = None
) -> TokenPair:
    now = int(time.time())
    access, ttl = issue_access(
        ctx.keys,
        ctx.settings,
        user_id=user.user_id,
        username=user.username,
        role=user.role,
        now=now,
    )
    refresh, digest = new_refresh_token()
    await repository.save_refresh_token(
        RefreshTokenRow(
            digest,
            user.user_id,
            family or uuid.uuid4().hex,
            now * 1_000_000_000,
            (now + ctx.settings.refresh_ttl_s) * 1_000_000_000,
        )
    )
    return TokenPair(
        access_token=access, refresh_token=refresh, expires_in=ttl, user=UserOut.of(user)
    )


# -- routes --


@post(
    "/api/v1/auth/login", tags=["auth"], status_code=HTTP_200_OK, operation_id="login", security=[]
)
async def login(request: Request[Any, Any, Any], data: JSONBody[LoginRequest]) -> TokenPair:
    """Sign in with a username and password. Repeated failures lock the account for a
    while (429 with ``Retry-After``)."""
    ctx: AuthContext = request.app.state.auth
    repository = _repo(request)
    name = data.username.strip().lower()
    if not name or not data.password or len(data.password) > 256 or len(name) > 64:
        raise Problem(400, "Bad credentials format", "a username and a password are required")
    try:
        await ctx.logins.check(name)
    except LockedOutError as exc:
        await audit(
            repository, "login", "denied", resource=f"user:{name}", ip=_ip(request), reason="locked"
        )
        raise Problem(
            429, "Account locked", str(exc), headers={"Retry-After": str(exc.retry_after_s)}
        ) from None
    user = await authenticate(repository, name, data.password)
    if user is None:
        await ctx.logins.failed(name)
        await audit(repository, "login", "failure", resource=f"user:{name}", ip=_ip(request))
        raise Problem(
            401, "Invalid credentials", "wrong username or password, or the account is disabled"
        )
    await ctx.logins.succeeded(name)
    await audit(
        repository, "login", "success", actor=user.user_id, resource=f"user:{name}", ip=_ip(request)
    )
    return await _issue(ctx, repository, user)


@post(
    "/api/v1/auth/refresh",
    tags=["auth"],
    status_code=HTTP_200_OK,
    operation_id="refresh",
    security=[],
)
async def refresh(request: Request[Any, Any, Any], data: JSONBody[RefreshRequest]) -> TokenPair:
    """A new token pair for a refresh token, which is spent: each one works once. A spent
    one presented again revokes every token of its login (it was copied)."""
    ctx: AuthContext = request.app.state.auth
    repository = _repo(request)
    row = await repository.get_refresh_token(refresh_hash(data.refresh_token))
    now = time.time_ns()
    invalid = Problem(401, "Invalid refresh token", "sign in again")
    if row is None:
        raise invalid
    if row.revoked_ns is not None:
        revoked = await repository.revoke_refresh_tokens(at_ns=now, family_id=row.family_id)
        await audit(
            repository, "token.reuse", "denied", actor=row.user_id, ip=_ip(request),
            family=row.family_id, revoked=revoked,
        )  # fmt: skip
        raise invalid
    user = await repository.get_user(row.user_id)
    if row.expires_ns <= now or user is None or not user.is_active:
        raise invalid
    pair = await _issue(ctx, repository, user, family=row.family_id)
    await repository.save_refresh_token(
        msgspec.structs.replace(row, revoked_ns=now, replaced_by=refresh_hash(pair.refresh_token))
    )
    return pair


@post(
    "/api/v1/auth/logout",
    tags=["auth"],
    status_code=HTTP_204_NO_CONTENT,
    guards=ANYONE,
    operation_id="logout",
)
async def logout(
    request: Request[Identity, Any, Any], data: JSONBody[RefreshRequest | None] = None
) -> None:
    """Sign out: this access token and the refresh tokens of its login stop working."""
    ctx: AuthContext = request.app.state.auth
    repository = _repo(request)
    await ctx.revoke_access(request.user)
    now = time.time_ns()
    if data is not None:
        row = await repository.get_refresh_token(refresh_hash(data.refresh_token))
        if row is not None and row.user_id == request.user.user_id:
            await repository.revoke_refresh_tokens(at_ns=now, family_id=row.family_id)
    await audit(repository, "logout", "success", actor=request.user.user_id, ip=_ip(request))


@get("/api/v1/auth/me", tags=["auth"], guards=ANYONE, operation_id="me")
async def me(request: Request[Identity, Any, Any]) -> UserOut:
    """The signed-in user."""
    user = await _repo(request).get_user(request.user.user_id)
    if user is None:
        raise Problem(401, "Unknown user", "the account no longer exists")
    return UserOut.of(user)


@post(
    "/api/v1/auth/password",
    tags=["auth"],
    status_code=HTTP_204_NO_CONTENT,
    guards=ANYONE,
    operation_id="changePassword",
)
async def change_password(
    request: Request[Identity, Any, Any], data: JSONBody[PasswordChange]
) -> None:
    """Change your password (the current one is asked again); every other session of
    yours is signed out."""
    repository = _repo(request)
    ident = request.user
    user = await repository.get_user(ident.user_id)
    if user is None or await authenticate(repository, user.username, data.current_password) is None:
        await audit(repository, "password.change", "failure", actor=ident.user_id, ip=_ip(request))
        raise Problem(403, "Wrong password", "the current password is not right")
    try:
        await set_password(repository, user, data.new_password)
    except UserError as exc:
        raise Problem(422, "Weak password", str(exc)) from None
    await repository.revoke_refresh_tokens(at_ns=time.time_ns(), user_id=user.user_id)
    await audit(repository, "password.change", "success", actor=ident.user_id, ip=_ip(request))


ROUTES: Final = [login, refresh, logout, me, change_password]

__all__ = ["OPEN_PATHS", "ROUTES", "AuthContext", "TokenAuthMiddleware"]
