"""The live engine: a configured portfolio of translated strategies, one closed interval at a time.

Each strategy's allocation of the capital is split evenly over its symbols into independent
sub-accounts, so every symbol behaves exactly as a single-symbol backtest with that cash (and
a paper run gives the trades `sqfast replay` gives on the same bars). Per closed feed interval,
for each strategy (on bars aggregated to its own granularity when coarser than the feed's): the
sub-accounts with a bar fill their pending orders, one compiled step call decides for every
symbol with a bar, and each order passes the risk gate before it is placed. Everything the
interval changed is journaled in one transaction.

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

from .aggregator import BarAggregator
from .compile.analysis import StrategyReport, analyse
from .compile.translate import compile_step
from .config_types import RunConfig, StrategyConfig
from .errors import SqfastError, StrategyError
from .fallback import PlacedOrder
from .journal import Interval, Journal, client_order_id
from .replay_engine import BrokerOptions
from .risk import OrderCheck, RiskGate
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
        self.known: dict[str, str] = {}  # journaled order id -> state, during re-simulation
        self.replaying = False
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
        return StrategySlot(strategy, report, symbols, local, universe_rows, runner,
                            max(declared, report.bars_needed),
                            seconds, aggregator, np.zeros(len(symbols)),
                            np.zeros(len(symbols), dtype=np.int64), np.full(len(symbols), capital),
                            np.zeros(len(symbols)), np.zeros(len(symbols)))

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
        started = time.perf_counter()
        in_steps = sum(slot.runner.step_seconds for slot in self.slots)
        for slot in self.slots if slots is None else slots:
            batches = slot.aggregator.add(interval) if slot.aggregator else [interval]
            if slot.aggregator and len(interval):
                batches += slot.aggregator.advance(ts + self.feed_seconds * NS_PER_SECOND)
            for batch in batches:
                if len(batch):
                    self._strategy_bar(slot, batch, tx, trading, stats)
            if tx is not None and trading:
                tx.progress(slot.id, ts)
        stats.seconds = time.perf_counter() - started
        stats.step_seconds = sum(slot.runner.step_seconds for slot in self.slots) - in_steps
        stats.equity = self.equity()
        return stats

    def _strategy_bar(self, slot: StrategySlot, batch: BarBatch, tx: Interval | None, trading: bool,
                      stats: IntervalStats) -> None:
        local = slot.local[batch.sym]
        keep = np.flatnonzero(local >= 0)
        if not len(keep):
            return
        keep = keep[np.argsort(local[keep], kind="stable")]
        rows = local[keep]
        columns = batch.columns()
        bars = {f: columns[f.lower()][keep] for f in FIELDS}
        ts = int(batch.ts[0])
        slot.ts[rows] = batch.ts[keep]
        slot.close[rows] = bars["Close"]
        closes = dict(zip(rows.tolist(), bars["Close"].tolist(), strict=True))
        accepted: list[tuple[int, str, PlacedOrder]] = []
        gate = self._gate(slot, ts, closes, tx, stats, accepted) if trading else None
        slot.runner.on_bars(rows, bars, gate)
        if not trading:
            return
        for row, cid, order in accepted:
            slot.runner.books.track(row, cid, order)
        changed = sorted({*slot.runner.touched, *(row for row, _, _ in accepted)})
        self._journal_bar(slot, changed, tx)

    # ------------------------------------------------------------------ orders
    def _gate(self, slot: StrategySlot, ts: int, closes: dict[int, float], tx: Interval | None,
              stats: IntervalStats, accepted: list):
        """The risk gate for `slot`'s orders on this bar: journals each one, returns its id as the
        order's tag when it may go out, False when it is blocked (or in signals mode)."""
        sequence: dict[int, int] = {}
        closing: dict[int, float] = {}  # row -> share of its position closed by this bar's orders
        run_id = self.journal.run_id if self.journal is not None else "run"

        def gate(row: int, order: PlacedOrder):
            symbol = slot.symbols[row]
            seq = sequence[row] = sequence.get(row, -1) + 1
            cid = client_order_id(run_id, slot.id, symbol, ts, seq)
            if self.replaying and self.config.mode == "signals":
                return False  # signals were journaled the first time; nothing was placed
            if self.replaying:
                state = self.known.get(cid)
                if state is None:
                    raise SqfastError(f"restart: the journal has no order {cid} ({slot.id} {symbol} at bar "
                                      f"{ts}) that re-simulation produced; the run directory does not "
                                      "match this configuration or data")
                if state == "blocked":
                    return False
                accepted.append((row, cid, order))
                return cid
            check = self._check(slot, row, order, closes[row], closing.get(row, 0.0))
            stats.signals += 1
            if tx is not None:
                tx.signal(slot.id, symbol, ts, order.side, order.size if order.side != "close" else None,
                          limit=order.limit, stop=order.stop, sl=order.sl, tp=order.tp,
                          portion=order.size if order.side == "close" else None)
            stats.lines.append(_signal_line(slot.id, symbol, order, closes[row]))
            if self.config.verbosity >= 1:
                values = slot.runner.indicators_at(row)
                stats.lines.append("      " + "  ".join(f"{k}={v:.6g}" for k, v in values.items()))
            if self.config.mode == "signals":
                return False
            reason = self.risk.check(check, ts)
            side = order.side if order.side != "close" else ("sell" if check.position_before > 0 else "buy")
            size = check.units
            if tx is not None:
                tx.order(cid, slot.id, symbol, ts, side, size, type=_order_type(order), limit=order.limit,
                         stop=order.stop, sl=order.sl, tp=order.tp,
                         state="blocked" if reason else "submitted", reason=reason)
            if reason:
                stats.blocked += 1
                stats.lines.append(f"  blocked: {reason}")
                return False
            stats.orders += 1
            self._gross += abs(check.delta) * check.price
            if order.side == "close":
                closing[row] = closing.get(row, 0.0) + (1 - closing.get(row, 0.0)) * order.size
            accepted.append((row, cid, order))
            return cid

        return gate

    def _check(self, slot: StrategySlot, row: int, order: PlacedOrder, price: float,
               closed_share: float) -> OrderCheck:
        """The order as the risk gate sees it. Earlier closes of this bar count as done: the
        position they leave, and the margin they free for a fraction-sized order."""
        books = slot.runner.books
        held = books.units(row)
        before = held * (1 - closed_share)
        leverage = books.leverage(row)
        if order.side == "close":
            units = abs(before) * order.size
        elif order.size >= 1:
            units = order.size
        else:  # backtesting.py sizes a fraction of the available margin at fill time; estimate now
            free = books.margin_available(row) + abs(held - before) * price / leverage
            units = float(int(order.size * free * leverage / price))
        universe_row = slot.universe_rows[row]
        symbol_units = sum(float(other.units[other.local[universe_row]]) for other in self.slots
                           if other.local[universe_row] >= 0)
        if self._gross is None:
            self._gross = self.gross_exposure()
        return OrderCheck(order.side, units, price, before, symbol_units, self._gross)

    def gross_exposure(self) -> float:
        """Every strategy's positions, valued at the last closes."""
        total = 0.0
        for slot in self.slots:
            rows = np.flatnonzero(slot.units)
            prices = self.last_close[slot.universe_rows[rows]]
            total += float(np.nansum(np.abs(slot.units[rows]) * prices))
        return total

    def _journal_bar(self, slot: StrategySlot, rows: list[int], tx: Interval | None) -> None:
        """The fills, closed trades, order states and positions of the sub-accounts whose orders
        were processed or placed on this bar (kept in step during re-simulation too, then not
        journaled)."""
        books = slot.runner.books
        for row in rows:
            ts = int(slot.ts[row])
            fills, closed, states = books.bar_events(row, int(slot.runner.bars[row]) - 1, ts)
            units, average, realised = books.position_row(row)
            changed = units != slot.units[row] or fills
            slot.units[row] = units
            slot.cash[row] = books.cash(row)
            slot.cost[row] = books.cost(row) if units else 0.0
            if tx is None:
                continue
            symbol = slot.symbols[row]
            for fill in fills:
                tx.fill(fill.execution_id, fill.client_order_id, slot.id, symbol, fill.side, fill.qty,
                        fill.price, ts)
            for trade, entry_ts in closed:
                tx.trade(slot.id, symbol, trade.size, entry_ts, ts, trade.entry_price, trade.exit_price,
                         trade.pl, trade.commission)
            for cid, state in states.items():
                tx.order_state(cid, state)
            if changed:
                tx.position(slot.id, symbol, units, average, realised, ts)

    # ------------------------------------------------------------------ portfolio
    def equity(self) -> float:
        return float(sum(self.strategy_equity(slot)[0] for slot in self.slots))

    def strategy_equity(self, slot: StrategySlot) -> tuple[float, float]:
        """(equity, cash) of a strategy: its sub-accounts summed, open trades at the last closes
        (as each sub-account values them), from the engine's per-row books."""
        cash = float(slot.cash.sum())
        held = np.flatnonzero(slot.units)
        return cash + float((slot.units[held] * slot.close[held] - slot.cost[held]).sum()), cash


def _order_type(order: PlacedOrder) -> str:
    if order.limit is not None and order.stop is not None:
        return "stop_limit"
    return "limit" if order.limit is not None else ("stop" if order.stop is not None else "market")


def _signal_line(strategy: str, symbol: str, order: PlacedOrder, close: float) -> str:
    """One console line for a signal."""
    what = f"close {order.size:g}" if order.side == "close" else f"{order.side} {order.size:g}"
    given = (("limit", order.limit), ("stop", order.stop), ("sl", order.sl), ("tp", order.tp))
    prices = " ".join(f"{k}={v:.4g}" for k, v in given if v is not None)
    return f"  {strategy:<14} {symbol:<8} {what:<14} @ {close:.4f} {prices}".rstrip()
