"""Static SVG charts for self-contained reports: no JavaScript, no network, any browser.

Long series are reduced to at most ``max_points`` by keeping each bucket's first, minimum,
maximum and last point, so peaks and troughs (the drawdown a trader cares about) survive.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from html import escape

import numpy as np
import numpy.typing as npt

# The chart is as wide as the page: x positions are percentages of the SVG's width, so text
# and markers keep their size on any screen (a viewBox would scale an 11px label to 4px on a
# phone). Only the plot's lines use a viewBox, stretched to the width without thickening.
HEIGHT = 280
PAD_T, PAD_B = 28, 30
PLOT_W = 1000  # viewBox units across the plot; the browser stretches them to the width
PAD_L, PAD_R = 70, 20  # px, the CSS padding of .chart that holds the y labels (report.py)


def reduce_series(
    x: npt.NDArray[np.int64], y: npt.NDArray[np.float64], max_points: int = 2000
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Keep first/min/max/last of each bucket so a long series draws fast and stays true."""
    n = x.size
    if n <= max_points:
        return x, y
    buckets = max(1, max_points // 4)
    edges = np.linspace(0, n, buckets + 1, dtype=np.int64)
    keep: list[int] = []
    for a, b in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        if b <= a:
            continue
        seg = y[a:b]
        keep.extend((a, a + int(np.argmin(seg)), a + int(np.argmax(seg)), b - 1))
    idx = np.unique(np.asarray(keep, dtype=np.int64))
    return x[idx], y[idx]


def _fmt_time(ns: int, span_ns: int) -> str:
    t = dt.datetime.fromtimestamp(ns / 1e9, tz=dt.UTC)
    if span_ns < 2 * 86_400 * 10**9:
        return t.strftime("%m-%d %H:%M")
    return t.strftime("%Y-%m-%d")


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if not math.isfinite(lo) or not math.isfinite(hi):
        return []
    if hi == lo:
        return [lo]
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    first = math.ceil(lo / step) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    return ticks


class Series:
    """One line on a chart."""

    def __init__(
        self,
        name: str,
        x: npt.NDArray[np.int64],
        y: npt.NDArray[np.float64],
        color: str,
        fill: bool = False,
    ) -> None:
        self.name, self.color, self.fill = name, color, fill
        self.x, self.y = reduce_series(np.asarray(x, np.int64), np.asarray(y, np.float64))


class Marker:
    """A trade marker: an up triangle for buys, a down triangle for sells."""

    def __init__(self, x: int, y: float, kind: str, label: str) -> None:
        self.x, self.y, self.kind, self.label = x, y, kind, label


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    markers: Sequence[Marker] = (),
    y_format: str = "{:,.2f}",
    css_class: str = "chart",
) -> str:
    """An SVG line chart with time on x, value ticks on y, optional trade markers.

    Returned inside ``<div class="{css_class}">``; the report's CSS gives that div the
    left/right padding the y labels are drawn in (``PAD_L``/``PAD_R``).
    """
    xs = [s.x for s in series if s.x.size]
    ys = [s.y for s in series if s.y.size]
    if not xs:
        return f'<p class="empty">{escape(title)}: no data</p>'
    x0 = int(min(int(a.min()) for a in xs))
    x1 = int(max(int(a.max()) for a in xs))
    y_all = [float(a.min()) for a in ys] + [float(a.max()) for a in ys]
    y_all += [m.y for m in markers]
    y0, y1 = min(y_all), max(y_all)
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    pad = (y1 - y0) * 0.05
    y0, y1 = y0 - pad, y1 + pad
    ph = HEIGHT - PAD_T - PAD_B

    def fx(v: float) -> float:
        """x as a fraction of the plot's width."""
        return (v - x0) / (x1 - x0) if x1 > x0 else 0.5

    def sy(v: float) -> float:
        return PAD_T + (y1 - v) / (y1 - y0) * ph

    out = [
        f'<div class="{css_class}"><svg width="100%" height="{HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="0" y="18" class="title">{escape(title)}</text>',
    ]
    for t in _nice_ticks(y0, y1):
        yy = sy(t)
        out.append(f'<line x1="0" x2="100%" y1="{yy:.1f}" y2="{yy:.1f}" class="grid"/>')
        out.append(
            f'<text x="-6" y="{yy + 4:.1f}" class="ytick">{escape(y_format.format(t))}</text>'
        )
    for i in range(5):
        xv = x0 + (x1 - x0) * i / 4
        # Edge labels anchor inward so the first and last dates are not clipped; a phone
        # keeps only the first, middle and last (CSS hides .minor) so dates do not overlap.
        anchor = "start" if i == 0 else ("end" if i == 4 else "middle")
        minor = " minor" if i in (1, 3) else ""
        out.append(
            f'<text x="{i * 25}%" y="{HEIGHT - 8}" class="xtick{minor}" text-anchor="{anchor}">'
            f"{_fmt_time(int(xv), x1 - x0)}</text>"
        )
    out.append(
        f'<svg x="0" y="{PAD_T}" width="100%" height="{ph}" viewBox="0 0 {PLOT_W} {ph}" '
        'preserveAspectRatio="none" overflow="visible">'
    )
    for s in series:
        if not s.x.size:
            continue
        pts = " ".join(
            f"{fx(a) * PLOT_W:.1f},{sy(b) - PAD_T:.1f}"
            for a, b in zip(s.x.tolist(), s.y.tolist(), strict=True)
        )
        if s.fill:
            base = sy(max(min(0.0, y1), y0)) - PAD_T
            first, last = fx(float(s.x[0])) * PLOT_W, fx(float(s.x[-1])) * PLOT_W
            out.append(
                f'<polygon points="{first:.1f},{base:.1f} {pts} {last:.1f},{base:.1f}" '
                f'fill="{s.color}" fill-opacity="0.25" stroke="none"/>'
            )
        out.append(
            f'<polyline points="{pts}" fill="none" stroke="{s.color}" stroke-width="1.4" '
            f'vector-effect="non-scaling-stroke"><title>{escape(s.name)}</title></polyline>'
        )
    out.append("</svg>")
    for m in markers:
        my = sy(m.y)
        if m.kind == "buy":
            path, color = f"M0,{my - 7:.1f} l6,10 h-12 z", "#15803d"
        else:
            path, color = f"M0,{my + 7:.1f} l6,-10 h-12 z", "#b91c1c"
        # A nested svg places the triangle at a percentage of the width, unstretched.
        out.append(
            f'<svg x="{fx(m.x) * 100:.3f}%" y="0" overflow="visible">'
            f'<path d="{path}" fill="{color}" class="marker">'
            f"<title>{escape(m.label)}</title></path></svg>"
        )
    if len(series) > 1:
        lx = 10
        for s in series:
            out.append(f'<rect x="{lx}" y="{PAD_T + 4}" width="12" height="3" fill="{s.color}"/>')
            out.append(
                f'<text x="{lx + 16}" y="{PAD_T + 9}" class="legend">{escape(s.name)}</text>'
            )
            lx += 16 + 8 * len(s.name) + 20
    out.append("</svg></div>")
    return "".join(out)
