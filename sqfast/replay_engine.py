"""Replay one strategy over one symbol's bars with the simulated broker, in backtesting.py's
order: at each bar from `1 + warm-up`, pending orders are processed at the bar, then the
strategy decides. The decision runs the strategy's real `next()` (the Python path)."""

from dataclasses import dataclass

import numpy as np

from .compile.analysis import StrategyReport
from .compile.codegen import ACTION_ARRAYS, MAX_ACTIONS
from .compile.evaluate import evaluate
from .compile.graph import Indicator
from .compile.translate import CompiledStep
from .fallback import PlacedOrder, PythonStep
from .sim import SimAccount, Trade


@dataclass(frozen=True)
class BrokerOptions:
    """The simulated broker's settings, named and defaulted as in backtesting.py's `Backtest`."""

    cash: float = 10_000.0
    commission: object = 0.0
    spread: float = 0.0
    margin: float = 1.0
    trade_on_close: bool = False
    hedging: bool = False
    exclusive_orders: bool = False
    finalize_trades: bool = False

    def account(self) -> SimAccount:
        return SimAccount(cash=self.cash, commission=self.commission, spread=self.spread, margin=self.margin,
                          trade_on_close=self.trade_on_close, hedging=self.hedging,
                          exclusive_orders=self.exclusive_orders)


@dataclass
class SymbolRun:
    """What one symbol's replay produced."""

    trades: list[Trade]
    orders: list[PlacedOrder]
    account: SimAccount
    start: int


def _kernel_values(indicator: Indicator, columns: dict[str, np.ndarray], cache: dict) -> np.ndarray:
    """The indicator computed by its kernel, from the first bar where all inputs are finite."""
    call = indicator.kernel
    inputs = [np.broadcast_to(np.asarray(evaluate(node, columns, cache), dtype=np.float64),
                              columns["Close"].shape) for node in call.inputs]
    finite = np.logical_and.reduce([np.isfinite(x) for x in inputs])
    begin = int(np.argmax(finite)) if finite.any() else len(finite)
    lines = np.full((len(call.lines), len(finite)), np.nan)
    if begin < len(finite):
        outputs = call.spec.batch(*[x[begin:] for x in inputs], **call.params)
        by_name = dict(zip(call.spec.outputs, outputs if isinstance(outputs, tuple) else (outputs,),
                           strict=True))
        for j, line in enumerate(call.lines):
            lines[j, begin:] = by_name[line]
    return lines[0] if len(call.lines) == 1 else lines


def indicator_values(indicators: list[Indicator], columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each named indicator's whole history: kernels where mapped, the function itself otherwise."""
    cache: dict = {}
    values = {}
    for indicator in indicators:
        if indicator.kernel is not None:
            value = _kernel_values(indicator, columns, cache)
        else:
            value = evaluate(indicator, columns, cache)
        cache[id(indicator)] = value
        if indicator.attr:
            values[indicator.attr] = value
    return values


def _series_values(name: str, values: dict[str, np.ndarray], columns: dict[str, np.ndarray]) -> np.ndarray:
    """The whole history of a series the compiled step reads: `sma1`, `bands[0]` or `Close`."""
    if name in columns:
        return columns[name]
    attr, _, line = name.partition("[")
    value = values[attr]
    return np.atleast_2d(value)[int(line.rstrip("]"))] if line else value


def _none_if_nan(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


class CompiledSymbol:
    """One symbol driven through a compiled step, with the arrays the step reads and writes."""

    def __init__(self, compiled: CompiledStep, history: dict[str, np.ndarray], account: SimAccount):
        layout = compiled.layout
        self.step, self.account, self.history, self.placed = compiled.step, account, history, []
        self.sym = np.zeros(1, dtype=np.int64)
        self.ready = np.zeros(1, dtype=np.bool_)
        self.bars = np.zeros(1, dtype=np.int64)
        self.series = {name: np.full((layout.depth[name], 1), np.nan) for name in layout.series}
        self.position = [np.zeros(1) for _ in layout.position_fields]
        self.since = [np.full(1, -1, dtype=np.int64) for _ in range(layout.n_barssince)]
        self.actions = [np.full((MAX_ACTIONS, 1), np.nan) for _ in ACTION_ARRAYS]
        self.n_act = np.zeros(1, dtype=np.int64)

    def advance(self, i: int, ready: bool) -> None:
        """Run the step for bar `i`, then hand its actions to the account."""
        for name, window in self.series.items():
            values = self.history[name]
            for k in range(window.shape[0]):
                window[k, 0] = values[i - k] if i - k >= 0 else np.nan
        self.ready[0], self.bars[0] = ready, i + 1
        if ready:
            position = self.account.position
            for array, value in zip(self.position, (position.size, position.pl, position.pl_pct,
                                                    self.account.equity), strict=True):
                array[0] = value
        self.step(self.sym, self.ready, self.bars, *self.series.values(), *self.position, *self.since,
                  *self.actions, self.n_act)
        for k in range(self.n_act[0]):
            self.apply(i, *(a[k, 0] for a in self.actions))

    def apply(self, bar: int, code, size, limit, stop, sl, tp, portion) -> None:
        if code == 3:
            self.account.position.close(portion)
            return
        side = "buy" if code == 1 else "sell"
        prices = [_none_if_nan(p) for p in (limit, stop, sl, tp)]
        getattr(self.account, side)(size, *prices)
        self.placed.append(PlacedOrder(bar, side, size, *prices))


def run_symbol(report: StrategyReport, columns: dict[str, np.ndarray], index,
               options: BrokerOptions, compiled: CompiledStep | None = None) -> SymbolRun:
    """Replay `report`'s strategy over one symbol's `columns` (Open, High, Low, Close, Volume),
    deciding with the compiled step when given, else with the strategy's own `next()`."""
    if compiled is not None:
        return _run_compiled(report, columns, options, compiled)
    indicators = [r.indicator for r in report.indicators]
    account = options.account()
    step = PythonStep(report.loaded.cls, report.loaded.params, columns, index,
                      indicator_values(indicators, columns), account)
    o, h, low, c = (columns[name] for name in ("Open", "High", "Low", "Close"))
    start = 1 + report.warmup
    n_bars = len(c)
    for i in range(start, n_bars):
        step.advance(i)
        account.process_bar(i, o[i], h[i], low[i], c[i])
        if account.out_of_money:
            break
        step.decide()
    else:
        if options.finalize_trades and start < n_bars:
            account.finalize(n_bars - 1)
    return SymbolRun(list(account.closed_trades), step.broker.placed, account, start)


def _run_compiled(report: StrategyReport, columns: dict[str, np.ndarray], options: BrokerOptions,
                  compiled: CompiledStep) -> SymbolRun:
    values = indicator_values([r.indicator for r in report.indicators], columns)
    history = {name: _series_values(name, values, columns) for name in compiled.layout.series}
    account = options.account()
    driver = CompiledSymbol(compiled, history, account)
    o, h, low, c = (columns[name] for name in ("Open", "High", "Low", "Close"))
    start = 1 + report.warmup
    n_bars = len(c)
    for i in range(n_bars):
        if i >= start:
            account.process_bar(i, o[i], h[i], low[i], c[i])
            if account.out_of_money:
                break
        driver.advance(i, i >= start)
    else:
        if options.finalize_trades and start < n_bars:
            account.finalize(n_bars - 1)
    return SymbolRun(list(account.closed_trades), driver.placed, account, start)
