"""Read historical bars for replay: a directory of per-symbol files (`AAPL.csv`, `AAPL.parquet`)
or one long-format CSV/Parquet file with a `symbol` column. Column names are case-insensitive;
the time column is `time`, `timestamp`, `datetime` or `date`. Read with polars.

Every mistake is a `SqfastError` naming the file (and column or row) and the fix.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from .errors import SqfastError

FIELDS = ("Open", "High", "Low", "Close", "Volume")
TIME_NAMES = ("time", "timestamp", "datetime", "date")
SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class SymbolBars:
    """One symbol's bars: float64 OHLCV columns and their times (datetime64[ns])."""

    symbol: str
    columns: dict[str, np.ndarray]
    times: np.ndarray

    def __len__(self) -> int:
        return len(self.times)


def _read(path: Path) -> pl.DataFrame:
    try:
        if path.suffix.lower() == ".parquet":
            return pl.read_parquet(path)
        return pl.read_csv(path, try_parse_dates=True)
    except Exception as err:
        raise SqfastError(f"{path}: cannot read bars: {err}") from None


def _column(path: Path, frame: pl.DataFrame, wanted: tuple[str, ...], what: str) -> str:
    by_lower = {c.lower(): c for c in frame.columns}
    for name in wanted:
        if name.lower() in by_lower:
            return by_lower[name.lower()]
    raise SqfastError(f"{path}: no {what} column (expected one of {', '.join(wanted)}; "
                      f"found {', '.join(frame.columns)})")


def _as_times(path: Path, series: pl.Series) -> np.ndarray:
    if series.dtype == pl.Utf8:
        try:
            series = series.str.to_datetime(time_zone="UTC")
        except Exception:
            raise SqfastError(f"{path}: column {series.name!r} does not hold dates or times") from None
    if series.dtype == pl.Date:
        series = series.cast(pl.Datetime("ns"))
    if not isinstance(series.dtype, pl.Datetime):
        raise SqfastError(f"{path}: column {series.name!r} does not hold dates or times")
    if series.dtype.time_zone is not None:
        series = series.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return series.cast(pl.Datetime("ns")).to_numpy()


def _symbol_bars(path: Path, symbol: str, frame: pl.DataFrame, rows: np.ndarray | None = None) -> SymbolBars:
    """Validate and convert one symbol's rows; `rows` are their 0-based data rows in the file."""
    rows = np.arange(len(frame)) if rows is None else rows
    time_col = _column(path, frame, TIME_NAMES, "time")
    columns = {}
    for field in FIELDS:
        name = _column(path, frame, (field,), field)
        try:
            values = frame[name].cast(pl.Float64).to_numpy()
        except Exception:
            raise SqfastError(f"{path}: column {name!r} is not numeric") from None
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            raise SqfastError(f"{path}: data row {rows[bad[0]] + 1}: {name} is missing or not finite")
        columns[field] = values
    times = _as_times(path, frame[time_col])
    backwards = np.flatnonzero(np.diff(times.astype(np.int64)) <= 0)
    if len(backwards):
        k = backwards[0] + 1
        raise SqfastError(f"{path}: data row {rows[k] + 1}: time {times[k]} of {symbol} does not come after "
                          f"{times[k - 1]} (times must increase, with no duplicates)")
    return SymbolBars(symbol, columns, times)


def read_bars(path: str | Path, symbols: list[str] | None = None) -> list[SymbolBars]:
    """Bars for every symbol in `path` (or only `symbols`, in that order)."""
    path = Path(path)
    if path.is_dir():
        files = {f.stem: f for f in sorted(path.iterdir()) if f.suffix.lower() in SUFFIXES}
        if not files:
            raise SqfastError(f"{path}: no .csv or .parquet files")
        found = {name: lambda f=f, name=name: _symbol_bars(f, name, _read(f)) for name, f in files.items()}
    elif path.is_file():
        frame = _read(path)
        symbol_col = _column(path, frame, ("symbol",), "symbol")
        found = {}
        for (name,), group in frame.with_row_index("_row").group_by(symbol_col, maintain_order=True):
            rows = group["_row"].to_numpy()
            found[str(name)] = lambda g=group, n=str(name), r=rows: _symbol_bars(path, n, g, r)
    else:
        raise SqfastError(f"{path}: no such file or directory")
    if symbols:
        missing = [s for s in symbols if s not in found]
        if missing:
            raise SqfastError(f"{path}: no bars for {', '.join(missing)}")
        return [found[s]() for s in symbols]
    return [load() for load in found.values()]
