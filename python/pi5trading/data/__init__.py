"""Market data for the engine: the bar reader, exact bar columns, validation, synthetic
series."""

from pi5trading.data.bars import (
    BarDataError,
    BarFrame,
    DataReport,
    Problem,
    check_bars,
    infer_interval,
    load_bars,
)
from pi5trading.data.reader import BarTable, read_bar_table, read_bars
from pi5trading.data.synthetic import random_walk_bars

__all__ = [
    "BarDataError",
    "BarFrame",
    "BarTable",
    "DataReport",
    "Problem",
    "check_bars",
    "infer_interval",
    "load_bars",
    "random_walk_bars",
    "read_bar_table",
    "read_bars",
]
