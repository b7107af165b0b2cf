"""Password hashing with argon2id, sized for a Raspberry Pi 5.

Parameters: 19 MiB of memory, 2 passes, 1 lane — OWASP's minimum for argon2id; a hash
takes about 50 ms on the x86 build VM (not yet measured on a Pi 5), so a login
cannot be used to exhaust the board's memory or CPU, and guessing stays expensive. A
stored hash made with other parameters is re-hashed at the next successful login
(``needs_rehash``). Hashing runs in a worker thread: the event loop (and the trading node
on it) never waits for it.
"""

from __future__ import annotations

from typing import Final

import anyio.to_thread
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASHER: Final = PasswordHasher(
    time_cost=2, memory_cost=19_456, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)
MIN_LENGTH: Final = 12
MAX_LENGTH: Final = 256
"""Longer is refused: argon2 would take it, but a megabyte "password" is an attack."""

_COMMON: Final = frozenset(
    {
        "password1234", "123456789012", "qwertyuiopas", "administrator", "letmein12345",
        "changeme1234", "passwordpassword", "trading12345", "raspberrypi5",
    }
)  # fmt: skip


def check_password(password: str, *, username: str = "") -> None:
    """Raises ``ValueError`` saying what is wrong with a new password."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise ValueError(f"a password has at most {MAX_LENGTH} characters")
    lowered = password.lower()
    if username and username.lower() in lowered:
        raise ValueError("a password must not contain the username")
    if len(set(password)) < 5 or lowered in _COMMON:
        raise ValueError("this password is too easy to guess")


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(HASHER.hash, password)


async def verify_password(hashed: str, password: str) -> bool:
    """True if ``password`` matches; False for a mismatch or an unreadable hash."""

    def verify() -> bool:
        try:
            return HASHER.verify(hashed, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(verify)


def needs_rehash(hashed: str) -> bool:
    try:
        return HASHER.check_needs_rehash(hashed)
    except InvalidHashError:
        return True


# Verified when a username is unknown, so a missing user costs the same time as a wrong
# password (no user enumeration by timing).
DUMMY_HASH: Final = HASHER.hash("pi5trading-no-such-user")


__all__ = [
    "DUMMY_HASH",
    "HASHER",
    "MIN_LENGTH",
    "check_password",
    "hash_password",
    "needs_rehash",
    "verify_password",
]
