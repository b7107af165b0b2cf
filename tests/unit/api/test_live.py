"""``/ws`` with the real node: sign in with the first message, subscribe, a snapshot then
live events; an order placed over HTTP arrives as order events; refusals close with a
reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from litestar.testing.websocket_test_session import WebSocketTestSession

from pi5trading.api import create_app
from pi5trading.api.app import node_lifespan

from .test_auth import PASSWORDS, seed_users, settings_for


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient[Any]]:
    settings = settings_for(
        tmp_path, PI5_NODE__DEMO_STRATEGIES="false", PI5_FEED__SPEED="600", PI5_FEED__SYMBOLS="AAPL"
    )
    asyncio.run(seed_users(settings))
    with TestClient(app=create_app(settings, lifespan=[node_lifespan(settings)])) as c:
        yield c


def token(c: TestClient[Any], name: str) -> str:
    r = c.post("/api/v1/auth/login", json={"username": name, "password": PASSWORDS[name]})
    assert r.status_code == 200, r.text
    access: str = r.json()["access_token"]
    return access


def receive_until(ws: WebSocketTestSession, want: Any, limit: int = 5000) -> dict[str, Any]:
    for _ in range(limit):
        msg: dict[str, Any] = json.loads(ws.receive_text())
        if want(msg):
            return msg
    raise AssertionError("not received")


def test_sign_in_subscribe_snapshot_and_live_events(client: TestClient[Any]) -> None:
    access = token(client, "vic")
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "auth", "token": access})
        welcome = json.loads(ws.receive_text())
        assert welcome["type"] == "welcome"
        assert welcome["role"] == "viewer"
        ws.send_json({"type": "ping"})
        assert json.loads(ws.receive_text()) == {"type": "pong"}
        ws.send_json({"type": "subscribe", "topics": ["data.quotes.AAPL", "orders.>"]})
        assert json.loads(ws.receive_text())["type"] == "subscribed"
        snapshot = json.loads(ws.receive_text())
        assert snapshot["type"] == "snapshot"
        assert {"prices", "positions", "portfolio", "strategies"} <= set(snapshot)
        quote = receive_until(ws, lambda m: m.get("topic", "").startswith("data.quotes."))
        assert quote["topic"] == "data.quotes.AAPL"
        # An order placed over HTTP by a trader arrives as order events.
        trader = token(client, "tina")
        r = client.post(
            "/api/v1/orders",
            headers={"Authorization": f"Bearer {trader}"},
            json={"symbol": "AAPL", "side": "buy", "quantity": "2"},
        )
        assert r.status_code == 201, r.text
        oid = r.json()["order"]["id"]
        filled = receive_until(ws, lambda m: m.get("topic") == "orders.filled")
        assert oid in json.dumps(filled)
        # Bad requests are answered, not fatal.
        ws.send_json({"type": "subscribe", "topics": ["orders.>.x"]})
        assert receive_until(ws, lambda m: m["type"] == "error")["detail"].startswith(
            "topic pattern"
        )
        ws.send_json({"type": "dance"})
        assert "unknown message type" in receive_until(ws, lambda m: m["type"] == "error")["detail"]


def test_without_a_valid_first_message_the_socket_is_closed(client: TestClient[Any]) -> None:
    from litestar.exceptions import WebSocketDisconnect

    for first in (
        {"type": "subscribe", "topics": ["orders.>"]},
        {"type": "auth", "token": "x.y.z"},
    ):
        with client.websocket_connect("/ws") as ws:
            ws.send_json(first)
            with pytest.raises(WebSocketDisconnect) as err:
                ws.receive_text()
            assert err.value.code == 4401


def test_backtest_jobs_are_followed_on_their_topic(client: TestClient[Any]) -> None:
    access = token(client, "vic")
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "auth", "token": access})
        assert json.loads(ws.receive_text())["type"] == "welcome"
        ws.send_json({"type": "subscribe", "topics": ["backtests"]})
        assert json.loads(ws.receive_text())["type"] == "subscribed"
        assert json.loads(ws.receive_text())["type"] == "snapshot"
        trader = token(client, "tina")
        r = client.post(
            "/api/v1/backtests",
            headers={"Authorization": f"Bearer {trader}"},
            json={"strategy": "sma_crossover", "data": "generated:20000", "risk": "none"},
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        steps = []
        while not steps or steps[-1]["status"] not in ("done", "failed"):
            msg = receive_until(ws, lambda m: m.get("topic") == "backtests")
            assert msg["type"] == "backtest"
            steps.append(msg["job"])
        assert {s["id"] for s in steps} == {job_id}
        assert steps[-1]["status"] == "done"
        assert steps[-1]["summary"]["final_equity"]
        # Progress on the way: running with bars done before the end.
        assert any(s["status"] == "running" and 0 < s["bars_done"] < 20_000 for s in steps)
