"""Export a run journal's trades and equity to Parquet (polars), each file replaced atomically.

Times are `Datetime("ns", "UTC")` columns; prices and P&L float64. A file is written to a
temporary name in the same directory, flushed to disk, then renamed over the old one, so a reader
(or a crash) sees the previous export or the new one, never a partial file.
"""

import os
from pathlib import Path

import polars as pl

from .journal_read import JournalReader

TRADES_FILE = "trades.parquet"
EQUITY_FILE = "equity.parquet"
_TIME = pl.Datetime("ns", "UTC")
TRADES_SCHEMA = {"strategy": pl.Utf8, "symbol": pl.Utf8, "size": pl.Float64, "entry_time": _TIME,
                 "exit_time": _TIME, "entry_price": pl.Float64, "exit_price": pl.Float64, "pnl": pl.Float64,
                 "commission": pl.Float64}
EQUITY_SCHEMA = {"strategy": pl.Utf8, "time": _TIME, "equity": pl.Float64, "cash": pl.Float64}


def trades_frame(reader: JournalReader) -> pl.DataFrame:
    rows = [(t.strategy, t.symbol, t.size, t.entry_bar_ts_ns, t.exit_bar_ts_ns, t.entry_price, t.exit_price,
             t.pnl, t.commission) for t in reader.trades()]
    return _frame(rows, TRADES_SCHEMA, ("entry_time", "exit_time"))


def equity_frame(reader: JournalReader) -> pl.DataFrame:
    rows = [(e.strategy, e.ts_ns, e.equity, e.cash) for e in reader.equity()]
    return _frame(rows, EQUITY_SCHEMA, ("time",))


def _frame(rows: list[tuple], schema: dict, times: tuple[str, ...]) -> pl.DataFrame:
    raw = {name: (pl.Int64 if name in times else dtype) for name, dtype in schema.items()}
    frame = pl.DataFrame(rows, schema=raw, orient="row")
    return frame.with_columns(pl.col(name).cast(_TIME) for name in times)


def write_atomic(frame: pl.DataFrame, path: Path) -> None:
    """Write `frame` to `path` through a temporary file and a rename."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        frame.write_parquet(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def export_tables(reader: JournalReader, out_dir: Path) -> tuple[Path, Path]:
    """Write trades.parquet and equity.parquet into `out_dir`; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    trades, equity = out_dir / TRADES_FILE, out_dir / EQUITY_FILE
    write_atomic(trades_frame(reader), trades)
    write_atomic(equity_frame(reader), equity)
    return trades, equity
