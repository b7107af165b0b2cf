"""The simulated venue's settings on the command line: every ``SimulatedVenue`` keyword has
a flag, and ``--venue ideal`` is the preset for comparing with other engines.

Only flags the user gave reach the venue: the rest keep the venue's documented defaults
(docs/venue.md), so ``backtest`` and the Python API agree on what a default run is.
"""

from __future__ import annotations

from typing import Any

import click

from pi5trading.backtest.presets import VENUE_PRESETS as PRESETS

# Flags given with a preset replace its values.

# (flag, keyword, type, help): one row per SimulatedVenue keyword except starting_cash
# (--cash) and market_fill (--market-fill), which the spec options own.
_FLAGS: list[tuple[str, str, Any, str]] = [
    (
        "--slippage",
        "slippage",
        click.Choice(["none", "ticks", "rate", "volume"]),
        "Slippage model [venue default: ticks].",
    ),
    (
        "--slippage-ticks",
        "slippage_ticks",
        click.IntRange(min=0),
        "Ticks of slippage with --slippage ticks [default: 1].",
    ),
    (
        "--slippage-rate",
        "slippage_rate",
        str,
        "Slippage as a fraction of price with --slippage rate (0.0005 = 5 bps).",
    ),
    (
        "--slippage-per-participation",
        "slippage_per_participation",
        str,
        "With --slippage volume: fraction of price per unit of volume participation.",
    ),
    (
        "--commission-per-share",
        "commission_per_share",
        str,
        "Commission per share [venue default: 0.005].",
    ),
    ("--commission-per-order", "commission_per_order", str, "Flat commission per fill."),
    (
        "--commission-rate",
        "commission_rate",
        str,
        "Commission as a fraction of notional (0.001 = 10 bps).",
    ),
    (
        "--commission-minimum",
        "commission_minimum",
        str,
        "Minimum commission per order [venue default: 1.00].",
    ),
    (
        "--commission-max-rate",
        "commission_max_rate",
        str,
        "Commission cap as a fraction of notional [venue default: 0.01].",
    ),
    (
        "--participation",
        "participation",
        str,
        "Share of a bar's volume one order may fill (0.1 = 10 %) [venue default: 0.1].",
    ),
    (
        "--latency-ns",
        "latency_ns",
        click.IntRange(min=0),
        "Order latency in nanoseconds [default: 0].",
    ),
    (
        "--account",
        "account_type",
        click.Choice(["cash", "margin"]),
        "Account type [default: cash].",
    ),
    (
        "--session-close-minutes",
        "session_close_minutes",
        click.IntRange(min=0, max=1440),
        "Minute of the day (exchange time) when DAY orders expire [default: 960 = 16:00].",
    ),
]

_SWITCHES: list[tuple[str, str, str]] = [
    (
        "--unlimited-volume/--volume-limit",
        "unlimited_volume",
        "Fill any size regardless of bar volume (no participation limit).",
    ),
    ("--allow-short/--no-short", "allow_short", "Allow short selling (margin accounts)."),
    (
        "--check-buying-power/--no-buying-power-check",
        "check_buying_power",
        "Refuse orders the account cannot pay for [default: check].",
    ),
]


def venue_options(f: Any) -> Any:
    """Add ``--venue`` and one flag per venue setting to a command."""
    opts: list[Any] = [
        click.option(
            "--venue",
            "venue_preset",
            type=click.Choice(sorted(PRESETS)),
            default="realistic",
            show_default=True,
            help="Venue preset: realistic (the venue defaults) or ideal (no costs, no "
            "slippage, no volume limit, as other engines' examples); the venue flags override it.",
        )
    ]
    for flag, key, kind, text in _FLAGS:
        opts.append(click.option(flag, key, type=kind, default=None, help=text))
    for flag, key, text in _SWITCHES:
        opts.append(click.option(flag, key, default=None, help=text))
    for o in reversed(opts):
        f = o(f)
    return f


def venue_settings(kw: dict[str, Any]) -> dict[str, Any]:
    """``SimulatedVenue`` keywords from the parsed options: the preset, then every flag the
    user gave (values are checked by the venue itself, which names the setting)."""
    out = dict(PRESETS[kw["venue_preset"]])
    for _, key, _, _ in _FLAGS:
        if kw.get(key) is not None:
            out[key] = kw[key]
    for _, key, _ in _SWITCHES:
        if kw.get(key) is not None:
            out[key] = kw[key]
    # A model's parameter picks the model; a parameter of another model is a mistake the
    # venue would ignore without a word.
    given = [m for k, m in _MODEL_OF.items() if kw.get(k) is not None]
    if given:
        model = kw.get("slippage") or given[0]
        wrong = [k for k, m in _MODEL_OF.items() if kw.get(k) is not None and m != model]
        if wrong:
            flag = "--" + wrong[0].replace("_", "-")
            raise click.BadParameter(
                f"{flag} applies to --slippage {_MODEL_OF[wrong[0]]}, not {model}",
                param_hint=flag,
            )
        out["slippage"] = model
    return out


_MODEL_OF = {
    "slippage_ticks": "ticks",
    "slippage_rate": "rate",
    "slippage_per_participation": "volume",
}
