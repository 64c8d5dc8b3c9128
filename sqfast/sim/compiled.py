"""The compiled simulated broker: SimAccount's rules in Numba, for many sub-accounts at once.

One `BrokerState` holds N independent sub-accounts, one per symbol row, sharing the broker
options. Its layout (a NamedTuple of numpy arrays: per-symbol rows, pools of order and trade rows
in per-symbol segments, append-only logs) is described in sqfast.sim.compiled_layout; the fill
rules are in compiled_rules, the batched calls in compiled_core. Results are bit-identical to
SimAccount's, and so to backtesting.py 0.6.6 (tests/sim/test_compiled_broker.py).

Use, in backtesting.py's order, per time of the replay:

    state = broker_init(n_symbols, cash=..., commission=..., ...)
    state, n_bust = broker_bar(state, sym, bar, open, high, low, close, pos_size, pos_pl, pos_pl_pct, equity)
    # the strategy step decides for the rows of `sym` not out of money, filling act / n_act
    state = broker_act(state, sym, bar, act, n_act)
    ...
    state = broker_finalize(state, rows, last_bar)      # only with finalize_trades
    closed_trades(state), equity_curves(state), broker_events(state)

The Python wrappers return the state because growing it replaces arrays; always keep the returned
one. A compiled engine loop can call the `*_core` functions directly (see compiled_core) and come
back to Python only when one returns NEED_CAPACITY.

Supported: market, limit, stop and stop-limit orders, sl/tp, fractional and whole-unit sizes,
`position.close(portion)`, FIFO netting, hedging, exclusive_orders, trade_on_close, spread,
commission as a number or a (fixed, relative) pair, margin, bankruptcy, finalize. Not supported:
a callable commission (`supports_options` says so; use SimAccount), tags, `order.cancel()`,
`trade.close()` and the `trade.sl` / `trade.tp` setters.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sqfast.sim.broker import NO_MARGIN, NO_UNITS, OUT_OF_MONEY, SAME_BAR_BRACKET, SimAccount
from sqfast.sim.compiled_core import broker_act_core, broker_bar_core, broker_finalize_core
from sqfast.sim.compiled_layout import (
    ACT_CODE,
    BAD_BAR,
    BAD_ROW,
    C_COMMISSION,
    C_ENTRY_BAR,
    C_ENTRY_PRICE,
    C_EXIT_BAR,
    C_EXIT_PRICE,
    C_PNL,
    C_SIZE,
    C_SL,
    C_SYM,
    C_TP,
    DUPLICATE_ROW,
    ERR_BRACKET_PRICE,
    ERR_CODE,
    ERR_LONG_PRICES,
    ERR_NOT_AT_BAR,
    ERR_OUT_OF_MONEY,
    ERR_PORTION,
    ERR_SHORT_PRICES,
    ERR_SIZE,
    EV_NO_MARGIN,
    EV_NO_UNITS,
    EV_OUT_OF_MONEY,
    EV_SAME_BAR_BRACKET,
    F_CASH,
    G_BAD_BAR,
    G_BAD_ROW,
    G_BAD_VALUE,
    G_N_CLOSED,
    G_N_EQUITY,
    G_N_EVENTS,
    NEED_CAPACITY,
    O_LIMIT,
    O_ROLE,
    O_SIZE,
    O_SL,
    O_STOP,
    O_TP,
    OPT_WIDTH,
    S_BUST,
    S_N_ORDERS,
    S_N_TRADES,
    S_ORDER_OFF,
    S_TRADE_OFF,
    STOP_LOSS,
    T_ENTRY_BAR,
    T_ENTRY_PRICE,
    T_SIZE,
    T_SL,
    T_TP,
    TAKE_PROFIT,
    TOO_MANY_ACTIONS,
    BrokerState,
    grow,
    new_state,
)

__all__ = ["ACTION_FIELDS", "EVENT_REASONS", "ActionError", "BrokerActionError", "BrokerState",
           "ClosedTrades", "broker_act", "broker_bar", "broker_events", "broker_finalize", "broker_init",
           "closed_trades", "equity_curves", "out_of_money", "supports_options", "symbol_cash",
           "symbol_orders", "symbol_trades"]

ACTION_FIELDS = ("code", "size", "limit", "stop", "sl", "tp", "portion")
"""act[s, k, :] columns (a trailing pad column is allowed). code 1 buy, 2 sell, 3 position.close;
NaN = not given (a NaN size is an invalid size; a NaN portion is 1)."""

EVENT_REASONS = {EV_NO_UNITS: NO_UNITS, EV_NO_MARGIN: NO_MARGIN, EV_SAME_BAR_BRACKET: SAME_BAR_BRACKET,
                 EV_OUT_OF_MONEY: OUT_OF_MONEY}
"""Event code -> the reason SimAccount records in its `events`."""

ERROR_REASONS = {
    ERR_OUT_OF_MONEY: "the account is out of money; it takes no more orders",
    ERR_NOT_AT_BAR: "an action must be taken at the row's last processed bar",
    ERR_SIZE: "size must be a fraction in (0, 1) of available margin or a whole number of units >= 1",
    ERR_LONG_PRICES: "a long order needs sl < limit/stop/price < tp",
    ERR_SHORT_PRICES: "a short order needs tp < limit/stop/price < sl",
    ERR_BRACKET_PRICE: "sl and tp must be prices > 0",
    ERR_PORTION: "portion must be a fraction in (0, 1]",
    ERR_CODE: "unknown action code (1 buy, 2 sell, 3 position.close)",
}

_OPTIONS = ("cash", "spread", "commission", "margin", "trade_on_close", "hedging", "exclusive_orders",
            "finalize_trades")


def supports_options(**options: object) -> bool:
    """True if the compiled broker implements these broker options (backtesting.py's names): all
    but a callable commission, for which the engine keeps the Python SimAccount."""
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise TypeError(f"unknown broker options: {', '.join(unknown)}")
    return not callable(options.get("commission", 0.0))


def broker_init(n_symbols: int, *, cash: float = 10_000, spread: float = 0.0,
                commission: float | tuple[float, float] = 0.0, margin: float = 1.0,
                trade_on_close: bool = False, hedging: bool = False, exclusive_orders: bool = False,
                record_equity: bool = True, order_capacity: int = 0, trade_capacity: int = 0,
                log_capacity: int = 1024) -> BrokerState:
    """A state of `n_symbols` sub-accounts, each with `cash`, under backtesting.py's options
    (validated as SimAccount does). `record_equity=False` keeps only each row's last equity. The
    capacities are initial sizes (orders and trades per symbol, log rows); everything grows, by
    need. With 0 (the default) a symbol's segment is allocated at its first order or trade, so
    symbols that never trade cost their two rows of `si`/`sf` only."""
    if callable(commission):
        raise ValueError("a callable commission is not supported by the compiled broker; use SimAccount "
                         "(see supports_options)")
    SimAccount(cash=cash, spread=spread, commission=commission, margin=margin)  # validates, same messages
    fixed, relative = commission if isinstance(commission, tuple) else (0.0, commission)
    opt = np.array([cash, spread, fixed, relative, 1 / margin, trade_on_close, hedging, exclusive_orders,
                    record_equity], dtype=np.float64)
    assert opt.shape == (OPT_WIDTH,)
    return new_state(n_symbols, opt, float(cash), order_capacity, trade_capacity, log_capacity)


# --------------------------------------------------------------------------------- batched calls

def _rows(x: object) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.int64)


def _values(x: object) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64)


def _call(core, state: BrokerState, *args: object) -> tuple[BrokerState, int]:
    """Call a core function, growing the state while it asks for capacity; bad input raises."""
    status = core(state, *args)
    while status == NEED_CAPACITY:
        state = grow(state)
        status = core(state, *args)
    if status >= 0:
        return state, int(status)
    g = state.g
    row = int(g[G_BAD_ROW])
    if status == BAD_ROW:
        raise IndexError(f"symbol row {row} is out of range for {state.si.shape[0]} rows")
    if status == DUPLICATE_ROW:
        raise ValueError(f"symbol row {row} appears twice in one call")
    if status == BAD_BAR:
        raise ValueError(f"symbol row {row}: bar {int(g[G_BAD_BAR])} after its last processed bar "
                         f"{int(g[G_BAD_VALUE])} (bars must increase; finalize names the last one)")
    if status == TOO_MANY_ACTIONS:
        raise ValueError(f"symbol row {row}: n_act {int(g[G_BAD_VALUE])} outside the act array")
    raise RuntimeError(f"compiled broker: unexpected status {status}")


def _aligned(n: int, dtype: type | None = None, **arrays: np.ndarray) -> None:
    for name, array in arrays.items():
        if array.ndim != 1 or array.shape[0] != n or (dtype is not None and array.dtype != dtype):
            kind = "" if dtype is None else f" of {np.dtype(dtype)}"
            raise ValueError(f"{name} must be 1-D with {n} values{kind}, got {array.dtype} {array.shape}")


def broker_bar(state: BrokerState, sym: np.ndarray, bar: np.ndarray, open: np.ndarray, high: np.ndarray,
               low: np.ndarray, close: np.ndarray, pos_size: np.ndarray, pos_pl: np.ndarray,
               pos_pl_pct: np.ndarray, equity: np.ndarray) -> tuple[BrokerState, int]:
    """SimAccount.process_bar for the rows `sym` at their 0-based bars `bar` (increasing per row),
    prices aligned with `sym`: pending orders fill or are cancelled, equity is recorded, a row whose
    equity is at or below 0 closes its trades and is out of money. Writes, at index `sym[j]` of the
    four float64 outputs (one value per symbol row), what the strategy then reads: position size,
    position P&L, position P&L % and equity. Returns the state and how many of the rows are out of
    money (see `out_of_money`; such a row takes no more actions)."""
    sym, bar = _rows(sym), _rows(bar)
    open, high, low, close = _values(open), _values(high), _values(low), _values(close)
    _aligned(sym.shape[0], bar=bar, open=open, high=high, low=low, close=close)
    _aligned(state.si.shape[0], np.float64, pos_size=pos_size, pos_pl=pos_pl, pos_pl_pct=pos_pl_pct,
             equity=equity)
    return _call(broker_bar_core, state, sym, bar, open, high, low, close,
                 pos_size, pos_pl, pos_pl_pct, equity)


class ActionError(NamedTuple):
    """An action the broker refused, where SimAccount raises."""

    row: int
    bar: int
    index: int  # k in act[row, k, :]
    code: int
    reason: str


class BrokerActionError(ValueError):
    """Actions that SimAccount would have refused with an exception. Every other action of the call
    was applied; `state` is the state to continue with."""

    def __init__(self, errors: list[ActionError], state: BrokerState, act: np.ndarray) -> None:
        self.errors = errors
        self.state = state
        lines = [f"symbol row {e.row}, bar {e.bar}, action {e.index} "
                 f"({_describe(act[e.row, e.index])}): {e.reason}" for e in errors[:10]]
        more = f"\n... and {len(errors) - 10} more" if len(errors) > 10 else ""
        super().__init__(f"{len(errors)} invalid action(s):\n" + "\n".join(lines) + more)


def _describe(action: np.ndarray) -> str:
    code = float(action[ACT_CODE])
    name = {1.0: "buy", 2.0: "sell", 3.0: "position.close"}.get(code, f"code {code!r}")
    values = action[1:len(ACTION_FIELDS)].tolist()
    given = [f"{field}={value!r}" for field, value in zip(ACTION_FIELDS[1:], values, strict=True)
             if value == value]
    return " ".join([name, *given])


def broker_act(state: BrokerState, sym: np.ndarray, bar: np.ndarray, act: np.ndarray,
               n_act: np.ndarray) -> BrokerState:
    """Apply the strategy's decisions for the rows `sym` at their bars `bar` (the bars just
    processed): `act[s, k, :]` (float64, columns ACTION_FIELDS, then any padding) for k < n_act[s],
    in k order, as SimAccount's buy / sell / position.close; nothing fills before the next bar.

    Raises BrokerActionError naming row, bar and action for every action SimAccount would refuse
    (invalid size, sl/tp on the wrong side, a portion outside (0, 1], an account out of money, ...);
    each refused action changes nothing and all the others are applied."""
    sym, bar = _rows(sym), _rows(bar)
    _aligned(sym.shape[0], bar=bar)
    n = state.si.shape[0]
    if act.dtype != np.float64 or act.ndim != 3 or act.shape[0] != n or act.shape[2] < len(ACTION_FIELDS):
        raise ValueError(f"act must be float64 [{n}, max_actions, >= {len(ACTION_FIELDS)}], "
                         f"got {act.dtype} {act.shape}")
    if n_act.shape != (n,):
        raise ValueError(f"n_act must have one count per symbol row ({n}), got shape {n_act.shape}")
    state, n_errors = _call(broker_act_core, state, sym, bar, act, _rows(n_act))
    if n_errors:
        errors = [ActionError(int(s), int(i), int(k), int(code), ERROR_REASONS[int(code)])
                  for s, i, k, code in state.errors[:n_errors].tolist()]
        raise BrokerActionError(errors, state, act)
    return state


def broker_finalize(state: BrokerState, sym: np.ndarray, last_bar: np.ndarray) -> BrokerState:
    """SimAccount.finalize (backtesting.py's finalize_trades=True) for the rows `sym`, each at its
    last processed bar `last_bar`: the open trades are closed there, the queue is processed once more
    on that bar's prices, and the bar's equity is replaced. Rows out of money or without a bar are
    left alone."""
    sym, last_bar = _rows(sym), _rows(last_bar)
    _aligned(sym.shape[0], last_bar=last_bar)
    return _call(broker_finalize_core, state, sym, last_bar)[0]


# -------------------------------------------------------------------------------------- results

class ClosedTrades(NamedTuple):
    """Every closed trade (a partial close is its own), in closing order, as arrays."""

    sym: np.ndarray
    size: np.ndarray
    entry_bar: np.ndarray
    exit_bar: np.ndarray
    entry_price: np.ndarray
    exit_price: np.ndarray
    pnl: np.ndarray
    commission: np.ndarray
    sl: np.ndarray  # NaN when none (a partial-close record has none)
    tp: np.ndarray
    pl_pct: np.ndarray  # as Trade.pl_pct: a fraction, net of commissions

    def of(self, s: int) -> ClosedTrades:
        """The trades of symbol row s."""
        mask = self.sym == s
        return ClosedTrades(*(column[mask] for column in self))


def closed_trades(state: BrokerState) -> ClosedTrades:
    """The closed trades of every row, in closing order."""
    c = state.closed[:state.g[G_N_CLOSED]]
    size, entry, exit_, commission = c[:, C_SIZE], c[:, C_ENTRY_PRICE], c[:, C_EXIT_PRICE], c[:, C_COMMISSION]
    pl_pct = np.copysign(1.0, size) * (exit_ / entry - 1) - commission / (np.abs(size) * entry)
    return ClosedTrades(c[:, C_SYM].astype(np.int64), size.copy(), c[:, C_ENTRY_BAR].astype(np.int64),
                        c[:, C_EXIT_BAR].astype(np.int64), entry.copy(), exit_.copy(), c[:, C_PNL].copy(),
                        commission.copy(), c[:, C_SL].copy(), c[:, C_TP].copy(), pl_pct)


def equity_curves(state: BrokerState) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Symbol row -> (bars, equity at each bar's close) for every processed bar (record_equity)."""
    n = state.g[G_N_EQUITY]
    keys, values = state.eq_key[:n], state.eq_val[:n]
    order = np.argsort(keys[:, 0], kind="stable")
    rows, starts = np.unique(keys[order, 0], return_index=True)
    bounds = [*starts.tolist(), n]
    return {int(s): (keys[order[a:b], 1].copy(), values[order[a:b]].copy())
            for s, a, b in zip(rows.tolist(), bounds[:-1], bounds[1:], strict=True)}


def broker_events(state: BrokerState) -> list[tuple[int, int, str]]:
    """(symbol row, bar, reason) for each order the broker cancelled or deferred and each bankruptcy,
    in order; reasons are SimAccount's (NO_UNITS, NO_MARGIN, SAME_BAR_BRACKET, OUT_OF_MONEY)."""
    return [(s, i, EVENT_REASONS[code]) for s, i, code in state.events[:state.g[G_N_EVENTS]].tolist()]


def out_of_money(state: BrokerState, sym: np.ndarray | None = None) -> np.ndarray:
    """Boolean per row of `sym` (default: every row): out of money, so it takes no more actions."""
    flags = state.si[:, S_BUST] != 0
    return flags if sym is None else flags[_rows(sym)]


def _none(x: float) -> float | None:
    return None if x != x else x


def symbol_orders(state: BrokerState, s: int) -> list[tuple]:
    """Row s's pending orders in queue order: (size, limit, stop, sl, tp, is_contingent), None = unset."""
    off, n = state.si[s, S_ORDER_OFF], state.si[s, S_N_ORDERS]
    rows = state.orders[off:off + n]
    return [(float(r[O_SIZE]), _none(r[O_LIMIT]), _none(r[O_STOP]), _none(r[O_SL]), _none(r[O_TP]),
             r[O_ROLE] in (STOP_LOSS, TAKE_PROFIT)) for r in rows.tolist()]


def symbol_trades(state: BrokerState, s: int) -> list[tuple]:
    """Row s's open trades, oldest first: (size, entry_bar, entry_price, sl, tp), None = unset."""
    off, n = state.si[s, S_TRADE_OFF], state.si[s, S_N_TRADES]
    rows = state.trades[off:off + n]
    return [(float(r[T_SIZE]), int(r[T_ENTRY_BAR]), float(r[T_ENTRY_PRICE]), _none(r[T_SL]), _none(r[T_TP]))
            for r in rows.tolist()]


def symbol_cash(state: BrokerState, s: int) -> float:
    """Row s's cash (realised P&L and commissions; 0 once out of money)."""
    return float(state.sf[s, F_CASH])
