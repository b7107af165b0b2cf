"""Strategy types and instances through the API, with the real node: created instances
trade, their lifecycle follows the commands, and a restart runs the same set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from pi5trading.api import create_app
from pi5trading.api.app import node_lifespan

from .test_auth import assert_problem, bearer, login, seed_users, settings_for
from .test_trading import wait_for

pytestmark = pytest.mark.anyio


def node_settings(tmp_path: Path) -> Any:
    return settings_for(
        tmp_path,
        PI5_NODE__DEMO_STRATEGIES="false",
        PI5_FEED__SPEED="3000",
        PI5_FEED__SYMBOLS="AAPL,MSFT",
    )


async def test_types_come_with_their_parameter_schema(tmp_path: Path) -> None:
    settings = node_settings(tmp_path)
    await seed_users(settings)
    async with AsyncTestClient(app=create_app(settings, lifespan=[node_lifespan(settings)])) as c:
        h = bearer((await login(c, "vic"))["access_token"])
        types = {t["name"]: t for t in (await c.get("/api/v1/strategies/types", headers=h)).json()}
        assert {"sma_crossover", "rsi_mean_reversion", "bollinger_reversion"} <= set(types)
        sma = types["sma_crossover"]["parameters"]
        assert sma["type"] == "object"
        assert {"fast", "slow", "quantity", "symbols"} <= set(sma["properties"])
        assert types["sma_crossover"]["summary"]


async def test_instances_through_their_lifecycle(tmp_path: Path) -> None:
    settings = node_settings(tmp_path)
    await seed_users(settings)
    app = create_app(settings, lifespan=[node_lifespan(settings)])
    async with AsyncTestClient(app=app) as c:
        trader = bearer((await login(c, "tina"))["access_token"])
        viewer = bearer((await login(c, "vic"))["access_token"])
        body = {
            "id": "fast-sma",
            "type": "sma_crossover",
            "parameters": {"fast": 3, "slow": 8, "quantity": 5},
        }
        assert_problem(await c.post("/api/v1/strategies", headers=viewer, json=body), 403)
        r = await c.post("/api/v1/strategies", headers=trader, json=body)
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "running"
        assert r.json()["type"] == "sma_crossover"

        # It trades: its P&L moves away from zero and its fills are stored.
        async def traded() -> bool:
            page = (await c.get("/api/v1/fills?strategy=fast-sma", headers=viewer)).json()
            return bool(page["items"])

        await wait_for(traded, 30)
        for bad, status, why in [
            ({**body}, 422, "already in the node"),
            ({**body, "id": "x2", "type": "nope"}, 422, "known types"),
            ({**body, "id": "x3", "parameters": {"fast": 9, "slow": 3}}, 422, "fast"),
            ({**body, "id": "x4", "parameters": {"fats": 3}}, 422, "fats"),
            ({**body, "id": "bad id!"}, 422, "letters"),
            ({**body, "id": "manual"}, 422, "manual"),
        ]:
            assert_problem(
                await c.post("/api/v1/strategies", headers=trader, json=bad), status, why
            )
        # Pause, resume, stop, start.
        for action, status in [
            ("pause", "paused"),
            ("resume", "running"),
            ("stop", "stopped"),
            ("start", "running"),
        ]:
            r = await c.post(f"/api/v1/strategies/fast-sma/{action}", headers=trader)
            assert r.status_code == 200, r.text
            assert r.json()["status"] == status
        assert_problem(await c.post("/api/v1/strategies/fast-sma/resume", headers=trader), 409)
        assert_problem(await c.post("/api/v1/strategies/fast-sma/explode", headers=trader), 404)
        assert_problem(await c.post("/api/v1/strategies/none/stop", headers=trader), 404)
        assert_problem(await c.post("/api/v1/strategies/manual/stop", headers=trader), 409)
        # Reconfigure: validated first (a bad one changes nothing), then applied.
        r = await c.put(
            "/api/v1/strategies/fast-sma",
            headers=trader,
            json={"parameters": {"fast": 20, "slow": 4}},
        )
        assert_problem(r, 422, "fast")
        r = await c.put(
            "/api/v1/strategies/fast-sma",
            headers=trader,
            json={"parameters": {"fast": 4, "slow": 9, "quantity": 5}},
        )
        assert r.status_code == 200, r.text
        assert r.json()["parameters"]["fast"] == 4
        listed = {s["id"]: s for s in (await c.get("/api/v1/strategies", headers=viewer)).json()}
        assert set(listed) == {"fast-sma", "manual"}
        assert listed["fast-sma"]["status"] == "running"
        # A second instance of the same type is its own strategy.
        r = await c.post(
            "/api/v1/strategies",
            headers=trader,
            json={"id": "slow-sma", "type": "sma_crossover", "start": False},
        )
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "added"
        # Delete: gone now and after a restart.
        assert (await c.delete("/api/v1/strategies/slow-sma", headers=trader)).status_code == 204
        assert_problem(await c.get("/api/v1/strategies/slow-sma", headers=viewer), 404)
        audit = await app.state.repository.list_audit(limit=100)
        assert {"strategy.create", "strategy.pause", "strategy.configure", "strategy.delete"} <= {
            a.action for a in audit
        }
    async with AsyncTestClient(app=create_app(settings, lifespan=[node_lifespan(settings)])) as c:
        viewer = bearer((await login(c, "vic"))["access_token"])
        after = {s["id"]: s for s in (await c.get("/api/v1/strategies", headers=viewer)).json()}
        assert set(after) == {"fast-sma", "manual"}
        assert after["fast-sma"]["status"] == "running"
        assert after["fast-sma"]["parameters"]["fast"] == 4
