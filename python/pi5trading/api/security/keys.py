"""Where the token signing key comes from: ``PI5_AUTH__JWT_SECRET``, or — in the embedded
default only (SQLite) — a key generated on first start and kept in ``<data_dir>/jwt_secret``
with mode 0600, so tokens survive a restart and nobody has to invent a secret to try it."""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from pi5trading.api.security.tokens import MIN_SECRET, SigningKeys, parse_previous_keys
from pi5trading.config import Settings
from pi5trading.exceptions import ConfigurationError

log = logging.getLogger("pi5trading.api")

KEY_FILE = "jwt_secret"
HOW = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"


def embedded(settings: Settings) -> bool:
    """The embedded default: SQLite (no URL, or a sqlite: URL)."""
    url = settings.database.url
    return not url or url.startswith("sqlite")


def signing_keys(settings: Settings) -> SigningKeys:
    """The keys tokens are signed and checked with; ``ConfigurationError`` naming the
    variable when the secret is missing (outside the embedded default) or weak."""
    auth = settings.auth
    try:
        previous = parse_previous_keys(auth.jwt_previous_keys)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    secret = auth.jwt_secret
    if not secret:
        if not embedded(settings):
            raise ConfigurationError(
                "PI5_AUTH__JWT_SECRET is not set: with PostgreSQL the API needs its own "
                f"signing secret of at least {MIN_SECRET} characters ({HOW})"
            )
        secret = _kept_secret(Path(settings.data_dir) / KEY_FILE)
    elif len(secret) < MIN_SECRET:
        raise ConfigurationError(
            f"PI5_AUTH__JWT_SECRET is too short ({len(secret)} characters): at least "
            f"{MIN_SECRET} ({HOW})"
        )
    try:
        return SigningKeys(auth.jwt_key_id, secret, previous)
    except ValueError as exc:
        raise ConfigurationError(f"PI5_AUTH__JWT_PREVIOUS_KEYS: {exc}") from None


def _kept_secret(path: Path) -> str:
    try:
        # A fresh data dir: the key is the first thing the server writes there.
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(0o600)
            log.warning("%s was readable by others (mode %o): now 0600", path, mode)
        secret = path.read_text().strip()
        if len(secret) < MIN_SECRET:
            raise ConfigurationError(
                f"{path} holds a key shorter than {MIN_SECRET} characters: delete it to have "
                "a new one generated (every user signs in again)"
            ) from None
        return secret
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the signing key {path}: {exc.strerror}; set PI5_AUTH__JWT_SECRET "
            f"or choose another PI5_DATA_DIR"
        ) from None
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    log.info("generated the API's signing key in %s (mode 0600)", path)
    return secret


__all__ = ["KEY_FILE", "embedded", "signing_keys"]
