"""Orders, fills, the portfolio and its positions.

Orders placed here belong to the ``manual`` strategy and go through the same pre-trade risk
checks as a strategy's: a refusal is a 422 with the risk engine's machine-readable reason
(``code``, ``scope``, ``limit``, ``actual``). Reads of the live account come from the node's
engine (between its steps); history comes from storage. Money is a string (exact decimal),
times are ISO-8601 UTC.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from pi5trading import _core
from pi5trading.api.audit import audit
from pi5trading.api.errors import Problem
from pi5trading.api.node_access import node_command, node_of, repository_of
from pi5trading.api.roles import ANYONE, TRADER
from pi5trading.api.security.tokens import Identity
from pi5trading.api.timefmt import iso, parse_iso
from pi5trading.feeds.aggregation import BarAggregator
from pi5trading.feeds.calendars import ALWAYS_OPEN, get_calendar
from pi5trading.feeds.replay import storage_bars
from pi5trading.node.trading_node import TradingNode
from pi5trading.storage.records import BarRow, FillRow, OrderEventRow, OrderRow
from pi5trading.strategies.manual import MANUAL_ID

Money = Annotated[str, msgspec.Meta(description="an exact decimal amount, e.g. '1234.50'")]
OrderType = Literal["market", "limit", "stop_market", "stop_limit", "market_if_touched",
                    "trailing_stop_market"]  # fmt: skip
TimeInForce = Literal["gtc", "day", "ioc", "fok", "gtd"]
MAX_PAGE: Final = 1000


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _money(value: Decimal) -> str:
    return format(value, "f")


# -- DTOs --


class OrderIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new order. ``price`` is the limit (limit, stop_limit); ``trigger_price`` the stop
    or touch level; ``trailing_offset`` a price distance (or basis points with
    ``trailing_offset_type``)."""

    symbol: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    side: Literal["buy", "sell"]
    quantity: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    type: OrderType = "market"
    price: str | None = None
    trigger_price: str | None = None
    trailing_offset: str | None = None
    trailing_offset_type: Literal["price", "basis_points"] = "price"
    time_in_force: TimeInForce = "gtc"
    expire_time: str | None = None
    reduce_only: bool = False
    post_only: bool = False


class OrderChange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """New terms for a working order (only what changes)."""

    quantity: str | None = None
    price: str | None = None
    trigger_price: str | None = None


class Denial(msgspec.Struct, frozen=True):
    code: str
    scope: str
    message: str
    limit: str
    actual: str


class OrderOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    strategy_id: str
    symbol: str
    side: str
    type: str
    quantity: Money
    status: str
    time_in_force: str
    price: Money | None = None
    trigger_price: Money | None = None
    filled_quantity: Money = "0"
    average_price: Money | None = None
    reason: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class OrderEventOut(msgspec.Struct, frozen=True):
    seq: int
    at: str
    status: str
    reason: str | None
    detail: dict[str, Any]


class FillOut(msgspec.Struct, frozen=True):
    id: str
    order_id: str
    strategy_id: str
    symbol: str
    side: str
    quantity: Money
    price: Money
    commission: Money
    at: str


class OrderDetail(msgspec.Struct, frozen=True):
    order: OrderOut
    events: list[OrderEventOut]
    fills: list[FillOut]


class Page(msgspec.Struct, frozen=True):
    limit: int
    offset: int
    next_offset: int | None
    """Where the next page starts (``None``: this is the last)."""


class OrderPage(msgspec.Struct, frozen=True):
    items: list[OrderOut]
    page: Page


class FillPage(msgspec.Struct, frozen=True):
    items: list[FillOut]
    page: Page


class PositionOut(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    strategy_id: str | None
    """``None`` for the account's netting position."""
    quantity: Money
    side: Literal["long", "short", "flat"]
    average_price: Money | None
    last_price: Money | None
    market_value: Money | None
    unrealized_pnl: Money | None
    realized_pnl: Money


class PortfolioSummary(msgspec.Struct, frozen=True, kw_only=True):
    at: str
    cash: Money
    equity: Money
    positions_value: Money
    realized_pnl: Money
    unrealized_pnl: Money
    commissions: Money
    buying_power: Money
    session_pnl: Money | None
    """P&L since the risk session's start (``None`` without a risk engine)."""
    open_positions: int
    open_orders: int
    trading_state: str | None


def order_out(o: OrderRow) -> OrderOut:
    return OrderOut(
        id=o.order_id,
        strategy_id=o.strategy_id,
        symbol=o.instrument_id,
        side=o.side,
        type=o.order_type,
        quantity=_money(o.quantity),
        status=o.status,
        time_in_force=o.time_in_force,
        price=_dec(o.limit_price),
        trigger_price=_dec(o.stop_price),
        filled_quantity=_money(o.filled_quantity),
        average_price=_dec(o.avg_fill_price),
        reason=o.reason,
        created_at=iso(o.created_ns),
        updated_at=iso(o.updated_ns),
    )


def live_order_out(o: _core.Order) -> OrderOut:
    """An order as the engine has it now (before storage has its row)."""
    return OrderOut(
        id=o.client_order_id,
        strategy_id=o.strategy_id,
        symbol=o.instrument,
        side=o.side,
        type=o.order_type,
        quantity=_money(o.quantity),
        status=o.status,
        time_in_force=o.time_in_force,
        price=_dec(o.price),
        trigger_price=_dec(o.trigger_price),
        filled_quantity=_money(o.filled_qty),
        average_price=_dec(o.avg_px),
    )


def fill_out(f: FillRow) -> FillOut:
    return FillOut(
        id=f.fill_id,
        order_id=f.order_id,
        strategy_id=f.strategy_id,
        symbol=f.instrument_id,
        side=f.side,
        quantity=_money(f.quantity),
        price=_money(f.price),
        commission=_money(f.commission),
        at=iso(f.ts_ns),
    )


def _event_out(e: OrderEventRow) -> OrderEventOut:
    return OrderEventOut(e.seq, iso(e.ts_ns), e.status, e.reason, e.detail)


def _time(value: str | None, field: str) -> int | None:
    if value is None:
        return None
    try:
        return parse_iso(value, field)
    except ValueError as exc:
        raise Problem(400, "Invalid request", str(exc)) from None


def _page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise Problem(400, "Invalid request", f"limit: expected 1 to {MAX_PAGE}, got {limit}")
    if offset < 0:
        raise Problem(400, "Invalid request", f"offset: expected 0 or more, got {offset}")


def _exact(value: str | None, field: str) -> Decimal | None:
    if value is None:
        return None
    try:
        d = Decimal(value)
    except ArithmeticError:
        raise Problem(422, "Invalid order", f"{field}: {value!r} is not a number") from None
    if not d.is_finite():
        raise Problem(422, "Invalid order", f"{field}: {value!r} is not a finite number")
    return d


# -- orders --

ORDER_STATUSES: Final = (
    "created",
    "submitted",
    "accepted",
    "partially_filled",
    "filled",
    "cancelled",
    "expired",
    "rejected",
    "denied",
)


@get("/api/v1/orders", tags=["orders"], guards=ANYONE, operation_id="listOrders")
async def list_orders(
    request: Request[Any, Any, Any],
    status: FromQuery[list[str] | None] = None,
    symbol: FromQuery[str | None] = None,
    strategy: FromQuery[str | None] = None,
    start: FromQuery[str | None] = None,
    end: FromQuery[str | None] = None,
    limit: FromQuery[int] = 100,
    offset: FromQuery[int] = 0,
) -> OrderPage:
    """Orders, newest first, filtered by status (repeatable), symbol, strategy and the time
    they were created in ``[start, end)``; one page of ``limit`` from ``offset``."""
    _page(limit, offset)
    bad = [s for s in status or () if s not in ORDER_STATUSES]
    if bad:
        raise Problem(
            400, "Invalid request", f"status: unknown {bad}; known: {list(ORDER_STATUSES)}"
        )
    rows = await repository_of(request).find_orders(
        status=status or (),
        instrument_id=symbol,
        strategy_id=strategy,
        start_ns=_time(start, "start"),
        end_ns=_time(end, "end"),
        limit=limit + 1,
        offset=offset,
    )
    more = len(rows) > limit
    return OrderPage(
        items=[order_out(o) for o in rows[:limit]],
        page=Page(limit, offset, offset + limit if more else None),
    )


@get("/api/v1/orders/{order_id:str}", tags=["orders"], guards=ANYONE, operation_id="getOrder")
async def get_order(request: Request[Any, Any, Any], order_id: FromPath[str]) -> OrderDetail:
    """One order with its lifecycle and fills."""
    repo = repository_of(request)
    row = await repo.get_order(order_id)
    if row is None:
        node = getattr(request.app.state, "node", None)
        live = await node.call(lambda e: e.order(order_id)) if node is not None else None
        if live is None:
            raise Problem(404, "Unknown order", f"no order {order_id!r}")
        return OrderDetail(live_order_out(live), [], [])
    events = await repo.get_order_events(order_id)
    fills = await repo.list_fills(order_id=order_id, limit=MAX_PAGE)
    return OrderDetail(
        order_out(row), [_event_out(e) for e in events], [fill_out(f) for f in fills]
    )


class Placed(msgspec.Struct, frozen=True):
    order: OrderOut
    denial: Denial | None = None


def _place(node: TradingNode, data: OrderIn, user: Identity) -> tuple[str, _core.Order | None, Any]:
    """On the engine thread: build, submit through risk, settle."""
    k = node.strategy_indices().get(MANUAL_ID)
    if k is None:
        raise Problem(503, "Service unavailable", "the node has no manual order book yet")
    expire = _time(data.expire_time, "expire_time")
    engine = node.engine
    oid = engine.next_order_id(k)
    try:
        order = _core.Order(
            oid,
            MANUAL_ID,
            data.symbol,
            data.side,
            data.type,
            _exact(data.quantity, "quantity"),  # type: ignore[arg-type]
            price=_exact(data.price, "price"),
            trigger_price=_exact(data.trigger_price, "trigger_price"),
            trailing_offset=_exact(data.trailing_offset, "trailing_offset"),
            trailing_offset_type=data.trailing_offset_type,
            time_in_force=data.time_in_force,
            expire_time=expire,
            reduce_only=data.reduce_only,
            post_only=data.post_only,
            tags=[f"user:{user.username}"],
            ts_init=int(engine.now),
        )
        status = engine.submit(k, order)
    except (ValueError, TypeError) as exc:
        raise Problem(422, "Invalid order", str(exc)) from None
    denial = engine.last_denial() if status == "denied" else None
    engine.settle()
    return oid, engine.order(oid), denial


async def place_order(node: TradingNode, data: OrderIn, user: Identity) -> dict[str, Any]:
    """Place ``data`` on ``node`` (in its process): ``{"oid", "order", "denial"}`` as plain
    data (what a remote worker gets back too)."""
    if data.symbol not in node.instruments:
        raise Problem(
            422,
            "Invalid order",
            f"symbol: {data.symbol!r} is not traded here; known: {sorted(node.instruments)}",
        )
    oid, order, denial = await node.call(lambda _e: _place(node, data, user))
    refused = None
    if denial is not None:
        d = denial.denial
        refused = {"code": d.code, "scope": d.scope, "message": d.message,
                   "limit": str(d.limit), "actual": str(d.actual)}  # fmt: skip
    placed = msgspec.to_builtins(live_order_out(order)) if order is not None else None
    return {"oid": oid, "order": placed, "denial": refused}


async def cancel_on(node: TradingNode, order_id: str) -> dict[str, Any]:
    """Cancel ``order_id`` on ``node`` (in its process); the order as plain data."""

    def cancel(engine: _core.Engine) -> _core.Order:
        _working(node, order_id)
        engine.cancel(order_id)
        engine.settle()
        order = engine.order(order_id)
        assert order is not None
        return order

    result: dict[str, Any] = msgspec.to_builtins(live_order_out(await node.call(cancel)))
    return result


def order_commands(node: TradingNode) -> dict[str, Any]:
    """The order and account commands (``pi5trading.api.commands``)."""

    async def submit(args: dict[str, Any]) -> dict[str, Any]:
        data = msgspec.convert(args["order"], OrderIn)
        user = msgspec.convert(args["user"], Identity)
        return await place_order(node, data, user)

    async def cancel(args: dict[str, Any]) -> dict[str, Any]:
        return await cancel_on(node, str(args["order_id"]))

    async def modify(args: dict[str, Any]) -> dict[str, Any]:
        change = msgspec.convert(args["change"], OrderChange)
        return await modify_on(node, str(args["order_id"]), change)

    async def positions(args: dict[str, Any]) -> Any:
        strategy = args.get("strategy")
        return msgspec.to_builtins(await node.call(lambda e: _positions(e, strategy)))

    async def summary(args: dict[str, Any]) -> Any:
        return msgspec.to_builtins(await node.call(lambda e: _summary(node, e)))

    return {
        "submit_order": submit,
        "cancel_order": cancel,
        "modify_order": modify,
        "positions": positions,
        "summary": summary,
    }


@post(
    "/api/v1/orders",
    tags=["orders"],
    guards=TRADER,
    status_code=HTTP_201_CREATED,
    operation_id="submitOrder",
)
async def submit_order(request: Request[Identity, Any, Any], data: JSONBody[OrderIn]) -> Placed:
    """Place an order (every type the engine supports) through the pre-trade risk checks.
    A refusal is a 422 problem with the risk engine's reason in ``code``."""
    result = await node_command(
        request,
        "submit_order",
        {"order": msgspec.to_builtins(data), "user": msgspec.to_builtins(request.user)},
    )
    oid, denial = result["oid"], result["denial"]
    repo = repository_of(request)
    who = request.user.user_id
    if denial is not None:
        await audit(
            repo, "order.submit", "denied", actor=who, resource=f"order:{oid}", with_orders=True,
            code=denial["code"], reason=denial["message"],
        )  # fmt: skip
        raise Problem(
            422,
            "Order denied by risk",
            denial["message"],
            code=denial["code"],
            denial={"scope": denial["scope"], "limit": denial["limit"], "actual": denial["actual"]},
            order_id=oid,
        )
    placed = msgspec.convert(result["order"], OrderOut)
    await audit(
        repo, "order.submit", "success", actor=who, resource=f"order:{oid}", with_orders=True,
        symbol=data.symbol, side=data.side, quantity=data.quantity, type=data.type,
    )  # fmt: skip
    return Placed(placed)


def _working(node: TradingNode, order_id: str) -> _core.Order:
    order = node.engine.order(order_id)
    if order is None:
        raise Problem(404, "Unknown order", f"no working order {order_id!r}")
    if order.status in ("filled", "cancelled", "expired", "rejected", "denied"):
        raise Problem(409, "Order closed", f"order {order_id} is {order.status}")
    return order


@delete(
    "/api/v1/orders/{order_id:str}",
    tags=["orders"],
    guards=TRADER,
    status_code=200,
    operation_id="cancelOrder",
)
async def cancel_order(request: Request[Identity, Any, Any], order_id: FromPath[str]) -> OrderOut:
    """Cancel a working order (any strategy's: an operator's override)."""
    answer = await node_command(request, "cancel_order", {"order_id": order_id})
    order = msgspec.convert(answer, OrderOut)
    await audit(
        repository_of(request),
        "order.cancel",
        "success",
        actor=request.user.user_id,
        resource=f"order:{order_id}",
        with_orders=True,
    )
    return order


@patch("/api/v1/orders/{order_id:str}", tags=["orders"], guards=TRADER, operation_id="modifyOrder")
async def modify_order(
    request: Request[Identity, Any, Any], order_id: FromPath[str], data: JSONBody[OrderChange]
) -> OrderOut:
    """Change a working order's quantity, limit or trigger: the same risk checks as a new
    order (a refusal is a 422 with its reason; the order keeps its terms)."""
    if data.quantity is None and data.price is None and data.trigger_price is None:
        raise Problem(
            400, "Invalid request", "nothing to change: give quantity, price or trigger_price"
        )
    who = request.user.user_id
    repo = repository_of(request)
    try:
        answer = await node_command(
            request, "modify_order", {"order_id": order_id, "change": msgspec.to_builtins(data)}
        )
    except Problem as exc:
        if exc.code is not None:  # refused by risk
            await audit(
                repo, "order.modify", "denied", actor=who, resource=f"order:{order_id}",
                with_orders=True,
            )  # fmt: skip
        raise
    await audit(
        repo, "order.modify", "success", actor=who, resource=f"order:{order_id}", with_orders=True
    )
    return msgspec.convert(answer, OrderOut)


async def modify_on(node: TradingNode, order_id: str, data: OrderChange) -> dict[str, Any]:
    """Change ``order_id`` on ``node`` (in its process); the order as plain data, or a 422
    problem with the risk engine's reason."""

    def modify(engine: _core.Engine) -> tuple[_core.Order, Any]:
        _working(node, order_id)
        before = engine.last_denial()
        try:
            engine.modify(
                order_id,
                quantity=_exact(data.quantity, "quantity"),
                price=_exact(data.price, "price"),
                trigger_price=_exact(data.trigger_price, "trigger_price"),
            )
        except (ValueError, TypeError) as exc:
            raise Problem(422, "Invalid change", str(exc)) from None
        after = engine.last_denial()
        engine.settle()
        order = engine.order(order_id)
        assert order is not None
        denied = (
            after
            if after is not None and after != before and after.client_order_id == order_id
            else None
        )
        return order, denied

    order, denied = await node.call(modify)
    if denied is not None:
        d = denied.denial
        raise Problem(422, "Change denied by risk", d.message, code=d.code)
    result: dict[str, Any] = msgspec.to_builtins(live_order_out(order))
    return result


@get("/api/v1/fills", tags=["orders"], guards=ANYONE, operation_id="listFills")
async def list_fills(
    request: Request[Any, Any, Any],
    symbol: FromQuery[str | None] = None,
    strategy: FromQuery[str | None] = None,
    start: FromQuery[str | None] = None,
    end: FromQuery[str | None] = None,
    limit: FromQuery[int] = 100,
    offset: FromQuery[int] = 0,
) -> FillPage:
    """Fills (trades), newest first, filtered; one page."""
    _page(limit, offset)
    rows = await repository_of(request).find_fills(
        instrument_id=symbol,
        strategy_id=strategy,
        start_ns=_time(start, "start"),
        end_ns=_time(end, "end"),
        limit=limit + 1,
        offset=offset,
    )
    more = len(rows) > limit
    return FillPage(
        items=[fill_out(f) for f in rows[:limit]],
        page=Page(limit, offset, offset + limit if more else None),
    )


# -- portfolio --


def _positions(engine: _core.Engine, strategy: str | None) -> list[PositionOut]:
    p = engine.portfolio
    out = []
    for sym, account_pos in sorted(p.positions().items()):
        pos = account_pos if strategy is None else p.strategy_position(strategy, sym)
        if pos is None or pos.quantity == 0:
            continue
        # A strategy's position is marked at the account's price for the symbol.
        mark = account_pos.mark
        unreal = (mark - pos.avg_px) * pos.quantity if mark is not None and pos.avg_px else None
        out.append(
            PositionOut(
                symbol=sym,
                strategy_id=strategy,
                quantity=_money(pos.quantity),
                side="long" if pos.quantity > 0 else "short",
                average_price=_dec(pos.avg_px),
                last_price=_dec(mark),
                market_value=_dec(pos.quantity * mark) if mark is not None else None,
                unrealized_pnl=_dec(unreal),
                realized_pnl=_money(pos.realised_pnl),
            )
        )
    return out


@get("/api/v1/portfolio/positions", tags=["portfolio"], guards=ANYONE, operation_id="listPositions")
async def positions(
    request: Request[Any, Any, Any], strategy: FromQuery[str | None] = None
) -> list[PositionOut]:
    """Open positions with live marks: the account's, or one strategy's."""
    answer = await node_command(request, "positions", {"strategy": strategy})
    return msgspec.convert(answer, list[PositionOut])


@get(
    "/api/v1/portfolio/positions/{symbol:str}",
    tags=["portfolio"],
    guards=ANYONE,
    operation_id="getPosition",
)
async def position(request: Request[Any, Any, Any], symbol: FromPath[str]) -> PositionOut:
    """The account's position in one symbol (404 when flat)."""
    answer = await node_command(request, "positions", {"strategy": None})
    found = [p for p in msgspec.convert(answer, list[PositionOut]) if p.symbol == symbol]
    if not found:
        raise Problem(404, "No position", f"no open position in {symbol!r}")
    return found[0]


@get(
    "/api/v1/portfolio/summary", tags=["portfolio"], guards=ANYONE, operation_id="portfolioSummary"
)
async def summary(request: Request[Any, Any, Any]) -> PortfolioSummary:
    """Cash, equity, P&L, buying power, exposure and the trading state, now."""
    return msgspec.convert(await node_command(request, "summary", {}), PortfolioSummary)


def _summary(node: TradingNode, engine: _core.Engine) -> PortfolioSummary:
    p = engine.portfolio
    risk = engine.risk_status()
    opened = sum(1 for pos in p.positions().values() if pos.quantity != 0)
    working = sum(len(engine.open_orders(k)) for k in node.strategy_indices().values())
    return PortfolioSummary(
        at=iso(int(engine.now)),
        cash=_money(p.cash),
        equity=_money(p.equity),
        positions_value=_money(p.equity - p.cash),
        realized_pnl=_money(p.realised_pnl),
        unrealized_pnl=_money(p.unrealised_pnl),
        commissions=_money(p.commissions),
        buying_power=_money(p.buying_power),
        session_pnl=_money(risk["session_pnl"]) if risk is not None else None,
        open_positions=opened,
        open_orders=working,
        trading_state=risk["state"] if risk is not None else None,
    )


class QuoteOut(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    price: Money
    """The latest price: quote mid, trade or bar close (``source``)."""
    source: str
    at: str
    bid: Money | None = None
    ask: Money | None = None


@get("/api/v1/market/quotes", tags=["market data"], guards=ANYONE, operation_id="latestQuotes")
async def latest_quotes(request: Request[Any, Any, Any]) -> list[QuoteOut]:
    """The latest price of every instrument the node trades."""
    node = getattr(request.app.state, "node", None)
    cache = getattr(getattr(node, "sinks", None), "cache", None) or getattr(
        request.app.state, "cache", None
    )
    if cache is None and node is None:
        node_of(request)  # the 503 that says why
    if cache is None:
        raise Problem(503, "No latest prices", "the latest-state cache is off (PI5_SINKS__CACHE)")
    prices = await cache.prices()
    return [
        QuoteOut(
            symbol=p.symbol,
            price=_money(p.price),
            source=p.source,
            at=iso(p.ts_ns),
            bid=_dec(p.bid),
            ask=_dec(p.ask),
        )
        for _, p in sorted(prices.items())
    ]


class EquityPoint(msgspec.Struct, frozen=True):
    at: str
    equity: Money
    cash: Money


_RESOLUTIONS: Final = {"raw": 0, "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86_400}


@get("/api/v1/portfolio/history", tags=["portfolio"], guards=ANYONE, operation_id="equityHistory")
async def equity_history(
    request: Request[Any, Any, Any],
    start: FromQuery[str | None] = None,
    end: FromQuery[str | None] = None,
    resolution: FromQuery[str] = "1m",
) -> list[EquityPoint]:
    """The account's equity curve in ``[start, end)``: the last value of each ``resolution``
    period (``raw``, ``1m``, ``5m``, ``15m``, ``1h``, ``1d``), at most 100,000 points read."""
    step = _RESOLUTIONS.get(resolution)
    if step is None:
        raise Problem(400, "Invalid request", f"resolution: expected one of {list(_RESOLUTIONS)}")
    rows = await repository_of(request).get_equity_curve(
        "account", _time(start, "start"), _time(end, "end"), limit=100_000
    )
    out: dict[int, EquityPoint] = {}
    for r in rows:
        bucket = r.ts_ns // (step * 1_000_000_000) if step else r.ts_ns
        out[bucket] = EquityPoint(iso(r.ts_ns), _money(r.equity), _money(r.cash))
    return list(out.values())


class BarOut(msgspec.Struct, frozen=True):
    at: str
    """The bar's open time."""
    open: Money
    high: Money
    low: Money
    close: Money
    volume: Money


_BAR_SECONDS: Final = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "1d": 86_400}


@get("/api/v1/market/bars/{symbol:str}", tags=["market data"], guards=ANYONE, operation_id="bars")
async def bars(
    request: Request[Any, Any, Any],
    symbol: FromPath[str],
    interval: FromQuery[str] = "1m",
    start: FromQuery[str | None] = None,
    end: FromQuery[str | None] = None,
    limit: FromQuery[int] = 500,
) -> list[BarOut]:
    """Stored bars of ``symbol`` in ``[start, end)``, oldest first (the latest ``limit`` when
    no start is given). Intervals not stored are built from the 1-minute bars: by
    TimescaleDB's continuous aggregates when the calendar is ``24/7`` (their UTC buckets are
    then the sessions' buckets), else in Python on the session calendar."""
    seconds = _BAR_SECONDS.get(interval)
    if seconds is None:
        raise Problem(400, "Invalid request", f"interval: expected one of {list(_BAR_SECONDS)}")
    if not 1 <= limit <= 10_000:
        raise Problem(400, "Invalid request", f"limit: expected 1 to 10000, got {limit}")
    repo = repository_of(request)
    lo, hi = _time(start, "start"), _time(end, "end")
    step = seconds * 1_000_000_000
    found = await _stored_bars(repo, symbol, interval, lo, hi)
    if not found and interval != "1m":
        settings = request.app.state.settings
        calendar = get_calendar(settings.feed.calendar)
        if calendar.name == ALWAYS_OPEN:
            rows = await _aggregate_bars(repo, symbol, interval, lo, hi, limit)
            if rows is not None:
                return [_bar_out(r.ts_ns, r.open, r.high, r.low, r.close, r.volume) for r in rows]
        # Built from the minute bars on the session calendar, as the feeds build them.
        agg = BarAggregator(symbol, "1m", interval, calendar)
        for b in await _stored_bars(repo, symbol, "1m", lo, hi):
            found += agg.update(b)
    found = found[:limit] if lo is not None else found[-limit:]
    return [
        _bar_out(
            b.ts_event - step,
            b.open.as_decimal(),
            b.high.as_decimal(),
            b.low.as_decimal(),
            b.close.as_decimal(),
            b.volume.as_decimal(),
        )
        for b in found
    ]


def _bar_out(open_ns: int, o: Decimal, h: Decimal, lo: Decimal, c: Decimal, v: Decimal) -> BarOut:
    return BarOut(iso(open_ns), _money(o), _money(h), _money(lo), _money(c), _money(v))


async def _aggregate_bars(
    repo: Any, symbol: str, interval: str, lo: int | None, hi: int | None, limit: int
) -> list[BarRow] | None:
    """Complete bars from the database's continuous aggregate (``None``: it has none). The
    aggregate's last bucket may still be filling: it is left out, as the aggregator leaves
    out a bucket whose last minute has not arrived. Buckets start at or after ``start`` (the
    aggregator would begin with a bar of the minutes from ``start`` on) and end by ``end``.
    Prices of a bar are given to the same number of places, as the aggregator gives them
    (it uses the most places of every minute in the bucket: the same when an instrument's
    prices always have the same places, as imports and feeds store them)."""
    step = _BAR_SECONDS[interval] * 1_000_000_000
    # Buckets that end by ``end`` (a bucket reaching past it would hold bars after it).
    rows: list[BarRow] | None = await repo.get_bar_aggregate(
        symbol, interval, lo, None if hi is None else hi - step + 1, limit + 1, newest=lo is None
    )
    if rows is None or not rows:
        return rows
    last = await repo.latest_bar(symbol, "1m")
    if last is not None and rows[-1].ts_ns + step > last.ts_ns + 60_000_000_000:
        rows = rows[:-1]
    rows = rows[:limit] if lo is not None else rows[-limit:]
    return [_same_places(r) for r in rows]


def _same_places(r: BarRow) -> BarRow:
    places = max(0, *(-int(p.as_tuple().exponent) for p in (r.open, r.high, r.low, r.close)))
    q = Decimal(1).scaleb(-places)
    return msgspec.structs.replace(
        r, open=r.open.quantize(q), high=r.high.quantize(q), low=r.low.quantize(q),
        close=r.close.quantize(q),
    )  # fmt: skip


async def _stored_bars(
    repo: Any, symbol: str, interval: str, lo: int | None, hi: int | None
) -> list[_core.Bar]:
    source = storage_bars(repo, symbol, interval, lo, hi)
    return [b async for b in source.events() if isinstance(b, _core.Bar)]


class InstrumentOut(msgspec.Struct, frozen=True):
    symbol: str
    tick_size: Money
    lot_size: Money
    currency: str


@get("/api/v1/market/instruments", tags=["market data"], guards=ANYONE, operation_id="instruments")
async def instruments(request: Request[Any, Any, Any]) -> list[InstrumentOut]:
    """The instruments the node trades, with their tick and lot."""
    node = node_of(request)
    return [
        InstrumentOut(
            s, _money(i.tick_size.as_decimal()), _money(i.lot_size.as_decimal()), str(i.currency)
        )
        for s, i in sorted(node.instruments.items())
    ]


ROUTES: Final = [list_orders, get_order, submit_order, cancel_order, modify_order, list_fills,
                 positions, position, summary, latest_quotes, equity_history, bars,
                 instruments]  # fmt: skip

__all__ = ["ROUTES"]
