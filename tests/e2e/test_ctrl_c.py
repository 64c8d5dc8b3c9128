"""Ctrl-C (SIGINT), or SIGTERM, stops a real-time run cleanly: exit status 0 within a few seconds,
the summary table printed, the journal marked `stopped` (not crashed) and the exports written.
"""

import signal
import subprocess
import time

import polars as pl
import pytest

from tests.e2e.helpers import (
    PORTFOLIO,
    SHIPPED_IDS,
    STATUS_LINE,
    UNIVERSE,
    assert_integrity,
    query,
    start,
    stop,
    wait_for_progress,
)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_realtime_run_cleanly(tmp_path, signum):
    run_dir = tmp_path / "run"
    proc = start("run", PORTFOLIO, "--symbols-file", UNIVERSE, "--granularity", "1s", "--speed", "realtime",
                 "--duration", "none", "--run-dir", run_dir, cwd=tmp_path, stdout=subprocess.PIPE)
    try:
        assert wait_for_progress(run_dir, proc, timeout=60) is not None, proc.communicate(timeout=10)
        proc.send_signal(signum)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        stop(proc)
    assert proc.returncode == 0, err[-3000:]
    assert took < 5, took
    assert "Traceback" not in err and not err.strip(), err
    assert STATUS_LINE.search(out), out
    assert "stopping" in out and "flushing the journal" in out
    summary = out[out.index("sqfast run summary"):]
    assert all(strategy in summary for strategy in SHIPPED_IDS)
    assert query(run_dir, "SELECT status FROM runs") == [("stopped",)]
    assert query(run_dir, "SELECT status FROM sessions") == [("stopped",)]
    assert len(query(run_dir, "SELECT * FROM progress")) == len(SHIPPED_IDS)
    assert_integrity(run_dir)
    trades = pl.read_parquet(run_dir / "trades.parquet")
    equity = pl.read_parquet(run_dir / "equity.parquet")
    assert trades.height == query(run_dir, "SELECT count(*) FROM trades")[0][0]
    assert equity.height == query(run_dir, "SELECT count(*) FROM equity")[0][0]
    assert (run_dir / "sqfast.log").is_file()
