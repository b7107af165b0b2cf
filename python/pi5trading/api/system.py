"""Readiness, the system's status, the risk engine's state and limits, and the operator's
halt / reduce-only / resume."""

from __future__ import annotations

import time
from typing import Any, Final, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath, JSONBody

from pi5trading import __version__
from pi5trading.api.audit import audit
from pi5trading.api.errors import Problem
from pi5trading.api.node_access import node_command, repository_of
from pi5trading.api.roles import ADMIN, ANYONE
from pi5trading.api.security.tokens import Identity
from pi5trading.config import SECRET_SETTINGS, Settings
from pi5trading.node.trading_node import PAUSE_SAID_S, TradingNode
from pi5trading.risk import account_limits, configured_risk_engine


class Check(msgspec.Struct, frozen=True):
    ok: bool
    detail: str = ""


class Readiness(msgspec.Struct, frozen=True):
    ready: bool
    checks: dict[str, Check]


@get("/ready", tags=["system"], security=[], operation_id="getReady")
async def ready(request: Request[Any, Any, Any]) -> Response[Readiness]:
    """Readiness: the database answers, the node runs, its feeds are live, no breaker is
    open, Redis answers (with the node's Redis, or in an API-only worker). 503 (with the
    failing checks) when not ready."""
    checks: dict[str, Check] = {}
    repo = repository_of(request)
    try:
        await repo.ping()
        checks["database"] = Check(True)
    except Exception as exc:  # any failure is "not ready", with its reason
        checks["database"] = Check(False, str(exc))
    # The API's database breaker and the node's (its writer journals while it is open).
    for name, breaker in _breakers(request).items():
        state = breaker.snapshot().state
        checks[f"breaker:{name}"] = Check(state != "open", state)
    node = getattr(request.app.state, "node", None)
    if node is not None:
        checks["node"] = Check(node.state == "running", node.state)
        paused = node.paused_for()
        if paused is not None and paused[1] >= PAUSE_SAID_S:
            # A blip while a batch is written is not news; trading standing still is.
            checks["node"] = Check(False, f"paused {paused[1]:.0f} s: waiting for {paused[0]}")
        for feed in node.feeds:
            status = getattr(feed, "status", "unknown")
            checks[f"feed:{feed.name}"] = Check(status in ("live", "connecting"), str(status))
        redis = getattr(node.sinks, "redis", None)
    else:
        # An API-only worker: Redis is its only way to the node (commands, latest state,
        # live events) and where tokens are checked; without it nothing signed in works.
        remote = getattr(request.app.state, "remote", None)
        redis = getattr(remote, "client", None)
    if redis is not None:
        try:
            await redis.ping()
            checks["redis"] = Check(True)
        except Exception as exc:
            checks["redis"] = Check(False, str(exc))
    ok = all(c.ok for c in checks.values())
    return Response(Readiness(ok, checks), status_code=200 if ok else 503)


class SystemStatus(msgspec.Struct, frozen=True, kw_only=True):
    version: str
    uptime_seconds: float
    node: str
    strategies: dict[str, str]
    feeds: dict[str, str]
    engine_time: str | None
    queue: dict[str, int]
    writer: dict[str, Any] | None


@get("/api/v1/system/status", tags=["system"], guards=ADMIN, operation_id="systemStatus")
async def status(request: Request[Any, Any, Any]) -> SystemStatus:
    """The node, its strategies and feeds, the ingest queue and the storage writer."""
    from pi5trading.api.timefmt import iso

    node = getattr(request.app.state, "node", None)
    started = getattr(request.app.state, "started", time.monotonic())
    writer = None
    if node is not None and getattr(node.sinks, "storage", None) is not None:
        writer = msgspec.to_builtins(node.sinks.storage.writer.stats())
    return SystemStatus(
        version=__version__,
        uptime_seconds=round(time.monotonic() - started, 3),
        node=node.state if node is not None else "absent",
        strategies=dict(node.strategies()) if node is not None else {},
        feeds={f.name: str(getattr(f, "status", "unknown")) for f in node.feeds} if node else {},
        engine_time=iso(int(node.engine.now)) if node is not None else None,
        queue={k: int(v) for k, v in node.queue.stats().items()} if node is not None else {},
        writer=writer,
    )


@get("/api/v1/system/config", tags=["system"], guards=ADMIN, operation_id="systemConfig")
async def config(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The effective settings, without secrets (they show as set or not)."""
    settings: Settings = request.app.state.settings
    tree: dict[str, Any] = msgspec.to_builtins(settings)
    for section, name in SECRET_SETTINGS:
        part = tree.get(section)
        if isinstance(part, dict) and name in part:
            part[name] = "<set>" if part[name] else ""
    url = tree.get("database", {}).get("url", "")
    if isinstance(url, str) and "@" in url:  # a password in the URL
        scheme, _, rest = url.partition("://")
        tree["database"]["url"] = f"{scheme}://***@{rest.rpartition('@')[2]}"
    return tree


class RiskState(msgspec.Struct, frozen=True, kw_only=True):
    state: str
    cause: str | None
    session_pnl: str
    equity_peak: str | None
    session_orders: int
    strategies: dict[str, str]
    limits: dict[str, str | int | None]


def risk_commands(node: TradingNode) -> dict[str, Any]:
    """The risk commands (``pi5trading.api.commands``)."""

    async def status(_args: dict[str, Any]) -> dict[str, Any]:
        got = await node.call(lambda e: e.risk_status())
        if got is None:
            return {"status": None}
        peak = got["equity_peak"]
        return {
            "status": {
                "state": got["state"],
                "cause": got["cause"],
                "session_pnl": format(got["session_pnl"], "f"),
                "equity_peak": format(peak, "f") if peak is not None else None,
                "session_orders": got["session_orders"],
                "strategies": dict(got["strategies"]),
            }
        }

    async def set_state(args: dict[str, Any]) -> dict[str, Any]:
        sid = args.get("strategy_id")
        if sid is not None and sid not in node.strategies():
            raise Problem(404, "Unknown strategy", f"no strategy {sid!r} in the node")
        await node.set_trading_state(args["state"], args["reason"], strategy_id=sid)
        return {}

    return {"risk_status": status, "risk_set_state": set_state}


@get("/api/v1/risk", tags=["risk"], guards=ANYONE, operation_id="riskState")
async def risk_state(request: Request[Any, Any, Any]) -> RiskState:
    """The trading state (active / reducing / halted) and why, today's P&L against the
    limits, and every account limit."""
    status = (await node_command(request, "risk_status", {}))["status"]
    if status is None:
        raise Problem(404, "No risk engine", "this node runs without pre-trade risk checks")
    settings: Settings = request.app.state.settings
    limits = account_limits(configured_risk_engine(settings))
    return RiskState(
        **status,
        limits={
            k: (str(v) if v is not None and not isinstance(v, int) else v)
            for k, v in limits.items()
        },
    )


class StateChange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    state: Literal["active", "reducing", "halted"]
    reason: str = msgspec.field(default="")
    strategy_id: str | None = None


@post(
    "/api/v1/risk/state",
    tags=["risk"],
    guards=ADMIN,
    status_code=200,
    operation_id="setTradingState",
)
async def set_state(request: Request[Identity, Any, Any], data: JSONBody[StateChange]) -> RiskState:
    """Halt trading, allow only reducing orders, or resume (admin); for the account or one
    strategy. A reason is required; it is in the audit trail and the risk event."""
    reason = data.reason.strip()
    if not reason or len(reason) > 500:
        raise Problem(
            422, "A reason is needed", "say why (1-500 characters): it goes into the audit trail"
        )
    who = request.user.username
    await node_command(
        request,
        "risk_set_state",
        {"state": data.state, "reason": f"{reason} ({who})", "strategy_id": data.strategy_id},
    )
    await audit(
        repository_of(request), "risk.set_state", "success", actor=request.user.user_id,
        resource=f"strategy:{data.strategy_id}" if data.strategy_id else "account",
        state=data.state, reason=reason,
    )  # fmt: skip
    return await risk_state.fn(request)  # type: ignore[no-any-return]


@get("/metrics", tags=["system"], security=[], operation_id="metrics", media_type="text/plain")
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus metrics (text format): HTTP requests by route, method and status with
    durations, the process (memory, CPU), and the node's (events by topic, orders by kind,
    fills, denials by code, writer queue and batch latency, feeds, dropped clients)."""
    from prometheus_client import REGISTRY, generate_latest

    body = generate_latest(REGISTRY)
    node = getattr(request.app.state, "node", None)
    node_metrics = getattr(getattr(node, "sinks", None), "metrics", None)
    if node_metrics is not None:
        body += node_metrics.render()
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


def _breakers(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The circuit breakers of this process by name: the API's database, the node's, the
    broker's (with a broker configured)."""
    out: dict[str, Any] = {}
    api_breaker = getattr(request.app.state.repository, "breaker", None)
    if api_breaker is not None:
        out["database:api"] = api_breaker
    node = getattr(request.app.state, "node", None)
    storage = getattr(getattr(node, "sinks", None), "storage", None)
    node_breaker = getattr(getattr(storage, "repository", None), "breaker", None)
    if node_breaker is not None and node_breaker is not api_breaker:
        out["database:node"] = node_breaker
    router = getattr(node, "router", None)
    if router is not None:
        out["broker"] = router.health  # opens while the broker is unreachable
    return out


@get("/api/v1/system/breakers", tags=["system"], guards=ADMIN, operation_id="listBreakers")
async def breakers(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Each circuit breaker's state, failures and time to its next trial (admin)."""
    return {name: b.snapshot() for name, b in _breakers(request).items()}


@post("/api/v1/system/breakers/{name:str}/reset", tags=["system"], guards=ADMIN, status_code=200,
      operation_id="resetBreaker")  # fmt: skip
async def reset_breaker(request: Request[Identity, Any, Any], name: FromPath[str]) -> Any:
    """Close a breaker by hand (admin): the next call goes through at once."""
    found = _breakers(request).get(name)
    if found is None:
        raise Problem(
            404, "Unknown breaker", f"no breaker {name!r}; known: {sorted(_breakers(request))}"
        )
    found.record_success()
    await audit(repository_of(request), "breaker.reset", "success", actor=request.user.user_id,
                resource=f"breaker:{name}")  # fmt: skip
    return found.snapshot()


ROUTES: Final = [ready, status, config, risk_state, set_state, metrics, breakers, reset_breaker]

__all__ = ["ROUTES"]
