"""`sqfast replay`: one strategy over many symbols' history with the simulated broker.

Each symbol is an independent sub-account holding `cash`, exactly as a separate backtesting.py
run on that symbol would be; the summary treats them together as one portfolio.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from .bars_io import SymbolBars, read_bars
from .compile.analysis import analyse
from .compile.translate import compile_step
from .errors import SqfastError
from .replay_engine import BrokerOptions, SymbolRun, run_compiled, run_symbol
from .replay_fast import FastRun, run_fast, supported

TRADE_SCHEMA = {"symbol": pl.Utf8, "size": pl.Int64, "entry_bar": pl.Int64, "exit_bar": pl.Int64,
                "entry_price": pl.Float64, "exit_price": pl.Float64, "entry_time": pl.Datetime("ns"),
                "exit_time": pl.Datetime("ns"), "pnl": pl.Float64}
ORDER_SCHEMA = {"symbol": pl.Utf8, "bar": pl.Int64, "side": pl.Utf8, "size": pl.Float64, "limit": pl.Float64,
                "stop": pl.Float64, "sl": pl.Float64, "tp": pl.Float64}


@dataclass(frozen=True)
class ReplayResult:
    """Tables from a replay: one row per trade, per order placed by `next()`, and the summary."""

    trades: pl.DataFrame
    orders: pl.DataFrame
    summary: pl.DataFrame


def _trade_rows(bars: SymbolBars, run: SymbolRun) -> list[tuple]:
    return [(bars.symbol, int(t.size), t.entry_bar, t.exit_bar, t.entry_price, t.exit_price,
             bars.times[t.entry_bar].item(), bars.times[t.exit_bar].item(), t.pl) for t in run.trades]


def _fast_tables(all_bars: list[SymbolBars], run: FastRun) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The trades and orders tables of a compiled replay, built column by column, in the Python
    paths' order (by symbol, then in closing / placing order)."""
    names = np.array([b.symbol for b in all_bars], dtype=object)
    offsets = np.concatenate([[0], np.cumsum([len(b.times) for b in all_bars])]).astype(np.int64)
    times = np.concatenate([b.times.astype("datetime64[ns]") for b in all_bars]) if all_bars else \
        np.zeros(0, "datetime64[ns]")
    t = run.trades
    by = np.argsort(t.sym, kind="stable")
    sym, entry, exit_ = t.sym[by], t.entry_bar[by], t.exit_bar[by]
    trades = pl.DataFrame({
        "symbol": names[sym].tolist(), "size": t.size[by].astype(np.int64), "entry_bar": entry,
        "exit_bar": exit_, "entry_price": t.entry_price[by], "exit_price": t.exit_price[by],
        "entry_time": times[offsets[sym] + entry], "exit_time": times[offsets[sym] + exit_], "pnl": t.pnl[by],
    }, schema=TRADE_SCHEMA)
    log = run.log[np.argsort(run.log[:, 0], kind="stable")]
    code = log[:, 2].astype(np.int64)
    orders = pl.DataFrame({
        "symbol": names[log[:, 0].astype(np.int64)].tolist(), "bar": log[:, 1].astype(np.int64),
        "side": np.array(["", "buy", "sell", "close"])[code].tolist(),
        "size": np.where(code == 3, log[:, 8], log[:, 3]),
        **{name: log[:, 4 + k] for k, name in enumerate(("limit", "stop", "sl", "tp"))},
    }, schema=ORDER_SCHEMA).with_columns(pl.col("limit", "stop", "sl", "tp").fill_nan(None))
    return trades, orders


def _order_rows(bars: SymbolBars, run: SymbolRun) -> list[tuple]:
    return [(bars.symbol, o.bar, o.side, o.size, o.limit, o.stop, o.sl, o.tp) for o in run.orders]


def _equity_on(times: np.ndarray, bars: SymbolBars, run: SymbolRun, cash: float) -> np.ndarray:
    """The symbol's equity at each of `times` (union timeline), carried forward between its bars."""
    curve = np.full(len(bars), cash)
    bar_numbers, equity = run.account.equity_curve()
    curve[np.asarray(bar_numbers, dtype=np.int64)] = equity
    last = bar_numbers[-1] if bar_numbers else -1
    if last + 1 < len(curve):
        curve[last + 1:] = equity[-1] if equity else cash
    position = np.searchsorted(bars.times, times, side="right") - 1
    return np.where(position >= 0, curve[np.maximum(position, 0)], cash)


def _bars_per_year(times: np.ndarray) -> float:
    """Bars in a year for annualising: trading days (252, or 365 when weekend bars exist) times
    the median number of bars per day (or the fraction of a day a bar spans)."""
    if len(times) < 2:
        return 252.0
    days = times.astype("datetime64[D]").astype(np.int64)
    trading_days = 365.0 if ((days + 3) % 7 >= 5).any() else 252.0  # 1970-01-01 was a Thursday
    spacing_days = np.median(np.diff(times.astype("datetime64[ns]").astype(np.int64))) / 86_400e9
    if spacing_days >= 1.0:
        return trading_days / spacing_days
    return trading_days * float(np.median(np.unique(days, return_counts=True)[1]))


def _python_tables(all_bars: list[SymbolBars], runs, cash: float, progress) -> tuple:
    """Trades, orders, portfolio equity and the union timeline from per-symbol runs."""
    trade_rows, order_rows = [], []
    times = _union_times(all_bars)
    equity = np.zeros(len(times))
    for k, (bars, run) in enumerate(zip(all_bars, runs, strict=True)):
        trade_rows += _trade_rows(bars, run)
        order_rows += _order_rows(bars, run)
        equity += _equity_on(times, bars, run, cash)
        if progress:
            progress(k + 1, len(all_bars))
    return (pl.DataFrame(trade_rows, schema=TRADE_SCHEMA, orient="row"),
            pl.DataFrame(order_rows, schema=ORDER_SCHEMA, orient="row"), equity, times)


def _union_times(all_bars: list[SymbolBars]) -> np.ndarray:
    if not all_bars:
        return np.zeros(0, "datetime64[ns]")
    return np.unique(np.concatenate([b.times for b in all_bars]))


def summarise(name: str, trades: pl.DataFrame, equity: np.ndarray, times: np.ndarray,
              n_symbols: int) -> pl.DataFrame:
    """Return, max drawdown, trades, win rate and Sharpe of the portfolio of sub-accounts."""
    start, end = float(equity[0]), float(equity[-1])
    peak = np.maximum.accumulate(equity)
    drawdown = float(np.max((peak - equity) / peak)) if len(equity) else 0.0
    returns = np.diff(equity) / equity[:-1] if len(equity) > 1 else np.zeros(0)
    sd = returns.std(ddof=1) if len(returns) > 1 else 0.0
    sharpe = float(returns.mean() / sd * np.sqrt(_bars_per_year(times))) if sd > 0 else float("nan")
    n_trades = trades.height
    wins = trades.filter(pl.col("pnl") > 0).height
    return pl.DataFrame({
        "strategy": [name], "symbols": [n_symbols], "trades": [n_trades],
        "return_pct": [100.0 * (end / start - 1.0)], "max_drawdown_pct": [100.0 * drawdown],
        "win_rate_pct": [100.0 * wins / n_trades if n_trades else float("nan")], "sharpe": [sharpe],
    })


def replay(strategy: str | Path, data: str | Path | list[SymbolBars], symbols: list[str] | None = None, *,
           class_name: str | None = None, params: dict | None = None, python: bool = False,
           progress: Callable[[int, int], None] | None = None, **broker) -> ReplayResult:
    """Replay `strategy` over every symbol in `data` (a path, or bars already read).

    Decisions come from the compiled step when `next()` is within the compiled subset (unless
    `python=True`), else from the strategy's own `next()`. `broker` takes backtesting.py's
    `Backtest` options: cash, commission, spread, margin, trade_on_close, hedging,
    exclusive_orders, finalize_trades.
    """
    try:
        options = BrokerOptions(**broker)
        options.account()  # validates cash, commission, spread and margin before any work
    except (TypeError, ValueError) as err:
        raise SqfastError(f"broker options: {err}") from None
    report = analyse(strategy, class_name, params)
    compiled = None if python else compile_step(report)
    all_bars = read_bars(data, symbols) if isinstance(data, str | Path) else data
    columns = [(b.columns, b.times) for b in all_bars]
    if compiled is not None and supported(options):  # the whole replay in one compiled loop
        fast = run_fast(report, compiled, columns, options)
        trades, orders = _fast_tables(all_bars, fast)
        equity, times = fast.equity, fast.times
        if progress:
            progress(len(all_bars), len(all_bars))
    else:
        if compiled is not None:  # one step call per time, the Python broker per symbol
            runs = run_compiled(report, compiled, columns, options)
        else:
            runs = (run_symbol(report, c, t, options) for c, t in columns)
        trades, orders, equity, times = _python_tables(all_bars, runs, options.cash, progress)
    summary = summarise(report.loaded.name, trades, equity if len(equity) else np.array([options.cash]),
                        times, len(all_bars))
    summary = summary.with_columns(decisions=pl.lit("compiled" if compiled else "python"))
    return ReplayResult(trades, orders, summary)


def write_table(frame: pl.DataFrame, path: str | Path) -> None:
    """Write a result table as CSV or Parquet, by the file's suffix."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        frame.write_parquet(path)
    elif path.suffix.lower() == ".csv":
        frame.write_csv(path)
    else:
        raise SqfastError(f"{path}: write results to a .csv or .parquet file")


class ProgressLine:
    """Prints `replayed k/n symbols` to a stream at most every `every` seconds, and at the end."""

    def __init__(self, stream, every: float = 1.0):
        self.stream, self.every, self.last = stream, every, time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - self.last >= self.every:
            self.last = now
            print(f"replayed {done}/{total} symbols", file=self.stream, flush=True)
