"""The traded instrument's properties on the command line (``--tick``, ``--lot``, ...).

Unset options fall back to the instruments table (``db:`` data), then to the data (the
tick) and the US-equity defaults: ``pi5trading.backtest.spec.spec_instrument``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import click

ASSET_CLASSES = ["EQUITY", "ETF", "CRYPTO", "FX", "FUTURE", "OPTION", "INDEX", "COMMODITY"]


class _Positive(click.ParamType[Decimal]):
    """A decimal number > 0, kept exact."""

    name = "decimal"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Decimal:
        if isinstance(value, Decimal):
            return value
        try:
            d = Decimal(str(value).strip())
        except InvalidOperation:
            self.fail(f"{value!r} is not a number", param, ctx)
        if not d.is_finite() or d <= 0:
            self.fail(f"{value!r} must be a number > 0", param, ctx)
        return d


def instrument_options(f: Any) -> Any:
    """Add the instrument options to a command."""
    opts = [
        click.option(
            "--tick",
            type=_Positive(),
            default=None,
            help="Price increment [default: the instruments table's for db: data, else "
            "0.01 or the data's finer one].",
        ),
        click.option(
            "--lot", type=_Positive(), default=None, help="Quantity increment [default: 1]."
        ),
        click.option("--currency", default=None, help="Currency [default: USD]."),
        click.option(
            "--asset-class",
            type=click.Choice(ASSET_CLASSES, case_sensitive=False),
            default=None,
            help="Asset class [default: EQUITY].",
        ),
        click.option(
            "--calendar",
            type=click.Choice(["session", "24/7"]),
            default=None,
            help="Trading calendar: session (exchange hours) or 24/7 (crypto; no "
            "trading-hours denials) [default: session].",
        ),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def instrument_settings(kw: dict[str, Any]) -> dict[str, Any]:
    """``BacktestSpec`` fields from the parsed options (only those given)."""
    keys = ("tick", "lot", "currency", "asset_class", "calendar")
    return {k: kw[k] for k in keys if kw.get(k) is not None}
