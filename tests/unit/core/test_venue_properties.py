"""Property tests of the simulated venue over random order flows (hypothesis).

After every command and every bar: the accounting identity holds exactly, a cash account
never has negative cash or a short position, every fill lies inside the bar it came from
(price and time), and no order is filled beyond its quantity.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from pi5trading.orders import Order, OrderEvent
from pi5trading.portfolio import PositionEvent
from pi5trading.venue import SimulatedVenue
from tests.proof import examples

MIN = 60_000_000_000
T0 = 1_704_898_800_000_000_000
CENT = Decimal("0.01")

submit_op = st.tuples(
    st.just("submit"),
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(
        ["market", "limit", "stop_market", "stop_limit", "market_if_touched", "trailing"]
    ),
    st.integers(1, 80),
    st.integers(-300, 300),
    st.sampled_from(["gtc", "ioc", "fok", "day"]),
)
cancel_op = st.tuples(st.just("cancel"), st.integers(0, 40))
bar_op = st.tuples(
    st.just("bar"),
    st.booleans(),
    st.integers(0, 200),
    st.integers(0, 150),
    st.integers(0, 150),
    st.integers(-300, 300),
    st.integers(0, 500),
)


def make_order(cid: str, strategy: str, op: tuple[object, ...], last: int) -> Order:
    _, side, kind, qty, offset, tif = op
    assert isinstance(offset, int)
    level = Decimal(max(last + offset, 100)) * CENT
    kw: dict[str, object] = {"time_in_force": tif}
    if tif == "day" and kind == "market":
        kw["time_in_force"] = "gtc"
    order_type = kind
    if kind in ("limit", "stop_limit"):
        kw["price"] = level
    if kind in ("stop_market", "stop_limit", "market_if_touched"):
        kw["trigger_price"] = level
    if kind == "trailing":
        order_type = "trailing_stop_market"
        kw["trailing_offset"] = Decimal(abs(offset) + 1) * CENT
    return Order(cid, strategy, "AAPL", side, order_type, qty, **kw)  # type: ignore[arg-type]


def run(ops: list[tuple[object, ...]], venue: SimulatedVenue, cash_account: bool) -> None:
    venue.add_instrument("AAPL")
    last, n = 10_000, 0
    ids: list[str] = []
    for i, op in enumerate(ops):
        bar_range: tuple[Decimal, Decimal] | None = None
        bar_times: tuple[int, int] | None = None
        events: list[OrderEvent | PositionEvent]
        if op[0] == "submit":
            cid = f"o{i}"
            ids.append(cid)
            events = venue.submit(make_order(cid, "AB"[i % 2], op, last), T0 + n * MIN)
        elif op[0] == "cancel":
            k = op[1]
            assert isinstance(k, int)
            events = venue.cancel(ids[k], T0 + n * MIN) if k < len(ids) else []
        else:
            _, up, body, wick_hi, wick_lo, gap, volume = op
            assert isinstance(body, int)
            assert isinstance(gap, int)
            assert isinstance(wick_hi, int)
            assert isinstance(wick_lo, int)
            n += 1
            o = max(last + gap, 1000)
            c = o + body if up else max(o - body, 500)
            h, lo = max(o, c) + wick_hi, max(min(o, c) - wick_lo, 100)
            bar_times = (T0 + (n - 1) * MIN, T0 + n * MIN)
            events = venue.process_bar(
                "AAPL",
                bar_times[1],
                o * CENT,
                h * CENT,
                lo * CENT,
                c * CENT,
                volume,
                ts_open=bar_times[0],
            )
            bar_range = (lo * CENT, h * CENT)
            last = c
        p = venue.portfolio
        assert p.identity_residual == 0
        if cash_account:
            assert p.cash >= 0
            pos = p.position("AAPL")
            assert pos is None or pos.quantity >= 0
        for e in events:
            if isinstance(e, OrderEvent) and e.fill is not None:
                assert e.fill.quantity > 0
                if bar_range is not None and bar_times is not None:
                    assert bar_range[0] <= e.fill.price <= bar_range[1]
                    assert bar_times[0] <= e.ts <= bar_times[1]
        for cid in ids:
            order = venue.order(cid)
            assert order is not None
            assert 0 <= order.filled_qty <= order.quantity


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(st.one_of(submit_op, cancel_op, bar_op), min_size=1, max_size=50))
def test_random_flows_cash_account(ops: list[tuple[object, ...]]) -> None:
    run(ops, SimulatedVenue(participation="0.2"), cash_account=True)


@settings(max_examples=examples(60), deadline=None)
@given(st.lists(st.one_of(submit_op, cancel_op, bar_op), min_size=1, max_size=50))
def test_random_flows_margin_account(ops: list[tuple[object, ...]]) -> None:
    venue = SimulatedVenue(
        starting_cash="50000",
        account_type="margin",
        allow_short=True,
        slippage="rate",
        slippage_rate="0.001",
    )
    run(ops, venue, cash_account=False)
