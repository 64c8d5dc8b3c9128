"""The run journal: one SQLite file (WAL) per run directory that a restart resumes from.

The engine writes everything of one closed bar interval in one transaction
(`with journal.interval() as tx:`), so a SIGKILL at any moment leaves the journal at the end of
the last whole interval: never a signal without its order, a fill without its position, or
progress ahead of the rows it covers. An order is journaled (state `pending`) before it is sent,
under a deterministic `client_order_id`; journaling it again reports that it exists, so a
restarted engine never sends it twice, and a broker that received it already rejects the id.

Durability: `synchronous=FULL` (the default) fsyncs the WAL at every commit, so an order that the
journal acknowledged survives even a power cut before it reaches the broker. That is one fsync per
interval: 0.5-3 ms on the development VM, nothing against a 1-second bar in real time, but a limit
for `--speed max`. `NORMAL` skips the fsync (about 0.1 ms per commit) and is just as safe against
SIGKILL; a power cut may lose the last intervals, but whole ones. It suits runs with no outside
state (signals mode, the simulated broker), which simply redo those intervals.

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
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
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
from .journal_schema import check_run_dir, connect, create_schema, is_empty, journal_path, open_existing
from .run_lock import RunLock
from .sanitise import sanitise

__all__ = ["RESTART_SAFE", "Interval", "Journal", "client_order_id", "config_changes", "config_hash",
           "write_kill_switch"]

LOG_FILE = "sqfast.log"


def client_order_id(run_id: str, strategy: str, symbol: str, bar_ts_ns: int, seq: int) -> str:
    """A short deterministic order id ("sq-" + 20 hex digits of SHA-256, 23 characters, far below
    Alpaca's 128): the same intent after a restart gets the same id, so it is never sent twice."""
    digest = hashlib.sha256(f"{run_id}|{strategy}|{symbol}|{bar_ts_ns}|{seq}".encode()).hexdigest()
    return "sq-" + digest[:20]


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


_INSERT_SIGNAL = ("INSERT INTO signals (strategy, symbol, bar_ts_ns, action, size, limit_price, stop_price, "
                  "sl, tp, portion, indicators) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
_TERMINAL_SQL = "(" + ", ".join(f"'{state}'" for state in TERMINAL_STATES) + ")"


def _signal_values(strategy: str, symbol: str, bar_ts_ns: int, action: str, size: float | None,
                   limit: float | None, stop: float | None, sl: float | None, tp: float | None,
                   portion: float | None, indicators: str | None) -> tuple:
    return (strategy, symbol, int(bar_ts_ns), _check(action, SIGNAL_ACTIONS, "action"), _price(size),
            _price(limit), _price(stop), _price(sl), _price(tp), _price(portion), indicators)


class Interval:
    """One bar interval's writes: one transaction, committed whole when the `with` block ends and
    rolled back whole if it raises. Methods take the engine's values; NaN prices become NULL."""

    def __init__(self, journal: "Journal", conn: sqlite3.Connection, now_ns: int):
        self._journal, self._conn, self.now_ns = journal, conn, now_ns
        self._equity: dict[str, tuple[float, float]] = {}

    def strategy(self, strategy: str, allocation: float, capital: float, granularity: str | None = None,
                 n_symbols: int | None = None) -> None:
        """Record (or update) a strategy's allocation and starting capital."""
        self._conn.execute(
            "INSERT INTO strategies VALUES (?, ?, ?, ?, ?) ON CONFLICT (strategy) DO UPDATE SET "
            "allocation = excluded.allocation, capital = excluded.capital, "
            "granularity = excluded.granularity, n_symbols = excluded.n_symbols",
            (strategy, float(allocation), float(capital), granularity, n_symbols),
        )

    def signal(self, strategy: str, symbol: str, bar_ts_ns: int, action: str, size: float | None = None, *,
               limit: float | None = None, stop: float | None = None, sl: float | None = None,
               tp: float | None = None, portion: float | None = None,
               indicators: Mapping[str, Any] | None = None) -> None:
        """A signal the strategy emitted (recorded in every mode, `signals` included)."""
        self._conn.execute(_INSERT_SIGNAL, _signal_values(
            strategy, symbol, bar_ts_ns, action, size, limit, stop, sl, tp, portion,
            None if indicators is None else _json_safe(indicators)))

    def signals(self, rows: Iterable[SignalRow]) -> None:
        """Many signals at once (one statement): for intervals where many symbols signal."""
        self._conn.executemany(_INSERT_SIGNAL, (
            _signal_values(r.strategy, r.symbol, r.bar_ts_ns, r.action, r.size, r.limit, r.stop, r.sl, r.tp,
                           r.portion, r.indicators) for r in rows))

    def order(self, client_order_id: str, strategy: str, symbol: str, bar_ts_ns: int, side: str, size: float,
              *, type: str = "market", limit: float | None = None, stop: float | None = None,
              sl: float | None = None, tp: float | None = None, state: str = "pending",
              reason: str | None = None, net_id: str | None = None) -> bool:
        """Journal an order before it is sent. False when the id is journaled already: the order
        was sent (or blocked) before a restart, so the engine must not send it again. A `blocked`
        order needs the risk check's `reason`."""
        if state == "blocked" and not reason:
            raise ValueError("a blocked order needs the reason that blocked it")
        cursor = self._conn.execute(
            "INSERT INTO orders (client_order_id, strategy, symbol, bar_ts_ns, side, size, type, "
            "limit_price, stop_price, sl, tp, state, reason, net_id, created_ns, updated_ns) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (client_order_id) DO NOTHING",
            (client_order_id, strategy, symbol, int(bar_ts_ns), _check(side, SIDES, "side"), float(size),
             _check(type, ORDER_TYPES, "order type"), _price(limit), _price(stop), _price(sl), _price(tp),
             _check(state, ORDER_STATES, "state"), reason, net_id, self.now_ns, self.now_ns),
        )
        return cursor.rowcount == 1

    def order_state(self, client_order_id: str, state: str, reason: str | None = None,
                    broker_order_id: str | None = None) -> bool:
        """Move an order to `state`. A finished order (filled, canceled, rejected, blocked) never
        goes back to an open state: a late `submitted` or `partially_filled` update is ignored
        (returns False). Reason and broker id are kept when not given."""
        reopens = _check(state, ORDER_STATES, "state") not in TERMINAL_STATES
        cursor = self._conn.execute(
            "UPDATE orders SET state = ?, reason = coalesce(?, reason), "
            "broker_order_id = coalesce(?, broker_order_id), updated_ns = ? WHERE client_order_id = ? "
            f"AND NOT (? AND state IN {_TERMINAL_SQL})",
            (state, reason, broker_order_id, self.now_ns, client_order_id, reopens),
        )
        if cursor.rowcount == 1:
            return True
        if self._journal.order(client_order_id) is None:
            raise KeyError(f"order {client_order_id} is not in the journal")
        return False

    def fill(self, execution_id: str, client_order_id: str, strategy: str, symbol: str, side: str, qty: float,
             price: float, ts_ns: int, commission: float = 0.0) -> bool:
        """A fill of a journaled order; also adds to the order's filled quantity and average price.
        False (and nothing changes) when the execution id is journaled already."""
        cursor = self._conn.execute(
            "INSERT INTO fills VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (execution_id) DO NOTHING",
            (execution_id, client_order_id, strategy, symbol, _check(side, SIDES, "side"), float(qty),
             float(price), float(commission), int(ts_ns)),
        )
        if cursor.rowcount != 1:
            return False
        self._conn.execute(
            "UPDATE orders SET avg_fill_price = (coalesce(avg_fill_price, 0) * filled_qty + ? * ?) "
            "/ (filled_qty + ?), filled_qty = filled_qty + ?, updated_ns = ? WHERE client_order_id = ?",
            (float(price), float(qty), float(qty), float(qty), self.now_ns, client_order_id),
        )
        return True

    def position(self, strategy: str, symbol: str, size: float, avg_entry_price: float | None,
                 realized_pnl: float, ts_ns: int) -> None:
        """The strategy's position in the symbol after this interval (size 0 = flat)."""
        self._conn.execute(
            "INSERT OR REPLACE INTO positions VALUES (?, ?, ?, ?, ?, ?)",
            (strategy, symbol, float(size), _price(avg_entry_price), float(realized_pnl), int(ts_ns)),
        )

    def trade(self, strategy: str, symbol: str, size: float, entry_bar_ts_ns: int, exit_bar_ts_ns: int,
              entry_price: float, exit_price: float, pnl: float, commission: float = 0.0) -> None:
        """A closed trade (size signed: negative for a short)."""
        self._conn.execute(
            "INSERT INTO trades (strategy, symbol, size, entry_bar_ts_ns, exit_bar_ts_ns, entry_price, "
            "exit_price, pnl, commission) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (strategy, symbol, float(size), int(entry_bar_ts_ns), int(exit_bar_ts_ns), float(entry_price),
             float(exit_price), float(pnl), float(commission)),
        )

    def equity(self, strategy: str, ts_ns: int, equity: float, cash: float) -> bool:
        """The strategy's equity and cash at the interval; written only when they changed since
        the last row (returns whether a row was written)."""
        value = (float(equity), float(cash))
        if self._equity.get(strategy, self._journal._last_equity.get(strategy)) == value:
            return False
        self._conn.execute("INSERT OR REPLACE INTO equity VALUES (?, ?, ?, ?)",
                           (strategy, int(ts_ns), *value))
        self._equity[strategy] = value
        return True

    def counters(self, counters: FeedCounters) -> None:
        """A data source's cumulative bar counters."""
        c = counters
        self._conn.execute(
            "INSERT OR REPLACE INTO feed_state VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (c.source, c.received, c.accepted, c.duplicate, c.late, c.out_of_order, c.invalid,
             c.last_bar_ts_ns, c.last_bar_wall_ns, self.now_ns),
        )

    def risk(self, key: str, value: Mapping[str, Any]) -> None:
        """A piece of the risk module's state (daily loss, order-rate window) as JSON."""
        if key == KILL_SWITCH_KEY:
            raise ValueError("use kill_switch() to set the kill switch")
        self._conn.execute("INSERT OR REPLACE INTO risk_state VALUES (?, ?, ?)",
                           (key, json.dumps(dict(value), separators=(",", ":")), self.now_ns))

    def kill_switch(self, halted: bool, by: str, reason: str | None = None) -> KillSwitch:
        """Set or clear the persistent kill switch from inside the engine."""
        return write_kill_switch(self._conn, KillSwitch(halted, by, reason, self.now_ns))

    def progress(self, strategy: str, ts_ns: int) -> None:
        """The strategy has fully processed the interval starting at `ts_ns`."""
        self._conn.execute("INSERT OR REPLACE INTO progress VALUES (?, ?, ?)",
                           (strategy, int(ts_ns), self.now_ns))


def write_kill_switch(conn: sqlite3.Connection, state: KillSwitch) -> KillSwitch:
    """Store the kill switch through `conn`, inside the caller's transaction."""
    value = {"halted": state.halted, "by": state.by, "reason": state.reason, "ts_ns": state.ts_ns}
    conn.execute("INSERT OR REPLACE INTO risk_state VALUES (?, ?, ?)",
                 (KILL_SWITCH_KEY, json.dumps(value), state.ts_ns))
    return state


class Journal(JournalReader):
    """The engine's journal of one run directory: holds the run lock, writes intervals, reads
    back everything a restart needs. Open with `Journal.open`; one thread uses it."""

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

    @classmethod
    def open(cls, run_dir: Path, *, create: bool, config: Any = None,
             synchronous: str = "FULL") -> "Journal":
        """Open a run directory for an engine, holding its lock until `close`. A new one (with
        `create`) starts a run with the sanitised `config` (a dict, or a dataclass such as
        RunConfig). An existing one is resumed: `resumed` is True, `recovered` is True when its
        last process died without closing it, and a `config` that differs in a way that matters
        (config_changes) is refused; None skips that check. Without `create` the run must exist."""
        run_dir = Path(run_dir)
        if create:
            run_dir.mkdir(parents=True, exist_ok=True)
        else:
            check_run_dir(run_dir)
        lock = RunLock(run_dir)
        try:
            return cls._open_locked(run_dir, lock, create, config, synchronous)
        except BaseException:
            lock.release()
            raise

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

    @contextmanager
    def interval(self, now_ns: int | None = None) -> Iterator[Interval]:
        """One atomic batch of writes (normally one closed bar interval)."""
        if self._in_interval:
            raise RuntimeError("journal intervals do not nest")
        self._in_interval = True
        tx = Interval(self, self.conn, time.time_ns() if now_ns is None else now_ns)
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield tx
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self._last_equity.update(tx._equity)
        finally:
            self._in_interval = False

    def export(self, out_dir: Path | None = None) -> tuple[Path, Path]:
        """Write `trades.parquet` and `equity.parquet` (to the run directory by default), each
        atomically: a reader sees the old file or the new one, never a partial one."""
        from .journal_export import export_tables

        return export_tables(self, Path(out_dir) if out_dir is not None else self.run_dir)

    def close(self) -> None:
        """Mark the session and the run stopped, and release the run directory."""
        if self._lock is None:
            return
        now = time.time_ns()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("UPDATE sessions SET status = 'stopped', ended_ns = ? WHERE session_id = "
                              "(SELECT max(session_id) FROM sessions)", (now,))
            self.conn.execute("UPDATE runs SET status = 'stopped', stopped_ns = ?", (now,))
            self.conn.execute("COMMIT")
            self.conn.execute("PRAGMA optimize")
        finally:
            self.conn.close()
            self._lock.release()
            self._lock = None

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
