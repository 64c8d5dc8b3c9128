"""The acceptance test of translation: for every example strategy, on 50 seeded synthetic
symbols plus backtesting.py's GOOG and EURUSD, sqfast's replay places the same orders on the
same bars and makes the same trades as backtesting.py's own `Backtest.run()` on that symbol
(`sqfast_native.py`, written against `sqfast.Strategy`, runs under backtesting.py through
`sqfast.strategy.to_backtesting`).

Decisions that differ only because two indicator values are within 1e-9 of each other at a
comparison (a near-tie) are reported as skips naming the bar, never hidden.
"""

import warnings
from pathlib import Path

import numpy as np
import pytest
from backtesting import Backtest, Strategy
from backtesting.test import EURUSD, GOOG

from sqfast.compile.analysis import analyse
from sqfast.compile.evaluate import evaluate
from sqfast.compile.translate import compile_step
from sqfast.replay_engine import BrokerOptions, indicator_values, run_compiled, run_symbol
from sqfast.strategy import to_backtesting
from tests.market import parity_frame

ROOT = Path(__file__).resolve().parents[1]
STRATEGIES = sorted(p.stem for p in (ROOT / "strategies").glob("*.py"))
SYNTHETIC = 50
OPTION_SETS = {
    "default": {},
    "commission": {"commission": 0.002, "finalize_trades": True},
    "spread_margin": {"spread": 0.001, "margin": 0.5},
    "trade_on_close": {"trade_on_close": True, "commission": (1.0, 0.001)},
    "exclusive": {"exclusive_orders": True, "finalize_trades": True},
    "hedging": {"hedging": True, "commission": lambda size, price: abs(size) * price * 0.0005},
}
FULL = Strategy._FULL_EQUITY  # backtesting.py's default order size
_REPORTS = {}


def report_for(name: str):
    if name not in _REPORTS:
        _REPORTS[name] = analyse(ROOT / "strategies" / f"{name}.py")
    return _REPORTS[name]


def frames():
    yield "GOOG", GOOG
    yield "EURUSD", EURUSD
    for seed in range(SYNTHETIC):
        yield f"SYN{seed:02d}", parity_frame(seed, 2_000 + 10 * seed)


def recording(cls):
    """`cls` with every buy()/sell() call logged as (bar, side, size, limit, stop, sl, tp), and
    every position.close(portion) that has trades to close as (bar, "close", portion, ...)."""

    class Recording(cls):
        @property
        def position(self):
            return _LoggedPosition(super().position, self)

        def init(self):
            self.placed = []
            super().init()

        def buy(self, *, size=FULL, **kwargs):
            self._log("buy", size, kwargs)
            return super().buy(size=size, **kwargs)

        def sell(self, *, size=FULL, **kwargs):
            self._log("sell", size, kwargs)
            return super().sell(size=size, **kwargs)

        def _log(self, side, size, kwargs):
            prices = (kwargs.get(k) for k in ("limit", "stop", "sl", "tp"))
            self.placed.append((len(self.data) - 1, side, size, *prices))

    Recording.__name__ = cls.__name__
    return Recording


class _LoggedPosition:
    """backtesting.py's position with close() logged by the strategy that called it."""

    def __init__(self, position, strategy):
        self._position, self._strategy = position, strategy

    def close(self, portion=1.0):
        strategy = self._strategy
        if strategy.trades:
            strategy.placed.append((len(strategy.data) - 1, "close", portion, None, None, None, None))
        self._position.close(portion)

    def __getattr__(self, name):
        return getattr(self._position, name)

    def __bool__(self):
        return bool(self._position)


def backtesting_run(report, frame, options):
    with warnings.catch_warnings():  # its cancellation and open-trade warnings are expected here
        warnings.simplefilter("ignore", UserWarning)
        stats = Backtest(frame, recording(to_backtesting(report.loaded.cls)), **options).run()
    return stats._strategy.placed, stats._trades


def same_price(a, b) -> bool:
    if a is None or b is None or (isinstance(a, float) and np.isnan(a)):
        return (a is None or np.isnan(a)) and (b is None or np.isnan(b))
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def same_size(a: float, b: float) -> bool:
    """Whole units must be equal; a fraction of margin computed from indicators is a float
    (the units it buys are compared exactly in the trades)."""
    return a == b if max(a, b) >= 1 else same_price(a, b)


def near_tie(report, frame, bar: int, back: int = 3) -> str | None:
    """If our indicator values and backtesting.py's own (the functions themselves) agree to 1e-9
    over the `back` bars up to `bar` (what crossover and a short barssince read) yet some pair of
    them is within 1e-9 there, the decision was a near-tie: describe it."""
    columns = {n: frame[n].to_numpy(float) for n in ("Open", "High", "Low", "Close", "Volume")}
    ours = indicator_values([r.indicator for r in report.indicators], columns)
    theirs = {r.indicator.attr: evaluate(r.indicator, columns) for r in report.indicators if r.indicator.attr}
    at_bar = {}
    first = max(0, bar - back)
    for name, value in ours.items():
        a, b = np.atleast_2d(value)[:, first: bar + 1], np.atleast_2d(theirs[name])[:, first: bar + 1]
        if not np.allclose(a, b, rtol=1e-9, equal_nan=True):
            return None
        at_bar[name] = a
    for k in range(first + 1, bar + 1):  # pairs of values on bars k - 1 and k
        flat = np.concatenate([v[:, k - 1 - first: k + 1 - first].ravel() for v in at_bar.values()]
                              + [columns["Close"][k - 1: k + 1]])
        flat = flat[np.isfinite(flat)]
        gaps = np.abs(flat[:, None] - flat[None, :]) <= 1e-9 * np.abs(flat[:, None])
        np.fill_diagonal(gaps, False)
        if gaps.any():
            return f"near-tie at bars {k - 1}-{k}"
    return None


def columns_of(frame) -> dict:
    return {n: frame[n].to_numpy(float) for n in ("Open", "High", "Low", "Close", "Volume")}


def compare(report, name, frame, options, compiled=None, run=None):
    placed, trades = backtesting_run(report, frame, options)
    if run is None:
        run = run_symbol(report, columns_of(frame), frame.index, BrokerOptions(**options), compiled)
    ours = [(o.bar, o.side, o.size, o.limit, o.stop, o.sl, o.tp) for o in run.orders]
    for k, (a, b) in enumerate(zip(ours, placed, strict=False)):
        if a[:2] != b[:2] or not same_size(a[2], b[2]) or not all(
                same_price(x, y) for x, y in zip(a[3:], b[3:], strict=True)):
            tie = near_tie(report, frame, min(a[0], b[0]))
            if tie:
                pytest.skip(f"{report.loaded.name} on {name}: {tie}")
            raise AssertionError(f"{name}: order {k} differs: sqfast {a} vs backtesting.py {b}")
    assert len(ours) == len(placed), f"{name}: {len(ours)} orders vs backtesting.py's {len(placed)}"
    got = [(t.size, t.entry_bar, t.exit_bar) for t in run.trades]
    expected = list(zip(trades.Size, trades.EntryBar, trades.ExitBar, strict=True))
    assert got == expected, f"{name}: trades differ (size, entry bar, exit bar)"
    for t, row in zip(run.trades, trades.itertuples(), strict=True):
        assert same_price(t.entry_price, row.EntryPrice) and same_price(t.exit_price, row.ExitPrice), name
    return len(ours), len(got)


def decisions(report, mode: str):
    """The compiled step for mode "compiled" (every example but python_fallback has one)."""
    if mode == "python":
        return None
    compiled = compile_step(report)
    assert (compiled is None) == (report.loaded.path.stem == "python_fallback")
    return compiled


@pytest.mark.parametrize("mode", ["compiled", "python"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_same_orders_and_trades_as_backtesting_on_every_symbol(strategy, mode):
    report = report_for(strategy)
    compiled = decisions(report, mode)
    totals = np.zeros(2, dtype=int)
    for name, frame in frames():
        totals += compare(report, name, frame, {}, compiled)
    assert totals[1] > 0, "a parity run that trades nothing proves nothing"


@pytest.mark.parametrize("mode", ["compiled", "python"])
@pytest.mark.parametrize("option_set", [k for k in OPTION_SETS if k != "default"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_same_trades_with_broker_options(strategy, option_set, mode):
    report = report_for(strategy)
    compiled = decisions(report, mode)
    options = OPTION_SETS[option_set]
    for name, frame in list(frames())[:6]:
        compare(report, name, frame, options, compiled)


@pytest.mark.parametrize("strategy", [s for s in STRATEGIES if s != "python_fallback"])
def test_all_symbols_in_one_compiled_run(strategy):
    """The engine's way: one step call per time for every symbol with a bar, on the union of
    their timelines (GOOG, EURUSD and synthetic dates differ), each symbol still equal to its
    own backtesting.py run."""
    report = report_for(strategy)
    named = list(frames())[:12]
    symbols = [(columns_of(frame), frame.index.to_numpy()) for _, frame in named]
    runs = run_compiled(report, compile_step(report), symbols, BrokerOptions(commission=0.001))
    for (name, frame), run in zip(named, runs, strict=True):
        compare(report, name, frame, {"commission": 0.001}, run=run)
