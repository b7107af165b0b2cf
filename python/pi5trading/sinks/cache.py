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
    """In the node's process (the embedded default)."""

    def __init__(self) -> None:
        self._prices: dict[str, LatestPrice] = {}
        self._positions: dict[tuple[str, str], PositionState] = {}
        self._portfolio: PortfolioSnapshot | None = None
        self._strategies: dict[str, StrategyInfo] = {}

    def subscribe(self, bus: _core.Bus, priority: int = -100) -> list[int]:
        return [bus.subscribe(p, self.on_messages, priority, batch=True) for p in CACHED_TOPICS]

    def on_messages(self, messages: Sequence[object]) -> None:
        for m in messages:
            self._apply(m)

    def _apply(self, m: object) -> None:
        if isinstance(m, _core.QuoteTick):
            bid, ask = m.bid.as_decimal(), m.ask.as_decimal()
            self._set_price(
                LatestPrice(
                    symbol=m.symbol,
                    ts_ns=m.ts_event,
                    price=(bid + ask) / _TWO,
                    source="quote",
                    bid=bid,
                    ask=ask,
                )
            )
        elif isinstance(m, _core.TradeTick):
            self._set_price(
                LatestPrice(
                    symbol=m.symbol, ts_ns=m.ts_event, price=m.price.as_decimal(), source="trade"
                )
            )
        elif isinstance(m, _core.Bar):
            self._set_price(
                LatestPrice(
                    symbol=m.symbol, ts_ns=m.ts_event, price=m.close.as_decimal(), source="bar"
                )
            )
        elif isinstance(m, _core.PositionEvent):
            sid = m.strategy_id or ACCOUNT
            self._set_position(
                PositionState(
                    strategy_id=sid,
                    instrument=m.instrument,
                    ts_ns=m.ts,
                    quantity=m.quantity,
                    avg_price=m.avg_px,
                    realised_pnl=m.realised_pnl,
                )
            )
        elif isinstance(m, EquitySample):
            self._set_portfolio(
                PortfolioSnapshot(ts_ns=m.ts, cash=m.cash, equity=m.equity, currency=m.currency)
            )
        elif isinstance(m, StrategyStatus):
            self._set_strategy(
                StrategyInfo(strategy_id=m.strategy_id, ts_ns=m.ts, status=m.status, error=m.error)
            )

    # Setters are the hook the Redis store uses to note what changed.
    def _set_price(self, p: LatestPrice) -> None:
        old = self._prices.get(p.symbol)
        # A bar is stamped at its close and can arrive after quotes of the next minute.
        if old is None or old.ts_ns <= p.ts_ns:
            self._prices[p.symbol] = p

    def _set_position(self, p: PositionState) -> None:
        self._positions[(p.strategy_id, p.instrument)] = p

    def _set_portfolio(self, p: PortfolioSnapshot) -> None:
        self._portfolio = p

    def _set_strategy(self, s: StrategyInfo) -> None:
        if s.status == "removed":
            self._strategies.pop(s.strategy_id, None)
        else:
            self._strategies[s.strategy_id] = s

    async def start(self) -> None:
        return None

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def prices(self) -> dict[str, LatestPrice]:
        return dict(self._prices)

    async def price(self, symbol: str) -> LatestPrice | None:
        return self._prices.get(symbol)

    async def positions(self, strategy_id: str | None = None) -> list[PositionState]:
        return [
            p
            for k, p in sorted(self._positions.items())
            if strategy_id is None or k[0] == strategy_id
        ]

    async def portfolio(self) -> PortfolioSnapshot | None:
        return self._portfolio

    async def strategies(self) -> dict[str, StrategyInfo]:
        return dict(self._strategies)


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
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closed = False
        self.copies = 0
        self.copy_failures = 0

    @classmethod
    def reader(cls, client: aioredis.Redis, *, prefix: str = "pi5") -> RedisLatestState:
        """For a process that only reads (the API): no task, nothing written."""
        return cls(client, prefix=prefix)

    def key(self, name: str) -> str:
        return f"{self.prefix}:{name}"

    def _set_price(self, p: LatestPrice) -> None:
        super()._set_price(p)
        self._dirty_prices.add(p.symbol)
        self._poke()

    def _set_position(self, p: PositionState) -> None:
        super()._set_position(p)
        self._dirty_positions.add((p.strategy_id, p.instrument))
        self._poke()

    def _set_portfolio(self, p: PortfolioSnapshot) -> None:
        super()._set_portfolio(p)
        self._dirty_portfolio = True
        self._poke()

    def _set_strategy(self, s: StrategyInfo) -> None:
        super()._set_strategy(s)
        if s.status == "removed":
            self._removed_strategies.add(s.strategy_id)
            self._dirty_strategies.discard(s.strategy_id)
        else:
            self._dirty_strategies.add(s.strategy_id)
            self._removed_strategies.discard(s.strategy_id)
        self._poke()

    def _mark_all(self) -> None:
        self._dirty_prices = set(self._prices)
        self._dirty_positions = set(self._positions)
        self._dirty_portfolio = self._portfolio is not None
        self._dirty_strategies = set(self._strategies)

    def _poke(self) -> None:
        if not self._wake.is_set():
            self._wake.set()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="pi5trading-latest-state")

    async def flush(self) -> None:
        """Copy what changed to Redis now (raises if Redis is unreachable)."""
        await self._copy()

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._wake.set()
            await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self._copy()

    async def _run(self) -> None:
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            try:
                await self._copy()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Redis down: the dirty marks stay, the next tick retries.
                self.copy_failures += 1
                log.warning("latest state not copied to Redis: %s", exc)
                await asyncio.sleep(self.interval_s)

    async def _copy(self) -> None:
        prices, self._dirty_prices = self._dirty_prices, set()
        positions, self._dirty_positions = self._dirty_positions, set()
        portfolio, self._dirty_portfolio = self._dirty_portfolio, False
        strategies, self._dirty_strategies = self._dirty_strategies, set()
        removed, self._removed_strategies = self._removed_strategies, set()
        if not (prices or positions or portfolio or strategies or removed):
            return
        enc = msgspec.json.encode
        try:
            pipe = self.client.pipeline(transaction=False)
            if prices:
                pipe.hset(self.key("prices"), mapping={s: enc(self._prices[s]) for s in prices})
            if positions:
                pipe.hset(
                    self.key("positions"),
                    mapping={f"{k[0]}|{k[1]}": enc(self._positions[k]) for k in positions},
                )
            if portfolio and self._portfolio is not None:
                pipe.hset(self.key("portfolio"), ACCOUNT, enc(self._portfolio))
            if strategies:
                pipe.hset(
                    self.key("strategies"),
                    mapping={s: enc(self._strategies[s]) for s in strategies},
                )
            if removed:
                pipe.hdel(self.key("strategies"), *removed)
            await pipe.execute()
        except BaseException:
            # Redis may have restarted empty (it keeps nothing on disk by default): copy
            # everything at the next attempt, not only what changed.
            self._removed_strategies |= {x for x in removed if x not in self._strategies}
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
