"""Replay on the compiled path end to end: the strategy's compiled replay loop drives the compiled
step and the compiled broker over the whole union timeline in one Numba call.

Used by `sqfast.replay` whenever the strategy compiles and the broker options are ones the
compiled broker supports (all but a callable commission); the results equal the Python-broker
path's, which tests/test_replay_fast.py checks, and so backtesting.py's.
"""

from dataclasses import dataclass

import numpy as np

from .compile.analysis import StrategyReport
from .compile.intents import ACTION_WIDTH, site_tables
from .compile.replay_loop import LOG_FULL
from .compile.translate import CompiledStep, StepArrays
from .errors import SqfastError
from .fallback import PlacedOrder
from .replay_engine import SIDES, BrokerOptions, indicator_values
from .sim.compiled import (
    ERROR_REASONS,
    ClosedTrades,
    broker_finalize,
    broker_init,
    closed_trades,
    out_of_money,
    supports_options,
)
from .sim.compiled_layout import F_EQUITY, NEED_CAPACITY, grow

FIELDS = ("Open", "High", "Low", "Close", "Volume")


@dataclass(frozen=True)
class FastRun:
    """What a compiled replay produced, as arrays: every closed trade (in closing order), every
    order next() placed (`log` rows: symbol row, bar, then ACTION_FIELDS, in placing order), and the
    portfolio's equity on the union timeline `times`."""

    trades: ClosedTrades
    log: np.ndarray
    equity: np.ndarray
    times: np.ndarray

    def trades_of(self, s: int) -> ClosedTrades:
        return self.trades.of(s)

    def orders_of(self, s: int) -> list[PlacedOrder]:
        """Symbol row `s`'s orders, as the Python paths record them."""
        orders = []
        for _, bar, code, size, limit, stop, sl, tp, portion in self.log[self.log[:, 0] == s].tolist():
            amount = portion if code == 3 else size
            orders.append(PlacedOrder(int(bar), SIDES[int(code)], amount,
                                      *(None if x != x else x for x in (limit, stop, sl, tp))))
        return orders


def supported(options: BrokerOptions) -> bool:
    return supports_options(commission=options.commission)


def run_fast(report: StrategyReport, compiled: CompiledStep, symbols: list[tuple[dict, np.ndarray]],
             options: BrokerOptions) -> FastRun:
    """Replay every symbol (`(columns, times)` pairs) in one compiled loop."""
    layout = compiled.layout
    n = len(symbols)
    times = np.unique(np.concatenate([t for _, t in symbols])) if n else np.zeros(0, "datetime64[ns]")
    rows = np.concatenate([np.full(len(t), s, dtype=np.int64) for s, (_, t) in enumerate(symbols)]) if n \
        else np.zeros(0, np.int64)
    at = np.concatenate([np.searchsorted(times, t) for _, t in symbols]) if n else np.zeros(0, np.int64)
    bar_index = np.concatenate([np.arange(len(t)) for _, t in symbols]) if n else np.zeros(0, np.int64)
    order = np.argsort(at, kind="stable")  # by time, then symbol row (rows were concatenated in order)
    rows, at, bar_index = rows[order], at[order], bar_index[order].astype(np.int64)
    ptr = np.searchsorted(at, np.arange(len(times) + 1)).astype(np.int64)
    entries = [np.concatenate([c[f] for c, _ in symbols])[order] if n else np.zeros(0) for f in FIELDS]
    indicators = [r.indicator for r in report.indicators if r.indicator.attr in layout.external]
    external = []
    for name in layout.external:
        per_symbol = [np.atleast_2d(indicator_values(indicators, c)[name]) for c, _ in symbols]
        external.append(np.ascontiguousarray(np.concatenate(per_symbol, axis=1)[:, order]))

    arrays = StepArrays(layout, n)
    for name, lines in zip(layout.external, external, strict=True):
        arrays.external[name] = np.zeros((lines.shape[0], n))
    state = broker_init(n, cash=options.cash, spread=options.spread, commission=options.commission,
                        margin=options.margin, trade_on_close=options.trade_on_close, hedging=options.hedging,
                        exclusive_orders=options.exclusive_orders, record_equity=False,
                        log_capacity=max(1024, len(rows) // 16))
    literal, slots = site_tables(layout.sites)
    n_actions = max(1, len(layout.sites))
    act = np.full((n, n_actions, ACTION_WIDTH), np.nan)
    n_act = np.zeros(n, np.int64)
    buffers = [np.zeros(n, np.int64), np.zeros(n, np.int64), *(np.zeros(n) for _ in range(4)),
               np.zeros(n, np.int64), np.zeros(n, np.int64)]
    counts, running = np.zeros(3, np.int64), np.array([n * options.cash])
    position = [np.zeros(n) for _ in range(4)]
    last_equity = np.full(n, options.cash)
    equity = np.full(len(times), n * options.cash)
    log = np.zeros((max(1024, len(rows) // 8), 9))
    step_args = [*arrays.bar.values(), *arrays._kernels, *arrays.external.values(), *arrays.rings.values(),
                 arrays.bars, *arrays.since, arrays.fired, arrays.args]
    phase, t = 0, 0
    while True:
        t, phase, status = compiled.replay_loop(
            phase, t, ptr, rows, bar_index, *entries, *external, 1 + report.warmup, state, *buffers, counts,
            running, *position, last_equity, equity, act, n_act, literal, slots, log, *step_args)
        if status == NEED_CAPACITY:
            state = grow(state)
        elif status == LOG_FULL:
            log = np.concatenate([log, np.zeros_like(log)])
        elif status < 0:
            raise RuntimeError(f"compiled replay: broker status {status} at time {t} (a bug in sqfast)")
        elif status > 0:
            raise SqfastError(_refused(state, int(status), report, symbols))
        elif t == len(times):
            break
    if options.finalize_trades:
        state = _finalize(state, symbols, rows, at, report.warmup + 1, last_equity, equity)
    return FastRun(closed_trades(state), log[:counts[2]], equity, times)


def _finalize(state, symbols, rows, at, start, last_equity, equity):
    """backtesting.py's finalize_trades: close what is open on each live symbol's last bar, and
    carry its new equity from there to the end of the timeline."""
    n_bars = np.array([len(t) for _, t in symbols], dtype=np.int64)
    alive = np.flatnonzero(~out_of_money(state) & (n_bars > start))
    state = broker_finalize(state, alive, n_bars[alive] - 1)
    last_time = np.zeros(len(symbols), dtype=np.int64)
    np.maximum.at(last_time, rows, at)
    for s in alive.tolist():
        equity[last_time[s]:] += state.sf[s, F_EQUITY] - last_equity[s]
    return state


def _refused(state, n_errors: int, report: StrategyReport, symbols) -> str:
    """backtesting.py would have raised in next(): say where and why, as one line."""
    s, bar, _, code = state.errors[0].tolist()
    more = f" (and {n_errors - 1} more)" if n_errors > 1 else ""
    return (f"{report.loaded.path}: next() placed an order the broker refuses (symbol row {int(s)}, bar "
            f"{int(bar)}): {ERROR_REASONS[int(code)]}{more}")
