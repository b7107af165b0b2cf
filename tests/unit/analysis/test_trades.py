"""Trade P&L from exact notionals, and Decimals written without exponents."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pi5trading.analysis import Trade
from pi5trading.analysis.records import plain, plain_builtins, tidy


def scaled_in(side: str, entry_notional: str, exit_notional: str) -> Trade:
    # 22 + 44 shares bought at 10.01 and 10.02: the 10^-9 average is not the exact one.
    return Trade(
        strategy_id="s",
        symbol="AAA",
        side="long" if side == "long" else "short",
        quantity=Decimal(66),
        entry_ts=0,
        entry_price=Decimal("10.016666667"),
        exit_ts=1,
        exit_price=Decimal("9.88"),
        commission=Decimal("0.50"),
        entry_notional=Decimal(entry_notional),
        exit_notional=Decimal(exit_notional),
    )


def test_pnl_comes_from_the_exact_notionals_not_the_rounded_average() -> None:
    long = scaled_in("long", "661.10", "652.08")
    assert long.gross_pnl == Decimal("-9.02")
    assert str(long.net_pnl) == "-9.52"
    # The average price alone would leave a residue: (9.88 - 10.016666667) x 66.
    assert (long.exit_price - long.entry_price) * long.quantity == Decimal("-9.020000022")
    short = scaled_in("short", "661.10", "652.08")
    assert short.gross_pnl == Decimal("9.02")
    assert short.return_pct == pytest.approx(float(Decimal("8.52") / Decimal("661.10") * 100))


def test_a_trade_without_notionals_uses_its_prices() -> None:
    t = Trade(
        strategy_id="s",
        symbol="AAA",
        side="long",
        quantity=Decimal(10),
        entry_ts=0,
        entry_price=Decimal("9.900000000"),
        exit_ts=1,
        exit_price=Decimal("9.900000000"),
    )
    assert t.entry_value == Decimal("99")
    assert str(t.net_pnl) == "0"  # not 0E-9 or 0E-18
    assert t.return_pct == 0.0


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("0E-9", "0"),
        ("-0E-18", "0"),
        ("1E+2", "100"),
        ("9.880000000", "9.88"),
        ("1.5E-7", "0.00000015"),
        ("-9.020000000000000000", "-9.02"),
        ("123456789012345678901234567890.123456789", "123456789012345678901234567890.123456789"),
    ],
)
def test_plain_writes_every_digit_and_no_exponent(value: str, text: str) -> None:
    assert plain(Decimal(value)) == text
    assert plain(tidy(Decimal(value))) == text


def test_plain_builtins_converts_nested_decimals() -> None:
    doc = {"a": [Decimal("0E-9"), {"b": Decimal("1E+3")}], "c": 1.5, "d": None}
    assert plain_builtins(doc) == {"a": ["0", {"b": "1000"}], "c": 1.5, "d": None}


def test_trades_from_stored_fills_pair_as_the_engine_does() -> None:
    """Fills read back from storage make the same trades as the engine's round trips,
    reversals and split commissions included."""
    from pi5trading.analysis.trades import trades_from_fills
    from pi5trading.data.bars import BarFrame
    from pi5trading.data.synthetic import random_walk_bars
    from pi5trading.engine import BacktestRunner
    from pi5trading.strategies.base import Strategy
    from pi5trading.venue import SimulatedVenue

    class Flipper(Strategy):
        """Long 7, then short 5 with one order of 12 (a reversal), then flat, again."""

        def on_start(self) -> None:
            self.bars = 0

        def on_bar(self, bar: object) -> None:
            step, self.bars = self.bars % 3, self.bars + 1
            if step == 0:
                self.buy(7)
            elif step == 1:
                self.sell(12)
            else:
                self.buy(5)

    venue = SimulatedVenue(
        starting_cash=1_000_000,
        account_type="margin",
        allow_short=True,
        commission_per_share="0.0033",
        commission_minimum="0",
    )
    runner = BacktestRunner(venue=venue, risk=None)
    frame = BarFrame.from_columns(random_walk_bars(400, seed=3), "generated:400:3")
    runner.add_bars("SIM", frame)
    runner.add_strategy(Flipper({}))
    result = runner.run()
    fills = [
        (
            f.ts,
            f.strategy_id,
            f.symbol,
            str(f.side),
            Decimal(f.quantity_raw).scaleb(-9),
            Decimal(f.price_raw).scaleb(-9),
            Decimal(f.commission_raw).scaleb(-9),
        )
        for f in result.fills
    ]
    engine = list(result.trades)
    assert len(engine) > 100
    assert any(t.side == "short" for t in engine)
    assert trades_from_fills(fills) == engine
