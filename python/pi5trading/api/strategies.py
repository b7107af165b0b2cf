"""Strategies: the built-in types with their parameters' JSON schema, and the instances the
node runs — create, start, stop, pause, resume, reconfigure, delete — with their P&L.

Instances are built from the built-in types only: code from a file is the operator's to
install (on the Pi, through the node's configuration), never something an API call uploads.
Every change is stored (the strategies table) and audited; a restart runs the same set.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import Request, delete, get, post, put
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from pi5trading.api.audit import audit
from pi5trading.api.errors import Problem
from pi5trading.api.node_access import node_command, repository_of
from pi5trading.api.roles import ANYONE, TRADER
from pi5trading.api.security.tokens import Identity
from pi5trading.exceptions import ConfigurationError, InvalidStateError
from pi5trading.node.trading_node import TradingNode
from pi5trading.sinks.storage import record_strategy
from pi5trading.strategies.loader import BUILTIN
from pi5trading.strategies.manual import MANUAL_ID

STRATEGY_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$")
Action = Literal["start", "stop", "pause", "resume"]


class StrategyType(msgspec.Struct, frozen=True):
    name: str
    summary: str
    description: str
    parameters: dict[str, Any]
    """JSON schema of the parameters (the strategy's ``Config``)."""


class StrategyIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=48)]
    type: str
    parameters: dict[str, Any] = msgspec.field(default_factory=dict)
    start: bool = True


class StrategyConfigIn(msgspec.Struct, forbid_unknown_fields=True):
    parameters: dict[str, Any]


class StrategyOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: str
    status: str
    parameters: dict[str, Any]
    realized_pnl: str
    unrealized_pnl: str
    commissions: str
    open_orders: int
    error: str | None = None


def _schema(cls: Any) -> dict[str, Any]:
    schema: dict[str, Any] = msgspec.json.schema(cls.Config)
    defs = schema.pop("$defs", {})
    ref = schema.get("$ref", "")
    body: dict[str, Any] = defs.get(ref.rpartition("/")[2], schema) if ref else schema
    if defs and ref:
        body = {**body, "$defs": defs}
    return body


TYPES: Final = [
    StrategyType(
        name=name,
        summary=(cls.__doc__ or "").strip().split("\n")[0],
        description=(cls.__doc__ or "").strip(),
        parameters=_schema(cls),
    )
    for name, cls in sorted(BUILTIN.items())
]


@get("/api/v1/strategies/types", tags=["strategies"], guards=ANYONE, operation_id="strategyTypes")
async def strategy_types() -> list[StrategyType]:
    """The built-in strategies and their parameters (JSON schema)."""
    return TYPES


def _refused(exc: Exception) -> Problem:
    if isinstance(exc, InvalidStateError):
        return Problem(409, "Not possible now", str(exc))
    return Problem(422, "Strategy refused", str(exc))


def _known(node: TradingNode, strategy_id: str) -> None:
    if strategy_id not in node.strategies():
        raise Problem(404, "Unknown strategy", f"no strategy {strategy_id!r} in the node")


def strategy_commands(node: TradingNode) -> dict[str, Any]:
    """The strategy commands (``pi5trading.api.commands``): what needs the node itself."""

    async def figures(_args: dict[str, Any]) -> dict[str, Any]:
        states = node.strategies()

        def pnl(engine: Any) -> list[dict[str, Any]]:
            p = engine.portfolio
            indices = node.strategy_indices()
            out = []
            for sid, status in states.items():
                realised, unrealised, commissions = p.strategy_pnl(sid)
                k = indices.get(sid)
                out.append({
                    "id": sid, "status": status, "realized_pnl": format(realised, "f"),
                    "unrealized_pnl": format(unrealised, "f"),
                    "commissions": format(commissions, "f"),
                    "open_orders": len(engine.open_orders(k)) if k is not None else 0,
                    "error": node.failure(sid),
                })  # fmt: skip
            return out

        return {"items": await node.call(pnl)}

    async def add(args: dict[str, Any]) -> dict[str, Any]:
        try:
            await node.add_strategy(
                args["type"], args["parameters"], strategy_id=args["id"], start=args["start"]
            )
        except (ConfigurationError, InvalidStateError, ValueError) as exc:
            raise _refused(exc) from None
        return {}

    async def act(args: dict[str, Any]) -> dict[str, Any]:
        sid, action = str(args["id"]), str(args["action"])
        commands = {
            "start": node.start_strategy,
            "stop": node.stop_strategy,
            "pause": node.pause_strategy,
            "resume": node.resume_strategy,
        }
        try:
            await commands[action](sid)
        except (ConfigurationError, InvalidStateError) as exc:
            _known(node, sid)
            raise _refused(exc) from None
        return {}

    async def configure(args: dict[str, Any]) -> dict[str, Any]:
        sid = str(args["id"])
        _known(node, sid)
        try:
            await node.reconfigure_strategy(sid, args["parameters"])
        except (ConfigurationError, InvalidStateError, ValueError) as exc:
            raise _refused(exc) from None
        return {}

    async def remove(args: dict[str, Any]) -> dict[str, Any]:
        sid = str(args["id"])
        _known(node, sid)
        try:
            await node.remove_strategy(sid)
        except (ConfigurationError, InvalidStateError) as exc:
            raise _refused(exc) from None
        return {}

    return {
        "strategy_figures": figures,
        "strategy_add": add,
        "strategy_action": act,
        "strategy_configure": configure,
        "strategy_remove": remove,
    }


async def _instances(request: Request[Any, Any, Any]) -> list[StrategyOut]:
    rows = {r.strategy_id: r for r in await repository_of(request).list_strategies()}
    figures = (await node_command(request, "strategy_figures", {}))["items"]
    out = []
    for f in figures:
        row = rows.get(f["id"])
        out.append(
            StrategyOut(
                id=f["id"],
                type=row.class_path if row is not None else "",
                status=f["status"],
                parameters=row.config if row is not None else {},
                realized_pnl=f["realized_pnl"],
                unrealized_pnl=f["unrealized_pnl"],
                commissions=f["commissions"],
                open_orders=f["open_orders"],
                error=f["error"],
            )
        )
    return out


@get("/api/v1/strategies", tags=["strategies"], guards=ANYONE, operation_id="listStrategies")
async def list_strategies(request: Request[Any, Any, Any]) -> list[StrategyOut]:
    """The node's strategies with their status, parameters and P&L."""
    return await _instances(request)


@get(
    "/api/v1/strategies/{strategy_id:str}",
    tags=["strategies"],
    guards=ANYONE,
    operation_id="getStrategy",
)
async def get_strategy(request: Request[Any, Any, Any], strategy_id: FromPath[str]) -> StrategyOut:
    for s in await _instances(request):
        if s.id == strategy_id:
            return s
    raise Problem(404, "Unknown strategy", f"no strategy {strategy_id!r} in the node")


@post(
    "/api/v1/strategies",
    tags=["strategies"],
    guards=TRADER,
    status_code=HTTP_201_CREATED,
    operation_id="createStrategy",
)
async def create_strategy(
    request: Request[Identity, Any, Any], data: JSONBody[StrategyIn]
) -> StrategyOut:
    """Add an instance of a built-in type with validated parameters (started unless
    ``start`` is false)."""
    if data.type not in BUILTIN:
        raise Problem(
            422, "Unknown strategy type", f"{data.type!r}: known types are {sorted(BUILTIN)}"
        )
    if not STRATEGY_ID.fullmatch(data.id) or data.id == MANUAL_ID:
        raise Problem(
            422, "Invalid id", "an id has 1-48 letters, digits, '_' or '-' (and is not 'manual')"
        )
    await node_command(
        request,
        "strategy_add",
        {"type": data.type, "parameters": data.parameters, "id": data.id, "start": data.start},
    )
    # The name is the instance's (unique); the type is its class.
    await record_strategy(
        repository_of(request),
        data.id,
        name=data.id,
        class_path=data.type,
        config=dict(data.parameters),
    )
    await audit(
        repository_of(request), "strategy.create", "success", actor=request.user.user_id,
        resource=f"strategy:{data.id}", type=data.type, parameters=data.parameters,
    )  # fmt: skip
    return await get_strategy.fn(request, data.id)  # type: ignore[no-any-return]


@post(
    "/api/v1/strategies/{strategy_id:str}/{action:str}",
    tags=["strategies"],
    guards=TRADER,
    status_code=200,
    operation_id="strategyAction",
)
async def strategy_action(
    request: Request[Identity, Any, Any], strategy_id: FromPath[str], action: FromPath[str]
) -> StrategyOut:
    """``start``, ``stop``, ``pause`` or ``resume`` an instance."""
    actions = ("pause", "resume", "start", "stop")
    if action not in actions:
        raise Problem(404, "Unknown action", f"{action!r}: expected one of {list(actions)}")
    if strategy_id == MANUAL_ID:
        raise Problem(409, "Not possible", "the manual order book always runs")
    await node_command(request, "strategy_action", {"id": strategy_id, "action": action})
    await audit(repository_of(request), f"strategy.{action}", "success", actor=request.user.user_id,
                resource=f"strategy:{strategy_id}")  # fmt: skip
    return await get_strategy.fn(request, strategy_id)  # type: ignore[no-any-return]


@put(
    "/api/v1/strategies/{strategy_id:str}",
    tags=["strategies"],
    guards=TRADER,
    operation_id="configureStrategy",
)
async def configure_strategy(
    request: Request[Identity, Any, Any],
    strategy_id: FromPath[str],
    data: JSONBody[StrategyConfigIn],
) -> StrategyOut:
    """New parameters (validated first; a bad one changes nothing). A running instance is
    stopped, reconfigured and started again."""
    if strategy_id == MANUAL_ID:
        raise Problem(409, "Not possible", "the manual order book has no parameters")
    await node_command(
        request, "strategy_configure", {"id": strategy_id, "parameters": data.parameters}
    )
    repo = repository_of(request)
    row = await repo.get_strategy(strategy_id)
    await record_strategy(
        repo,
        strategy_id,
        name=row.name if row is not None else strategy_id,
        class_path=row.class_path if row is not None else strategy_id,
        config=dict(data.parameters),
    )
    await audit(repo, "strategy.configure", "success", actor=request.user.user_id,
                resource=f"strategy:{strategy_id}", parameters=data.parameters)  # fmt: skip
    return await get_strategy.fn(request, strategy_id)  # type: ignore[no-any-return]


@delete(
    "/api/v1/strategies/{strategy_id:str}",
    tags=["strategies"],
    guards=TRADER,
    status_code=HTTP_204_NO_CONTENT,
    operation_id="deleteStrategy",
)
async def delete_strategy(request: Request[Identity, Any, Any], strategy_id: FromPath[str]) -> None:
    """Stop (its working orders cancelled) and remove an instance. Its positions stay in the
    account."""
    if strategy_id == MANUAL_ID:
        raise Problem(409, "Not possible", "the manual order book cannot be removed")
    await node_command(request, "strategy_remove", {"id": strategy_id})
    # Gone for good: a restart does not bring it back (its orders and fills stay).
    await repository_of(request).delete_strategy(strategy_id)
    await audit(repository_of(request), "strategy.delete", "success", actor=request.user.user_id,
                resource=f"strategy:{strategy_id}")  # fmt: skip


ROUTES: Final = [strategy_types, list_strategies, get_strategy, create_strategy, strategy_action,
                 configure_strategy, delete_strategy]  # fmt: skip

__all__ = ["ROUTES"]
