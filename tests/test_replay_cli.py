"""`sqfast replay` and `sqfast.replay()`: files in, trades/orders/summary out, checked against
backtesting.py runs of each symbol; and every bad input is one clear line."""

import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from backtesting import Backtest

import sqfast
from sqfast.compile.loader import load_strategy
from tests.market import parity_frame

ROOT = Path(__file__).resolve().parents[1]
SMA_CROSS = ROOT / "strategies" / "sma_cross.py"
SYMBOLS = {f"SYN{i}": parity_frame(100 + i, 800) for i in range(4)}


def as_polars(frame: pd.DataFrame) -> pl.DataFrame:
    return pl.from_pandas(frame.reset_index().rename(columns={"index": "time"}))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bars")
    for k, (symbol, frame) in enumerate(SYMBOLS.items()):
        table = as_polars(frame)
        if k % 2:
            table.write_parquet(directory / f"{symbol}.parquet")
        else:
            table.rename({"Close": "close", "time": "Date"}).write_csv(directory / f"{symbol}.csv")
    return directory


@pytest.fixture(scope="module")
def oracle():
    cls = load_strategy(SMA_CROSS).cls
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return {s: Backtest(f, cls, commission=0.002).run() for s, f in SYMBOLS.items()}


def sqfast_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sqfast.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=600)


def check_trades(trades: pl.DataFrame, oracle) -> None:
    for symbol, stats in oracle.items():
        ours = trades.filter(pl.col("symbol") == symbol)
        theirs = stats._trades
        assert ours["size"].to_list() == theirs.Size.tolist()
        assert ours["entry_bar"].to_list() == theirs.EntryBar.tolist()
        assert ours["exit_bar"].to_list() == theirs.ExitBar.tolist()
        pairs = (("entry_price", "EntryPrice"), ("exit_price", "ExitPrice"), ("pnl", "PnL"))
        for ours_col, theirs_col in pairs:
            np.testing.assert_allclose(ours[ours_col].to_numpy(), theirs[theirs_col].to_numpy(), rtol=1e-9)
        np.testing.assert_array_equal(ours["entry_time"].to_numpy(), theirs.EntryTime.to_numpy())


def test_cli_writes_trades_and_orders_like_backtesting(data_dir, oracle, tmp_path):
    trades_file, orders_file = tmp_path / "trades.csv", tmp_path / "orders.parquet"
    result = sqfast_cli("replay", SMA_CROSS, "--data", data_dir, "--commission", "0.002",
                        "--trades", trades_file, "--orders", orders_file)
    assert result.returncode == 0, result.stderr
    check_trades(pl.read_csv(trades_file, try_parse_dates=True), oracle)
    orders = pl.read_parquet(orders_file)
    assert sorted(orders["symbol"].unique().to_list()) == sorted(SYMBOLS)
    assert orders.columns == ["symbol", "bar", "side", "size", "limit", "stop", "sl", "tp"]
    n_trades = sum(len(s._trades) for s in oracle.values())
    assert f"SmaCross (compiled): 4 symbols, {n_trades} trades" in result.stdout
    assert "replayed 4/4 symbols" in result.stderr


def test_summary_is_the_portfolio_of_backtesting_runs(data_dir, oracle):
    result = sqfast.replay(SMA_CROSS, data_dir, commission=0.002)
    row = result.summary.row(0, named=True)
    final = sum(s["Equity Final [$]"] for s in oracle.values())
    assert row["return_pct"] == pytest.approx(100 * (final / (4 * 10_000) - 1), rel=1e-9)
    equity = sum(s._equity_curve["Equity"] for s in oracle.values())
    drawdown = float(((equity.cummax() - equity) / equity.cummax()).max())
    assert row["max_drawdown_pct"] == pytest.approx(100 * drawdown, rel=1e-9)
    wins = sum((s._trades.PnL > 0).sum() for s in oracle.values())
    assert row["win_rate_pct"] == pytest.approx(100 * wins / row["trades"])


def test_long_format_file_with_interleaved_symbols(tmp_path, oracle):
    long = pl.concat([as_polars(f).with_columns(symbol=pl.lit(s)) for s, f in SYMBOLS.items()]).sort("time")
    path = tmp_path / "long.csv"
    long.write_csv(path)
    result = sqfast.replay(SMA_CROSS, path, symbols=["SYN2", "SYN0"], commission=0.002)
    assert result.trades["symbol"].unique(maintain_order=True).to_list() == ["SYN2", "SYN0"]
    check_trades(result.trades, {s: oracle[s] for s in ("SYN2", "SYN0")})


def write_bad(tmp_path, mutate) -> Path:
    frame = as_polars(SYMBOLS["SYN0"])
    directory = tmp_path / "bad"
    directory.mkdir()
    mutate(frame, directory)
    return directory


@pytest.mark.parametrize("case, mutate, message", [
    ("missing column", lambda f, d: f.drop("Volume").write_csv(d / "X.csv"),
     r"X\.csv: no Volume column \(expected one of Volume; found"),
    ("time goes back", lambda f, d: pl.concat([f[:10], f[5:6], f[10:]]).write_csv(d / "X.csv"),
     r"X\.csv: data row 11: time .* of X does not come after"),
    ("not a number", lambda f, d: f.with_columns(pl.col("Open").cast(pl.Utf8)
                                                 .replace({f["Open"].cast(pl.Utf8)[3]: "n/a"}))
     .write_csv(d / "X.csv"), r"X\.csv: column 'Open' is not numeric|X\.csv: data row 4: Open"),
    ("no time column", lambda f, d: f.drop("time").write_csv(d / "X.csv"), r"X\.csv: no time column"),
    ("empty directory", lambda f, d: None, r"bad: no \.csv or \.parquet files"),
])
def test_bad_data_is_one_clear_line(tmp_path, case, mutate, message):
    directory = write_bad(tmp_path, mutate)
    result = sqfast_cli("replay", SMA_CROSS, "--data", directory)
    assert result.returncode == 2, case
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert re.search(message, result.stderr), result.stderr


@pytest.mark.parametrize("args, message", [
    (("--data", "nowhere"), "nowhere: no such file or directory"),
    (("--symbols", "SYN0,NOPE"), "no bars for NOPE"),
    (("--trades", "out.txt"), "out.txt: write results to a .csv or .parquet file"),
    (("--param", "n9=3"), "SmaCross has no parameter 'n9'"),
    (("--margin", "2"), "margin"),
])
def test_bad_arguments_are_one_clear_line(data_dir, args, message):
    base = {"--data": str(data_dir)}
    extra = list(args)
    if "--data" in extra:
        base.pop("--data")
    result = sqfast_cli("replay", SMA_CROSS, *[x for kv in base.items() for x in kv], *extra)
    assert result.returncode == 2, result.stdout
    assert message in result.stderr
    assert "Traceback" not in result.stderr
