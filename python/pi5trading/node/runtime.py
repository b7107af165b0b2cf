"""The paper-trading node as ``pi5trading serve`` runs it: the configured feed, the node,
its sinks and (by default) two demo strategies, wired in one place.

    async with paper_node(load_settings()) as node:
        ...   # prices move, the demo strategies trade, every event is recorded

Simulated and replayed feeds run on the data's clock (``TradingNode(clock="replay")``):
their time moves at ``PI5_FEED__SPEED`` simulated seconds per real second, so the engine
follows the data, not the wall clock. Vendor feeds run on the live clock.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from pi5trading.config import Settings
from pi5trading.feeds.configured import configured_feed
from pi5trading.node.trading_node import TradingNode
from pi5trading.sinks.storage import record_strategy, save_strategy_state
from pi5trading.sinks.wiring import Sinks, open_sinks

log = logging.getLogger("pi5trading.node")

DEMO_STRATEGIES: tuple[tuple[str, str, dict[str, object]], ...] = (
    ("demo-sma", "sma_crossover", {"fast": 5, "slow": 20, "quantity": 10}),
    ("demo-rsi", "rsi_mean_reversion", {"quantity": 10}),
)
"""(id, built-in, parameters) of the strategies a new node starts with
(``PI5_NODE__DEMO_STRATEGIES=false`` turns them off)."""


def node_clock(settings: Settings) -> Literal["live", "replay"]:
    """The data's clock for simulated and replayed data, the wall clock for vendors."""
    return "replay" if settings.feed.kind in ("simulated", "replay") else "live"


@asynccontextmanager
async def paper_node(settings: Settings) -> AsyncIterator[TradingNode]:
    """A running node with the configured feed, sinks and demo strategies; stopped (orders
    by ``PI5_NODE__SHUTDOWN_ORDERS``, sinks flushed) when the block ends."""
    node = TradingNode(settings=settings.node, clock=node_clock(settings))
    for symbol in settings.feed.symbol_list():
        node.add_instrument(symbol)
    node.add_feed(configured_feed(settings.feed, full=settings))
    sinks = await open_sinks(settings, node.bus, order_lookup=node.engine.order)
    try:
        await sinks.restore()

        async def save_states() -> None:
            await _save_states(node, sinks)

        node.on_shutdown(save_states, "strategy states")
        node.on_shutdown(sinks.close, "sinks")
        if settings.node.demo_strategies:
            for strategy_id, name, params in DEMO_STRATEGIES:
                await node.add_strategy(name, params, strategy_id=strategy_id)
                if sinks.storage is not None:
                    await record_strategy(
                        sinks.storage.repository,
                        strategy_id,
                        name=name,
                        class_path=name,
                        config=dict(params),
                    )
        _log_trading(node)
        await node.start()
        log.info(
            "paper trading: %s feed (%s), %d strategies, %s clock",
            settings.feed.kind,
            settings.feed.symbols,
            len(node.strategies()),
            node.mode,
        )
    except BaseException:
        await sinks.close()
        raise
    try:
        yield node
    finally:
        await node.stop()


def _log_trading(node: TradingNode) -> None:
    """One log line per fill and per refused order: what a trader watching the console
    wants to see (the full record is in the database)."""
    from pi5trading.orders import OrderEvent

    def fill(event: OrderEvent) -> None:
        f = event.fill
        if f is not None:
            log.info(
                "fill %s %s %s %s @ %s (%s)",
                event.strategy_id,
                f.side.lower(),
                f.quantity,
                event.instrument,
                f.price,
                event.client_order_id,
            )

    def refused(event: OrderEvent) -> None:
        why = event.denial.message if event.denial is not None else event.reason
        log.warning("%s %s %s: %s", event.kind, event.strategy_id, event.client_order_id, why)

    node.bus.subscribe("orders.filled", fill)
    node.bus.subscribe("orders.partially_filled", fill)
    node.bus.subscribe("orders.denied", refused)
    node.bus.subscribe("orders.rejected", refused)


async def _save_states(node: TradingNode, sinks: Sinks) -> None:
    """Each strategy's ``on_save()`` state, stored for its ``on_load`` after a restart."""
    if sinks.storage is None:
        return
    for strategy_id in node.strategies():
        try:
            await save_strategy_state(
                sinks.storage.repository, strategy_id, node.saved_state(strategy_id)
            )
        except (LookupError, ValueError) as exc:  # unregistered, or not plain JSON
            log.warning("strategy %s: state not saved: %s", strategy_id, exc)
