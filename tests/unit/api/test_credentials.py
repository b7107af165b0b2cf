"""Broker and vendor credentials through the API: admin only, encrypted at rest, never
returned, logged or shown; used by the consumers where the environment sets none."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from litestar.testing import AsyncTestClient

from pi5trading.api import create_app
from pi5trading.cli import main
from pi5trading.config import Settings
from pi5trading.storage.connect import open_repository
from pi5trading.storage.credentials import (
    PROVIDERS,
    CredentialsError,
    Vault,
    fingerprint,
    load_stored_credentials,
    needed_providers,
    store,
    vault_for,
)

from .test_auth import assert_problem, bearer, login, seed_users, settings_for

pytestmark = pytest.mark.anyio

KEY = base64.b64encode(b"k" * 32).decode()
KEY_ID = "PKTESTKEYID00001WXYZ"
SECRET = "sEcReT-0123456789-abcdefghijklmnopqrstuv"
API_KEY = "AVKEY0123456789Q"


def _settings(tmp_path: Path, **env: str) -> Settings:
    return settings_for(tmp_path, PI5_SECURITY__CREDENTIALS_KEY=KEY, **env)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[AsyncTestClient[Any]]:
    settings = _settings(tmp_path)
    await seed_users(settings)
    async with AsyncTestClient(app=create_app(settings)) as c:
        yield c


async def _tokens(c: AsyncTestClient[Any]) -> dict[str, dict[str, str]]:
    return {n: bearer((await login(c, n))["access_token"]) for n in ("root", "tina", "vic")}


def _raw_rows(tmp_path: Path, table: str) -> str:
    db = sqlite3.connect(tmp_path / "pi5trading.db")
    try:
        return repr(db.execute(f"SELECT * FROM {table}").fetchall())
    finally:
        db.close()


async def test_admin_stores_lists_and_deletes_and_no_secret_ever_shows(
    client: AsyncTestClient[Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    t = await _tokens(client)
    body = {"key_id": KEY_ID, "secret_key": SECRET}
    with caplog.at_level(logging.DEBUG):
        r = await client.put("/api/v1/credentials/alpaca", headers=t["root"], json=body)
        assert r.status_code == 200, r.text
        listed = await client.get("/api/v1/credentials", headers=t["root"])
        config = await client.get("/api/v1/system/config", headers=t["root"])
        audit = await client.get("/api/v1/audit?action=credentials.set", headers=t["root"])
        wrong = await client.put(
            "/api/v1/credentials/alpaca", headers=t["root"], json={"key_id": SECRET}
        )
    out = r.json()
    assert out["provider"] == "alpaca"
    assert out["hint"] == "…WXYZ"
    assert out["stored"] is True
    assert out["in_use"] == "stored"
    assert out["environment"] is False
    assert out["readable"] is True
    assert out["updated_by"] == "root"
    assert out["key_id"] == fingerprint(b"k" * 32)
    assert out["variables"] == ["PI5_ALPACA__KEY_ID", "PI5_ALPACA__SECRET_KEY"]
    rows = {x["provider"]: x for x in listed.json()}
    assert set(rows) == {"alpaca", "alpaca_broker", "alphavantage"}
    assert rows["alpaca"]["hint"] == "…WXYZ"
    assert rows["alphavantage"]["stored"] is False
    assert rows["alphavantage"]["in_use"] is None
    assert_problem(wrong, 422, "secret_key: required")
    # Nowhere: not in answers, errors, the config route, the audit trail, the table, logs.
    everything = [r.text, listed.text, config.text, audit.text, wrong.text, caplog.text]
    everything += [_raw_rows(tmp_path, "credentials"), _raw_rows(tmp_path, "audit_log")]
    everything += [rec.getMessage() for rec in caplog.records]
    for text in everything:
        assert SECRET not in text
        assert KEY_ID[:-4] not in text
        assert KEY not in text
    assert config.json()["security"]["credentials_key"] == "<set>"
    assert [a["resource"] for a in audit.json()] == ["credentials:alpaca"]
    assert audit.json()[0]["actor"] is not None
    # Delete, then it is gone (404 the second time), and audited.
    gone = await client.delete("/api/v1/credentials/alpaca", headers=t["root"])
    assert gone.status_code == 204
    assert_problem(await client.delete("/api/v1/credentials/alpaca", headers=t["root"]), 404)
    deleted = await client.get("/api/v1/audit?action=credentials.delete", headers=t["root"])
    assert [a["resource"] for a in deleted.json()] == ["credentials:alpaca"]
    assert _raw_rows(tmp_path, "credentials") == "[]"


async def test_only_an_admin_may_see_or_change_credentials(client: AsyncTestClient[Any]) -> None:
    t = await _tokens(client)
    body = {"api_key": API_KEY}
    for name in ("tina", "vic"):
        assert_problem(await client.get("/api/v1/credentials", headers=t[name]), 403, "admin")
        r = await client.put("/api/v1/credentials/alphavantage", headers=t[name], json=body)
        assert_problem(r, 403, "admin")
        r = await client.delete("/api/v1/credentials/alphavantage", headers=t[name])
        assert_problem(r, 403, "admin")
    assert_problem(await client.get("/api/v1/credentials"), 401)
    r = await client.put("/api/v1/credentials/alphavantage", headers=t["root"], json=body)
    assert r.status_code == 200, r.text
    assert r.json()["hint"] == "…789Q"


@pytest.mark.parametrize(
    ("provider", "body", "status", "names"),
    [
        ("binance", {"api_key": API_KEY}, 400, "provider"),
        ("alpaca", {"key_id": KEY_ID, "secret_key": ""}, 400, "secret_key"),
        ("alpaca", {"key_id": KEY_ID, "secret_key": "x" * 257}, 400, "secret_key"),
        ("alpaca", {"key_id": 12345, "secret_key": SECRET}, 400, "key_id"),
        ("alpaca", {"key_id": KEY_ID, "secret_key": "sEcReT with space"}, 400, "secret_key"),
        ("alpaca", {"key_id": KEY_ID, "secret_key": SECRET, "password": SECRET}, 400, "password"),
        ("alpaca", {"key_id": KEY_ID}, 422, "secret_key"),
        ("alpaca", {"key_id": KEY_ID, "secret_key": SECRET, "api_key": API_KEY}, 422, "api_key"),
        ("alphavantage", {}, 422, "api_key"),
        ("alpaca_broker", {"key_id": " ", "secret_key": SECRET}, 400, "key_id"),
        ("alpaca", [], 400, ""),
    ],
)
async def test_bad_input_names_the_field_and_stores_nothing(
    client: AsyncTestClient[Any],
    tmp_path: Path,
    provider: str,
    body: Any,
    status: int,
    names: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = (await _tokens(client))["root"]
    with caplog.at_level(logging.DEBUG):
        r = await client.put(f"/api/v1/credentials/{provider}", headers=admin, json=body)
    problem = assert_problem(r, status)
    assert names in r.text, problem
    # No value given is repeated, in the answer or the logs.
    values = [v for v in (body.values() if isinstance(body, dict) else []) if isinstance(v, str)]
    for value in (v for v in values if len(v) >= 5):
        assert value not in r.text
        assert value not in caplog.text
    assert _raw_rows(tmp_path, "credentials") == "[]"


async def test_without_a_key_credentials_cannot_be_entered(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    await seed_users(settings)
    async with AsyncTestClient(app=create_app(settings)) as c:
        admin = bearer((await login(c, "root"))["access_token"])
        r = await c.put(
            "/api/v1/credentials/alphavantage", headers=admin, json={"api_key": API_KEY}
        )
        body = assert_problem(r, 503, "PI5_SECURITY__CREDENTIALS_KEY")
        assert body["code"] == "credentials_key_missing"
        listed = await c.get("/api/v1/credentials", headers=admin)
        assert listed.status_code == 200
        assert not any(x["stored"] for x in listed.json())
    bad = settings_for(tmp_path, PI5_SECURITY__CREDENTIALS_KEY="too-short-a-key")
    async with AsyncTestClient(app=create_app(bad)) as c:
        admin = bearer((await login(c, "root"))["access_token"])
        r = await c.put(
            "/api/v1/credentials/alphavantage", headers=admin, json={"api_key": API_KEY}
        )
        body = assert_problem(r, 503, "32 bytes in base64")
        assert "too-short-a-key" not in r.text
        assert body["code"] == "credentials_key_invalid"


async def test_consumers_use_stored_keys_unless_the_environment_sets_some(
    client: AsyncTestClient[Any], tmp_path: Path
) -> None:
    admin = (await _tokens(client))["root"]
    for provider, body in (
        ("alpaca", {"key_id": KEY_ID, "secret_key": SECRET}),
        ("alpaca_broker", {"key_id": "PKBROKER0000000ABCD", "secret_key": "broker-secret"}),
        ("alphavantage", {"api_key": API_KEY}),
    ):
        r = await client.put(f"/api/v1/credentials/{provider}", headers=admin, json=body)
        assert r.status_code == 200, r.text
    # The node with an Alpaca feed and broker: every key from storage.
    node = _settings(tmp_path, PI5_FEED__KIND="alpaca", PI5_BROKER__PROVIDER="alpaca")
    assert needed_providers(node) == ["alpaca_broker", "alpaca"]
    filled = await load_stored_credentials(node, needed_providers(node))
    assert (filled.alpaca.key_id, filled.alpaca.secret_key) == (KEY_ID, SECRET)
    assert (filled.broker.key_id, filled.broker.secret_key) == (
        "PKBROKER0000000ABCD",
        "broker-secret",
    )
    assert "broker-secret" not in repr(filled)
    # The environment wins, for the whole provider (never an env key id with a stored secret).
    env = _settings(tmp_path, PI5_ALPACA__KEY_ID="PKFROMENV")
    kept = await load_stored_credentials(env, ["alpaca", "alphavantage"])
    assert (kept.alpaca.key_id, kept.alpaca.secret_key) == ("PKFROMENV", "")
    assert kept.alphavantage.api_key == API_KEY
    listed = {
        x["provider"]: x for x in (await client.get("/api/v1/credentials", headers=admin)).json()
    }
    assert listed["alpaca"]["in_use"] == "stored"  # this app's environment has none
    # Without the key, stored keys stay unused; with a different key they do not decrypt.
    none = settings_for(tmp_path)
    assert (await load_stored_credentials(none, ["alphavantage"])).alphavantage.api_key == ""
    other = settings_for(
        tmp_path, PI5_SECURITY__CREDENTIALS_KEY=base64.b64encode(os.urandom(32)).decode()
    )
    with pytest.raises(CredentialsError, match="not configured") as err:
        await load_stored_credentials(other, ["alphavantage"])
    assert API_KEY not in str(err.value)


def test_the_cli_prints_a_key_rotates_and_lists(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    asyncio.run(seed_users(settings))

    async def seed() -> None:
        repository = await open_repository(settings)
        try:
            vault = vault_for(settings)
            fields = {"key_id": KEY_ID, "secret_key": SECRET}
            await store(repository, vault, PROVIDERS["alpaca"], fields, by="root")
        finally:
            await repository.close()

    asyncio.run(seed())
    fresh = CliRunner().invoke(main, ["credentials", "key"])
    assert fresh.exit_code == 0
    new_key = fresh.output.strip()
    assert len(base64.b64decode(new_key)) == 32
    assert new_key != CliRunner().invoke(main, ["credentials", "key"]).output.strip()
    env = {"PI5_DATA_DIR": str(tmp_path)}
    # Rotating without the old key among the configured ones: refused, nothing written.
    r = CliRunner(env={**env, "PI5_SECURITY__CREDENTIALS_KEY": new_key}).invoke(
        main, ["credentials", "rotate"]
    )
    assert r.exit_code == 1
    assert "not configured" in r.output
    r = CliRunner(env=env).invoke(main, ["credentials", "rotate"])
    assert r.exit_code == 1
    assert "PI5_SECURITY__CREDENTIALS_KEY" in r.output
    rotated = CliRunner(
        env={
            **env,
            "PI5_SECURITY__CREDENTIALS_KEY": new_key,
            "PI5_SECURITY__CREDENTIALS_OLD_KEYS": KEY,
        }
    ).invoke(main, ["credentials", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert "1 re-encrypted (alpaca)" in rotated.output
    # Now the new key alone reads them; the old one no longer does.
    only_new = settings_for(tmp_path, PI5_SECURITY__CREDENTIALS_KEY=new_key)
    filled = asyncio.run(load_stored_credentials(only_new, ["alpaca"]))
    assert filled.alpaca.secret_key == SECRET
    with pytest.raises(CredentialsError):
        asyncio.run(load_stored_credentials(_settings(tmp_path), ["alpaca"]))
    listed = CliRunner(env={**env, "PI5_SECURITY__CREDENTIALS_KEY": new_key}).invoke(
        main, ["credentials", "list"]
    )
    assert listed.exit_code == 0, listed.output
    assert "alpaca         stored …WXYZ" in listed.output
    assert fingerprint(base64.b64decode(new_key)) in listed.output
    assert "alphavantage   not stored" in listed.output
    audit = _raw_rows(tmp_path, "audit_log")
    assert "credentials.rotate" in audit
    for text in (rotated.output, listed.output, audit):
        assert SECRET not in text
        assert new_key not in text


def test_a_vault_never_shows_its_keys() -> None:
    vault = Vault(b"k" * 32, [b"o" * 32])
    assert KEY not in repr(vault)
    assert fingerprint(b"k" * 32) in repr(vault)


def test_the_cli_on_a_fresh_data_folder_migrates_first(tmp_path: Path) -> None:
    """`credentials list` / `rotate` before anything else ran: no traceback about a
    missing table; the database is prepared as `user create` prepares it."""
    env = {"PI5_DATA_DIR": str(tmp_path / "fresh"), "PI5_SECURITY__CREDENTIALS_KEY": ""}
    listed = CliRunner(env=env).invoke(main, ["credentials", "list"])
    assert listed.exit_code == 0, listed.output
    assert "alpaca         not stored" in listed.output
    key = CliRunner().invoke(main, ["credentials", "key"]).output.strip()
    rotated = CliRunner(env={**env, "PI5_SECURITY__CREDENTIALS_KEY": key}).invoke(
        main, ["credentials", "rotate"]
    )
    assert rotated.exit_code == 0, rotated.output
    assert "0 re-encrypted" in rotated.output
