"""Orders, fills and the portfolio through the API, with the real node (simulated feed,
simulated venue, SQLite) running in the app: an order placed over HTTP is filled by the
engine, recorded, and shows in the positions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from pi5trading.api import create_app
from pi5trading.api.app import node_lifespan

from .test_auth import assert_problem, bearer, login, seed_users, settings_for

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[AsyncTestClient[Any]]:
    settings = settings_for(
        tmp_path,
        PI5_NODE__DEMO_STRATEGIES="false",
        PI5_FEED__SPEED="600",
        PI5_FEED__SYMBOLS="AAPL,MSFT",
    )
    await seed_users(settings)
    app = create_app(settings, lifespan=[node_lifespan(settings)])
    async with AsyncTestClient(app=app) as c:
        yield c


async def tokens(c: AsyncTestClient[Any]) -> dict[str, dict[str, str]]:
    return {
        name: bearer((await login(c, name))["access_token"]) for name in ("root", "tina", "vic")
    }


async def last_price(c: AsyncTestClient[Any], h: dict[str, str], symbol: str) -> Decimal:
    async def quotes() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = (await c.get("/api/v1/market/quotes", headers=h)).json()
        return [q for q in got if q["symbol"] == symbol]

    (quote,) = await wait_for(quotes)
    return Decimal(quote["price"])


def near(price: Decimal, factor: str) -> str:
    """A limit a little away from the market (inside the risk engine's 10% collar)."""
    return str((price * Decimal(factor)).quantize(Decimal("0.01")))


async def wait_for(check: Any, seconds: float = 20) -> Any:
    for _ in range(int(seconds / 0.05)):
        got = await check()
        if got:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def test_an_order_placed_over_http_is_filled_recorded_and_held(
    client: AsyncTestClient[Any],
) -> None:
    h = await tokens(client)
    r = await client.post(
        "/api/v1/orders", headers=h["tina"], json={"symbol": "AAPL", "side": "buy", "quantity": "5"}
    )
    assert r.status_code == 201, r.text
    order = r.json()["order"]
    assert order["strategy_id"] == "manual"
    assert order["id"].startswith("manual-")
    assert order["quantity"] == "5"

    async def filled() -> dict[str, Any] | None:
        got = await client.get(f"/api/v1/orders/{order['id']}", headers=h["vic"])
        body: dict[str, Any] = got.json()
        # Recorded: the lifecycle is in storage (before that the engine answers).
        done = got.status_code == 200 and [e["status"] for e in body["events"]][-1:] == ["filled"]
        return body if done else None

    detail = await wait_for(filled)
    assert detail["order"]["filled_quantity"] == "5"
    assert [e["status"] for e in detail["events"]][-1] == "filled"
    (fill,) = detail["fills"]
    assert Decimal(fill["quantity"]) == 5
    price = Decimal(fill["price"])
    assert price > 0
    # It is the manual strategy's position, and the account's, marked live.
    mine = (
        await client.get("/api/v1/portfolio/positions?strategy=manual", headers=h["vic"])
    ).json()
    assert [(p["symbol"], p["quantity"], p["side"]) for p in mine] == [("AAPL", "5", "long")]
    assert Decimal(mine[0]["average_price"]) == price
    account = (await client.get("/api/v1/portfolio/positions/AAPL", headers=h["vic"])).json()
    assert account["quantity"] == "5"
    assert account["last_price"] is not None
    summary = (await client.get("/api/v1/portfolio/summary", headers=h["vic"])).json()
    assert summary["open_positions"] == 1
    assert Decimal(summary["cash"]) < Decimal(100_000) - 5 * price + Decimal("0.01")
    assert summary["trading_state"] == "active"
    fills = (await client.get("/api/v1/fills?symbol=AAPL", headers=h["vic"])).json()
    assert [f["order_id"] for f in fills["items"]] == [order["id"]]
    assert_problem(await client.get("/api/v1/portfolio/positions/MSFT", headers=h["vic"]), 404)
    # The audit trail has the submission with who sent it.
    rows = await stored_audit(client, "order.submit")
    assert [(a.outcome, a.resource) for a in rows] == [("success", f"order:{order['id']}")]


async def stored_audit(client: AsyncTestClient[Any], action: str) -> list[Any]:
    """The audit rows of ``action`` once the node's writer has written what it holds
    (trading actions are audited through it, with the orders' own events)."""
    await client.app.state.node.sinks.storage.writer.flush()
    rows: list[Any] = await client.app.state.repository.list_audit(action=action)
    return rows


async def test_bad_orders_are_refused_with_a_reason(client: AsyncTestClient[Any]) -> None:
    h = await tokens(client)
    base = {"symbol": "AAPL", "side": "buy", "quantity": "1"}
    # A viewer may not trade.
    assert_problem(await client.post("/api/v1/orders", headers=h["vic"], json=base), 403)
    cases = [
        ({**base, "symbol": "TSLA"}, 422, "not traded here"),
        ({**base, "quantity": "abc"}, 422, "not a number"),
        ({**base, "quantity": "NaN"}, 422, "finite"),
        ({**base, "quantity": "-3"}, 422, "quantity"),
        ({**base, "type": "limit"}, 422, "price"),
        ({**base, "type": "teleport"}, 400, ""),
        ({**base, "side": "hold"}, 400, ""),
        ({**base, "extra": 1}, 400, ""),
    ]
    for body, status, why in cases:
        r = await client.post("/api/v1/orders", headers=h["tina"], json=body)
        assert_problem(r, status, why)
    # A limit with more decimals than the tick goes onto the tick (below the market for a
    # buy, so it never pays more than asked).
    # Decimals cross the API without trailing zeros ("171.1" for 171.10; the second limit
    # ends in 0); /market/instruments gives the tick to display them with.
    market = await last_price(client, h["vic"], "AAPL")
    for limit in (near(market, "0.95") + "9", near(market, "0.94")[:-1] + "09"):
        r = await client.post(
            "/api/v1/orders", headers=h["tina"], json={**base, "type": "limit", "price": limit}
        )
        assert r.status_code == 201, r.text
        assert r.json()["order"]["price"] == str(Decimal(limit[:-1]).normalize())
    # Far from the market: the price collar refuses it.
    r = await client.post(
        "/api/v1/orders", headers=h["tina"], json={**base, "type": "limit", "price": "1"}
    )
    assert assert_problem(r, 422)["code"] == "price_collar"
    # Refused by risk: 422 with the machine-readable reason, recorded as denied.
    r = await client.post("/api/v1/orders", headers=h["tina"], json={**base, "quantity": "100000"})
    body = assert_problem(r, 422)
    assert body["code"] == "max_quantity"
    assert body["denial"]["limit"] == "500"
    denied = await stored_audit(client, "order.submit")
    assert ("denied", f"order:{body['order_id']}") in [(a.outcome, a.resource) for a in denied]


async def test_working_orders_are_modified_and_cancelled(client: AsyncTestClient[Any]) -> None:
    h = await tokens(client)
    price = near(await last_price(client, h["vic"], "MSFT"), "0.95")
    r = await client.post(
        "/api/v1/orders",
        headers=h["tina"],
        json={"symbol": "MSFT", "side": "buy", "quantity": "2", "type": "limit", "price": price},
    )
    assert r.status_code == 201, r.text
    oid = r.json()["order"]["id"]
    r = await client.patch(f"/api/v1/orders/{oid}", headers=h["tina"], json={"quantity": "3"})
    assert r.status_code == 200, r.text
    assert r.json()["quantity"] == "3"
    # A new price: the stored order (what the orders list reads) and its stored modify
    # event carry the new terms, not the first ones.
    lower = near(Decimal(price), "0.99")
    r = await client.patch(f"/api/v1/orders/{oid}", headers=h["tina"], json={"price": lower})
    assert r.status_code == 200, r.text
    assert Decimal(r.json()["price"]) == Decimal(lower)

    repo = client.app.state.repository

    async def stored_terms() -> bool:  # read from storage directly: no rate limit
        row = await repo.get_order(oid)
        return row is not None and (row.limit_price, row.quantity) == (Decimal(lower), 3)

    try:
        await wait_for(stored_terms)
    except AssertionError:
        raise AssertionError(
            f"stored: {await repo.get_order(oid)}; events: {await repo.get_order_events(oid)}"
        ) from None
    page = (await client.get("/api/v1/orders?symbol=MSFT", headers=h["vic"])).json()
    listed = next(o for o in page["items"] if o["id"] == oid)
    assert (Decimal(listed["price"]), listed["quantity"]) == (Decimal(lower), "3")
    modified = [
        e.detail for e in await repo.get_order_events(oid) if e.detail["kind"] == "modify_accepted"
    ]
    assert [(d["quantity"], Decimal(d["price"])) for d in modified] == [
        ("3", Decimal(price)),
        ("3", Decimal(lower)),
    ]
    assert_problem(await client.patch(f"/api/v1/orders/{oid}", headers=h["tina"], json={}), 400)
    assert_problem(
        await client.patch(f"/api/v1/orders/{oid}", headers=h["vic"], json={"quantity": "1"}), 403
    )
    r = await client.delete(f"/api/v1/orders/{oid}", headers=h["tina"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert_problem(await client.delete(f"/api/v1/orders/{oid}", headers=h["tina"]), 409)
    assert_problem(await client.delete("/api/v1/orders/nope-1", headers=h["tina"]), 404)


async def test_order_lists_page_and_filter(client: AsyncTestClient[Any]) -> None:
    h = await tokens(client)
    price = near(await last_price(client, h["vic"], "AAPL"), "0.93")
    for n in range(1, 4):  # three different orders (the same one twice is a duplicate)
        r = await client.post(
            "/api/v1/orders",
            headers=h["tina"],
            json={
                "symbol": "AAPL",
                "side": "buy",
                "quantity": str(n),
                "type": "limit",
                "price": price,
            },
        )
        assert r.status_code == 201

    async def stored() -> bool:
        page = (await client.get("/api/v1/orders", headers=h["vic"])).json()
        return len(page["items"]) == 3

    await wait_for(stored)
    first = (await client.get("/api/v1/orders?limit=2", headers=h["vic"])).json()
    assert len(first["items"]) == 2
    assert first["page"]["next_offset"] == 2
    rest = (await client.get("/api/v1/orders?limit=2&offset=2", headers=h["vic"])).json()
    assert len(rest["items"]) == 1
    assert rest["page"]["next_offset"] is None
    ids = [o["id"] for o in first["items"] + rest["items"]]
    assert len(set(ids)) == 3
    working = (
        await client.get("/api/v1/orders?status=accepted&symbol=AAPL", headers=h["vic"])
    ).json()
    assert len(working["items"]) == 3
    none = (await client.get("/api/v1/orders?status=filled", headers=h["vic"])).json()
    assert none["items"] == []
    for query, why in [
        ("status=lost", "unknown"),
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("offset=-1", "offset"),
        ("start=yesterday", "ISO-8601"),
    ]:
        assert_problem(await client.get(f"/api/v1/orders?{query}", headers=h["vic"]), 400, why)
    assert_problem(await client.get("/api/v1/orders/none-1", headers=h["vic"]), 404)


async def test_without_a_node_trading_routes_answer_503(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    await seed_users(settings)
    async with AsyncTestClient(app=create_app(settings)) as c:
        h = bearer((await login(c, "tina"))["access_token"])
        r = await c.post(
            "/api/v1/orders", headers=h, json={"symbol": "AAPL", "side": "buy", "quantity": "1"}
        )
        assert_problem(r, 503, "no trading node")
        assert r.headers["retry-after"] == "5"
        # Reads from storage still work.
        assert (await c.get("/api/v1/orders", headers=h)).status_code == 200


async def test_market_data_history_and_breakers(client: AsyncTestClient[Any]) -> None:
    h = await tokens(client)
    ins = (await client.get("/api/v1/market/instruments", headers=h["vic"])).json()
    assert [(i["symbol"], i["tick_size"], i["currency"]) for i in ins] == [
        ("AAPL", "0.01", "USD"),
        ("MSFT", "0.01", "USD"),
    ]

    async def minute_bars() -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = (
            await client.get("/api/v1/market/bars/AAPL?interval=1m&limit=100", headers=h["vic"])
        ).json()
        return got if len(got) >= 12 else []

    ones = await wait_for(minute_bars, 30)
    fives = (await client.get("/api/v1/market/bars/AAPL?interval=5m", headers=h["vic"])).json()
    # Built from the minute bars: the same highs and lows, a fifth as many bars (or so).
    assert 0 < len(fives) < len(ones)
    assert max(Decimal(b["high"]) for b in fives) >= max(Decimal(b["high"]) for b in ones[-5:])
    assert_problem(await client.get("/api/v1/market/bars/AAPL?interval=7m", headers=h["vic"]), 400)
    history = (
        await client.get("/api/v1/portfolio/history?resolution=raw", headers=h["vic"])
    ).json()
    assert history
    assert Decimal(history[-1]["equity"]) > 0
    # Every point at a time of the feed's (none at 0 = 1970, from before the first event).
    assert min(p["at"] for p in history) >= ones[0]["at"][:10]
    assert_problem(
        await client.get("/api/v1/portfolio/history?resolution=2m", headers=h["vic"]), 400
    )
    # Breakers (admin): listed, and reset by hand.
    assert_problem(await client.get("/api/v1/system/breakers", headers=h["tina"]), 403)
    listed = (await client.get("/api/v1/system/breakers", headers=h["root"])).json()
    assert listed["database:api"]["state"] == "closed"
    r = await client.post("/api/v1/system/breakers/database:node/reset", headers=h["root"])
    assert r.status_code == 200, r.text
    assert_problem(await client.post("/api/v1/system/breakers/x/reset", headers=h["root"]), 404)
