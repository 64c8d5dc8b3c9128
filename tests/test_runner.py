"""The live engine's unit, `StrategyRunner`, fed one bar time at a time on the union of several
symbols' timelines, must trade exactly as `sqfast.replay` does on the same bars (whose parity
with backtesting.py is tested separately): compiled steps, window nodes recomputed on each
symbol's history, and the Python fallback."""

from pathlib import Path

import numpy as np
import pytest

from sqfast.bars_io import SymbolBars
from sqfast.compile.analysis import analyse
from sqfast.compile.translate import compile_step
from sqfast.replay_engine import BrokerOptions
from sqfast.replayer import replay
from sqfast.runner import StrategyRunner
from tests.market import parity_frame

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ("Open", "High", "Low", "Close", "Volume")


def universe() -> list[SymbolBars]:
    """Five symbols with different lengths and start dates, so bar times interleave."""
    symbols = []
    for k in range(5):
        frame = parity_frame(100 + k, 300 + 40 * k)
        times = frame.index.to_numpy() + np.timedelta64(3 * k, "D")
        symbols.append(SymbolBars(f"S{k}", {f: frame[f].to_numpy(float) for f in FIELDS}, times))
    return symbols


def run_through_runner(report, compiled, bars: list[SymbolBars], options: BrokerOptions):
    runner = StrategyRunner(report, compiled, len(bars), options)
    runner.closed = []  # (row, ClosedTrade) as the books report them, bar by bar
    times = np.unique(np.concatenate([b.times for b in bars]))
    position = [0] * len(bars)
    for t in times:
        rows = [s for s, b in enumerate(bars) if position[s] < len(b.times) and b.times[position[s]] == t]
        batch = {f: np.array([bars[s].columns[f][position[s]] for s in rows]) for f in FIELDS}
        orders = runner.on_bars(np.array(rows, dtype=np.int64), batch, 0, lambda row, order: True)
        runner.closed += [(row, trade) for row, trade, _ in runner.books.events.closed]
        runner.place(orders, [None] * len(orders))
        for s in rows:
            position[s] += 1
    return runner


@pytest.mark.parametrize("name", ["sma_cross", "custom_indicator", "python_fallback", "bollinger_breakout",
                                  "barssince_exit"])
@pytest.mark.parametrize("python", [False, True])
def test_runner_trades_as_replay(name, python):
    path = ROOT / "strategies" / f"{name}.py"
    report = analyse(path)
    compiled = None if python else compile_step(report)
    bars = universe()
    expected = replay(path, bars, python=python, commission=0.001).trades
    runner = run_through_runner(report, compiled, bars, BrokerOptions(commission=0.001))
    got = [(b.symbol, int(t.size), t.entry_bar, t.exit_bar, t.entry_price, t.exit_price)
           for s, t in runner.closed for b in [bars[s]]]
    want = list(expected.select("symbol", "size", "entry_bar", "exit_bar", "entry_price",
                                "exit_price").iter_rows())
    assert sorted(got) == sorted(want)
    assert len(want) > 5, "too few trades to prove anything"
