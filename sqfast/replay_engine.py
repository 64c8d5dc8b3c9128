"""Replay one strategy over one symbol's bars with the simulated broker, in backtesting.py's
order: at each bar from `1 + warm-up`, pending orders are processed at the bar, then the
strategy decides. The decision runs the strategy's real `next()` (the Python path)."""

from dataclasses import dataclass

import numpy as np

from .compile.analysis import StrategyReport
from .compile.evaluate import evaluate
from .compile.graph import Indicator
from .compile.intents import actions_of
from .compile.translate import CompiledStep, StepArrays
from .fallback import PlacedOrder, PythonStep, send
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


SIDES = {1: "buy", 2: "sell", 3: "close"}  # action codes of the compiled step


def step_orders(arrays: StepArrays, s: int, bar: int) -> list[PlacedOrder]:
    """The orders the compiled step's next() made for symbol row `s` on its bar `bar`, in order."""
    orders = []
    for code, size, limit, stop, sl, tp, portion in actions_of(arrays.layout.sites, int(arrays.fired[s]),
                                                                arrays.args[s]):
        prices = (None if x != x else float(x) for x in (limit, stop, sl, tp))
        orders.append(PlacedOrder(bar, SIDES[int(code)], float(portion if code == 3 else size), *prices))
    return orders


def _apply_actions(arrays: StepArrays, s: int, bar: int, account: SimAccount, placed: list) -> None:
    """Hand symbol `s`'s actions from this step to its account, in the order next() made them."""
    for order in step_orders(arrays, s, bar):
        send(account, order, placed)


def _broker_bar(account: SimAccount, arrays: StepArrays, layout, s: int, cols: dict, bar: int,
                start: int) -> bool:
    """Process symbol `s`'s pending orders at `bar` (from its first decision bar on) and copy its
    position into the step's arrays; False if the account ran out of money (its run ends)."""
    if bar < start:
        return True
    account.process_bar(bar, cols["Open"][bar], cols["High"][bar], cols["Low"][bar], cols["Close"][bar])
    if account.out_of_money:
        return False
    position = account.position
    values = {"pos_size": position.size, "pos_pl": position.pl, "pos_pl_pct": position.pl_pct,
              "equity": account.equity}
    for name in layout.position_fields:
        arrays.position[name][s] = values[name]
    return True


def run_compiled(report: StrategyReport, compiled: CompiledStep, symbols: list[tuple[dict, np.ndarray]],
                 options: BrokerOptions) -> list[SymbolRun]:
    """Replay many symbols at once: one compiled step call per time on the union of their
    timelines, for the symbols that have a bar then. `symbols` holds (columns, times) pairs."""
    layout = compiled.layout
    n = len(symbols)
    arrays = StepArrays(layout, n)
    accounts = [options.account() for _ in symbols]
    placed: list[list[PlacedOrder]] = [[] for _ in symbols]
    start = 1 + report.warmup
    indicators = [r.indicator for r in report.indicators if r.indicator.attr in layout.external]
    external = [{a: np.atleast_2d(v) for a, v in indicator_values(indicators, cols).items()}
                for cols, _ in symbols]
    for name in layout.external:
        arrays.external[name] = np.zeros((external[0][name].shape[0], n)) if n else np.zeros((1, 0))
    times = np.unique(np.concatenate([t for _, t in symbols])) if n else np.zeros(0)
    rows = [np.searchsorted(times, t) for _, t in symbols]
    at_time = [[] for _ in times]
    for s, r in enumerate(rows):
        for bar, t in enumerate(r):
            at_time[t].append((s, bar))
    alive = np.ones(n, dtype=np.bool_)
    for entries in at_time:
        live = [(s, bar) for s, bar in entries if alive[s] and _broker_bar(accounts[s], arrays, layout, s,
                                                                          symbols[s][0], bar, start)]
        alive[[s for s, _ in entries]] = [not accounts[s].out_of_money for s, _ in entries]
        if not live:
            continue
        for j, (s, bar) in enumerate(live):
            cols = symbols[s][0]
            for field, values in arrays.bar.items():
                values[j] = cols[field][bar]
            for name in layout.external:
                arrays.external[name][:, j] = external[s][name][:, bar]
        sym = np.array([s for s, _ in live], dtype=np.int64)
        arrays.call(compiled.step, sym, len(sym) == n)
        for s, bar in live:
            if arrays.fired[s]:
                _apply_actions(arrays, s, bar, accounts[s], placed[s])
    runs = []
    for s, (cols, _) in enumerate(symbols):
        n_bars = len(cols["Close"])
        if options.finalize_trades and alive[s] and start < n_bars:
            accounts[s].finalize(n_bars - 1)
        runs.append(SymbolRun(list(accounts[s].closed_trades), placed[s], accounts[s], start))
    return runs


def run_symbol(report: StrategyReport, columns: dict[str, np.ndarray], index,
               options: BrokerOptions, compiled: CompiledStep | None = None) -> SymbolRun:
    """Replay `report`'s strategy over one symbol's `columns` (Open, High, Low, Close, Volume),
    deciding with the compiled step when given, else with the strategy's own `next()`."""
    if compiled is not None:
        return run_compiled(report, compiled, [(columns, np.arange(len(columns["Close"])))], options)[0]
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
