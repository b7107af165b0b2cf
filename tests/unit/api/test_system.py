"""Readiness, status, settings without secrets, the risk state and the operator's halt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from pi5trading.api import create_app
from pi5trading.api.app import node_lifespan

from .test_auth import assert_problem, bearer, login, seed_users, settings_for

pytestmark = pytest.mark.anyio


async def test_ready_and_status(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        PI5_NODE__DEMO_STRATEGIES="false",
        PI5_FEED__SPEED="60",
        PI5_BROKER__SECRET_KEY="very-secret-value",
    )
    await seed_users(settings)
    async with AsyncTestClient(app=create_app(settings, lifespan=[node_lifespan(settings)])) as c:
        r = await c.get("/ready")
        assert r.status_code == 200, r.text
        checks = r.json()["checks"]
        assert checks["database"]["ok"]
        assert checks["node"] == {"ok": True, "detail": "running"}
        assert any(k.startswith("feed:") for k in checks)
        admin = bearer((await login(c, "root"))["access_token"])
        viewer = bearer((await login(c, "vic"))["access_token"])
        assert_problem(await c.get("/api/v1/system/status", headers=viewer), 403)
        st = (await c.get("/api/v1/system/status", headers=admin)).json()
        assert st["node"] == "running"
        assert st["strategies"] == {"manual": "running"}
        assert st["writer"]["breaker"]["state"] == "closed"
        # The node's own database breaker open (its writer journals): not ready, named; an
        # admin's reset closes it.
        assert checks["breaker:database:node"] == {"ok": True, "detail": "closed"}
        node_breaker = c.app.state.node.sinks.storage.repository.breaker
        for _ in range(node_breaker.failure_threshold):
            node_breaker.record_failure(ConnectionError("gone"))
        r = await c.get("/ready")
        assert r.status_code == 503
        assert r.json()["checks"]["breaker:database:node"] == {"ok": False, "detail": "open"}
        assert r.json()["checks"]["breaker:database:api"]["ok"]
        reset = await c.post("/api/v1/system/breakers/database:node/reset", headers=admin)
        assert reset.status_code == 200, reset.text
        assert (await c.get("/ready")).status_code == 200
        cfg = await c.get("/api/v1/system/config", headers=admin)
        assert cfg.status_code == 200
        assert "very-secret-value" not in cfg.text
        assert cfg.json()["broker"]["secret_key"] == "<set>"
        assert "jwt_secret" in cfg.json()["auth"]
        assert json.loads(cfg.text)["auth"]["jwt_secret"] == ""


async def test_ready_is_503_without_the_node_or_database(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    await seed_users(settings)
    async with AsyncTestClient(app=create_app(settings)) as c:
        # No node in this process: still ready as an API (reads only).
        r = await c.get("/ready")
        assert r.status_code == 200
        assert "node" not in r.json()["checks"]
        await c.app.state.repository.close()  # the database goes away
        r = await c.get("/ready")
        assert r.status_code == 503
        assert r.json()["checks"]["database"]["ok"] is False


async def test_the_operator_halts_and_resumes_trading(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, PI5_NODE__DEMO_STRATEGIES="false", PI5_FEED__SPEED="600", PI5_FEED__SYMBOLS="AAPL"
    )
    await seed_users(settings)
    async with AsyncTestClient(app=create_app(settings, lifespan=[node_lifespan(settings)])) as c:
        admin = bearer((await login(c, "root"))["access_token"])
        trader = bearer((await login(c, "tina"))["access_token"])
        risk = (await c.get("/api/v1/risk", headers=trader)).json()
        assert risk["state"] == "active"
        assert risk["limits"]["max_quantity"] == "500"
        # Only an admin, and only with a reason.
        halt = {"state": "halted", "reason": "broker maintenance"}
        assert_problem(await c.post("/api/v1/risk/state", headers=trader, json=halt), 403)
        assert_problem(
            await c.post("/api/v1/risk/state", headers=admin, json={"state": "halted"}), 422
        )
        assert_problem(
            await c.post(
                "/api/v1/risk/state", headers=admin, json={"state": "paused", "reason": "x"}
            ),
            400,
        )
        r = await c.post("/api/v1/risk/state", headers=admin, json=halt)
        assert r.status_code == 200, r.text
        assert (r.json()["state"], r.json()["cause"]) == ("halted", "admin")
        # Every order is refused while halted, with the reason code.
        order = {"symbol": "AAPL", "side": "buy", "quantity": "1"}
        denied = await c.post("/api/v1/orders", headers=trader, json=order)
        assert assert_problem(denied, 422)["code"] == "trading_halted"
        r = await c.post(
            "/api/v1/risk/state", headers=admin, json={"state": "active", "reason": "done"}
        )
        assert r.json()["state"] == "active"
        assert (await c.post("/api/v1/orders", headers=trader, json=order)).status_code == 201
        # One strategy alone.
        r = await c.post(
            "/api/v1/risk/state",
            headers=admin,
            json={"state": "reducing", "reason": "too much", "strategy_id": "manual"},
        )
        assert r.json()["strategies"]["manual"] == "reducing"
        assert_problem(
            await c.post(
                "/api/v1/risk/state", headers=admin, json={**halt, "strategy_id": "ghost"}
            ),
            404,
        )
        rows = await c.app.state.repository.list_audit(action="risk.set_state")
        assert len(rows) == 3


async def test_metrics_for_prometheus(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, PI5_NODE__DEMO_STRATEGIES="false", PI5_FEED__SPEED="600")
    await seed_users(settings)
    async with AsyncTestClient(app=create_app(settings, lifespan=[node_lifespan(settings)])) as c:
        admin = bearer((await login(c, "root"))["access_token"])
        await c.get("/api/v1/risk", headers=admin)
        await c.get("/api/v1/orders/nope-9", headers=admin)
        r = await c.get("/metrics")  # no token: scraped on the private network
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        text = r.text
        # HTTP by route template (not by raw path), with status and duration.
        assert "pi5_http_requests_total{" in text
        assert 'path="/api/v1/orders/{order_id}"' in text
        assert 'status_code="404"' in text
        assert "pi5_http_request_duration_seconds_bucket" in text
        # The node's own.
        assert "pi5_" in text.replace("pi5_http", "")
        assert "process_resident_memory_bytes" in text


async def test_the_audit_log_and_its_chain_for_the_admin(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    await seed_users(settings)
    async with AsyncTestClient(app=create_app(settings)) as c:
        admin = bearer((await login(c, "root"))["access_token"])
        await c.post("/api/v1/auth/login", json={"username": "tina", "password": "wrong one!!!"})
        viewer = bearer((await login(c, "vic"))["access_token"])
        assert_problem(await c.get("/api/v1/audit", headers=viewer), 403)
        rows = (await c.get("/api/v1/audit?action=login", headers=admin)).json()
        assert [r["outcome"] for r in rows] == ["success", "failure", "success"]
        assert all(r["seq"] for r in rows)
        verdict = (await c.get("/api/v1/audit/verify", headers=admin)).json()
        assert verdict["ok"] is True
        assert verdict["checked"] == 3
        async with c.app.state.repository.driver.transaction() as conn:
            await conn.execute("DELETE FROM audit_log WHERE seq = 2")
        verdict = (await c.get("/api/v1/audit/verify", headers=admin)).json()
        assert (verdict["ok"], verdict["broken_at"]) == (False, 3)
        assert_problem(await c.get("/api/v1/audit?start=soon", headers=admin), 400, "ISO-8601")


async def test_ready_names_the_broker_while_it_is_unreachable(tmp_path: Path) -> None:
    from tests.standins.alpaca_trading import AlpacaPaperBroker
    from tests.standins.server import serve

    broker = AlpacaPaperBroker()
    with serve(broker.app) as base_url:
        settings = settings_for(
            tmp_path,
            PI5_NODE__DEMO_STRATEGIES="false",
            PI5_FEED__SPEED="0",
            PI5_BROKER__PROVIDER="alpaca",
            PI5_BROKER__KEY_ID=broker.key_id,
            PI5_BROKER__SECRET_KEY=broker.secret_key,
            PI5_BROKER__PAPER_URL=base_url,
            PI5_BROKER__RECONCILE_INTERVAL_S="3600",
            PI5_NODE__SHUTDOWN_TIMEOUT_S="2",
        )
        await seed_users(settings)
        app = create_app(settings, lifespan=[node_lifespan(settings)])
        async with AsyncTestClient(app=app) as c:
            r = await c.get("/ready")
            assert r.json()["checks"]["breaker:broker"] == {"ok": True, "detail": "closed"}
            router = c.app.state.node.router
            for _ in range(router.health.failure_threshold):
                router.health.record_failure(ConnectionError("Alpaca answered 503"))
            r = await c.get("/ready")
            assert r.status_code == 503
            assert r.json()["checks"]["breaker:broker"] == {"ok": False, "detail": "open"}
            admin = bearer((await login(c, "root"))["access_token"])
            listed = (await c.get("/api/v1/system/breakers", headers=admin)).json()
            assert listed["broker"]["last_error"] == "ConnectionError: Alpaca answered 503"
            # The broker answers again (a reconciliation's answer: test_broker_routing): ready.
            router.health.record_success()
            assert (await c.get("/ready")).status_code == 200
