"""SIGKILL at random moments of a paper run, restart until it finishes: the journal ends up
exactly as an uninterrupted run of the same configuration leaves it.

The shipped portfolio over the shipped 50-symbol universe at 1-minute bars, `--speed max`, 12
simulated hours (~10 s uninterrupted on 2 vCPUs). The uninterrupted run goes on beside the
interrupted one. Kills come at seeded random delays: right after the process journaled a new
interval of its own (polled from the journal's progress table), right after it opened the
journal (so during warm-up or the re-simulation of the run so far), or anywhere from its start.
After every kill the journal must already be consistent on its own.

A client order id is a hash of the run's id (random per run directory), the strategy, symbol,
bar and the order's sequence on that bar: two run directories never share ids. The runs are
compared on that identity (strategy, symbol, bar, sequence), after checking that every id is
the deterministic hash for its own run.
"""

import random
import signal
import sqlite3
import subprocess
import time

import pytest

from tests.e2e.helpers import (
    UNIVERSE,
    assert_integrity,
    assert_positions_match_fills,
    keyed_orders,
    last_progress,
    one_error_line,
    query,
    shipped_portfolio,
    sqfast,
    start,
    stop,
    wait_for_progress,
)

SEED = 20240102
MOMENTS = ("a new interval", "opening the journal", "a new interval", "start", "a new interval")
DURATION = "12h"


def run_args(portfolio, run_dir) -> list:
    return ["run", portfolio, "--symbols-file", UNIVERSE, "--speed", "max", "--duration", DURATION,
            "--run-dir", run_dir, "-q"]


def sessions(run_dir) -> int:
    try:
        return query(run_dir, "SELECT count(*) FROM sessions")[0][0]
    except sqlite3.OperationalError:  # no journal yet, or its tables not created yet
        return 0


def wait_for_session(run_dir, proc, count: int, timeout: float = 60) -> None:
    """Poll until the journal has more than `count` sessions (the process opened it) or the
    process ended."""
    deadline = time.monotonic() + timeout
    while sessions(run_dir) <= count and proc.poll() is None:
        assert time.monotonic() < deadline, "the run never opened its journal"
        time.sleep(0.02)


def kill_and_restart(cwd, portfolio, run_dir) -> list[str]:
    """Run, SIGKILL at seeded random moments, restart; finally run to the end. Returns how each
    attempt ended."""
    rng = random.Random(SEED)
    outcomes, done = [], None
    for moment in MOMENTS:
        before = sessions(run_dir)
        proc = start(*run_args(portfolio, run_dir), cwd=cwd)
        try:
            if moment == "a new interval":  # soon after it journaled an interval of its own
                done = wait_for_progress(run_dir, proc, after=done) or done
                delay = rng.uniform(0.0, 0.6)
            elif moment == "opening the journal":  # warm-up, or re-simulating the run so far
                wait_for_session(run_dir, proc, before)
                delay = rng.uniform(0.0, 1.5)
            else:  # anywhere from start-up on
                delay = rng.uniform(0.5, 4.0)
            try:
                proc.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=60)
        finally:
            stop(proc)
        assert proc.returncode in (0, -signal.SIGKILL), err[-3000:]
        outcomes.append("finished" if proc.returncode == 0 else f"killed {delay:.2f} s after {moment}")
        if last_progress(run_dir) is not None:
            assert_integrity(run_dir)  # consistent after every kill, before any restart repairs it
            assert_positions_match_fills(run_dir)
        done = last_progress(run_dir)
        if proc.returncode == 0:
            return outcomes
    result = sqfast(*run_args(portfolio, run_dir), cwd=cwd, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return [*outcomes, "finished"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("restart")
    portfolio = shipped_portfolio(cwd / "portfolio.toml")
    whole = start(*run_args(portfolio, cwd / "whole"), cwd=cwd)  # uninterrupted, alongside
    try:
        outcomes = kill_and_restart(cwd, portfolio, cwd / "killed")
        _, err = whole.communicate(timeout=180)
    finally:
        stop(whole)
    assert whole.returncode == 0, err[-3000:]
    return cwd, portfolio, cwd / "killed", cwd / "whole", outcomes


def test_the_run_was_killed_and_restarted(runs):
    _, _, killed, _, outcomes = runs
    assert sum(o.startswith("killed") for o in outcomes) == len(MOMENTS), outcomes
    states = [state for (state,) in query(killed, "SELECT status FROM sessions ORDER BY session_id")]
    assert states[-1] == "stopped" and query(killed, "SELECT status FROM runs") == [("stopped",)]
    assert states.count("crashed") >= 4 and set(states[:-1]) == {"crashed"}, (outcomes, states)


def test_orders_are_the_same_and_none_is_duplicated(runs):
    _, _, killed, whole, _ = runs
    ours, theirs = keyed_orders(killed), keyed_orders(whole)
    assert len(ours) > 1000
    assert ours.keys() == theirs.keys()
    differ = [(k, ours[k][1:], theirs[k][1:]) for k in ours if ours[k][1:] != theirs[k][1:]]
    assert not differ, differ[:5]
    for run_dir in (killed, whole):
        (n, distinct) = query(run_dir, "SELECT count(*), count(DISTINCT client_order_id) FROM orders")[0]
        assert n == distinct == len(ours)


def test_fills_trades_positions_and_equity_are_the_same(runs):
    _, _, killed, whole, _ = runs

    def fills(run_dir):
        key = {v[0]: k for k, v in keyed_orders(run_dir).items()}
        rows = query(run_dir, "SELECT execution_id, client_order_id, strategy, symbol, side, qty, price, "
                              "commission, ts_ns FROM fills")
        return sorted((key[cid], execution.split(":", 1)[1], *rest) for execution, cid, *rest in rows)

    assert fills(killed) == fills(whole)
    for sql in ("SELECT strategy, symbol, size, entry_bar_ts_ns, exit_bar_ts_ns, entry_price, exit_price, "
                "pnl, commission FROM trades ORDER BY id",
                "SELECT * FROM positions ORDER BY strategy, symbol",
                "SELECT * FROM equity ORDER BY strategy, ts_ns",
                "SELECT strategy, symbol, bar_ts_ns, action, size, limit_price, stop_price, sl, tp, portion "
                "FROM signals ORDER BY id",
                "SELECT strategy, ts_ns FROM progress ORDER BY strategy",
                "SELECT strategy, allocation, capital, granularity, n_symbols FROM strategies "
                "ORDER BY strategy",
                "SELECT value FROM risk_state WHERE key IN ('run', 'limits') ORDER BY key"):
        ours, theirs = query(killed, sql), query(whole, sql)
        assert ours == theirs, sql
    assert query(whole, "SELECT count(*) FROM trades")[0][0] > 500


@pytest.mark.parametrize("run_dir", ["killed", "whole"])
def test_the_journal_is_intact(runs, run_dir):
    path = runs[0] / run_dir
    assert_integrity(path)
    assert_positions_match_fills(path)
    assert (path / "trades.parquet").exists() and (path / "equity.parquet").exists()


def test_feed_counters_are_cumulative_across_restarts(runs):
    _, _, killed, whole, _ = runs
    sql = ("SELECT source, received, accepted, duplicate, late, out_of_order, invalid, last_bar_ts_ns "
           "FROM feed_state")
    assert query(killed, sql) == query(whole, sql)


@pytest.mark.parametrize("change, replace, flags, named", [
    ("allocation", {"allocation = 0.4": "allocation = 0.35"}, [], "allocation: 0.4 -> 0.35"),
    ("params", {"n1 = 10": "n1 = 8"}, [], "n1: 10 -> 8"),
    ("mode", {}, ["--mode", "signals"], 'mode: "paper" -> "signals"'),
])
def test_a_changed_configuration_is_refused(runs, change, replace, flags, named):
    cwd, _, killed, _, _ = runs
    before = query(killed, "SELECT count(*) FROM sessions")
    changed = shipped_portfolio(cwd / f"changed_{change}.toml", **replace)
    result = sqfast(*run_args(changed, killed), *flags, cwd=cwd, timeout=60)
    assert result.returncode == 2, result.stderr[-3000:]
    line = one_error_line(result.stderr)
    assert str(killed) in line and "different configuration" in line and named in line, line
    assert query(killed, "SELECT count(*) FROM sessions") == before
    assert query(killed, "SELECT status FROM runs") == [("stopped",)]
