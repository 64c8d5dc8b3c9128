"""Replay one strategy over one symbol's bars with the simulated broker, in backtesting.py's
order: at each bar from `1 + warm-up`, pending orders are processed at the bar, then the
strategy decides. The decision runs the strategy's real `next()` (the Python path)."""

from dataclasses import dataclass

import numpy as np

from .compile.analysis import StrategyReport
from .compile.evaluate import evaluate
from .compile.graph import Indicator
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


def run_symbol(report: StrategyReport, columns: dict[str, np.ndarray], index,
               options: BrokerOptions) -> SymbolRun:
    """Replay `report`'s strategy over one symbol's `columns` (Open, High, Low, Close, Volume)."""
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
