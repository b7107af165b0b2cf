"""Access tokens (JWT, HS256, 15 minutes) and refresh tokens (opaque, 7 days, rotated).

An access token carries ``sub`` (user id), ``name``, ``role``, ``typ="access"``, ``jti``,
``iat``/``nbf``/``exp``, ``iss``/``aud``; its header names the key (``kid``). Decoding pins
the algorithm (``alg: none`` and RS/HS confusion are refused), requires every claim,
checks issuer, audience and times, and refuses oversized tokens before parsing them.

A refresh token is 32 random bytes; only its SHA-256 is stored (``refresh_tokens``), with
the family of the login it descends from: every refresh revokes it and issues the next, and
a revoked one presented again (stolen and replayed) revokes the whole family.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from typing import Final, Literal

import jwt
import msgspec

from pi5trading.config import AuthSettings

ALGORITHM: Final = "HS256"
MAX_TOKEN_BYTES: Final = 4096
MIN_SECRET: Final = 32
Role = Literal["admin", "trader", "viewer"]
ROLES: Final[tuple[Role, ...]] = ("admin", "trader", "viewer")


class TokenError(Exception):
    """Why a token is refused (the message is safe to return)."""


class Identity(msgspec.Struct, frozen=True):
    """Who a valid access token speaks for."""

    user_id: str
    username: str
    role: Role
    token_id: str
    expires: int
    """Unix seconds."""


class SigningKeys:
    """The current key (signs) and the previous ones (still verify) by key id."""

    def __init__(self, key_id: str, secret: str, previous: dict[str, str] | None = None) -> None:
        for kid, key in {key_id: secret, **(previous or {})}.items():
            if len(key) < MIN_SECRET:
                raise ValueError(f"the signing key {kid!r} is shorter than {MIN_SECRET} characters")
        self.key_id = key_id
        self._keys = {**(previous or {}), key_id: secret}

    def __repr__(self) -> str:
        return f"SigningKeys(current={self.key_id!r}, known={sorted(self._keys)!r})"

    @property
    def secret(self) -> str:
        return self._keys[self.key_id]

    def get(self, key_id: str) -> str | None:
        return self._keys.get(key_id)


def parse_previous_keys(text: str) -> dict[str, str]:
    """``kid:secret,kid:secret`` (``PI5_AUTH__JWT_PREVIOUS_KEYS``)."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        kid, sep, secret = part.partition(":")
        if not sep or not kid or not secret:
            raise ValueError(
                "PI5_AUTH__JWT_PREVIOUS_KEYS: expected kid:secret pairs separated by commas"
            )
        out[kid] = secret
    return out


def issue_access(
    keys: SigningKeys,
    settings: AuthSettings,
    *,
    user_id: str,
    username: str,
    role: str,
    now: int,
) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds; ``now`` in Unix seconds."""
    ttl = settings.access_ttl_s
    claims = {
        "sub": user_id,
        "name": username,
        "role": role,
        "typ": "access",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "iss": settings.issuer,
        "aud": settings.audience,
    }
    token = jwt.encode(claims, keys.secret, algorithm=ALGORITHM, headers={"kid": keys.key_id})
    return token, ttl


_LEEWAY_S = 5
"""Clock skew allowed on ``exp``/``nbf``."""


def decode_access(token: str, keys: SigningKeys, settings: AuthSettings) -> Identity:
    """The identity of a valid access token; ``TokenError`` saying why not."""
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenError("token too large")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TokenError("malformed token") from None
    if header.get("alg") != ALGORITHM:
        raise TokenError("token algorithm not accepted")
    kid = header.get("kid")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise TokenError("token signed with an unknown key")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=settings.audience,
            issuer=settings.issuer,
            options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
            leeway=_LEEWAY_S,
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("token expired") from None
    except jwt.ImmatureSignatureError:
        raise TokenError("token not valid yet") from None
    except jwt.PyJWTError:
        raise TokenError("invalid token") from None
    role = claims.get("role")
    if claims.get("typ") != "access" or role not in ROLES:
        raise TokenError("invalid token")
    return Identity(
        user_id=str(claims["sub"]),
        username=str(claims.get("name", "")),
        role=role,
        token_id=str(claims["jti"]),
        expires=int(claims["exp"]),
    )


class VerifiedTokens:
    """Access tokens already verified, by their exact text: a client sends the same token
    with every request for its 15 minutes, and verifying it (two parses, the HMAC, the
    claims) was a good part of a request's time. Only the signature and claims checks are
    skipped on a hit: expiry is checked each time, revocation by the caller. Bounded;
    the oldest go first."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._known: dict[str, Identity] = {}

    def decode(self, token: str, keys: SigningKeys, settings: AuthSettings) -> Identity:
        identity = self._known.get(token)
        if identity is None:
            identity = decode_access(token, keys, settings)
            if len(self._known) >= self._size:
                del self._known[next(iter(self._known))]
            self._known[token] = identity
        elif time.time() > identity.expires + _LEEWAY_S:
            del self._known[token]
            raise TokenError("token expired")
        return identity


def new_refresh_token() -> tuple[str, str]:
    """``(token, its SHA-256 hex)``: the token goes to the client, the hash to storage."""
    token = secrets.token_urlsafe(32)
    return token, refresh_hash(token)


def refresh_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


__all__ = [
    "ALGORITHM",
    "ROLES",
    "Identity",
    "Role",
    "SigningKeys",
    "TokenError",
    "VerifiedTokens",
    "decode_access",
    "issue_access",
    "new_refresh_token",
    "parse_previous_keys",
    "refresh_hash",
]
