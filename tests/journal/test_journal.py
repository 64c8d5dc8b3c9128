"""The journal's schema, its transactions and its idempotent writes."""

import math
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from sqfast.errors import SqfastError
from sqfast.journal import Journal, client_order_id, config_changes, config_hash
from sqfast.journal_rows import FeedCounters, KillSwitch, SignalRow
from sqfast.journal_schema import APPLICATION_ID, SCHEMA_VERSION
from tests.journal.conftest import CONFIG

TABLES = {"schema_version", "runs", "sessions", "strategies", "signals", "orders", "fills", "positions",
          "trades", "equity", "risk_state", "feed_state", "progress"}


def cid(n: int, strategy: str = "a") -> str:
    return client_order_id("run", strategy, "AAPL", 1_000 + n, 0)


def test_new_journal_is_wal_with_every_table_and_a_schema_version(journal, run_dir):
    assert (run_dir / "journal.sqlite").is_file()
    assert journal.log_path == run_dir / "sqfast.log"
    pragma = lambda name: journal.conn.execute(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
    assert pragma("journal_mode") == "wal"
    assert pragma("synchronous") == 2  # FULL
    assert pragma("foreign_keys") == 1
    assert pragma("application_id") == APPLICATION_ID
    names = {r[0] for r in journal.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert names == TABLES
    assert journal.conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    run = journal.run()
    assert (run.status, run.stopped_ns, run.config_hash) == ("running", None, config_hash(CONFIG))
    assert journal.config() == CONFIG
    assert (journal.resumed, journal.recovered) == (False, False)


def test_synchronous_normal_can_be_chosen(run_dir):
    with Journal.open(run_dir, create=True, synchronous="NORMAL") as j:
        assert j.conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    with pytest.raises(ValueError):
        Journal.open(run_dir, create=True, synchronous="OFF")


def test_an_empty_journal_file_left_by_a_crash_during_creation_is_initialised(run_dir):
    run_dir.mkdir()
    (run_dir / "journal.sqlite").write_bytes(b"")
    with Journal.open(run_dir, create=True, config=CONFIG) as j:
        assert not j.resumed and j.config() == CONFIG


def test_order_insert_is_idempotent_across_intervals_and_restarts(journal, run_dir):
    with journal.interval() as tx:
        assert tx.order(cid(1), "a", "AAPL", 1_001, "buy", 10) is True
        assert tx.order(cid(1), "a", "AAPL", 1_001, "buy", 10) is False
    with journal.interval() as tx:
        assert tx.order(cid(1), "a", "AAPL", 1_001, "buy", 10) is False
    journal.close()
    with Journal.open(run_dir, create=True, config=CONFIG) as j:
        assert j.resumed and not j.recovered
        assert j.known_order_ids() == {cid(1)}
        with j.interval() as tx:
            assert tx.order(cid(1), "a", "AAPL", 1_001, "buy", 10) is False
        assert len(j.orders()) == 1


def test_fills_are_idempotent_and_accumulate_on_their_order(journal):
    with journal.interval() as tx:
        tx.order(cid(1), "a", "AAPL", 1_001, "buy", 10)
        tx.order_state(cid(1), "submitted", broker_order_id="B1")
        assert tx.fill("x1", cid(1), "a", "AAPL", "buy", 4, 10.0, 2_000, commission=0.5)
        assert tx.fill("x2", cid(1), "a", "AAPL", "buy", 6, 11.0, 2_000)
        assert not tx.fill("x2", cid(1), "a", "AAPL", "buy", 6, 11.0, 2_000)
        tx.order_state(cid(1), "filled")
    order = journal.order(cid(1))
    assert (order.state, order.broker_order_id, order.filled_qty) == ("filled", "B1", 10.0)
    assert order.avg_fill_price == pytest.approx(10.6)
    assert [f.execution_id for f in journal.fills()] == ["x1", "x2"]


def test_an_exception_inside_an_interval_rolls_back_all_of_it(journal):
    with journal.interval() as tx:
        tx.order(cid(0), "a", "AAPL", 1_000, "buy", 1)
    with pytest.raises(ZeroDivisionError), journal.interval() as tx:
        tx.signal("a", "AAPL", 1_001, "buy", 1.0)
        tx.order(cid(1), "a", "AAPL", 1_001, "buy", 1)
        tx.order_state(cid(0), "canceled")
        tx.position("a", "AAPL", 1, 10.0, 0.0, 1_001)
        tx.trade("a", "AAPL", 1, 1_000, 1_001, 10.0, 11.0, 1.0)
        tx.equity("a", 1_001, 1_001.0, 990.0)
        tx.counters(FeedCounters("demo", 5, 5))
        tx.risk("daily_loss", {"day": "2024-01-02"})
        tx.kill_switch(True, "engine", "test")
        tx.progress("a", 1_001)
        raise ZeroDivisionError
    assert journal.known_order_ids() == {cid(0)}
    assert journal.order(cid(0)).state == "pending"
    for table in ("signals", "positions", "trades", "equity", "feed_state", "risk_state", "progress"):
        assert journal.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table
    with journal.interval() as tx:  # the rolled-back equity row is written again, not skipped
        assert tx.equity("a", 1_001, 1_001.0, 990.0)


def test_a_fill_of_an_unknown_order_is_refused_and_rolls_back(journal):
    with pytest.raises(sqlite3.IntegrityError), journal.interval() as tx:
        tx.signal("a", "AAPL", 1_001, "buy", 1.0)
        tx.fill("x1", "sq-unknown", "a", "AAPL", "buy", 1, 10.0, 1_001)
    assert journal.signals() == []


def test_intervals_do_not_nest(journal):
    with journal.interval(), pytest.raises(RuntimeError), journal.interval():
        pass


def test_a_finished_order_never_reopens_and_bad_values_are_refused(journal):
    with journal.interval() as tx:
        tx.order(cid(1), "a", "AAPL", 1_001, "sell", 5, type="limit", limit=10.5)
        tx.order(cid(2), "a", "AAPL", 1_001, "buy", 5, state="blocked", reason="max_order_notional 10000")
        assert tx.order_state(cid(1), "filled")
        assert not tx.order_state(cid(1), "submitted")
        assert tx.order_state(cid(1), "canceled")  # a broker correction between final states
        with pytest.raises(KeyError):
            tx.order_state("sq-missing", "filled")
        for bad in (lambda: tx.order_state(cid(1), "done"), lambda: tx.signal("a", "X", 1, "hold"),
                    lambda: tx.order(cid(3), "a", "X", 1, "long", 1),
                    lambda: tx.order(cid(3), "a", "X", 1, "buy", 1, type="iceberg"),
                    lambda: tx.order(cid(3), "a", "X", 1, "buy", 1, state="blocked"),
                    lambda: tx.risk("kill_switch", {})):
            with pytest.raises(ValueError):
                bad()
    assert journal.order(cid(1)).state == "canceled"
    blocked = journal.order(cid(2))
    assert (blocked.state, blocked.reason) == ("blocked", "max_order_notional 10000")
    assert [o.client_order_id for o in journal.open_orders()] == []


def test_nan_prices_are_stored_as_null_and_indicators_as_json(journal):
    with journal.interval() as tx:
        tx.signal("a", "AAPL", 1_000, "buy", math.nan, limit=math.nan, sl=9.5,
                  indicators={"sma": math.nan, "rsi": 55.0})
        tx.order(cid(1), "a", "AAPL", 1_000, "buy", 1, stop=math.nan, tp=12.0)
    signal, order = journal.signals()[0], journal.order(cid(1))
    assert (signal.size, signal.limit, signal.sl) == (None, None, 9.5)
    assert signal.indicators == '{"sma":null,"rsi":55.0}'
    assert (order.stop, order.tp, order.limit) == (None, 12.0, None)


def test_numpy_scalars_are_stored_as_numbers(journal):
    with journal.interval() as tx:
        tx.signal("a", "AAPL", np.int64(1_000), "buy", np.float32(0.5), limit=np.float32("nan"),
                  indicators={"sma": np.float32(1.5), "ready": True, "n": 3})
        tx.order(cid(1), "a", "AAPL", np.int64(1_000), "buy", np.float64(2.0), tp=np.float32(3.0))
    types = journal.conn.execute("SELECT typeof(size), typeof(limit_price), typeof(bar_ts_ns) FROM signals")
    assert types.fetchall() == [("real", "null", "integer")]
    assert journal.signals()[0].indicators == '{"sma":1.5,"ready":true,"n":3}'
    assert journal.order(cid(1)).tp == 3.0


def test_many_signals_go_in_one_statement(journal):
    rows = [SignalRow("a", f"S{i}", 1_000, "sell" if i % 2 else "buy", 0.1, sl=math.nan, tp=2.0 + i)
            for i in range(50)]
    with journal.interval() as tx:
        tx.signals(rows)
    assert journal.signals() == [replace(r, sl=None) for r in rows]
    assert journal.signal_counts() == {"a": 50}


def test_equity_is_written_only_when_it_changes(journal, run_dir):
    written = []
    for i, value in enumerate([100.0, 100.0, 101.0, 101.0, 101.0, 99.0]):
        with journal.interval() as tx:
            written.append(tx.equity("a", i, value, 50.0))
    assert written == [True, False, True, False, False, True]
    assert [(e.ts_ns, e.equity) for e in journal.equity("a")] == [(0, 100.0), (2, 101.0), (5, 99.0)]
    journal.close()
    with Journal.open(run_dir, create=False) as j, j.interval() as tx:
        assert not tx.equity("a", 6, 99.0, 50.0)
        assert j.last_equity()["a"].ts_ns == 5


def test_a_restart_reads_back_what_it_resumes_from(journal, run_dir):
    with journal.interval() as tx:
        tx.strategy("a", 0.6, 600.0, "1m", 2)
        tx.order(cid(1), "a", "AAPL", 1_001, "buy", 10)
        tx.order(cid(2), "a", "AAPL", 1_001, "buy", 10, state="submitted")
        tx.position("a", "AAPL", 10, 10.0, 0.0, 1_001)
        tx.position("a", "MSFT", 0, None, 3.5, 1_001)
        tx.equity("a", 1_001, 600.0, 500.0)
        tx.counters(FeedCounters("demo", 9, 7, 1, 0, 0, 1, 1_001, 5_000))
        tx.risk("daily_loss", {"day": "2024-01-02", "start_equity": 600.0, "halted_new_entries": False})
        tx.kill_switch(True, "engine", "broker unreachable")
        tx.progress("a", 1_001)
    journal.close()
    with Journal.open(run_dir, create=True, config=CONFIG) as j:
        assert j.progress() == {"a": 1_001}
        assert [(p.symbol, p.size) for p in j.positions(open_only=True)] == [("AAPL", 10.0)]
        assert j.positions("a")[1].realized_pnl == 3.5
        assert {o.client_order_id for o in j.open_orders()} == {cid(1), cid(2)}
        assert j.last_equity()["a"].cash == 500.0
        assert j.feed_counters()["demo"] == FeedCounters("demo", 9, 7, 1, 0, 0, 1, 1_001, 5_000)
        assert j.feed_counters()["demo"].dropped == 2
        assert j.risk("daily_loss")["start_equity"] == 600.0
        assert j.kill_switch() == KillSwitch(True, "engine", "broker unreachable", j.kill_switch().ts_ns)
        assert j.strategies()[0].capital == 600.0
        assert [s.status for s in j.sessions()] == ["stopped", "running"]


def test_a_second_engine_on_the_same_run_directory_is_refused(journal, run_dir):
    with pytest.raises(SqfastError, match="in use by another sqfast process"):
        Journal.open(run_dir, create=True, config=CONFIG)
    journal.close()
    Journal.open(run_dir, create=True, config=CONFIG).close()


def test_client_order_ids_are_short_deterministic_and_distinct():
    base = ("0123abcd", "sma_cross", "BTC/USD", 1_700_000_000_000_000_000, 0)
    first = client_order_id(*base)
    assert first == client_order_id(*base)
    assert first.startswith("sq-") and len(first) == 23 <= 128
    assert all(c.isalnum() or c == "-" for c in first)
    variants = {client_order_id(*base[:i], other, *base[i + 1:])
                for i, other in enumerate(("0123abce", "sma_cros", "BTC/USDT", base[3] + 1, 1))}
    assert len(variants | {first}) == 6


def test_config_changes_name_what_matters_and_ignore_what_does_not():
    new = {**CONFIG, "capital": 2_000, "duration": "5m", "risk": {"max_order_notional": 5},
           "strategy": [{**CONFIG["strategy"][0], "allocation": 0.5, "params": {"n": 12}},
                        {"id": "c", "file": "strategies/c.py", "allocation": 0.3}]}
    assert config_changes(CONFIG, new) == [
        "capital: 1000 -> 2000",
        "strategy[a].allocation: 0.6 -> 0.5",
        "strategy[a].params.n: 10 -> 12",
        'strategy[b]: removed (was {"allocation": 0.3, "file": "strategies/b.py", "id": "b"})',
        'strategy[c]: added ({"allocation": 0.3, "file": "strategies/c.py", "id": "c"})',
    ]
    restart_safe = {**CONFIG, "duration": "1h", "speed": "max", "risk": {"max_order_notional": 1}}
    assert config_changes(CONFIG, restart_safe) == []
    assert config_hash(CONFIG) == config_hash(restart_safe)


@dataclass(frozen=True)
class Strategy:
    id: str
    file: Path
    allocation: float
    origin: str


@dataclass(frozen=True)
class Run:
    """The shape of sqfast.config_types.RunConfig: dataclasses, paths, tuples."""

    capital: float
    duration_seconds: int | None
    strategies: tuple[Strategy, ...]
    symbols: tuple[str, ...]


def test_config_changes_read_dataclass_configurations():
    old = Run(1e5, 60, (Strategy("sma", Path("/s/sma.py"), 0.4, "portfolio.toml:14"),), ("AAPL", "MSFT"))
    moved = replace(old, duration_seconds=None, strategies=(replace(old.strategies[0], origin="p.toml:20"),))
    assert config_changes(old, moved) == []
    grown = replace(old, symbols=("AAPL", "MSFT", "TSLA"),
                    strategies=(replace(old.strategies[0], allocation=0.5),))
    assert config_changes(old, grown) == ["strategies[sma].allocation: 0.4 -> 0.5",
                                          'symbols: 1 added ("TSLA")']
    reordered = replace(old, symbols=("MSFT", "AAPL"))
    assert config_changes(old, reordered) == ["symbols: same 2 items in another order"]


def test_a_resumed_run_refuses_a_changed_configuration(journal, run_dir):
    journal.close()
    changed = {**CONFIG, "strategy": [{**CONFIG["strategy"][0], "allocation": 0.7}, CONFIG["strategy"][1]]}
    with pytest.raises(SqfastError, match=r"strategy\[a\].allocation: 0.6 -> 0.7") as error:
        Journal.open(run_dir, create=True, config=changed)
    assert "\n" not in str(error.value)
    with Journal.open(run_dir, create=True, config={**CONFIG, "duration": "2h"}) as j:
        assert j.resumed
