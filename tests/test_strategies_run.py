"""Every example strategy in strategies/ is a plain backtesting.py strategy that runs unchanged,
except `sqfast_native.py`, written against `sqfast.Strategy`, which runs here as
`sqfast.strategy.to_backtesting(cls)` (backtesting.py's `Backtest` takes only its own subclasses).

Each file is imported by path, must have a module docstring and exactly one Strategy subclass,
and must run on backtesting.py's bundled GOOG data, place at least three trades and emit no
warning other than the known ones listed below.
"""

import ast
import importlib.util
import inspect
import warnings
from pathlib import Path

import pytest
from backtesting import Backtest, Strategy
from backtesting.test import GOOG

from sqfast.strategy import Strategy as SqfastStrategy
from sqfast.strategy import to_backtesting

STRATEGIES_DIR = Path(__file__).resolve().parent.parent / "strategies"
STRATEGY_FILES = sorted(STRATEGIES_DIR.glob("*.py"))

# Raised by backtesting.py 0.6.6's statistics under pandas >= 3, whatever the strategy.
KNOWN_WARNINGS = ("DatetimeIndex.dayofweek is deprecated",)

# Warnings that backtesting.py itself emits for one strategy's own logic, which is kept as is.
# sma_cross is the parity fixture carried over from StrateQueue: its buy(size=0.1) after losses
# buys less than one share at some bars, and backtesting.py cancels that order with a warning
# (a behaviour sqfast reproduces, so the fixture keeps it).
EXPECTED_WARNINGS = {
    "sma_cross": ("Broker canceled the relative-sized order due to insufficient margin",),
}

MIN_TRADES = 3


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"_sqfast_example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _strategy_classes(module) -> list[type]:
    return [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, Strategy | SqfastStrategy)
        and obj.__module__ == module.__name__
    ]


def test_there_are_enough_strategies():
    assert len(STRATEGY_FILES) >= 11, [p.name for p in STRATEGY_FILES]


@pytest.mark.parametrize("path", STRATEGY_FILES, ids=lambda p: p.stem)
def test_file_shape(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{path.name} has no module docstring"
    classes = _strategy_classes(_load(path))
    assert len(classes) == 1, f"{path.name} defines {len(classes)} Strategy subclasses"


@pytest.mark.parametrize("path", STRATEGY_FILES, ids=lambda p: p.stem)
def test_runs_on_goog(path: Path):
    (cls,) = _strategy_classes(_load(path))
    allowed = KNOWN_WARNINGS + EXPECTED_WARNINGS.get(path.stem, ())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = Backtest(GOOG, to_backtesting(cls), cash=10_000, commission=0.002, finalize_trades=True).run()
    unexpected = [
        f"{w.category.__name__}: {w.message}"
        for w in caught
        if not any(text in str(w.message) for text in allowed)
    ]
    assert not unexpected, unexpected
    assert stats["# Trades"] >= MIN_TRADES, stats["# Trades"]
    assert len(stats._trades) == stats["# Trades"]
