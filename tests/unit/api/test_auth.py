"""Sign-in, tokens, roles and users through the real app (Litestar's test client) on the
embedded SQLite: every refusal is a problem document with the right status."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from litestar.testing import AsyncTestClient

from pi5trading.api import create_app
from pi5trading.api.security.keys import KEY_FILE
from pi5trading.api.users import create_user
from pi5trading.config import Settings, load_settings
from pi5trading.exceptions import ConfigurationError
from pi5trading.storage.connect import open_repository, prepare_database
from tests.services import RedisServer

pytestmark = pytest.mark.anyio

PASSWORDS = {
    "root": "correct horse battery",
    "tina": "she trades daily",
    "vic": "he only watches",
}
ROLES = {"root": "admin", "tina": "trader", "vic": "viewer"}


def settings_for(tmp_path: Path, **env: str) -> Settings:
    return load_settings(env={"PI5_DATA_DIR": str(tmp_path), **env}, dotenv_path=None)


async def seed_users(settings: Settings) -> None:
    repo = await open_repository(settings)
    try:
        await prepare_database(settings, repo.driver)
        for name, role in ROLES.items():
            await create_user(repo, name, PASSWORDS[name], role)
    finally:
        await repo.close()


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[AsyncTestClient[Any]]:
    settings = settings_for(tmp_path)
    await seed_users(settings)
    async with AsyncTestClient(app=create_app(settings)) as c:
        yield c


async def login(c: AsyncTestClient[Any], name: str, password: str | None = None) -> dict[str, Any]:
    r = await c.post(
        "/api/v1/auth/login", json={"username": name, "password": password or PASSWORDS[name]}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(r: Any, status: int, detail_part: str = "") -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "instance"} <= set(body)
    assert detail_part in body["detail"], body
    return body


async def test_sign_in_and_roles(client: AsyncTestClient[Any]) -> None:
    tokens = {name: (await login(client, name))["access_token"] for name in ROLES}
    me = await client.get("/api/v1/auth/me", headers=bearer(tokens["tina"]))
    assert me.status_code == 200
    assert me.json()["username"] == "tina"
    assert me.json()["role"] == "trader"
    assert "password" not in me.text
    # Users are the admin's: a trader and a viewer are refused, the admin is not.
    for name in ("tina", "vic"):
        r = await client.get("/api/v1/users", headers=bearer(tokens[name]))
        assert_problem(r, 403, "needs the role admin")
    r = await client.get("/api/v1/users", headers=bearer(tokens["root"]))
    assert [u["username"] for u in r.json()] == ["root", "tina", "vic"]
    # No token, a bad scheme.
    assert_problem(await client.get("/api/v1/auth/me"), 401, "Bearer")
    assert_problem(await client.get("/api/v1/auth/me", headers={"Authorization": "Basic x"}), 401)
    # Open routes stay open.
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/schema/openapi.json")).status_code == 200


async def test_wrong_passwords_lock_the_account_for_a_while(client: AsyncTestClient[Any]) -> None:
    unknown = await client.post(
        "/api/v1/auth/login", json={"username": "nobody", "password": "x" * 12}
    )
    wrong = await client.post("/api/v1/auth/login", json={"username": "tina", "password": "x" * 12})
    # The same answer for an unknown user and a wrong password.
    assert assert_problem(unknown, 401)["detail"] == assert_problem(wrong, 401)["detail"]
    for _ in range(4):
        await client.post("/api/v1/auth/login", json={"username": "tina", "password": "nope" * 3})
    locked = await client.post(
        "/api/v1/auth/login", json={"username": "tina", "password": PASSWORDS["tina"]}
    )
    assert_problem(locked, 429, "too many failed logins")
    assert int(locked.headers["retry-after"]) >= 1
    # Another account is not affected.
    await login(client, "vic")
    assert_problem(await client.post("/api/v1/auth/login", json={"username": "tina"}), 400)


async def test_refresh_rotates_and_a_reused_token_revokes_the_family(
    client: AsyncTestClient[Any],
) -> None:
    first = await login(client, "tina")
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert (
        await client.get("/api/v1/auth/me", headers=bearer(second["access_token"]))
    ).status_code == 200
    # The spent token again: refused, and the whole family with it.
    reuse = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert_problem(reuse, 401)
    after = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert_problem(after, 401)
    # Another login is a new family: it still works.
    other = await login(client, "tina")
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert r.status_code == 200
    assert_problem(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": "made-up"}), 401
    )


async def test_logout_revokes_the_access_and_refresh_tokens(client: AsyncTestClient[Any]) -> None:
    pair = await login(client, "vic")
    headers = bearer(pair["access_token"])
    r = await client.post(
        "/api/v1/auth/logout", headers=headers, json={"refresh_token": pair["refresh_token"]}
    )
    assert r.status_code == 204
    assert_problem(await client.get("/api/v1/auth/me", headers=headers), 401, "revoked")
    assert_problem(
        await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}),
        401,
    )


def _forge(claims: dict[str, Any], key: str, **header: Any) -> str:
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": "k1", **header})


async def test_forged_and_broken_tokens_are_refused(client: AsyncTestClient[Any]) -> None:
    pair = await login(client, "vic")
    token = pair["access_token"]
    keys = client.app.state.auth.keys
    claims = jwt.decode(token, options={"verify_signature": False})
    now = int(time.time())
    head, body, sig = token.split(".")

    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    escalated = b64({**claims, "role": "admin"})
    cases = {
        "alg none": b64({"alg": "none", "typ": "JWT", "kid": "k1"}) + "." + body + ".",
        "tampered payload": f"{head}.{escalated}.{sig}",
        "wrong key": _forge(claims, "x" * 40),
        "unknown kid": _forge(claims, keys.secret, kid="k9"),
        "expired": _forge(
            {**claims, "iat": now - 3600, "nbf": now - 3600, "exp": now - 1800}, keys.secret
        ),
        "not yet valid": _forge({**claims, "nbf": now + 600}, keys.secret),
        "other audience": _forge({**claims, "aud": "someone-else"}, keys.secret),
        "no jti": _forge({k: v for k, v in claims.items() if k != "jti"}, keys.secret),
        "refresh as access": _forge({**claims, "typ": "refresh"}, keys.secret),
        "huge": "a" * 10_000,
        "garbage": "not.a.token",
        "hs with rs header": b64({"alg": "RS256", "kid": "k1"}) + "." + body + "." + sig,
    }
    for name, bad in cases.items():
        r = await client.get(
            "/api/v1/auth/users" if name == "x" else "/api/v1/auth/me", headers=bearer(bad)
        )
        assert r.status_code == 401, (name, r.text)
    # A forged admin claim signed with the real key works only because the key is secret:
    # that is what the key is for (sanity check of the forging helper).
    ok = _forge(claims, keys.secret)
    assert (await client.get("/api/v1/auth/me", headers=bearer(ok))).status_code == 200


async def test_change_password(client: AsyncTestClient[Any]) -> None:
    pair = await login(client, "tina")
    h = bearer(pair["access_token"])
    wrong = await client.post(
        "/api/v1/auth/password",
        headers=h,
        json={"current_password": "bad password!", "new_password": "a new one entirely"},
    )
    assert_problem(wrong, 403)
    weak = await client.post(
        "/api/v1/auth/password",
        headers=h,
        json={"current_password": PASSWORDS["tina"], "new_password": "short"},
    )
    assert_problem(weak, 422, "at least 12")
    ok = await client.post(
        "/api/v1/auth/password",
        headers=h,
        json={"current_password": PASSWORDS["tina"], "new_password": "a new one entirely"},
    )
    assert ok.status_code == 204
    old = await client.post(
        "/api/v1/auth/login", json={"username": "tina", "password": PASSWORDS["tina"]}
    )
    assert_problem(old, 401)
    await login(client, "tina", "a new one entirely")
    # Sessions from before the change are signed out (their refresh tokens).
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert_problem(r, 401)


async def test_admin_manages_users(client: AsyncTestClient[Any]) -> None:
    h = bearer((await login(client, "root"))["access_token"])
    r = await client.post(
        "/api/v1/users",
        headers=h,
        json={"username": "Nina", "password": "her long password!", "role": "trader"},
    )
    assert r.status_code == 201, r.text
    nina = r.json()
    assert nina["username"] == "nina"  # case-insensitive names
    for bad, why in [
        ({"username": "nina", "password": "another long one!", "role": "viewer"}, "taken"),
        ({"username": "x", "password": "another long one!"}, "3-32 characters"),
        ({"username": "olga", "password": "another long one!", "role": "boss"}, "unknown role"),
        ({"username": "olga", "password": "olga-olga-olga"}, "username"),
    ]:
        assert_problem(await client.post("/api/v1/users", headers=h, json=bad), 422, why)
    assert_problem(await client.post("/api/v1/users", headers=h, json={"username": 5}), 400)
    nina_tokens = await login(client, "nina", "her long password!")
    # Demote and disable: her sessions end, she cannot sign in.
    r = await client.patch(
        f"/api/v1/users/{nina['id']}", headers=h, json={"role": "viewer", "is_active": False}
    )
    assert r.json()["role"] == "viewer"
    assert r.json()["is_active"] is False
    assert_problem(
        await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": nina_tokens["refresh_token"]}
        ),
        401,
    )
    assert_problem(
        await client.post(
            "/api/v1/auth/login", json={"username": "nina", "password": "her long password!"}
        ),
        401,
    )
    # Reset her password and enable her again.
    assert (
        await client.post(
            f"/api/v1/users/{nina['id']}/password",
            headers=h,
            json={"new_password": "reset by the admin"},
        )
    ).status_code == 204
    await client.patch(f"/api/v1/users/{nina['id']}", headers=h, json={"is_active": True})
    await login(client, "nina", "reset by the admin")
    # The admin cannot lock themselves out; an unknown user is a 404.
    me = (await client.get("/api/v1/auth/me", headers=h)).json()
    assert_problem(
        await client.patch(f"/api/v1/users/{me['id']}", headers=h, json={"role": "viewer"}), 409
    )
    assert_problem(
        await client.patch("/api/v1/users/nope", headers=h, json={"role": "viewer"}), 404
    )


async def test_security_events_are_audited(client: AsyncTestClient[Any], tmp_path: Path) -> None:
    await login(client, "tina")
    await client.post("/api/v1/auth/login", json={"username": "tina", "password": "not it at all"})
    pair = await login(client, "vic")
    await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    repo = client.app.state.repository
    rows = await repo.list_audit(limit=100)
    seen = {(r.action, r.outcome) for r in rows}
    assert {("login", "success"), ("login", "failure"), ("token.reuse", "denied")} <= seen
    failure = next(r for r in rows if r.action == "login" and r.outcome == "failure")
    assert failure.resource == "user:tina"
    assert failure.ip is not None
    assert "not it at all" not in json.dumps([r.details for r in rows])


async def test_the_rate_limit_answers_429(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, PI5_API__RATE_LIMIT_PER_MINUTE="5")
    await seed_users(settings)
    async with AsyncTestClient(app=create_app(settings)) as c:
        codes = [(await c.get("/api/v1/auth/me")).status_code for _ in range(8)]
        assert codes[:5] == [401] * 5
        assert codes[5:] == [429] * 3
        assert (await c.get("/health")).status_code == 200  # never limited


async def test_the_signing_key(tmp_path: Path) -> None:
    # Embedded: generated once, private, reused.
    settings = settings_for(tmp_path)
    create_app(settings)
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text()
    create_app(settings)
    assert path.read_text() == key
    # PostgreSQL without a secret, or a weak secret: refused before anything starts.
    pg = settings_for(tmp_path, PI5_DATABASE__URL="postgresql://u:p@127.0.0.1:1/db")
    with pytest.raises(ConfigurationError, match="PI5_AUTH__JWT_SECRET is not set"):
        create_app(pg)
    with pytest.raises(ConfigurationError, match="too short"):
        create_app(settings_for(tmp_path, PI5_AUTH__JWT_SECRET="short"))
    os.chmod(path, 0o644)
    create_app(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_with_redis_every_api_process_shares_limits_and_lockouts(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    # Two API processes (here two apps) on one Redis: a client's requests count once
    # across both, and an account locked through one is locked on the other.
    settings = settings_for(
        tmp_path,
        PI5_API__RATE_LIMIT_PER_MINUTE="10",
        PI5_REDIS__URL=redis_server.url,
        PI5_REDIS__KEY_PREFIX=f"t{os.getpid()}{time.monotonic_ns()}",
    )
    await seed_users(settings)
    async with (
        AsyncTestClient(app=create_app(settings)) as a,
        AsyncTestClient(app=create_app(settings)) as b,
    ):
        for _ in range(5):
            r = await a.post("/api/v1/auth/login", json={"username": "tina", "password": "n" * 12})
            assert r.status_code == 401, r.text
        locked = await b.post(
            "/api/v1/auth/login", json={"username": "tina", "password": PASSWORDS["tina"]}
        )
        assert_problem(locked, 429, "too many failed logins")
        # Ten requests a minute in all: the six logins on A and B, then four more.
        codes = [(await c.get("/api/v1/auth/me")).status_code for c in (a, b, a, b, a, b)]
        assert codes == [401] * 4 + [429] * 2


async def test_with_redis_a_token_signed_out_on_one_process_is_refused_by_all(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    # Two API processes (two apps) on one Redis: signing out on A ends the access token on
    # B at once, not when it expires; the revocation expires with the token.
    prefix = f"t{os.getpid()}{time.monotonic_ns()}"
    settings = settings_for(tmp_path, PI5_REDIS__URL=redis_server.url, PI5_REDIS__KEY_PREFIX=prefix)
    await seed_users(settings)
    async with (
        AsyncTestClient(app=create_app(settings)) as a,
        AsyncTestClient(app=create_app(settings)) as b,
    ):
        pair = await login(a, "tina")
        other = await login(b, "tina")  # another session of the same user
        headers = bearer(pair["access_token"])
        assert (await b.get("/api/v1/auth/me", headers=headers)).status_code == 200
        assert (await a.post("/api/v1/auth/logout", headers=headers)).status_code == 204
        assert_problem(await b.get("/api/v1/auth/me", headers=headers), 401, "revoked")
        assert_problem(await a.get("/api/v1/auth/me", headers=headers), 401, "revoked")
        # Only that token: the other session goes on.
        r = await b.get("/api/v1/auth/me", headers=bearer(other["access_token"]))
        assert r.status_code == 200
    import redis

    client = redis.Redis.from_url(redis_server.url)
    try:
        keys = client.keys(f"{prefix}:api*revoked_tokens*")
        assert len(keys) == 1
        assert 0 < client.ttl(keys[0]) <= settings.auth.access_ttl_s + 1
    finally:
        client.close()


async def test_unreadable_revocations_refuse_rather_than_let_a_token_in() -> None:
    # Redis away (nothing listens there): checking or recording a sign-out is a 503.
    import redis.asyncio as aioredis
    from litestar.stores.redis import RedisStore

    from pi5trading.api.auth import AuthContext
    from pi5trading.api.errors import Problem
    from pi5trading.api.security.tokens import SigningKeys, decode_access, issue_access
    from tests.services import free_port

    settings = load_settings(env={}, dotenv_path=None).auth
    keys = SigningKeys("k1", "s" * 40)
    token, _ = issue_access(
        keys, settings, user_id="u1", username="tina", role="trader", now=int(time.time())
    )
    identity = decode_access(token, keys, settings)
    client = aioredis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    try:
        ctx = AuthContext(keys, settings, revoked_store=RedisStore(client))
        with pytest.raises(Problem) as checked:
            await ctx.is_revoked(identity)
        assert checked.value.status_code == 503
        with pytest.raises(Problem) as recorded:
            await ctx.revoke_access(identity)
        assert recorded.value.status_code == 503
    finally:
        await client.aclose()


async def test_a_fresh_data_dir_is_made_for_the_key(tmp_path: Path) -> None:
    # `PI5_DATA_DIR=/a/new/folder pi5trading serve`: the key is the first thing written there.
    fresh = tmp_path / "new" / "data"
    create_app(settings_for(fresh))
    assert stat.S_IMODE((fresh / KEY_FILE).stat().st_mode) == 0o600


async def test_the_embedded_demo_creates_a_first_admin_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path)
    with caplog.at_level("WARNING", logger="pi5trading.api"):
        async with AsyncTestClient(app=create_app(settings)):
            pass
    text = caplog.text
    password = text.split("the password\n\n    ")[1].split("\n")[0]
    async with AsyncTestClient(app=create_app(settings)) as c:
        await login(c, "admin", password)
    assert text.count("created the user 'admin'") == 1
    await asyncio.sleep(0)


async def test_security_headers_on_answers_and_errors(client: AsyncTestClient[Any]) -> None:
    for r in (await client.get("/health"), await client.get("/api/v1/auth/me")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-request-id"]


def test_a_verified_token_is_remembered_but_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache skips the signature check for a token seen before, never its expiry, and
    a token it never verified (another signature) is checked in full."""
    from pi5trading.api.security import tokens

    settings = load_settings(env={}, dotenv_path=None).auth
    keys = tokens.SigningKeys("k1", "s" * 40)
    now = int(time.time())
    token, ttl = tokens.issue_access(
        keys, settings, user_id="1", username="tina", role="trader", now=now
    )
    cache = tokens.VerifiedTokens(size=2)
    first = cache.decode(token, keys, settings)
    assert cache.decode(token, keys, settings) is first  # remembered
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(tokens.TokenError, match="invalid token"):
        cache.decode(forged, keys, settings)
    monkeypatch.setattr(tokens.time, "time", lambda: now + ttl + 6.0)
    with pytest.raises(tokens.TokenError, match="token expired"):
        cache.decode(token, keys, settings)
    # Bounded: the oldest entries go.
    monkeypatch.undo()
    others = [
        tokens.issue_access(keys, settings, user_id=str(i), username="u", role="viewer", now=now)[0]
        for i in range(3)
    ]
    for t in others:
        cache.decode(t, keys, settings)
    assert len(cache._known) == 2
