"""Broker and data-vendor credentials entered through the API, encrypted at rest.

A row of the ``credentials`` table holds one provider's keys encrypted with AES-256-GCM
(``cryptography``'s ``AESGCM``) under ``PI5_SECURITY__CREDENTIALS_KEY``: a fresh 96-bit
nonce per encryption, and the provider's name as associated data, so a row copied to
another provider does not decrypt. ``key_id`` (a fingerprint, not the key) names the key
that encrypted a row; keys of before a rotation stay readable while they are listed in
``PI5_SECURITY__CREDENTIALS_OLD_KEYS``, and ``rotate`` re-encrypts every row under the
current one.

The consumers (the Alpaca broker and feed, the vendor clients of ``data download``) read
their keys from the settings; ``with_stored_credentials`` fills the ones the environment
leaves empty from this table. The environment always wins: a provider with any of its
``PI5_*`` keys set uses those, and its stored row is ignored.

Nothing here puts a secret in a message, a log line or a repr.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from pi5trading.exceptions import ConfigurationError
from pi5trading.storage.records import CredentialRow

if TYPE_CHECKING:
    from pi5trading.config import SecuritySettings, Settings
    from pi5trading.storage.protocol import Repository

log = logging.getLogger("pi5trading.credentials")

KEY_VAR: Final = "PI5_SECURITY__CREDENTIALS_KEY"
OLD_KEYS_VAR: Final = "PI5_SECURITY__CREDENTIALS_OLD_KEYS"
_AAD: Final = b"pi5trading credentials v1\x00"
_NONCE_BYTES: Final = 12
MAX_SECRET: Final = 256
"""Longest key or secret accepted (Alpaca's are 20 and 40 characters, Alpha Vantage's 16)."""


class Provider(msgspec.Struct, frozen=True, kw_only=True):
    """A provider whose keys can be stored, and the settings they stand in for."""

    name: str
    label: str
    section: str
    """The ``Settings`` section the keys go into (``PI5_<SECTION>__<FIELD>``)."""
    fields: tuple[str, ...]
    hint_field: str
    """The field whose last characters identify the keys (a key id, not a secret if any)."""

    def variables(self) -> list[str]:
        return [f"PI5_{self.section.upper()}__{f.upper()}" for f in self.fields]


PROVIDERS: Final = {
    p.name: p
    for p in (
        Provider(
            name="alpaca",
            label="Alpaca market data (feed and data download)",
            section="alpaca",
            fields=("key_id", "secret_key"),
            hint_field="key_id",
        ),
        Provider(
            name="alpaca_broker",
            label="Alpaca broker (orders, with PI5_BROKER__PROVIDER=alpaca)",
            section="broker",
            fields=("key_id", "secret_key"),
            hint_field="key_id",
        ),
        Provider(
            name="alphavantage",
            label="Alpha Vantage (feed and data download)",
            section="alphavantage",
            fields=("api_key",),
            hint_field="api_key",
        ),
    )
}
"""Every provider the code reads keys for, by the name the API and CLI use."""


class CredentialsError(ConfigurationError):
    """Credentials cannot be stored or read (the message never holds a secret)."""


class CredentialsKeyMissingError(CredentialsError):
    """No ``PI5_SECURITY__CREDENTIALS_KEY``: nothing can be encrypted or decrypted."""


class CredentialsInputError(CredentialsError):
    """A field of the credentials entered is missing, unexpected or malformed."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def new_key() -> str:
    """A fresh key for ``PI5_SECURITY__CREDENTIALS_KEY`` (32 random bytes, base64)."""
    return base64.b64encode(os.urandom(32)).decode()


def fingerprint(key: bytes) -> str:
    """A key's public name (12 hex digits of a hash of it): tells keys apart, reveals none."""
    return hashlib.sha256(b"pi5trading credentials key id\x00" + key).hexdigest()[:12]


def _decode_key(text: str, var: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        # The value is a secret: never echoed.
        raise CredentialsError(
            f"{var}=***: expected 32 bytes in base64 (44 characters); "
            "`pi5trading credentials key` prints a fresh one"
        )
    return raw


class Vault:
    """Encrypts and decrypts credential rows with the configured keys."""

    def __init__(self, current: bytes, old: Sequence[bytes] = ()) -> None:
        self.key_id = fingerprint(current)
        self._ciphers = {fingerprint(k): AESGCM(k) for k in [*old, current]}

    @classmethod
    def from_settings(cls, security: SecuritySettings) -> Vault | None:
        """The vault of ``PI5_SECURITY__*``; ``None`` without a current key. A malformed
        key is a ``CredentialsError`` naming the variable (not its value)."""
        if not security.credentials_key:
            if security.credentials_old_keys:
                raise CredentialsError(
                    f"{OLD_KEYS_VAR} is set but {KEY_VAR} is not: set the current key too"
                )
            return None
        current = _decode_key(security.credentials_key, KEY_VAR)
        old = [
            _decode_key(part, OLD_KEYS_VAR)
            for part in security.credentials_old_keys.split(",")
            if part.strip()
        ]
        return cls(current, old)

    def __repr__(self) -> str:  # keys stay out of logs and tracebacks
        return f"Vault(current={self.key_id!r}, known={sorted(self._ciphers)!r})"

    def readable(self, key_id: str) -> bool:
        """A row encrypted under ``key_id`` can be decrypted with the configured keys."""
        return key_id in self._ciphers

    def seal(self, provider: str, fields: Mapping[str, str]) -> tuple[str, str]:
        """``(ciphertext, key_id)`` of ``fields`` for ``provider``, under the current key."""
        nonce = os.urandom(_NONCE_BYTES)
        plain = msgspec.json.encode(dict(fields))
        sealed = self._ciphers[self.key_id].encrypt(nonce, plain, _AAD + provider.encode())
        return base64.b64encode(nonce + sealed).decode(), self.key_id

    def open(self, row: CredentialRow) -> dict[str, str]:
        """The fields of a stored row; ``CredentialsError`` if no configured key opens it,
        or it was altered or copied from another provider."""
        cipher = self._ciphers.get(row.key_id)
        if cipher is None:
            raise CredentialsError(
                f"the stored credentials of {row.provider} were encrypted with key "
                f"{row.key_id}, which is not configured: put it back in {KEY_VAR} or "
                f"{OLD_KEYS_VAR}, or enter them again"
            )
        try:
            blob = base64.b64decode(row.ciphertext, validate=True)
            plain = cipher.decrypt(
                blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _AAD + row.provider.encode()
            )
            fields = msgspec.json.decode(plain, type=dict[str, str])
        except (InvalidTag, binascii.Error, ValueError, msgspec.DecodeError):
            raise CredentialsError(
                f"the stored credentials of {row.provider} do not decrypt with key "
                f"{row.key_id}: the row was altered or copied from another provider; "
                "enter them again"
            ) from None
        return fields


def vault_for(settings: Settings) -> Vault:
    """The configured vault; ``CredentialsKeyMissingError`` without a key."""
    vault = Vault.from_settings(settings.security)
    if vault is None:
        raise CredentialsKeyMissingError(
            f"no key to encrypt credentials with: set {KEY_VAR} (`pi5trading credentials key` "
            "prints one) and restart; until then keys come from the environment only"
        )
    return vault


def provider_of(name: str) -> Provider:
    provider = PROVIDERS.get(name)
    if provider is None:
        raise CredentialsInputError(
            "provider", f"{name!r} is not a known provider (one of {', '.join(PROVIDERS)})"
        )
    return provider


def checked_fields(provider: Provider, given: Mapping[str, str | None]) -> dict[str, str]:
    """The provider's fields from ``given``: each present, printable ASCII without spaces,
    at most ``MAX_SECRET`` characters; no other field. ``CredentialsInputError`` names the
    first bad field (never its value)."""
    for name, value in given.items():
        if name not in provider.fields and value is not None:
            raise CredentialsInputError(
                name, f"not a field of {provider.name} (its fields: {', '.join(provider.fields)})"
            )
    out: dict[str, str] = {}
    for name in provider.fields:
        value = given.get(name)
        if value is None or not value.strip():
            raise CredentialsInputError(name, f"required for {provider.name}")
        if len(value) > MAX_SECRET:
            raise CredentialsInputError(name, f"longer than {MAX_SECRET} characters")
        if not all("!" <= c <= "~" for c in value):
            raise CredentialsInputError(name, "printable ASCII without spaces expected")
        out[name] = value
    return out


def hint_of(provider: Provider, fields: Mapping[str, str]) -> str:
    """``…WXYZ``: the last 4 characters of the identifying field (none of a short one)."""
    value = fields.get(provider.hint_field, "")
    return f"…{value[-4:]}" if len(value) >= 12 else "…"


def in_environment(settings: Settings, provider: Provider) -> bool:
    """Any of the provider's keys is set in the settings (the environment, ``.env``)."""
    section = getattr(settings, provider.section)
    return any(getattr(section, f) for f in provider.fields)


async def store(
    repository: Repository,
    vault: Vault,
    provider: Provider,
    fields: Mapping[str, str],
    *,
    by: str | None,
) -> CredentialRow:
    """Encrypt and store the provider's keys (replacing any stored)."""
    now = time.time_ns()
    old = await repository.get_credential(provider.name)
    ciphertext, key_id = vault.seal(provider.name, fields)
    row = CredentialRow(
        provider=provider.name,
        ciphertext=ciphertext,
        key_id=key_id,
        hint=hint_of(provider, fields),
        created_ns=old.created_ns if old is not None else now,
        updated_ns=now,
        updated_by=by,
    )
    await repository.save_credential(row)
    return row


class Rotation(msgspec.Struct, frozen=True, kw_only=True):
    key_id: str
    """The current key's fingerprint."""
    reencrypted: list[str]
    already_current: list[str]
    changed_meanwhile: list[str]
    """Rows replaced or deleted while the rotation ran (the newer entry stays)."""


async def rotate(repository: Repository, vault: Vault) -> Rotation:
    """Re-encrypt every stored row under the current key (with a fresh nonce). A row no
    configured key opens stops the rotation before anything is written."""
    rows = await repository.list_credentials()
    opened = [(row, vault.open(row)) for row in rows]  # every row readable, or nothing done
    done: list[str] = []
    current: list[str] = []
    raced: list[str] = []
    for row, fields in opened:
        if row.key_id == vault.key_id:
            current.append(row.provider)
            continue
        ciphertext, key_id = vault.seal(row.provider, fields)
        changed = await repository.reencrypt_credential(
            row.provider, ciphertext=ciphertext, key_id=key_id, updated_ns=row.updated_ns
        )
        (done if changed else raced).append(row.provider)
    return Rotation(
        key_id=vault.key_id, reencrypted=done, already_current=current, changed_meanwhile=raced
    )


def needed_providers(settings: Settings) -> list[str]:
    """The providers the trading node uses with these settings."""
    names = []
    if settings.broker.provider == "alpaca":
        names.append("alpaca_broker")
    if settings.feed.kind in ("alpaca", "alphavantage"):
        names.append(settings.feed.kind)
    return names


async def with_stored_credentials(
    settings: Settings, repository: Repository, providers: Sequence[str]
) -> Settings:
    """``settings`` with the stored keys of ``providers`` where the environment sets none.

    Without ``PI5_SECURITY__CREDENTIALS_KEY`` stored keys stay unused (a warning says so).
    Keys that do not decrypt are a ``CredentialsError``."""
    wanted = [PROVIDERS[p] for p in providers if not in_environment(settings, PROVIDERS[p])]
    if not wanted:
        return settings
    rows = {p.name: await repository.get_credential(p.name) for p in wanted}
    found = {name: row for name, row in rows.items() if row is not None}
    if not found:
        return settings
    vault = Vault.from_settings(settings.security)
    if vault is None:
        log.warning(
            "stored credentials of %s are not used: %s is not set",
            ", ".join(found),
            KEY_VAR,
        )
        return settings
    for name, row in found.items():
        provider = PROVIDERS[name]
        fields = vault.open(row)
        section = getattr(settings, provider.section)
        section = msgspec.structs.replace(
            section, **{f: fields.get(f, "") for f in provider.fields}
        )
        settings = msgspec.structs.replace(settings, **{provider.section: section})
        log.info("%s: using the stored credentials (%s)", name, row.hint)
    return settings


async def load_stored_credentials(settings: Settings, providers: Sequence[str]) -> Settings:
    """``with_stored_credentials`` on the configured database, opened for this only when a
    provider lacks keys in the environment (and never created: a SQLite file that does not
    exist yet has none). A database that cannot be read leaves the settings as they are,
    with a warning; keys that do not decrypt are a ``CredentialsError``."""
    from pi5trading.storage.connect import open_repository, sqlite_path

    if all(in_environment(settings, PROVIDERS[p]) for p in providers):
        return settings
    path = sqlite_path(settings.database.url, settings.data_dir)
    if path is not None and not path.is_file():
        return settings
    try:
        repository = await open_repository(settings)
    except Exception as exc:  # the database's own errors hold no credentials
        log.warning("stored credentials not read: %s", exc)
        return settings
    try:
        return await with_stored_credentials(settings, repository, providers)
    except CredentialsError:
        raise
    except Exception as exc:  # not migrated yet, unreachable: the environment's keys only
        log.warning("stored credentials not read: %s", exc)
        return settings
    finally:
        await repository.close()


__all__ = [
    "KEY_VAR",
    "MAX_SECRET",
    "OLD_KEYS_VAR",
    "PROVIDERS",
    "CredentialsError",
    "CredentialsInputError",
    "CredentialsKeyMissingError",
    "Provider",
    "Rotation",
    "Vault",
    "checked_fields",
    "fingerprint",
    "hint_of",
    "in_environment",
    "load_stored_credentials",
    "needed_providers",
    "new_key",
    "provider_of",
    "rotate",
    "store",
    "vault_for",
    "with_stored_credentials",
]
