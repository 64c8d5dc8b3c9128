"""From a strategy's orders on one bar to approved, journaled, placed orders.

Every order gets its deterministic client order id and a signal row; then (unless in `signals`
mode) the risk gate decides, and the order is journaled as `submitted` or `blocked` with the
reason before it reaches its sub-account. The gate sees each order's units and the
sub-account's position after this bar's fills, with earlier closes of this bar on the row
counted as done, and every strategy's position in the symbol (`RiskGate.check_many`). Approved
plain market orders are offered to the portfolio's netting (`sqfast.net_ledger`).

A compiled step's orders arrive as one `OrderBatch` and are placed in one call; the Python
fallback's arrive one at a time through `python_gate` while next() runs. Both use `admit`.

During re-simulation (restart) nothing is checked or journaled again: an order is placed in
memory exactly as the journal recorded it (sent or blocked).
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .errors import SqfastError
from .fallback import PlacedOrder
from .journal import client_order_id
from .order_batch import SIDE_NAMES, OrderBatch
from .sim.compiled_layout import ACT_CLOSE, ACT_LIMIT, ACT_PORTION, ACT_TP

if TYPE_CHECKING:
    from .engine import Engine, IntervalStats, StrategySlot

MAX_LINES = 20  # signal lines kept for the console when not verbose (it prints a count beyond)


@dataclass
class JournalRows:
    """One interval's journal rows, collected by the engine and written in bulk at its end."""

    signals: list = field(default_factory=list)
    orders: list = field(default_factory=list)
    states: list = field(default_factory=list)
    fills: list = field(default_factory=list)
    positions: list = field(default_factory=list)
    trades: list = field(default_factory=list)
    net_states: list = field(default_factory=list)  # (net id, state, filled qty, average price)

    def write(self, tx) -> None:
        """Into the interval's transaction, orders before anything that refers to them."""
        tx.signal_rows(self.signals)
        tx.order_rows(self.orders)
        tx.order_state_rows(self.states)
        tx.order_state_rows(self.net_states)
        tx.fill_rows(self.fills)
        tx.trade_rows(self.trades)
        tx.position_rows(self.positions)


class Admission:
    """Admits one strategy's orders of one bar (module docstring)."""

    def __init__(self, engine: "Engine", slot: "StrategySlot", ts: int, rows: JournalRows,
                 stats: "IntervalStats"):
        self.engine, self.slot, self.ts, self.rows, self.stats = engine, slot, ts, rows, stats
        self.run_id = engine.journal.run_id if engine.journal is not None else "run"
        self.closing: dict[int, float] = {}  # row -> share of its position closed by this bar's orders
        self.sequence: dict[int, int] = {}  # row -> orders the Python fallback made so far this bar
        self.signals_only = engine.config.mode == "signals"
        self.verbose = engine.config.verbosity >= 1

    # ------------------------------------------------------------------ entry points
    def batch(self, orders: OrderBatch) -> None:
        """A compiled step's orders: admit them, place the approved ones in one call."""
        margin = np.zeros(len(orders))
        fraction = (orders.codes != ACT_CLOSE) & (orders.amount() < 1)
        if fraction.any():
            margin[fraction] = self.slot.runner.books.margin_available(orders.rows[fraction])
        cids = self.admit(orders, orders.sequence(), margin)
        approved = [j for j, cid in enumerate(cids) if cid]
        if approved:
            chosen = np.array(approved, dtype=np.int64)
            self.slot.runner.place(orders.take(chosen), [cids[j] for j in approved])

    def python_gate(self, row: int, order: PlacedOrder):
        """The Python fallback's gate: the order's client id when it may go out, else False."""
        seq = self.sequence[row] = self.sequence.get(row, -1) + 1
        batch = OrderBatch.of([(row, order)])
        margin = np.zeros(1)
        if order.side != "close" and order.size < 1:
            margin = self.slot.runner.books.margin_available(batch.rows)
        cid = self.admit(batch, np.array([seq]), margin)[0]
        if cid:
            self.slot.runner.books.track(row, cid, order)
        return cid

    # ------------------------------------------------------------------ the orders
    def admit(self, orders: OrderBatch, seq: np.ndarray, margin_available: np.ndarray) -> list:
        """Check and journal `orders` (in the order they are sent); each one's client id if it
        may go out, else False."""
        engine, slot, ts = self.engine, self.slot, self.ts
        rows = orders.rows.tolist()
        symbols = [slot.symbols[r] for r in rows]
        cids = [client_order_id(self.run_id, slot.id, symbol, ts, k)
                for symbol, k in zip(symbols, seq.tolist(), strict=True)]
        codes, amount = orders.codes, orders.amount()
        units, before = self._sizes(orders, codes, amount, margin_available)
        if engine.replaying:
            return self._as_journaled(orders, cids, symbols, units, before)
        price = slot.close[orders.rows]
        self._signals(orders, symbols, amount)
        if self.signals_only:
            return [False] * len(rows)
        reasons, gross = engine.risk.check_many(codes, units, price, before,
                                                engine.symbol_units[slot.universe_rows[orders.rows]],
                                                engine.gross(), ts)
        engine.set_gross(gross)
        first = len(self.rows.orders)
        prices = orders.values[:, ACT_LIMIT:ACT_TP + 1]  # limit, stop, sl, tp (NaN: none; journaled NULL)
        self.rows.orders += [
            (cid, slot.id, symbol, ts, side, size, kind, limit, stop, sl, tp,
             "blocked" if reason else "submitted", reason, None)
            for cid, symbol, side, size, kind, (limit, stop, sl, tp), reason in zip(
                cids, symbols, _sides(codes, before), units.tolist(), _order_types(prices), prices.tolist(),
                reasons, strict=True)]
        verdicts: list = []
        for j, reason in enumerate(reasons):
            if reason:
                self.stats.blocked += 1
                self._line(f"  blocked: {reason}")
                verdicts.append(False)
                continue
            self.stats.orders += 1
            if codes[j] == ACT_CLOSE:
                done = self.closing.get(rows[j], 0.0)
                self.closing[rows[j]] = done + (1 - done) * float(amount[j])
            verdicts.append(cids[j])
        self._offer(np.array([bool(v) for v in verdicts]), orders, cids, symbols, units, before, first)
        return verdicts

    def _sizes(self, orders: OrderBatch, codes: np.ndarray, amount: np.ndarray,
               margin_available: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each order's units and the row's position before it: the position after this bar's
        fills, less what earlier closes of this bar on the row take (counted as done). An order
        sized as a fraction of the available margin is sized as backtesting.py would at this
        close, on the margin those closes free."""
        slot, rows = self.slot, orders.rows
        price = slot.close[rows]
        held = slot.units[rows]
        share = np.zeros(len(rows))
        repeated = len(rows) > 1 and bool((rows[1:] == rows[:-1]).any())
        if self.closing or repeated:
            closing = dict(self.closing)
            for j, (row, code) in enumerate(zip(rows.tolist(), codes.tolist(), strict=True)):
                share[j] = closing.get(row, 0.0)
                if code == ACT_CLOSE:
                    closing[row] = share[j] + (1 - share[j]) * float(amount[j])
        before = held * (1 - share)
        leverage = slot.runner.books.leverage
        free = margin_available + np.abs(held - before) * price / leverage
        with np.errstate(invalid="ignore", divide="ignore"):
            fraction = np.floor(amount * free * leverage / price)
        units = np.where(codes == ACT_CLOSE, np.abs(before) * amount, np.where(amount >= 1, amount, fraction))
        return units, before

    def _as_journaled(self, orders: OrderBatch, cids: list[str], symbols: list[str], units: np.ndarray,
                      before: np.ndarray) -> list:
        """Re-simulation: each order as the journal recorded it (sent or blocked)."""
        engine, slot = self.engine, self.slot
        if engine.config.mode == "signals":
            return [False] * len(cids)  # signals were journaled the first time; nothing was placed
        verdicts: list = []
        for cid, symbol in zip(cids, symbols, strict=True):
            state = engine.known.get(cid)
            if state is None:
                raise SqfastError(f"restart: the journal has no order {cid} ({slot.id} {symbol} at bar "
                                  f"{self.ts}) that re-simulation produced; the run directory does not "
                                  "match this configuration or data")
            verdicts.append(cid if state != "blocked" else False)
        self._offer(np.array([bool(v) for v in verdicts]), orders, cids, symbols, units, before, None)
        return verdicts

    def _offer(self, approved: np.ndarray, orders: OrderBatch, cids: list[str], symbols: list[str],
               units: np.ndarray, before: np.ndarray, first: int | None) -> None:
        """The approved plain market orders (no prices, no brackets) are the portfolio's netting
        candidates; `first` is the first order's index in the interval's order rows (None while
        re-simulating, when nothing is journaled)."""
        codes = orders.codes
        plain = approved & (units > 0) & np.isnan(orders.values[:, ACT_LIMIT:ACT_TP + 1]).all(axis=1)
        picked = np.flatnonzero(plain)
        if not len(picked):
            return
        buys = (codes == 1) | ((codes == ACT_CLOSE) & (before < 0))
        signed = np.where(buys, units, -units)[picked].tolist()
        self.engine.netting.offer(self.slot, [symbols[j] for j in picked.tolist()],
                                  [cids[j] for j in picked.tolist()], signed,
                                  None if first is None else (first + picked).tolist())

    def _signals(self, orders: OrderBatch, symbols: list[str], amount: np.ndarray) -> None:
        slot, ts = self.slot, self.ts
        values = orders.values[:, :ACT_PORTION + 1].tolist()
        self.rows.signals += [
            (slot.id, symbol, ts, SIDE_NAMES[int(v[0])], None if v[0] == ACT_CLOSE else v[1],
             *v[ACT_LIMIT:ACT_TP + 1], v[6] if v[0] == ACT_CLOSE else None, None)
            for symbol, v in zip(symbols, values, strict=True)]
        self.stats.signals += len(symbols)
        for j, symbol in enumerate(symbols):
            if not self._room():
                self.stats.hidden_lines += len(symbols) - j - 1
                return
            row = int(orders.rows[j])
            line = _signal_line(slot.id, symbol, orders.placed(j, 0), float(slot.close[row]))
            self.stats.lines.append(line)
            if self.verbose:
                values = slot.runner.indicators_at(row)
                self.stats.lines.append("      " + "  ".join(f"{k}={v:.6g}" for k, v in values.items()))

    def _line(self, text: str) -> None:
        if self._room():
            self.stats.lines.append(text)

    def _room(self) -> bool:
        """Whether another console line is kept: beyond MAX_LINES per interval they are only
        counted (the console prints the count), unless verbose."""
        if self.verbose or len(self.stats.lines) < MAX_LINES:
            return True
        self.stats.hidden_lines += 1
        return False


def _sides(codes: np.ndarray, before: np.ndarray) -> list[str]:
    """The broker side of each order: a close sells a long and buys back a short."""
    return [SIDE_NAMES[c] if c != ACT_CLOSE else ("sell" if b > 0 else "buy")
            for c, b in zip(codes.tolist(), before.tolist(), strict=True)]


def _order_types(prices: np.ndarray) -> list[str]:
    """market, limit, stop or stop_limit, from the limit and stop columns."""
    limit, stop = ~np.isnan(prices[:, 0]), ~np.isnan(prices[:, 1])
    kinds = np.where(limit & stop, "stop_limit", np.where(limit, "limit", np.where(stop, "stop", "market")))
    return kinds.tolist()


def _signal_line(strategy: str, symbol: str, order: PlacedOrder, close: float) -> str:
    """One console line for a signal."""
    what = f"close {order.size:g}" if order.side == "close" else f"{order.side} {order.size:g}"
    given = (("limit", order.limit), ("stop", order.stop), ("sl", order.sl), ("tp", order.tp))
    prices = " ".join(f"{k}={v:.4g}" for k, v in given if v is not None)
    return f"  {strategy:<14} {symbol:<8} {what:<14} @ {close:.4f} {prices}".rstrip()
