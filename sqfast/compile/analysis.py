"""What `sqfast check` reports: a strategy's class, parameters, indicators and the kernel (or
window node) behind each, its warm-up by backtesting.py's rule, and whether `next()` compiles."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import StrategyError
from ..synthetic import demo_bars
from .evaluate import evaluate
from .graph import FIELDS, Indicator
from .loader import LoadedStrategy, load_strategy
from .record import record_init
from .subset import SubsetReport, check_next

_PROBE_BARS = (2_000, 20_000)


@dataclass(frozen=True)
class IndicatorReport:
    indicator: Indicator
    warmup: int  # index of its first value with no NaN line (backtesting.py's rule)

    @property
    def source(self) -> str:
        call = self.indicator.kernel
        return f"kernel {call.describe()}" if call else "window node (recomputed on the window)"


@dataclass(frozen=True)
class StrategyReport:
    loaded: LoadedStrategy
    indicators: list[IndicatorReport]
    next_report: SubsetReport

    @property
    def warmup(self) -> int:
        """W: the largest indicator warm-up; next() first runs on bar 1 + W (0-based)."""
        return max((r.warmup for r in self.indicators if not r.indicator.scatter), default=0)

    @property
    def bars_needed(self) -> int:
        """Bars of history before every indicator has a value: W + 1."""
        return self.warmup + 1


def _warmups(path: str, indicators: list[Indicator]) -> list[int]:
    """Evaluate every indicator on synthetic bars with its own function, as backtesting.py does."""
    for n_bars in _PROBE_BARS:
        bars = demo_bars(n_bars, 1, seed=7)
        columns = {name: getattr(bars, name.lower())[:, 0] for name in FIELDS}
        cache: dict = {}
        try:
            values = [np.atleast_2d(evaluate(ind, columns, cache)) for ind in indicators]
        except Exception as err:
            raise StrategyError(path, f"an indicator function raised {type(err).__name__}: {err}") from None
        warmups = [int(np.isnan(v).argmin(axis=-1).max()) for v in values]
        if all(not np.isnan(v[:, -1]).any() for v in values):
            return warmups
    names = [ind.label for ind, v in zip(indicators, values, strict=True) if np.isnan(v[:, -1]).any()]
    raise StrategyError(path, f"indicators never produce a value in {_PROBE_BARS[-1]:,} bars: "
                        + ", ".join(names))


def analyse(path: str | Path, class_name: str | None = None, overrides: dict | None = None,
            lookback: int | None = None) -> StrategyReport:
    """Load, record and check a strategy; raise `StrategyError` for anything the user must fix."""
    loaded = load_strategy(path, class_name, overrides)
    indicators = record_init(loaded)
    reports = [IndicatorReport(ind, w) for ind, w in zip(indicators, _warmups(str(loaded.path), indicators),
                                                          strict=True)]
    names = {ind.attr for ind in indicators if ind.attr}
    report = StrategyReport(loaded, reports, check_next(loaded.cls, names, set(loaded.params)))
    declared = lookback if lookback is not None else loaded.lookback
    if declared is not None and declared < report.bars_needed:
        source = "--lookback" if lookback is not None else "LOOKBACK"
        raise StrategyError(str(loaded.path), f"{source} = {declared} is shorter than the warm-up its "
                            f"indicators need: {report.bars_needed} bars",
                            hint=f"set {source} to at least {report.bars_needed}")
    return report


def format_report(report: StrategyReport) -> str:
    """The text `sqfast check` prints."""
    loaded = report.loaded
    lines = [f"{loaded.path}: {loaded.name}"]
    params = ", ".join(f"{k}={v!r}" for k, v in loaded.params.items()) or "(none)"
    lines.append(f"  parameters: {params}")
    lines.append("  indicators:" if report.indicators else "  indicators: (none)")
    for r in report.indicators:
        lines.append(f"    {r.indicator.label}: {r.source}; first value on bar {r.warmup}")
    lookback = f"; LOOKBACK = {loaded.lookback}" if loaded.lookback is not None else ""
    first = report.warmup + 1
    bars = "bar" if report.bars_needed == 1 else "bars"
    lines.append(f"  warm-up: {report.bars_needed} {bars}; next() first runs on bar {first}{lookback}")
    lines.append(f"  next(): {describe_next(report)}")
    return "\n".join(lines)


def describe_next(report: StrategyReport) -> str:
    """`compiled (...)` after compiling the step, or the line that keeps `next()` in Python."""
    from .translate import compile_step

    if not report.next_report.compiled:
        return report.next_report.describe(str(report.loaded.path))
    compiled = compile_step(report)
    source = "loaded from the compile cache" if compiled.from_cache else "translated and compiled"
    return f"compiled ({source} in {compiled.seconds:.2f} s)"
