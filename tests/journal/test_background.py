"""A background journal: the writer thread commits handed-over intervals whole and in order,
`flush` waits for them, a writer error reaches the engine's thread, and a SIGKILL leaves a prefix
of whole intervals."""

import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager, suppress
from functools import cache
from pathlib import Path

import pytest

import sqfast.journal
from sqfast.journal import Journal
from tests.journal import intervals
from tests.journal.bulk_writer import done
from tests.journal.conftest import CONFIG

ROOT = Path(__file__).resolve().parents[2]
ORDER = ("o1", "a", "X", 1, "buy", 1.0, "market", None, None, None, None, "submitted", None, None)


@pytest.fixture
def background(run_dir):
    j = Journal.open(run_dir, create=True, config=CONFIG, background=True)
    yield j
    with suppress(Exception):  # a test's writer error is raised by close too
        j.close()


def hold_writes(run_dir: Path) -> sqlite3.Connection:
    """Another connection takes the write lock: the writer thread waits in BEGIN IMMEDIATE
    (well within its busy timeout) until it is released (from any thread)."""
    conn = sqlite3.connect(run_dir / "journal.sqlite", isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def release(conn: sqlite3.Connection) -> None:
    conn.execute("ROLLBACK")
    conn.close()


@contextmanager
def writer_held(run_dir: Path):
    conn = hold_writes(run_dir)
    try:
        yield
    finally:
        release(conn)


def order(cid: str) -> tuple:
    return (cid, *ORDER[1:])


def write(j: Journal, i: int, *orders: tuple) -> None:
    with j.interval(now_ns=i) as tx:
        tx.order_rows(orders)
        tx.progress("a", i)


def test_a_background_journal_writes_on_its_own_thread_and_connection(background):
    writer = background._writer
    assert background.background and writer._thread.name == "sqfast-journal-writer"
    assert writer._conn is not background.conn
    assert writer._conn.execute("PRAGMA cache_size").fetchone()[0] < -2000
    assert writer._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_reads_see_committed_intervals_and_flush_waits_for_the_rest(background, run_dir):
    write(background, 1, order("o1"))
    background.flush()
    with writer_held(run_dir):
        write(background, 2, order("o2"))
        time.sleep(0.05)
        assert background.progress() == {"a": 1}  # reads still work; the writer is waiting
        assert background.known_order_ids() == {"o1"}
    background.flush()
    assert background.progress() == {"a": 2}
    assert background.known_order_ids() == {"o1", "o2"}


def test_the_kill_switch_reads_back_an_interval_still_being_written(background, run_dir):
    held = hold_writes(run_dir)
    with background.interval() as tx:
        tx.kill_switch(True, "engine", "daily loss")
    threading.Timer(0.3, release, (held,)).start()
    started = time.monotonic()
    assert background.kill_switch().halted  # waits for that interval: no flush needed
    assert time.monotonic() - started > 0.2
    started = time.monotonic()
    with background.interval() as tx:
        tx.progress("a", 1)
    assert background.kill_switch().halted and time.monotonic() - started < 0.2


def test_equity_is_written_only_when_it_changes_in_both_modes(tmp_path):
    values = [100.0, 100.0, 101.0, 101.0, 99.0, 99.0]
    results = []
    for background in (False, True):
        with Journal.open(tmp_path / str(background), create=True, background=background) as j:
            written = []
            for i, value in enumerate(values):
                with j.interval() as tx:
                    written.append(tx.equity("a", i, value, 50.0))
            j.flush()
            results.append((written, [(e.ts_ns, e.equity) for e in j.equity("a")]))
    assert results[0] == results[1] == ([True, False, True, False, True, False],
                                        [(0, 100.0), (2, 101.0), (4, 99.0)])


def test_an_exception_in_the_block_hands_over_nothing(background):
    with pytest.raises(ZeroDivisionError), background.interval() as tx:
        tx.order_rows([order("o1")])
        tx.equity("a", 1, 10.0, 10.0)
        raise ZeroDivisionError
    with pytest.raises(RuntimeError), background.interval(), background.interval():
        pass
    with background.interval() as tx:
        assert tx.equity("a", 2, 10.0, 10.0)  # the rolled-back row is written again, not skipped
    background.flush()
    assert background.orders() == [] and len(background.equity()) == 1


def test_a_writer_error_is_raised_at_the_next_call_and_nothing_later_is_written(background, run_dir):
    write(background, 1, order("o1"))
    background.flush()
    with writer_held(run_dir):
        write(background, 2, order("o2"))
        write(background, 3, order("o1"))  # passes the engine-side checks, fails in the writer
        write(background, 4, order("o4"))
    with pytest.raises(sqlite3.IntegrityError, match=r"journaled already .*: o1") as error:
        background.flush()
    assert "writer thread" in " ".join(error.value.__notes__)
    assert background.progress() == {"a": 2}  # interval 2 of the same group is committed
    assert background.known_order_ids() == {"o1", "o2"}
    for again in (lambda: background.interval().__enter__(), background.flush):
        with pytest.raises(sqlite3.IntegrityError):
            again()
    with pytest.raises(sqlite3.IntegrityError):
        background.close()
    with Journal.open(run_dir, create=False) as j:  # closed: the run directory is free again
        assert j.progress() == {"a": 2}
        assert [s.status for s in j.sessions()] == ["stopped", "running"]


def test_an_error_found_by_the_next_interval(background):
    with background.interval() as tx:
        tx.order_state_rows([("sq-missing", "filled")])
    deadline = time.monotonic() + 10
    while background._writer.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(KeyError, match="sq-missing"), background.interval():
        pass
    assert background.orders() == []


def test_the_engine_waits_only_when_the_writer_is_queue_depth_behind(run_dir, monkeypatch):
    monkeypatch.setattr(sqfast.journal, "QUEUE_DEPTH", 3)
    monkeypatch.setattr(sqfast.journal, "GROUP_MAX", 1)
    j = Journal.open(run_dir, create=True, background=True)
    handed = []

    def engine():
        for i in range(8):
            write(j, i, order(f"o{i}"))
            handed.append(i)

    with writer_held(run_dir):
        thread = threading.Thread(target=engine)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive() and len(handed) == 4  # one taken by the waiting writer, three queued
    thread.join(10)
    j.close()
    with Journal.open(run_dir, create=False) as again:
        assert len(again.orders()) == 8 and again.progress() == {"a": 7}


def test_close_writes_everything_handed_over(run_dir):
    j = Journal.open(run_dir, create=True, config=CONFIG, background=True)
    for i in range(30):
        with j.interval(now_ns=intervals.ts(i) + 7) as tx:
            intervals.write_bulk(tx, i)
    j.close()
    with Journal.open(run_dir, create=False) as again:
        assert done(again) == 30
        assert [s.status for s in again.sessions()] == ["stopped", "running"]


# ------------------------------------------------------------------------------- SIGKILL
N, WIDTH = 120, 40


@cache
def reference(tmp_path: Path, k: int) -> dict:
    """The tables of the first k intervals, written synchronously."""
    with Journal.open(tmp_path / f"ref{k}", create=True, config=CONFIG) as j:
        for i in range(k):
            with j.interval(now_ns=intervals.ts(i) + 7) as tx:
                intervals.write_bulk(tx, i, WIDTH)
        return intervals.dump(j.conn)


def journaled(run_dir: Path) -> tuple[int, dict]:
    conn = sqlite3.connect(run_dir / "journal.sqlite")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()
    with Journal.open(run_dir, create=False) as j:
        return done(j), intervals.dump(j.conn)


def kill_after(run_dir: Path, rng: random.Random) -> int:
    """Start the writer, SIGKILL it a few intervals later; the interval it resumed at."""
    args = [sys.executable, "-m", "tests.journal.bulk_writer", str(run_dir), str(N), str(WIDTH)]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start = int(proc.stdout.readline().split()[1])
    target = start + rng.randint(2, 25)
    for line in proc.stdout:
        if int(line.split()[1]) >= target:
            break
    time.sleep(rng.uniform(0.0, 0.01))
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (-signal.SIGKILL, 0), err
    return start


def test_sigkill_of_a_background_writer_leaves_whole_intervals_then_a_restart_completes(tmp_path):
    rng, run_dir = random.Random(11), tmp_path / "run"
    for _ in range(3):
        start = kill_after(run_dir, rng)
        k, tables = journaled(run_dir)
        assert k >= start  # intervals committed before are never lost
        assert tables == reference(tmp_path, k)
    args = [sys.executable, "-m", "tests.journal.bulk_writer", str(run_dir), str(N), str(WIDTH)]
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    k, tables = journaled(run_dir)
    assert k == N and tables == reference(tmp_path, N)
