"""Broker and data-vendor credentials entered through the API (admin), encrypted at rest.

``PUT /api/v1/credentials/{provider}`` stores a provider's keys encrypted
(``pi5trading.storage.credentials``: AES-256-GCM under ``PI5_SECURITY__CREDENTIALS_KEY``);
``GET /api/v1/credentials`` says which providers have keys, where from, when and by whom,
with the last 4 characters of the key id — never a secret; ``DELETE`` forgets them. Every
change is audited (without the keys). The node and ``data download`` use stored keys where
the environment sets none, from their next start.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import Request, delete, get, put
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from pi5trading.api.audit import audit
from pi5trading.api.errors import Problem
from pi5trading.api.node_access import repository_of
from pi5trading.api.roles import ADMIN
from pi5trading.api.security.tokens import Identity
from pi5trading.api.timefmt import iso
from pi5trading.config import Settings
from pi5trading.storage.credentials import (
    MAX_SECRET,
    PROVIDERS,
    CredentialsError,
    CredentialsInputError,
    CredentialsKeyMissingError,
    Vault,
    checked_fields,
    in_environment,
    store,
    vault_for,
)
from pi5trading.storage.records import CredentialRow

ProviderName = Literal["alpaca", "alpaca_broker", "alphavantage"]
assert set(ProviderName.__args__) == set(PROVIDERS)  # type: ignore[attr-defined]
Secret = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_SECRET,
        pattern=r"^[!-~]+$",
        description="printable ASCII without spaces",
    ),
]


class CredentialsIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A provider's keys: ``key_id`` and ``secret_key`` for Alpaca (data or broker),
    ``api_key`` for Alpha Vantage."""

    key_id: Secret | None = None
    secret_key: Secret | None = None
    api_key: Secret | None = None


class CredentialsOut(msgspec.Struct, frozen=True, kw_only=True):
    """What is known of a provider's keys (never the keys)."""

    provider: ProviderName
    label: str
    fields: list[str]
    """What ``PUT`` takes for it."""
    variables: list[str]
    """The environment variables that give the same keys (and win over stored ones)."""
    in_use: Literal["environment", "stored"] | None
    """Where the node and ``data download`` take its keys from (at their next start)."""
    environment: bool
    stored: bool
    hint: str | None
    """The last 4 characters of the stored key id (``…WXYZ``)."""
    key_id: str | None
    """Fingerprint of the encryption key the stored row is under."""
    readable: bool | None
    """The configured keys decrypt it (false: it needs an old key back, or re-entering)."""
    created_at: str | None
    updated_at: str | None
    updated_by: str | None


def _out(settings: Settings, name: str, row: CredentialRow | None, vault: Vault | None) -> Any:
    provider = PROVIDERS[name]
    env = in_environment(settings, provider)
    return CredentialsOut(
        provider=name,  # type: ignore[arg-type]
        label=provider.label,
        fields=list(provider.fields),
        variables=provider.variables(),
        in_use="environment" if env else ("stored" if row is not None else None),
        environment=env,
        stored=row is not None,
        hint=row.hint if row is not None else None,
        key_id=row.key_id if row is not None else None,
        readable=(vault is not None and vault.readable(row.key_id)) if row is not None else None,
        created_at=iso(row.created_ns) if row is not None else None,
        updated_at=iso(row.updated_ns) if row is not None else None,
        updated_by=row.updated_by if row is not None else None,
    )


def _vault(request: Request[Any, Any, Any], *, required: bool) -> Vault | None:
    settings: Settings = request.app.state.settings
    try:
        return vault_for(settings) if required else Vault.from_settings(settings.security)
    except CredentialsKeyMissingError as exc:
        raise Problem(503, "No credentials key", str(exc), code="credentials_key_missing") from None
    except CredentialsError as exc:
        raise Problem(
            503, "Bad credentials key", str(exc), code="credentials_key_invalid"
        ) from None


def _ip(request: Request[Any, Any, Any]) -> str | None:
    return request.client.host if request.client else None


@get("/api/v1/credentials", tags=["credentials"], guards=ADMIN, operation_id="listCredentials")
async def list_credentials(request: Request[Any, Any, Any]) -> list[CredentialsOut]:
    """Every provider whose keys can be entered, and what is known of its keys: from the
    environment or stored, when, by whom, the key id's last 4 characters (admin). Never a
    secret."""
    settings: Settings = request.app.state.settings
    vault = _vault(request, required=False)
    rows = {r.provider: r for r in await repository_of(request).list_credentials()}
    return [_out(settings, name, rows.get(name), vault) for name in PROVIDERS]


@put(
    "/api/v1/credentials/{provider:str}",
    tags=["credentials"],
    guards=ADMIN,
    operation_id="setCredentials",
)
async def set_credentials(
    request: Request[Identity, Any, Any],
    provider: FromPath[ProviderName],
    data: JSONBody[CredentialsIn],
) -> CredentialsOut:
    """Store a provider's keys, encrypted (admin); they replace any stored. The node and
    ``data download`` use them from their next start unless the environment sets keys of
    its own. 503 without ``PI5_SECURITY__CREDENTIALS_KEY``; 422 names a missing or
    unexpected field."""
    known = PROVIDERS[provider]
    try:
        fields = checked_fields(known, msgspec.structs.asdict(data))
    except CredentialsInputError as exc:
        raise Problem(
            422,
            "Invalid credentials",
            str(exc),
            errors=[{"field": exc.field, "message": exc.reason}],
        ) from None
    vault = _vault(request, required=True)
    assert vault is not None
    repository = repository_of(request)
    row = await store(repository, vault, known, fields, by=request.user.username)
    await audit(
        repository, "credentials.set", "success", actor=request.user.user_id,
        resource=f"credentials:{provider}", ip=_ip(request), hint=row.hint, key_id=row.key_id,
    )  # fmt: skip
    return _out(request.app.state.settings, provider, row, vault)  # type: ignore[no-any-return]


@delete(
    "/api/v1/credentials/{provider:str}",
    tags=["credentials"],
    guards=ADMIN,
    status_code=HTTP_204_NO_CONTENT,
    operation_id="deleteCredentials",
)
async def delete_credentials(
    request: Request[Identity, Any, Any], provider: FromPath[ProviderName]
) -> None:
    """Forget a provider's stored keys (admin); 404 when none are stored. Keys from the
    environment are not affected."""
    # Returns None, not Response[None]: the schema documented this 204 as JSON, which the
    # long API fuzz (make proof, issue 17) found.
    repository = repository_of(request)
    if not await repository.delete_credential(provider):
        raise Problem(404, "No stored credentials", f"no credentials of {provider} are stored")
    await audit(
        repository, "credentials.delete", "success", actor=request.user.user_id,
        resource=f"credentials:{provider}", ip=_ip(request),
    )  # fmt: skip


ROUTES: Final = [list_credentials, set_credentials, delete_credentials]

__all__ = ["ROUTES", "CredentialsIn", "CredentialsOut"]
