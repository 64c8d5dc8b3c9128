"""The live engine journals the same run identically on either simulated broker: the compiled
broker (compiled steps) and a SimAccount per symbol (the Python fallback's, and the reference).
Orders with their final states, fills, closed trades, positions and equity must all be equal."""

import sqlite3
from pathlib import Path

import pytest

import sqfast.runner
from sqfast.books import SimBooks
from sqfast.config import build_config
from sqfast.live import run
from tests.engine.test_paper_equals_replay import portfolio

ORDER = "strategy, symbol, bar_ts_ns, side, size, type, limit_price, stop_price, sl, tp, state, reason"
QUERIES = {  # client order ids contain the run's id, so orders are named by what they were
    "orders": f"SELECT {ORDER} FROM orders",
    "fills": "SELECT o.strategy, o.symbol, o.bar_ts_ns, substr(f.execution_id, 24), f.side, f.qty, f.price, "
             "f.ts_ns FROM fills f JOIN orders o ON o.client_order_id = f.client_order_id",
    "trades": "SELECT strategy, symbol, size, entry_bar_ts_ns, exit_bar_ts_ns, entry_price, exit_price, pnl, "
              "commission FROM trades",
    "positions": "SELECT strategy, symbol, size, avg_entry_price, realized_pnl FROM positions",
    "equity": "SELECT strategy, ts_ns, equity, cash FROM equity",
}


def journal_rows(run_dir: Path) -> dict[str, list]:
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        return {table: sorted(db.execute(query).fetchall(), key=repr) for table, query in QUERIES.items()}


@pytest.fixture(scope="module")
def both_runs(tmp_path_factory):
    runs = {}
    for name in ("compiled", "python"):
        tmp_path = tmp_path_factory.mktemp(name)
        config = build_config(portfolio(tmp_path), cwd=tmp_path)
        with pytest.MonkeyPatch.context() as patch:
            if name == "python":
                patch.setattr(sqfast.runner, "make_books", lambda n, options, _: SimBooks(n, options))
            assert run(config) == 0
        runs[name] = journal_rows(config.run_dir)
    return runs


@pytest.mark.parametrize("table", sorted(QUERIES))
def test_same_journal_on_either_broker(both_runs, table):
    compiled, python = both_runs["compiled"][table], both_runs["python"][table]
    assert len(compiled) == len(python) and compiled, f"{table}: {len(compiled)} vs {len(python)} rows"
    for a, b in zip(compiled, python, strict=True):
        same = [x == pytest.approx(y, rel=1e-12) if isinstance(x, float) else x == y
                for x, y in zip(a, b, strict=True)]
        assert all(same), f"{table}: compiled {a} vs python {b}"


def test_fills_add_up_to_positions(both_runs):
    rows = both_runs["compiled"]
    net: dict[tuple, float] = {}
    for strategy, symbol, _, _, side, qty, _, _ in rows["fills"]:
        net[strategy, symbol] = net.get((strategy, symbol), 0.0) + (qty if side == "buy" else -qty)
    for strategy, symbol, size, _, _ in rows["positions"]:
        assert net.get((strategy, symbol), 0.0) == size, (strategy, symbol)
