"""Performance, allocation and a strategy's events through the API, with the real node:
exact figures that add up (cash + market values = equity), a round trip counted as a
trade (after a restart too), events newest first."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from pi5trading.api import create_app
from pi5trading.api.app import node_lifespan

from .test_auth import assert_problem, bearer, login, seed_users, settings_for
from .test_trading import wait_for

pytestmark = pytest.mark.anyio


async def filled(c: AsyncTestClient[Any], h: dict[str, str], body: dict[str, str]) -> str:
    r = await c.post("/api/v1/orders", headers=h, json=body)
    assert r.status_code == 201, r.text
    oid: str = r.json()["order"]["id"]

    async def done() -> bool:
        got = (await c.get(f"/api/v1/orders/{oid}", headers=h)).json()
        return [e["status"] for e in got.get("events", [])][-1:] == ["filled"]

    await wait_for(done)
    return oid


async def test_performance_allocation_and_events(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        PI5_NODE__DEMO_STRATEGIES="false",
        PI5_FEED__SPEED="600",
        PI5_FEED__SYMBOLS="AAPL,MSFT",
        PI5_API__RATE_LIMIT_PER_MINUTE="100000",
    )
    await seed_users(settings)
    app = create_app(settings, lifespan=[node_lifespan(settings)])
    async with AsyncTestClient(app=app) as c:
        tina = bearer((await login(c, "tina"))["access_token"])
        vic = bearer((await login(c, "vic"))["access_token"])
        assert (await c.get("/api/v1/portfolio/performance")).status_code == 401
        for name in ("root", "tina", "vic"):  # every role reads them
            who = bearer((await login(c, name))["access_token"])
            for path in (
                "/api/v1/portfolio/performance",
                "/api/v1/portfolio/allocation",
                "/api/v1/strategies/manual/performance",
                "/api/v1/strategies/manual/events",
            ):
                assert (await c.get(path, headers=who)).status_code == 200, (name, path)
        # A round trip in AAPL (a trade) and a position held in MSFT.
        buy = await filled(c, tina, {"symbol": "AAPL", "side": "buy", "quantity": "5"})
        sell = await filled(c, tina, {"symbol": "AAPL", "side": "sell", "quantity": "5"})
        await filled(c, tina, {"symbol": "MSFT", "side": "buy", "quantity": "3"})

        alloc = (await c.get("/api/v1/portfolio/allocation", headers=vic)).json()
        (item,) = alloc["items"]
        assert (item["symbol"], item["strategy_id"]) == ("MSFT", "manual")
        # Exact: cash + the positions' market value is the equity, to the digit.
        assert Decimal(alloc["cash"]) + Decimal(item["market_value"]) == Decimal(alloc["equity"])
        weight = Decimal(item["market_value"]) / Decimal(alloc["equity"])
        assert Decimal(item["weight"]) == weight.quantize(Decimal("1e-8"))
        assert 0 < Decimal(item["weight"]) < 1

        perf = (await c.get("/api/v1/portfolio/performance", headers=vic)).json()
        assert perf["trades"] == 1
        assert perf["win_rate"] in ("0", "1")
        assert perf["starting_equity"] == "100000"
        total = Decimal(perf["equity"]) / Decimal(perf["starting_equity"]) - 1
        assert Decimal(perf["total_return"]) == total.quantize(Decimal("1e-8"))
        assert Decimal(perf["max_drawdown"]) >= Decimal(perf["current_drawdown"]) >= 0
        (manual,) = [s for s in perf["by_strategy"] if s["strategy_id"] == "manual"]
        assert manual["trades"] == 1
        assert manual["fills"] == 3
        fills = (await c.get("/api/v1/fills?strategy=manual", headers=vic)).json()["items"]
        by_order = {f["order_id"]: f for f in fills}
        # The round trip's P&L is what the fills say: prices and both commissions.
        pnl = (
            (Decimal(by_order[sell]["price"]) - Decimal(by_order[buy]["price"])) * 5
            - Decimal(by_order[sell]["commission"])
            - Decimal(by_order[buy]["commission"])
        )
        one = (await c.get("/api/v1/strategies/manual/performance", headers=vic)).json()
        assert one["trades"] == 1
        assert one["fills"] == 3
        assert one["win_rate"] == ("1" if pnl > 0 else "0")
        # The portfolio's realised P&L is gross (commissions are counted apart).
        commissions = Decimal(by_order[buy]["commission"]) + Decimal(by_order[sell]["commission"])
        assert Decimal(one["realized_pnl"]) == pnl + commissions
        assert Decimal(manual["realized_pnl"]) == pnl + commissions
        # Since a time after everything: no trades then.
        later = await c.get("/api/v1/portfolio/performance?since=2100-01-01", headers=vic)
        assert later.json()["trades"] == 0
        assert_problem(
            await c.get("/api/v1/portfolio/performance?since=soon", headers=vic), 400, "since"
        )

        events = (await c.get("/api/v1/strategies/manual/events?limit=20", headers=vic)).json()
        times = [e["at"] for e in events]
        assert times == sorted(times, reverse=True)
        kinds = {e["kind"] for e in events}
        assert {"order", "fill"} <= kinds
        assert {e["order_id"] for e in events if e["kind"] == "fill"} >= {buy, sell}
        assert "filled" in {e["status"] for e in events if e["kind"] == "order"}
        two = (await c.get("/api/v1/strategies/manual/events?limit=2", headers=vic)).json()
        assert two == events[:2]
        assert_problem(await c.get("/api/v1/strategies/nope/events", headers=vic), 404)
        assert_problem(await c.get("/api/v1/strategies/nope/performance", headers=vic), 404)
        assert_problem(
            await c.get("/api/v1/strategies/manual/events?limit=0", headers=vic), 400, "limit"
        )
        # A strategy's runs: started, then stopped, newest first.
        body = {"id": "slow", "type": "sma_crossover", "parameters": {"fast": 30, "slow": 90}}
        assert (await c.post("/api/v1/strategies", headers=tina, json=body)).status_code == 201
        r = await c.post("/api/v1/strategies/slow/stop", headers=tina)
        assert r.status_code == 200, r.text

        async def stopped() -> list[dict[str, Any]]:
            got = (await c.get("/api/v1/strategies/slow/events", headers=vic)).json()
            return [e for e in got if e["kind"] == "status"] if len(got) >= 2 else []

        status = await wait_for(stopped)
        assert [e["status"] for e in status] == ["stopped", "running"]
    # Trades are the stored fills': a restart keeps them (the engine starts afresh).
    async with AsyncTestClient(app=create_app(settings, lifespan=[node_lifespan(settings)])) as c:
        vic = bearer((await login(c, "vic"))["access_token"])
        again = (await c.get("/api/v1/strategies/manual/performance", headers=vic)).json()
        assert (again["trades"], again["fills"], again["win_rate"]) == (1, 3, one["win_rate"])
        assert again["realized_pnl"] == one["realized_pnl"]


async def test_without_a_node_they_say_why(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    await seed_users(settings)
    async with AsyncTestClient(app=create_app(settings)) as c:
        vic = bearer((await login(c, "vic"))["access_token"])
        for path in ("/api/v1/portfolio/performance", "/api/v1/portfolio/allocation"):
            assert_problem(await c.get(path, headers=vic), 503, "no trading node")
