"""The API under load, on loopback, against a real `pi5trading serve` process (node and
demo strategies running, SQLite): REST latency p50/p99 and requests/s for a read route and
for order submission with concurrent clients, WebSocket fan-out to 100 clients, and the
process's RSS. See docs/PERFORMANCE.md "API".

    PYTHONPATH=python .venv/bin/python benches/api_latency.py [--clients 20] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.services import free_port

PASSWORD = "load test password 123"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q)) if values else float("nan")


async def hammer(
    client: httpx.AsyncClient, make: Any, seconds: float, clients: int
) -> tuple[list[float], int, dict[int, int]]:
    latencies: list[float] = []
    codes: dict[int, int] = {}
    stop = time.perf_counter() + seconds

    async def one(k: int) -> None:
        i = 0
        while time.perf_counter() < stop:
            method, url, body = make(k, i)
            t = time.perf_counter()
            r = await client.request(method, url, json=body)
            latencies.append((time.perf_counter() - t) * 1000)
            codes[r.status_code] = codes.get(r.status_code, 0) + 1
            i += 1

    await asyncio.gather(*(one(k) for k in range(clients)))
    return latencies, len(latencies), codes


async def fan_out(base: str, token: str, n: int, seconds: float) -> dict[str, Any]:
    ws_url = base.replace("http", "ws") + "/ws"
    received = [0] * n

    async def one(k: int) -> None:
        async with websockets.connect(ws_url, max_size=2**22) as ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            await ws.recv()
            await ws.send(json.dumps({"type": "subscribe", "topics": ["data.quotes.*"]}))
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                try:
                    await asyncio.wait_for(ws.recv(), timeout=max(0.01, end - time.monotonic()))
                except TimeoutError:
                    break
                received[k] += 1

    await asyncio.gather(*(one(k) for k in range(n)))
    return {
        "clients": n,
        "messages": sum(received),
        "min_per_client": min(received),
        "max_per_client": max(received),
    }


def start_server() -> tuple[int, subprocess.Popen[bytes]]:
    """A fresh data dir, a trader, and `pi5trading serve` (blocking setup, before the loop)."""
    data = Path(tempfile.mkdtemp(prefix="pi5-api-bench-"))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PI5_")},
        "PI5_DATA_DIR": str(data),
        "PI5_API__PORT": str(port),
        "PI5_API__RATE_LIMIT_PER_MINUTE": "1000000",
        "PI5_FEED__SPEED": "60",
        "PI5_LOGGING__LEVEL": "WARNING",
        # Orders from the bench: the risk engine's rate limits are not what is measured.
        "PI5_RISK__PROFILE": "unlimited",
    }
    cli = [sys.executable, "-m", "pi5trading"]
    for args, stdin in (
        ([*cli, "migrate"], None),
        ([*cli, "user", "create", "--trader", "bench", "--password-stdin"], PASSWORD + "\n"),
    ):
        done = subprocess.run(args, env=env, input=stdin, text=True, capture_output=True)
        if done.returncode:
            raise SystemExit(f"{' '.join(args[2:])} failed: {done.stdout}{done.stderr}")
    server = subprocess.Popen(
        [*cli, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return port, server


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--ws-clients", type=int, default=100)
    args = ap.parse_args()
    port, server = start_server()
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            for _ in range(300):
                try:
                    if (await c.get("/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            r = await c.post("/api/v1/auth/login", json={"username": "bench", "password": PASSWORD})
            token = r.json()["access_token"]
            c.headers["Authorization"] = f"Bearer {token}"
            await asyncio.sleep(2)  # prices flowing
            rss_idle = rss_mib(server.pid)
            print(f"serve RSS with the demo running, idle API: {rss_idle:.0f} MiB")
            lat, n, codes = await hammer(
                c,
                lambda k, i: ("GET", "/api/v1/portfolio/summary", None),
                args.seconds,
                args.clients,
            )
            print(
                f"GET /api/v1/portfolio/summary, {args.clients} clients: "
                f"{n / args.seconds:,.0f} req/s, "
                f"p50 {pct(lat, 50):.2f} ms, p99 {pct(lat, 99):.2f} ms, codes {codes}"
            )
            quote = (await c.get("/api/v1/market/quotes")).json()[0]
            price = float(quote["price"])

            def order(k: int, i: int) -> tuple[str, str, Any]:
                # Limit orders resting below the market: each a different one (no duplicates).
                limit = f"{price * 0.95 - (k * 1000 + i % 1000) * 0.0001:.2f}"
                return (
                    "POST",
                    "/api/v1/orders",
                    {
                        "symbol": quote["symbol"],
                        "side": "buy",
                        "quantity": str(1 + (k * 7 + i) % 50),
                        "type": "limit",
                        "price": limit,
                    },
                )

            lat, n, codes = await hammer(c, order, args.seconds, args.clients)
            print(
                f"POST /api/v1/orders, {args.clients} clients: {n / args.seconds:,.0f} req/s, "
                f"p50 {pct(lat, 50):.2f} ms, p99 {pct(lat, 99):.2f} ms, codes {codes}"
            )
            lat1, n1, _ = await hammer(c, order, args.seconds / 2, 1)
            print(
                f"POST /api/v1/orders, 1 client: {n1 / (args.seconds / 2):,.0f} req/s, "
                f"p50 {pct(lat1, 50):.2f} ms, p99 {pct(lat1, 99):.2f} ms"
            )
            fan = await fan_out(base, token, args.ws_clients, args.seconds)
            print(f"WebSocket fan-out: {fan}")
            print(
                f"serve RSS after the load: {rss_mib(server.pid):.0f} MiB (peak during the run "
                f"not sampled; idle {rss_idle:.0f})"
            )
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    asyncio.run(main())
