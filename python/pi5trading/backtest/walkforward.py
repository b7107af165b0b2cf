"""Walk-forward windows: optimise in-sample, test on the unseen period that follows.

Rolling windows slide the in-sample start by ``step``; anchored windows keep the start and
grow the in-sample end (the original system's anchored mode never advanced and looped
forever). Windows never overlap their own out-of-sample period.
"""

from __future__ import annotations

import msgspec


class Window(msgspec.Struct, frozen=True):
    """Half-open UTC ns ranges: in-sample [is_start, is_end), out-of-sample [is_end, oos_end)."""

    is_start: int
    is_end: int
    oos_end: int


def walk_forward_windows(
    start: int,
    end: int,
    *,
    in_sample: int,
    out_of_sample: int,
    step: int | None = None,
    anchored: bool = False,
) -> list[Window]:
    """Split [start, end) into walk-forward windows (durations in ns).

    ``step`` defaults to ``out_of_sample`` so the test periods tile the data without gaps.
    """
    if end <= start:
        raise ValueError("end must be after start")
    if in_sample <= 0 or out_of_sample <= 0:
        raise ValueError("in_sample and out_of_sample must be > 0")
    step = out_of_sample if step is None else step
    if step <= 0:
        raise ValueError("step must be > 0")
    windows: list[Window] = []
    offset = 0
    while True:
        is_start = start if anchored else start + offset
        is_end = start + in_sample + offset
        oos_end = is_end + out_of_sample
        if oos_end > end:
            break
        windows.append(Window(is_start, is_end, oos_end))
        offset += step
    return windows
