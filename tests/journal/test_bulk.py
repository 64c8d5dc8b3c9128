"""The bulk row methods write exactly what the per-row methods write, and refuse the same things."""

import math
import sqlite3

import numpy as np
import pytest

from sqfast.journal import Journal
from tests.journal import intervals
from tests.journal.conftest import CONFIG

N = 12


def journal_of(path, write, background: bool = False, n: int = N) -> dict:
    """Write intervals 0..n-1 with `write` into a new journal; every table's rows."""
    with Journal.open(path, create=True, config=CONFIG, background=background) as j:
        for i in range(n):
            with j.interval(now_ns=intervals.ts(i) + 7) as tx:
                write(tx, i)
        j.flush()
        return intervals.dump(j.conn)


@pytest.fixture(scope="module")
def per_row_sync(tmp_path_factory):
    return journal_of(tmp_path_factory.mktemp("ref") / "run", intervals.write_per_row)


@pytest.mark.parametrize("background", [False, True], ids=["sync", "background"])
@pytest.mark.parametrize("how", ["bulk", "per_row"])
def test_bulk_and_per_row_write_the_same_tables(tmp_path, per_row_sync, how, background):
    write = intervals.write_bulk if how == "bulk" else intervals.write_per_row
    tables = journal_of(tmp_path / "run", write, background)
    assert set(tables) == set(per_row_sync)
    for table, expected in per_row_sync.items():
        assert tables[table] == expected, table
    assert all(tables[t] for t in intervals.TABLES)


def test_a_journal_made_with_the_old_indexes_is_written_the_same(tmp_path, per_row_sync):
    """Journals from before the cheaper schema have an index on orders.state and one on
    fills.client_order_id; they are read and written alike."""
    run_dir = tmp_path / "run"
    Journal.open(run_dir, create=True, config=CONFIG).close()
    conn = sqlite3.connect(run_dir / "journal.sqlite")
    conn.executescript("CREATE INDEX orders_by_state ON orders (state); "
                       "CREATE INDEX fills_by_order ON fills (client_order_id);")
    conn.close()
    with Journal.open(run_dir, create=False, background=True) as j:
        for i in range(N):
            with j.interval(now_ns=intervals.ts(i) + 7) as tx:
                intervals.write_bulk(tx, i)
        j.flush()
        assert intervals.dump(j.conn) == per_row_sync
        assert [o.client_order_id for o in j.open_orders()] == [o[0] for o in intervals.rows(N - 1)["orders"]
                                                                 if o[11] == "submitted"]


def test_the_reference_journal_holds_what_the_rows_describe(per_row_sync):
    """The comparison above is not vacuous: skipped fills, partial fills, NULLs and no blobs."""
    fills = per_row_sync["fills"]
    given = sum(len(intervals.rows(i)["fills"]) for i in range(N))
    assert len({f[0][1] for f in fills}) == len(fills) < given
    orders = {row[0][1]: [v for _, v in row] for row in per_row_sync["orders"]}
    split = orders[intervals.cid("s1", "S000", 0)]  # two fills: 0.4 at 100.0, 0.6 at 100.25
    assert (split[11], split[15], split[16]) == ("filled", 1.0, pytest.approx(100.15))
    assert orders[intervals.cid("s1", "S000", 1)][11] == "filled"  # the late "submitted" was ignored
    signal = per_row_sync["signals"][1]
    assert [v for _, v in signal[3:9]] == [intervals.ts(0), "sell", 0.5, None, None, 96.0]
    stored = {type_ for table in per_row_sync.values() for row in table for type_, _ in row}
    assert stored == {"int", "float", "str", "NoneType"}


def test_fills_accumulate_on_their_order_as_per_row(journal):
    with journal.interval() as tx:
        tx.order_rows([("o1", "a", "X", 1, "buy", 10.0, "market", None, None, None, None, "submitted", None,
                        None)])
        tx.fill_rows([("x1", "o1", "a", "X", "buy", 4.0, 10.0, 2, 0.5),
                      ("x2", "o1", "a", "X", "buy", 6.0, 11.0, 2, 0.0),
                      ("x2", "o1", "a", "X", "buy", 6.0, 11.0, 2, 0.0)])
    with journal.interval() as tx:
        tx.fill_rows([("x1", "o1", "a", "X", "buy", 4.0, 10.0, 2, 0.5)])
    order = journal.order("o1")
    assert order.filled_qty == 10.0 and order.avg_fill_price == pytest.approx(10.6)
    assert [f.execution_id for f in journal.fills()] == ["x1", "x2"]


def test_state_rows_with_quantities_set_them_and_never_reopen(journal):
    orders = [(f"o{k}", "a", "X", 1, "buy", 3.0, "market", None, None, None, None, "submitted", None, None)
              for k in range(3)]
    with journal.interval() as tx:
        tx.order_rows(orders)
        tx.order_state_rows([("o0", "filled", 3.0, 10.5), ("o1", "canceled"), ("o2", "partially_filled", 1.0,
                                                                                 np.float64("nan"))])
    with journal.interval() as tx:
        tx.order_state_rows([("o0", "submitted"), ("o1", "partially_filled", 2.0, 9.0), ("o2", "filled")])
    o0, o1, o2 = (journal.order(f"o{k}") for k in range(3))
    assert (o0.state, o0.filled_qty, o0.avg_fill_price) == ("filled", 3.0, 10.5)
    assert (o1.state, o1.filled_qty) == ("canceled", 0.0)
    assert (o2.state, o2.filled_qty, o2.avg_fill_price) == ("filled", 1.0, None)


def test_numpy_scalars_and_nan_are_stored_as_numbers_and_null(journal):
    with journal.interval() as tx:
        tx.signal_rows([("a", "X", np.int64(5), "buy", np.float32(0.5), np.float64("nan"), math.nan, None,
                         np.float32(2.5), None, None)])
        tx.position_rows([("a", "X", np.float64(3.0), np.float32("nan"), np.int32(0), np.uint64(5))])
        tx.trade_rows([("a", "X", np.int8(-2), np.int64(1), np.int64(5), np.float32(1.5), 2.0,
                        np.float64(-1.0), np.float16(0.25))])
    types = journal.conn.execute("SELECT typeof(bar_ts_ns), typeof(size), typeof(limit_price), typeof(tp), "
                                 "tp FROM signals").fetchall()
    assert types == [("integer", "real", "null", "real", 2.5)]
    position = journal.positions()[0]
    assert (position.size, position.avg_entry_price, position.realized_pnl) == (3.0, None, 0.0)
    assert position.updated_ts_ns == 5
    trade = journal.trades()[0]
    assert (trade.size, trade.entry_price, trade.commission) == (-2.0, 1.5, 0.25)
    kinds = journal.conn.execute("SELECT typeof(size), typeof(entry_bar_ts_ns), typeof(commission) "
                                 "FROM trades").fetchone()
    assert kinds == ("real", "integer", "real")


ORDER = ("o1", "a", "X", 1, "buy", 1.0, "market", None, None, None, None, "submitted", None, None)


@pytest.mark.parametrize(("method", "row", "message"), [
    ("signal_rows", ("a", "X", 1, "hold", 1.0, None, None, None, None, None, None), "action must be"),
    ("order_rows", (*ORDER[:4], "long", *ORDER[5:]), "side must be"),
    ("order_rows", (*ORDER[:6], "iceberg", *ORDER[7:]), "order type must be"),
    ("order_rows", (*ORDER[:11], "done", *ORDER[12:]), "state must be"),
    ("order_rows", (*ORDER[:11], "blocked", *ORDER[12:]), "blocked order needs the reason"),
    ("order_state_rows", ("o1", "done"), "state must be"),
    ("order_state_rows", ("o1", "filled", 1.0), "2 or 4 items"),
    ("fill_rows", ("x", "o1", "a", "X", "short", 1.0, 1.0, 1, 0.0), "side must be"),
])
def test_bad_values_are_refused_and_roll_back_the_interval(journal, method, row, message):
    with pytest.raises(ValueError, match=message), journal.interval() as tx:
        tx.signal_rows([("a", "X", 1, "buy", 1.0, None, None, None, None, None, None)])
        if method != "order_rows":
            tx.order_rows([ORDER])
        getattr(tx, method)([row])
    assert journal.signals() == [] and journal.orders() == []


def test_a_journaled_or_repeated_order_id_fails_the_interval_naming_it(journal):
    with journal.interval() as tx:
        tx.order_rows([ORDER])
    again = [(*ORDER[:1], "b", *ORDER[2:]), ("o2", *ORDER[1:]), ("o3", *ORDER[1:]), ("o3", *ORDER[1:])]
    refused = pytest.raises(sqlite3.IntegrityError, match=r"journaled already .*: o1, o3$")
    with refused, journal.interval() as tx:
        tx.signal_rows([("a", "X", 1, "buy", 1.0, None, None, None, None, None, None)])
        tx.order_rows(again)
    assert [o.client_order_id for o in journal.orders()] == ["o1"]
    assert journal.order("o1").strategy == "a" and journal.signals() == []


def test_an_unknown_order_in_state_rows_fails_the_interval_naming_it(journal):
    with journal.interval() as tx:
        tx.order_rows([ORDER])
    with pytest.raises(KeyError, match="sq-missing"), journal.interval() as tx:
        tx.order_state_rows([("o1", "filled"), ("sq-missing", "filled")])
    assert journal.order("o1").state == "submitted"


def test_a_fill_of_an_unknown_order_fails_the_interval(journal):
    with pytest.raises(sqlite3.IntegrityError), journal.interval() as tx:
        tx.fill_rows([("x1", "sq-unknown", "a", "X", "buy", 1.0, 10.0, 1, 0.0)])
    assert journal.fills() == []


def test_empty_row_lists_write_nothing(journal):
    with journal.interval() as tx:
        for method in ("signal_rows", "order_rows", "order_state_rows", "fill_rows", "position_rows",
                       "trade_rows"):
            getattr(tx, method)([])
            getattr(tx, method)(iter(()))
    assert journal.signals() == [] and journal.orders() == []
