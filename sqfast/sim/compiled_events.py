"""Read-outs of the compiled broker's state for the live engine's journal, for many rows at once.

The engine tracks the entry orders it placed by (row, broker order id). After a bar these tell,
without a Python loop over rows, which of them are still queued, which opened a trade (and its
size and price so far), and each row's open position: the inputs of the journal's fills, order
states and positions.
"""

import numpy as np

from .compiled_layout import (
    O_ID,
    S_N_ORDERS,
    S_N_TRADES,
    S_ORDER_OFF,
    S_TRADE_OFF,
    T_ENTRY_PRICE,
    T_ORDER,
    T_SIZE,
    jit,
)


@jit
def entry_status(orders: np.ndarray, trades: np.ndarray, si: np.ndarray, row: np.ndarray,
                 oid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each order (row[i], oid[i]): whether it is still in its row's queue, and the summed
    size and the entry price of the open trades it opened (size 0 and NaN when none)."""
    n = row.shape[0]
    queued = np.zeros(n, dtype=np.bool_)
    size = np.zeros(n)
    price = np.full(n, np.nan)
    for i in range(n):
        s, o = row[i], float(oid[i])
        off = si[s, S_ORDER_OFF]
        for k in range(off, off + si[s, S_N_ORDERS]):
            if orders[k, O_ID] == o:
                queued[i] = True
                break
        off = si[s, S_TRADE_OFF]
        for k in range(off, off + si[s, S_N_TRADES]):
            if trades[k, T_ORDER] == o:
                size[i] += trades[k, T_SIZE]
                price[i] = trades[k, T_ENTRY_PRICE]
    return queued, size, price


@jit
def new_entries(orders: np.ndarray, si: np.ndarray, rows: np.ndarray, first_id: np.ndarray,
                entry_role: float, role_column: int) -> tuple[np.ndarray, np.ndarray]:
    """The queued entry orders of `rows` with an id >= first_id (per row): (row, id) pairs, rows
    in the given order and ids increasing within a row."""
    total = 0
    for j in range(rows.shape[0]):
        s = rows[j]
        off = si[s, S_ORDER_OFF]
        for k in range(off, off + si[s, S_N_ORDERS]):
            if orders[k, O_ID] >= first_id[j] and orders[k, role_column] == entry_role:
                total += 1
    out_row = np.empty(total, dtype=np.int64)
    out_id = np.empty(total, dtype=np.int64)
    m = 0
    for j in range(rows.shape[0]):
        s = rows[j]
        off = si[s, S_ORDER_OFF]
        start = m
        for k in range(off, off + si[s, S_N_ORDERS]):
            if orders[k, O_ID] >= first_id[j] and orders[k, role_column] == entry_role:
                out_row[m] = s
                out_id[m] = np.int64(orders[k, O_ID])
                m += 1
        out_id[start:m] = np.sort(out_id[start:m])
    return out_row, out_id


@jit
def open_positions(trades: np.ndarray, si: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's open units (signed) and cost (sum of size x entry price)."""
    units = np.zeros(rows.shape[0])
    cost = np.zeros(rows.shape[0])
    for j in range(rows.shape[0]):
        s = rows[j]
        off = si[s, S_TRADE_OFF]
        for k in range(off, off + si[s, S_N_TRADES]):
            units[j] += trades[k, T_SIZE]
            cost[j] += trades[k, T_SIZE] * trades[k, T_ENTRY_PRICE]
    return units, cost


@jit
def margin_available(trades: np.ndarray, si: np.ndarray, cash: np.ndarray, close: np.ndarray,
                     leverage: float, rows: np.ndarray) -> np.ndarray:
    """SimAccount.margin_available of each row at its last close: equity minus the margin its
    open trades use, at least 0."""
    out = np.zeros(rows.shape[0])
    for j in range(rows.shape[0]):
        s = rows[j]
        off = si[s, S_TRADE_OFF]
        pl = 0.0
        used = 0.0
        for k in range(off, off + si[s, S_N_TRADES]):
            size = trades[k, T_SIZE]
            pl += size * close[s] - size * trades[k, T_ENTRY_PRICE]
            used += abs(size)
        out[j] = max(0.0, cash[s] + pl - used * close[s] / leverage)
    return out
