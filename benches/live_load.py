"""Load on a live node: `pi5trading serve` trading several strategies on several symbols
(PostgreSQL and Redis of its own) while REST clients poll, an order probe places small
market orders, and 100 WebSocket clients follow the node's trading events — one of them too
slow (it never reads): it must be dropped with its reason while the others keep up.

Reports events/s, REST p50/p99, WebSocket delivery latency p50/p99 (an order placed over
REST until each client sees its first event), dropped clients, the server's RSS over time
(with its trend), the writer's queue depth, and any 5xx. No assertion on time here: the
CI-sized run (tests/integration/test_live_load.py) checks correctness only; the long run
is a `make proof` step (`load`) and by hand:

    PYTHONPATH=python .venv/bin/python benches/live_load.py --seconds 180 \
        [--clients 100] [--out test-artifacts/proof]

It prints one ``LOAD RESULT:`` line and writes ``load.json`` and ``load.md`` into --out.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.live_node import (
    admin_headers,
    base_url,
    check_orders_and_fills,
    logged_fills,
    node_env,
    node_process,
    seed,
    settings_of,
    status_of,
    stop_node,
    stored_fills,
    wait_for,
)

TRADED = ("AAPL", "MSFT", "SPY", "QQQ", "NVDA", "AMZN")
SYMBOLS = ",".join([*TRADED, "GOOG", "META", "TSLA", "AMD", "INTC", "ORCL", "IBM", "CSCO",
                    "ADBE", "CRM", "NFLX", "PYPL", "QCOM", "TXN", "AVGO", "MU", "SHOP",
                    "UBER"])  # fmt: skip
"""24 symbols quoted (the market data load), six of them traded."""
STRATEGIES: dict[str, tuple[str, dict[str, Any]]] = {
    "sma-fast": ("sma_crossover", {"fast": 3, "slow": 8, "quantity": 10,
                                   "symbols": ["AAPL", "MSFT", "SPY"]}),
    "sma-slow": ("sma_crossover", {"fast": 5, "slow": 20, "quantity": 5,
                                   "symbols": ["QQQ", "NVDA", "AMZN"]}),
    "rsi-a": ("rsi_mean_reversion", {"period": 5, "oversold": 40, "overbought": 60,
                                     "quantity": 7, "symbols": ["AAPL", "QQQ"]}),
    "rsi-b": ("rsi_mean_reversion", {"period": 9, "oversold": 30, "overbought": 70,
                                     "quantity": 3, "symbols": ["MSFT", "NVDA"]}),
    "bb-a": ("bollinger_reversion", {"period": 8, "k": 1.0, "quantity": 5,
                                     "symbols": ["SPY", "AMZN"]}),
    "bb-b": ("bollinger_reversion", {"period": 14, "k": 1.5, "quantity": 4,
                                     "symbols": ["AAPL", "NVDA"]}),
}  # fmt: skip
"""Six strategies, each on two or three of the traded symbols."""

CLIENT_TOPICS = ["orders.>", "positions.>", "data.bars.>"]
"""What the 99 clients follow: the node's orders, fills, positions and bars."""
SLOW_TOPICS = ["data.quotes.*", "account.equity", "orders.>", "positions.>", "data.bars.>"]
"""The slow client asks for the quotes and the equity too, and reads none of it."""
POLLED = [
    "/api/v1/portfolio/positions",
    "/api/v1/portfolio/summary",
    "/api/v1/orders",
    "/api/v1/fills",
    "/api/v1/market/quotes",
    "/api/v1/strategies",
]
WAITING = (
    "pi5_channel_outbox",
    "pi5_channel_queued",
    "pi5_channel_queued_max",
    "server_sendq_kb",
    "server_sendq_max_kb",
    "client_recvq_kb",
    "client_recvq_max_kb",
    "redis_omem_kb",
    "redis_omem_max_kb",
    "driver_loop_lag_ms",
    "pi5_writer_buffered",
)
"""The queues sampled along the way of a message to the clients (and the writer's)."""
_METRIC = re.compile(r"^(pi5_[a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+)$", re.MULTILINE)


@dataclass
class ClientLog:
    """What one WebSocket client saw: each message's text hash in order, when each probe
    order's first event arrived, and how the server closed it (if it did)."""

    hashes: list[int] = field(default_factory=list)
    messages: int = 0
    """Messages received when the hashes are not kept (a memory run)."""
    first_seen: dict[str, float] = field(default_factory=dict)
    closed_code: int | None = None
    closed_reason: str = ""


@dataclass
class LoadResult:
    seconds: float
    clients: int
    events: int
    events_per_s: float
    rest_requests: int
    rest_p50_ms: float
    rest_p99_ms: float
    rest_statuses: dict[str, int]
    rest_5xx: int
    orders_placed: int
    ws_latency_p50_ms: float
    ws_latency_p99_ms: float
    ws_messages: int
    dropped_clients: int
    slow_close_code: int | None
    slow_close_reason: str
    rss_mb: list[float]
    rss_trend_mb_per_min: float
    writer_buffered_max: int
    storage_backlog_max: int
    waiting: dict[str, dict[str, float]] = field(default_factory=dict)
    """Where delivery waited, sampled: each queue's median and maximum over the run."""
    retained: dict[str, float] = field(default_factory=dict)
    """The node's growing maps at the end (``pi5_retained``)."""
    rss_anon_mb: list[float] = field(default_factory=list)
    sample_minutes: list[float] = field(default_factory=list)
    fills: int = 0
    ws_reconnects: int = 0
    """WebSocket clients signed in again after their token expired (memory runs)."""
    rest_no_answer: list[str] = field(default_factory=list)
    """REST requests without an answer (the connection dropped), with the reason."""
    wrk: dict[str, float] = field(default_factory=dict)
    """With ``--wrk N``: wrk's own figures for its N connections polling the same routes
    (requests, requests/s, p50/p90/p99 ms, non-2xx): a C client, not late itself."""


WRK_LUA = """
paths = {PATHS}
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter % #paths) + 1], {["Authorization"]="Bearer TOKEN"})
end
done = function(summary, latency, requests)
  io.write(string.format("requests: %d\\n", summary.requests))
  io.write(string.format("non-2xx: %d\\n", summary.errors.status))
  io.write(string.format("timeouts: %d\\n", summary.errors.timeout))
end
"""
"""wrk's script: GET the polled routes in turn, signed in; its totals at the end."""
_WRK_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(out: str) -> dict[str, float]:
    """wrk's ``--latency`` report: requests, requests/s, p50/p90/p99 (ms), non-2xx."""
    got: dict[str, float] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in ("50%", "90%", "99%"):
            m = re.fullmatch(r"([0-9.]+)(us|ms|s)", parts[1])
            if m:
                got[f"p{parts[0][:-1]}_ms"] = float(m[1]) * _WRK_UNIT[m[2]]
        elif line.startswith("Requests/sec:"):
            got["requests_per_s"] = float(parts[1])
        elif len(parts) == 2 and parts[0] in ("requests:", "non-2xx:", "timeouts:"):
            got[parts[0][:-1].replace("-", "_")] = float(parts[1])
    return got


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _trend(minutes: list[float], samples: list[float]) -> float:
    """Least-squares slope (per minute) of the second half of ``samples`` taken at
    ``minutes``: the first half is warm-up (imports, caches, buffers reaching their size)."""
    half = len(samples) // 2
    if len(samples) - half < 3:
        return 0.0
    return float(statistics.linear_regression(minutes[half:], samples[half:]).slope)


def _metrics(text: str) -> dict[str, float]:
    out: dict[str, float] = Counter()
    for name, labels, value in _METRIC.findall(text):
        out[name] += float(value)
        if labels:
            out[name + labels] += float(value)
    return out


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _socket_queues(port: int) -> dict[str, float]:
    """The kernel's queues of the TCP connections to the node's ``port`` (loopback, from
    /proc/net/tcp): bytes the server sent that the clients' side has not taken yet (its
    send queues) and bytes that arrived but the driver has not read (the clients' receive
    queues). Together with the node's own gauges they say where delivery waits."""
    out = {"server_sendq_kb": 0.0, "server_sendq_max_kb": 0.0, "client_recvq_kb": 0.0,
           "client_recvq_max_kb": 0.0}  # fmt: skip
    hexport = f"{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        local, remote, state = f[1], f[2], f[3]
        if state != "01":  # ESTABLISHED only
            continue
        tx, rx = (int(x, 16) / 1024 for x in f[4].split(":"))
        if local.endswith(":" + hexport):
            out["server_sendq_kb"] += tx
            out["server_sendq_max_kb"] = max(out["server_sendq_max_kb"], tx)
        elif remote.endswith(":" + hexport):
            out["client_recvq_kb"] += rx
            out["client_recvq_max_kb"] = max(out["client_recvq_max_kb"], rx)
    return out


def _redis_buffers(redis_url: str) -> dict[str, float]:
    """Redis's output buffers for its pub/sub subscribers (``CLIENT LIST`` omem): messages
    published that the node's subscription readers have not read yet."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        subs = [c for c in client.client_list() if int(c.get("psub", 0)) > 0]
    finally:
        client.close()
    omem = [int(c.get("omem", 0)) / 1024 for c in subs]
    return {"redis_omem_kb": sum(omem), "redis_omem_max_kb": max(omem, default=0.0),
            "redis_subscribers": float(len(subs))}  # fmt: skip


async def _signed_in(ws: ClientConnection, token: str, topics: list[str]) -> None:
    await ws.send(json.dumps({"type": "auth", "token": token}))
    assert json.loads(await ws.recv())["type"] == "welcome"
    await ws.send(json.dumps({"type": "subscribe", "topics": topics}))
    assert json.loads(await ws.recv())["type"] == "subscribed"
    assert json.loads(await ws.recv())["type"] == "snapshot"


class Load:
    """One run of the load against a running node at ``url`` (its process ``pid``)."""

    def __init__(
        self,
        url: str,
        token: str,
        pid: int,
        clients: int = 100,
        *,
        redis_url: str = "",
        sample_every_s: float = 1.0,
        keep_hashes: bool = True,
    ) -> None:
        self.url = url
        self.token = token
        self.pid = pid
        self.clients = clients
        self.redis_url = redis_url
        self.sample_every_s = sample_every_s
        # A long memory run keeps no per-message record: the driver's own memory would
        # grow by the stream (and the stream check needs it only for the short runs).
        self.keep_hashes = keep_hashes
        self.samples_path: Path | None = None
        self._signing_in = asyncio.Lock()
        self.sign_ins = 0
        self.loop_lag_max = 0.0
        """The driver's own event loop: the most a 50 ms sleep overran since the last
        sample (the driver being behind, not the node)."""
        self.logs: list[ClientLog] = []
        self.slow = ClientLog()
        self.stop = asyncio.Event()
        self.placing_done = asyncio.Event()
        self.placed: dict[str, float] = {}
        self.rest: list[tuple[str, int, float]] = []
        self.samples: list[dict[str, float]] = []
        self.wrk_connections = 0
        self.wrk: dict[str, float] = {}
        self.reconnects = 0
        """WebSocket clients that signed in again after their token expired (memory runs)."""
        self.transport_errors: list[str] = []
        """REST requests that got no answer (status 0 in ``rest``), with the reason."""

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    async def _client(self, log: ClientLog, ready: asyncio.Event) -> None:
        while True:
            token = self.token
            await self._follow(log, ready)
            # The server ends a session whose token expired (4401, after 15 minutes): a
            # memory run's client signs in again and follows on, as the dashboard does.
            # (A short run's stream check wants one connection per client.)
            if self.stop.is_set() or self.keep_hashes or log.closed_code != 4401:
                return
            await self._renew(token)
            log.closed_code, log.closed_reason = None, ""
            self.reconnects += 1

    async def _follow(self, log: ClientLog, ready: asyncio.Event) -> None:
        async with connect(self.ws_url, max_queue=None) as ws:
            await _signed_in(ws, self.token, CLIENT_TOPICS)
            ready.set()
            try:
                while not self.stop.is_set():
                    try:
                        text = await asyncio.wait_for(ws.recv(), 0.2)
                    except TimeoutError:
                        continue
                    assert isinstance(text, str)
                    if self.keep_hashes:
                        log.hashes.append(hash(text))
                    else:
                        log.messages += 1
                    if '"order_id":"manual-' in text:
                        oid = json.loads(text)["order_id"]
                        log.first_seen.setdefault(oid, time.perf_counter())
            except ConnectionClosed as exc:
                log.closed_code = exc.rcvd.code if exc.rcvd else None
                log.closed_reason = exc.rcvd.reason if exc.rcvd else ""

    async def _slow_client(self, ready: asyncio.Event, dropped: asyncio.Event) -> None:
        # A small receive buffer: the server's send buffer and then its queue for this
        # client fill within seconds, not minutes.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before the handshake
        sock.connect(("127.0.0.1", int(self.url.rsplit(":", 1)[1])))
        async with connect(self.ws_url, sock=sock, max_queue=4) as ws:
            await _signed_in(ws, self.token, SLOW_TOPICS)
            ready.set()
            # Reads nothing until the server says it dropped a client (or the run ends).
            stop = asyncio.create_task(self.stop.wait())
            await asyncio.wait([stop, asyncio.create_task(dropped.wait())],
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            stop.cancel()
            try:
                # Then it reads what was sent, up to the close (bounded: never dropped, it
                # would read for ever).
                async with asyncio.timeout(30):
                    while True:
                        await ws.recv()
            except ConnectionClosed as exc:
                self.slow.closed_code = exc.rcvd.code if exc.rcvd else None
                self.slow.closed_reason = exc.rcvd.reason if exc.rcvd else ""
            except TimeoutError:
                self.slow.closed_reason = "never dropped"

    async def _poller(self, http: httpx.AsyncClient, k: int) -> None:
        i = k
        while not self.stop.is_set():
            path = POLLED[i % len(POLLED)]
            i += 1
            t0 = time.perf_counter()
            try:
                r = await http.get(path)
            except httpx.TransportError as exc:
                # No answer (the connection dropped or reset): counted as status 0 and
                # reported, the run goes on; it fails the run's check, not the driver.
                self.rest.append((path, 0, time.perf_counter() - t0))
                self.transport_errors.append(f"GET {path}: {type(exc).__name__}: {exc}")
                await asyncio.sleep(0.1)
                continue
            self.rest.append((path, r.status_code, time.perf_counter() - t0))
            if r.status_code == 401:
                await self._sign_in_again(http)
            await asyncio.sleep(0.02)

    async def _orders(self, http: httpx.AsyncClient, every_s: float) -> None:
        side = "buy"
        while not self.stop.is_set() and not self.placing_done.is_set():
            t0 = time.perf_counter()
            try:
                r = await http.post(
                    "/api/v1/orders", json={"symbol": "AAPL", "side": side, "quantity": "1"}
                )
            except httpx.TransportError as exc:
                self.rest.append(("POST /api/v1/orders", 0, time.perf_counter() - t0))
                self.transport_errors.append(f"POST /api/v1/orders: {type(exc).__name__}: {exc}")
                await asyncio.sleep(every_s)
                continue
            self.rest.append(("POST /api/v1/orders", r.status_code, time.perf_counter() - t0))
            if r.status_code == 401:
                await self._sign_in_again(http)
            if r.status_code == 201:
                self.placed[r.json()["order"]["id"]] = t0
                side = "sell" if side == "buy" else "buy"
            await asyncio.sleep(every_s)

    async def _sign_in_again(self, http: httpx.AsyncClient) -> None:
        """The access token expired (``PI5_AUTH__ACCESS_TTL_S``, 15 minutes): a run longer
        than that signs in again, as the dashboard does, instead of polling on with 401s."""
        await self._renew(http.headers.get("Authorization", "").removeprefix("Bearer "))
        http.headers["Authorization"] = f"Bearer {self.token}"

    async def _renew(self, expired: str) -> None:
        """A fresh token in ``self.token``, unless another task got one since ``expired``."""
        async with self._signing_in:
            if self.token != expired:
                return
            fresh = await asyncio.to_thread(admin_headers, self.url, "root")
            self.token = fresh["Authorization"].removeprefix("Bearer ")
            self.sign_ins += 1

    async def _wrk(self, seconds: float) -> dict[str, float]:
        """wrk (C, its own process, 2 threads) on ``wrk_connections`` connections cycling
        through the polled routes for ``seconds``; its figures."""
        script = Path(tempfile.mkdtemp(prefix="pi5-wrk-")) / "polled.lua"
        paths = ", ".join(f'"{p}"' for p in POLLED)
        script.write_text(WRK_LUA.replace("PATHS", paths).replace("TOKEN", self.token))
        proc = await asyncio.create_subprocess_exec(
            "wrk", "-t2", f"-c{self.wrk_connections}", f"-d{seconds:g}s", "--latency",
            "--timeout", "10s", "-s", str(script), self.url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"wrk failed: {err.decode().strip()}")
        return parse_wrk(out.decode())

    async def _loop_lag(self) -> None:
        while not self.stop.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(0.05)
            self.loop_lag_max = max(self.loop_lag_max, time.perf_counter() - t0 - 0.05)

    async def _sampler(self, http: httpx.AsyncClient, dropped: asyncio.Event) -> None:
        port = int(self.url.rsplit(":", 1)[1])
        lag = asyncio.create_task(self._loop_lag())
        while not self.stop.is_set():
            m = _metrics((await http.get("/metrics")).text)
            m["rss_mb"] = _rss_mb(self.pid)
            m["rss_anon_mb"] = _rss_mb(self.pid, "RssAnon")
            m["t"] = time.monotonic()
            m.update(_socket_queues(port))
            if self.redis_url:
                m.update(await asyncio.to_thread(_redis_buffers, self.redis_url))
            m["driver_loop_lag_ms"] = self.loop_lag_max * 1000
            self.loop_lag_max = 0.0
            self.samples.append(m)
            if self.samples_path is not None and len(self.samples) % 12 == 0:
                # Written as the run goes: a long run cut short keeps what it sampled.
                _write_samples(self.samples_path, self.samples)
            if m.get("pi5_channel_clients_dropped_total", 0) >= 1:
                dropped.set()
            await asyncio.sleep(self.sample_every_s)
        lag.cancel()

    async def run(self, seconds: float, pollers: int = 4, order_every_s: float = 0.25) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        self.logs = [ClientLog() for _ in range(self.clients - 1)]
        dropped = asyncio.Event()
        async with httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30) as http:
            sampler = asyncio.create_task(self._sampler(http, dropped))
            readies = [asyncio.Event() for _ in range(self.clients)]
            tasks = [asyncio.create_task(self._client(log, ev))
                     for log, ev in zip(self.logs, readies, strict=False)]  # fmt: skip
            tasks.append(asyncio.create_task(self._slow_client(readies[-1], dropped)))
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies)), 60)
            started = time.monotonic()
            work = [asyncio.create_task(self._poller(http, k)) for k in range(pollers)]
            work.append(asyncio.create_task(self._orders(http, order_every_s)))
            wrk = asyncio.create_task(self._wrk(seconds)) if self.wrk_connections else None
            await asyncio.sleep(seconds)
            if wrk is not None:
                self.wrk = await wrk
            # The slow client is dropped once the kernel's buffers for its socket (up to
            # 4 MB here) and then its queue are full: on a loaded machine that may take
            # longer than a short run. The load goes on until then (bounded).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(dropped.wait(), 90)
            self.seconds = time.monotonic() - started
            # No more probe orders; the clients read until each has seen every one placed
            # (bounded), so what they got can be compared.
            self.placing_done.set()
            await work[-1]
            for _ in range(600):  # at most a minute
                if all(set(self.placed) <= set(log.first_seen) for log in self.logs):
                    break
                await asyncio.sleep(0.1)
            self.stop.set()
            await asyncio.gather(*work, sampler)
            await asyncio.gather(*tasks)
            self.final = _metrics((await http.get("/metrics")).text)

    def result(self) -> LoadResult:
        first, last = self.samples[0], self.final
        events = int(last["pi5_events_total"] - first["pi5_events_total"])
        latencies = [
            (seen - self.placed[oid]) * 1000
            for log in self.logs
            for oid, seen in log.first_seen.items()
            if oid in self.placed
        ]
        rest_ms = [s * 1000 for _, _, s in self.rest]
        statuses = Counter(str(code) for _, code, _ in self.rest)
        rss = [round(s["rss_mb"], 1) for s in self.samples]
        minutes = [(s["t"] - self.samples[0]["t"]) / 60 for s in self.samples]
        return LoadResult(
            seconds=round(self.seconds, 1),
            clients=self.clients,
            events=events,
            events_per_s=round(events / self.seconds, 1),
            rest_requests=len(self.rest),
            rest_p50_ms=round(_percentile(rest_ms, 0.50), 2),
            rest_p99_ms=round(_percentile(rest_ms, 0.99), 2),
            rest_statuses=dict(statuses),
            rest_5xx=sum(n for code, n in statuses.items() if code.startswith("5")),
            orders_placed=len(self.placed),
            ws_latency_p50_ms=round(_percentile(latencies, 0.50), 2),
            ws_latency_p99_ms=round(_percentile(latencies, 0.99), 2),
            ws_messages=sum(len(log.hashes) + log.messages for log in self.logs),
            dropped_clients=int(last.get("pi5_channel_clients_dropped_total", 0)),
            slow_close_code=self.slow.closed_code,
            slow_close_reason=self.slow.closed_reason,
            rss_mb=rss,
            rss_trend_mb_per_min=round(_trend(minutes, rss), 2),
            writer_buffered_max=int(max(s.get("pi5_writer_buffered", 0) for s in self.samples)),
            storage_backlog_max=int(max(s.get("pi5_storage_backlog", 0) for s in self.samples)),
            waiting={
                key: {
                    "p50": round(_percentile([s.get(key, 0.0) for s in self.samples], 0.5), 1),
                    "max": round(max(s.get(key, 0.0) for s in self.samples), 1),
                }
                for key in WAITING
                if any(key in s for s in self.samples)
            },
            retained={
                k.removeprefix("pi5_retained"): v
                for k, v in last.items()
                if k.startswith("pi5_retained{")
            },
            rss_anon_mb=[round(s["rss_anon_mb"], 1) for s in self.samples],
            sample_minutes=[round(t, 3) for t in minutes],
            wrk=self.wrk,
            ws_reconnects=self.reconnects,
            rest_no_answer=self.transport_errors[:20],
        )


def stream_gaps(logs: list[ClientLog]) -> list[str]:
    """Each client's messages must be one stretch of the same stream, in the same order,
    nothing missing or doubled: compared with the client that got the most, over where
    they overlap. Returns what differs (empty when all agree)."""
    ref = max(logs, key=lambda log: len(log.hashes)).hashes
    problems = []
    for i, log in enumerate(logs):
        s = log.hashes
        if not s:
            problems.append(f"client {i}: no message")
            continue
        if s[0] in ref:
            k = ref.index(s[0])
            m = min(len(s), len(ref) - k)
            same = ref[k : k + m] == s[:m]
        elif ref[0] in s:
            k = s.index(ref[0])
            m = min(len(ref), len(s) - k)
            same = s[k : k + m] == ref[:m]
        else:
            same, m = False, 0
        if not same or m < len(s) // 2:
            problems.append(f"client {i}: not a stretch of the common stream ({len(s)} messages)")
    return problems


def run_load(
    dsn: str,
    redis_url: str,
    data_dir: Path,
    seconds: float,
    *,
    clients: int = 100,
    speed: str = "120",
    channel_queue: int = 500,
    sample_every_s: float = 1.0,
    keep_hashes: bool = True,
    samples_path: Path | None = None,
    wrk_connections: int = 0,
    access_ttl_s: int = 900,
) -> tuple[Load, LoadResult, str]:
    """Seed, start `pi5trading serve`, load it for ``seconds``, stop it; returns the load
    (clients' logs), its figures and the node's log. ``redis_url`` "" runs the node as one
    process does by default (channels and cache in memory); with Redis each WebSocket
    client is a Redis subscription."""
    env = node_env(
        dsn,
        redis_url,
        f"load{uuid.uuid4().hex[:8]}",
        data_dir,
        PI5_FEED__SYMBOLS=SYMBOLS,
        PI5_FEED__SPEED=speed,
        PI5_RISK__PROFILE="unlimited",
        PI5_API__RATE_LIMIT_PER_MINUTE="1000000",
        PI5_SINKS__CHANNEL_QUEUE=str(channel_queue),
        # Bars, trades, orders, fills, positions and equity are stored; the quotes of 24
        # symbols are not (as a node on a Pi would run: PI5_SINKS__RECORD_QUOTES=false).
        PI5_SINKS__RECORD_QUOTES="false",
        PI5_NODE__STATE_SAVE_INTERVAL_S="5",
        PI5_AUTH__ACCESS_TTL_S=str(access_ttl_s),
        # Quiet: one line per fill is what the checks read; the access log is not needed.
        PI5_LOGGING__LEVEL="INFO",
    )
    settings = settings_of(env)
    seed(settings, STRATEGIES, admin="root")
    url = base_url(env)
    log = data_dir / "node.log"
    with node_process(env, log) as proc:
        wait_for(
            "the node ready",
            lambda: status_of(url, "/ready") == 200,
            proc,
            log,
        )
        token = admin_headers(url, "root")["Authorization"].removeprefix("Bearer ")
        load = Load(
            url,
            token,
            proc.pid,
            clients,
            redis_url=redis_url,
            sample_every_s=sample_every_s,
            keep_hashes=keep_hashes,
        )
        load.samples_path = samples_path
        load.wrk_connections = wrk_connections
        asyncio.run(asyncio.wait_for(load.run(seconds), seconds + 240))
        result = load.result()
        text = stop_node(proc, log)
    result.fills = sum(logged_fills(text).values())
    return load, result, text


def _write_samples(path: Path, samples: list[dict[str, float]]) -> None:
    """Every sample, one row each: minutes, RSS, the queues, the node's retained maps."""
    keys = ["rss_mb", "rss_anon_mb", *WAITING, "pi5_events_total", "pi5_channel_clients"]
    keys += sorted({k for s in samples for k in s if k.startswith("pi5_retained{")})
    t0 = samples[0]["t"] if samples else 0.0
    lines = [",".join(["minute", *(k.replace(",", ";") for k in keys)])]
    for s in samples:
        row = [f"{(s['t'] - t0) / 60:.3f}", *(f"{s.get(k, float('nan')):g}" for k in keys)]
        lines.append(",".join(row))
    path.write_text("\n".join(lines) + "\n")


def _markdown(r: LoadResult) -> str:
    rss = r.rss_mb
    return "\n".join([
        f"# Load on a live node ({r.seconds} s, {r.clients} WebSocket clients)",
        "",
        "| figure | value |",
        "|---|---|",
        f"| node events | {r.events:,} ({r.events_per_s:,.0f}/s) |",
        f"| fills | {r.fills:,} |",
        f"| REST requests | {r.rest_requests:,}: p50 {r.rest_p50_ms} ms, p99 {r.rest_p99_ms} ms;"
        f" statuses {r.rest_statuses}; 5xx {r.rest_5xx} |",
        f"| orders placed over REST | {r.orders_placed} |",
        f"| WebSocket delivery (order placed → each client's first event of it) |"
        f" p50 {r.ws_latency_p50_ms} ms, p99 {r.ws_latency_p99_ms} ms |",
        f"| WebSocket messages delivered | {r.ws_messages:,} |",
        f"| dropped clients | {r.dropped_clients} (the slow one: {r.slow_close_code}"
        f" {r.slow_close_reason!r}) |",
        f"| clients signed in again (token expired) | {r.ws_reconnects} |",
        f"| REST requests without an answer | {len(r.rest_no_answer)}"
        f"{': ' + r.rest_no_answer[0] if r.rest_no_answer else ''} |",
        f"| server RSS | start {rss[0] if rss else '-'} MB, end {rss[-1] if rss else '-'} MB,"
        f" max {max(rss) if rss else '-'} MB; trend over the second half"
        f" {r.rss_trend_mb_per_min} MB/min |",
        f"| writer queue depth (max) | {r.writer_buffered_max} buffered,"
        f" {r.storage_backlog_max} not yet handed to it |",
        *([f"| REST by wrk (C, {r.wrk.get('requests', 0):,.0f} requests) |"
           f" {r.wrk.get('requests_per_s', 0):,.0f}/s; p50 {r.wrk.get('p50_ms')} ms,"
           f" p90 {r.wrk.get('p90_ms')} ms, p99 {r.wrk.get('p99_ms')} ms;"
           f" non-2xx {r.wrk.get('non_2xx', 0):g}, timeouts {r.wrk.get('timeouts', 0):g} |"]
          if r.wrk else []),
        *(f"| waiting: {k} | p50 {v['p50']}, max {v['max']} |" for k, v in r.waiting.items()),
        *(f"| retained at the end: {k} | {v:g} |" for k, v in r.retained.items()),
        "",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    from tests.services import PostgresServer, RedisServer

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=180.0)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--speed", default="120", help="PI5_FEED__SPEED (simulated s per s)")
    p.add_argument("--redis", action="store_true", help="channels through Redis")
    p.add_argument(
        "--memory",
        action="store_true",
        help="a memory run: sample every --sample-every s (default 5), keep no per-message\n"
        "record in the driver, no stream check; for --seconds 1200 and more",
    )
    p.add_argument("--sample-every", type=float, default=None, help="seconds between samples")
    p.add_argument("--out", type=Path, default=Path("test-artifacts/proof"))
    p.add_argument(
        "--wrk",
        type=int,
        default=0,
        metavar="CONNECTIONS",
        help="also poll the REST routes with wrk (C, own process) on this many connections:\n"
        "the node's REST percentiles without the Python driver's own lateness (needs wrk)",
    )
    p.add_argument(
        "--access-ttl",
        type=int,
        default=900,
        help="PI5_AUTH__ACCESS_TTL_S (s): how often the clients must sign in again",
    )
    args = p.parse_args(argv)
    least = {"seconds": 0, "clients": 1, "wrk": 0, "access_ttl": 60}
    for name, low in least.items():
        if getattr(args, name) < low:
            p.error(f"--{name.replace('_', '-')}: {getattr(args, name)} is below {low}")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        p.error(f"--out {args.out}: cannot write there ({exc.strerror})")
    if args.wrk and shutil.which("wrk") is None:
        p.error("--wrk needs wrk: apt-get install wrk (scripts/dev/system_deps.sh test)")
    pg, redis = PostgresServer(), RedisServer()
    from tests.contract.databases import migrate_sync

    try:
        pg.start()
        redis.start()
        migrate_sync("postgres", pg.dsn)
        data = Path(tempfile.mkdtemp(prefix="pi5-load-"))
        load, result, text = run_load(
            pg.dsn,
            redis.url if args.redis else "",
            data,
            args.seconds,
            clients=args.clients,
            speed=args.speed,
            sample_every_s=args.sample_every or (5.0 if args.memory else 1.0),
            keep_hashes=not args.memory,
            samples_path=args.out / "load-samples.csv",
            wrk_connections=args.wrk,
            access_ttl_s=args.access_ttl,
        )
        (args.out / "load-node.log").write_text(text)
        shutil.rmtree(data, ignore_errors=True)  # kept (the node's log) when the run failed
        gaps = [] if args.memory else stream_gaps(load.logs)
        _write_samples(args.out / "load-samples.csv", load.samples)
        same_fills = logged_fills(text) == stored_fills(pg.dsn)
        check_orders_and_fills(pg.dsn)
    finally:
        redis.close()
        pg.close()
    ok = (
        not gaps
        and same_fills
        and result.rest_5xx == 0
        and result.dropped_clients == 1
        and result.slow_close_code == 4008
        and not result.wrk.get("timeouts")
        and not result.rest_no_answer
    )
    (args.out / "load.json").write_text(
        json.dumps({**asdict(result), "stream_problems": gaps, "ok": ok}, indent=2) + "\n"
    )
    (args.out / "load.md").write_text(_markdown(result))
    print(
        f"LOAD RESULT: {'ok' if ok else 'FAILED'}; {result.events_per_s:,.0f} events/s,"
        f" REST p50 {result.rest_p50_ms} ms p99 {result.rest_p99_ms} ms,"
        f" WebSocket p50 {result.ws_latency_p50_ms} ms p99 {result.ws_latency_p99_ms} ms,"
        f" {result.dropped_clients} dropped, RSS {result.rss_mb[0]}→{result.rss_mb[-1]} MB"
        f" ({result.rss_trend_mb_per_min} MB/min), writer max {result.writer_buffered_max},"
        f" 5xx {result.rest_5xx}"
        + (
            f"; wrk {result.wrk.get('requests_per_s', 0):,.0f} req/s p50"
            f" {result.wrk.get('p50_ms')} ms p99 {result.wrk.get('p99_ms')} ms"
            f" non-2xx {result.wrk.get('non_2xx', 0):g}"
            if result.wrk
            else ""
        )
    )
    for g in gaps[:10]:
        print("  stream problem:", g)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
