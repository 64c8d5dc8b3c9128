"""Replay backtesting.py's recorded random decisions through the compiled broker, many at once.

Each (data set, seed) pair is one symbol row of a single compiled state. backtesting.py ran the
Recorder strategy (tests/sim/parity.py) on it with `compiled_only=True`: buy/sell with every size,
limit, stop, sl and tp variant and position.close(portion). The rows' bars are spread over one
sparse shared timeline (each row has its bars at its own times), so every call mixes rows at
different bar numbers and leaves others out. Compared, per row: the strategy's view before each
decision (equity, cash, position size / P&L / P&L %, the pending orders and open trades), which
actions were refused, every closed trade, the equity curve and the broker's events.
"""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np

from sqfast.sim import FULL, OUT_OF_MONEY, SimAccount
from sqfast.sim.compiled import (
    BrokerActionError,
    broker_act,
    broker_bar,
    broker_events,
    broker_finalize,
    broker_init,
    closed_trades,
    equity_curves,
    out_of_money,
    symbol_cash,
    symbol_orders,
    symbol_trades,
)
from tests.kernels.support import random_ohlcv
from tests.sim.parity import BROKER_OPTIONS, RTOL, Tally, apply_call, approx_equal, random_call, run_oracle

ACTION_WIDTH = 8
CODES = {"buy": 1.0, "sell": 2.0, "position.close": 3.0}


def sparse_timeline(lengths: list[int], seed: int,
                    dense: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """(rows, bars) per time: row r's bars 1 .. lengths[r]-1 at increasing times with random gaps
    and a random start (all rows together at every time when `dense`)."""
    rng = np.random.default_rng(seed)
    entries = []
    for row, n in enumerate(lengths):
        bars = np.arange(1, n)
        times = bars if dense else rng.integers(0, 40) + np.cumsum(rng.integers(1, 4, n - 1))
        entries += zip(times.tolist(), [row] * (n - 1), bars.tolist(), strict=True)
    entries.sort()
    timeline, k = [], 0
    while k < len(entries):
        t = entries[k][0]
        rows, bars = [], []
        while k < len(entries) and entries[k][0] == t:
            rows.append(entries[k][1])
            bars.append(entries[k][2])
            k += 1
        timeline.append((np.array(rows, dtype=np.int64), np.array(bars, dtype=np.int64)))
    return timeline


def encode(act: np.ndarray, s: int, k: int, call: tuple[str, dict]) -> None:
    """Write one recorded decision into the action array, NaN for what was not given."""
    method, kw = call
    row = act[s, k]
    row[:] = np.nan
    row[0] = CODES[method]
    if method == "position.close":
        row[6] = kw["portion"]
        return
    row[1] = kw.get("size", FULL)
    for j, name in ((2, "limit"), (3, "stop"), (4, "sl"), (5, "tp")):
        if kw.get(name) is not None:
            row[j] = kw[name]


def check_compiled_parity(runs: list[tuple[str, int]], options: tuple[tuple[str, object], ...],
                          tally: Tally | None = None, timeline_seed: int = 0, dense: bool = False,
                          capacity: int = 0) -> None:
    """All `runs` as rows of one compiled state; AssertionError on the first difference with
    backtesting.py. `capacity` is the initial order/trade capacity per row (0, the broker's default:
    a segment is allocated at a row's first order or trade, and grows everywhere)."""
    oracles = [run_oracle(name, seed, options, compiled_only=True) for name, seed in runs]
    where = [f"{name} seed={seed} {dict(options)} (row {row})" for row, (name, seed) in enumerate(runs)]
    prices = [tuple(o.data[k].to_numpy(dtype=float) for k in ("Open", "High", "Low", "Close"))
              for o in oracles]
    steps = [{bar: (seen, calls) for bar, seen, calls in o.log} for o in oracles]
    n = len(runs)
    broker_options = {k: v for k, v in dict(options).items() if k in BROKER_OPTIONS}
    state = broker_init(n, **broker_options, order_capacity=capacity, trade_capacity=capacity, log_capacity=1)
    outputs = [np.full(n, np.nan) for _ in range(4)]
    width = 1 + max((len(calls) for s in steps for _, calls in s.values()), default=0)
    act = np.full((n, width, ACTION_WIDTH), np.nan)
    n_act = np.zeros(n, dtype=np.int64)
    counts: Counter = Counter()

    for rows, bars in sparse_timeline([len(o.data) for o in oracles], timeline_seed, dense):
        ohlc = [np.array([prices[r][f][i] for r, i in zip(rows, bars, strict=True)]) for f in range(4)]
        state, _ = broker_bar(state, rows, bars, *ohlc, *outputs)
        bust = out_of_money(state, rows)
        n_act[:] = 0
        expected: dict[tuple[int, int], bool] = {}
        for r, i, is_bust in zip(rows.tolist(), bars.tolist(), bust.tolist(), strict=True):
            if is_bust:
                continue
            step = steps[r].pop(i, None)
            assert step is not None, f"{where[r]}: backtesting.py made no decision at bar {i} (it went bust?)"
            seen, calls = step
            _check_view(state, outputs, r, i, seen, where[r])
            for k, (call, raised) in enumerate(calls):
                encode(act, r, k, call)
                expected[r, k] = raised is not None
            n_act[r] = len(calls)
            counts["bars"] += 1
            counts["calls"] += len(calls)
        try:
            state = broker_act(state, rows, bars, act, n_act)
            refused = set()
        except BrokerActionError as exc:
            state = exc.state
            refused = {(e.row, e.index) for e in exc.errors}
        for (r, k), raised in expected.items():
            assert ((r, k) in refused) == raised, (
                f"{where[r]}: bar {bars[rows == r][0]}: action {k} refused: {(r, k) in refused}, "
                f"raised in backtesting.py: {raised}")
        counts["raised"] += len(refused)

    for r in range(n):
        assert not steps[r], f"{where[r]}: the compiled broker went bust but backtesting.py went on"
    if dict(options).get("finalize_trades"):
        rows = np.arange(n)
        state = broker_finalize(state, rows, np.array([len(o.data) - 1 for o in oracles]))

    trades = closed_trades(state)
    curves = equity_curves(state)
    events = broker_events(state)
    for r, oracle in enumerate(oracles):
        compare_closed(trades.of(r), oracle.trades, where[r])
        bars, values = curves[r]
        n_bars = len(oracle.data)
        assert bars.tolist() == list(range(1, n_bars)), where[r]
        bad = ~np.isclose(values, oracle.equity[1:], rtol=RTOL, atol=RTOL)
        assert not bad.any(), (f"{where[r]}: equity differs first at bar {1 + np.argmax(bad)}: "
                               f"{values[np.argmax(bad)]!r} vs {oracle.equity[1 + np.argmax(bad)]!r}")
        mine = sorted((i, reason) for s, i, reason in events if s == r and reason != OUT_OF_MONEY)
        assert mine == sorted(oracle.events), f"{where[r]}: events {mine} vs {sorted(oracle.events)}"
        if tally is not None:
            t = tally.counts
            t["runs"] += 1
            t["trades"] += len(oracle.trades)
            t["bust"] += bool(out_of_money(state, [r])[0])
            t["open at end"] += len(symbol_trades(state, r))
            exits, sl, tp = (oracle.trades[k].to_numpy(dtype=float) for k in ("ExitPrice", "SL", "TP"))
            t["exit at sl"] += int(np.isclose(exits, sl, rtol=1e-12).sum())
            t["exit at tp"] += int(np.isclose(exits, tp, rtol=1e-12).sum())
            for _, reason in oracle.events:
                t[reason] += 1
    if tally is not None:
        tally.counts.update(counts)


def _check_view(state, outputs, r: int, i: int, seen: tuple, where: str) -> None:
    """What the strategy sees before deciding, against backtesting.py's logged view."""
    pos_size, pos_pl, pos_pl_pct, equity = (float(x[r]) for x in outputs)
    bt_equity, bt_cash, _, bt_size, _, _, _, bt_pl, bt_pl_pct, bt_orders, bt_trades = seen
    mine = (equity, symbol_cash(state, r), pos_size, pos_pl, pos_pl_pct,
            symbol_orders(state, r), symbol_trades(state, r))
    theirs = (bt_equity, bt_cash, float(bt_size), bt_pl, bt_pl_pct,
              [o[:6] for o in bt_orders], [t[:5] for t in bt_trades])
    if mine != theirs:  # it is equal bit for bit almost always; else compare to RTOL
        assert approx_equal(mine, theirs), \
            f"{where}: bar {i}: view differs\n compiled {mine}\n bt       {theirs}"


def compare_closed(mine, theirs, where: str) -> None:
    """Closed trades row by row: sizes and bars exactly, prices and money to RTOL."""
    assert len(mine.size) == len(theirs), f"{where}: {len(mine.size)} closed trades vs {len(theirs)}"
    for k, row in enumerate(theirs.itertuples(index=False)):
        ours = (float(mine.size[k]), int(mine.entry_bar[k]), int(mine.exit_bar[k]))
        assert ours == (row.Size, row.EntryBar, row.ExitBar), \
            f"{where}: trade {k}: size/entry/exit {ours} vs {(row.Size, row.EntryBar, row.ExitBar)}"
        pairs = {"EntryPrice": (mine.entry_price[k], row.EntryPrice),
                 "ExitPrice": (mine.exit_price[k], row.ExitPrice),
                 "SL": (mine.sl[k], row.SL), "TP": (mine.tp[k], row.TP), "PnL": (mine.pnl[k], row.PnL),
                 "Commission": (mine.commission[k], row.Commission),
                 "ReturnPct": (mine.pl_pct[k], row.ReturnPct)}
        for name, (a, b) in pairs.items():
            a, b = float(a), math.nan if b is None else float(b)  # bt's SL/TP column may hold None
            same = (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=RTOL, abs_tol=RTOL)
            assert same, f"{where}: trade {k}: {name} {a!r} vs {b!r}"


# ------------------------------------------------------------------ lockstep with SimAccount

def tick_bars(n: int, seed: int, tick: float) -> tuple[np.ndarray, ...]:
    """Random OHLC on a price grid of `tick`, so that orders placed on the grid often touch a
    bar's high or low exactly (the equality edges of every rule)."""
    o, h, lo, c, _ = random_ohlcv(n, seed=seed)
    return tuple(np.round(x / tick) * tick for x in (o, h, lo, c))


def _on_grid(call: tuple[str, dict], tick: float) -> tuple[str, dict]:
    method, kw = call
    kw = {k: (round(v / tick) * tick if k in ("limit", "stop", "sl", "tp") and v is not None else v)
          for k, v in kw.items() if k != "tag"}
    return method, kw


def check_against_account(n_symbols: int, n_bars: int, options: tuple[tuple[str, object], ...], seed: int,
                          tick: float = 0.25, hoard: float = 0.0, tally: Tally | None = None,
                          capacity: int = 0) -> None:
    """Random decisions on tick-grid prices, applied to one SimAccount per symbol and to one
    compiled state with all symbols (sparse bars), compared after every bar and every decision:
    position, equity, cash, queue, open trades, events, refusals; at the end the closed trades and
    equity curves, exactly (bit for bit). `hoard` is the chance per decision of an extra far-away
    limit order that never fills, so queues grow far beyond the initial capacity (`capacity` orders
    and trades per row; one log row)."""
    rng = random.Random(seed)
    opts = dict(options)
    broker_options = {k: v for k, v in opts.items() if k in BROKER_OPTIONS}
    accounts = [SimAccount(**broker_options) for _ in range(n_symbols)]
    bars = [tick_bars(n_bars, seed * 1000 + s, tick) for s in range(n_symbols)]
    scale = [float(np.median((h - lo) / c)) for _, h, lo, c in bars]
    state = broker_init(n_symbols, **broker_options, order_capacity=capacity, trade_capacity=capacity,
                        log_capacity=1)
    outputs = [np.full(n_symbols, np.nan) for _ in range(4)]
    act = np.full((n_symbols, 8, ACTION_WIDTH), np.nan)
    n_act = np.zeros(n_symbols, dtype=np.int64)
    seen_events = [0] * n_symbols
    counts: Counter = Counter()

    for rows, bar_numbers in sparse_timeline([n_bars] * n_symbols, seed):
        ohlc = [np.array([bars[r][f][i] for r, i in zip(rows, bar_numbers, strict=True)]) for f in range(4)]
        state, _ = broker_bar(state, rows, bar_numbers, *ohlc, *outputs)
        n_act[:] = 0
        expected = {}
        for r, i in zip(rows.tolist(), bar_numbers.tolist(), strict=True):
            account = accounts[r]
            account.process_bar(i, *(bars[r][f][i] for f in range(4)))
            where = f"{dict(options)} seed={seed} row {r} bar {i}"
            p = account.position
            mine = (float(outputs[0][r]), float(outputs[1][r]), float(outputs[2][r]), float(outputs[3][r]),
                    symbol_cash(state, r), bool(out_of_money(state, [r])[0]),
                    symbol_orders(state, r), symbol_trades(state, r))
            theirs = (float(p.size), p.pl, p.pl_pct, account.equity, account.cash, account.out_of_money,
                      [(o.size, o.limit, o.stop, o.sl, o.tp, o.is_contingent) for o in account.orders],
                      [(t.size, t.entry_bar, t.entry_price, t.sl, t.tp) for t in account.trades])
            assert mine == theirs, f"{where}: differs from SimAccount\n compiled {mine}\n account  {theirs}"
            counts["max queue"] = max(counts["max queue"], len(account.orders))
            if account.out_of_money:
                continue
            calls = []
            if rng.random() < 0.5:
                for _ in range(rng.choice((1, 1, 2, 3))):
                    sides = tuple(1 if t.is_long else -1 for t in account.trades)
                    calls.append(_on_grid(random_call(rng, bars[r][3][i], scale[r], account.equity, sides,
                                                      len(account.orders), compiled_only=True), tick))
            if rng.random() < hoard:
                calls.append(("buy", {"size": 1, "limit": round(bars[r][3][i] * 0.2 / tick) * tick}))
            for k, call in enumerate(calls[:act.shape[1]]):
                encode(act, r, k, call)
                expected[r, k] = apply_call(account, call, (ValueError, RuntimeError)) is not None
            n_act[r] = min(len(calls), act.shape[1])
            counts["calls"] += n_act[r]
        try:
            state = broker_act(state, rows, bar_numbers, act, n_act)
            refused = set()
        except BrokerActionError as exc:
            state = exc.state
            refused = {(e.row, e.index) for e in exc.errors}
        assert refused == {key for key, raised in expected.items() if raised}, f"{dict(options)} seed={seed}"
        counts["raised"] += len(refused)
        events = broker_events(state)
        for r in rows.tolist():
            mine_events = [(i, reason) for s, i, reason in events if s == r]
            assert mine_events == accounts[r].events, f"{dict(options)} seed={seed} row {r}: events"
            seen_events[r] = len(mine_events)

    if opts.get("finalize_trades"):
        state = broker_finalize(state, np.arange(n_symbols), np.full(n_symbols, n_bars - 1))
        for account in accounts:
            account.finalize(n_bars - 1)
    trades = closed_trades(state)
    curves = equity_curves(state)
    for r, account in enumerate(accounts):
        where = f"{dict(options)} seed={seed} row {r}"
        mine = trades.of(r)
        columns = list(zip(*(mine[:-1]), strict=True))
        theirs = [(r, t.size, t.entry_bar, t.exit_bar, t.entry_price, t.exit_price, t.pl, t.commission,
                   math.nan if t.sl is None else t.sl, math.nan if t.tp is None else t.tp)
                  for t in account.closed_trades]
        assert len(columns) == len(theirs), f"{where}: {len(columns)} closed trades vs {len(theirs)}"
        for k, (a, b) in enumerate(zip(columns, theirs, strict=True)):
            assert np.array_equal(np.array(a, dtype=float), np.array(b, dtype=float), equal_nan=True), \
                f"{where}: closed trade {k}\n compiled {a}\n account  {b}"
        assert mine.pl_pct.tolist() == [t.pl_pct for t in account.closed_trades], where
        curve_bars, values = curves[r]
        assert (curve_bars.tolist(), values.tolist()) == account.equity_curve(), f"{where}: equity curve"
        if tally is not None:
            tally.counts["closed"] += len(theirs)
            tally.counts["bust"] += account.out_of_money
    if tally is not None:
        tally.counts["max queue"] = max(tally.counts["max queue"], counts.pop("max queue"))
        tally.counts.update(counts)
        tally.counts["events"] += sum(seen_events)
