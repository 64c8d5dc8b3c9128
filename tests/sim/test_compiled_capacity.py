"""The compiled broker's memory: capacity by need (sqfast.sim.compiled_layout, "Capacity").

At 10,000 symbols a live run's sub-accounts must stay small: a symbol's order and trade segments
are allocated at its first order or trade and grow by half; a bar reserves log rows and segment
room only for the rows whose queue can fill on it (pending limit orders that cannot fill, which
backtesting.py never expires, reserve nothing); packing a pool reclaims the holes that moved
segments left, in place when it can. Results are the same as ever: tests/sim/test_compiled_broker.py.
"""

import numpy as np

from sqfast.sim import SimAccount, compiled
from sqfast.sim.compiled import (
    broker_act,
    broker_bar,
    broker_events,
    broker_init,
    closed_trades,
    symbol_orders,
    symbol_trades,
)
from sqfast.sim.compiled_layout import G_ORDER_TOP, G_WANT_ORDERS, S_N_ORDERS, S_ORDER_CAP, grow

N = 10_000


def _outputs(n):
    return [np.full(n, np.nan) for _ in range(4)]


def _prices(n, o, h, lo, c):
    return [np.full(n, float(p)) for p in (o, h, lo, c)]


def _limit_buys(n, rows, limit):
    act = np.full((n, 1, 8), np.nan)
    n_act = np.zeros(n, dtype=np.int64)
    act[rows, 0, 0] = 1.0  # buy
    act[rows, 0, 1] = 1.0  # one unit
    act[rows, 0, 2] = limit
    n_act[rows] = 1
    return act, n_act


def test_a_new_state_for_ten_thousand_symbols_is_small():
    state = broker_init(N, record_equity=False)
    total = sum(a.nbytes for a in state)
    assert total < 2.5e6, total  # per-symbol rows (si, sf) and a little room: no segments yet
    assert (state.si[:, S_ORDER_CAP] == 0).all()


def test_unfillable_limit_orders_reserve_no_log_rows_and_pools_grow_by_need():
    """RSI-style limit buys far below the market pile up on every row; none can fill, so no bar
    reserves closed-trade or event rows for them, and the order pool stays near the live orders."""
    n, bars = 2_000, 40
    state = broker_init(n, record_equity=False)
    closed_rows, event_rows = state.closed.shape[0], state.events.shape[0]
    rows = np.arange(n, dtype=np.int64)
    outputs = _outputs(n)
    for bar in range(bars):
        state, _ = broker_bar(state, rows, np.full(n, bar), *_prices(n, 100, 101, 99, 100), *outputs)
        state = broker_act(state, rows, np.full(n, bar), *_limit_buys(n, rows, 50.0 - bar / 100))
    live = int(state.si[:, S_N_ORDERS].sum())
    assert live == n * bars
    assert state.closed.shape[0] == closed_rows and state.events.shape[0] == event_rows
    assert state.orders.shape[0] <= 2.5 * live, (state.orders.shape[0], live)
    assert int(state.si[:, S_ORDER_CAP].sum()) <= 1.5 * live
    # And when they can fill, everything needed is reserved then: every order fills (1 unit each).
    state, _ = broker_bar(state, rows, np.full(n, bars), *_prices(n, 40, 41, 39, 40), *outputs)
    assert int(state.si[:, S_N_ORDERS].sum()) == 0 and outputs[0].tolist() == [float(bars)] * n
    assert len(symbol_trades(state, n - 1)) == bars and broker_events(state) == []
    assert len(closed_trades(state).size) == 0


def test_packing_reclaims_holes_in_place_and_keeps_every_queue(monkeypatch):
    """Queues growing at random: segments move up as they grow, leaving holes; a short pool is
    packed, in place when the holes make room, else into a larger one. Every queue stays as
    SimAccount's."""
    n = 60
    grows = {"in place": 0, "new pool": 0}

    def counting_grow(state):
        asked = int(state.g[G_WANT_ORDERS])
        grown = grow(state)
        if asked:
            assert int(grown.g[G_ORDER_TOP]) + asked <= grown.orders.shape[0]
            grows["in place" if grown.orders is state.orders else "new pool"] += 1
        return grown

    monkeypatch.setattr(compiled, "grow", counting_grow)
    state = broker_init(n, record_equity=False)
    accounts = [SimAccount() for _ in range(n)]
    outputs = _outputs(n)
    rng = np.random.default_rng(1)
    for bar in range(1, 80):
        rows = np.flatnonzero(rng.random(n) < 0.5)
        state, _ = broker_bar(state, rows, np.full(len(rows), bar), *_prices(len(rows), 100, 101, 99, 100),
                              *outputs)
        state = broker_act(state, rows, np.full(len(rows), bar), *_limit_buys(n, rows, 50.0 - bar / 100))
        for s in rows.tolist():
            accounts[s].process_bar(bar, 100, 101, 99, 100)
            accounts[s].buy(size=1, limit=50.0 - bar / 100)
    assert grows["in place"] >= 2 and grows["new pool"] >= 2, grows
    top = int(state.g[G_ORDER_TOP])
    assert top <= state.orders.shape[0] and int(state.si[:, S_ORDER_CAP].sum()) <= top
    for s in range(n):
        assert symbol_orders(state, s) == [(o.size, o.limit, o.stop, o.sl, o.tp, o.is_contingent)
                                           for o in accounts[s].orders], s
