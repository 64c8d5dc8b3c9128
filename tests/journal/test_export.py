"""Trades and equity exported to Parquet round-trip exactly, and replace the old files whole."""

import polars as pl
import pytest

from sqfast.journal_export import EQUITY_SCHEMA, TRADES_SCHEMA

T0 = 1_704_196_800_000_000_000


def test_export_round_trips_trades_and_equity(journal, run_dir):
    with journal.interval() as tx:
        tx.trade("a", "AAPL", 10, T0, T0 + 60_000_000_000, 100.0, 101.5, 15.0, 0.2)
        tx.trade("b", "BTC/USD", -0.5, T0 + 1, T0 + 2, 40_000.0, 39_000.0, 500.0)
        tx.equity("a", T0, 600.0, 600.0)
        tx.equity("a", T0 + 60_000_000_000, 615.0, 615.0)
        tx.equity("b", T0, 300.0, 280.0)
    trades_path, equity_path = journal.export()
    assert (trades_path, equity_path) == (run_dir / "trades.parquet", run_dir / "equity.parquet")
    trades, equity = pl.read_parquet(trades_path), pl.read_parquet(equity_path)
    assert dict(trades.schema) == TRADES_SCHEMA and dict(equity.schema) == EQUITY_SCHEMA
    assert trades.rows() == [(t.strategy, t.symbol, t.size, *_times(t.entry_bar_ts_ns, t.exit_bar_ts_ns),
                              t.entry_price, t.exit_price, t.pnl, t.commission) for t in journal.trades()]
    assert equity["time"].dt.epoch("ns").to_list() == [e.ts_ns for e in journal.equity()]
    assert equity.select("strategy", "equity", "cash").rows() == [("a", 600.0, 600.0), ("a", 615.0, 615.0),
                                                                  ("b", 300.0, 280.0)]
    assert str(trades["entry_time"].dtype.time_zone) == "UTC"


def _times(*ns: int) -> list:
    return pl.Series(ns, dtype=pl.Int64).cast(pl.Datetime("ns", "UTC")).to_list()


def test_export_replaces_the_old_files_and_leaves_no_temporary_files(journal, run_dir, tmp_path):
    journal.export()
    assert pl.read_parquet(run_dir / "trades.parquet").height == 0
    with journal.interval() as tx:
        tx.trade("a", "AAPL", 1, T0, T0 + 1, 1.0, 2.0, 1.0)
    out = tmp_path / "exports"
    journal.export(out)
    journal.export()
    assert pl.read_parquet(run_dir / "trades.parquet").height == 1
    assert pl.read_parquet(out / "trades.parquet").height == 1
    exported = sorted(p.name for p in run_dir.iterdir() if "parquet" in p.name)
    assert exported == ["equity.parquet", "trades.parquet"]


def test_a_failed_write_keeps_the_previous_export(journal, run_dir, monkeypatch):
    with journal.interval() as tx:
        tx.trade("a", "AAPL", 1, T0, T0 + 1, 1.0, 2.0, 1.0)
    journal.export()

    def broken(self, path, *args, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        journal.export()
    assert pl.read_parquet(run_dir / "trades.parquet").height == 1
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]
