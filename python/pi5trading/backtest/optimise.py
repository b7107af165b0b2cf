"""Parameter search (grid and random), walk-forward analysis, and their tables and heatmaps.

Runs use every core: worker processes are forked after the bars are loaded, so each run
reads the same bars without copying or re-parsing them. Results are deterministic: the
same spec, grid and seed give the same table in the same order, whatever the core count.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing as mp
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from html import escape
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np

from pi5trading.backtest.ranking import METRICS, MINIMISE
from pi5trading.backtest.spec import BacktestSpec, load_frame, parse_time, run_spec
from pi5trading.backtest.walkforward import walk_forward_windows
from pi5trading.data.bars import BarFrame
from pi5trading.exceptions import ConfigurationError

if TYPE_CHECKING:
    from pi5trading.backtest.cluster import Cluster
    from pi5trading.strategies.base import Strategy

Progress = Callable[[int, int], None]


class RunRow(msgspec.Struct, frozen=True, kw_only=True):
    """One parameter set and what it scored."""

    params: dict[str, Any]
    metrics: dict[str, float | None]
    error: str | None = None


class SearchResult(msgspec.Struct, frozen=True, kw_only=True):
    metric: str
    rows: list[RunRow]
    """Best first; runs that failed last."""

    @property
    def best(self) -> RunRow:
        """The best run (``search`` raises when every run failed)."""
        return self.rows[0]

    @property
    def failed(self) -> list[RunRow]:
        """The runs that raised, in the candidates' order."""
        return [r for r in self.rows if r.error is not None]


def check_space(spec: BacktestSpec, space: Mapping[str, Sequence[Any]]) -> None:
    """Every name of ``space`` must be a parameter of the spec's strategy and every value
    one its ``Config`` accepts: a typo fails here, before any run (combinations that break
    a rule between fields, such as fast < slow, are left to the runs and counted)."""
    from pi5trading.strategies.base import convert_config
    from pi5trading.strategies.loader import load_strategy

    cls = load_strategy(spec.strategy)
    for name, values in space.items():
        for value in values:
            try:
                convert_config(cls.Config, {**spec.params, name: value}, strategy=spec.strategy)
            except ConfigurationError as exc:
                raise ConfigurationError(f"grid {name}={value}: {exc}") from None


def grid(space: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of ``space`` (name -> values), in a stable order."""
    names = list(space)
    for n in names:
        if not space[n]:
            raise ConfigurationError(f"parameter {n!r} has no values")
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*space.values())]


def random_sample(
    space: Mapping[str, Sequence[Any] | tuple[float, float]], n: int, seed: int = 0
) -> list[dict[str, Any]]:
    """``n`` random parameter sets: a list is sampled from, ``(low, high)`` ints/floats
    are drawn uniformly (ints inclusive). Duplicates are dropped, order is stable."""
    rng = np.random.default_rng(seed)
    out: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for _ in range(n * 20):
        if len(out) == n:
            break
        p: dict[str, Any] = {}
        for name, dom in space.items():
            if isinstance(dom, tuple) and len(dom) == 2 and all(isinstance(x, int) for x in dom):
                p[name] = int(rng.integers(int(dom[0]), int(dom[1]) + 1))
            elif isinstance(dom, tuple) and len(dom) == 2:
                p[name] = round(float(rng.uniform(dom[0], dom[1])), 6)
            else:
                p[name] = list(dom)[int(rng.integers(0, len(dom)))]
        key = tuple(p.values())
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _metrics(result: Any) -> dict[str, float | None]:
    p = result.performance
    ts = p.trade_stats
    return {
        "sharpe": p.sharpe,
        "sortino": p.sortino,
        "calmar": p.calmar,
        "total_return": p.total_return,
        "annualised_return": p.annualised_return,
        "max_drawdown": p.max_drawdown,
        "profit_factor": ts.profit_factor,
        "win_rate": ts.win_rate,
        "expectancy": float(ts.expectancy) if ts.expectancy is not None else None,
        "trades": float(ts.trades),
        "final_equity": p.final_equity,
    }


# Set in the parent before forking; the workers read it (copy-on-write, no pickling).
_SHARED: dict[str, Any] = {}


def run_params(
    spec: BacktestSpec,
    frame: BarFrame,
    params: dict[str, Any],
    strategy: type[Strategy] | None = None,
) -> RunRow:
    """One run of a search: ``spec`` with ``params`` on ``frame`` (a local worker process
    and a cluster's worker both run this, so their rows are the same)."""
    try:
        res = run_spec(spec, frame, params=params, strategy=strategy)
        return RunRow(params=params, metrics=_metrics(res))
    except Exception as exc:  # a bad combination is reported, not fatal to the search
        return RunRow(params=params, metrics={}, error=f"{type(exc).__name__}: {exc}")


def _run_one(params: dict[str, Any]) -> RunRow:
    return run_params(_SHARED["spec"], _SHARED["frame"], params)


def _score(row: RunRow, metric: str) -> float:
    v = row.metrics.get(metric)
    if v is None or not math.isfinite(v):
        return -math.inf
    return -v if metric in MINIMISE else v


def search(
    spec: BacktestSpec,
    candidates: Iterable[dict[str, Any]],
    *,
    metric: str = "sharpe",
    workers: int | None = None,
    frame: BarFrame | None = None,
    progress: Progress | None = None,
    cluster: Cluster | None = None,
) -> SearchResult:
    """Run ``spec`` once per parameter set; rows sorted best first by ``metric``. With a
    ``cluster`` the runs go to its workers (``workers`` is then ignored); the table is
    the same as a local one."""
    return _search(
        spec,
        candidates,
        metric=metric,
        workers=workers,
        frame=frame if frame is not None else load_frame(spec),
        progress=progress,
        cluster=cluster,
    )


def _search(
    spec: BacktestSpec,
    candidates: Iterable[dict[str, Any]],
    *,
    metric: str,
    workers: int | None,
    frame: BarFrame,
    progress: Progress | None,
    cluster: Cluster | None,
    window: tuple[int, int] | None = None,
) -> SearchResult:
    """``search`` on ``frame``, cut to ``window`` (UTC ns, half-open) when given: a
    cluster gets the whole frame once and cuts it on the workers."""
    if metric not in METRICS:
        raise ConfigurationError(f"metric must be one of {', '.join(METRICS)}")
    params = list(candidates)
    if not params:
        raise ConfigurationError("no parameter sets to try")
    if cluster is not None:
        rows = cluster.run_rows(spec, frame, params, window=window, progress=progress)
    else:
        cut = frame if window is None else frame.between(*window)
        rows = _local_rows(spec, cut, params, workers, progress)
    return _ranked(rows, metric)


def _local_rows(
    spec: BacktestSpec,
    frame: BarFrame,
    params: list[dict[str, Any]],
    workers: int | None,
    progress: Progress | None,
) -> list[RunRow]:
    _SHARED["spec"] = spec
    _SHARED["frame"] = frame
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(params)))
    rows: list[RunRow] = []
    try:
        if n_workers == 1:
            for p in params:
                rows.append(_run_one(p))
                if progress:
                    progress(len(rows), len(params))
        else:
            ctx = mp.get_context("fork")
            with ProcessPoolExecutor(n_workers, mp_context=ctx) as pool:
                for row in pool.map(_run_one, params, chunksize=1):
                    rows.append(row)
                    if progress:
                        progress(len(rows), len(params))
    finally:
        _SHARED.clear()
    return rows


def _ranked(rows: list[RunRow], metric: str) -> SearchResult:
    """``rows`` (in the candidates' order) best first."""
    if all(r.error is not None for r in rows):
        first = rows[0]
        shown = " ".join(f"{k}={v}" for k, v in first.params.items())
        raise ConfigurationError(f"all {len(rows)} runs failed; the first ({shown}): {first.error}")
    # Stable sort: ties keep the candidates' order, so the table is deterministic; failed
    # runs go last, below runs whose metric is undefined.
    rows.sort(key=lambda r: (r.error is not None, -_score(r, metric)))
    return SearchResult(metric=metric, rows=rows)


class WalkForwardPeriod(msgspec.Struct, frozen=True, kw_only=True):
    is_start: int
    is_end: int
    oos_end: int
    best_params: dict[str, Any]
    in_sample: dict[str, float | None]
    out_of_sample: dict[str, float | None]


class WalkForwardResult(msgspec.Struct, frozen=True, kw_only=True):
    metric: str
    periods: list[WalkForwardPeriod]
    oos_total_return: float
    """Out-of-sample returns compounded across periods."""
    oos_positive_periods: int
    mean_efficiency: float | None
    """Mean of out-of-sample / in-sample metric (walk-forward efficiency)."""


def walk_forward(
    spec: BacktestSpec,
    candidates: Sequence[dict[str, Any]],
    *,
    in_sample_days: float,
    out_of_sample_days: float,
    step_days: float | None = None,
    anchored: bool = False,
    metric: str = "sharpe",
    workers: int | None = None,
    progress: Progress | None = None,
    frame: BarFrame | None = None,
    cluster: Cluster | None = None,
) -> WalkForwardResult:
    """Optimise on each in-sample window, then run the best parameters on the unseen
    out-of-sample window that follows (on ``frame``, else the spec's bars). With a
    ``cluster`` each window's search runs on its workers (the bars go there once)."""
    day = 86_400 * 10**9
    frame = frame if frame is not None else load_frame(spec)
    if len(frame) == 0:
        raise ConfigurationError("no bars in the selected range")
    windows = walk_forward_windows(
        int(frame.ts[0]),
        int(frame.ts[-1]) + 1,
        in_sample=int(in_sample_days * day),
        out_of_sample=int(out_of_sample_days * day),
        step=int(step_days * day) if step_days else None,
        anchored=anchored,
    )
    if not windows:
        raise ConfigurationError("the data is shorter than one in-sample + out-of-sample window")
    periods: list[WalkForwardPeriod] = []
    for k, w in enumerate(windows):
        ins = _search(
            spec,
            candidates,
            metric=metric,
            workers=workers,
            frame=frame,
            progress=None,
            cluster=cluster,
            window=(w.is_start, w.is_end),
        )
        best = ins.best
        oos_frame = frame.between(w.is_end, w.oos_end)
        oos = _metrics(run_spec(spec, oos_frame, params=best.params)) if len(oos_frame) else {}
        periods.append(
            WalkForwardPeriod(
                is_start=w.is_start,
                is_end=w.is_end,
                oos_end=w.oos_end,
                best_params=best.params,
                in_sample=best.metrics,
                out_of_sample=oos,
            )
        )
        if progress:
            progress(k + 1, len(windows))
    growth = 1.0
    ratios = []
    positive = 0
    for p in periods:
        r = p.out_of_sample.get("total_return") or 0.0
        growth *= 1 + r
        positive += r > 0
        a, b = p.out_of_sample.get(metric), p.in_sample.get(metric)
        if a is not None and b not in (None, 0.0) and math.isfinite(a) and b is not None:
            ratios.append(a / b)
    return WalkForwardResult(
        metric=metric,
        periods=periods,
        oos_total_return=growth - 1,
        oos_positive_periods=positive,
        mean_efficiency=float(np.mean(ratios)) if ratios else None,
    )


def heatmap_svg(result: SearchResult, x: str, y: str, *, cell: int = 44) -> str:
    """A two-parameter heatmap of ``result.metric`` (green = better) as inline SVG."""
    xs = sorted({r.params[x] for r in result.rows})
    ys = sorted({r.params[y] for r in result.rows})
    values: dict[tuple[Any, Any], float] = {}
    for r in result.rows:
        v = r.metrics.get(result.metric)
        if v is not None and math.isfinite(v):
            values[(r.params[x], r.params[y])] = v
    if not values:
        return "<p>No finite values to plot.</p>"
    lo, hi = min(values.values()), max(values.values())
    left, top = 70, 40
    title = f"{result.metric} by {x} (x) and {y} (y)"
    w = max(left + cell * len(xs) + 20, 8 * len(title) + left)
    h = top + cell * len(ys) + 40
    pct = result.metric in ("total_return", "max_drawdown", "win_rate")
    out = [
        f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        'xmlns="http://www.w3.org/2000/svg" class="heatmap" '
        f'role="img" aria-label="{escape(result.metric)} by {escape(x)} and {escape(y)}">',
        f'<text x="{left}" y="18" font-size="13" font-weight="600">'
        f"{escape(result.metric)} by {escape(x)} (x) and {escape(y)} (y)</text>",
    ]
    for j, yv in enumerate(ys):
        out.append(
            f'<text x="{left - 6}" y="{top + j * cell + cell / 2 + 4}" font-size="11" '
            f'text-anchor="end">{escape(str(yv))}</text>'
        )
        for i, xv in enumerate(xs):
            v = values.get((xv, yv))
            if v is None:
                fill, label = "#e5e7eb", "n/a"
            else:
                t = 0.5 if hi == lo else (v - lo) / (hi - lo)
                if result.metric in MINIMISE:
                    t = 1 - t
                r_, g_ = int(185 * (1 - t) + 21 * t), int(28 * (1 - t) + 128 * t)
                fill = f"rgb({r_},{g_},{int(28 * (1 - t) + 61 * t)})"
                label = f"{v * 100:.1f}%" if pct else f"{v:.2f}"
            out.append(
                f'<rect x="{left + i * cell}" y="{top + j * cell}" width="{cell - 2}" '
                f'height="{cell - 2}" fill="{fill}"><title>{escape(x)}={xv}, {escape(y)}={yv}:'
                f" {label}</title></rect>"
            )
            out.append(
                f'<text x="{left + i * cell + cell / 2 - 1}" y="{top + j * cell + cell / 2 + 3}" '
                f'font-size="10" text-anchor="middle" fill="#fff">{label}</text>'
            )
    for i, xv in enumerate(xs):
        out.append(
            f'<text x="{left + i * cell + cell / 2}" y="{top + len(ys) * cell + 16}" '
            f'font-size="11" text-anchor="middle">{escape(str(xv))}</text>'
        )
    out.append("</svg>")
    return "".join(out)


__all__ = [
    "RunRow",
    "SearchResult",
    "WalkForwardResult",
    "check_space",
    "grid",
    "heatmap_svg",
    "parse_time",
    "random_sample",
    "run_params",
    "search",
    "walk_forward",
]
