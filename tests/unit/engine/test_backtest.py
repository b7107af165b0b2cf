"""The backtest engine end to end through its Python API, against plain references."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi5trading.clock import TimeEvent
from pi5trading.data import BarFrame, load_bars, random_walk_bars
from pi5trading.engine import BacktestRunner, run_vectorised
from pi5trading.engine.denials import RiskDenialWarning
from pi5trading.exceptions import ConfigurationError, InvalidInputError
from pi5trading.indicators import SMA
from pi5trading.model import Bar
from pi5trading.orders import OrderEvent
from pi5trading.risk import RiskEngine
from pi5trading.strategies.base import Strategy, StrategyConfig
from pi5trading.strategies.sma_crossover import MovingAverageCrossover
from pi5trading.venue import SimulatedVenue
from tests.proof import examples
from tests.venues import fill_rows, no_cost_venue

MIN = 60 * 10**9


def frame(n: int, seed: int = 1) -> BarFrame:
    return BarFrame.from_columns(random_walk_bars(n, seed=seed, volatility=0.002), "gen")


def reference_sma_cross(f: BarFrame, fast: int, slow: int) -> list[tuple[int, str, float]]:
    """(bar index of the fill, side, price): exact SMAs with Fractions, backtrader-style
    cross (last non-zero difference remembered), market orders at the next bar's open."""
    closes = [Fraction(str(c)) for c in f.close.tolist()]
    last_sign, flat, out = 0, True, []
    for i in range(slow - 1, len(closes) - 1):
        a = sum(closes[i - fast + 1 : i + 1]) / fast
        b = sum(closes[i - slow + 1 : i + 1]) / slow
        sign = (a > b) - (a < b)
        if sign == 0:
            continue
        crossed = last_sign != 0 and sign != last_sign
        last_sign = sign
        if crossed and sign > 0 and flat:
            out.append((i + 1, "buy", float(f.open[i + 1])))
            flat = False
        elif crossed and sign < 0 and not flat:
            out.append((i + 1, "sell", float(f.open[i + 1])))
            flat = True
    return out


def run_sma(f: BarFrame, fast: int = 5, slow: int = 12, fill: str = "next_open") -> list[tuple]:
    r = BacktestRunner(venue=no_cost_venue(fill), risk=None)
    r.add_bars("AAA", f)
    r.add_strategy(MovingAverageCrossover({"fast": fast, "slow": slow, "quantity": 10}))
    return fill_rows(r.run().fills)


def test_sma_crossover_matches_reference() -> None:
    f = frame(3000)
    fills = run_sma(f)
    got = [(x[0], x[4], x[6]) for x in fills]
    want = reference_sma_cross(f, 5, 12)
    assert len(want) > 50
    # Prices are compared exactly, in raw units (the data are whole cents); a fill at a
    # bar's open is stamped at its open time, one minute before the bar's close.
    assert got == [(int(f.ts[i]) - MIN, s, round(p * 1e9)) for i, s, p in want]


def test_same_inputs_same_fills_byte_for_byte() -> None:
    f = frame(2000, seed=3)
    assert run_sma(f) == run_sma(f)


def test_this_close_fills_on_the_signal_bar() -> None:
    f = frame(2000, seed=4)
    nxt, now = run_sma(f), run_sma(f, fill="this_close")
    assert len(nxt) == len(now) > 0
    for a, b in zip(nxt, now, strict=True):
        # "next_open" fills at the next bar's open, which is the signal bar's close time.
        i_next = int(np.searchsorted(f.ts, a[0] + MIN))
        i_now = int(np.searchsorted(f.ts, b[0]))
        assert f.ts[i_next] == a[0] + MIN
        assert f.ts[i_now] == b[0] == a[0]
        assert i_next == i_now + 1
        assert b[6] == round(f.close[i_now] * 1e9)
        assert a[6] == round(f.open[i_next] * 1e9)


def test_vectorised_matches_event_driven() -> None:
    f = frame(3000, seed=5)
    # Event-driven: target position flips between 0 and 10 on a rule; vectorised: same rule.
    closes = f.close
    target = np.where(
        closes > np.convolve(closes, np.ones(20) / 20, mode="full")[: len(closes)], 10, 0
    )
    target[:20] = 0

    class Follow(Strategy):
        warmup = True

        def on_start(self) -> None:
            self.i = 0

        def on_bar(self, bar: Bar) -> None:
            want = int(target[self.i])
            self.i += 1
            held = int(self.position_qty()) + sum(
                int(o.leaves_qty) * (1 if o.side == "buy" else -1)
                for o in (self._engine.order(x) for x in self.open_orders())
                if o is not None
            )
            if want > held:
                self.buy(want - held)
            elif want < held:
                self.sell(held - want)

    r = BacktestRunner(venue=no_cost_venue(), risk=None)
    r.add_bars("AAA", f)
    r.add_strategy(Follow(strategy_id="signals"))
    event = r.run()
    r2 = BacktestRunner(venue=no_cost_venue(), risk=None)
    r2.add_bars("AAA", f)
    vec = run_vectorised(r2, "AAA", target)

    def strip(fills: list[tuple]) -> list[tuple]:
        return [(x[0], x[4], x[5], x[6]) for x in fills]

    assert len(event.fills) > 20
    assert strip(fill_rows(event.fills)) == strip(fill_rows(vec.fills))
    assert np.array_equal(event.curve.equity, vec.curve.equity)


def test_two_strategies_share_one_account_with_attribution() -> None:
    f = frame(3000, seed=6)
    r = BacktestRunner(venue=no_cost_venue(), risk=None)
    r.add_bars("AAA", f)
    r.add_strategy(MovingAverageCrossover({"fast": 5, "slow": 12, "quantity": 10}, strategy_id="a"))
    r.add_strategy(MovingAverageCrossover({"fast": 8, "slow": 30, "quantity": 7}, strategy_id="b"))
    res = r.run()
    p = res.portfolio
    assert p.identity_residual == 0
    ra, ua, ca = p.strategy_pnl("a")
    rb, ub, cb = p.strategy_pnl("b")
    # The account nets both strategies' positions, so its split between realised and
    # unrealised differs from theirs; the total P&L attributed is exact.
    assert (ra + ua - ca) + (rb + ub - cb) == p.realised_pnl + p.unrealised_pnl - p.commissions
    assert {t.strategy_id for t in res.trades} == {"a", "b"}
    for sid, realised in (("a", ra), ("b", rb)):
        closed = sum((t.gross_pnl for t in res.trades if t.strategy_id == sid), Decimal(0))
        assert closed == pytest.approx(realised, abs=Decimal("0.001"))
    with pytest.raises(ConfigurationError, match="share the id"):
        r.add_strategy(MovingAverageCrossover(strategy_id="a"))


def test_risk_denials_are_events_with_reasons() -> None:
    f = BarFrame.from_columns(random_walk_bars(500, seed=7, market_hours=True), "gen")
    events: list[OrderEvent] = []

    class Greedy(Strategy):
        warmup = True

        def on_bar(self, bar: Bar) -> None:
            if self.now == int(f.ts[3]):
                self.buy(100_000)  # far above the default profile's 500-share limit

        def on_order(self, event: OrderEvent) -> None:
            events.append(event)

    r = BacktestRunner(starting_cash=Decimal(100_000), risk="unlimited")
    r.risk = RiskEngine("default")
    r.add_bars("AAA", f)
    r.add_strategy(Greedy())
    with pytest.warns(RiskDenialWarning, match="1 of 1 orders"):
        res = r.run()
    assert res.fills == []
    assert [e.kind for e in events] == ["denied"]
    assert events[0].reason
    assert len(res.denials) == 1
    d = res.denials[0]
    assert d.code == d.denial.code == "max_quantity"
    assert d.denial.scope == "account"
    assert d.denial.limit < d.denial.actual
    assert events[0].denial is not None
    assert events[0].denial.code == d.code


def test_a_cash_account_never_sells_what_is_already_being_sold() -> None:
    # Market sells sent one after another before the first fills each saw the whole
    # position; at a broker (whose fills are not cut to the position) that took an account
    # short (issue 17). A resting exit beside them (a stop, a take-profit) is no sale yet.
    f = BarFrame.from_columns(random_walk_bars(50, seed=5), "gen")
    events: list[OrderEvent] = []

    class Twice(Strategy):
        warmup = True

        def on_bar(self, bar: Bar) -> None:
            if self.now == int(f.ts[2]):
                self.buy(100)
            if self.now == int(f.ts[5]):
                self.sell(100, stop=Decimal("0.01"))  # rests far below: no sale yet
                self.sell(60)
                self.sell(60)  # only 40 left that nothing sells yet
                self.sell(40)

        def on_order(self, event: OrderEvent) -> None:
            events.append(event)

    r = BacktestRunner(starting_cash=Decimal(100_000), risk="unlimited")
    r.risk = RiskEngine("unlimited")
    r.add_bars("AAA", f)
    r.add_strategy(Twice())
    res = r.run()
    denied = [e for e in events if e.kind == "denied"]
    assert len(denied) == 1
    assert denied[0].denial is not None
    assert denied[0].denial.code == "short_selling_not_allowed"
    assert "holding 100, 60 of it already being sold" in (denied[0].reason or "")
    sold = [x.quantity_raw // 10**9 for x in res.fills if x.side == "sell"]
    assert sold == [60, 40]  # the market sells that passed; the stop never triggered
    assert len(res.denials) == 1


def test_bad_bars_name_the_line(tmp_path: Path) -> None:
    p = tmp_path / "bars.csv"
    p.write_text(
        "timestamp,open,high,low,close,volume\n"
        "1704187860,10,11,9,10.5,100\n"
        "1704187920,10,11,9,10.5,100\n"
        "1704187920,10,11,9,10.5,100\n"
        "1704187980,10,9,9,10.5,100\n"
    )
    with pytest.raises(InvalidInputError) as e:
        load_bars(p)
    msg = str(e.value)
    assert "bars.csv: line 4: timestamp: duplicate of line 3" in msg
    assert "on line(s) 5" in msg
    fixed, report = load_bars(p, policy="repair")
    assert len(fixed) == 2
    assert [line for line, _ in report.dropped] == [3, 5]


def test_engine_rejects_unsorted_arrays_atomically() -> None:
    f = frame(10)
    ts = f.ts.copy()
    ts[5], ts[6] = ts[6], ts[5]
    bad = BarFrame(ts, f.open, f.high, f.low, f.close, f.volume, source="mem")
    r = BacktestRunner(venue=no_cost_venue(), risk=None)
    # Refused when added, by its source line; nothing was added.
    with pytest.raises(InvalidInputError, match=r"mem: line 7: timestamp: earlier than line 6"):
        r.add_bars("AAA", bad)
    assert r.bars == {}


def test_strategy_config_errors_name_the_parameter() -> None:
    with pytest.raises(ConfigurationError, match="fast"):
        MovingAverageCrossover({"fast": "ten"})
    with pytest.raises(ConfigurationError, match="fast < slow"):
        MovingAverageCrossover({"fast": 30, "slow": 10})
    with pytest.raises(ConfigurationError, match="unknown"):
        MovingAverageCrossover({"unknown": 1})


class RandomOrders(Strategy):
    """Sends random orders of every simple kind: the accounting must hold regardless."""

    warmup = True

    class Config(StrategyConfig):
        seed: int = 0

    def on_start(self) -> None:
        self.rng = np.random.default_rng(self.config.seed)
        self.ind = self.indicator(SMA(3))

    def on_bar(self, bar: Bar) -> None:
        roll = self.rng.random()
        px = bar.close.as_decimal()
        qty = int(self.rng.integers(1, 50))
        if roll < 0.2:
            self.buy(qty)
        elif roll < 0.35:
            self.sell(qty)
        elif roll < 0.5:
            self.buy(qty, limit=(px * Decimal("0.995")).quantize(Decimal("0.01")))
        elif roll < 0.6:
            self.sell(qty, stop=(px * Decimal("0.99")).quantize(Decimal("0.01")))
        elif roll < 0.65:
            self.close_position()


@settings(max_examples=examples(25), deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_random_order_flow_reconciles_and_fills_inside_bars(data_seed: int, seed: int) -> None:
    f = frame(300, seed=data_seed)
    venue = SimulatedVenue(starting_cash="100000", account_type="margin", allow_short=True)
    r = BacktestRunner(venue=venue, risk=None)
    r.add_bars("AAA", f)
    r.add_strategy(RandomOrders({"seed": seed}))
    res = r.run()
    p = res.portfolio
    # cash + marked positions == starting cash + realised + unrealised - commissions
    assert p.identity_residual == 0
    assert p.cash + sum(x.market_value for x in p.positions().values()) == (
        p.starting_cash + p.realised_pnl + p.unrealised_pnl - p.commissions
    )
    for fill in res.fills:
        # Bar i runs from one minute before its close to its close: a fill at the instant
        # that closes one bar and opens the next lies in either.
        i = int(np.searchsorted(f.ts, fill.ts))
        assert f.ts[i] - MIN <= fill.ts <= f.ts[i]
        bars = [i, i + 1] if fill.ts == f.ts[i] and i + 1 < len(f.ts) else [i]
        assert any(round(f.low[k] * 1e9) <= fill.price_raw <= round(f.high[k] * 1e9) for k in bars)
    # Equity curve ends at the account's final equity.
    assert res.curve.equity[-1] == pytest.approx(float(p.equity))


def test_level_cross_fires_exactly_where_the_indicator_crosses() -> None:
    f = frame(2000, seed=8)
    seen: list[tuple[int, int]] = []

    class Watch(Strategy):
        def on_start(self) -> None:
            sma = self.indicator(SMA(5))
            self.when_crossed(self.crossover_level(sma, 100.0), self.hit)

        def hit(self, bar: Bar, direction: int) -> None:
            assert bar.symbol == "AAA"
            seen.append((int(np.searchsorted(f.ts, bar.ts_event)), direction))

    r = BacktestRunner(venue=no_cost_venue(), risk=None)
    r.add_bars("AAA", f)
    r.add_strategy(Watch())
    r.run()
    # Reference: the exact 5-bar mean against 100, last non-zero side remembered.
    closes = [Fraction(str(c)) for c in f.close.tolist()]
    want, last = [], 0
    for i in range(4, len(closes)):
        sign = (sum(closes[i - 4 : i + 1]) / 5 > 100) - (sum(closes[i - 4 : i + 1]) / 5 < 100)
        if sign and last and sign != last:
            want.append((i, sign))
        last = sign or last
    assert len(want) > 3
    assert seen == want


def test_sizing_helper_uses_the_account_and_the_limits() -> None:
    f = frame(200, seed=9)
    sizes: list[Decimal] = []

    class Sized(Strategy):
        warmup = True

        def on_bar(self, bar: Bar) -> None:
            if not sizes:
                sizes.append(self.size("percent_of_equity", fraction="0.10"))
                sizes.append(self.size("fixed_quantity", quantity=10_000))

    r = BacktestRunner(venue=no_cost_venue(), risk="default")
    r.add_bars("AAA", f)
    r.add_strategy(Sized())
    r.run()
    first_close = Decimal(str(f.close[0]))
    # 10 % of 10,000,000 at the first close, rounded down to whole shares...
    expected = int(Decimal(1_000_000) / first_close)
    # ...then clipped to the default profile's order limits: 500 shares and $25,000.
    by_notional = int(Decimal(25_000) / first_close)
    assert sizes[0] == min(expected, 500, by_notional)
    assert sizes[1] == min(500, by_notional)


def test_timers_fire_in_time_order_with_the_bars() -> None:
    f = frame(30, seed=10)  # one-minute bars
    log: list[tuple[str, int]] = []

    class Timed(Strategy):
        warmup = True

        def on_start(self) -> None:
            t0 = self.now  # the first bar's close
            self.set_timer("every-5m", 5 * MIN)
            self.set_time_alert("half-past", t0 + 150 * 10**9)  # between two bars
            self.set_time_alert("at-bar", t0 + 10 * MIN)  # exactly a bar's close

        def on_bar(self, bar: Bar) -> None:
            log.append(("bar", bar.ts_event))

        def on_timer(self, event: TimeEvent) -> None:
            assert self.now == event.ts_event
            log.append((event.name, event.ts_event))
            if event.name == "half-past":
                self.buy(1)  # sent inside the bar from 02:00 to 03:00

    r = BacktestRunner(venue=no_cost_venue(), risk=None)
    r.add_bars("AAA", f)
    r.add_strategy(Timed())
    res = r.run()
    t0 = int(f.ts[0])
    times = [t for _, t in log]
    assert times == sorted(times)
    assert ("half-past", t0 + 150 * 10**9) in log
    # A timer due at a bar's close fires after that bar's callback.
    i = log.index(("at-bar", t0 + 10 * MIN))
    assert log[i - 1] == ("bar", t0 + 10 * MIN)
    assert [t for n, t in log if n == "every-5m"] == [t0 + k * 5 * MIN for k in range(1, 6)]
    # The order sent at 02:30 fills then, not at 02:00 (the open, before it existed): at the
    # price the bar's path (O-L-H-C up, O-H-L-C down, points 20 s apart) has reached, half
    # way along its second leg, rounded back to the cent.
    placed = t0 + 150 * 10**9
    assert res.fills[0].ts == placed
    o, h, lo, c = (round(x[3] * 100) for x in (f.open, f.high, f.low, f.close))
    p1, p2 = (lo, h) if c >= o else (h, lo)
    half = abs(p2 - p1) // 2
    assert res.fills[0].price_raw == (p1 + half if p2 > p1 else p1 - half) * 10**7


@settings(max_examples=examples(25), deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 10_000))
def test_round_trips_match_a_plain_reference(data_seed: int, seed: int) -> None:
    from tests.unit.engine.reference_trades import reference_round_trips

    f = frame(300, seed=data_seed)
    venue = SimulatedVenue(starting_cash="100000", account_type="margin", allow_short=True)
    r = BacktestRunner(venue=venue, risk=None)
    r.add_bars("AAA", f)
    r.add_strategy(RandomOrders({"seed": seed}))
    res = r.run()
    want = reference_round_trips(fill_rows(res.fills))
    got = res.trades
    assert len(got) == len(want)
    nano = Fraction(1, 10**9)
    for t, (sid, sym, side, ets, xts, qty, entry, exit_, fee) in zip(got, want, strict=True):
        assert (t.strategy_id, t.symbol, t.side, t.entry_ts, t.exit_ts) == (
            sid,
            sym,
            side,
            ets,
            xts,
        )
        assert Fraction(t.quantity) == qty
        assert abs(Fraction(t.entry_price) - entry) <= nano / 2
        assert abs(Fraction(t.exit_price) - exit_) <= nano / 2
        assert abs(Fraction(t.commission) - fee) <= nano  # fee split rounds to a raw unit
