"""The shipped portfolio (portfolio.toml and its three strategies) over 1,000 symbols at 1-second
bars, `--speed max`, for a few simulated minutes: the README's first command at scale.

Three simulated minutes take about 15 s here (2 vCPUs, warm compile cache): 180 intervals of
~770 bars (1-second demo bars are sparse), ~90 ms of engine work each.
"""

import polars as pl
import pytest

from tests.e2e.helpers import (
    NS,
    PORTFOLIO,
    SHIPPED_IDS,
    STATUS_LINE,
    assert_integrity,
    assert_positions_match_fills,
    query,
    sqfast,
    write_universe,
)

DURATION_S = 180
START_NS = 1_704_205_800 * NS  # the demo feed's default start for --speed max, 2024-01-02 14:30 UTC


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("shipped")
    universe = write_universe(cwd / "universe1000.txt", 1000)
    result = sqfast("run", PORTFOLIO, "--symbols-file", universe, "--granularity", "1s", "--speed", "max",
                    "--duration", f"{DURATION_S}s", "--run-dir", cwd / "run", cwd=cwd, timeout=150)
    assert result.returncode == 0, result.stderr[-3000:]
    return cwd / "run", result


def test_every_strategy_reached_the_last_interval(run):
    run_dir, _ = run
    progress = dict(query(run_dir, "SELECT strategy, ts_ns FROM progress"))
    assert progress == dict.fromkeys(SHIPPED_IDS, START_NS + (DURATION_S - 1) * NS)
    assert query(run_dir, "SELECT status FROM runs") == [("stopped",)]
    strategies = query(run_dir, "SELECT strategy, n_symbols, granularity FROM strategies ORDER BY rowid")
    assert strategies == [(s, 1000, "1s") for s in SHIPPED_IDS]


def test_signals_and_orders_with_unique_ids(run):
    run_dir, _ = run
    signals = dict(query(run_dir, "SELECT strategy, count(*) FROM signals GROUP BY strategy"))
    assert set(signals) == set(SHIPPED_IDS)
    orders = query(run_dir, "SELECT client_order_id, strategy, state FROM orders")
    assert {strategy for _, strategy, _ in orders} == {*SHIPPED_IDS, "*"}  # "*": net broker orders
    ids = [cid for cid, _, _ in orders]
    assert len(ids) == len(set(ids))
    assert all(cid.startswith("sq-") and len(cid) == 23 for cid in ids)
    assert {state for _, _, state in orders} <= {"submitted", "filled", "canceled", "blocked"}
    # every order was asked for by a signal: no more orders than signals per strategy and bar
    excess = query(run_dir, "SELECT count(*) FROM (SELECT strategy, symbol, bar_ts_ns, count(*) AS n FROM "
                            "orders WHERE strategy != '*' GROUP BY 1, 2, 3) o "
                            "LEFT JOIN (SELECT strategy, symbol, bar_ts_ns, "
                            "count(*) AS n FROM signals GROUP BY 1, 2, 3) s USING (strategy, symbol, "
                            "bar_ts_ns) WHERE s.n IS NULL OR o.n > s.n")
    assert excess == [(0,)]
    blocked = query(run_dir, "SELECT count(*) FROM orders WHERE state = 'blocked' AND "
                             "(reason IS NULL OR reason = '')")
    assert blocked == [(0,)]


def test_positions_are_what_the_fills_add_up_to(run):
    run_dir, _ = run
    assert query(run_dir, "SELECT count(*) FROM fills")[0][0] > 0
    assert_positions_match_fills(run_dir)
    assert_integrity(run_dir)


def test_the_console_shows_status_lines_and_the_summary(run):
    _, result = run
    out = result.stdout
    assert len(STATUS_LINE.findall(out)) >= 5, out[:2000]
    assert "sqfast run summary" in out
    summary = out[out.index("sqfast run summary"):]
    for strategy in SHIPPED_IDS:
        assert strategy in summary
        assert "1000" in summary
    total_bars = int(summary.rsplit("bars ", 1)[1].split()[0].replace(",", ""))
    (accepted,) = query(run[0], "SELECT accepted FROM feed_state WHERE source = 'demo'")[0]
    assert total_bars == accepted > 100_000


def test_the_exports_read_back(run):
    run_dir, _ = run
    trades = pl.read_parquet(run_dir / "trades.parquet")
    equity = pl.read_parquet(run_dir / "equity.parquet")
    assert trades.height == query(run_dir, "SELECT count(*) FROM trades")[0][0] > 0
    assert equity.height == query(run_dir, "SELECT count(*) FROM equity")[0][0] > 0
    assert {"strategy", "symbol", "size", "entry_time", "exit_time", "entry_price", "exit_price",
            "pnl"} <= set(trades.columns)
    assert set(equity["strategy"].unique()) == set(SHIPPED_IDS)
    journal_pnl = query(run_dir, "SELECT sum(pnl) FROM trades")[0][0]
    assert trades["pnl"].sum() == pytest.approx(journal_pnl, rel=1e-12, abs=1e-9)


def test_an_order_journaled_with_zero_units_never_fills(run):
    run_dir, _ = run
    filled = query(run_dir, "SELECT o.strategy, o.symbol, o.bar_ts_ns, o.side, f.qty FROM orders o "
                            "JOIN fills f USING (client_order_id) "
                            "WHERE o.size = 0 AND f.execution_id LIKE '%:in:%'")
    assert filled == []
