"""The live engine: a configured portfolio of translated strategies, one closed interval at a time.

Each strategy's allocation of the capital is split evenly over its symbols into independent
sub-accounts, so every symbol behaves exactly as a single-symbol backtest with that cash (and
a paper run gives the trades `sqfast replay` gives on the same bars). Per closed feed interval,
for each strategy (on bars aggregated to its own granularity when coarser than the feed's): the
sub-accounts with a bar fill their pending orders, one compiled step call decides for every
symbol with a bar, and each order passes the risk gate before it is placed (`admission`). At
the interval's end, several strategies' market orders on one symbol are netted into one broker
order (`net_ledger`), and everything the interval changed is journaled in one transaction.

Three phases share this path:
- warm-up: history before the run's first interval advances indicators and strategy state;
  nothing is placed or journaled;
- re-simulation (restart): the run's own past intervals, from history, rebuild every
  sub-account; an order already in the journal is placed again in memory as the journal says
  (sent or blocked), never journaled or risk-checked twice;
- live: new intervals from the feed.

Modes: `signals` journals what the strategies asked for and places nothing; `paper` fills on the
simulated broker at the next bar's open, as replay does.
"""

import time
from dataclasses import dataclass, field

import numpy as np

from .admission import Admission, JournalRows
from .aggregator import BarAggregator
from .compile.analysis import StrategyReport, analyse
from .compile.translate import compile_step
from .config_types import RunConfig, StrategyConfig
from .errors import SqfastError, StrategyError
from .journal import Interval, Journal
from .net_ledger import NetLedger
from .replay_engine import BrokerOptions
from .risk import RiskGate
from .runner import StrategyRunner
from .types import NS_PER_SECOND, BarBatch

FIELDS = ("Open", "High", "Low", "Close", "Volume")


@dataclass
class StrategySlot:
    """One strategy of the portfolio and its state in the engine."""

    config: StrategyConfig
    report: StrategyReport
    symbols: tuple[str, ...]
    local: np.ndarray  # universe row -> this strategy's row, -1 when it does not trade the symbol
    universe_rows: np.ndarray  # this strategy's row -> universe row
    runner: StrategyRunner
    lookback: int  # bars of history at its granularity before the run starts
    granularity_seconds: int
    aggregator: BarAggregator | None
    units: np.ndarray  # signed position units per row, after the last bar
    ts: np.ndarray  # bar start of each row's last bar (ns)
    cash: np.ndarray  # each sub-account's cash (0 once out of money)
    cost: np.ndarray  # sum of size x entry price of each row's open trades
    close: np.ndarray  # each row's last close, for the open trades' value
    closed_trades: int = 0
    won_trades: int = 0

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def compiled(self) -> bool:
        return self.runner.compiled is not None


@dataclass
class IntervalStats:
    """What one interval did, for the console's status line."""

    ts_ns: int
    bars: int = 0
    signals: int = 0
    orders: int = 0
    blocked: int = 0
    fills: int = 0
    net_orders: int = 0  # broker orders netting several strategies' orders
    hidden_lines: int = 0  # signal lines beyond what the console shows when not verbose
    step_seconds: float = 0.0  # in the strategies' compiled steps
    seconds: float = 0.0  # the whole interval in the engine
    equity: float = 0.0
    lines: list[str] = field(default_factory=list)  # one per signal


def load_strategies(config: RunConfig) -> list[tuple[StrategyConfig, StrategyReport]]:
    """Load, record and check every strategy before anything starts; errors name the portfolio line."""
    loaded = []
    for strategy in config.strategies:
        try:
            loaded.append((strategy, analyse(strategy.file, strategy.class_name, strategy.params,
                                             config.lookback)))
        except StrategyError as err:
            where = f" (strategy {strategy.id!r}, {strategy.origin})" if strategy.origin else ""
            raise SqfastError(f"{err}{where}") from None
    return loaded


class Engine:
    """The portfolio, its sub-accounts, the risk gate and the journal; driven interval by interval."""

    def __init__(self, config: RunConfig, strategies: list[tuple[StrategyConfig, StrategyReport]],
                 journal: Journal | None):
        self.config, self.journal = config, journal
        self.universe = config.symbols
        self.universe_row = {symbol: row for row, symbol in enumerate(self.universe)}
        self.feed_seconds = config.granularity.seconds
        self.risk = RiskGate(config.risk)
        self.slots = [self._slot(strategy, report) for strategy, report in strategies]
        self.last_close = np.full(len(self.universe), np.nan)
        self.symbol_units = np.zeros(len(self.universe))  # every strategy's units in each symbol
        self.known: dict[str, str] = {}  # journaled order id -> state, during re-simulation
        self.replaying = False
        self.netting = NetLedger(journal.run_id if journal is not None else "run")
        self._gross: float | None = None

    def _slot(self, strategy: StrategyConfig, report: StrategyReport) -> StrategySlot:
        symbols = self.config.symbols_of(strategy)
        row_of = {s: k for k, s in enumerate(symbols)}
        local = np.array([row_of.get(s, -1) for s in self.universe], dtype=np.int64)
        capital = self.config.capital * strategy.allocation / len(symbols)
        runner = StrategyRunner(report, compile_step(report), len(symbols), BrokerOptions(cash=capital))
        seconds = self.config.granularity_of(strategy).seconds
        aggregator = (BarAggregator(len(self.universe), self.feed_seconds, seconds)
                      if seconds != self.feed_seconds else None)
        declared = self.config.lookback or report.loaded.lookback or 0
        universe_rows = np.array([self.universe_row[s] for s in symbols], dtype=np.int64)
        n = len(symbols)
        return StrategySlot(strategy, report, symbols, local, universe_rows, runner,
                            max(declared, report.bars_needed), seconds, aggregator, np.zeros(n),
                            np.zeros(n, dtype=np.int64), np.full(n, capital), np.zeros(n), np.zeros(n))

    # ------------------------------------------------------------------ phases
    def history_ns(self) -> int:
        """How far before the run's start warm-up history must reach."""
        return max(slot.lookback * slot.granularity_seconds for slot in self.slots) * NS_PER_SECOND

    def warm_up(self, interval: BarBatch, start_ns: int) -> None:
        """A history interval before the run's start (`start_ns`): indicators and strategy state
        only, for each strategy from its own lookback on, so that it sees exactly the bars a
        backtest starting there would."""
        ts = int(interval.ts[0]) if len(interval) else start_ns
        ready = [slot for slot in self.slots
                 if ts >= start_ns - slot.lookback * slot.granularity_seconds * NS_PER_SECOND]
        self._interval(interval, None, slots=ready)

    def resimulate(self, interval: BarBatch) -> None:
        """One of the run's own past intervals, at restart: rebuild the sub-accounts; the
        journal already holds its orders."""
        self.replaying = True
        try:
            self._interval(interval, None, trading=True)
        finally:
            self.replaying = False

    def live(self, interval: BarBatch, tx: Interval) -> IntervalStats:
        """A new closed interval from the feed, journaled in `tx`."""
        return self._interval(interval, tx, trading=True)

    # ------------------------------------------------------------------ one interval
    def _interval(self, interval: BarBatch, tx: Interval | None, trading: bool = False,
                  slots: list[StrategySlot] | None = None) -> IntervalStats:
        ts = int(interval.ts[0]) if len(interval) else 0
        stats = IntervalStats(ts, bars=len(interval))
        if len(interval):
            self.last_close[interval.sym] = interval.close
        if trading:
            self.risk.new_bar(ts, self.equity())
        self._gross = None  # computed at the first order of the interval
        rows = JournalRows()
        started = time.perf_counter()
        in_steps = sum(slot.runner.step_seconds for slot in self.slots)
        for slot in self.slots if slots is None else slots:
            batches = slot.aggregator.add(interval) if slot.aggregator else [interval]
            if slot.aggregator and len(interval):
                batches += slot.aggregator.advance(ts + self.feed_seconds * NS_PER_SECOND)
            for batch in batches:
                if len(batch):
                    self._strategy_bar(slot, batch, rows, trading, stats)
        if trading:
            self.netting.close_interval(ts, rows, stats)
        if tx is not None and trading:
            rows.write(tx)
            for slot in self.slots:
                tx.progress(slot.id, ts)
        stats.seconds = time.perf_counter() - started
        stats.step_seconds = sum(slot.runner.step_seconds for slot in self.slots) - in_steps
        stats.equity = self.equity()
        return stats

    def _strategy_bar(self, slot: StrategySlot, batch: BarBatch, rows: JournalRows, trading: bool,
                      stats: IntervalStats) -> None:
        local = slot.local[batch.sym]
        keep = np.flatnonzero(local >= 0)
        if not len(keep):
            return
        keep = keep[np.argsort(local[keep], kind="stable")]
        own = local[keep]
        columns = batch.columns()
        bars = {f: columns[f.lower()][keep] for f in FIELDS}
        ts = int(batch.ts[0])
        slot.ts[own] = batch.ts[keep]
        slot.close[own] = bars["Close"]
        if not trading:
            slot.runner.on_bars(own, bars, ts, None)
            return
        admission = Admission(self, slot, ts, rows, stats)
        orders = slot.runner.on_bars(own, bars, ts, admission.python_gate,
                                     on_filled=lambda: self._book(slot, ts, rows))
        if len(orders):
            admission.batch(orders)

    def _book(self, slot: StrategySlot, ts: int, rows: JournalRows) -> None:
        """After the sub-accounts filled at this bar: their fills, closed trades and order states
        into the journal's rows, and their positions into the engine's per-row books (and the
        journal's positions, for those that moved)."""
        books = slot.runner.books
        events, symbols, sid = books.events, slot.symbols, slot.id
        rows.fills += [(eid, cid, sid, symbols[row], side, qty, price, ts, 0.0)
                       for row, eid, cid, side, qty, price in events.fills]
        rows.trades += [(sid, symbols[row], t.size, entry_ts, ts, t.entry_price, t.exit_price, t.pl,
                         t.commission) for row, t, entry_ts in events.closed]
        rows.states += events.states
        self.netting.on_events(events.states, events.fills, rows)
        slot.closed_trades += len(events.closed)
        slot.won_trades += sum(1 for _, t, _ in events.closed if t.pl > 0)
        changed, units, cost, cash, realised = books.positions()
        if not len(changed):
            return
        before = slot.units[changed]
        moved = units != before
        if events.fills:
            moved |= np.isin(changed, np.fromiter((f[0] for f in events.fills), dtype=np.int64))
        slot.units[changed] = units
        slot.cash[changed] = cash
        slot.cost[changed] = np.where(units != 0, cost, 0.0)
        np.add.at(self.symbol_units, slot.universe_rows[changed], units - before)
        for j in np.flatnonzero(moved).tolist():
            u = float(units[j])
            rows.positions.append((sid, symbols[int(changed[j])], u, float(cost[j]) / u if u else None,
                                   float(realised[j]), ts))

    # ------------------------------------------------------------------ portfolio
    def gross(self) -> float:
        """Gross exposure for the risk gate: at the interval's first order, every position at the
        last closes; then the risk gate adds each approved order's notional (`set_gross`)."""
        if self._gross is None:
            self._gross = self.gross_exposure()
        return self._gross

    def set_gross(self, gross: float) -> None:
        self._gross = gross

    def gross_exposure(self) -> float:
        """Every strategy's positions, valued at the last closes."""
        total = 0.0
        for slot in self.slots:
            rows = np.flatnonzero(slot.units)
            prices = self.last_close[slot.universe_rows[rows]]
            total += float(np.nansum(np.abs(slot.units[rows]) * prices))
        return total

    def equity(self) -> float:
        return float(sum(self.strategy_equity(slot)[0] for slot in self.slots))

    def strategy_equity(self, slot: StrategySlot) -> tuple[float, float]:
        """(equity, cash) of a strategy: its sub-accounts summed, open trades at the last closes
        (as each sub-account values them), from the engine's per-row books."""
        cash = float(slot.cash.sum())
        held = np.flatnonzero(slot.units)
        return cash + float((slot.units[held] * slot.close[held] - slot.cost[held]).sum()), cash
