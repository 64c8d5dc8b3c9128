"""A strategy's sub-accounts (one per symbol row) behind one interface, on either simulated broker.

- `SimBooks`: a Python `SimAccount` per row. Any strategy; the only choice for the Python
  fallback (its `next()` talks to the account) and for a callable commission.
- `CompiledBooks`: the compiled broker (`sqfast.sim.compiled`), all rows in arrays, one call per
  bar for every row. Compiled steps with any other options; same fills, bit for bit.

Both give the engine, per bar: the rows whose orders were processed (only those can have filled,
cancelled or closed anything), then for those rows the journal's view (`bar_events`): new fills,
newly closed trades with their entry bar's time, and the final state of orders that left the
queue. An order carries its client order id: as the `SimAccount` order's tag, or in
`CompiledBooks` as the broker's order id, which the trade it opens keeps (`T_ORDER`, `C_ORDER`).
Fills name the order that opened the trade, as in the journal's documentation.
"""

from dataclasses import dataclass, field

import numpy as np

from .fallback import PlacedOrder, send
from .ledger import FillRow, SubAccountBook, bar_events, fill_rows, position_row
from .replay_engine import BrokerOptions
from .sim.compiled import broker_act, broker_bar, broker_init, out_of_money, supports_options
from .sim.compiled_layout import (
    C_COMMISSION,
    C_ENTRY_BAR,
    C_ENTRY_PRICE,
    C_EXIT_BAR,
    C_EXIT_PRICE,
    C_ORDER,
    C_PNL,
    C_SIZE,
    C_SYM,
    ENTRY,
    F_CASH,
    F_CLOSE,
    G_N_CLOSED,
    O_ID,
    O_ROLE,
    OPT_LEVERAGE,
    S_BUST,
    S_N_ORDERS,
    S_N_TRADES,
    S_NEXT_ID,
    S_ORDER_OFF,
    S_TRADE_OFF,
    T_ENTRY_BAR,
    T_ENTRY_PRICE,
    T_ORDER,
    T_SIZE,
)

POSITION_FIELDS = ("pos_size", "pos_pl", "pos_pl_pct", "equity")
CODES = {"buy": 1.0, "sell": 2.0, "close": 3.0}


@dataclass(frozen=True)
class ClosedTrade:
    """A closed trade (or a closed part of one), as the journal and the console need it."""

    size: float
    entry_bar: int
    exit_bar: int
    entry_price: float
    exit_price: float
    pl: float
    commission: float


def make_books(n_symbols: int, options: BrokerOptions, compiled_step: bool):
    """The compiled broker for a compiled step when it supports the options, else SimAccounts."""
    if compiled_step and supports_options(commission=options.commission):
        return CompiledBooks(n_symbols, options)
    return SimBooks(n_symbols, options)


class SimBooks:
    """A `SimAccount` per row."""

    def __init__(self, n_symbols: int, options: BrokerOptions):
        self.accounts = [options.account() for _ in range(n_symbols)]
        self.books = [SubAccountBook() for _ in range(n_symbols)]

    def process(self, rows: np.ndarray, index: np.ndarray, bars: dict[str, np.ndarray],
                position: dict[str, np.ndarray], fields: list[str]) -> tuple[list[int], list[int]]:
        """Fill pending orders at each row's bar; write the position `fields` next() reads.
        Returns (touched rows, rows that went out of money)."""
        o, h, low, c = (bars[f] for f in ("Open", "High", "Low", "Close"))
        touched, bust = [], []
        for j, s in enumerate(rows.tolist()):
            account = self.accounts[s]
            if account._orders:
                touched.append(s)
            account.process_bar(int(index[j]), o[j], h[j], low[j], c[j])
            if account.out_of_money:
                bust.append(s)
                continue
            for name in fields:
                position[name][s] = _position_value(account, name)
        return touched, bust

    def place(self, row: int, order: PlacedOrder, cid: str | None) -> None:
        """Send an approved order of a compiled step's decision."""
        send(self.accounts[row], order, [], None, cid)
        if cid is not None:
            self.track(row, cid, order)

    def commit(self) -> None:
        """Nothing to do: SimAccount takes each order as it is placed."""

    def track(self, row: int, cid: str, order: PlacedOrder) -> None:
        """Remember which queued order carries `cid`, to journal its fill or cancellation."""
        book = self.books[row]
        if order.side == "close":
            book.closing.append(cid)
            return
        for queued in self.accounts[row].orders:
            if queued._tag == cid:
                book.pending[cid] = queued

    def bar_events(self, row: int, bar: int, ts: int) -> tuple[list[FillRow], list, dict[str, str]]:
        fills, closed, states = bar_events(self.accounts[row], self.books[row], bar, ts)
        return fills, [(_closed(t), entry_ts) for t, entry_ts in closed], states

    def position_row(self, row: int) -> tuple[float, float | None, float]:
        return position_row(self.accounts[row])

    def cash(self, row: int) -> float:
        account = self.accounts[row]
        return 0.0 if account.out_of_money else account.cash

    def cost(self, row: int) -> float:
        return float(sum(t.size * t.entry_price for t in self.accounts[row].trades))

    def units(self, row: int) -> float:
        return float(self.accounts[row].position.size)

    def has_trades(self, row: int) -> bool:
        return bool(self.accounts[row].trades)

    def margin_available(self, row: int) -> float:
        return self.accounts[row].margin_available

    def leverage(self, row: int) -> float:
        return self.accounts[row]._leverage

    def closed_trades(self, row: int) -> list[ClosedTrade]:
        return [_closed(t) for t in self.accounts[row].closed_trades]


@dataclass
class _Pending:
    """CompiledBooks' record of one row's orders in flight."""

    orders: dict = field(default_factory=dict)  # broker order id -> client order id
    closing: list = field(default_factory=list)  # client order ids of position.close() orders
    entry_ts: dict = field(default_factory=dict)  # entry bar -> its bar time, for open trades
    seen: set = field(default_factory=set)  # entry order ids already journaled as filled
    canceled: list = field(default_factory=list)  # client ids cancelled as they were placed


class CompiledBooks:
    """All rows in one compiled-broker state."""

    def __init__(self, n_symbols: int, options: BrokerOptions):
        self.state = broker_init(n_symbols, cash=options.cash, spread=options.spread,
                                 commission=options.commission, margin=options.margin,
                                 trade_on_close=options.trade_on_close, hedging=options.hedging,
                                 exclusive_orders=options.exclusive_orders, record_equity=False)
        self.position = {name: np.zeros(n_symbols) for name in POSITION_FIELDS}
        self.act = np.full((n_symbols, 4, 8), np.nan)
        self.n_act = np.zeros(n_symbols, np.int64)
        self.bar = np.zeros(n_symbols, np.int64)
        self.queued: list[int] = []  # rows with actions waiting for commit()
        self.entries: dict[int, list[str]] = {}  # row -> client ids of its queued buy/sell orders
        self.next_id = np.zeros(n_symbols, np.int64)  # each queued row's next broker id before commit
        self.pending = [_Pending() for _ in range(n_symbols)]
        self.closed_seen = 0
        self.new_closed: dict[int, list[np.ndarray]] = {}
        self.realised = np.zeros(n_symbols)
        self.closed_log: list[np.ndarray] = []

    def process(self, rows: np.ndarray, index: np.ndarray, bars: dict[str, np.ndarray],
                position: dict[str, np.ndarray], fields: list[str]) -> tuple[list[int], list[int]]:
        si = self.state.si
        had_orders = si[rows, S_N_ORDERS] > 0
        self.state, _ = broker_bar(self.state, rows, index, bars["Open"], bars["High"], bars["Low"],
                                   bars["Close"], *self.position.values())
        self.bar[rows] = index
        for name in fields:
            position[name][rows] = self.position[name][rows]
        bust = out_of_money(self.state, rows)
        closed = self.state.closed[self.closed_seen:self.state.g[G_N_CLOSED]]
        self.closed_seen += len(closed)
        self.new_closed = {}
        for record in closed:
            s = int(record[C_SYM])
            self.new_closed.setdefault(s, []).append(record)
            self.realised[s] += record[C_PNL]
        if len(closed):
            self.closed_log.append(closed.copy())
        touched = rows[had_orders | bust].tolist()
        touched += [s for s in self.new_closed if s not in set(touched)]
        return sorted(touched), rows[bust].tolist()

    def place(self, row: int, order: PlacedOrder, cid: str | None) -> None:
        """Queue an approved order; `commit` hands every queued order to the broker."""
        k = self.n_act[row]
        if k == self.act.shape[1]:
            grown = np.full((self.act.shape[0], 2 * k, 8), np.nan)
            grown[:, :k] = self.act
            self.act = grown
        amount = order.size
        self.act[row, k, :7] = (CODES[order.side], amount if order.side != "close" else np.nan,
                                _nan(order.limit), _nan(order.stop), _nan(order.sl), _nan(order.tp),
                                amount if order.side == "close" else np.nan)
        if k == 0:
            self.queued.append(row)
            self.next_id[row] = self.state.si[row, S_NEXT_ID]
        self.n_act[row] = k + 1
        if cid is None:
            return
        if order.side == "close":
            self.pending[row].closing.append(cid)
        else:
            self.entries.setdefault(row, []).append(cid)

    def commit(self) -> None:
        """Hand the queued orders to the broker, and learn the broker's id of each entry order: the
        new entry orders still queued, in id order, are the last ones placed (with
        `exclusive_orders` each new order cancels the ones before it)."""
        if not self.queued:
            return
        rows = np.array(self.queued, dtype=np.int64)
        self.state = broker_act(self.state, rows, self.bar[rows], self.act, self.n_act)
        self.n_act[rows] = 0
        orders, si = self.state.orders, self.state.si
        for row, cids in self.entries.items():
            segment = orders[si[row, S_ORDER_OFF]:si[row, S_ORDER_OFF] + si[row, S_N_ORDERS]]
            new = sorted(int(o[O_ID]) for o in segment if o[O_ID] >= self.next_id[row] and o[O_ROLE] == ENTRY)
            kept = cids[len(cids) - len(new):] if new else []
            pending = self.pending[row]
            pending.orders.update(zip(new, kept, strict=True))
            pending.canceled.extend(cids[:len(cids) - len(new)])
        self.queued, self.entries = [], {}

    def track(self, row: int, cid: str, order: PlacedOrder) -> None:
        """Nothing to do: `place` recorded the order's id."""

    def bar_events(self, row: int, bar: int, ts: int) -> tuple[list[FillRow], list, dict[str, str]]:
        pending, state = self.pending[row], self.state
        pending.entry_ts.setdefault(bar, ts)
        fills, closed, states = [], [], {}
        trades = self._trades(row)
        closed_now = self.new_closed.get(row, [])
        opened = {int(t[T_ORDER]) for t in trades if t[T_ENTRY_BAR] == bar}
        opened |= {int(c[C_ORDER]) for c in closed_now if c[C_ENTRY_BAR] == bar}
        for oid in sorted(opened - pending.seen):
            cid = pending.orders.get(oid)
            source = [t for t in trades if int(t[T_ORDER]) == oid]
            parts = [c for c in closed_now if int(c[C_ORDER]) == oid]
            size = sum(t[T_SIZE] for t in source) + sum(c[C_SIZE] for c in parts)
            price = source[0][T_ENTRY_PRICE] if source else parts[0][C_ENTRY_PRICE]
            if cid is not None:
                fills.append((cid, "in", size, price, bar))
        pending.seen |= opened
        for c in closed_now:
            cid = pending.orders.get(int(c[C_ORDER]))
            if cid is not None:
                fills.append((cid, "out", -c[C_SIZE], c[C_EXIT_PRICE], bar))
            closed.append((_closed_record(c), pending.entry_ts.get(int(c[C_ENTRY_BAR]), ts)))
        queued = {int(x) for x in state.orders[state.si[row, S_ORDER_OFF]:
                                              state.si[row, S_ORDER_OFF] + state.si[row, S_N_ORDERS], O_ID]}
        for oid, cid in list(pending.orders.items()):
            if oid not in queued and oid not in pending.seen:
                states[cid] = "canceled"
                del pending.orders[oid]
            elif oid in opened:
                states[cid] = "filled"
        for cid in pending.closing:
            states[cid] = "filled"
        for cid in pending.canceled:
            states[cid] = "canceled"
        pending.closing.clear()
        pending.canceled.clear()
        live = {int(t[T_ORDER]) for t in trades}
        for oid in [o for o in pending.orders if o in pending.seen and o not in live and o not in queued]:
            del pending.orders[oid]
        pending.seen &= live | queued
        open_bars = {int(t[T_ENTRY_BAR]) for t in trades} | {bar}
        for old in [b for b in pending.entry_ts if b not in open_bars]:
            del pending.entry_ts[old]
        return fill_rows(fills), closed, states

    def _trades(self, row: int) -> np.ndarray:
        si = self.state.si
        off = si[row, S_TRADE_OFF]
        return self.state.trades[off:off + si[row, S_N_TRADES]]

    def position_row(self, row: int) -> tuple[float, float | None, float]:
        trades = self._trades(row)
        units = float(trades[:, T_SIZE].sum())
        average = float((trades[:, T_SIZE] * trades[:, T_ENTRY_PRICE]).sum() / units) if units else None
        return units, average, float(self.realised[row])

    def cash(self, row: int) -> float:
        return 0.0 if self.state.si[row, S_BUST] else float(self.state.sf[row, F_CASH])

    def cost(self, row: int) -> float:
        trades = self._trades(row)
        return float((trades[:, T_SIZE] * trades[:, T_ENTRY_PRICE]).sum())

    def units(self, row: int) -> float:
        return float(self._trades(row)[:, T_SIZE].sum())

    def has_trades(self, row: int) -> bool:
        return bool(self.state.si[row, S_N_TRADES])

    def margin_available(self, row: int) -> float:
        trades, close = self._trades(row), self.state.sf[row, F_CLOSE]
        leverage = self.leverage(row)
        size = trades[:, T_SIZE]
        equity = self.cash(row) + float((size * close - size * trades[:, T_ENTRY_PRICE]).sum())
        return max(0.0, equity - float(np.abs(size).sum()) * close / leverage)

    def leverage(self, row: int) -> float:
        return float(self.state.opt[OPT_LEVERAGE])

    def closed_trades(self, row: int) -> list[ClosedTrade]:
        if not self.closed_log:
            return []
        log = np.concatenate(self.closed_log)
        return [_closed_record(c) for c in log[log[:, C_SYM] == row]]


def _nan(x: float | None) -> float:
    return np.nan if x is None else x


def _closed(trade) -> ClosedTrade:
    """A SimAccount's closed Trade."""
    return ClosedTrade(trade.size, trade.entry_bar, trade.exit_bar, trade.entry_price, trade.exit_price,
                       trade.pl, trade.commission)


def _closed_record(c: np.ndarray) -> ClosedTrade:
    """A row of the compiled broker's closed-trade log."""
    return ClosedTrade(float(c[C_SIZE]), int(c[C_ENTRY_BAR]), int(c[C_EXIT_BAR]), float(c[C_ENTRY_PRICE]),
                       float(c[C_EXIT_PRICE]), float(c[C_PNL]), float(c[C_COMMISSION]))


def _position_value(account, name: str) -> float:
    if name == "equity":
        return account.equity
    position = account.position
    return position.size if name == "pos_size" else (position.pl if name == "pos_pl" else position.pl_pct)
