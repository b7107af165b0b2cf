"""The latest state of the node, for the API: prices, positions, the account, strategies.

One interface (``LatestState``), two stores:

- ``MemoryLatestState`` (the default): dictionaries in the node's process.
- ``RedisLatestState`` (when ``PI5_REDIS__URL`` is set): the same dictionaries, copied to
  Redis hashes so another process (the API, a dashboard) reads them. Only what changed since
  the last copy is written, one pipeline per batch, from a task — the node never waits on
  Redis. If Redis is down, the copy is retried at the next tick; nothing blocks.

Redis layout (``<prefix>`` defaults to ``pi5``; values are msgspec JSON, money as strings)::

    <prefix>:prices       symbol -> LatestPrice
    <prefix>:positions    "<strategy_id>|<instrument>" -> PositionState   (account: "account")
    <prefix>:portfolio    "account" -> PortfolioSnapshot
    <prefix>:strategies   strategy_id -> StrategyState

Latest price: a quote's mid ((bid + ask) / 2, exact), else a trade's price, else a bar's
close — whichever came last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Final, Literal, Protocol

import msgspec

from pi5trading import _core
from pi5trading import events as ev
from pi5trading.events import EquitySample, StrategyState, StrategyStatus

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger(__name__)

ACCOUNT: Final = "account"
_TWO: Final = Decimal(2)


class LatestPrice(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    ts_ns: int
    price: Decimal
    source: Literal["quote", "trade", "bar"]
    bid: Decimal | None = None
    ask: Decimal | None = None


class PositionState(msgspec.Struct, frozen=True, kw_only=True):
    strategy_id: str
    """A strategy id, or ``account`` for the account's netting position."""
    instrument: str
    ts_ns: int
    quantity: Decimal
    avg_price: Decimal | None
    realised_pnl: Decimal


class PortfolioSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    ts_ns: int
    cash: Decimal
    equity: Decimal
    currency: str = "USD"


class StrategyInfo(msgspec.Struct, frozen=True, kw_only=True):
    strategy_id: str
    ts_ns: int
    status: StrategyState
    error: str | None = None


CACHED_TOPICS: Final = (
    f"{ev.QUOTES}.>",
    f"{ev.TRADES}.>",
    f"{ev.BARS}.>",
    f"{ev.POSITIONS}.>",
    ev.EQUITY,
    ev.STRATEGY_STATUS,
)


class LatestState(Protocol):
    """What the API reads. Writers: ``on_messages`` (the bus), then ``flush``/``close``."""

    def on_messages(self, messages: Sequence[object]) -> None: ...
    async def start(self) -> None: ...
    async def flush(self) -> None: ...
    async def close(self) -> None: ...
    async def prices(self) -> dict[str, LatestPrice]: ...
    async def price(self, symbol: str) -> LatestPrice | None: ...
    async def positions(self, strategy_id: str | None = None) -> list[PositionState]:
        """Open and closed positions last seen, by (strategy, instrument); one strategy's
        (``account`` for the netting positions) when ``strategy_id`` is given."""
        ...

    async def portfolio(self) -> PortfolioSnapshot | None: ...
    async def strategies(self) -> dict[str, StrategyInfo]: ...


class MemoryLatestState:
    """In the node's process (the embedded default).

    The bus handler only files each payload under its key (a dictionary store per event);
    the exact ``Decimal`` views are made when someone reads them."""

    def __init__(self) -> None:
        self._prices: dict[str, object] = {}
        self._positions: dict[tuple[str, str], _core.PositionEvent] = {}
        self._portfolio: EquitySample | None = None
        self._strategies: dict[str, StrategyStatus] = {}

    def subscribe(self, bus: _core.Bus, priority: int = -100) -> list[int]:
        return [bus.subscribe(p, self.on_messages, priority, batch=True) for p in CACHED_TOPICS]

    def on_messages(self, messages: Sequence[object]) -> None:
        prices = self._prices
        for m in messages:
            if isinstance(m, _core.QuoteTick | _core.TradeTick):
                # The newest by time wins. Ticks of one symbol arrive in time order (the
                # ingest queue sees to it), so only a bar's time needs comparing.
                sym = m.symbol
                old = prices.get(sym)
                if type(old) is not _core.Bar or old.ts_event <= m.ts_event:
                    prices[sym] = m
                    self._changed_price(sym)
            elif isinstance(m, _core.Bar):
                # A bar is stamped at its close, which can be later or earlier than the
                # ticks around it.
                sym = m.symbol
                old = prices.get(sym)
                if old is None or old.ts_event <= m.ts_event:  # type: ignore[attr-defined]
                    prices[sym] = m
                    self._changed_price(sym)
            elif isinstance(m, _core.PositionEvent):
                key = (m.strategy_id or ACCOUNT, m.instrument)
                self._positions[key] = m
                self._changed_position(key)
            elif isinstance(m, EquitySample):
                self._portfolio = m
                self._changed_portfolio()
            elif isinstance(m, StrategyStatus):
                if m.status == "removed":
                    self._strategies.pop(m.strategy_id, None)
                else:
                    self._strategies[m.strategy_id] = m
                self._changed_strategy(m.strategy_id, m.status == "removed")

    # Change hooks: the Redis store notes what to copy.
    def _changed_price(self, symbol: str) -> None:
        pass

    def _changed_position(self, key: tuple[str, str]) -> None:
        pass

    def _changed_portfolio(self) -> None:
        pass

    def _changed_strategy(self, strategy_id: str, removed: bool) -> None:
        pass

    async def start(self) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None

    # Reads run on the event loop while the engine thread writes: each starts from a copy
    # (``dict(d)`` is one C call, so it never sees a dictionary mid-change).

    async def prices(self) -> dict[str, LatestPrice]:
        return {s: latest_price(m) for s, m in dict(self._prices).items()}

    async def price(self, symbol: str) -> LatestPrice | None:
        m = self._prices.get(symbol)
        return None if m is None else latest_price(m)

    async def positions(self, strategy_id: str | None = None) -> list[PositionState]:
        return [
            position_state(p)
            for k, p in sorted(dict(self._positions).items())
            if strategy_id is None or k[0] == strategy_id
        ]

    async def portfolio(self) -> PortfolioSnapshot | None:
        p = self._portfolio
        return None if p is None else portfolio_snapshot(p)

    async def strategies(self) -> dict[str, StrategyInfo]:
        return {k: strategy_info(v) for k, v in dict(self._strategies).items()}


def latest_price(m: object) -> LatestPrice:
    if isinstance(m, _core.QuoteTick):
        bid, ask = m.bid.as_decimal(), m.ask.as_decimal()
        return LatestPrice(
            symbol=m.symbol,
            ts_ns=m.ts_event,
            price=(bid + ask) / _TWO,
            source="quote",
            bid=bid,
            ask=ask,
        )
    if isinstance(m, _core.TradeTick):
        return LatestPrice(
            symbol=m.symbol, ts_ns=m.ts_event, price=m.price.as_decimal(), source="trade"
        )
    if isinstance(m, _core.Bar):
        return LatestPrice(
            symbol=m.symbol, ts_ns=m.ts_event, price=m.close.as_decimal(), source="bar"
        )
    raise TypeError(f"not a price: {type(m).__name__}")


def position_state(m: _core.PositionEvent) -> PositionState:
    return PositionState(
        strategy_id=m.strategy_id or ACCOUNT,
        instrument=m.instrument,
        ts_ns=m.ts,
        quantity=m.quantity,
        avg_price=m.avg_px,
        realised_pnl=m.realised_pnl,
    )


def portfolio_snapshot(m: EquitySample) -> PortfolioSnapshot:
    return PortfolioSnapshot(ts_ns=m.ts, cash=m.cash, equity=m.equity, currency=m.currency)


def strategy_info(m: StrategyStatus) -> StrategyInfo:
    return StrategyInfo(strategy_id=m.strategy_id, ts_ns=m.ts, status=m.status, error=m.error)


class RedisLatestState(MemoryLatestState):
    """The in-memory state, copied to Redis hashes (see the module doc); reads come from
    Redis, so a reader in another process sees the same (``RedisLatestState.reader``)."""

    def __init__(
        self, client: aioredis.Redis, *, prefix: str = "pi5", interval_s: float = 0.1
    ) -> None:
        super().__init__()
        self.client = client
        self.prefix = prefix
        self.interval_s = interval_s
        self._dirty_prices: set[str] = set()
        self._dirty_positions: set[tuple[str, str]] = set()
        self._dirty_portfolio = False
        self._dirty_strategies: set[str] = set()
        self._removed_strategies: set[str] = set()
        self._marks = threading.Lock()
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._closed = False
        self.copies = 0
        self.copy_failures = 0
        self._failing = 0

    @classmethod
    def reader(cls, client: aioredis.Redis, *, prefix: str = "pi5") -> RedisLatestState:
        """For a process that only reads (the API): no task, nothing written."""
        return cls(client, prefix=prefix)

    def key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    # Marks are set on the engine thread and taken by the copy task: under one lock, so a
    # swap never loses a mark. The task copies every ``interval_s``; it is not woken per
    # event (waking a loop from another thread costs more than the mark).

    def _changed_price(self, symbol: str) -> None:
        with self._marks:
            self._dirty_prices.add(symbol)

    def _changed_position(self, key: tuple[str, str]) -> None:
        with self._marks:
            self._dirty_positions.add(key)

    def _changed_portfolio(self) -> None:
        self._dirty_portfolio = True

    def _changed_strategy(self, strategy_id: str, removed: bool) -> None:
        with self._marks:
            if removed:
                self._removed_strategies.add(strategy_id)
                self._dirty_strategies.discard(strategy_id)
            else:
                self._dirty_strategies.add(strategy_id)
                self._removed_strategies.discard(strategy_id)

    def _mark_all(self) -> None:
        with self._marks:
            self._dirty_prices = set(dict(self._prices))
            self._dirty_positions = set(dict(self._positions))
            self._dirty_portfolio = self._portfolio is not None
            self._dirty_strategies = set(dict(self._strategies))

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pi5trading-latest-state")

    async def flush(self) -> None:
        """Copy what changed to Redis now (raises if Redis is unreachable)."""
        await self._copy()

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._stop.set()
            await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self._copy()

    async def _run(self) -> None:
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval_s)
            try:
                await self._copy()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Redis down: everything is marked to copy again; the next tick retries.
                # One line when it starts failing, one when it is back (not one per tick).
                if not self._failing:
                    log.warning("latest state not copied to Redis (retrying): %s", exc)
                self._failing += 1
                self.copy_failures += 1
                await asyncio.sleep(self.interval_s)
            else:
                if self._failing:
                    log.warning(
                        "latest state copied to Redis again in full, after %d failed tries",
                        self._failing,
                    )
                    self._failing = 0

    async def _copy(self) -> None:
        with self._marks:
            prices, self._dirty_prices = self._dirty_prices, set()
            positions, self._dirty_positions = self._dirty_positions, set()
            portfolio, self._dirty_portfolio = self._dirty_portfolio, False
            strategies, self._dirty_strategies = self._dirty_strategies, set()
            removed, self._removed_strategies = self._removed_strategies, set()
        # The payloads, as they are now (the engine thread may replace them meanwhile).
        price_of, position_of, strategy_of = (
            dict(self._prices),
            dict(self._positions),
            dict(self._strategies),
        )
        snapshot = self._portfolio
        if not (prices or positions or portfolio or strategies or removed):
            return
        enc = msgspec.json.encode
        try:
            pipe = self.client.pipeline(transaction=False)
            if prices:
                pipe.hset(
                    self.key("prices"),
                    mapping={s: enc(latest_price(price_of[s])) for s in prices},
                )
            if positions:
                pipe.hset(
                    self.key("positions"),
                    mapping={
                        f"{k[0]}|{k[1]}": enc(position_state(position_of[k])) for k in positions
                    },
                )
            if portfolio and snapshot is not None:
                pipe.hset(self.key("portfolio"), ACCOUNT, enc(portfolio_snapshot(snapshot)))
            if strategies:
                pipe.hset(
                    self.key("strategies"),
                    mapping={
                        s: enc(strategy_info(strategy_of[s]))
                        for s in strategies
                        if s in strategy_of
                    },
                )
            if removed:
                pipe.hdel(self.key("strategies"), *removed)
            await pipe.execute()
        except BaseException:
            # Redis may have restarted empty (it keeps nothing on disk by default): copy
            # everything at the next attempt, not only what changed.
            with self._marks:
                self._removed_strategies |= {x for x in removed if x not in strategy_of}
            self._mark_all()
            raise
        self.copies += 1

    # -- reads: from Redis --

    async def prices(self) -> dict[str, LatestPrice]:
        raw = await self.client.hgetall(self.key("prices"))
        dec = msgspec.json.Decoder(LatestPrice)
        return {_s(k): dec.decode(v) for k, v in raw.items()}

    async def price(self, symbol: str) -> LatestPrice | None:
        raw = await self.client.hget(self.key("prices"), symbol)
        return None if raw is None else msgspec.json.decode(raw, type=LatestPrice)

    async def positions(self, strategy_id: str | None = None) -> list[PositionState]:
        raw = await self.client.hgetall(self.key("positions"))
        dec = msgspec.json.Decoder(PositionState)
        out = [dec.decode(v) for k, v in sorted(raw.items())]
        return [p for p in out if strategy_id is None or p.strategy_id == strategy_id]

    async def portfolio(self) -> PortfolioSnapshot | None:
        raw = await self.client.hget(self.key("portfolio"), ACCOUNT)
        return None if raw is None else msgspec.json.decode(raw, type=PortfolioSnapshot)

    async def strategies(self) -> dict[str, StrategyInfo]:
        raw = await self.client.hgetall(self.key("strategies"))
        dec = msgspec.json.Decoder(StrategyInfo)
        return {_s(k): dec.decode(v) for k, v in raw.items()}


def _s(k: bytes | str) -> str:
    return k.decode() if isinstance(k, bytes) else k


__all__ = [
    "CACHED_TOPICS",
    "LatestPrice",
    "LatestState",
    "MemoryLatestState",
    "PortfolioSnapshot",
    "PositionState",
    "RedisLatestState",
    "StrategyInfo",
]
