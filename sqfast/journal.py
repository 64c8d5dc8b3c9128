"""The run journal: one SQLite file (WAL) per run directory that a restart resumes from.

The engine writes everything of one closed bar interval in one transaction
(`with journal.interval() as tx:`), so a SIGKILL at any moment leaves the journal at the end of
the last whole interval: never a signal without its order, a fill without its position, or
progress ahead of the rows it covers. An order is journaled (state `pending`) before it is sent,
under a deterministic `client_order_id`; journaling it again reports that it exists, so a
restarted engine never sends it twice, and a broker that received it already rejects the id.

An interval's rows go in per row (`tx.signal`, `tx.order`, ...) or, on the engine's hot path, in
bulk as prepared tuples (`tx.signal_rows`, `tx.order_rows`, ...: one statement per table).
`Journal.open(..., background=True)` moves the writing off the engine's thread: `interval()`
then only collects the rows, and on leaving the block hands them to one writer thread with its
own connection, which commits each handed-over interval whole, in the order they were handed
over (intervals waiting together go in one transaction: whole ones, so the guarantee above
holds). The engine waits only when the writer is `QUEUE_DEPTH` intervals behind. A writer error
(a constraint, a full disk) is raised in the engine's thread by the next `interval()`, `flush()`
or `close()`; nothing handed over after the failed interval is written. Reads (`progress()`,
`orders()`, ...) run on the caller's connection and see committed intervals: call `flush()` to
see everything handed over (`kill_switch()` does so when a pending interval set the switch).

Durability: an interval's rows (its `progress` included) are written in one transaction, and
intervals are committed in the order they end, so after a SIGKILL or a power cut the journal
holds a prefix of the intervals, ending with a whole one. `synchronous=FULL` (the default) fsyncs
the WAL at every commit, so a committed interval survives even a power cut: 0.5-3 ms per commit
on the development VM, nothing against a 1-second bar in real time, but a limit for `--speed
max`. `NORMAL` skips the fsync and is just as safe against SIGKILL; a power cut may lose the last
intervals, but whole ones. It suits runs with no outside state (signals mode, the simulated
broker), which simply redo those intervals. With `background=True` an interval is durable only
once the writer has committed it: a SIGKILL also loses the intervals not yet written (at most
`QUEUE_DEPTH` + `GROUP_MAX`, whole ones at the end, which a restart redoes). So a broker with
outside state calls `flush()` before it sends an interval's orders (write before send): an order
never reaches the broker without its journal row.

Tables (all timestamps int64 epoch ns UTC; prices NULL when unset):
- `schema_version(version, applied_ns, sqfast_version)`; the file's `application_id` is "sqfa".
- `runs(run_id, created_ns, config_json, config_hash, sqfast_version, status, stopped_ns)`: one row;
  `config_json` is sanitised (no secrets); status running | stopped | crashed.
- `sessions(session_id, started_ns, ended_ns, pid, sqfast_version, config_hash, status)`: one per
  process that ran the run; a session left `running` by a dead process is marked `crashed`.
- `strategies(strategy, allocation, capital, granularity, n_symbols)`: what status reports against.
- `signals(id, strategy, symbol, bar_ts_ns, action, size, limit_price, stop_price, sl, tp, portion,
  indicators)`: action buy | sell | close; indicators an optional JSON object.
- `orders(client_order_id PK, strategy, symbol, bar_ts_ns, side, size, type, limit_price, stop_price,
  sl, tp, state, reason, broker_order_id, net_id, filled_qty, avg_fill_price, created_ns, updated_ns)`:
  state pending → submitted → partially_filled → filled | canceled | rejected | expired, or blocked
  (with the risk reason); a finished order never reopens. A broker order netting several
  strategies' orders on one symbol has strategy "*", and each strategy's order names it in `net_id`.
- `fills(execution_id PK, client_order_id → orders, strategy, symbol, side, qty, price, commission,
  ts_ns)`: a repeated execution id is ignored (reported), as after a stream reconnect.
- `positions(strategy, symbol PK, size, avg_entry_price, realized_pnl, updated_ts_ns)`: the ledger.
- `trades(id, strategy, symbol, size, entry_bar_ts_ns, exit_bar_ts_ns, entry_price, exit_price, pnl,
  commission)`: closed trades, as backtesting.py's `_trades`.
- `equity(strategy, ts_ns PK, equity, cash)`: written when it changes, at most once per interval, so
  1-second runs stay compact; the curve is a step function between rows.
- `risk_state(key PK, value JSON, updated_ns)`: `kill_switch` {halted, by, reason, ts_ns}, and the
  risk module's own keys (daily loss, order-rate window).
- `feed_state(source PK, received, accepted, duplicate, late, out_of_order, invalid, last_bar_ts_ns,
  last_bar_wall_ns, updated_ns)`: cumulative bar counters per data source.
- `progress(strategy PK, ts_ns, updated_ns)`: the last fully processed interval per strategy.
"""

import hashlib
import json
import math
import os
import queue
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

from . import __version__
from .errors import SqfastError
from .journal_config import RESTART_SAFE, config_changes, config_hash
from .journal_read import KILL_SWITCH_KEY, JournalReader
from .journal_rows import (
    ORDER_STATES,
    ORDER_TYPES,
    SIDES,
    SIGNAL_ACTIONS,
    TERMINAL_STATES,
    FeedCounters,
    KillSwitch,
    SignalRow,
)
from .journal_schema import (
    check_run_dir,
    connect,
    create_schema,
    is_empty,
    journal_path,
    open_existing,
    tune_for_writing,
)
from .run_lock import RunLock
from .sanitise import sanitise

__all__ = ["QUEUE_DEPTH", "RESTART_SAFE", "Interval", "Journal", "client_order_id", "config_changes",
           "config_hash", "write_kill_switch"]

LOG_FILE = "sqfast.log"
QUEUE_DEPTH = 16  # intervals handed to the writer before `interval()` waits (~1 MB each at 10,000 symbols)
GROUP_MAX = 16  # intervals the writer commits in one transaction when they are waiting together


def client_order_id(run_id: str, strategy: str, symbol: str, bar_ts_ns: int, seq: int) -> str:
    """A short deterministic order id ("sq-" + 20 hex digits of SHA-256, 23 characters, far below
    Alpaca's 128): the same intent after a restart gets the same id, so it is never sent twice."""
    digest = hashlib.sha256(f"{run_id}|{strategy}|{symbol}|{bar_ts_ns}|{seq}".encode()).hexdigest()
    return "sq-" + digest[:20]


# ---------------------------------------------------------------------------------------- values
def _price(x: float | None) -> float | None:
    """A Python float (numpy scalars included), with NaN (the engine's "unset") stored as NULL."""
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def _json_safe(values: Mapping[str, Any]) -> str:
    """Indicator values as a JSON object: numbers as floats, NaN as null."""
    plain = {str(k): v if v is None or isinstance(v, bool | int | str) else _price(v)
             for k, v in values.items()}
    return json.dumps(plain, separators=(",", ":"))


def _check(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _check_column(rows: list[tuple], index: int, allowed: tuple[str, ...], what: str) -> set:
    """The distinct values of column `index` of `rows`, all of which must be in `allowed`."""
    values = set(map(itemgetter(index), rows))
    bad = values.difference(allowed)
    if bad:
        shown = ", ".join(sorted(map(repr, bad)))
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, not {shown}")
    return values


@cache
def _adapt(numpy: Any) -> None:
    """Bind numpy scalars as numbers: sqlite3 would store them as blobs (their raw bytes)."""
    for name in ("float16", "float32", "float64", "longdouble"):
        sqlite3.register_adapter(getattr(numpy, name), float)
    for name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool_"):
        sqlite3.register_adapter(getattr(numpy, name), int)


def _adapt_numpy() -> None:
    """`_adapt` once numpy is loaded (the journal does not import it: `sqfast status` stays light).
    NaN needs nothing: SQLite stores a bound NaN as NULL."""
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        _adapt(numpy)


# ------------------------------------------------------------------------------ SQL, by table
_TERMINAL = " OR ".join(f"{{0}} = '{state}'" for state in TERMINAL_STATES)
_NEVER_REOPEN = f"(({_TERMINAL.format('?2')}) OR NOT ({_TERMINAL.format('state')}))"
_INSERT_SIGNAL = ("INSERT INTO signals (strategy, symbol, bar_ts_ns, action, size, limit_price, stop_price, "
                  "sl, tp, portion, indicators) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_INSERT_ORDER = ("INSERT INTO orders (client_order_id, strategy, symbol, bar_ts_ns, side, size, type, "
                 "limit_price, stop_price, sl, tp, state, reason, net_id, created_ns, updated_ns) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {now}, {now}) "
                 "ON CONFLICT (client_order_id) DO NOTHING")
_SET_STATE = {  # by the length of an order_state_rows tuple; ?1 id, ?2 state
    2: "UPDATE orders SET state = ?2, updated_ns = {now} WHERE client_order_id = ?1 AND " + _NEVER_REOPEN,
    4: ("UPDATE orders SET state = ?2, filled_qty = ?3, avg_fill_price = ?4, updated_ns = {now} "
        "WHERE client_order_id = ?1 AND " + _NEVER_REOPEN),
}
_UPDATE_ORDER = ("UPDATE orders SET state = ?2, reason = coalesce(?3, reason), "
                 "broker_order_id = coalesce(?4, broker_order_id), updated_ns = {now} "
                 "WHERE client_order_id = ?1 AND " + _NEVER_REOPEN)
_INSERT_FILL = ("INSERT INTO fills (execution_id, client_order_id, strategy, symbol, side, qty, price, "
                "ts_ns, commission) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (execution_id) DO NOTHING")
_FILL_ORDER = ("UPDATE orders SET avg_fill_price = (coalesce(avg_fill_price, 0) * filled_qty + ?1 * ?2) "
               "/ (filled_qty + ?2), filled_qty = filled_qty + ?2, updated_ns = {now} "
               "WHERE client_order_id = ?3")
_FILL_ORDER_ARGS = itemgetter(6, 5, 1)  # price, qty, client order id of a fill tuple
_UPSERTS = {
    "signals": _INSERT_SIGNAL,
    "strategies": ("INSERT INTO strategies VALUES (?, ?, ?, ?, ?) ON CONFLICT (strategy) DO UPDATE SET "
                   "allocation = excluded.allocation, capital = excluded.capital, "
                   "granularity = excluded.granularity, n_symbols = excluded.n_symbols"),
    "positions": "INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?, ?, ?)",
    "trades": ("INSERT INTO trades (strategy, symbol, size, entry_bar_ts_ns, exit_bar_ts_ns, entry_price, "
               "exit_price, pnl, commission) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
    "equity": "INSERT OR REPLACE INTO equity VALUES (?, ?, ?, ?)",
    "feed_state": "INSERT OR REPLACE INTO feed_state VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "risk_state": "INSERT OR REPLACE INTO risk_state VALUES (?, ?, ?)",
    "progress": "INSERT OR REPLACE INTO progress VALUES (?, ?, ?)",
}


# ---------------------------------------------------------------------- writing rows in bulk
def _last_rowid(conn: sqlite3.Connection, table: str) -> int:
    return conn.execute(f"SELECT coalesce(max(rowid), 0) FROM {table}").fetchone()[0]


def _split_new(conn: sqlite3.Connection, table: str, key: str, rows: list[tuple],
               after_rowid: int) -> tuple[list[tuple], list[str]]:
    """After an INSERT ... DO NOTHING of `rows` (keyed by their first item): the rows it inserted,
    and the keys it skipped (journaled already, or repeated within `rows`)."""
    fresh = {k for (k,) in conn.execute(f"SELECT {key} FROM {table} WHERE rowid > ?", (after_rowid,))}
    inserted, skipped = [], []
    for row in rows:
        if row[0] in fresh:
            fresh.discard(row[0])
            inserted.append(row)
        else:
            skipped.append(row[0])
    return inserted, skipped


def _missing_orders(conn: sqlite3.Connection, ids: list[str]) -> list[str]:
    """The ids in `ids` that are not journaled orders."""
    sql = ("SELECT value FROM json_each(?) "
           "WHERE NOT EXISTS (SELECT 1 FROM orders WHERE client_order_id = value)")
    return [r[0] for r in conn.execute(sql, (json.dumps(ids),))]


def _insert_orders(conn: sqlite3.Connection, rows: list[tuple], now_ns: int) -> int:
    """Insert new orders (an existing id is left alone); how many were inserted."""
    return conn.executemany(_INSERT_ORDER.format(now=int(now_ns)), rows).rowcount


def _write_orders(conn: sqlite3.Connection, rows: list[tuple], now_ns: int) -> None:
    """Insert new orders; an id journaled already (or twice in `rows`) is an error naming it."""
    before = _last_rowid(conn, "orders")
    if _insert_orders(conn, rows, now_ns) == len(rows):
        return
    _, skipped = _split_new(conn, "orders", "client_order_id", rows, before)
    shown = ", ".join(skipped[:10]) + (f" and {len(skipped) - 10} more" if len(skipped) > 10 else "")
    raise sqlite3.IntegrityError(f"orders journaled already (a client order id is sent once): {shown}")


def _update_orders(conn: sqlite3.Connection, sql: str, rows: list[tuple], now_ns: int) -> None:
    """Run an order update over `rows` (client order id first); an unknown id is a KeyError.
    An update refused by the never-reopen rule is not an error."""
    if conn.executemany(sql.format(now=int(now_ns)), rows).rowcount == len(rows):
        return
    missing = _missing_orders(conn, [row[0] for row in rows])
    if missing:
        raise KeyError(f"orders not in the journal: {', '.join(missing[:10])}")


def _write_states(conn: sqlite3.Connection, rows: list[tuple], now_ns: int) -> None:
    """order_state_rows: runs of (id, state) and (id, state, filled qty, average price) tuples."""
    for length, run in groupby(rows, len):
        if length not in _SET_STATE:
            raise ValueError(f"an order state row has 2 or 4 items, not {length}")
        _update_orders(conn, _SET_STATE[length], list(run), now_ns)


def _write_updates(conn: sqlite3.Connection, rows: list[tuple], now_ns: int) -> None:
    """Per-row order_state calls: (id, state, reason, broker order id)."""
    _update_orders(conn, _UPDATE_ORDER, rows, now_ns)


def _write_fills(conn: sqlite3.Connection, rows: list[tuple], now_ns: int) -> int:
    """Insert fills (a journaled execution id is skipped) and add each inserted one to its
    order's filled quantity and average price; how many were inserted."""
    before = _last_rowid(conn, "fills")
    inserted = conn.executemany(_INSERT_FILL, rows).rowcount
    new = rows if inserted == len(rows) else _split_new(conn, "fills", "execution_id", rows, before)[0]
    if new:
        conn.executemany(_FILL_ORDER.format(now=int(now_ns)), map(_FILL_ORDER_ARGS, new))
    return inserted


def _upsert(sql: str) -> Callable[[sqlite3.Connection, list[tuple], int], None]:
    def write(conn: sqlite3.Connection, rows: list[tuple], now_ns: int) -> None:
        conn.executemany(sql, rows)

    return write


_WRITERS: dict[str, Callable[[sqlite3.Connection, list[tuple], int], Any]] = {
    **{table: _upsert(sql) for table, sql in _UPSERTS.items()},
    "orders": _write_orders,
    "order_states": _write_states,
    "order_updates": _write_updates,
    "fills": _write_fills,
}


def _write_interval(conn: sqlite3.Connection, tx: "Interval") -> None:
    """A buffered interval's rows, in the order they were given."""
    for kind, rows in tx.ops:
        _WRITERS[kind](conn, rows, tx.now_ns)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back whole if the block raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _signal_values(strategy: str, symbol: str, bar_ts_ns: int, action: str, size: float | None,
                   limit: float | None, stop: float | None, sl: float | None, tp: float | None,
                   portion: float | None, indicators: str | None) -> tuple:
    return (strategy, symbol, int(bar_ts_ns), _check(action, SIGNAL_ACTIONS, "action"), _price(size),
            _price(limit), _price(stop), _price(sl), _price(tp), _price(portion), indicators)


def _kill_switch_row(state: KillSwitch) -> tuple:
    value = {"halted": state.halted, "by": state.by, "reason": state.reason, "ts_ns": state.ts_ns}
    return KILL_SWITCH_KEY, json.dumps(value), state.ts_ns


# ------------------------------------------------------------------------------- the interval
class Interval:
    """One bar interval's writes: one transaction, committed whole when the `with` block ends and
    rolled back whole if it raises. Methods take the engine's values; NaN prices become NULL.

    The `*_rows` methods take many prepared tuples at once (the engine's hot path: one statement
    per table, values checked per distinct value, numbers bound as given). With a background
    journal nothing is written during the block: the rows are kept in call order and written by
    the writer thread; then `order`, `order_state` and `fill` return True (their outcome is not
    known yet), and a refusal (an order id journaled already, an unknown order) fails the
    interval in the writer, as the bulk methods' do, and is raised by the journal's next call."""

    def __init__(self, journal: "Journal", conn: sqlite3.Connection | None, now_ns: int):
        self._journal, self._conn, self.now_ns = journal, conn, now_ns
        self._equity: dict[str, tuple[float, float]] = {}
        self.ops: list[tuple[str, list[tuple]]] = []  # (table, rows) in call order, when buffered
        self.sets_kill_switch = False

    def _put(self, kind: str, rows: list[tuple]) -> None:
        """Write `rows` now (synchronous journal) or keep them for the writer (`rows` is ours)."""
        if not rows:
            return
        if self._conn is not None:
            _WRITERS[kind](self._conn, rows, self.now_ns)
        elif self.ops and self.ops[-1][0] == kind:
            self.ops[-1][1].extend(rows)
        else:
            self.ops.append((kind, rows))

    # -------------------------------------------------------------- per row
    def strategy(self, strategy: str, allocation: float, capital: float, granularity: str | None = None,
                 n_symbols: int | None = None) -> None:
        """Record (or update) a strategy's allocation and starting capital."""
        self._put("strategies", [(strategy, float(allocation), float(capital), granularity, n_symbols)])

    def signal(self, strategy: str, symbol: str, bar_ts_ns: int, action: str, size: float | None = None, *,
               limit: float | None = None, stop: float | None = None, sl: float | None = None,
               tp: float | None = None, portion: float | None = None,
               indicators: Mapping[str, Any] | None = None) -> None:
        """A signal the strategy emitted (recorded in every mode, `signals` included)."""
        self._put("signals", [_signal_values(
            strategy, symbol, bar_ts_ns, action, size, limit, stop, sl, tp, portion,
            None if indicators is None else _json_safe(indicators))])

    def signals(self, rows: Iterable[SignalRow]) -> None:
        """Many signals at once (one statement): for intervals where many symbols signal."""
        self._put("signals", [
            _signal_values(r.strategy, r.symbol, r.bar_ts_ns, r.action, r.size, r.limit, r.stop, r.sl, r.tp,
                           r.portion, r.indicators) for r in rows])

    def order(self, client_order_id: str, strategy: str, symbol: str, bar_ts_ns: int, side: str, size: float,
              *, type: str = "market", limit: float | None = None, stop: float | None = None,
              sl: float | None = None, tp: float | None = None, state: str = "pending",
              reason: str | None = None, net_id: str | None = None) -> bool:
        """Journal an order before it is sent. False when the id is journaled already: the order
        was sent (or blocked) before a restart, so the engine must not send it again. A `blocked`
        order needs the risk check's `reason`."""
        if state == "blocked" and not reason:
            raise ValueError("a blocked order needs the reason that blocked it")
        row = (client_order_id, strategy, symbol, int(bar_ts_ns), _check(side, SIDES, "side"), float(size),
               _check(type, ORDER_TYPES, "order type"), _price(limit), _price(stop), _price(sl), _price(tp),
               _check(state, ORDER_STATES, "state"), reason, net_id)
        if self._conn is None:
            self._put("orders", [row])
            return True
        return _insert_orders(self._conn, [row], self.now_ns) == 1

    def order_state(self, client_order_id: str, state: str, reason: str | None = None,
                    broker_order_id: str | None = None) -> bool:
        """Move an order to `state`. A finished order (filled, canceled, rejected, blocked) never
        goes back to an open state: a late `submitted` or `partially_filled` update is ignored
        (returns False). Reason and broker id are kept when not given."""
        row = (client_order_id, _check(state, ORDER_STATES, "state"), reason, broker_order_id)
        if self._conn is None:
            self._put("order_updates", [row])
            return True
        sql = _UPDATE_ORDER.format(now=int(self.now_ns))
        if self._conn.execute(sql, row).rowcount == 1:
            return True
        if _missing_orders(self._conn, [client_order_id]):
            raise KeyError(f"order {client_order_id} is not in the journal")
        return False

    def fill(self, execution_id: str, client_order_id: str, strategy: str, symbol: str, side: str, qty: float,
             price: float, ts_ns: int, commission: float = 0.0) -> bool:
        """A fill of a journaled order; also adds to the order's filled quantity and average price.
        False (and nothing changes) when the execution id is journaled already."""
        row = (execution_id, client_order_id, strategy, symbol, _check(side, SIDES, "side"), float(qty),
               float(price), int(ts_ns), float(commission))
        if self._conn is None:
            self._put("fills", [row])
            return True
        return _write_fills(self._conn, [row], self.now_ns) == 1

    def position(self, strategy: str, symbol: str, size: float, avg_entry_price: float | None,
                 realized_pnl: float, ts_ns: int) -> None:
        """The strategy's position in the symbol after this interval (size 0 = flat)."""
        self._put("positions", [(strategy, symbol, float(size), _price(avg_entry_price), float(realized_pnl),
                                 int(ts_ns))])

    def trade(self, strategy: str, symbol: str, size: float, entry_bar_ts_ns: int, exit_bar_ts_ns: int,
              entry_price: float, exit_price: float, pnl: float, commission: float = 0.0) -> None:
        """A closed trade (size signed: negative for a short)."""
        self._put("trades", [(strategy, symbol, float(size), int(entry_bar_ts_ns), int(exit_bar_ts_ns),
                              float(entry_price), float(exit_price), float(pnl), float(commission))])

    def equity(self, strategy: str, ts_ns: int, equity: float, cash: float) -> bool:
        """The strategy's equity and cash at the interval; written only when they changed since
        the last row (returns whether a row was written)."""
        value = (float(equity), float(cash))
        if self._equity.get(strategy, self._journal._last_equity.get(strategy)) == value:
            return False
        self._put("equity", [(strategy, int(ts_ns), *value)])
        self._equity[strategy] = value
        return True

    def counters(self, counters: FeedCounters) -> None:
        """A data source's cumulative bar counters."""
        c = counters
        self._put("feed_state", [(c.source, c.received, c.accepted, c.duplicate, c.late, c.out_of_order,
                                  c.invalid, c.last_bar_ts_ns, c.last_bar_wall_ns, self.now_ns)])

    def risk(self, key: str, value: Mapping[str, Any]) -> None:
        """A piece of the risk module's state (daily loss, order-rate window) as JSON."""
        if key == KILL_SWITCH_KEY:
            raise ValueError("use kill_switch() to set the kill switch")
        self._put("risk_state", [(key, json.dumps(dict(value), separators=(",", ":")), self.now_ns)])

    def kill_switch(self, halted: bool, by: str, reason: str | None = None) -> KillSwitch:
        """Set or clear the persistent kill switch from inside the engine."""
        state = KillSwitch(halted, by, reason, self.now_ns)
        self._put("risk_state", [_kill_switch_row(state)])
        self.sets_kill_switch = True
        return state

    def progress(self, strategy: str, ts_ns: int) -> None:
        """The strategy has fully processed the interval starting at `ts_ns`."""
        self._put("progress", [(strategy, int(ts_ns), self.now_ns)])

    # -------------------------------------------------------------- in bulk
    def signal_rows(self, rows: Iterable[tuple]) -> None:
        """Signals as (strategy, symbol, bar_ts_ns, action, size, limit, stop, sl, tp, portion,
        indicators JSON or None) tuples."""
        rows = list(rows)
        _check_column(rows, 3, SIGNAL_ACTIONS, "action")
        self._put("signals", rows)

    def order_rows(self, rows: Iterable[tuple]) -> None:
        """New orders as (client_order_id, strategy, symbol, bar_ts_ns, side, size, type, limit,
        stop, sl, tp, state, reason, net_id) tuples. The engine sends only new ids: one that is
        journaled already (or repeated) fails the interval with an error naming it. A blocked
        order needs its reason."""
        rows = list(rows)
        _check_column(rows, 4, SIDES, "side")
        _check_column(rows, 6, ORDER_TYPES, "order type")
        if "blocked" in _check_column(rows, 11, ORDER_STATES, "state") and any(
                row[11] == "blocked" and not row[12] for row in rows):
            raise ValueError("a blocked order needs the reason that blocked it")
        self._put("orders", rows)

    def order_state_rows(self, rows: Iterable[tuple]) -> None:
        """Order state changes as (client_order_id, state) or (client_order_id, state, filled_qty,
        avg_fill_price) tuples, by the rule of `order_state` (a finished order never reopens:
        such an update is skipped). An unknown id fails the interval."""
        rows = list(rows)
        _check_column(rows, 1, ORDER_STATES, "state")
        self._put("order_states", rows)

    def fill_rows(self, rows: Iterable[tuple]) -> None:
        """Fills as (execution_id, client_order_id, strategy, symbol, side, qty, price, ts_ns,
        commission) tuples; a journaled execution id is skipped, and each new fill adds to its
        order's filled quantity and average price, as `fill` does."""
        rows = list(rows)
        _check_column(rows, 4, SIDES, "side")
        self._put("fills", rows)

    def position_rows(self, rows: Iterable[tuple]) -> None:
        """Positions as (strategy, symbol, size, avg_entry_price, realized_pnl, ts_ns) tuples."""
        self._put("positions", list(rows))

    def trade_rows(self, rows: Iterable[tuple]) -> None:
        """Closed trades as (strategy, symbol, size, entry_bar_ts_ns, exit_bar_ts_ns, entry_price,
        exit_price, pnl, commission) tuples."""
        self._put("trades", list(rows))


def write_kill_switch(conn: sqlite3.Connection, state: KillSwitch) -> KillSwitch:
    """Store the kill switch through `conn`, inside the caller's transaction."""
    conn.execute(_UPSERTS["risk_state"], _kill_switch_row(state))
    return state


# ------------------------------------------------------------------------- background writer
class _Writer:
    """The background writer: one thread with its own connection commits the handed-over
    intervals in order, each whole; intervals waiting together go in one transaction (up to
    GROUP_MAX). After an error it writes nothing more and only drains the queue."""

    def __init__(self, conn: sqlite3.Connection, depth: int):
        self._conn = conn
        self._queue: queue.Queue[Interval | None] = queue.Queue(maxsize=depth)
        self.error: BaseException | None = None
        self.done = 0  # intervals taken off the queue (written, or dropped after an error)
        self._thread = threading.Thread(target=self._run, name="sqfast-journal-writer", daemon=True)
        self._thread.start()

    def put(self, tx: Interval) -> None:
        """Hand over an interval; blocks while the queue is full."""
        self._queue.put(tx)

    def join(self) -> None:
        """Wait until everything handed over is written (or dropped after an error)."""
        self._queue.join()

    def stop(self) -> None:
        """Write what is queued, end the thread, close its connection."""
        self._queue.put(None)
        self._thread.join()
        self._conn.close()

    def _run(self) -> None:
        while True:
            group = self._take()
            intervals = [tx for tx in group if tx is not None]
            try:
                if intervals and self.error is None:
                    self._write(intervals)
            except BaseException as error:  # kept for the engine's thread to raise
                error.add_note("(raised by the journal's writer thread: this interval and every later "
                               "one were not written)")
                self.error = error
            finally:
                self.done += len(intervals)
                for _ in group:
                    self._queue.task_done()
            if len(intervals) < len(group):
                return

    def _take(self) -> list[Interval | None]:
        """The next interval, and those waiting behind it (up to GROUP_MAX), stopping at None."""
        group = [self._queue.get()]
        while group[-1] is not None and len(group) < GROUP_MAX:
            try:
                group.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return group

    def _write(self, intervals: list[Interval]) -> None:
        """Commit the group in one transaction; if that fails, one by one, so the intervals
        before the failing one are still written (and a passing failure, such as a lock held past
        the busy timeout, may not recur)."""
        try:
            self._commit(intervals)
        except Exception:
            if len(intervals) == 1:
                raise
            for tx in intervals:
                self._commit([tx])

    def _commit(self, intervals: list[Interval]) -> None:
        with _transaction(self._conn):
            for tx in intervals:
                _write_interval(self._conn, tx)


# ---------------------------------------------------------------------------------- journal
class Journal(JournalReader):
    """The engine's journal of one run directory: holds the run lock, writes intervals, reads
    back everything a restart needs. Open with `Journal.open`; one thread uses it (a background
    writer is internal to it)."""

    def __init__(self, conn: sqlite3.Connection, run_dir: Path, lock: RunLock, resumed: bool,
                 recovered: bool):
        super().__init__(conn, run_dir)
        self.log_path = Path(run_dir) / LOG_FILE
        self.resumed = resumed
        self.recovered = recovered
        self.run_id = self.run().run_id
        self._lock: RunLock | None = lock
        self._in_interval = False
        self._last_equity = {k: (r.equity, r.cash) for k, r in self.last_equity().items()}
        self._writer: _Writer | None = None
        self._handed = 0  # intervals handed to the writer
        self._kill_switch_at = 0  # ... up to the last one that set the kill switch

    @classmethod
    def open(cls, run_dir: Path, *, create: bool, config: Any = None, synchronous: str = "FULL",
             background: bool = False) -> "Journal":
        """Open a run directory for an engine, holding its lock until `close`. A new one (with
        `create`) starts a run with the sanitised `config` (a dict, or a dataclass such as
        RunConfig). An existing one is resumed: `resumed` is True, `recovered` is True when its
        last process died without closing it, and a `config` that differs in a way that matters
        (config_changes) is refused; None skips that check. Without `create` the run must exist.
        `background`: intervals are written by a writer thread (module docstring)."""
        run_dir = Path(run_dir)
        if create:
            run_dir.mkdir(parents=True, exist_ok=True)
        else:
            check_run_dir(run_dir)
        lock = RunLock(run_dir)
        try:
            journal = cls._open_locked(run_dir, lock, create, config, synchronous)
        except BaseException:
            lock.release()
            raise
        try:
            journal._start_writing(synchronous, background)
        except BaseException:
            journal.close()
            raise
        return journal

    @classmethod
    def _open_locked(cls, run_dir: Path, lock: RunLock, create: bool, config: Any,
                     synchronous: str) -> "Journal":
        path = journal_path(run_dir)
        now = time.time_ns()
        if create:
            conn = connect(path, synchronous=synchronous, create=True)
            if is_empty(conn):
                with _closing_on_error(conn):
                    _create_run(conn, now, config or {})
                return cls(conn, run_dir, lock, resumed=False, recovered=False)
            conn.close()
        conn, _ = open_existing(path, synchronous=synchronous)
        with _closing_on_error(conn):
            recovered = _start_session(conn, run_dir, now, config)
        return cls(conn, run_dir, lock, resumed=True, recovered=recovered)

    def _start_writing(self, synchronous: str, background: bool) -> None:
        """Tune the connection that writes intervals: this one, or the writer thread's own."""
        if not background:
            tune_for_writing(self.conn)
            return
        conn = connect(journal_path(self.run_dir), synchronous=synchronous, other_thread=True)
        tune_for_writing(conn)
        self._writer = _Writer(conn, QUEUE_DEPTH)

    @property
    def background(self) -> bool:
        """Whether intervals are written by the background writer."""
        return self._writer is not None

    @contextmanager
    def interval(self, now_ns: int | None = None) -> Iterator[Interval]:
        """One atomic batch of writes (normally one closed bar interval): written when the block
        ends (synchronous) or handed to the writer (background); nothing of it if it raises."""
        if self._in_interval:
            raise RuntimeError("journal intervals do not nest")
        self._raise_writer_error()
        _adapt_numpy()
        self._in_interval = True
        now = time.time_ns() if now_ns is None else now_ns
        try:
            if self._writer is None:
                tx = Interval(self, self.conn, now)
                with _transaction(self.conn):
                    yield tx
            else:
                tx = Interval(self, None, now)
                yield tx
                self._hand_over(tx)
            self._last_equity.update(tx._equity)
        finally:
            self._in_interval = False

    def _hand_over(self, tx: Interval) -> None:
        self._writer.put(tx)
        self._handed += 1
        if tx.sets_kill_switch:
            self._kill_switch_at = self._handed

    def _raise_writer_error(self) -> None:
        if self._writer is not None and self._writer.error is not None:
            raise self._writer.error

    def flush(self) -> None:
        """Wait until every interval handed to the background writer is committed (a broker
        calls this before sending an interval's orders); raises the writer's error if it failed.
        Nothing to do for a synchronous journal."""
        if self._writer is not None:
            self._writer.join()
        self._raise_writer_error()

    def kill_switch(self) -> KillSwitch:
        """The persistent kill switch, including one set by an interval still being written."""
        if self._writer is not None and self._writer.done < self._kill_switch_at:
            self.flush()
        return super().kill_switch()

    def export(self, out_dir: Path | None = None) -> tuple[Path, Path]:
        """Write `trades.parquet` and `equity.parquet` (to the run directory by default), each
        atomically: a reader sees the old file or the new one, never a partial one. Flushes the
        journal first."""
        from .journal_export import export_tables

        self.flush()
        return export_tables(self, Path(out_dir) if out_dir is not None else self.run_dir)

    def close(self) -> None:
        """Write what the background writer holds, mark the session and the run stopped, and
        release the run directory. A writer error is raised after that."""
        if self._lock is None:
            return
        try:
            if self._writer is not None:
                self._writer.stop()
            self._mark_stopped(time.time_ns())
        finally:
            self.conn.close()
            self._lock.release()
            self._lock = None
        self._raise_writer_error()

    def _mark_stopped(self, now: int) -> None:
        with _transaction(self.conn):
            self.conn.execute("UPDATE sessions SET status = 'stopped', ended_ns = ? WHERE session_id = "
                              "(SELECT max(session_id) FROM sessions)", (now,))
            self.conn.execute("UPDATE runs SET status = 'stopped', stopped_ns = ?", (now,))
        self.conn.execute("PRAGMA optimize")

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def _closing_on_error(conn: sqlite3.Connection) -> Iterator[None]:
    """Roll back and close `conn` if the block fails, so a failed open leaves nothing behind."""
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()
        raise


def _create_run(conn: sqlite3.Connection, now: int, config: Any) -> None:
    """Schema, run row and first session in one transaction."""
    clean = sanitise(config)
    digest = config_hash(config)
    create_schema(conn, now, __version__)
    conn.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, 'running', NULL)",
                 (uuid.uuid4().hex[:16], now, json.dumps(clean, sort_keys=True), digest, __version__))
    conn.execute("INSERT INTO sessions (started_ns, pid, sqfast_version, config_hash, status) "
                 "VALUES (?, ?, ?, ?, 'running')", (now, os.getpid(), __version__, digest))
    conn.execute("COMMIT")


def _start_session(conn: sqlite3.Connection, run_dir: Path, now: int, config: Any) -> bool:
    """Check a resumed run's configuration, close a crashed session, start a new one. Returns
    whether the previous process died without closing the journal."""
    stored_json, stored_hash, status = conn.execute(
        "SELECT config_json, config_hash, status FROM runs").fetchone()
    digest = stored_hash
    if config is not None:
        digest = config_hash(config)
        changes = config_changes(json.loads(stored_json), config) if digest != stored_hash else []
        if changes:
            raise SqfastError(
                f"{run_dir} holds a run with a different configuration ({'; '.join(changes)}): restore "
                f"it to resume, or start a new run with another run directory"
            )
    crashed = status == "running"
    conn.execute("BEGIN IMMEDIATE")
    if crashed:
        conn.execute("UPDATE sessions SET status = 'crashed' WHERE status = 'running'")
    conn.execute("INSERT INTO sessions (started_ns, pid, sqfast_version, config_hash, status) "
                 "VALUES (?, ?, ?, ?, 'running')", (now, os.getpid(), __version__, digest))
    conn.execute("UPDATE runs SET status = 'running', stopped_ns = NULL")
    conn.execute("COMMIT")
    return crashed
