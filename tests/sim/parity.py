"""Record random decisions in backtesting.py, replay them through SimAccount, compare everything.

The oracle run: backtesting.py's own `Backtest(data, Recorder, ...).run()`, where `Recorder.next()`
places seeded random orders (market, limit, stop, stop-limit, with or without sl/tp, fractional,
whole-unit and invalid sizes, long and short), closes positions and trades, cancels orders, moves
or removes open trades' stop-losses and take-profits (`trade.sl = ...`, `trade.tp = ...`), and
logs per bar what the strategy saw (equity, position, pending orders, open trades) and what it
did (each call and whether it raised). The replay: a `SimAccount` processes the same bars, is
checked against the logged view before each decision, and makes the same calls. At the end the
closed trades, the equity curve and the broker's cancellations/deferrals must match.
"""

from __future__ import annotations

import math
import random
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy
from backtesting.test import EURUSD, GOOG

from sqfast.sim import NO_MARGIN, NO_UNITS, OUT_OF_MONEY, SAME_BAR_BRACKET, SimAccount
from tests.kernels.support import random_ohlcv

RTOL = 1e-9
BROKER_OPTIONS = ("cash", "spread", "commission", "margin", "trade_on_close", "hedging", "exclusive_orders")


def fixed_plus_relative(size: float, price: float) -> float:
    """A callable commission: a fixed fee plus a relative one, asymmetric for shorts."""
    return 0.7 + abs(size) * price * (0.0005 if size > 0 else 0.0008)


# ---------------------------------------------------------------------------------------- data

@cache
def dataset(name: str) -> pd.DataFrame:
    """'walk<seed>' (a 300-500 bar random walk), 'GOOG' or 'EURUSD'."""
    if name == "GOOG":
        return GOOG
    if name == "EURUSD":
        return EURUSD
    seed = int(name.removeprefix("walk"))
    n = 300 + (seed * 37) % 201
    o, h, lo, c, v = random_ohlcv(n, seed=seed)
    index = pd.date_range("2021-01-04", periods=n, freq="D")
    return pd.DataFrame({"Open": o, "High": h, "Low": lo, "Close": c, "Volume": v}, index=index)


# ------------------------------------------------------------------------------- the decisions

def random_call(rng: random.Random, close: float, scale: float, equity: float, trade_sides: tuple[int, ...],
                n_orders: int, compiled_only: bool = False) -> tuple[str, dict]:
    """One random decision; prices are spread around `close` in units of the typical bar range.

    `trade_sides` holds +1 / -1 per open trade. `compiled_only` keeps to what the compiled broker
    supports: buy/sell and position.close.
    """
    n_trades = len(trade_sides)
    r = rng.random()
    if r < 0.10 and n_trades:
        return "position.close", {"portion": _portion(rng)}
    if not compiled_only:
        if r < 0.20 and n_trades:
            return "trade.close", {"index": rng.randrange(n_trades), "portion": _portion(rng)}
        if r < 0.25 and n_orders:
            return "order.cancel", {"index": rng.randrange(n_orders)}
        if r < 0.33 and n_trades:
            index = rng.randrange(n_trades)
            which = rng.choice(("trade.sl", "trade.tp"))
            price = _bracket_price(rng, which, trade_sides[index], close, scale)
            return which, {"index": index, "price": price}

    side = rng.choice(("buy", "sell"))
    sign = 1 if side == "buy" else -1
    kw: dict = {}
    u = rng.random()
    if u < 0.25:
        pass  # the default: all available margin
    elif u < 0.60:
        kw["size"] = rng.uniform(0.01, 0.7)
    elif u < 0.96:
        kw["size"] = rng.randint(1, max(1, int(equity / close * 0.6)))
    else:
        kw["size"] = rng.choice((0, -1, 1.5, 2.5, -0.3, 1.0))

    def away() -> float:
        return close * scale * rng.uniform(0.0, 2.5)

    kind = rng.choices(("market", "limit", "stop", "stop-limit"), (4, 3, 2, 1))[0]
    reference = close
    if kind == "limit":
        # Mostly a passive limit; sometimes marketable (fills at the open).
        reference = kw["limit"] = close - sign * away() if rng.random() < 0.8 else close + sign * away()
    elif kind == "stop":
        reference = kw["stop"] = close + sign * away() if rng.random() < 0.85 else close - sign * away()
    elif kind == "stop-limit":
        kw["stop"] = close + sign * away()
        reference = kw["limit"] = kw["stop"] + sign * close * scale * rng.uniform(-1.0, 1.0)
    if rng.random() < 0.45:
        kw["sl"] = reference - sign * (away() + close * scale * 0.2)
    if rng.random() < 0.45:
        kw["tp"] = reference + sign * (away() + close * scale * 0.2)
    if rng.random() < 0.05:  # sl or tp on the wrong side of the price: backtesting.py raises ValueError
        wrong = close * scale * rng.uniform(0.1, 1.0)
        if rng.random() < 0.5:
            kw["sl"] = reference + sign * wrong
        else:
            kw["tp"] = reference - sign * wrong
    if rng.random() < 0.3:
        kw["tag"] = f"t{rng.randrange(4)}"
    return side, kw


def _bracket_price(rng: random.Random, which: str, side: int, close: float, scale: float) -> float | None:
    """A new stop-loss / take-profit price for a trade: mostly on the protective / profit side,
    sometimes already crossed (it fills on the next bar), sometimes None (cancel) or invalid."""
    u = rng.random()
    if u < 0.15:
        return None
    if u < 0.18:
        return rng.choice((0.0, -1.0, math.nan, math.inf))  # backtesting.py: AssertionError
    away = close * scale * rng.uniform(0.1, 2.5)
    toward_profit = 1 if which == "trade.tp" else -1
    if u < 0.33:
        toward_profit = -toward_profit
    return close + side * toward_profit * away


def _portion(rng: random.Random) -> float:
    u = rng.random()
    if u < 0.4:
        return 1.0
    if u < 0.6:
        return 0.5
    if u < 0.97:
        return rng.uniform(0.05, 1.0)
    return rng.choice((0.0, 1.5))  # invalid: raises


def apply_call(target, call: tuple[str, dict], errors: tuple[type[Exception], ...]) -> str | None:
    """Make one decision on a backtesting.py Strategy or a SimAccount (they share the API)."""
    method, kw = call
    try:
        if method in ("buy", "sell"):
            getattr(target, method)(**kw)
        elif method == "position.close":
            target.position.close(kw["portion"])
        elif method == "trade.close":
            target.trades[kw["index"]].close(kw["portion"])
        elif method == "order.cancel":
            target.orders[kw["index"]].cancel()
        elif method in ("trade.sl", "trade.tp"):
            setattr(target.trades[kw["index"]], method.removeprefix("trade."), kw["price"])
        else:
            raise KeyError(method)
    except errors as exc:
        return type(exc).__name__
    return None


def view(target, cash: float, margin_available: float) -> tuple:
    """What a strategy sees before deciding: money, position, pending orders, open trades."""
    orders = tuple((o.size, o.limit, o.stop, o.sl, o.tp, o.is_contingent, o.tag) for o in target.orders)
    trades = tuple((t.size, t.entry_bar, t.entry_price, t.sl, t.tp, t.tag, t.pl, t.pl_pct, t.value)
                   for t in target.trades)
    p = target.position
    return (target.equity, cash, margin_available, p.size, bool(p), p.is_long, p.is_short, p.pl, p.pl_pct,
            orders, trades)


class Recorder(Strategy):
    """Places seeded random orders and logs, per bar, its view and its calls with their outcome."""

    seed = 0
    activity = 0.4
    compiled_only = False

    def init(self):
        self.rng = random.Random(self.seed)
        df = self.data.df
        self.scale = float(np.median((df.High - df.Low) / df.Close))
        self.log: list[tuple[int, tuple, list]] = []

    def next(self):
        rng = self.rng
        seen = view(self, self._broker._cash, self._broker.margin_available)
        calls = []
        if rng.random() < self.activity:
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                sides = tuple(1 if t.is_long else -1 for t in self.trades)
                call = random_call(rng, float(self.data.Close[-1]), self.scale, self.equity, sides,
                                   len(self.orders), self.compiled_only)
                calls.append((call, apply_call(self, call, (ValueError, AssertionError))))
        self.log.append((len(self.data) - 1, seen, calls))


# ------------------------------------------------------------------------------------ the oracle

@dataclass
class Oracle:
    data: pd.DataFrame
    options: dict
    log: list
    trades: pd.DataFrame
    equity: np.ndarray
    events: list[tuple[int, str]]


_CANCEL_UNITS = re.compile(r"time=(\d+): Broker canceled the relative-sized order")
_CANCEL_MARGIN = re.compile(r"time=(\d+): Broker canceled the order due to insufficient margin")
_SAME_BAR = re.compile(r"^\((.+?)\) A contingent SL/TP order would execute")


@cache
def run_oracle(data_name: str, seed: int, options: tuple[tuple[str, object], ...],
               compiled_only: bool = False) -> Oracle:
    """backtesting.py's run of the Recorder; cached, so mutation checks reuse it. `compiled_only`
    limits the decisions to what the compiled broker supports."""
    data = dataset(data_name)
    opts = dict(options)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = Backtest(data, Recorder, **opts).run(seed=seed, compiled_only=compiled_only)
    events = []
    for w in caught:
        text = str(w.message)
        if m := _CANCEL_UNITS.search(text):
            events.append((int(m[1]), NO_UNITS))
        elif m := _CANCEL_MARGIN.search(text):
            events.append((int(m[1]), NO_MARGIN))
        elif m := _SAME_BAR.search(text):
            events.append((data.index.get_loc(pd.Timestamp(m[1])), SAME_BAR_BRACKET))
    return Oracle(data, opts, stats._strategy.log, stats._trades,
                  stats._equity_curve["Equity"].to_numpy(), events)


# ------------------------------------------------------------------------------------- replay

@dataclass
class Tally:
    """What the comparisons covered, summed over runs (so a test can show it is not vacuous)."""

    counts: Counter = field(default_factory=Counter)

    def __getitem__(self, key: str) -> int:
        return self.counts[key]


def check_parity(data_name: str, seed: int, options: tuple[tuple[str, object], ...],
                 account_class: type = SimAccount, tally: Tally | None = None) -> None:
    """Replay the oracle's decisions through `account_class`; AssertionError on the first difference."""
    oracle = run_oracle(data_name, seed, options)
    where = f"{data_name} seed={seed} {dict(options)}"
    data = oracle.data
    o, h, lo, c = (data[k].to_numpy(dtype=float) for k in ("Open", "High", "Low", "Close"))
    n = len(data)
    account = account_class(**{k: v for k, v in oracle.options.items() if k in BROKER_OPTIONS})
    steps = {bar: (seen, calls) for bar, seen, calls in oracle.log}
    start = 1  # no indicators: backtesting.py's loop starts at bar 1
    assert oracle.log and oracle.log[0][0] == start, where

    n_calls = n_raised = 0
    methods: Counter = Counter()
    for i in range(start, n):
        account.process_bar(i, o[i], h[i], lo[i], c[i])
        if account.out_of_money:
            continue
        step = steps.pop(i, None)
        assert step is not None, f"{where}: backtesting.py made no decision at bar {i} (it went bust?)"
        seen, calls = step
        mine = view(account, account.cash, account.margin_available)
        assert approx_equal(mine, seen), f"{where}: bar {i}: view differs\n sqfast {mine}\n bt     {seen}"
        for call, raised in calls:
            outcome = apply_call(account, call, (ValueError,))
            assert (outcome is None) == (raised is None), \
                f"{where}: bar {i}: {call} raised {outcome} in sqfast, {raised} in backtesting.py"
            n_calls += 1
            n_raised += raised is not None
            methods[call[0]] += raised is None
    assert not steps, f"{where}: sqfast went bust at bar {account.bar} but backtesting.py went on"
    if oracle.options.get("finalize_trades") and not account.out_of_money:
        account.finalize(n - 1)

    compare_trades(account.closed_trades, oracle.trades, where)
    bars, values = account.equity_curve()
    assert bars == list(range(start, n)), where
    curve = np.array(values[:1] * start + values)
    bad = ~np.isclose(curve, oracle.equity, rtol=RTOL, atol=RTOL)
    assert not bad.any(), (f"{where}: equity differs first at bar {np.argmax(bad)}: "
                           f"{curve[np.argmax(bad)]!r} vs {oracle.equity[np.argmax(bad)]!r}")
    mine_events = sorted(e for e in account.events if e[1] != OUT_OF_MONEY)
    assert mine_events == sorted(oracle.events), f"{where}: events {mine_events} vs {sorted(oracle.events)}"

    if tally is not None:
        t = tally.counts
        t["runs"] += 1
        t["bars"] += n - start
        t["calls"] += n_calls
        t["raised"] += n_raised
        t.update({f"call {method}": n for method, n in methods.items()})
        t["trades"] += len(oracle.trades)
        t["bust"] += account.out_of_money
        t["open at end"] += len(account.trades)
        exits, sl, tp = (oracle.trades[k].to_numpy(dtype=float) for k in ("ExitPrice", "SL", "TP"))
        t["exit at sl"] += int(np.isclose(exits, sl, rtol=1e-12).sum())
        t["exit at tp"] += int(np.isclose(exits, tp, rtol=1e-12).sum())
        t["no sl/tp"] += int((np.isnan(sl) & np.isnan(tp)).sum())
        for _, reason in oracle.events:
            t[reason] += 1


def compare_trades(mine, theirs: pd.DataFrame, where: str) -> None:
    """Closed trades, row by row: sizes and bars exactly, prices and money to RTOL."""
    assert len(mine) == len(theirs), f"{where}: {len(mine)} closed trades vs {len(theirs)}"
    for k, (trade, row) in enumerate(zip(mine, theirs.itertuples(index=False), strict=True)):
        ours = (trade.size, trade.entry_bar, trade.exit_bar)
        bts = (row.Size, row.EntryBar, row.ExitBar)
        assert ours == bts, f"{where}: trade {k}: size/entry/exit {ours} vs {bts}"
        pairs = {"EntryPrice": (trade.entry_price, row.EntryPrice),
                 "ExitPrice": (trade.exit_price, row.ExitPrice),
                 "SL": (trade.sl, row.SL), "TP": (trade.tp, row.TP), "PnL": (trade.pl, row.PnL),
                 "Commission": (trade.commission, row.Commission),
                 "ReturnPct": (trade.pl_pct, row.ReturnPct)}
        for name, (a, b) in pairs.items():
            assert approx_equal(_nan_to_none(a), _nan_to_none(b)), \
                f"{where}: trade {k}: {name} {a!r} vs {b!r}"
        assert trade.tag == _nan_to_none(row.Tag), f"{where}: trade {k}: tag {trade.tag!r} vs {row.Tag!r}"


def _nan_to_none(x):
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def approx_equal(a, b) -> bool:
    """Structural equality with floats to RTOL (and an absolute RTOL near zero)."""
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(approx_equal(x, y) for x, y in zip(a, b, strict=True))
    if a is None or b is None or isinstance(a, str | bool) or isinstance(b, str | bool):
        return a == b
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=RTOL)
