"""What storage holds is enough to rebuild the account: cash and positions from the fills.

After a SIGKILL the last events the node published may not all be in the database (the
writer's buffer and the sinks' queues live in memory; the journal covers database
outages, not crashes), and a batch boundary can fall between a fill and the position and
equity snapshots that followed it. The fills are therefore the source of truth:
``rebuild_portfolio`` books every stored fill, oldest first, into a fresh core
``Portfolio`` — exactly the accounting the venue did — so cash, positions (per strategy and
for the account), average prices and realised P&L come out as the engine had them after
the last stored fill.
"""

from __future__ import annotations

from decimal import Decimal

from pi5trading.portfolio import Portfolio
from pi5trading.storage.protocol import Repository
from pi5trading.storage.records import FillRow

_ALL = 2**31 - 1


async def rebuild_portfolio(
    repository: Repository,
    starting_cash: Decimal,
    *,
    account_type: str = "cash",
    allow_short: bool = False,
) -> Portfolio:
    """A ``Portfolio`` with every stored fill booked, in time order (then in the venue's
    trade id order, as it executed them).

    ``starting_cash`` and the account settings are the node's (they are configuration,
    not events). Mark it with the latest prices for unrealised P&L and equity.
    """
    fills = await repository.list_fills(limit=_ALL)
    fills.sort(key=booking_order)
    book = Portfolio(
        starting_cash,
        account_type=account_type,  # type: ignore[arg-type]
        allow_short=allow_short,
    )
    for f in fills:
        book.apply_fill(
            f.strategy_id,
            f.instrument_id,
            f.side,  # type: ignore[arg-type]
            f.quantity,
            f.price,
            commission=f.commission,
            ts=f.ts_ns,
        )
    return book


async def order_numbers(repository: Repository) -> dict[str, int]:
    """The highest order number stored per prefix, for ids of the engine's form
    ``<strategy id>-<n>`` (orders known only by their events included): a restarted node
    numbers its next orders after these, so no client order id is used twice."""
    out: dict[str, int] = {}
    for oid in await repository.order_ids():
        prefix, _, number = oid.rpartition("-")
        if prefix and number.isdigit():
            n = int(number)
            if n > out.get(prefix, 0):
                out[prefix] = n
    return out


def trade_number(f: FillRow) -> int | None:
    """The venue's trade id in a stored fill id (``<order id>:<trade id>``)."""
    trade = f.fill_id.rpartition(":")[2]
    return int(trade) if trade.isdigit() else None


def booking_order(f: FillRow) -> tuple[int, int, str]:
    """Sort key: the order the venue booked fills in (time, then trade id)."""
    t = trade_number(f)
    return (f.ts_ns, t if t is not None else -1, f.fill_id)


__all__ = ["booking_order", "order_numbers", "rebuild_portfolio", "trade_number"]
