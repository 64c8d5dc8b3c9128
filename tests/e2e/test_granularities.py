"""Three strategies at three granularities on one 1-minute feed (1m, 5m aggregated, 15m
aggregated), `--speed max`: every strategy's signals, orders and trades sit on its own bar
boundaries, and each strategy trades exactly as `sqfast replay` over its own bars, rebuilt here
with pandas from the demo feed's 1-minute history (not with the engine's aggregator).

The engine warms each strategy up on its own lookback (`Engine.warm_up`: max(LOOKBACK,
bars needed) bars of its granularity before the run's start), so a replay from
start - lookback x granularity first decides on the run's first bar, as the run does.
"""

import asyncio
import textwrap

import numpy as np
import pandas as pd
import polars as pl
import pytest

from adapters.demo import DemoFeed
from sqfast.bars_io import SymbolBars
from sqfast.compile.analysis import analyse
from sqfast.replayer import replay
from tests.e2e.helpers import (
    NS,
    STRATEGIES,
    assert_integrity,
    assert_positions_match_fills,
    keyed_orders,
    query,
    sqfast,
    start,
    stop,
    wait_for_progress,
)

SYMBOLS = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF", "GGG", "HHH", "III", "JJJ", "KKK", "LLL"]
SEED = 5
CAPITAL = 90_000
START_NS = 1_704_205_800 * NS  # the default --speed max start, 2024-01-02 14:30 UTC
DURATION_S = 86_400
# id: (file, granularity seconds, params, allocation)
PORTFOLIO = {
    "sma_1m": ("sma_cross", 60, {}, 0.3),
    "sma_5m": ("sma_cross", 300, {}, 0.3),
    "ema_15m": ("ema_cross", 900, {"fast": 5, "slow": 12}, 0.3),
}


def portfolio_text() -> str:
    tables = []
    for strategy, (name, seconds, params, share) in PORTFOLIO.items():
        own = {60: "", 300: 'granularity = "5m"\n', 900: 'granularity = "15m"\n'}[seconds]
        table = ", ".join(f"{k} = {v}" for k, v in params.items())
        tables.append(f'[[strategy]]\nid = "{strategy}"\nfile = "{STRATEGIES / name}.py"\n'
                      f"allocation = {share}\n{own}params = {{ {table} }}\n")
    symbols = ", ".join(f'"{s}"' for s in SYMBOLS)
    head = textwrap.dedent(f"""\
        data_source = "demo"
        granularity = "1m"
        mode = "paper"
        capital = {CAPITAL}
        speed = "max"
        symbols = [{symbols}]

        [source.demo]
        seed = {SEED}
        """)
    return head + "\n" + "\n".join(tables)


RUN_ARGS = ("run", "portfolio.toml", "--duration", "1d", "-q")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("granularities")
    (cwd / "portfolio.toml").write_text(portfolio_text())
    return cwd


@pytest.fixture(scope="module")
def run_dir(workdir):
    result = sqfast(*RUN_ARGS, "--run-dir", "run", cwd=workdir, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir / "run"


@pytest.mark.parametrize("strategy", sorted(PORTFOLIO))
def test_bars_are_aligned_to_each_strategys_granularity(run_dir, strategy):
    step = PORTFOLIO[strategy][1] * NS
    for table, column in (("signals", "bar_ts_ns"), ("orders", "bar_ts_ns"), ("trades", "entry_bar_ts_ns"),
                          ("trades", "exit_bar_ts_ns"), ("fills", "ts_ns")):
        sql = f"SELECT {column} FROM {table} WHERE strategy = ?"
        times = [t for (t,) in query(run_dir, sql, (strategy,))]
        assert times, (table, strategy)
        misaligned = [t for t in times if t % step]
        assert not misaligned, (table, column, strategy, misaligned[:5])
        assert min(times) >= START_NS and max(times) < START_NS + DURATION_S * NS
    (granularity,) = query(run_dir, "SELECT granularity FROM strategies WHERE strategy = ?", (strategy,))[0]
    assert granularity == {60: "1m", 300: "5m", 900: "15m"}[PORTFOLIO[strategy][1]]


def test_every_strategy_trades_and_the_ledger_holds(run_dir):
    trades = dict(query(run_dir, "SELECT strategy, count(*) FROM trades GROUP BY strategy"))
    assert trades.get("sma_1m", 0) >= 100 and trades.get("sma_5m", 0) >= 20 and trades.get("ema_15m", 0) >= 5
    last = START_NS + DURATION_S * NS - 60 * NS  # progress is kept in feed intervals
    assert dict(query(run_dir, "SELECT strategy, ts_ns FROM progress")) == dict.fromkeys(PORTFOLIO, last)
    assert_positions_match_fills(run_dir)


def resampled(minute: pd.DataFrame, seconds: int) -> pd.DataFrame:
    """Bars of `seconds` from 1-minute bars: first open, highest high, lowest low, last close,
    summed volume; a bar only where some minute had one."""
    rule = f"{seconds // 60}min"
    out = minute.resample(rule, label="left", closed="left").agg(
        {"Open": "first", "High": "max", "Low": "min", "Close": "last", "Volume": "sum"})
    counts = minute["Close"].resample(rule, label="left", closed="left").count()
    return out[counts > 0]


def bars_for(seconds: int, first_ns: int, end_ns: int) -> list[SymbolBars]:
    feed = DemoFeed(SEED, "max", start_ns=end_ns)
    batch = asyncio.run(feed.history(SYMBOLS, 60, first_ns, end_ns))
    out = []
    for row, symbol in enumerate(SYMBOLS):
        mine = np.flatnonzero(batch.sym == row)
        minute = pd.DataFrame({"Open": batch.open[mine], "High": batch.high[mine], "Low": batch.low[mine],
                               "Close": batch.close[mine], "Volume": batch.volume[mine]},
                              index=pd.to_datetime(batch.ts[mine], unit="ns"))
        bars = minute if seconds == 60 else resampled(minute, seconds)
        out.append(SymbolBars(symbol, {c: bars[c].to_numpy(np.float64) for c in bars.columns},
                              bars.index.to_numpy().astype("datetime64[ns]")))
    return out


def lookback_of(name: str, params: dict) -> int:
    report = analyse(STRATEGIES / f"{name}.py", None, params)
    return max(report.loaded.lookback or 0, report.bars_needed)


@pytest.mark.parametrize("strategy", sorted(PORTFOLIO))
def test_each_strategy_trades_as_replay_over_its_own_bars(run_dir, strategy):
    name, seconds, params, share = PORTFOLIO[strategy]
    first = START_NS - lookback_of(name, params) * seconds * NS
    data = bars_for(seconds, first, START_NS + DURATION_S * NS)
    expected = replay(STRATEGIES / f"{name}.py", data, params=params, cash=CAPITAL * share / len(SYMBOLS))

    epochs = expected.trades.with_columns(pl.col("entry_time", "exit_time").dt.epoch("ns"))
    want = sorted((r["symbol"], int(r["size"]), r["entry_time"], r["exit_time"], round(r["entry_price"], 9),
                   round(r["exit_price"], 9)) for r in epochs.iter_rows(named=True))
    got = sorted((symbol, int(size), entry, exit_, round(entry_price, 9), round(exit_price, 9))
                 for symbol, size, entry, exit_, entry_price, exit_price in query(
                     run_dir, "SELECT symbol, size, entry_bar_ts_ns, exit_bar_ts_ns, entry_price, exit_price "
                              "FROM trades WHERE strategy = ?", (strategy,)))
    assert len(want) >= 5
    assert got == want

    # the decisions too: every order next() placed, on the same bar, as the run's signals
    times = {b.symbol: b.times.astype(np.int64) for b in data}
    placed = sorted((r["symbol"], int(times[r["symbol"]][r["bar"]]), r["side"], r["size"], r["limit"])
                    for r in expected.orders.iter_rows(named=True))
    signals = sorted((symbol, ts, action, size if action != "close" else portion, limit)
                     for symbol, ts, action, size, portion, limit in query(
                         run_dir, "SELECT symbol, bar_ts_ns, action, size, portion, limit_price FROM signals "
                                  "WHERE strategy = ?", (strategy,)))
    assert signals == placed


def test_a_restart_in_the_middle_of_coarse_bars_changes_nothing(workdir, run_dir):
    """SIGKILL once the run is past its first hours, most likely inside a 5m and a 15m bar whose
    first minutes the killed process had aggregated, then restart: the coarse bars are rebuilt
    from history and the journal ends as the uninterrupted run's."""
    killed = workdir / "killed"
    proc = start(*RUN_ARGS, "--run-dir", "killed", cwd=workdir)
    try:
        done = START_NS
        while done is not None and done < START_NS + 6 * 3600 * NS:
            done = wait_for_progress(killed, proc, after=done)
        proc.kill()
        proc.communicate(timeout=30)
    finally:
        stop(proc)
    assert done is not None, "the run finished before it could be killed"
    result = sqfast(*RUN_ARGS, "--run-dir", "killed", cwd=workdir, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert query(killed, "SELECT status FROM sessions ORDER BY session_id") == [("crashed",), ("stopped",)]
    assert_integrity(killed)
    ours, theirs = keyed_orders(killed), keyed_orders(run_dir)
    assert {k: v[1:] for k, v in ours.items()} == {k: v[1:] for k, v in theirs.items()}
    for sql in ("SELECT strategy, symbol, size, entry_bar_ts_ns, exit_bar_ts_ns, entry_price, exit_price, "
                "pnl FROM trades ORDER BY id",
                "SELECT * FROM positions ORDER BY strategy, symbol",
                "SELECT * FROM equity ORDER BY strategy, ts_ns",
                "SELECT strategy, symbol, bar_ts_ns, action, size, limit_price, portion FROM signals "
                "ORDER BY id"):
        assert query(killed, sql) == query(run_dir, sql), sql
