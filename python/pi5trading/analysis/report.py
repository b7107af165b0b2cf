"""Backtest reports: one self-contained HTML file (inline SVG charts, no network) and JSON.

The HTML shows the summary metrics, the equity curve, the drawdown, each instrument's price
with trade markers, a monthly returns table and the trade list. ``report.json`` holds the
same data for programs; ``trades.csv`` and ``equity.csv`` open in a spreadsheet. Decimals
are written plain (``plain``); equity.csv has one row an hour unless asked for more.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from pi5trading.analysis.charts import PAD_L, PAD_R, Marker, Series, line_chart
from pi5trading.analysis.montecarlo import MonteCarloResult
from pi5trading.analysis.performance import Performance, drawdown_series, monthly_returns
from pi5trading.analysis.records import (
    EXACT,
    NANOS_PER_SECOND,
    EquityCurve,
    Trade,
    plain,
    plain_builtins,
)
from pi5trading.data.bars import DataReport

# equity.csv resolutions: seconds per row (0: every bar). The default keeps the last equity
# of each UTC hour: 200,000 one-minute bars (generated:200000) make 4,102 rows, 190 KB
# instead of 9.4 MB; the charts and statistics always use every bar.
EQUITY_RESOLUTIONS = {
    "bar": 0,
    "1m": 60,
    "5m": 300,
    "15m": 900,
    "1h": 3_600,
    "4h": 14_400,
    "1d": 86_400,
}
DEFAULT_EQUITY_RESOLUTION = "1h"

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#111827;
background:#f9fafb}h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta{color:#4b5563;font-size:13px}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;min-width:130px}
.card .k{font-size:12px;color:#6b7280}.card .v{font-size:18px;font-weight:600}
.pos{color:#15803d}.neg{color:#b91c1c}.chart{background:#fff;border:1px solid #e5e7eb;
border-radius:8px;margin:8px 0}.chart svg{display:block;overflow:visible}
svg .title{font-size:13px;font-weight:600;fill:#111827}svg .grid{stroke:#e5e7eb;stroke-width:1}
svg .ytick{font-size:11px;fill:#6b7280;text-anchor:end}svg .xtick{font-size:11px;fill:#6b7280}
svg .legend{font-size:11px;fill:#374151}table{border-collapse:collapse;
background:#fff;font-size:13px}td,th{border:1px solid #e5e7eb;padding:4px 8px;text-align:right}
th{background:#f3f4f6}td.l,th.l{text-align:left}.scroll{max-height:480px;overflow:auto;
display:inline-block;max-width:100%}.wide{overflow-x:auto;max-width:100%}
@media (max-width:640px){body{margin:12px}.chart .minor{display:none}}
"""
# The charts' padding holds their y labels (charts.py draws them left of x=0).
CSS += f".chart{{padding:0 {PAD_R}px 0 {PAD_L}px}}"


def _pct(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v * 100:,.{digits}f}%"


def _num(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:,.{digits}f}"


def _time(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")


def _sign(v: float | None) -> str:
    if v is None or v == 0:
        return ""
    return "pos" if v > 0 else "neg"


def _meta(v: Any) -> str:
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v)
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _cards(perf: Performance) -> str:
    ts = perf.trade_stats
    items: list[tuple[str, str, float | None]] = [
        ("Total return", _pct(perf.total_return), perf.total_return),
        ("Annualised", _pct(perf.annualised_return), perf.annualised_return),
        ("Max drawdown", _pct(perf.max_drawdown), -perf.max_drawdown if perf.max_drawdown else 0),
        ("Sharpe", _num(perf.sharpe), perf.sharpe),
        ("Sortino", _num(perf.sortino), perf.sortino),
        ("Calmar", _num(perf.calmar), perf.calmar),
        ("Volatility", _pct(perf.volatility), None),
        ("Trades", str(ts.trades), None),
        ("Win rate", _pct(ts.win_rate, 1), None),
        ("Profit factor", _num(ts.profit_factor), None),
        ("Expectancy", _num(float(ts.expectancy) if ts.expectancy is not None else None), None),
        ("Exposure", _pct(perf.exposure, 1), None),
        ("Final equity", _num(perf.final_equity), None),
    ]
    cells = "".join(
        f'<div class="card"><div class="k">{escape(k)}</div>'
        f'<div class="v {_sign(s)}">{escape(v)}</div></div>'
        for k, v, s in items
    )
    return f'<div class="cards">{cells}</div>'


def _monthly_table(monthly: Mapping[str, float]) -> str:
    if not monthly:
        return "<p>No data.</p>"
    years = sorted({k[:4] for k in monthly})
    head = "".join(f"<th>{m}</th>" for m in MONTHS)
    rows = []
    for y in years:
        cells = []
        compounded = 1.0
        for i in range(12):
            v = monthly.get(f"{y}-{i + 1:02d}")
            if v is None:
                cells.append("<td></td>")
                continue
            compounded *= 1 + v
            alpha = min(abs(v) * 8, 0.6)
            color = f"rgba(21,128,61,{alpha:.2f})" if v >= 0 else f"rgba(185,28,28,{alpha:.2f})"
            cells.append(f'<td style="background:{color}">{v * 100:.2f}%</td>')
        year_ret = compounded - 1
        rows.append(
            f'<tr><th class="l">{y}</th>{"".join(cells)}'
            f'<td class="{_sign(year_ret)}"><b>{year_ret * 100:.2f}%</b></td></tr>'
        )
    header = f'<tr><th class="l">Year</th>{head}<th>Year</th></tr>'
    return f'<div class="wide"><table class="monthly">{header}{"".join(rows)}</table></div>'


def _trade_table(trades: Sequence[Trade], limit: int = 2000) -> str:
    if not trades:
        return "<p>No closed trades.</p>"
    head = (
        '<tr><th class="l">#</th><th class="l">Strategy</th><th class="l">Symbol</th>'
        '<th class="l">Side</th><th>Qty</th><th class="l">Entry</th><th>Entry price</th>'
        '<th class="l">Exit</th><th>Exit price</th><th>Commission</th><th>Net P&amp;L</th>'
        "<th>Return</th></tr>"
    )
    rows = []
    for i, t in enumerate(trades[:limit], 1):
        pnl = t.net_pnl
        rows.append(
            f'<tr><td class="l">{i}</td><td class="l">{escape(t.strategy_id)}</td>'
            f'<td class="l">{escape(t.symbol)}</td><td class="l">{t.side}</td>'
            f'<td>{_dec(t.quantity, 0)}</td><td class="l">{_time(t.entry_ts)}</td>'
            f"<td>{_dec(t.entry_price)}</td>"
            f'<td class="l">{_time(t.exit_ts)}</td><td>{_dec(t.exit_price)}</td>'
            f"<td>{_dec(t.commission)}</td>"
            f'<td class="{_sign(float(pnl))}">{pnl:.2f}</td><td>{t.return_pct:.2f}%</td></tr>'
        )
    more = f"<p>… and {len(trades) - limit} more in trades.csv</p>" if len(trades) > limit else ""
    return f'<div class="scroll"><table class="trades">{head}{"".join(rows)}</table></div>{more}'


def _montecarlo(mc: MonteCarloResult | None) -> str:
    if mc is None:
        return ""
    c = f"{mc.confidence * 100:.0f}%"
    return (
        f"<h2>Monte Carlo ({mc.simulations:,} resamples of the trades, seed {mc.seed})</h2>"
        "<table><tr><th class=l></th><th>low</th><th>median</th><th>high</th></tr>"
        f"<tr><th class=l>Total return ({c} interval)</th><td>{_pct(mc.final_return.low)}</td>"
        f"<td>{_pct(mc.final_return.median)}</td><td>{_pct(mc.final_return.high)}</td></tr>"
        f"<tr><th class=l>Max drawdown ({c} interval)</th><td>{_pct(mc.max_drawdown.low)}</td>"
        f"<td>{_pct(mc.max_drawdown.median)}</td><td>{_pct(mc.max_drawdown.high)}</td></tr>"
        "</table>"
        f"<p class=meta>P(profit) {_pct(mc.probability_of_profit, 1)} · "
        f"P(return ≥ {_pct(mc.target_return, 0)}) {_pct(mc.probability_of_target, 1)} · "
        f"risk of ruin (drawdown > {_pct(mc.ruin_drawdown, 0)}) {_pct(mc.risk_of_ruin, 1)}</p>"
    )


MAX_MARKERS = 300


def _markers(trades: Sequence[Trade]) -> list[Marker]:
    out = []
    for t in trades:
        entry_kind, exit_kind = ("buy", "sell") if t.side == "long" else ("sell", "buy")
        out.append(
            Marker(t.entry_ts, float(t.entry_price), entry_kind, f"entry {_dec(t.entry_price)}")
        )
        out.append(Marker(t.exit_ts, float(t.exit_price), exit_kind, f"exit {_dec(t.exit_price)}"))
    return out


def _dec(d: Decimal, places: int = 2) -> str:
    """Exact decimal without trailing zeros beyond ``places`` (99.480000000 -> 99.48)."""
    text = format(d.normalize(EXACT), "f")
    whole, _, frac = text.partition(".")
    frac = frac.ljust(places, "0")
    return f"{whole}.{frac}" if frac else whole


def equity_rows(curve: EquityCurve, resolution: str) -> npt.NDArray[np.intp]:
    """The curve's points that equity.csv keeps at ``resolution``: every bar (``bar``), or
    the last bar of each UTC period (by the bar's timestamp)."""
    if resolution not in EQUITY_RESOLUTIONS:
        raise ValueError(
            f"equity resolution {resolution!r}: use one of {', '.join(EQUITY_RESOLUTIONS)}"
        )
    seconds = EQUITY_RESOLUTIONS[resolution]
    ts = curve.ts
    if not seconds or ts.size == 0:
        return np.arange(ts.size)
    period = ts // (seconds * NANOS_PER_SECOND)
    return np.flatnonzero(np.append(period[1:] != period[:-1], True))


def _equity_note(resolution: str, rows: int, bars: int) -> str:
    if resolution == "bar":
        return f"equity.csv: every bar ({rows:,} rows)."
    return (
        f"equity.csv: the last equity of each {resolution} (UTC), {rows:,} rows for "
        f"{bars:,} bars; the charts and statistics use every bar."
    )


def render_html(
    *,
    title: str,
    meta: Mapping[str, Any],
    perf: Performance,
    curve: EquityCurve,
    trades: Sequence[Trade],
    prices: Mapping[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]],
    montecarlo: MonteCarloResult | None = None,
    files_note: str = "",
    data: DataReport | None = None,
) -> str:
    """The whole report as one HTML string."""
    ts, equity = curve.arrays()
    dd = drawdown_series(equity)
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        '<p class="meta">'
        + " · ".join(f"{escape(str(k))}: {escape(_meta(v))}" for k, v in meta.items())
        + "</p>",
        _cards(perf),
        "<h2>Equity</h2>",
        line_chart("Equity", [Series("equity", ts, equity, "#2563eb")], y_format="{:,.0f}"),
        "<h2>Drawdown</h2>",
        line_chart(
            "Drawdown from peak",
            [Series("drawdown", ts, -dd * 100, "#b91c1c", fill=True)],
            y_format="{:.1f}%",
        ),
    ]
    for symbol, (pts, close) in prices.items():
        sym_trades = [t for t in trades if t.symbol == symbol]
        parts.append(f"<h2>{escape(symbol)}: price and trades</h2>")
        if len(sym_trades) <= MAX_MARKERS:
            parts.append(
                line_chart(
                    f"{symbol} close",
                    [Series(symbol, pts, close, "#374151")],
                    markers=_markers(sym_trades),
                )
            )
            continue
        # Thousands of markers hide the price: draw the whole series plain, then zoom in
        # on the most recent trades with their markers.
        parts.append(line_chart(f"{symbol} close", [Series(symbol, pts, close, "#374151")]))
        recent = sym_trades[-MAX_MARKERS:]
        lo = np.searchsorted(pts, recent[0].entry_ts)
        hi = np.searchsorted(pts, recent[-1].exit_ts, side="right")
        parts.append(
            line_chart(
                f"{symbol}: the last {MAX_MARKERS} of {len(sym_trades):,} trades",
                [Series(symbol, pts[lo:hi], close[lo:hi], "#374151")],
                markers=_markers(recent),
            )
        )
    parts += [
        "<h2>Monthly returns</h2>",
        _monthly_table(monthly_returns(curve, perf.starting_equity)),
        _montecarlo(montecarlo),
        "<h2>Per strategy</h2>",
        _strategy_table(perf),
        "<h2>Trades</h2>",
        _trade_table(trades),
        data_section(data),
        f"<p class=meta>Generated by pi5trading. Times are UTC. {escape(files_note)}</p>",
        "</body></html>",
    ]
    return "".join(parts)


def _strategy_table(perf: Performance) -> str:
    if not perf.per_strategy:
        return "<p>No closed trades.</p>"
    rows = "".join(
        f'<tr><td class="l">{escape(sid)}</td><td>{s.trades}</td><td>{_pct(s.win_rate, 1)}</td>'
        f'<td class="{_sign(float(s.net_profit))}">{s.net_profit:.2f}</td>'
        f"<td>{_num(s.profit_factor)}</td><td>{s.total_commission:.2f}</td></tr>"
        for sid, s in perf.per_strategy.items()
    )
    return (
        '<table><tr><th class="l">Strategy</th><th>Trades</th><th>Win rate</th>'
        f"<th>Net P&amp;L</th><th>Profit factor</th><th>Commission</th></tr>{rows}</table>"
    )


_DROPS_SHOWN = 100
"""Dropped rows listed in the HTML report (report.json lists up to ``_DROPS_KEPT``)."""
_DROPS_KEPT = 10_000


def data_json(data: DataReport | None) -> dict[str, Any] | None:
    """The data section of report.json: what the reader found and what repair dropped."""
    if data is None:
        return None
    doc: dict[str, Any] = msgspec.to_builtins(data)
    doc["dropped_count"] = len(data.dropped)
    doc["dropped"] = [{"line": n, "problem": p} for n, p in data.dropped[:_DROPS_KEPT]]
    return doc


def data_section(data: DataReport | None) -> str:
    """The report's "Data" section: the source, rows read and kept, what
    ``--data-policy repair`` dropped or sorted, gaps and the reader's notes."""
    if data is None:
        return ""
    facts = [
        f"source: {data.source}",
        f"rows read: {data.rows:,}",
        f"kept: {data.kept:,}",
        f"dropped: {len(data.dropped):,}",
        f"sorted by time: {'yes' if data.reordered else 'no'}",
        f"gaps: {data.gaps:,}",
    ]
    parts = ["<h2>Data</h2>", f'<p class="meta">{escape(" · ".join(facts))}</p>']
    parts += [f'<p class="meta">note: {escape(n)}</p>' for n in data.notes]
    if data.dropped:
        rows = "".join(
            f'<tr><td>{n}</td><td class="l">{escape(p)}</td></tr>'
            for n, p in data.dropped[:_DROPS_SHOWN]
        )
        parts.append(
            '<table class="dropped"><tr><th>line</th><th class="l">dropped because</th></tr>'
            f"{rows}</table>"
        )
        if len(data.dropped) > _DROPS_SHOWN:
            more = len(data.dropped) - _DROPS_SHOWN
            parts.append(f"<p>… and {more:,} more in report.json</p>")
    return "".join(parts)


def write_report(
    folder: str | Path,
    *,
    title: str,
    meta: Mapping[str, Any],
    perf: Performance,
    curve: EquityCurve,
    trades: Sequence[Trade],
    prices: Mapping[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] | None = None,
    montecarlo: MonteCarloResult | None = None,
    equity_resolution: str = DEFAULT_EQUITY_RESOLUTION,
    data: DataReport | None = None,
) -> Path:
    """Write report.html, report.json, trades.csv and equity.csv into ``folder``; return it.

    ``equity_resolution`` (a key of ``EQUITY_RESOLUTIONS``) sets the rows of equity.csv:
    ``bar`` for every bar, else the last equity of each period; default one an hour.
    ``data``: what the bar reader found and dropped (a "Data" section in both reports).
    """
    rows = equity_rows(curve, equity_resolution)  # a bad resolution fails before any file
    note = _equity_note(equity_resolution, int(rows.size), len(curve))
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    html = render_html(
        files_note=note,
        title=title,
        meta=meta,
        perf=perf,
        curve=curve,
        trades=trades,
        prices=prices or {},
        montecarlo=montecarlo,
        data=data,
    )
    (out / "report.html").write_text(html, encoding="utf-8")
    doc = {
        "title": title,
        "meta": dict(meta),
        "data": data_json(data),
        "performance": perf,
        "monthly_returns": monthly_returns(curve, perf.starting_equity),
        "montecarlo": montecarlo,
        "equity_csv": {"resolution": equity_resolution, "rows": int(rows.size)},
        # net_pnl too, so a program reading the file need not redo the exact arithmetic.
        "trades": [{**plain_builtins(t), "net_pnl": plain(t.net_pnl)} for t in trades],
    }
    (out / "report.json").write_bytes(
        msgspec.json.format(msgspec.json.encode(plain_builtins(doc)), indent=2)
    )
    with (out / "trades.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "strategy_id",
                "symbol",
                "side",
                "quantity",
                "entry_time",
                "entry_price",
                "exit_time",
                "exit_price",
                "commission",
                "net_pnl",
                "return_pct",
            ]
        )
        for t in trades:
            w.writerow(
                [
                    t.strategy_id,
                    t.symbol,
                    t.side,
                    plain(t.quantity),
                    _time(t.entry_ts),
                    plain(t.entry_price),
                    _time(t.exit_ts),
                    plain(t.exit_price),
                    plain(t.commission),
                    plain(t.net_pnl),
                    f"{t.return_pct:.4f}",
                ]
            )
    with (out / "equity.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time_utc", "ts_ns", "equity"])
        ts_all, eq_all = curve.arrays()
        if rows.size != ts_all.size:
            ts_all, eq_all = ts_all[rows], eq_all[rows]
        # In blocks: two million-element lists of Python numbers cost ~70 MB at once.
        block = 65_536
        for k in range(0, len(ts_all), block):
            ts_part = ts_all[k : k + block].tolist()
            eq_part = eq_all[k : k + block].tolist()
            w.writerows(
                [_time(t_ns), t_ns, f"{e:.2f}"] for t_ns, e in zip(ts_part, eq_part, strict=True)
            )
    return out
