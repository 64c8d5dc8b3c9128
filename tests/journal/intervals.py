"""Deterministic journal intervals for the bulk and background tests, written per row or in bulk.

`rows(i)` depends on `i` alone (no state carried between intervals), so a restarted writer
produces the same rows as one that never stopped. Interval i journals new orders for every
(strategy, symbol); fills and finishes the previous interval's orders (two partial fills for
some, a re-sent execution id for others, a late `submitted` that must not reopen an order);
positions, closed trades, equity that changes every third interval, counters, risk state and
progress. Values mix NaN, numpy scalars and plain Python numbers, as the engine's do.
"""

import json
import math

import numpy as np

from sqfast.journal import client_order_id
from sqfast.journal_rows import FeedCounters

STRATEGIES = ("s1", "s2")
T0 = 1_700_000_000_000_000_000
STEP = 1_000_000_000
TYPES = ("market", "limit", "stop", "stop_limit")
TABLES = ("strategies", "signals", "orders", "fills", "positions", "trades", "equity", "risk_state",
          "feed_state", "progress")
KEYED = {"positions": "strategy, symbol", "equity": "strategy, ts_ns"}  # WITHOUT ROWID tables


def ts(i: int) -> int:
    return T0 + i * STEP


def symbols(width: int) -> list[str]:
    return [f"S{k:03d}" for k in range(width)]


def cid(strategy: str, symbol: str, i: int) -> str:
    return client_order_id("run", strategy, symbol, ts(i), 0)


def _order(strategy: str, symbol: str, k: int, i: int) -> tuple:
    kind = TYPES[(i + k) % 4]
    limit = 100.0 + k if kind in ("limit", "stop_limit") else math.nan
    stop = np.float64(99.5 + k) if kind in ("stop", "stop_limit") else None
    blocked = (i + k) % 7 == 3
    return (cid(strategy, symbol, i), strategy, symbol, ts(i), "buy" if (i + k) % 3 else "sell",
            float(1 + k % 5), kind, limit, stop, math.nan, 105.0 + k, "blocked" if blocked else "submitted",
            "max_order_notional 1000" if blocked else None, None)


def _signal(strategy: str, symbol: str, k: int, i: int) -> tuple:
    action = ("buy", "sell", "close")[(i + k) % 3]
    indicators = json.dumps({"sma": 100.5 + k, "rsi": None}, separators=(",", ":")) if k % 2 else None
    return (strategy, symbol, np.int64(ts(i)) if k % 2 else ts(i), action,
            None if action == "close" else np.float32(0.5), math.nan, None, np.float64(95.0 + k), math.nan,
            0.5 if action == "close" else None, indicators)


def _orders(i: int, width: int) -> list[tuple]:
    if i < 0:
        return []
    return [_order(s, sym, k, i) for s in STRATEGIES for k, sym in enumerate(symbols(width))]


def _fills_and_states(i: int, width: int) -> tuple[list[tuple], list[tuple]]:
    fills, states = [], []
    for k, order in enumerate(_orders(i - 1, width)):
        if order[11] == "blocked":
            continue
        if k % 5 == 4:
            states.append((order[0], "canceled"))
            continue
        parts = (0.4, 0.6) if k % 3 == 0 else (1.0,)
        for n, part in enumerate(parts):
            fills.append((f"{order[0]}:{n}", order[0], order[1], order[2], order[4], order[5] * part,
                          100.0 + k + n / 4, ts(i), 0.01 * k))
        states.append((order[0], "filled"))
        if k % 4 == 1:
            fills.append(fills[-1])  # the same execution id twice in one interval: written once
    earlier = [o for k, o in enumerate(_orders(i - 2, width)) if o[11] != "blocked" and k % 5 != 4]
    if earlier:
        states.append((earlier[0][0], "submitted"))  # late: a filled order never reopens
        fills.append((f"{earlier[0][0]}:0", *fills[0][1:]))  # re-sent after a reconnect: skipped
    return fills, states


def rows(i: int, width: int = 6) -> dict:
    """Everything interval `i` journals, as the bulk methods' tuples."""
    fills, states = _fills_and_states(i, width)
    positions = [(s, sym, float((i + k) % 4 - 1), None if (i + k) % 4 == 1 else 100.0 + k, 0.25 * i, ts(i))
                 for s in STRATEGIES for k, sym in enumerate(symbols(width))]
    trades = [(s, sym, -2.0 if k % 2 else 3.0, ts(i - 1), ts(i), 100.0 + k, 101.0, 0.5 * k, 0.02)
              for s in STRATEGIES for k, sym in enumerate(symbols(width)) if (i + k) % 3 == 0]
    return {"signals": [_signal(s, sym, k, i) for s in STRATEGIES for k, sym in enumerate(symbols(width))],
            "orders": _orders(i, width), "states": states, "fills": fills, "positions": positions,
            "trades": trades,
            "equity": [(s, ts(i), 1_000.0 + n + i // 3, 500.0) for n, s in enumerate(STRATEGIES)],
            "counters": FeedCounters("demo", 10 * (i + 1), 9 * (i + 1), i + 1, last_bar_ts_ns=ts(i),
                                     last_bar_wall_ns=ts(i) + 5)}


def write_bulk(tx, i: int, width: int = 6) -> None:
    """Interval `i` through the bulk methods, in the engine's order."""
    r = rows(i, width)
    if i == 0:
        for s in STRATEGIES:
            tx.strategy(s, 0.5, 1_000.0, "1s", width)
    tx.signal_rows(r["signals"])
    tx.order_rows(r["orders"])
    tx.order_state_rows(r["states"])
    tx.fill_rows(r["fills"])
    tx.trade_rows(r["trades"])
    tx.position_rows(r["positions"])
    _write_tail(tx, i, r)


def write_per_row(tx, i: int, width: int = 6) -> None:
    """Interval `i` through the per-row methods, same rows, same order."""
    r = rows(i, width)
    if i == 0:
        for s in STRATEGIES:
            tx.strategy(s, 0.5, 1_000.0, "1s", width)
    for s, sym, bar, action, size, limit, stop, sl, tp, portion, indicators in r["signals"]:
        tx.signal(s, sym, bar, action, size, limit=limit, stop=stop, sl=sl, tp=tp, portion=portion,
                  indicators=None if indicators is None else json.loads(indicators))
    for c, s, sym, bar, side, size, kind, limit, stop, sl, tp, state, reason, net_id in r["orders"]:
        tx.order(c, s, sym, bar, side, size, type=kind, limit=limit, stop=stop, sl=sl, tp=tp, state=state,
                 reason=reason, net_id=net_id)
    for c, state in r["states"]:
        tx.order_state(c, state)
    for fill in r["fills"]:
        tx.fill(*fill)
    for trade in r["trades"]:
        tx.trade(*trade)
    for position in r["positions"]:
        tx.position(*position)
    _write_tail(tx, i, r)


def _write_tail(tx, i: int, r: dict) -> None:
    for strategy, at, equity, cash in r["equity"]:
        tx.equity(strategy, at, equity, cash)
    tx.counters(r["counters"])
    tx.risk("limits", {"orders": i})
    if i % 10 == 5:
        tx.kill_switch(i % 20 == 5, "engine", "test")
    for s in STRATEGIES:
        tx.progress(s, ts(i))


def dump(conn) -> dict[str, list]:
    """Every interval table's rows in storage order, each value with its SQLite type."""
    out = {}
    for table in TABLES:
        order = KEYED.get(table, "rowid")
        out[table] = [tuple((type(v).__name__, v) for v in row)
                      for row in conn.execute(f"SELECT * FROM {table} ORDER BY {order}")]
    return out
