"""The compiled broker's batched calls: one bar, one decision, or the end, for many symbol rows.

Each `*_core` function is `@njit`, can be called from other compiled code (an engine loop), and
returns a status: a count >= 0, or a negative code from compiled_layout (NEED_CAPACITY: nothing
was changed, call `grow` and call again; BAD_ROW / DUPLICATE_ROW / BAD_BAR / TOO_MANY_ACTIONS:
bad input, nothing was changed, the culprit is in g[G_BAD_ROW], g[G_BAD_BAR], g[G_BAD_VALUE]).
sqfast.sim.compiled wraps them for Python.

Worst cases reserved before anything changes, for each row that takes part (T open trades; a
queue of Q pending orders, E of them entry orders, which carry B sl/tp prices between them; A
actions). An order fills at most once, an entry order opens at most one trade and queues its sl
and tp (its own row is freed only after), and no order is created otherwise while a queue is
processed:
- a bar, for a row with an order that can fill on it (the same test that decides whether its
  queue is processed): a queue of at most Q + B orders, T + E trades; at most T + E closed trades
  (each trade closes once) plus Q + B split-off parts (one per fill); at most E + 1 events; for a
  row with none, nothing but its bankruptcy when its equity at the close is at or below 0 (T
  closed trades, one event); one equity row per row.
- a decision: Q orders plus, per action, T for a position.close, 1 for a buy or sell (and T more
  with exclusive_orders, which closes every trade); A errors.
- finalize: T close orders are queued in front, then a bar that processes the whole queue.
"""

import math

import numpy as np

from sqfast.sim.compiled_layout import (
    ACT_BUY,
    ACT_CLOSE,
    ACT_CODE,
    ACT_LIMIT,
    ACT_PORTION,
    ACT_SELL,
    ACT_SIZE,
    ACT_SL,
    ACT_STOP,
    ACT_TP,
    BAD_BAR,
    BAD_ROW,
    DUPLICATE_ROW,
    ENTRY,
    ERR_BRACKET_PRICE,
    ERR_CODE,
    ERR_LONG_PRICES,
    ERR_NOT_AT_BAR,
    ERR_OUT_OF_MONEY,
    ERR_PORTION,
    ERR_SHORT_PRICES,
    ERR_SIZE,
    F_CASH,
    F_CLOSE,
    F_EQUITY,
    F_HIGH,
    F_LOW,
    F_OPEN,
    F_PREV_CLOSE,
    G_BAD_BAR,
    G_BAD_ROW,
    G_BAD_VALUE,
    G_LIMIT_CLOSED,
    G_LIMIT_EVENTS,
    G_N_CLOSED,
    G_N_EQUITY,
    G_N_ERRORS,
    G_N_EVENTS,
    G_ORDER_TOP,
    G_STAMP,
    G_TRADE_TOP,
    G_WANT_CLOSED,
    G_WANT_EQUITY,
    G_WANT_ERRORS,
    G_WANT_EVENTS,
    G_WANT_ORDERS,
    G_WANT_TRADES,
    NEED_CAPACITY,
    O_LIMIT,
    O_ROLE,
    O_SIZE,
    O_SL,
    O_STOP,
    O_TP,
    OPT_EXCLUSIVE,
    OPT_RECORD_EQUITY,
    OPT_SPREAD,
    S_BAR,
    S_BUST,
    S_EQ_ROW,
    S_N_ORDERS,
    S_N_TRADES,
    S_ORDER_CAP,
    S_ORDER_OFF,
    S_STAMP,
    S_TRADE_CAP,
    S_TRADE_OFF,
    STOP_LOSS,
    T_ENTRY_PRICE,
    T_SIZE,
    TAKE_PROFIT,
    TOO_MANY_ACTIONS,
    BrokerState,
    jit,
    segment_growth,
)
from sqfast.sim.compiled_rules import (
    copy_row,
    go_bust,
    insert_order,
    process_queue,
    queue_close,
    remove_order,
    settle,
)

NAN = math.nan
INF = math.inf
Arr = np.ndarray  # (Numba ignores annotations)


# ------------------------------------------------------------------------------------ capacity

@jit
def _reserve(pool, si, g, s, off_col, cap_col, n_col, top_slot, want_slot, need):
    """Make symbol s's segment hold `need` rows, moving it to the pool's free top if it must grow;
    if the pool has no room, add the wanted rows to g[want_slot] and change nothing."""
    cap = si[s, cap_col]
    if need <= cap:
        return
    new_cap = max(segment_growth(cap), need)
    top = g[top_slot]
    if top + new_cap > pool.shape[0]:
        g[want_slot] += new_cap
        return
    off = si[s, off_col]
    for k in range(si[s, n_col]):
        copy_row(pool, off + k, top + k)
    si[s, off_col] = top
    si[s, cap_col] = new_cap
    g[top_slot] = top + new_cap


@jit
def _start(g):
    """A new call: a fresh stamp (to catch a row given twice) and no capacity wanted yet."""
    g[G_STAMP] += 1
    for slot in (G_WANT_ORDERS, G_WANT_TRADES, G_WANT_CLOSED, G_WANT_EVENTS, G_WANT_EQUITY, G_WANT_ERRORS):
        g[slot] = 0
    return g[G_STAMP]


@jit
def _check_row(si, g, s, stamp):
    """0 if row s is valid and not yet seen in this call, else BAD_ROW / DUPLICATE_ROW."""
    if s < 0 or s >= si.shape[0]:
        g[G_BAD_ROW] = s
        return BAD_ROW
    if si[s, S_STAMP] == stamp:
        g[G_BAD_ROW] = s
        return DUPLICATE_ROW
    si[s, S_STAMP] = stamp
    return 0


@jit
def _fits(state, closed_rows, event_rows, equity_rows, error_rows):
    """True if the logs can take these totals and no pool asked for more; else record the wants.
    The closed-trade and event totals become the limits the call's writes are checked against."""
    opt, g, _, _, _, _, closed, events, eq_key, _, errors = state
    g[G_LIMIT_CLOSED] = closed_rows
    g[G_LIMIT_EVENTS] = event_rows
    short = g[G_WANT_ORDERS] > 0 or g[G_WANT_TRADES] > 0
    if closed_rows > closed.shape[0]:
        g[G_WANT_CLOSED] = closed_rows
        short = True
    if event_rows > events.shape[0]:
        g[G_WANT_EVENTS] = event_rows
        short = True
    if opt[OPT_RECORD_EQUITY] != 0 and equity_rows > eq_key.shape[0]:
        g[G_WANT_EQUITY] = equity_rows
        short = True
    if error_rows > errors.shape[0]:
        g[G_WANT_ERRORS] = error_rows
        short = True
    return not short


@jit
def _queue_load(orders, si, s):
    """(E, B) of row s's queue: its entry orders and the sl/tp prices they carry."""
    off = si[s, S_ORDER_OFF]
    entries = 0
    brackets = 0
    for q in range(si[s, S_N_ORDERS]):
        if orders[off + q, O_ROLE] == ENTRY:
            entries += 1
            sl = orders[off + q, O_SL]
            tp = orders[off + q, O_TP]
            brackets += (sl == sl) + (tp == tp)  # (NaN: none)
    return entries, brackets


@jit
def _reserve_fills(state, s, n_orders, n_trades):
    """Reserve symbol s's segments for processing a queue of n_orders with n_trades open (see the
    module docstring); returns (E, B) for the log bounds."""
    _, g, si, _, orders, trades, _, _, _, _, _ = state
    entries, brackets = _queue_load(orders, si, s)
    _reserve(orders, si, g, s, S_ORDER_OFF, S_ORDER_CAP, S_N_ORDERS, G_ORDER_TOP, G_WANT_ORDERS,
             n_orders + brackets)
    _reserve(trades, si, g, s, S_TRADE_OFF, S_TRADE_CAP, S_N_TRADES, G_TRADE_TOP, G_WANT_TRADES,
             n_trades + entries)
    return entries, brackets


@jit
def _can_fill(orders, si, s, h, lo):
    """True if one of row s's pending orders can fill on a bar with this high and low: only then
    is its queue processed (nothing else in it can change on the bar)."""
    off = si[s, S_ORDER_OFF]
    for q in range(si[s, S_N_ORDERS]):
        size = orders[off + q, O_SIZE]
        stop = orders[off + q, O_STOP]
        limit = orders[off + q, O_LIMIT]
        if stop == stop:
            fills = h >= stop if size > 0 else lo <= stop
        elif limit == limit:
            fills = lo <= limit if size > 0 else h >= limit
        else:
            fills = True
        if fills:
            return True
    return False


# ----------------------------------------------------------------------------------------- a bar

@jit
def _position(trades, si, s, close):
    """(units, unrealised P&L, entry value) of row s's open trades."""
    off = si[s, S_TRADE_OFF]
    units = 0.0
    basis = 0.0
    invested = 0.0
    for k in range(si[s, S_N_TRADES]):
        size = trades[off + k, T_SIZE]
        entry = trades[off + k, T_ENTRY_PRICE]
        units += size
        basis += size * entry
        invested += abs(size) * entry
    return units, close * units - basis, invested


@jit
def broker_bar_core(state: BrokerState, sym: Arr, bar: Arr, open_: Arr, high: Arr, low: Arr, close: Arr,
                    pos_size: Arr, pos_pl: Arr, pos_pl_pct: Arr, equity_out: Arr) -> int:
    """SimAccount.process_bar for the rows `sym`, at their bars `bar`, with prices aligned with
    `sym`; writes each row's position size, P&L, P&L % and equity at `[sym[j]]` of the outputs.
    Returns how many of the rows are out of money (they take no more actions), or a status < 0."""
    opt, g, si, sf, orders, trades, closed, events, eq_key, eq_val, _ = state
    stamp = _start(g)
    closed_rows = g[G_N_CLOSED]
    event_rows = g[G_N_EVENTS]
    process = np.zeros(sym.shape[0], dtype=np.bool_)  # rows whose queue is processed on this bar
    for j in range(sym.shape[0]):
        s = sym[j]
        status = _check_row(si, g, s, stamp)
        if status:
            return status
        if bar[j] <= si[s, S_BAR]:
            g[G_BAD_ROW] = s
            g[G_BAD_BAR] = bar[j]
            g[G_BAD_VALUE] = si[s, S_BAR]
            return BAD_BAR
        if si[s, S_BUST]:
            continue  # out of money: nothing changes but its equity row
        n_orders = si[s, S_N_ORDERS]
        n_trades = si[s, S_N_TRADES]
        if n_orders and _can_fill(orders, si, s, high[j], low[j]):
            process[j] = True
            entries, brackets = _reserve_fills(state, s, n_orders, n_trades)
            closed_rows += n_trades + entries + n_orders + brackets
            event_rows += entries + 1
        elif n_trades and sf[s, F_CASH] + _position(trades, si, s, close[j])[1] <= 0:
            closed_rows += n_trades  # it goes bust at this close
            event_rows += 1
        elif not n_trades and sf[s, F_CASH] <= 0:
            event_rows += 1
    if not _fits(state, closed_rows, event_rows, g[G_N_EQUITY] + sym.shape[0], 0):
        return NEED_CAPACITY

    record = opt[OPT_RECORD_EQUITY] != 0
    n_bust = 0
    for j in range(sym.shape[0]):
        s = sym[j]
        i = bar[j]
        h = high[j]
        lo = low[j]
        c = close[j]
        sf[s, F_PREV_CLOSE] = sf[s, F_CLOSE]
        sf[s, F_OPEN] = open_[j]
        sf[s, F_HIGH] = h
        sf[s, F_LOW] = lo
        sf[s, F_CLOSE] = c
        si[s, S_BAR] = i
        bust = si[s, S_BUST] != 0
        if process[j]:  # only an order that can fill on this bar changes anything
            process_queue(orders, trades, si, sf, closed, events, g, opt, s)
        n_trades = si[s, S_N_TRADES]
        units, pl, invested = _position(trades, si, s, c)  # (as the first loop, for a row not processed)
        value = 0.0
        if not bust:
            value = sf[s, F_CASH] + pl if n_trades else sf[s, F_CASH]
            if value <= 0:
                go_bust(orders, trades, si, sf, closed, events, g, opt, s)
                bust = True
                value = 0.0
                units, pl, invested = _position(trades, si, s, c)  # what bankruptcy left open
        n_bust += bust
        pos_size[s] = units
        pos_pl[s] = pl
        pos_pl_pct[s] = (pl / invested) * 100 if invested else 0.0
        equity_out[s] = value
        sf[s, F_EQUITY] = value
        if record:
            row = g[G_N_EQUITY]
            eq_key[row, 0] = s
            eq_key[row, 1] = i
            eq_val[row] = value
            si[s, S_EQ_ROW] = row
            g[G_N_EQUITY] = row + 1
    return n_bust


# ------------------------------------------------------------------------------------ decisions

@jit
def _price(x):
    """An order price as SimAccount takes it: unset (NaN) when not given or 0."""
    return NAN if x == 0 else x


@jit
def _apply(orders, trades, si, sf, opt, s, bar, code, size, limit, stop, sl, tp, portion):
    """One action of row s, as SimAccount.buy/sell/position.close; 0 or the ERR_* it raises."""
    if si[s, S_BUST]:
        return ERR_OUT_OF_MONEY
    if si[s, S_BAR] < 0 or si[s, S_BAR] != bar:
        return ERR_NOT_AT_BAR
    n_trades = si[s, S_N_TRADES]
    if code == ACT_CLOSE:
        if math.isnan(portion):
            portion = 1.0
        if n_trades and not (0 < portion <= 1):
            return ERR_PORTION
        for k in range(n_trades):
            queue_close(orders, trades, si, s, k, portion)
        return 0
    if code != ACT_BUY and code != ACT_SELL:
        return ERR_CODE
    if not (math.isfinite(size) and (0 < size < 1 or (size >= 1 and math.floor(size) == size))):
        return ERR_SIZE
    size = size if code == ACT_BUY else -size
    limit, stop, sl, tp = _price(limit), _price(stop), _price(sl), _price(tp)
    if not math.isnan(limit):
        reference = limit
    elif not math.isnan(stop):
        reference = stop
    else:
        reference = sf[s, F_CLOSE] * (1 + math.copysign(opt[OPT_SPREAD], size))
    has_sl = not math.isnan(sl)
    has_tp = not math.isnan(tp)
    if size > 0 and not ((sl if has_sl else -INF) < reference < (tp if has_tp else INF)):
        return ERR_LONG_PRICES
    if size < 0 and not ((tp if has_tp else -INF) < reference < (sl if has_sl else INF)):
        return ERR_SHORT_PRICES
    if (has_sl and not sl > 0) or (has_tp and not tp > 0):
        return ERR_BRACKET_PRICE

    if opt[OPT_EXCLUSIVE] != 0:
        # Cancel the non-bracket orders the way backtesting.py does: removing while walking, so
        # the order that moves into a removed order's place is skipped.
        off = si[s, S_ORDER_OFF]
        k = 0
        while k < si[s, S_N_ORDERS]:
            role = orders[off + k, O_ROLE]
            if role != STOP_LOSS and role != TAKE_PROFIT:
                remove_order(orders, si, s, k)
            k += 1
        for k in range(n_trades):
            queue_close(orders, trades, si, s, k, 1.0)
    insert_order(orders, si, s, False, size, limit, stop, sl, tp, ENTRY, -1.0)
    return 0


@jit
def broker_act_core(state: BrokerState, sym: Arr, bar: Arr, act: Arr, n_act: Arr) -> int:
    """Apply each row's actions `act[s, k, :]` (k < n_act[s]) in order, for the rows `sym` at their
    bars `bar`. An invalid action changes nothing and is logged in `errors` (row, bar, k, ERR_*);
    the others are applied. Returns the number of errors, or a status < 0."""
    opt, g, si, _, orders, trades, _, _, _, _, errors = state
    stamp = _start(g)
    error_rows = 0
    exclusive = opt[OPT_EXCLUSIVE] != 0
    for j in range(sym.shape[0]):
        s = sym[j]
        status = _check_row(si, g, s, stamp)
        if status:
            return status
        n = n_act[s]
        if n < 0 or n > act.shape[1]:
            g[G_BAD_ROW] = s
            g[G_BAD_VALUE] = n
            return TOO_MANY_ACTIONS
        if n:
            n_trades = si[s, S_N_TRADES]
            need = si[s, S_N_ORDERS]
            for k in range(n):
                code = act[s, k, ACT_CODE]
                if code == ACT_CLOSE:
                    need += n_trades
                elif code == ACT_BUY or code == ACT_SELL:
                    need += 1 + n_trades if exclusive else 1
            if need > si[s, S_ORDER_CAP]:
                _reserve(orders, si, g, s, S_ORDER_OFF, S_ORDER_CAP, S_N_ORDERS, G_ORDER_TOP, G_WANT_ORDERS,
                         need)
            error_rows += n
    if not _fits(state, g[G_N_CLOSED], g[G_N_EVENTS], 0, error_rows):  # (decisions fill nothing)
        return NEED_CAPACITY

    opt, sf = state.opt, state.sf
    g[G_N_ERRORS] = 0
    for j in range(sym.shape[0]):
        s = sym[j]
        for k in range(n_act[s]):
            code = _apply(orders, trades, si, sf, opt, s, bar[j], act[s, k, ACT_CODE], act[s, k, ACT_SIZE],
                          act[s, k, ACT_LIMIT], act[s, k, ACT_STOP], act[s, k, ACT_SL], act[s, k, ACT_TP],
                          act[s, k, ACT_PORTION])
            if code:
                row = g[G_N_ERRORS]
                errors[row, 0] = s
                errors[row, 1] = bar[j]
                errors[row, 2] = k
                errors[row, 3] = code
                g[G_N_ERRORS] = row + 1
    return g[G_N_ERRORS]


# -------------------------------------------------------------------------------------- the end

@jit
def broker_finalize_core(state: BrokerState, sym: Arr, last_bar: Arr) -> int:
    """SimAccount.finalize for the rows `sym`: close every open trade on the row's last bar
    (`last_bar`, which must be its last processed bar), processing the whole queue once more on
    that bar's prices; the bar's equity is replaced. Rows out of money or without a bar are left
    alone. Returns 0, or a status < 0."""
    opt, g, si, sf, orders, trades, closed, events, eq_key, eq_val, _ = state
    stamp = _start(g)
    closed_rows = g[G_N_CLOSED]
    event_rows = g[G_N_EVENTS]
    for j in range(sym.shape[0]):
        s = sym[j]
        status = _check_row(si, g, s, stamp)
        if status:
            return status
        if si[s, S_BAR] < 0 or si[s, S_BUST]:
            continue
        if last_bar[j] != si[s, S_BAR]:
            g[G_BAD_ROW] = s
            g[G_BAD_BAR] = last_bar[j]
            g[G_BAD_VALUE] = si[s, S_BAR]
            return BAD_BAR
        n_trades = si[s, S_N_TRADES]
        n_orders = si[s, S_N_ORDERS] + n_trades  # with a close order per trade (no sl/tp, not entries)
        entries, brackets = _reserve_fills(state, s, n_orders, n_trades)
        closed_rows += n_trades + entries + n_orders + brackets
        event_rows += entries + 1
    if not _fits(state, closed_rows, event_rows, g[G_N_EQUITY] + sym.shape[0], 0):
        return NEED_CAPACITY

    for j in range(sym.shape[0]):
        s = sym[j]
        if si[s, S_BAR] < 0 or si[s, S_BUST]:
            continue
        for k in range(si[s, S_N_TRADES] - 1, -1, -1):
            queue_close(orders, trades, si, s, k, 1.0)
        value = settle(orders, trades, si, sf, closed, events, g, opt, s)
        sf[s, F_EQUITY] = value
        if opt[OPT_RECORD_EQUITY] != 0:
            row = si[s, S_EQ_ROW]
            if row < 0 or eq_key[row, 1] != si[s, S_BAR]:
                row = g[G_N_EQUITY]
                g[G_N_EQUITY] = row + 1
                eq_key[row, 0] = s
                eq_key[row, 1] = si[s, S_BAR]
                si[s, S_EQ_ROW] = row
            eq_val[row] = value
    return 0
