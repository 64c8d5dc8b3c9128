"""Running `sqfast` as a user does, in a subprocess, and reading what it left behind.

Every run inherits the environment, so it shares the session's temporary compile cache
(`SQFAST_CACHE_DIR`, set by tests/conftest.py) and never compiles a step twice. Runs happen in a
temporary working directory with an explicit `--run-dir`, so nothing is written to the
repository (the shipped portfolio's own `run_dir` points into it).
"""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from sqfast.journal import client_order_id

ROOT = Path(__file__).resolve().parents[2]
PORTFOLIO = ROOT / "portfolio.toml"
UNIVERSE = ROOT / "universe.txt"
STRATEGIES = ROOT / "strategies"
NS = 1_000_000_000
SHIPPED_IDS = ("sma_cross", "ema_cross", "rsi_reversion")
STATUS_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  bars +\d+  signals +\d+  orders +\d+", re.M)


def command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "sqfast.cli", *map(str, args)]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    assert "SQFAST_CACHE_DIR" in env, "tests/conftest.py sets the session's compile cache"
    env.update(NO_COLOR="1", COLUMNS="160", PYTHONUNBUFFERED="1")
    return env


def sqfast(*args: str | Path, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `sqfast ARGS` to completion in `cwd`."""
    return subprocess.run(command(*args), cwd=cwd, env=environment(), capture_output=True, text=True,
                          timeout=timeout)


def start(*args: str | Path, cwd: Path, stdout=subprocess.DEVNULL) -> subprocess.Popen:
    """Start `sqfast ARGS` in `cwd` without waiting (stderr captured)."""
    return subprocess.Popen(command(*args), cwd=cwd, env=environment(), stdout=stdout,
                            stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen) -> None:
    """Kill a process this test started if it is still running, and close its pipes."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


def write_universe(path: Path, n: int) -> Path:
    path.write_text("# generated universe\n" + "".join(f"S{k:04d}\n" for k in range(n)))
    return path


def shipped_portfolio(dest: Path, **replace: str) -> Path:
    """The shipped portfolio.toml copied to `dest`, its strategy paths made absolute (so it names the
    same files as the original), with `old -> new` text replacements applied."""
    text = PORTFOLIO.read_text().replace('file = "strategies/', f'file = "{STRATEGIES}/')
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    dest.write_text(text)
    return dest


def connect(run_dir: Path) -> sqlite3.Connection:
    """A read-only connection to a run's journal (safe beside a running engine: WAL)."""
    return sqlite3.connect(f"{(run_dir / 'journal.sqlite').resolve().as_uri()}?mode=ro", uri=True, timeout=10)


def query(run_dir: Path, sql: str, args: tuple = ()) -> list[tuple]:
    conn = connect(run_dir)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def last_progress(run_dir: Path) -> int | None:
    """The latest interval the journal has completed, or None (no journal or no interval yet)."""
    if not (run_dir / "journal.sqlite").exists():
        return None
    try:
        row = query(run_dir, "SELECT max(ts_ns) FROM progress")
    except sqlite3.OperationalError:  # the journal's tables are not created yet
        return None
    return row[0][0]


def wait_for_progress(run_dir: Path, proc: subprocess.Popen, after: int | None = None,
                      timeout: float = 60) -> int | None:
    """Poll until the journal has completed an interval later than `after` (or any, if None);
    returns it, or None if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = last_progress(run_dir)
        if done is not None and (after is None or done > after):
            return done
        if proc.poll() is not None:
            return None
        time.sleep(0.02)
    raise AssertionError(f"no new interval in {run_dir} within {timeout} s")


def one_error_line(stderr: str) -> str:
    """The single `sqfast: error:` line a user mistake must produce."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("sqfast: error: "), stderr
    return lines[0]


def signed_fills(run_dir: Path) -> dict[tuple[str, str], float]:
    """Sum of signed fill quantities per (strategy, symbol)."""
    rows = query(run_dir, "SELECT strategy, symbol, sum(CASE side WHEN 'buy' THEN qty ELSE -qty END) "
                          "FROM fills GROUP BY strategy, symbol")
    return {(strategy, symbol): total for strategy, symbol, total in rows}


def positions(run_dir: Path) -> dict[tuple[str, str], float]:
    return {(strategy, symbol): size
            for strategy, symbol, size in query(run_dir, "SELECT strategy, symbol, size FROM positions")}


def assert_positions_match_fills(run_dir: Path) -> None:
    """The ledger: every position is what its fills add up to, and every non-zero fill total has
    its position row."""
    held, filled = positions(run_dir), signed_fills(run_dir)
    for key in held.keys() | filled.keys():
        assert abs(held.get(key, 0.0) - filled.get(key, 0.0)) < 1e-9, (key, held.get(key), filled.get(key))


def assert_integrity(run_dir: Path) -> None:
    conn = connect(run_dir)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        orphans = conn.execute("SELECT count(*) FROM fills WHERE client_order_id NOT IN "
                               "(SELECT client_order_id FROM orders)").fetchone()[0]
        assert orphans == 0
    finally:
        conn.close()


def keyed_orders(run_dir) -> dict[tuple, tuple]:
    """Orders keyed by (strategy, symbol, bar, sequence on the bar), each id checked to be the
    deterministic hash for this run (net orders' too: strategy "*"); values are everything but
    times and the run-specific ids (a member's net_id becomes the key of its net order)."""
    (run_id,) = query(run_dir, "SELECT run_id FROM runs")[0]
    rows = query(run_dir, "SELECT client_order_id, strategy, symbol, bar_ts_ns, side, size, type, "
                          "limit_price, stop_price, sl, tp, state, reason, net_id, filled_qty, "
                          "avg_fill_price FROM orders")
    key_of = {}
    for cid, strategy, symbol, bar, *_ in rows:
        seq = next((k for k in range(16) if client_order_id(run_id, strategy, symbol, bar, k) == cid), None)
        assert seq is not None, f"{cid} is not the deterministic id of an order of this run"
        key_of[cid] = (strategy, symbol, bar, seq)
    out = {}
    for cid, _, _, _, *rest in rows:
        net_id = rest[9]
        rest[9] = None if net_id is None else key_of[net_id]
        out[key_of[cid]] = (cid, *rest)
    return out
