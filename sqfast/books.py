"""A strategy's sub-accounts (one per symbol row) behind one interface, on either simulated broker.

- `SimBooks`: a Python `SimAccount` per row. Any strategy; the only choice for the Python
  fallback (its `next()` talks to the account) and for a callable commission.
- `CompiledBooks`: the compiled broker (`sqfast.sim.compiled`), all rows in arrays, one call per
  bar for every row. Compiled steps with any other options; same fills, bit for bit.

Per bar, `process` fills the rows' pending orders and leaves the journal's view of what happened
in `events` (`BarEvents`): new fills, newly closed trades with their entry bar's time, and the
final state of orders that left the queue. Orders carry their client order id: as the
`SimAccount` order's tag, or in `CompiledBooks` keyed by (row, broker order id), which the trade
it opens keeps (`T_ORDER`, `C_ORDER`). Fills name the order that opened the trade, as in the
journal's documentation. `positions` then gives the rows whose position may have changed.
"""

import functools
from dataclasses import dataclass, field

import numpy as np

from .fallback import PlacedOrder, send
from .ledger import SubAccountBook, bar_events, execution_id, position_row
from .order_batch import OrderBatch
from .replay_engine import BrokerOptions
from .sim.compiled import broker_act, broker_bar, broker_init, out_of_money, supports_options
from .sim.compiled_events import entry_status, margin_available, new_entries, open_positions
from .sim.compiled_layout import (
    ACT_BUY,
    ACT_CLOSE,
    ACT_CODE,
    ACT_PORTION,
    ACT_SIZE,
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
    G_N_EVENTS,
    O_ROLE,
    OPT_LEVERAGE,
    S_BUST,
    S_N_TRADES,
    S_NEXT_ID,
)

POSITION_FIELDS = ("pos_size", "pos_pl", "pos_pl_pct", "equity")


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


@dataclass
class BarEvents:
    """What the sub-accounts did at their last bar, for the journal."""

    fills: list = field(default_factory=list)  # (row, execution id, client order id, side, qty, price)
    closed: list = field(default_factory=list)  # (row, ClosedTrade, entry bar time)
    states: list = field(default_factory=list)  # (client order id, final state)


def make_books(n_symbols: int, options: BrokerOptions, compiled_step: bool):
    """The compiled broker for a compiled step when it supports the options, else SimAccounts."""
    if compiled_step and supports_options(commission=options.commission):
        prime_compiled_books()
        return CompiledBooks(n_symbols, options)
    return SimBooks(n_symbols, options)


@functools.cache
def prime_compiled_books() -> None:
    """Compile (or load from Numba's cache) every compiled-broker function the engine calls, once
    per process, on a one-symbol scratch account: an entry, its fill, a close and its exit. So the
    first live interval never waits for the compiler (seconds with a cold cache), nor does a
    Ctrl-C that arrives during it."""
    books = CompiledBooks(1, BrokerOptions(cash=1_000_000.0))
    rows, bars = np.zeros(1, np.int64), {f: np.array([100.0]) for f in ("Open", "High", "Low", "Close")}
    for bar, code in enumerate((ACT_BUY, ACT_CLOSE, None)):
        books.process(rows, np.array([bar]), bars, {}, [], bar)
        books.positions()
        books.margin_available(rows)
        if code is not None:
            action = np.full((1, 8), np.nan)
            action[0, ACT_CODE] = code
            action[0, ACT_PORTION if code == ACT_CLOSE else ACT_SIZE] = 1.0
            books.place(OrderBatch(rows, action), ["prime"])


class SimBooks:
    """A `SimAccount` per row."""

    def __init__(self, n_symbols: int, options: BrokerOptions):
        self.accounts = [options.account() for _ in range(n_symbols)]
        self.books = [SubAccountBook() for _ in range(n_symbols)]
        self.bar = np.zeros(n_symbols, np.int64)
        self.events = BarEvents()
        self.changed: list[int] = []
        self.leverage = 1 / options.margin

    def process(self, rows: np.ndarray, index: np.ndarray, bars: dict[str, np.ndarray],
                position: dict[str, np.ndarray], fields: list[str], ts: int) -> list[int]:
        """Fill pending orders at each row's bar (starting at `ts`); write the position `fields`
        next() reads; collect `events`. Returns the rows that went out of money."""
        o, h, low, c = (bars[f] for f in ("Open", "High", "Low", "Close"))
        touched, bust = [], []
        self.bar[rows] = index
        for j, s in enumerate(rows.tolist()):
            account = self.accounts[s]
            if account._orders or self.books[s].closing:
                touched.append(s)
            account.process_bar(int(index[j]), o[j], h[j], low[j], c[j])
            if account.out_of_money:
                bust.append(s)
                if s not in touched:
                    touched.append(s)
                continue
            for name in fields:
                position[name][s] = _position_value(account, name)
        self.events = events = BarEvents()
        for s in touched:
            fills, closed, states = bar_events(self.accounts[s], self.books[s], int(self.bar[s]), ts)
            events.fills += [(s, f.execution_id, f.client_order_id, f.side, f.qty, f.price) for f in fills]
            events.closed += [(s, _closed(t), entry_ts) for t, entry_ts in closed]
            events.states += list(states.items())
        self.changed = touched
        return bust

    def place(self, batch: OrderBatch, cids: list[str | None]) -> None:
        """Send approved orders of a compiled step's decision, each tracked by its client id."""
        for j, row in enumerate(batch.rows.tolist()):
            order = batch.placed(j, int(self.bar[row]))
            send(self.accounts[row], order, [], None, cids[j])
            if cids[j] is not None:
                self.track(row, cids[j], order)

    def track(self, row: int, cid: str, order: PlacedOrder) -> None:
        """Remember which queued order carries `cid`, to journal its fill or cancellation."""
        book = self.books[row]
        if order.side == "close":
            book.closing.append(cid)
            return
        for queued in self.accounts[row].orders:
            if queued._tag == cid:
                book.pending[cid] = queued

    def positions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rows, units, cost, cash, realised P&L) of the rows the last `process` may have changed."""
        rows = np.array(self.changed, dtype=np.int64)
        values = [position_row(self.accounts[s]) for s in self.changed]
        units = np.array([v[0] for v in values], dtype=np.float64)
        cost = np.array([sum(t.size * t.entry_price for t in self.accounts[s].trades) for s in self.changed],
                        dtype=np.float64)
        accounts = [self.accounts[s] for s in self.changed]
        cash = np.array([0.0 if a.out_of_money else a.cash for a in accounts], dtype=np.float64)
        realised = np.array([v[2] for v in values], dtype=np.float64)
        return rows, units, cost, cash, realised

    def has_trades(self, rows: np.ndarray) -> np.ndarray:
        return np.array([bool(self.accounts[s].trades) for s in rows.tolist()], dtype=np.bool_)

    def margin_available(self, rows: np.ndarray) -> np.ndarray:
        return np.array([self.accounts[s].margin_available for s in rows.tolist()], dtype=np.float64)


class _Tracked:
    """The entry orders CompiledBooks placed and has not seen leave the queue: row, broker id
    (-1: cancelled as it was placed) and client id, in growable arrays so that their status is
    read for all rows in one call."""

    def __init__(self):
        self.row = np.zeros(1024, np.int64)
        self.oid = np.zeros(1024, np.int64)
        self.alive = np.zeros(1024, np.bool_)
        self.cid: list[str] = []

    def add(self, rows: np.ndarray, oids: np.ndarray, cids: list[str]) -> None:
        n, m = len(self.cid), len(cids)
        if n + m > len(self.row):
            self._compact(n + m)
            n = len(self.cid)
        self.row[n:n + m], self.oid[n:n + m], self.alive[n:n + m] = rows, oids, True
        self.cid += cids

    def live_on(self, processed: np.ndarray) -> np.ndarray:
        """Positions of the tracked orders whose row was processed."""
        n = len(self.cid)
        return np.flatnonzero(self.alive[:n] & processed[self.row[:n]])

    def drop(self, i: int) -> None:
        self.alive[i] = False

    def _compact(self, need: int) -> None:
        n = len(self.cid)
        keep = np.flatnonzero(self.alive[:n])
        size = max(1024, 2 * (len(keep) + need - n))
        row, oid = np.zeros(size, np.int64), np.zeros(size, np.int64)
        row[:len(keep)], oid[:len(keep)] = self.row[keep], self.oid[keep]
        self.row, self.oid = row, oid
        self.alive = np.zeros(size, np.bool_)
        self.alive[:len(keep)] = True
        self.cid = [self.cid[i] for i in keep.tolist()]


class CompiledBooks:
    """All rows in one compiled-broker state."""

    def __init__(self, n_symbols: int, options: BrokerOptions):
        self.state = broker_init(n_symbols, cash=options.cash, spread=options.spread,
                                 commission=options.commission, margin=options.margin,
                                 trade_on_close=options.trade_on_close, hedging=options.hedging,
                                 exclusive_orders=options.exclusive_orders, record_equity=False)
        self.position = {name: np.zeros(n_symbols) for name in POSITION_FIELDS}
        self.act = np.full((n_symbols, 1, 8), np.nan)  # grows in `place` when a row has more orders
        self.n_act = np.zeros(n_symbols, np.int64)
        self.bar = np.zeros(n_symbols, np.int64)
        self.processed = np.zeros(n_symbols, np.bool_)
        self.rows = np.zeros(0, np.int64)  # the rows of the last `process`
        self.tracked = _Tracked()
        self.owners: dict[tuple[int, int], tuple[str, int]] = {}  # open trade's entry order: (cid, entry ts)
        self.closing: dict[int, list[str]] = {}  # row -> client ids of its position.close() orders
        self.realised = np.zeros(n_symbols)
        self.events = BarEvents()
        self.leverage = float(self.state.opt[OPT_LEVERAGE])

    def process(self, rows: np.ndarray, index: np.ndarray, bars: dict[str, np.ndarray],
                position: dict[str, np.ndarray], fields: list[str], ts: int) -> list[int]:
        self.state, _ = broker_bar(self.state, rows, index, bars["Open"], bars["High"], bars["Low"],
                                   bars["Close"], *self.position.values())
        self.bar[rows] = index
        for name in fields:
            position[name][rows] = self.position[name][rows]
        self.processed[self.rows] = False
        self.processed[rows] = True
        self.rows = rows
        self.events = self._events(ts)
        return rows[out_of_money(self.state, rows)].tolist()

    def _events(self, ts: int) -> BarEvents:
        """Fills, closed trades and final order states of the processed rows (module docstring)."""
        state, events = self.state, BarEvents()
        g = state.g
        closed = state.closed[:g[G_N_CLOSED]].copy()
        g[G_N_CLOSED] = 0  # read once: the log only grows within a call
        g[G_N_EVENTS] = 0
        parts: dict[tuple[int, int], list[int]] = {}
        for k, key in enumerate(zip(closed[:, C_SYM].astype(np.int64).tolist(),
                                    closed[:, C_ORDER].astype(np.int64).tolist(), strict=True)):
            parts.setdefault(key, []).append(k)
        tracked = self.tracked
        live = tracked.live_on(self.processed)
        queued, size, price = entry_status(state.orders, state.trades, state.si, tracked.row[live],
                                           tracked.oid[live])
        seen: dict[tuple[int, int], tuple[str, int]] = {}
        for j in np.flatnonzero(~queued).tolist():
            i = int(live[j])
            row, oid, cid = int(tracked.row[i]), int(tracked.oid[i]), tracked.cid[i]
            tracked.drop(i)
            mine = parts.get((row, oid), [])
            if size[j] == 0 and not mine:
                events.states.append((cid, "canceled"))
                continue
            filled = float(size[j] + sum(closed[k, C_SIZE] for k in mine))
            entry = float(price[j]) if size[j] != 0 else float(closed[mine[0], C_ENTRY_PRICE])
            bar = int(self.bar[row])
            fill = (row, execution_id(cid, "in", bar, 0), cid, _side(filled), abs(filled), entry)
            events.fills.append(fill)
            events.states.append((cid, "filled"))
            seen[row, oid] = (cid, ts)
            if size[j] != 0:
                self.owners[row, oid] = (cid, ts)
        out_count: dict[tuple[str, int], int] = {}
        for k, c in enumerate(closed.tolist()):
            row, oid = int(c[C_SYM]), int(c[C_ORDER])
            cid, entry_ts = self.owners.get((row, oid)) or seen.get((row, oid)) or (None, ts)
            self.realised[row] += c[C_PNL]
            if cid is not None:
                bar = int(self.bar[row])
                n = out_count[cid, bar] = out_count.get((cid, bar), -1) + 1
                events.fills.append((row, execution_id(cid, "out", bar, n), cid, _side(-c[C_SIZE]),
                                     abs(c[C_SIZE]), c[C_EXIT_PRICE]))
            events.closed.append((row, _closed_record(closed[k]), entry_ts))
        self._forget_closed(parts)
        for row in [r for r in self.closing if self.processed[r]]:
            events.states += [(cid, "filled") for cid in self.closing.pop(row)]
        return events

    def _forget_closed(self, parts: dict[tuple[int, int], list[int]]) -> None:
        """Drop the owners of trades that closed completely."""
        keys = [key for key in parts if key in self.owners]
        if not keys:
            return
        rows = np.array([r for r, _ in keys], dtype=np.int64)
        oids = np.array([o for _, o in keys], dtype=np.int64)
        _, size, _ = entry_status(self.state.orders, self.state.trades, self.state.si, rows, oids)
        for key, left in zip(keys, size.tolist(), strict=True):
            if left == 0:
                del self.owners[key]

    def place(self, batch: OrderBatch, cids: list[str | None]) -> None:
        """Hand approved orders to the broker in one call, and learn the broker's id of each entry
        order: a row's new entry orders still queued, in id order, are its last ones placed (with
        `exclusive_orders` each new order cancels the ones before it)."""
        if not len(batch):
            return
        rows = batch.rows
        k = batch.sequence()
        if k.max() >= self.act.shape[1]:
            grown = np.full((self.act.shape[0], int(k.max()) + 1, self.act.shape[2]), np.nan)
            grown[:, :self.act.shape[1]] = self.act
            self.act = grown
        self.act[rows, k] = np.nan
        self.act[rows, k, :batch.values.shape[1]] = batch.values
        placed = np.unique(rows)
        self.n_act[placed] = np.bincount(rows, minlength=len(self.n_act))[placed]
        first_id = self.state.si[placed, S_NEXT_ID].copy()
        self.state = broker_act(self.state, placed, self.bar[placed], self.act, self.n_act)
        self.n_act[placed] = 0
        is_close = batch.values[:, ACT_CODE] == ACT_CLOSE
        for j in np.flatnonzero(is_close).tolist():
            if cids[j] is not None:
                self.closing.setdefault(int(rows[j]), []).append(cids[j])
        entry = np.flatnonzero(~is_close)
        if len(entry):
            self._track_entries(rows[entry], [cids[j] for j in entry.tolist()], placed, first_id)

    def _track_entries(self, rows: np.ndarray, cids: list, placed: np.ndarray, first_id: np.ndarray) -> None:
        state = self.state
        new_row, new_id = new_entries(state.orders, state.si, placed, first_id, float(ENTRY), O_ROLE)
        if np.array_equal(new_row, rows):  # every entry order is queued: one id each, in order
            keep = np.array([c is not None for c in cids], dtype=np.bool_)
            self.tracked.add(rows[keep], new_id[keep], [c for c in cids if c is not None])
            return
        ids_of: dict[int, list[int]] = {}
        for r, o in zip(new_row.tolist(), new_id.tolist(), strict=True):
            ids_of.setdefault(r, []).append(o)
        cids_of: dict[int, list] = {}
        for r, c in zip(rows.tolist(), cids, strict=True):
            cids_of.setdefault(r, []).append(c)
        out_rows, out_ids, out_cids = [], [], []
        for r, row_cids in cids_of.items():
            ids = ids_of.get(r, [])
            cut = len(row_cids) - len(ids)
            for c, o in zip(row_cids, [-1] * cut + ids, strict=True):  # -1: cancelled as it was placed
                if c is not None:
                    out_rows.append(r)
                    out_ids.append(o)
                    out_cids.append(c)
        self.tracked.add(np.array(out_rows, dtype=np.int64), np.array(out_ids, dtype=np.int64), out_cids)

    def track(self, row: int, cid: str, order: PlacedOrder) -> None:
        """Nothing to do: `place` recorded the order's id."""

    def positions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(rows, units, cost, cash, realised P&L) of the rows of the last `process`."""
        rows, state = self.rows, self.state
        units, cost = open_positions(state.trades, state.si, rows)
        cash = np.where(state.si[rows, S_BUST] != 0, 0.0, state.sf[rows, F_CASH])
        return rows, units, cost, cash, self.realised[rows]

    def has_trades(self, rows: np.ndarray) -> np.ndarray:
        return self.state.si[rows, S_N_TRADES] > 0

    def margin_available(self, rows: np.ndarray) -> np.ndarray:
        state = self.state
        cash = np.where(state.si[:, S_BUST] != 0, 0.0, state.sf[:, F_CASH])
        return margin_available(state.trades, state.si, cash, state.sf[:, F_CLOSE], self.leverage, rows)


def _side(size: float) -> str:
    return "buy" if size > 0 else "sell"


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
