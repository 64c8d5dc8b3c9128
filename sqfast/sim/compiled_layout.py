"""The compiled broker's state: column numbers, codes, allocation and growth.

`BrokerState` holds N independent sub-accounts (one per symbol row) in a few numpy arrays:

- `opt`     float64[OPT_WIDTH]: the options shared by every sub-account (OPT_*).
- `g`       int64[G_WIDTH]: global counters: the top of each pool, the length of each log, the
            capacity a full call asked for, the log rows the current call reserved, the last bad
            input (G_*).
- `si`      int64[n_symbols, SI_WIDTH], `sf` float64[n_symbols, SF_WIDTH]: one row per symbol:
            where its orders and trades live, their counts, its last bar, out-of-money flag (S_*);
            its cash, last bar's prices and equity (F_*).
- `orders`  float64[pool, ORDER_WIDTH]: pending orders, one 64-byte row each (O_*). Symbol s owns
            rows `off .. off + cap` (si[s, S_ORDER_OFF], si[s, S_ORDER_CAP]); its first
            si[s, S_N_ORDERS] rows are its queue, in processing order, exactly like SimAccount's list
            (front insertions and removals shift the rows). An order refers to its trade by id.
- `trades`  float64[pool, TRADE_WIDTH]: open trades, oldest first, in the same kind of segment (T_*).
- `closed`  float64[n, CLOSED_WIDTH]: the log of closed trades, in closing order (C_*).
- `events`  int64[n, 3]: (symbol row, bar, EV_* code): orders the broker cancelled or deferred, bankruptcy.
- `eq_key`  int64[n, 2] and `eq_val` float64[n]: the equity log, (symbol row, bar) -> equity at the close.
- `errors`  int64[n, 4]: (symbol row, bar, action index, ERR_* code) of the last action call.

Ids of orders and trades come from one per-symbol counter (si[s, S_NEXT_ID]), so an order created
after another has a larger id; they are stored exactly in float64 columns.

Capacity, by need: a core call first checks that every pool and log can take the worst case of
the call (bounds in compiled_core), moving a symbol's segment to the free top of its pool when it
has to grow (by half, at least to what it needs; a segment starts empty by default). If a pool or
log is too small it records what it needs in `g` and returns NEED_CAPACITY without changing any
account; `grow` then packs the pool's segments, reclaiming the holes that moved segments left (in
place when that leaves room to spare, else into a pool of 1.5 times the need), and the call is
made again. Nothing is ever truncated. The worst cases are enforced, not trusted: a row written
beyond what the call reserved (a segment's capacity, g[G_LIMIT_CLOSED], g[G_LIMIT_EVENTS]) raises.
Rows of a pool beyond a segment's live rows, and of a log beyond its length, hold stale values.

Numba's on-disk cache is keyed on each function's own source file: after editing
compiled_rules.py during development, delete sqfast/sim/__pycache__ (callers in compiled_core keep
the old rules compiled in otherwise). An installed release replaces every file, so it is not
affected.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

jit = numba.njit(cache=True, nogil=True, error_model="numpy")
"""The project's Numba options (as kernels use): cached, GIL released, numpy division semantics."""

# ------------------------------------------------------------------------------------ options
OPT_CASH, OPT_SPREAD, OPT_FIXED, OPT_RELATIVE, OPT_LEVERAGE, OPT_ON_CLOSE, OPT_HEDGING, OPT_EXCLUSIVE, \
    OPT_RECORD_EQUITY = range(9)
OPT_WIDTH = 9

# ------------------------------------------------------------------------------- global slots
G_ORDER_TOP, G_TRADE_TOP, G_N_CLOSED, G_N_EVENTS, G_N_EQUITY, G_N_ERRORS, G_WANT_ORDERS, G_WANT_TRADES, \
    G_WANT_CLOSED, G_WANT_EVENTS, G_WANT_EQUITY, G_WANT_ERRORS, G_STAMP, G_BAD_ROW, G_BAD_BAR, \
    G_BAD_VALUE, G_LIMIT_CLOSED, G_LIMIT_EVENTS = range(18)
G_WIDTH = 24

# ------------------------------------------------------------------------- per-symbol columns
S_ORDER_OFF, S_ORDER_CAP, S_N_ORDERS, S_TRADE_OFF, S_TRADE_CAP, S_N_TRADES, S_NEXT_ID, S_BAR, S_BUST, \
    S_EQ_ROW, S_CURSOR, S_STAMP = range(12)
SI_WIDTH = 12
F_CASH, F_OPEN, F_HIGH, F_LOW, F_CLOSE, F_PREV_CLOSE, F_EQUITY = range(7)
SF_WIDTH = 7

# ------------------------------------------------------------------------------------ records
O_SIZE, O_LIMIT, O_STOP, O_SL, O_TP, O_ROLE, O_TRADE, O_ID = range(8)
ORDER_WIDTH = 8
ENTRY, STOP_LOSS, TAKE_PROFIT, CLOSE = range(4)  # O_ROLE: what an order is for

T_SIZE, T_ENTRY_PRICE, T_ENTRY_BAR, T_SL, T_TP, T_ID, T_ORDER = range(7)  # T_ORDER: the entry order's id
TRADE_WIDTH = 8

C_SYM, C_SIZE, C_ENTRY_BAR, C_EXIT_BAR, C_ENTRY_PRICE, C_EXIT_PRICE, C_PNL, C_COMMISSION, C_SL, \
    C_TP, C_ORDER = range(11)  # C_ORDER: the id of the order that opened the trade
CLOSED_WIDTH = 11

# --------------------------------------------------------------------------------------- codes
EV_NO_UNITS, EV_NO_MARGIN, EV_SAME_BAR_BRACKET, EV_OUT_OF_MONEY = range(1, 5)

ERR_OUT_OF_MONEY, ERR_NOT_AT_BAR, ERR_SIZE, ERR_LONG_PRICES, ERR_SHORT_PRICES, ERR_BRACKET_PRICE, \
    ERR_PORTION, ERR_CODE = range(1, 9)

# Core calls return a count >= 0, or one of these.
NEED_CAPACITY, BAD_ROW, BAD_BAR, DUPLICATE_ROW, TOO_MANY_ACTIONS = -1, -2, -3, -4, -5

ACT_CODE, ACT_SIZE, ACT_LIMIT, ACT_STOP, ACT_SL, ACT_TP, ACT_PORTION = range(7)
ACT_BUY, ACT_SELL, ACT_CLOSE = 1, 2, 3


class BrokerState(NamedTuple):
    """N simulated sub-accounts in arrays; see the module docstring for the layout."""

    opt: np.ndarray
    g: np.ndarray
    si: np.ndarray
    sf: np.ndarray
    orders: np.ndarray
    trades: np.ndarray
    closed: np.ndarray
    events: np.ndarray
    eq_key: np.ndarray
    eq_val: np.ndarray
    errors: np.ndarray


def headroom(rows: int) -> int:
    """Free rows a pool keeps above `rows` of segments when it is (re)allocated: half as many again."""
    return max(16, rows // 2)


@jit
def segment_growth(cap: int) -> int:
    """The capacity a full segment of `cap` rows moves up to (at least; more when a call needs more)."""
    return cap + cap // 2 + 1


def new_state(n_symbols: int, opt: np.ndarray, cash: float, order_capacity: int, trade_capacity: int,
              log_capacity: int) -> BrokerState:
    """Allocate a state: every symbol with `cash`, no bar yet, empty queues and logs, each symbol's
    order and trade segments of the given capacities (0: allocated at its first order or trade)."""
    if int(n_symbols) != n_symbols or n_symbols < 0:
        raise ValueError(f"n_symbols must be an integer >= 0, got {n_symbols!r}")
    for name, value, least in (("order_capacity", order_capacity, 0), ("trade_capacity", trade_capacity, 0),
                               ("log_capacity", log_capacity, 1)):
        if int(value) != value or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    n = int(n_symbols)
    si = np.zeros((n, SI_WIDTH), dtype=np.int64)
    rows = np.arange(n, dtype=np.int64)
    si[:, S_ORDER_OFF] = rows * order_capacity
    si[:, S_ORDER_CAP] = order_capacity
    si[:, S_TRADE_OFF] = rows * trade_capacity
    si[:, S_TRADE_CAP] = trade_capacity
    si[:, S_BAR] = -1
    si[:, S_EQ_ROW] = -1
    sf = np.full((n, SF_WIDTH), np.nan)
    sf[:, F_CASH] = cash
    sf[:, F_EQUITY] = cash
    g = np.zeros(G_WIDTH, dtype=np.int64)
    g[G_ORDER_TOP] = n * order_capacity
    g[G_TRADE_TOP] = n * trade_capacity
    order_rows = n * int(order_capacity)
    trade_rows = n * int(trade_capacity)
    return BrokerState(
        opt=opt, g=g, si=si, sf=sf,
        orders=np.full((order_rows + headroom(max(order_rows, n // 2)), ORDER_WIDTH), np.nan),
        trades=np.full((trade_rows + headroom(max(trade_rows, n // 2)), TRADE_WIDTH), np.nan),
        closed=np.full((log_capacity, CLOSED_WIDTH), np.nan),
        events=np.zeros((log_capacity, 3), dtype=np.int64),
        eq_key=np.zeros((log_capacity if opt[OPT_RECORD_EQUITY] else 1, 2), dtype=np.int64),
        eq_val=np.zeros(log_capacity if opt[OPT_RECORD_EQUITY] else 1),
        errors=np.zeros((16, 4), dtype=np.int64))


@jit
def _pack(src: np.ndarray, dst: np.ndarray, si: np.ndarray, off_col: int, cap_col: int, n_col: int) -> int:
    """Move every symbol's segment, in the order of their offsets, to the bottom of `dst` (which may
    be `src` itself: a segment only ever moves down), packed; returns the new top. A segment keeps
    its capacity; only its live rows are copied."""
    order = np.argsort(si[:, off_col], kind="mergesort")
    top = 0
    for s in order:
        off = si[s, off_col]
        for k in range(si[s, n_col]):
            for f in range(src.shape[1]):
                dst[top + k, f] = src[off + k, f]
        si[s, off_col] = top
        top += si[s, cap_col]
    return top


def _pool(pool: np.ndarray, si: np.ndarray, off_col: int, cap_col: int, n_col: int,
          want: int) -> tuple[np.ndarray, int]:
    """The pool packed, with room for `want` more rows above its segments: in place when that
    leaves a quarter of the need free besides (the holes were most of the shortage), else into a
    new pool with `headroom` above the need (so packing is not repeated call after call)."""
    used = int(si[:, cap_col].sum())
    need = used + want
    if need + need // 4 <= pool.shape[0]:
        return pool, _pack(pool, pool, si, off_col, cap_col, n_col)
    new = np.empty((need + headroom(need), pool.shape[1]))
    return new, _pack(pool, new, si, off_col, cap_col, n_col)


def _log(array: np.ndarray, used: int, want: int) -> np.ndarray:
    if want <= array.shape[0]:
        return array
    new = np.zeros((want + want // 2, *array.shape[1:]), dtype=array.dtype)
    new[:used] = array[:used]
    return new


def grow(state: BrokerState) -> BrokerState:
    """A state with room for what the last core call asked for (it returned NEED_CAPACITY).

    A short pool is packed (its holes reclaimed) and reallocated if packing leaves too little room;
    a short log gets 1.5 times what was asked for. `si` and `g` are updated in place, and a pool
    packed in place is the same array; the returned state shares them with the old one, which must
    not be used again.
    """
    g, si = state.g, state.si
    orders, trades = state.orders, state.trades
    if g[G_WANT_ORDERS]:
        orders, g[G_ORDER_TOP] = _pool(orders, si, S_ORDER_OFF, S_ORDER_CAP, S_N_ORDERS,
                                       int(g[G_WANT_ORDERS]))
    if g[G_WANT_TRADES]:
        trades, g[G_TRADE_TOP] = _pool(trades, si, S_TRADE_OFF, S_TRADE_CAP, S_N_TRADES,
                                       int(g[G_WANT_TRADES]))
    closed = _log(state.closed, g[G_N_CLOSED], g[G_WANT_CLOSED])
    events = _log(state.events, g[G_N_EVENTS], g[G_WANT_EVENTS])
    eq_key = _log(state.eq_key, g[G_N_EQUITY], g[G_WANT_EQUITY])
    eq_val = _log(state.eq_val, g[G_N_EQUITY], g[G_WANT_EQUITY])
    errors = _log(state.errors, 0, g[G_WANT_ERRORS])
    g[G_WANT_ORDERS:G_WANT_ERRORS + 1] = 0
    return state._replace(orders=orders, trades=trades, closed=closed, events=events, eq_key=eq_key,
                          eq_val=eq_val, errors=errors)
