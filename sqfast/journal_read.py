"""Reading a run journal: typed rows for the engine's resume and for `sqfast status`.

`JournalReader` wraps any connection to a journal. The engine's `Journal` is one; `status`,
`halt` and `resume` open their own (`open_reader`), which may run beside an active engine: WAL
gives each read a consistent snapshot of the last committed interval.
"""

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .journal_rows import (
    OPEN_STATES,
    EquityRow,
    FeedCounters,
    FillRow,
    KillSwitch,
    OrderRow,
    PositionRow,
    RunRow,
    SessionRow,
    SignalRow,
    StrategyRow,
    TradeRow,
    columns,
)
from .journal_schema import check_run_dir, open_existing

KILL_SWITCH_KEY = "kill_switch"


class JournalReader:
    """Typed queries over one journal connection."""

    def __init__(self, conn: sqlite3.Connection, run_dir: Path):
        self.conn = conn
        self.run_dir = Path(run_dir)

    def _rows(self, row_type: type, table: str, where: str = "", args: tuple = (), order: str = "") -> list:
        sql = f"SELECT {columns(row_type)} FROM {table} {where} {order}"
        return [row_type(*r) for r in self.conn.execute(sql, args)]

    def _by_strategy(self, row_type: type, table: str, strategy: str | None, order: str) -> list:
        if strategy is None:
            return self._rows(row_type, table, order=order)
        return self._rows(row_type, table, "WHERE strategy = ?", (strategy,), order)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside the block see one committed state (a WAL read transaction, which never
        blocks the writer), not a mix of two intervals."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    def run(self) -> RunRow:
        return self._rows(RunRow, "runs")[0]

    def config(self) -> dict[str, Any]:
        """The run's configuration as stored (sanitised: no secrets)."""
        return json.loads(self.run().config_json)

    def sessions(self) -> list[SessionRow]:
        return self._rows(SessionRow, "sessions", order="ORDER BY session_id")

    def strategies(self) -> list[StrategyRow]:
        return self._rows(StrategyRow, "strategies", order="ORDER BY rowid")

    def signals(self, strategy: str | None = None) -> list[SignalRow]:
        return self._by_strategy(SignalRow, "signals", strategy, "ORDER BY id")

    def signal_counts(self) -> dict[str, int]:
        """{strategy: number of signals}."""
        return dict(self.conn.execute("SELECT strategy, count(*) FROM signals GROUP BY strategy"))

    def orders(self, strategy: str | None = None, states: tuple[str, ...] | None = None) -> list[OrderRow]:
        """Orders in creation order, optionally of one strategy and in some states."""
        terms, args = [], []
        if strategy is not None:
            terms.append("strategy = ?")
            args.append(strategy)
        if states is not None:
            terms.append(f"state IN ({', '.join('?' * len(states))})")
            args += states
        where = f"WHERE {' AND '.join(terms)}" if terms else ""
        return self._rows(OrderRow, "orders", where, tuple(args), "ORDER BY created_ns, rowid")

    def order(self, client_order_id: str) -> OrderRow | None:
        rows = self._rows(OrderRow, "orders", "WHERE client_order_id = ?", (client_order_id,))
        return rows[0] if rows else None

    def open_orders(self) -> list[OrderRow]:
        """Orders whose outcome is not known yet: to reconcile with the broker on restart."""
        return self.orders(states=OPEN_STATES)

    def known_order_ids(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT client_order_id FROM orders")}

    def order_counts(self) -> dict[str, dict[str, int]]:
        """{strategy: {state: count}}."""
        counts: dict[str, dict[str, int]] = {}
        for strategy, state, n in self.conn.execute(
            "SELECT strategy, state, count(*) FROM orders GROUP BY strategy, state"
        ):
            counts.setdefault(strategy, {})[state] = n
        return counts

    def fills(self, strategy: str | None = None) -> list[FillRow]:
        return self._by_strategy(FillRow, "fills", strategy, "ORDER BY ts_ns, rowid")

    def positions(self, strategy: str | None = None, open_only: bool = False) -> list[PositionRow]:
        rows = self._by_strategy(PositionRow, "positions", strategy, "ORDER BY strategy, symbol")
        return [r for r in rows if r.size != 0] if open_only else rows

    def trades(self, strategy: str | None = None) -> list[TradeRow]:
        return self._by_strategy(TradeRow, "trades", strategy, "ORDER BY id")

    def equity(self, strategy: str | None = None) -> list[EquityRow]:
        return self._by_strategy(EquityRow, "equity", strategy, "ORDER BY strategy, ts_ns")

    def last_equity(self) -> dict[str, EquityRow]:
        """Each strategy's latest equity and cash."""
        latest = "WHERE (strategy, ts_ns) IN (SELECT strategy, max(ts_ns) FROM equity GROUP BY strategy)"
        rows = self._rows(EquityRow, "equity", latest)
        return {r.strategy: r for r in rows}

    def progress(self) -> dict[str, int]:
        """{strategy: bar ts of its last fully processed interval}: where a restart resumes."""
        return dict(self.conn.execute("SELECT strategy, ts_ns FROM progress"))

    def feed_counters(self) -> dict[str, FeedCounters]:
        rows = self._rows(FeedCounters, "feed_state", order="ORDER BY source")
        return {r.source: r for r in rows}

    def risk(self, key: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT value FROM risk_state WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def risk_state(self) -> dict[str, dict[str, Any]]:
        return {k: json.loads(v) for k, v in self.conn.execute("SELECT key, value FROM risk_state")}

    def kill_switch(self) -> KillSwitch:
        value = self.risk(KILL_SWITCH_KEY)
        return KillSwitch() if value is None else KillSwitch(**value)


@contextmanager
def open_reader(run_dir: Path) -> Iterator[JournalReader]:
    """A reader on an existing run directory's journal, closed on exit; one-line errors for a
    missing directory, a directory that is not a run, or a journal from a newer sqfast."""
    path = check_run_dir(Path(run_dir))
    conn, _ = open_existing(path)
    try:
        yield JournalReader(conn, Path(run_dir))
    finally:
        conn.close()
