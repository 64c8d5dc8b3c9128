"""The journal's cost per interval at 10,000 symbols: per-row calls, bulk rows, and bulk rows
handed to the background writer.

An interval carries what the shipped portfolio makes per 1-second interval over 10,000 symbols
(benchmarks/test_bench_engine.py): 1,150 signals, 1,150 new orders (5% blocked), 840 state
changes and 740 fills of the previous interval's orders, 280 closed trades, 1,000 position
upserts, and per strategy (3) its equity and progress, with the feed counters and risk state.
Every journal starts as a copy of one that already holds `HISTORY` such intervals (an interval
costs more as the order and fill indexes grow), synchronous=NORMAL as `sqfast run` opens it on
the simulated broker.

Variants, timed in turns within each round so load changes on a shared machine hit all alike:
- per row: `tx.signal`, `tx.order`, ... for every row, committed (the engine before bulk rows);
- bulk: `tx.signal_rows`, `tx.order_rows`, ..., committed on the calling thread;
- hand-over: the same with `background=True`: what the engine's thread pays (the rows copied and
  checked, the interval queued), with the writer idle at the start;
- writer: then `flush()`, i.e. the writer thread's own time for that one interval;
- writer, saturated: `SATURATED` intervals handed over back to back, then `flush()`, per interval:
  the sustained rate when the writer is behind and commits intervals in groups.
"""

import random
import shutil
import statistics
import time
from pathlib import Path

import pytest

from benchmarks.conftest import QUICK, RESULTS, rounds
from sqfast.journal import Journal, client_order_id
from sqfast.journal_rows import FeedCounters

N_SYMBOLS = 10_000
STRATEGIES = ("sma_cross", "ema_cross", "rsi_reversion")
COUNTS = {"signals": 1_150, "blocked": 58, "filled": 740, "canceled": 100, "trades": 280, "positions": 1_000}
HISTORY = 50 if QUICK else 200
ROUNDS = 20
SATURATED = 32 if QUICK else 64
T0 = 1_704_202_200_000_000_000
NAN = float("nan")


class DemoIntervals:
    """Deterministic rows of consecutive 10,000-symbol intervals (module docstring), as the bulk
    methods take them."""

    def __init__(self, seed: int = 7):
        self.rng = random.Random(seed)
        self.symbols = [f"S{k:05d}" for k in range(N_SYMBOLS)]
        self.previous: list[tuple] = []
        self.i = 0

    def next(self) -> dict:
        rng, ts = self.rng, T0 + self.i * 1_000_000_000
        self.i += 1
        keys = [(rng.choice(STRATEGIES), rng.choice(self.symbols)) for _ in range(COUNTS["signals"])]
        signals = [(s, sym, ts, rng.choice(("buy", "sell", "close")), 0.5, NAN, NAN, NAN, NAN, NAN, None)
                   for s, sym in keys]
        orders = [(client_order_id("bench", s, sym, ts, k), s, sym, ts, rng.choice(("buy", "sell")), 10.0,
                   "market", NAN, NAN, NAN, NAN, "blocked" if k < COUNTS["blocked"] else "submitted",
                   "max_gross_exposure" if k < COUNTS["blocked"] else None, None)
                  for k, (s, sym) in enumerate(keys)]
        sent = [o for o in self.previous if o[11] == "submitted"]
        n_filled = COUNTS["filled"]
        filled, canceled = sent[:n_filled], sent[n_filled:n_filled + COUNTS["canceled"]]
        self.previous = orders
        return {
            "ts": ts, "signals": signals, "orders": orders,
            "states": [(o[0], "filled") for o in filled] + [(o[0], "canceled") for o in canceled],
            "fills": [(o[0] + ":1", o[0], o[1], o[2], o[4], o[5], 100.0 + rng.random(), ts, 0.0)
                      for o in filled],
            "trades": [(s, sym, 10.0, ts - 60_000_000_000, ts, 100.0, 101.0, 10.0, 0.0)
                       for s, sym in keys[:COUNTS["trades"]]],
            "positions": [(s, sym, 10.0, 100.5, 1.5, ts) for s, sym in keys[:COUNTS["positions"]]],
        }


def write_bulk(tx, rows: dict) -> None:
    tx.signal_rows(rows["signals"])
    tx.order_rows(rows["orders"])
    tx.order_state_rows(rows["states"])
    tx.fill_rows(rows["fills"])
    tx.trade_rows(rows["trades"])
    tx.position_rows(rows["positions"])
    write_tail(tx, rows)


def write_per_row(tx, rows: dict) -> None:
    for s, sym, ts, action, size, limit, stop, sl, tp, portion, _ in rows["signals"]:
        tx.signal(s, sym, ts, action, size, limit=limit, stop=stop, sl=sl, tp=tp, portion=portion)
    for cid, s, sym, ts, side, size, kind, limit, stop, sl, tp, state, reason, net_id in rows["orders"]:
        tx.order(cid, s, sym, ts, side, size, type=kind, limit=limit, stop=stop, sl=sl, tp=tp, state=state,
                 reason=reason, net_id=net_id)
    for cid, state in rows["states"]:
        tx.order_state(cid, state)
    for fill in rows["fills"]:
        tx.fill(*fill)
    for trade in rows["trades"]:
        tx.trade(*trade)
    for position in rows["positions"]:
        tx.position(*position)
    write_tail(tx, rows)


def write_tail(tx, rows: dict) -> None:
    ts = rows["ts"]
    for k, strategy in enumerate(STRATEGIES):
        tx.equity(strategy, ts, 100_000.0 + ts % 997 + k, 50_000.0)
        tx.progress(strategy, ts)
    tx.counters(FeedCounters("demo", 8_000, 8_000, last_bar_ts_ns=ts, last_bar_wall_ns=ts))
    tx.risk("limits", {"orders_window": [ts] * 8})


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A closed run directory holding HISTORY intervals, and the generator of the next ones."""
    run_dir = tmp_path_factory.mktemp("bench_journal") / "template"
    demo = DemoIntervals()
    with Journal.open(run_dir, create=True, synchronous="NORMAL") as journal:
        for _ in range(HISTORY):
            with journal.interval() as tx:
                write_bulk(tx, demo.next())
    return run_dir, demo


def copy_of(template_dir: Path, name: str, background: bool) -> Journal:
    run_dir = template_dir.with_name(name)
    shutil.copytree(template_dir, run_dir)
    return Journal.open(run_dir, create=False, synchronous="NORMAL", background=background)


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def one_interval(journal: Journal, write, rows: dict) -> None:
    with journal.interval() as tx:
        write(tx, rows)


def test_journal_interval_10000_symbols(record, template):
    """Per-row, bulk and background hand-over of the same intervals, in turns; ratios of medians."""
    template_dir, demo = template
    n = rounds(ROUNDS) + 1  # + pytest-benchmark's warm-up round
    timed_rows = [demo.next() for _ in range(max(n, SATURATED))]
    per_row, bulk = copy_of(template_dir, "per_row", False), copy_of(template_dir, "bulk", False)
    background = copy_of(template_dir, "background", True)
    samples: list[tuple[float, float, float, float]] = []
    queue = iter(timed_rows)

    def one_round():
        rows = next(queue)
        samples.append((timed(one_interval, per_row, write_per_row, rows),
                        timed(one_interval, bulk, write_bulk, rows),
                        timed(one_interval, background, write_bulk, rows),
                        timed(background.flush)))

    try:
        record("journal_interval_round_10000", one_round, rounds_=ROUNDS, warmup_rounds=1)
    finally:
        for journal in (per_row, bulk, background):
            journal.close()
    keep(samples[1:])
    saturated(template_dir, timed_rows[:SATURATED])


def keep(samples: list[tuple[float, float, float, float]]) -> None:
    per_row, bulk, handover, writer = (statistics.median(column) for column in zip(*samples, strict=True))
    RESULTS.update({"journal_interval_per_row_10000": per_row, "journal_interval_bulk_10000": bulk,
                    "journal_interval_handover_10000": handover, "journal_interval_writer_10000": writer,
                    "journal_per_row_over_bulk": per_row / bulk,
                    "journal_per_row_over_handover": per_row / handover})
    print(f"\njournal, one 10,000-symbol interval (median of {len(samples)}): "
          f"per row {per_row * 1e3:.1f} ms, bulk {bulk * 1e3:.1f} ms ({per_row / bulk:.1f}x less), "
          f"background hand-over {handover * 1e3:.2f} ms ({per_row / handover:.0f}x less), "
          f"the writer's own time {writer * 1e3:.1f} ms")


def saturated(template_dir: Path, intervals: list[dict]) -> None:
    """SATURATED intervals handed over back to back, then flushed: the writer's sustained rate."""
    journal = copy_of(template_dir, "saturated", True)
    try:
        started = time.perf_counter()
        for rows in intervals:
            one_interval(journal, write_bulk, rows)
        handed = time.perf_counter() - started
        journal.flush()
        total = time.perf_counter() - started
    finally:
        journal.close()
    RESULTS["journal_writer_saturated_10000"] = total / len(intervals)
    per = total / len(intervals)
    print(f"journal writer saturated: {len(intervals)} intervals in {total:.2f} s, {per * 1e3:.1f} ms per "
          f"interval ({1 / per:.0f} intervals/s); the engine's thread spent {handed:.2f} s of it handing "
          "over (its own cost and waits on the full queue)")
