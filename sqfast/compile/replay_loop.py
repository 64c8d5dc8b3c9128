"""The source of a strategy's compiled replay loop, generated beside its step.

`replay_loop` runs a whole multi-symbol replay in one compiled call: for each time of the union
timeline, in backtesting.py's order, the compiled broker fills the pending orders of the symbols
with a bar there (from their first decision bar on), the step decides for every symbol with a bar
that is not out of money, and the broker takes the orders. No Python runs per bar.

It comes back to Python only when the broker or the orders log needs room (status < 0 with
nothing changed; Python grows it and calls again at the same time and phase), when the broker
refused an order as backtesting.py would have raised (status > 0), or at the end. Phase 0 starts
a time; phase 1 resumes at its orders.

Inputs, one entry per (time, symbol) bar, sorted by time then symbol row: `ptr[t]:ptr[t+1]` are
time t's entries, `rows` their symbol rows, `bar_index` the bar's index in its symbol's own
data, `e_<Field>` the bar's prices, `ext_<name>` an engine-supplied indicator's lines.
"""

from .codegen import POSITION_FIELDS, StepSource

LOG_FULL = -100  # the orders log needs room (also < 0: resume after growing it)

_HEAD = '''

from sqfast.compile.intents import expand_actions
from sqfast.sim.compiled_core import broker_act_core, broker_bar_core

S_N_TRADES, S_BUST = {s_n_trades}, {s_bust}


@njit(cache=True, nogil=True, error_model="numpy")
def replay_loop(phase, t0, ptr, rows, bar_index, {entries}, start, bstate, sym_buf, b_bar, b_o, b_h, b_l,
                b_c, d_sym, d_bar, counts, running, p_size, p_pl, p_pl_pct, p_equity, last_equity,
                equity_curve, act, n_act, literal, slots, log, {step_args}):
    n_rows = p_size.shape[0]
    si = bstate.si
    for t in range(t0, ptr.shape[0] - 1):
        a = ptr[t]
        b = ptr[t + 1]
        if phase == 0:
            nb = 0
            for j in range(a, b):
                s = rows[j]
                if si[s, S_BUST] == 0 and bar_index[j] >= start:
                    sym_buf[nb] = s
                    b_bar[nb] = bar_index[j]
                    b_o[nb] = e_Open[j]
                    b_h[nb] = e_High[j]
                    b_l[nb] = e_Low[j]
                    b_c[nb] = e_Close[j]
                    nb += 1
            if nb > 0:
                status = broker_bar_core(bstate, sym_buf[:nb], b_bar[:nb], b_o[:nb], b_h[:nb], b_l[:nb],
                                         b_c[:nb], p_size, p_pl, p_pl_pct, p_equity)
                if status < 0:
                    return t, 0, status
                for k in range(nb):
                    s = sym_buf[k]
                    running[0] += p_equity[s] - last_equity[s]
                    last_equity[s] = p_equity[s]
            m = 0
            for j in range(a, b):
                s = rows[j]
                if si[s, S_BUST] == 0:
                    sym_buf[m] = s
                    b_bar[m] = bar_index[j]
{fill}
                    m += 1
            step({call})
            expand_actions(sym_buf[:m], fired, args, literal, slots, act, n_act)
            nd = 0
            for k in range(m):
                s = sym_buf[k]
                if n_act[s] > 0 and b_bar[k] >= start:
                    d_sym[nd] = s
                    d_bar[nd] = b_bar[k]
                    nd += 1
            counts[0] = nd
            counts[1] = 0  # actions of this time already logged
            phase = 1
        nd = counts[0]
        if nd > 0:
            if counts[1] == 0:
                need = counts[2]
                for k in range(nd):
                    need += n_act[d_sym[k]]
                if need > log.shape[0]:
                    return t, 1, {log_full}
                n_log = counts[2]
                for k in range(nd):
                    s = d_sym[k]
                    for q in range(n_act[s]):
                        if act[s, q, 0] == 3.0 and si[s, S_N_TRADES] == 0:
                            continue  # position.close() with nothing open places nothing
                        log[n_log, 0] = s
                        log[n_log, 1] = d_bar[k]
                        for f in range(7):
                            log[n_log, 2 + f] = act[s, q, f]
                        n_log += 1
                counts[2] = n_log
                counts[1] = 1
            status = broker_act_core(bstate, d_sym[:nd], d_bar[:nd], act, n_act)
            if status != 0:
                return t, 1, status
        phase = 0
        equity_curve[t] = running[0]
    return ptr.shape[0] - 1, 0, 0
'''


def loop_source(layout: StepSource) -> str:
    """The replay loop for a step with this layout, to append to the step's module."""
    from sqfast.sim.compiled_layout import S_BUST, S_N_TRADES

    step_args = layout.arguments[2 + len(layout.bar_fields):]
    loop_args = [a for a in step_args if a not in POSITION_FIELDS]
    fill = [f"                    bar_{f}[m] = e_{f}[j]" for f in layout.bar_fields]
    fill += [f"                    x_{name}[:, m] = ext_{name}[:, j]" for name in layout.external]
    call = ["sym_buf[:m]", "m == n_rows", *(f"bar_{f}[:m]" for f in layout.bar_fields)]
    for name in step_args:
        if name in POSITION_FIELDS:
            call.append({"pos_size": "p_size", "pos_pl": "p_pl", "pos_pl_pct": "p_pl_pct",
                         "equity": "p_equity"}[name])
        elif name.startswith("x_"):
            call.append(f"{name}[:, :m]")
        else:
            call.append(name)
    entries = ", ".join([*(f"e_{f}" for f in ("Open", "High", "Low", "Close", "Volume")),
                         *(f"ext_{name}" for name in layout.external)])
    return _HEAD.format(s_n_trades=S_N_TRADES, s_bust=S_BUST, entries=entries,
                        step_args=", ".join([*(f"bar_{f}" for f in layout.bar_fields), *loop_args]),
                        fill="\n".join(fill) if fill else "                    pass",
                        call=", ".join(call), log_full=LOG_FULL)
