"""Market data for the engine: bar files, validation, synthetic series."""

from pi5trading.data.bars import BarDataError, BarFrame, DataReport, check_bars, load_bars
from pi5trading.data.synthetic import random_walk_bars

__all__ = [
    "BarDataError",
    "BarFrame",
    "DataReport",
    "check_bars",
    "load_bars",
    "random_walk_bars",
]
