"""Users: accounts with a role (admin, trader, viewer), argon2id passwords, login with a
lockout after repeated failures. Used by the API's routes and by ``pi5trading user``."""

from __future__ import annotations

import re
import secrets
import time
import uuid
from typing import Any, Final

import msgspec
from litestar import Request, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore

from pi5trading.api.audit import audit
from pi5trading.api.errors import Problem
from pi5trading.api.roles import ADMIN
from pi5trading.api.security.passwords import (
    DUMMY_HASH,
    check_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from pi5trading.api.security.tokens import ROLES, Identity, Role
from pi5trading.api.timefmt import iso
from pi5trading.storage.errors import ConstraintError
from pi5trading.storage.protocol import Repository
from pi5trading.storage.records import UserRow

USERNAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,31}$")
_MAX_LOCK_S: Final = 3600


class UserError(ValueError):
    """A refused change, with a message for the user (a 4xx)."""


class LockedOutError(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins: try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class _Failures(msgspec.Struct):
    count: int = 0
    locked_until: float = 0.0
    lock_s: float = 0.0


class LoginGuard:
    """Failed logins per username: after ``max_failures`` in a row the account is locked
    for ``lockout_s``, and each failure while locked doubles the lock (up to an hour). A
    success clears it. Kept in a Litestar store: in memory for one process, or in Redis
    (``PI5_REDIS__URL``), where every API process sees the same count and lock."""

    def __init__(self, max_failures: int, lockout_s: int, store: Store | None = None) -> None:
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self.store: Store = store if store is not None else MemoryStore()

    async def _get(self, username: str) -> _Failures | None:
        raw = await self.store.get(username.lower())
        return msgspec.json.decode(raw, type=_Failures) if raw is not None else None

    async def check(self, username: str, now: float | None = None) -> None:
        f = await self._get(username)
        now = time.time() if now is None else now
        if f is not None and f.locked_until > now:
            raise LockedOutError(max(1, round(f.locked_until - now)))

    async def failed(self, username: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        f = await self._get(username) or _Failures()
        f.count += 1
        if f.count >= self.max_failures:
            f.lock_s = min(_MAX_LOCK_S, f.lock_s * 2 if f.lock_s else self.lockout_s)
            f.locked_until = now + f.lock_s
        # Forgotten an hour after the last failure (or lock): a flood of made-up names
        # cannot grow the store without bound.
        expires = int(max(f.locked_until - now, 0) + _MAX_LOCK_S)
        await self.store.set(username.lower(), msgspec.json.encode(f), expires_in=expires)

    async def succeeded(self, username: str) -> None:
        await self.store.delete(username.lower())


def check_username(username: str) -> None:
    if not USERNAME.fullmatch(username):
        raise UserError(
            "a username has 3-32 characters: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise UserError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    return role


async def create_user(
    repository: Repository,
    username: str,
    password: str,
    role: str,
    *,
    email: str | None = None,
) -> UserRow:
    username = username.lower()  # names are case-insensitive: no "Admin" beside "admin"
    check_username(username)
    check_role(role)
    try:
        check_password(password, username=username)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    now = time.time_ns()
    row = UserRow(
        uuid.uuid4().hex, username, await hash_password(password), role, now, now, email=email
    )
    try:
        await repository.create_user(row)
    except ConstraintError:
        raise UserError(f"the username {username!r} (or that email) is taken") from None
    return row


async def authenticate(repository: Repository, username: str, password: str) -> UserRow | None:
    """The active user with this password, or ``None`` (the same time either way). A hash
    made with older parameters is upgraded on the way."""
    user = await repository.get_user_by_username(username.lower())
    if user is None:
        await verify_password(DUMMY_HASH, password)
        return None
    if not await verify_password(user.password_hash, password) or not user.is_active:
        return None
    now = time.time_ns()
    changes: dict[str, object] = {"last_login_ns": now}
    if needs_rehash(user.password_hash):
        changes["password_hash"] = await hash_password(password)
    user = msgspec.structs.replace(user, **changes)
    await repository.update_user(user)
    return user


async def set_password(repository: Repository, user: UserRow, password: str) -> UserRow:
    try:
        check_password(password, username=user.username)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    changed = msgspec.structs.replace(
        user, password_hash=await hash_password(password), updated_ns=time.time_ns()
    )
    await repository.update_user(changed)
    return changed


def random_password() -> str:
    """For the embedded demo's first admin: printed once, never stored in clear."""
    return secrets.token_urlsafe(15)


__all__ = [
    "ROUTES",
    "LockedOutError",
    "LoginGuard",
    "UserError",
    "UserOut",
    "authenticate",
    "check_role",
    "check_username",
    "create_user",
    "random_password",
    "set_password",
]


# -- admin routes --------------------------------------------------------------------------


class UserOut(msgspec.Struct, frozen=True):
    id: str
    username: str
    role: str
    is_active: bool
    email: str | None
    created_at: str
    last_login_at: str | None

    @classmethod
    def of(cls, u: UserRow) -> UserOut:
        return cls(
            id=u.user_id,
            username=u.username,
            role=u.role,
            is_active=u.is_active,
            email=u.email,
            created_at=iso(u.created_ns),
            last_login_at=iso(u.last_login_ns) if u.last_login_ns is not None else None,
        )


class UserCreate(msgspec.Struct, forbid_unknown_fields=True):
    username: str
    password: str
    role: str = "viewer"
    email: str | None = None


class UserUpdate(msgspec.Struct, forbid_unknown_fields=True):
    role: str | None = None
    is_active: bool | None = None


class PasswordReset(msgspec.Struct, forbid_unknown_fields=True):
    new_password: str


def _routes() -> list[Any]:
    def repo(request: Request[Any, Any, Any]) -> Repository:
        r: Repository = request.app.state.repository
        return r

    async def target(request: Request[Any, Any, Any], user_id: str) -> UserRow:
        user = await repo(request).get_user(user_id)
        if user is None:
            raise Problem(404, "Unknown user", f"no user {user_id!r}")
        return user

    @post(
        "/api/v1/users",
        tags=["users"],
        guards=ADMIN,
        status_code=HTTP_201_CREATED,
        operation_id="createUser",
    )
    async def create(request: Request[Identity, Any, Any], data: JSONBody[UserCreate]) -> UserOut:
        """Create a user (admin)."""
        try:
            user = await create_user(
                repo(request), data.username, data.password, data.role, email=data.email
            )
        except UserError as exc:
            raise Problem(422, "User not created", str(exc)) from None
        await audit(repo(request), "user.create", "success", actor=request.user.user_id,
                    resource=f"user:{user.username}", role=user.role)  # fmt: skip
        return UserOut.of(user)

    @get("/api/v1/users", tags=["users"], guards=ADMIN, operation_id="listUsers")
    async def list_users(request: Request[Any, Any, Any]) -> list[UserOut]:
        """Every user, by username (admin)."""
        return [UserOut.of(u) for u in await repo(request).list_users()]

    @patch("/api/v1/users/{user_id:str}", tags=["users"], guards=ADMIN, operation_id="updateUser")
    async def update(
        request: Request[Identity, Any, Any], user_id: FromPath[str], data: JSONBody[UserUpdate]
    ) -> UserOut:
        """Change a user's role, or disable / enable the account (admin). A disabled
        user's sessions end at once."""
        user = await target(request, user_id)
        changes: dict[str, Any] = {}
        if data.role is not None:
            try:
                changes["role"] = check_role(data.role)
            except UserError as exc:
                raise Problem(422, "User not changed", str(exc)) from None
        if data.is_active is not None:
            changes["is_active"] = data.is_active
        if user.user_id == request.user.user_id and (
            changes.get("role", "admin") != "admin" or changes.get("is_active") is False
        ):
            raise Problem(409, "User not changed", "you cannot demote or disable yourself")
        changed = msgspec.structs.replace(user, updated_ns=time.time_ns(), **changes)
        await repo(request).update_user(changed)
        if changed.role != user.role or not changed.is_active:
            await repo(request).revoke_refresh_tokens(at_ns=time.time_ns(), user_id=user.user_id)
        await audit(repo(request), "user.update", "success", actor=request.user.user_id,
                    resource=f"user:{user.username}", **changes)  # fmt: skip
        return UserOut.of(changed)

    @post("/api/v1/users/{user_id:str}/password", tags=["users"], guards=ADMIN,
          status_code=HTTP_204_NO_CONTENT, operation_id="resetPassword")  # fmt: skip
    async def reset(
        request: Request[Identity, Any, Any], user_id: FromPath[str], data: JSONBody[PasswordReset]
    ) -> None:
        """Set a user's password (admin); their sessions end."""
        user = await target(request, user_id)
        try:
            await set_password(repo(request), user, data.new_password)
        except UserError as exc:
            raise Problem(422, "Weak password", str(exc)) from None
        await repo(request).revoke_refresh_tokens(at_ns=time.time_ns(), user_id=user.user_id)
        await audit(repo(request), "password.reset", "success", actor=request.user.user_id,
                    resource=f"user:{user.username}")  # fmt: skip

    return [create, list_users, update, reset]


ROUTES = _routes()
