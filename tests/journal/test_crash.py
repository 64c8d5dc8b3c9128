"""SIGKILL at any moment leaves a consistent journal, and a restart sends no order twice.

The writer (tests/journal/writer.py) is a stand-in engine run as a subprocess; it is killed at
random moments (several seeds) and at chosen stages of an interval, then restarted to completion.
The random kills use synchronous=NORMAL (SIGKILL safety does not depend on it, and it keeps them
fast); the chosen stages use the default, FULL.
"""

import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from sqfast.journal import Journal
from sqfast.journal_read import open_reader
from sqfast.run_status import status
from tests.journal.writer import STEP, STRATEGIES, SYMBOLS, T0, venue_orders

ROOT = Path(__file__).resolve().parents[2]
PER_INTERVAL = len(STRATEGIES) * len(SYMBOLS)


def writer(run_dir: Path, n: int, sync: str = "FULL", kill_at: str | None = None) -> subprocess.Popen:
    args = [sys.executable, "-m", "tests.journal.writer", str(run_dir), str(n), sync]
    return subprocess.Popen(args + (["--kill-at", kill_at] if kill_at else []), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_writer(run_dir: Path, n: int, sync: str = "FULL", kill_at: str | None = None) -> int:
    proc = writer(run_dir, n, sync, kill_at)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, -signal.SIGKILL), err
    return proc.returncode


def check_consistent(run_dir: Path) -> int:
    """Assert the journal holds whole intervals only; return how many."""
    conn = sqlite3.connect(run_dir / "journal.sqlite")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
    with open_reader(run_dir) as r:
        progress = r.progress()
        if not progress:
            assert r.signals() == [] and r.orders() == [] and r.fills() == [] and r.equity() == []
            return 0
        (last,) = set(progress.values())  # both strategies finish an interval together
        done = (last - T0) // STEP + 1
        signals, orders, fills = r.signals(), r.orders(), r.fills()
        assert len(signals) == len(orders) == PER_INTERVAL * done
        assert max(s.bar_ts_ns for s in signals) == max(o.bar_ts_ns for o in orders) == last
        assert len({o.client_order_id for o in orders}) == len(orders)
        assert all(o.state == ("pending" if o.bar_ts_ns == last else "filled") for o in orders)
        by_id = {o.client_order_id: o for o in orders}
        assert all(by_id[f.client_order_id].state == "filled" for f in fills)
        assert len(fills) == PER_INTERVAL * (done - 1)
        held = Counter()
        for f in fills:
            held[(f.strategy, f.symbol)] += f.qty if f.side == "buy" else -f.qty
        assert {(p.strategy, p.symbol): p.size for p in r.positions()} == {k: v for k, v in held.items()}
        assert max(e.ts_ns for e in r.equity()) <= last
        assert max((t.exit_bar_ts_ns for t in r.trades()), default=last) <= last
        counters = r.feed_counters()["demo"]
        assert (counters.received, counters.accepted, counters.last_bar_ts_ns) == (7 * done, 6 * done, last)
    return done


def check_no_order_sent_twice(run_dir: Path, n: int) -> None:
    sent = venue_orders(run_dir)
    assert len(sent) == len(set(sent)), "an order reached the venue twice"
    with open_reader(run_dir) as r:
        assert set(sent) == r.known_order_ids()
    assert len(sent) == PER_INTERVAL * n


def sent_count(run_dir: Path) -> int:
    """Orders at the venue so far (its log has one 24-byte line per order)."""
    path = run_dir / "broker.log"
    return path.stat().st_size // 24 if path.exists() else 0


@pytest.mark.parametrize("seed", range(4))
def test_sigkill_at_random_moments_then_restart(tmp_path, seed):
    """Each cycle kills the writer at a random point: after a random number of orders reached the
    venue, plus a random fraction of an interval."""
    rng, run_dir, n = random.Random(seed), tmp_path / "run", 200
    for _ in range(3):
        target = sent_count(run_dir) + rng.randint(1, (PER_INTERVAL * n - sent_count(run_dir)) // 3)
        proc = writer(run_dir, n, "NORMAL")
        assert proc.stdout.readline().startswith("ready")
        deadline = time.monotonic() + 30
        while sent_count(run_dir) < target and time.monotonic() < deadline:
            time.sleep(0.0005)
        time.sleep(rng.uniform(0.0, 0.004))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        check_consistent(run_dir)
        assert status(run_dir).state == "crashed"
    assert run_writer(run_dir, n, "NORMAL") == 0
    assert check_consistent(run_dir) == n
    check_no_order_sent_twice(run_dir, n)
    with open_reader(run_dir) as r:
        assert [s.status for s in r.sessions()] == ["crashed"] * 3 + ["stopped"]


@pytest.mark.parametrize(("stage", "complete", "sent"), [("in-interval", 7, 7 * PER_INTERVAL),
                                                          ("before-send", 8, 7 * PER_INTERVAL),
                                                          ("mid-send", 8, 7 * PER_INTERVAL + 1)])
def test_sigkill_at_each_stage_of_an_interval(tmp_path, stage, complete, sent):
    run_dir, n = tmp_path / "run", 12
    assert run_writer(run_dir, n, kill_at=f"7:{stage}") == -signal.SIGKILL
    assert check_consistent(run_dir) == complete
    assert len(venue_orders(run_dir)) == sent
    assert status(run_dir).state == "crashed"
    with Journal.open(run_dir, create=False) as j:
        assert j.recovered
    assert run_writer(run_dir, n) == 0
    assert check_consistent(run_dir) == n
    check_no_order_sent_twice(run_dir, n)
