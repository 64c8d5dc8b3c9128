"""The compiled broker's fill rules: SimAccount's (sqfast/sim/broker.py), one symbol row at a time.

Every function here mirrors a SimAccount method of the same name and keeps its arithmetic in the
same order, so results are bit-identical (tests/sim/test_compiled_broker.py holds them to
backtesting.py and to SimAccount). The quirks listed in broker.py's docstring are reproduced.

These run only for a symbol whose pending orders can fill on the bar (or on a decision), so they
take the state's arrays as arguments; the per-bar loop in compiled_core keeps idle symbols and
symbols merely holding a position on a path free of calls.

Queue positions: the order being processed is always at row `si[s, S_CURSOR]` of the symbol's
queue; `_insert_order` (at the front) and `_remove_order` (before it) keep that cursor in step,
which is how a pass walks the queue like SimAccount's `for order in tuple(self._orders)`.
"""

import math

import numpy as np

from sqfast.sim.compiled_layout import (
    C_COMMISSION,
    C_ENTRY_BAR,
    C_ENTRY_PRICE,
    C_EXIT_BAR,
    C_EXIT_PRICE,
    C_ORDER,
    C_PNL,
    C_SIZE,
    C_SL,
    C_SYM,
    C_TP,
    CLOSE,
    ENTRY,
    EV_NO_MARGIN,
    EV_NO_UNITS,
    EV_OUT_OF_MONEY,
    EV_SAME_BAR_BRACKET,
    F_CASH,
    F_CLOSE,
    F_HIGH,
    F_LOW,
    F_OPEN,
    F_PREV_CLOSE,
    G_LIMIT_CLOSED,
    G_LIMIT_EVENTS,
    G_N_CLOSED,
    G_N_EVENTS,
    O_ID,
    O_LIMIT,
    O_ROLE,
    O_SIZE,
    O_SL,
    O_STOP,
    O_TP,
    O_TRADE,
    OPT_FIXED,
    OPT_HEDGING,
    OPT_LEVERAGE,
    OPT_ON_CLOSE,
    OPT_RELATIVE,
    OPT_SPREAD,
    S_BAR,
    S_BUST,
    S_CURSOR,
    S_N_ORDERS,
    S_N_TRADES,
    S_NEXT_ID,
    S_ORDER_CAP,
    S_ORDER_OFF,
    S_TRADE_CAP,
    S_TRADE_OFF,
    STOP_LOSS,
    T_ENTRY_BAR,
    T_ENTRY_PRICE,
    T_ID,
    T_ORDER,
    T_SIZE,
    T_SL,
    T_TP,
    TAKE_PROFIT,
    jit,
)

NAN = np.nan
INF = np.inf
Arr = np.ndarray  # (Numba ignores annotations; they document the public helpers)


@jit
def copy_row(a: Arr, src: int, dst: int) -> None:
    """a[dst, :] = a[src, :] without a slice (no temporary array)."""
    for f in range(a.shape[1]):
        a[dst, f] = a[src, f]


@jit
def _event(events, g, s, bar, code):
    row = g[G_N_EVENTS]
    if row >= g[G_LIMIT_EVENTS]:
        raise RuntimeError("compiled broker: more events than the call reserved")
    events[row, 0] = s
    events[row, 1] = bar
    events[row, 2] = code
    g[G_N_EVENTS] = row + 1


# ------------------------------------------------------------------------------------ the queue

@jit
def insert_order(orders: Arr, si: Arr, s: int, front: bool, size: float, limit: float, stop: float, sl: float,
                 tp: float, role: int, trade_id: float) -> None:
    """Queue an order at the front or the back; NaN prices are unset."""
    off = si[s, S_ORDER_OFF]
    n = si[s, S_N_ORDERS]
    if n >= si[s, S_ORDER_CAP]:
        raise RuntimeError("compiled broker: order segment full (capacity was not reserved)")
    if front:
        for k in range(n, 0, -1):
            copy_row(orders, off + k - 1, off + k)
        row = off
        si[s, S_CURSOR] += 1
    else:
        row = off + n
    oid = si[s, S_NEXT_ID]
    si[s, S_NEXT_ID] = oid + 1
    orders[row, O_SIZE] = size
    orders[row, O_LIMIT] = limit
    orders[row, O_STOP] = stop
    orders[row, O_SL] = sl
    orders[row, O_TP] = tp
    orders[row, O_ROLE] = role
    orders[row, O_TRADE] = trade_id
    orders[row, O_ID] = oid
    si[s, S_N_ORDERS] = n + 1


@jit
def remove_order(orders: Arr, si: Arr, s: int, pos: int) -> None:
    """Remove the order at queue position `pos`; later orders move up."""
    off = si[s, S_ORDER_OFF]
    n = si[s, S_N_ORDERS]
    for k in range(pos, n - 1):
        copy_row(orders, off + k + 1, off + k)
    si[s, S_N_ORDERS] = n - 1
    if pos < si[s, S_CURSOR]:
        si[s, S_CURSOR] -= 1


@jit
def _find_bracket(orders, si, s, trade_id, role):
    off = si[s, S_ORDER_OFF]
    for k in range(si[s, S_N_ORDERS]):
        if orders[off + k, O_TRADE] == trade_id and orders[off + k, O_ROLE] == role:
            return k
    return -1


@jit
def _find_trade(trades, si, s, trade_id):
    off = si[s, S_TRADE_OFF]
    for k in range(si[s, S_N_TRADES]):
        if trades[off + k, T_ID] == trade_id:
            return k
    return -1


# ------------------------------------------------------------------------------ money and trades

@jit
def equity(trades: Arr, si: Arr, s: int, cash: float, close: float) -> float:
    """SimAccount.equity: cash plus the open trades' unrealised P&L at `close`."""
    n = si[s, S_N_TRADES]
    if n == 0:
        return cash
    off = si[s, S_TRADE_OFF]
    units = 0.0
    basis = 0.0
    for k in range(n):
        size = trades[off + k, T_SIZE]
        units += size
        basis += size * trades[off + k, T_ENTRY_PRICE]
    return cash + (close * units - basis)


@jit
def _margin_available(trades, si, s, cash, close, leverage):
    """SimAccount.margin_available: equity minus the margin the open trades use, at least 0."""
    free = equity(trades, si, s, cash, close)
    off = si[s, S_TRADE_OFF]
    used = 0.0
    for k in range(si[s, S_N_TRADES]):
        used += abs(trades[off + k, T_SIZE]) * close / leverage
    free -= used
    return free if free > 0 else 0.0


@jit
def _book_exit(closed, g, opt, s, size, entry_price, entry_bar, sl, tp, price, bar, order_id):
    """Log a closed trade (or split-off part); returns the cash it settles (P&L minus exit commission)."""
    fixed = opt[OPT_FIXED]
    relative = opt[OPT_RELATIVE]
    gross = size * (price - entry_price)
    exit_commission = fixed + abs(size) * price * relative
    commissions = exit_commission + (fixed + abs(size) * entry_price * relative)
    row = g[G_N_CLOSED]
    if row >= g[G_LIMIT_CLOSED]:
        raise RuntimeError("compiled broker: more closed trades than the call reserved")
    g[G_N_CLOSED] = row + 1
    closed[row, C_SYM] = s
    closed[row, C_SIZE] = size
    closed[row, C_ENTRY_BAR] = entry_bar
    closed[row, C_EXIT_BAR] = bar
    closed[row, C_ENTRY_PRICE] = entry_price
    closed[row, C_EXIT_PRICE] = price
    closed[row, C_PNL] = gross - commissions
    closed[row, C_COMMISSION] = commissions
    closed[row, C_SL] = sl
    closed[row, C_TP] = tp
    closed[row, C_ORDER] = order_id
    return gross - exit_commission


@jit
def close_trade(orders: Arr, trades: Arr, si: Arr, sf: Arr, closed: Arr, g: Arr, opt: Arr, s: int, k: int,
                price: float, bar: int) -> None:
    """Close open trade k: remove it and its sl/tp orders, book it at `price`."""
    off = si[s, S_TRADE_OFF]
    row = off + k
    size = trades[row, T_SIZE]
    entry_price = trades[row, T_ENTRY_PRICE]
    entry_bar = trades[row, T_ENTRY_BAR]
    sl = trades[row, T_SL]
    tp = trades[row, T_TP]
    trade_id = trades[row, T_ID]
    order_id = trades[row, T_ORDER]
    n = si[s, S_N_TRADES]
    for q in range(k, n - 1):
        copy_row(trades, off + q + 1, off + q)
    si[s, S_N_TRADES] = n - 1
    if not math.isnan(sl):
        pos = _find_bracket(orders, si, s, trade_id, STOP_LOSS)
        if pos >= 0:
            remove_order(orders, si, s, pos)
    if not math.isnan(tp):
        pos = _find_bracket(orders, si, s, trade_id, TAKE_PROFIT)
        if pos >= 0:
            remove_order(orders, si, s, pos)
    sf[s, F_CASH] += _book_exit(closed, g, opt, s, size, entry_price, entry_bar, sl, tp, price, bar, order_id)


@jit
def _reduce_trade(orders, trades, si, sf, closed, g, opt, s, k, price, units, bar):
    """Close `units` (signed against the trade) of trade k: all of it, or a split-off part."""
    row = si[s, S_TRADE_OFF] + k
    left = trades[row, T_SIZE] + units
    if left == 0:
        close_trade(orders, trades, si, sf, closed, g, opt, s, k, price, bar)
        return
    trades[row, T_SIZE] = left
    trade_id = trades[row, T_ID]
    off = si[s, S_ORDER_OFF]
    for q in range(si[s, S_N_ORDERS]):
        role = orders[off + q, O_ROLE]
        if orders[off + q, O_TRADE] == trade_id and (role == STOP_LOSS or role == TAKE_PROFIT):
            orders[off + q, O_SIZE] = -left
    sf[s, F_CASH] += _book_exit(closed, g, opt, s, -units, trades[row, T_ENTRY_PRICE],
                                trades[row, T_ENTRY_BAR], NAN, NAN, price, bar, trades[row, T_ORDER])


@jit
def _open_trade(orders, trades, si, sf, opt, s, price, units, sl, tp, bar, order_id):
    """Open a trade; charge its entry commission; queue its tp (back) and sl (front)."""
    n = si[s, S_N_TRADES]
    if n >= si[s, S_TRADE_CAP]:
        raise RuntimeError("compiled broker: trade segment full (capacity was not reserved)")
    row = si[s, S_TRADE_OFF] + n
    trade_id = si[s, S_NEXT_ID]
    si[s, S_NEXT_ID] = trade_id + 1
    trades[row, T_SIZE] = units
    trades[row, T_ENTRY_PRICE] = price
    trades[row, T_ENTRY_BAR] = bar
    trades[row, T_SL] = sl
    trades[row, T_TP] = tp
    trades[row, T_ID] = trade_id
    trades[row, T_ORDER] = order_id
    si[s, S_N_TRADES] = n + 1
    sf[s, F_CASH] -= opt[OPT_FIXED] + abs(units) * price * opt[OPT_RELATIVE]
    if not math.isnan(tp):
        insert_order(orders, si, s, False, -units, tp, NAN, NAN, NAN, TAKE_PROFIT, trade_id)
    if not math.isnan(sl):
        insert_order(orders, si, s, True, -units, NAN, sl, NAN, NAN, STOP_LOSS, trade_id)


# ------------------------------------------------------------------------------------- filling

@jit
def _fill_exit(orders, trades, si, sf, closed, g, opt, s, price, fill_bar):
    """A stop-loss, take-profit or close order (at the cursor): reduce or close its trade."""
    row = si[s, S_ORDER_OFF] + si[s, S_CURSOR]
    role = orders[row, O_ROLE]
    size = orders[row, O_SIZE]
    k = _find_trade(trades, si, s, orders[row, O_TRADE])
    if k >= 0:  # still open (an earlier close order may have closed it)
        trade_size = trades[si[s, S_TRADE_OFF] + k, T_SIZE]
        units = math.copysign(min(abs(trade_size), abs(size)), size)
        _reduce_trade(orders, trades, si, sf, closed, g, opt, s, k, price, units, fill_bar)
    if role == CLOSE:
        remove_order(orders, si, s, si[s, S_CURSOR])


@jit
def _fill_entry(orders, trades, si, sf, closed, events, g, opt, s, price, stop, fill_bar, is_market):
    """A stand-alone order (at the cursor): net against opposite trades, check margin, open a
    trade. Returns True if the queue must be processed again on this bar."""
    bar = si[s, S_BAR]
    high = sf[s, F_HIGH]
    low = sf[s, F_LOW]
    close = sf[s, F_CLOSE]
    leverage = opt[OPT_LEVERAGE]
    row = si[s, S_ORDER_OFF] + si[s, S_CURSOR]
    size = orders[row, O_SIZE]
    limit = orders[row, O_LIMIT]
    sl = orders[row, O_SL]
    tp = orders[row, O_TP]
    order_id = orders[row, O_ID]
    long = size > 0
    fill_price = price * (1 + math.copysign(opt[OPT_SPREAD], size))
    unit_cost = fill_price + (opt[OPT_FIXED] + abs(size) * price * opt[OPT_RELATIVE]) / abs(size)
    if -1 < size < 1:
        free = _margin_available(trades, si, s, sf[s, F_CASH], close, leverage)
        size = math.copysign(float(int((free * leverage * abs(size)) // unit_cost)), size)
        if size == 0:
            _event(events, g, s, bar, EV_NO_UNITS)
            remove_order(orders, si, s, si[s, S_CURSOR])
            return False
    units = size

    if opt[OPT_HEDGING] == 0:  # close or reduce opposite trades first, oldest first
        k = 0
        while k < si[s, S_N_TRADES]:
            trade_size = trades[si[s, S_TRADE_OFF] + k, T_SIZE]
            if (trade_size > 0) == long:
                k += 1
                continue
            if abs(units) >= abs(trade_size):
                close_trade(orders, trades, si, sf, closed, g, opt, s, k, price, fill_bar)
                units += trade_size
            else:
                _reduce_trade(orders, trades, si, sf, closed, g, opt, s, k, price, units, fill_bar)
                units = 0.0
            if units == 0:
                break

    if abs(units) * unit_cost > _margin_available(trades, si, s, sf[s, F_CASH], close, leverage) * leverage:
        _event(events, g, s, bar, EV_NO_MARGIN)
        remove_order(orders, si, s, si[s, S_CURSOR])
        return False

    again = False
    if units != 0:
        _open_trade(orders, trades, si, sf, opt, s, fill_price, units, sl, tp, fill_bar, order_id)
        has_sl = not math.isnan(sl)
        has_tp = not math.isnan(tp)
        if has_sl or has_tp:
            sl_low = sl if has_sl else -INF
            sl_high = sl if has_sl else INF
            if is_market:
                again = True
            elif not math.isnan(stop) and math.isnan(limit) and has_tp and (
                    (long and tp <= high and sl_low < low) or (not long and tp >= low and sl_high > high)):
                again = True  # a stop entry and its tp move the same way: the tp can fill on this bar
            elif low <= sl_low <= high or low <= (tp if has_tp else -INF) <= high:
                _event(events, g, s, bar, EV_SAME_BAR_BRACKET)
    remove_order(orders, si, s, si[s, S_CURSOR])
    return again


@jit
def _process_pass(orders, trades, si, sf, closed, events, g, opt, s):
    """One pass over symbol s's queue on its current bar; True if it must be repeated."""
    bar = si[s, S_BAR]
    open_ = sf[s, F_OPEN]
    high = sf[s, F_HIGH]
    low = sf[s, F_LOW]
    prev_close = sf[s, F_PREV_CLOSE]
    on_close = opt[OPT_ON_CLOSE] != 0
    off = si[s, S_ORDER_OFF]
    first_new_id = si[s, S_NEXT_ID]  # orders queued during this pass are not in it
    again = False
    p = 0
    while p < si[s, S_N_ORDERS]:
        row = off + p
        oid = orders[row, O_ID]
        if oid >= first_new_id:  # a take-profit appended during this pass: the pass is over
            break
        size = orders[row, O_SIZE]
        limit = orders[row, O_LIMIT]
        stop = orders[row, O_STOP]
        role = orders[row, O_ROLE]
        long = size > 0
        has_stop = not math.isnan(stop)
        if has_stop:  # a stop that is touched turns the order into a market or limit order for good
            if not (high >= stop if long else low <= stop):
                p += 1
                continue
            orders[row, O_STOP] = NAN
        contingent = role == STOP_LOSS or role == TAKE_PROFIT
        if not math.isnan(limit):
            if not (low <= limit if long else high >= limit):
                p += 1
                continue
            # Stop and limit both inside this bar: assume the limit came first, so no fill.
            if has_stop and (limit <= stop if long else limit >= stop):
                p += 1
                continue
            start = stop if has_stop else open_
            price = min(start, limit) if long else max(start, limit)
        else:
            price = prev_close if on_close and not contingent else open_
            if has_stop:
                price = max(price, stop) if long else min(price, stop)
        is_market = math.isnan(limit) and not has_stop
        fill_bar = bar - 1 if is_market and on_close and not contingent else bar

        si[s, S_CURSOR] = p
        if role != ENTRY:
            _fill_exit(orders, trades, si, sf, closed, g, opt, s, price, fill_bar)
        elif _fill_entry(orders, trades, si, sf, closed, events, g, opt, s, price, stop, fill_bar, is_market):
            again = True
        p = si[s, S_CURSOR]
        if p < si[s, S_N_ORDERS] and orders[off + p, O_ID] == oid:
            p += 1  # still queued; otherwise the next order has moved into its place
    return again


@jit
def process_queue(orders: Arr, trades: Arr, si: Arr, sf: Arr, closed: Arr, events: Arr, g: Arr, opt: Arr,
                  s: int) -> None:
    """Process symbol s's queue on its current bar until no new sl/tp can fill on it."""
    while _process_pass(orders, trades, si, sf, closed, events, g, opt, s):
        pass


@jit
def settle(orders: Arr, trades: Arr, si: Arr, sf: Arr, closed: Arr, events: Arr, g: Arr, opt: Arr,
           s: int) -> float:
    """Process the queue; then close everything and stop the account if equity is at or below 0.
    Returns the equity at the close."""
    if si[s, S_N_ORDERS]:
        process_queue(orders, trades, si, sf, closed, events, g, opt, s)
    value = equity(trades, si, s, sf[s, F_CASH], sf[s, F_CLOSE])
    if value <= 0:
        go_bust(orders, trades, si, sf, closed, events, g, opt, s)
        value = 0.0
    return value


@jit
def go_bust(orders: Arr, trades: Arr, si: Arr, sf: Arr, closed: Arr, events: Arr, g: Arr, opt: Arr,
            s: int) -> None:
    """Close the trades at the close and stop; like backtesting.py, every second trade stays open."""
    close = sf[s, F_CLOSE]
    bar = si[s, S_BAR]
    k = 0
    while k < si[s, S_N_TRADES]:
        close_trade(orders, trades, si, sf, closed, g, opt, s, k, close, bar)
        k += 1
    sf[s, F_CASH] = 0.0
    si[s, S_BUST] = 1
    _event(events, g, s, bar, EV_OUT_OF_MONEY)


@jit
def queue_close(orders: Arr, trades: Arr, si: Arr, s: int, k: int, portion: float) -> None:
    """Queue a market order closing `portion` of open trade k, at the front."""
    row = si[s, S_TRADE_OFF] + k
    size = trades[row, T_SIZE]
    units = math.copysign(max(1.0, float(round(abs(size) * portion))), -size)
    insert_order(orders, si, s, True, units, NAN, NAN, NAN, NAN, CLOSE, trades[row, T_ID])
