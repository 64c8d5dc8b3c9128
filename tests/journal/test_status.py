"""`status`, `halt` and `resume` over a journal, checked against pandas on the same rows."""

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sqfast.journal import Journal
from sqfast.journal_rows import FeedCounters
from sqfast.run_status import format_status, halt, resume, status, status_json
from tests.journal.conftest import CONFIG

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_704_196_800_000_000_000  # 2024-01-02 12:00 UTC
MINUTE = 60_000_000_000
STATES = ["filled", "filled", "canceled", "blocked", "submitted", "pending", "rejected"]


@pytest.fixture
def filled(journal):
    """A journal with a random equity walk, trades, orders and positions for strategy `a`, a
    registered but idle strategy `b`, a netted broker order, and feed counters."""
    rng = np.random.default_rng(7)
    equity = 600.0 * np.cumprod(1 + rng.normal(0, 0.01, 300))
    pnl = np.round(rng.normal(0.5, 3.0, 41), 2)
    pnl[[3, 17]] = 0.0  # a break-even trade is not a win
    with journal.interval(now_ns=T0) as tx:
        tx.strategy("a", 0.6, 600.0, "1m", 2)
        tx.strategy("b", 0.3, 300.0, "5m", 2)
        for i, value in enumerate(equity):
            tx.equity("a", T0 + i * MINUTE, value, value / 2)
        for i, p in enumerate(pnl):
            tx.trade("a", "AAPL" if i % 2 else "MSFT", 10 if i % 3 else -10, T0 + i * MINUTE,
                     T0 + (i + 1) * MINUTE, 100.0, 100.0 + p / 10, float(p), 0.1)
        for i, state in enumerate(STATES * 3):
            tx.order(f"sq-{i}", "a", "AAPL", T0 + i * MINUTE, "buy", 1, state=state,
                     reason="max_gross_exposure" if state == "blocked" else None)
        tx.order("sq-net", "*", "AAPL", T0, "buy", 3)
        tx.signal("b", "MSFT", T0, "buy", 0.1)
        tx.position("a", "AAPL", 10, 101.5, 4.0, T0)
        tx.position("a", "MSFT", 0, None, -2.0, T0)
        tx.position("a", "TSLA", -3, 250.0, 0.0, T0)
        tx.counters(FeedCounters("demo", 1_000, 950, 20, 15, 10, 5, last_bar_ts_ns=T0 + 299 * MINUTE,
                                 last_bar_wall_ns=T0 + 300 * MINUTE + 10**9))
        tx.progress("a", T0 + 299 * MINUTE)
    return journal


def expected_from_pandas(run_dir: Path) -> dict:
    conn = sqlite3.connect(run_dir / "journal.sqlite")
    try:
        equity = pd.read_sql("SELECT equity FROM equity WHERE strategy = 'a' ORDER BY ts_ns", conn)["equity"]
        trades = pd.read_sql("SELECT pnl FROM trades WHERE strategy = 'a'", conn)
        orders = pd.read_sql("SELECT state FROM orders WHERE strategy = 'a'", conn)
    finally:
        conn.close()
    curve = pd.concat([pd.Series([600.0]), equity], ignore_index=True)
    return {"equity": equity.iloc[-1], "pnl": equity.iloc[-1] - 600.0,
            "pnl_pct": (equity.iloc[-1] / 600.0 - 1) * 100, "win_rate": (trades["pnl"] > 0).mean() * 100,
            "max_dd": ((1 - curve / curve.cummax()).max()) * 100, "trades": len(trades),
            "orders": orders["state"].value_counts().to_dict()}


def test_status_numbers_match_pandas_on_the_same_rows(filled, run_dir):
    s = status(run_dir, now_ns=T0 + 301 * MINUTE)
    expected = expected_from_pandas(run_dir)
    a, b = s.strategies
    assert (a.strategy, b.strategy) == ("a", "b")  # the netted "*" order is nobody's strategy
    assert a.equity == pytest.approx(expected["equity"])
    assert a.pnl == pytest.approx(expected["pnl"])
    assert a.pnl_pct == pytest.approx(expected["pnl_pct"])
    assert a.win_rate_pct == pytest.approx(expected["win_rate"])
    assert a.max_drawdown_pct == pytest.approx(expected["max_dd"])
    assert a.trades == expected["trades"] == 41
    assert a.orders == expected["orders"]
    assert [(p.symbol, p.size, p.avg_price) for p in a.positions] == [("AAPL", 10, 101.5),
                                                                      ("TSLA", -3, 250.0)]
    assert (a.allocation, a.capital, a.last_interval_ns) == (0.6, 600.0, T0 + 299 * MINUTE)
    assert (b.equity, b.pnl, b.pnl_pct, b.win_rate_pct, b.max_drawdown_pct, b.trades, b.signals) == (
        300.0, 0.0, 0.0, None, 0.0, 0, 1)
    (feed,) = s.feeds
    assert (feed.received, feed.accepted, feed.dropped, feed.duplicate, feed.late) == (1_000, 950, 50, 20, 15)
    assert feed.last_bar_age_s == pytest.approx(120.0)
    assert feed.last_received_age_s == pytest.approx(59.0)
    assert (s.state, s.mode, s.kill_switch.halted) == ("running", "paper", False)


def test_status_json_and_text_show_the_same_run(filled, run_dir):
    s = status(run_dir, now_ns=T0 + 301 * MINUTE)
    data = json.loads(json.dumps(status_json(s)))
    assert data["strategies"][0]["win_rate_pct"] == pytest.approx(s.strategies[0].win_rate_pct)
    assert data["feeds"][0]["last_bar"] == "2024-01-02 16:59:00Z"
    assert data["kill_switch"] == {"halted": False, "by": None, "reason": None, "ts_ns": None}
    text = format_status(s)
    assert "kill switch: off" in text
    header, row_a = [line.split() for line in text.splitlines()[3:5]]
    assert header[:4] == ["strategy", "alloc%", "equity", "P&L"]
    assert row_a[0] == "a" and row_a[1] == "60.0" and row_a[3] == f"{s.strategies[0].pnl:,.2f}"
    assert "TSLA" in text and "demo" in text and "2m00s" in text


def test_status_reports_running_stopped_and_halted(journal, run_dir):
    assert status(run_dir).state == "running"
    journal.close()
    assert status(run_dir).state == "stopped"
    halt(run_dir, "earnings tomorrow")
    s = status(run_dir)
    assert s.kill_switch.halted
    assert (s.kill_switch.reason, s.kill_switch.by) == ("earnings tomorrow", "sqfast halt")
    assert "HALTED by sqfast halt" in format_status(s) and "earnings tomorrow" in format_status(s)
    resume(run_dir)
    assert not status(run_dir).kill_switch.halted


def test_daily_loss_halt_is_shown(journal, run_dir):
    with journal.interval() as tx:
        tx.risk("daily_loss", {"day": "2024-01-02", "start_equity": 1_000.0, "halted_new_entries": True})
    s = status(run_dir)
    assert s.halted_entries == ["daily_loss"]
    assert "new entries halted by: daily_loss" in format_status(s)


def _in_subprocess(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_halt_from_another_process_reaches_the_running_engine(journal, run_dir):
    assert not journal.kill_switch().halted
    with journal.interval() as tx:  # the engine holds its write transaction: halt waits for it
        tx.progress("a", T0)
        proc = _in_subprocess("from sqfast.run_status import halt; print('halting', flush=True); "
                              f"halt({str(run_dir)!r}, 'operator')")
        assert proc.stdout.readline() == "halting\n"
        time.sleep(0.3)
        assert proc.poll() is None
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert journal.kill_switch().halted and journal.kill_switch().reason == "operator"
    with journal.interval():  # and the engine keeps writing
        pass
    proc = _in_subprocess(f"from sqfast.run_status import resume; resume({str(run_dir)!r})")
    assert proc.communicate(timeout=30)[1] == "" and proc.returncode == 0
    assert not journal.kill_switch().halted


def test_the_kill_switch_survives_a_restart(journal, run_dir):
    halt(run_dir, "stop everything")
    journal.close()
    with Journal.open(run_dir, create=True, config=CONFIG) as j:
        assert j.kill_switch().halted and j.kill_switch().reason == "stop everything"
