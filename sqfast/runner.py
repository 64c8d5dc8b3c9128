"""One strategy over its symbols, one bar time at a time: the unit of work of live runs.

For each call, in backtesting.py's order: every symbol with a bar first has its pending orders
processed at that bar by its own simulated sub-account (when trading), then the strategy decides
on the bar's close — the compiled step for all those symbols in one call, or the strategy's own
`next()` per symbol (the Python fallback). A compiled step's orders come back as one
`OrderBatch`, which the caller (the engine) checks against the risk limits before placing the
ones that pass; the Python fallback's go through the caller's gate one by one.

Bars are counted per symbol, so a symbol's bar index means what it means in a backtest of that
symbol alone. Indicators that no kernel computes in the step (window nodes, indicators of
indicators), and every indicator of a Python-fallback strategy, are recomputed on the symbol's
whole history at each of its bars: correct, slower, and reported by `sqfast check`.
"""

import time
from collections.abc import Callable

import numpy as np

from .books import make_books
from .compile.analysis import StrategyReport
from .compile.graph import FIELDS
from .compile.translate import CompiledStep, StepArrays
from .fallback import PlacedOrder, PythonStep
from .order_batch import OrderBatch, StepDecoder
from .replay_engine import BrokerOptions, indicator_values
from .sim.compiled_layout import ACT_CLOSE, ACT_CODE

SymbolGate = Callable[[int, PlacedOrder], object]
"""Approves symbol row's order before it reaches its sub-account (the engine's risk checks); see
`fallback.Gate` for what it returns."""


def _refuse(order: PlacedOrder) -> bool:
    return False


_NO_ORDERS = OrderBatch(np.zeros(0, dtype=np.int64), np.zeros((0, 8)))


class History:
    """Every bar each symbol has had, in columns that grow by doubling."""

    def __init__(self, n_symbols: int, capacity: int = 256):
        self.columns = [{f: np.empty(capacity) for f in FIELDS} for _ in range(n_symbols)]
        self.length = np.zeros(n_symbols, dtype=np.int64)

    def append(self, rows: np.ndarray, bars: dict[str, np.ndarray]) -> None:
        for j, s in enumerate(rows.tolist()):
            n, columns = self.length[s], self.columns[s]
            if n == len(columns["Close"]):
                for f in FIELDS:
                    grown = np.empty(2 * n)
                    grown[:n] = columns[f]
                    columns[f] = grown
            for f in FIELDS:
                columns[f][n] = bars[f][j]
            self.length[s] = n + 1

    def of(self, s: int) -> dict[str, np.ndarray]:
        """Symbol `s`'s bars so far (views)."""
        n = self.length[s]
        return {f: column[:n] for f, column in self.columns[s].items()}


class StrategyRunner:
    """A strategy, its per-symbol state and its sub-accounts (`books`, one per symbol row)."""

    def __init__(self, report: StrategyReport, compiled: CompiledStep | None, n_symbols: int,
                 options: BrokerOptions):
        self.report, self.compiled, self.n_symbols = report, compiled, n_symbols
        self.start = 1 + report.warmup  # a symbol's first decision bar
        self.bars = np.zeros(n_symbols, dtype=np.int64)  # bars seen per symbol
        self.books = make_books(n_symbols, options, compiled is not None)
        self.stopped = np.zeros(n_symbols, dtype=np.bool_)  # out of money: no more decisions
        self.step_seconds = 0.0  # time in the compiled step so far
        indicators = [r.indicator for r in report.indicators]
        if compiled is not None:
            self.arrays = StepArrays(compiled.layout, n_symbols)
            self.decoder = StepDecoder(self.arrays)
            self.external = [i for i in indicators if i.attr in compiled.layout.external]
            self.history = History(n_symbols) if self.external else None
        else:
            self.indicators = indicators
            self.history = History(n_symbols)
            self.steps: list[PythonStep | None] = [None] * n_symbols

    def on_bars(self, rows: np.ndarray, bars: dict[str, np.ndarray], ts: int,
                gate: SymbolGate | None, on_filled: Callable[[], None] | None = None) -> OrderBatch:
        """Advance the symbols `rows` (this strategy's rows, increasing) by one bar each, starting
        at `ts`, given as arrays aligned with `rows`. With a `gate` (trading), fill their pending
        orders first (`books.events` then says what happened; `on_filled` is called), then
        decide: a compiled step's orders come back as a batch for the caller to check and
        `place`; the Python fallback's orders go through `gate` one by one as next() makes them.
        Without a gate (warm-up), only indicators and strategy state advance."""
        if self.stopped.any():
            keep = ~self.stopped[rows]
            rows, bars = rows[keep], {f: v[keep] for f, v in bars.items()}
        index = self.bars[rows]
        self.bars[rows] = index + 1
        if self.history is not None:
            self.history.append(rows, bars)
        if gate is not None:
            self._fill(rows, index, bars, ts)
            if on_filled is not None:
                on_filled()
        if self.compiled is not None:
            return self._decide_compiled(rows, index, bars, gate is not None)
        self._decide_python(rows, index, gate)
        return _NO_ORDERS

    def place(self, batch: OrderBatch, cids: list[str | None]) -> None:
        """Hand a compiled step's approved orders to the sub-accounts (None: placed untracked)."""
        self.books.place(batch, cids)

    # ------------------------------------------------------------------ broker
    def _fill(self, rows: np.ndarray, index: np.ndarray, bars: dict[str, np.ndarray], ts: int) -> None:
        """Process each symbol's pending orders at its bar (from its first decision bar on) and
        copy what next() reads of its position; rows out of money stop deciding."""
        started = index >= self.start
        if not started.all():
            rows, index, bars = rows[started], index[started], {f: v[started] for f, v in bars.items()}
        fields = self.compiled.layout.position_fields if self.compiled is not None else []
        position = self.arrays.position if self.compiled is not None else {}
        bust = self.books.process(rows, index, bars, position, fields, ts)
        self.stopped[bust] = True

    # ------------------------------------------------------------------ decisions
    def _decide_compiled(self, rows: np.ndarray, index: np.ndarray, bars: dict[str, np.ndarray],
                         trading: bool) -> OrderBatch:
        arrays, m = self.arrays, len(rows)
        for field, values in arrays.bar.items():
            values[:m] = bars[field]
        for indicator in self.external:
            for j, s in enumerate(rows.tolist()):
                value = np.atleast_2d(indicator_values([indicator], self.history.of(s))[indicator.attr])
                if arrays.external[indicator.attr].shape[0] != value.shape[0]:
                    arrays.external[indicator.attr] = np.zeros((value.shape[0], self.n_symbols))
                arrays.external[indicator.attr][:, j] = value[:, -1]
        started = time.perf_counter()
        arrays.call(self.compiled.step, rows, m == self.n_symbols)
        self.step_seconds += time.perf_counter() - started
        self._last_rows = rows
        if not trading:
            return _NO_ORDERS
        deciding = rows[(index >= self.start) & ~self.stopped[rows]]
        batch = self.decoder.decode(deciding)
        if len(batch):
            close = batch.values[:, ACT_CODE] == ACT_CLOSE
            if close.any():  # position.close() with nothing open places nothing
                batch = batch.take(~close | self.books.has_trades(batch.rows))
        return batch

    def _decide_python(self, rows: np.ndarray, index: np.ndarray, gate: SymbolGate | None) -> None:
        """Run the strategy's own next() per symbol past its warm-up; during the run's warm-up
        (no gate) it runs too, so its state advances, but every order is refused."""
        loaded = self.report.loaded
        for s, bar in zip(rows.tolist(), index.tolist(), strict=True):
            if bar < self.start or self.stopped[s]:
                continue
            columns = self.history.of(s)
            step = self.steps[s]
            if step is None:
                step = self.steps[s] = PythonStep(loaded.cls, loaded.params, columns, None, {},
                                                  self.books.accounts[s])
            step.data._columns = columns
            step.indicators = indicator_values(self.indicators, columns)
            step.advance(bar)
            step.broker.placed = []
            step.broker.gate = (lambda o, s=s: gate(s, o)) if gate is not None else _refuse
            step.decide()

    def indicators_at(self, row: int) -> dict[str, float]:
        """Each indicator line's value for symbol `row` at its last bar (for `--verbose`)."""
        values: dict[str, float] = {}
        if self.compiled is None:
            step = self.steps[row]
            for name, series in (step.indicators.items() if step is not None else ()):
                lines = np.atleast_2d(series)
                for k in range(lines.shape[0]):
                    values[name if lines.shape[0] == 1 else f"{name}[{k}]"] = float(lines[k, -1])
            return values
        arrays = self.arrays
        for name, out in arrays.kernel_outputs.items():
            lines = out if isinstance(out, tuple) else (out,)
            for k, line in enumerate(lines):
                values[name if len(lines) == 1 else f"{name}[{k}]"] = float(line[row])
        for name in arrays.external:
            position = np.flatnonzero(self._last_rows == row)
            if len(position):
                for k, value in enumerate(arrays.external[name][:, position[0]].tolist()):
                    values[name if arrays.external[name].shape[0] == 1 else f"{name}[{k}]"] = value
        return values

