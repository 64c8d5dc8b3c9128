"""`sqfast` as a user runs it: a subprocess, its output checked against an independent oracle."""

import subprocess
import sys

import pandas as pd
import pytest
import talib

from sqfast.synthetic import demo_bars, demo_symbols


def sqfast(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sqfast.cli", *args], capture_output=True, text=True,
                          timeout=300)


def test_demo_prints_the_indicators_of_the_seeded_universe():
    result = sqfast("demo", "--symbols", "40", "--bars", "80", "--seed", "3", "--show", "4")
    assert result.returncode == 0, result.stderr
    close = pd.DataFrame(demo_bars(80, 40, seed=3).close)
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.startswith("DEMO")}
    assert sorted(rows) == demo_symbols(4)
    for s, name in enumerate(demo_symbols(4)):
        _, last, sma10, sma20, ema20, rsi14, *_ = rows[name]
        series = close[s].to_numpy()
        assert float(last) == pytest.approx(series[-1], abs=0.006)
        assert float(sma10) == pytest.approx(close[s].rolling(10).mean().iloc[-1], abs=0.006)
        assert float(sma20) == pytest.approx(close[s].rolling(20).mean().iloc[-1], abs=0.006)
        assert float(ema20) == pytest.approx(talib.EMA(series, 20)[-1], abs=0.006)
        assert float(rsi14) == pytest.approx(talib.RSI(series, 14)[-1], abs=0.06)
    assert "golden crosses" in result.stdout
    assert "per bar for all symbols" in result.stdout


@pytest.mark.parametrize("args, message", [
    (("demo", "--symbols", "0"), "expected a number >= 1"),
    (("demo", "--bars", "ten"), "expected a whole number"),
    (("demo", "--frobnicate"), "unrecognized arguments"),
    (("launch",), "invalid choice"),
])
def test_bad_arguments_give_a_clear_error_and_no_traceback(args, message):
    result = sqfast(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
