"""`sqfast.Strategy` and `sqfast.lib`: a strategy written without backtesting.py is loaded,
recorded, checked, translated and replayed like a backtesting.py one, gives the same orders and
trades as its backtesting.py twin, and works where backtesting.py (and pandas) cannot be imported.
"""

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from backtesting import Backtest
from backtesting import Strategy as BacktestingStrategy
from backtesting import lib as bt_lib
from backtesting.test import SMA as BT_SMA

import sqfast
from sqfast import lib
from sqfast.compile.analysis import analyse
from sqfast.compile.loader import load_strategy
from sqfast.compile.record import record_init
from sqfast.compile.subset import check_next
from sqfast.errors import StrategyError
from sqfast.strategy import Strategy, to_backtesting
from tests.market import parity_frame

ROOT = Path(__file__).resolve().parents[1]
NATIVE = ROOT / "strategies" / "sqfast_native.py"
HEAVY = ("backtesting", "pandas", "polars", "talib")

# The same strategy twice: against sqfast's base and helpers, and against backtesting.py's.
TWIN_BODY = '''

class Twin(Strategy):
    fast = 8
    slow = 21

    def init(self):
        self.fast_sma = self.I(SMA, self.data.Close, self.fast)
        self.slow_sma = self.I(SMA, self.data.Close, self.slow)

    def next(self):
        if crossover(self.fast_sma, self.slow_sma):
            self.position.close()
            self.buy(size=0.3, sl=self.data.Close[-1] * 0.9)
        elif cross(self.data.Close, self.slow_sma) and self.position.is_long:
            self.position.close()
        elif barssince(self.data.Close > self.fast_sma) > 6 and not self.position:
            self.sell(size=2, tp=self.data.Close[-1] * 0.95)
'''
SQFAST_IMPORTS = "from sqfast import Strategy\nfrom sqfast.lib import SMA, barssince, cross, crossover\n"
BACKTESTING_IMPORTS = ("from backtesting import Strategy\n"
                       "from backtesting.lib import barssince, cross, crossover\n"
                       "from backtesting.test import SMA\n")


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("bars")
    for seed in range(3):
        frame = parity_frame(200 + seed, 900)
        pl.from_pandas(frame.rename_axis("time").reset_index()).write_csv(directory / f"SYN{seed}.csv")
    return directory


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    directory = tmp_path_factory.mktemp("twins")
    return (write(directory, "native.py", '"""Native."""\n' + SQFAST_IMPORTS + TWIN_BODY),
            write(directory, "classic.py", '"""Classic."""\n' + BACKTESTING_IMPORTS + TWIN_BODY))


# --- sqfast.lib means what backtesting.lib and backtesting.test mean ------------------------------

SERIES_PAIRS = [
    (np.array([1.0, 3.0]), np.array([2.0, 2.0])), (np.array([3.0, 1.0]), np.array([2.0, 2.0])),
    (np.array([1.0, 2.0]), 2.0), (np.array([1.0, 2.5]), 2), (np.array([2.0, 3.0]), np.array([2.0, 1.0])),
    (np.array([np.nan, 3.0]), np.array([2.0, 2.0])), (np.array([3.0]), np.array([1.0])),
    (np.array([]), np.array([])), ([1, 5, 0], [2, 2, 2]), (pd.Series([1.0, 3.0]), pd.Series([2.0, 2.0])),
    (pd.Series([1.0, 3.0], index=[10, 11]), 2.0),
]


@pytest.mark.parametrize("a, b", SERIES_PAIRS)
def test_crossover_and_cross_equal_backtesting_lib(a, b):
    assert lib.crossover(a, b) == bool(bt_lib.crossover(a, b))
    assert lib.crossover(b, a) == bool(bt_lib.crossover(b, a))
    assert lib.cross(a, b) == bool(bt_lib.cross(a, b))


@pytest.mark.parametrize("condition", [
    np.array([True, False, False]), np.array([False, True, True]), np.array([False, False]), np.array([]),
    [0, 1, 0, 0], pd.Series([False, True, False]).to_numpy(),
])
def test_barssince_equals_backtesting_lib(condition):
    assert lib.barssince(condition) == bt_lib.barssince(condition)
    assert lib.barssince(condition, default=-1) == bt_lib.barssince(condition, default=-1)


@pytest.mark.parametrize("n", [1, 2, 10, 50])
def test_sma_equals_backtesting_test_sma_including_nan(n):
    x = 100 + np.cumsum(np.random.default_rng(n).normal(size=400))
    x[:7] = np.nan
    x[200] = np.nan  # a gap: pandas gives NaN while it is in the window
    expected = BT_SMA(x, n).to_numpy()
    got = lib.SMA(x, n)
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)], rtol=1e-12)


@pytest.mark.parametrize("n", [0, -1, 2.0, True])
def test_sma_rejects_a_bad_window(n):
    with pytest.raises(ValueError, match="whole number"):
        lib.SMA(np.arange(10.0), n)


# --- the base itself ---------------------------------------------------------------------------

class FakeBroker:
    def __init__(self):
        self.orders, self.trades, self.closed_trades = [1], [2, 3], []
        self.equity, self.position = 123.0, "position"
        self.placed = []

    def new_order(self, *args):
        self.placed.append(args)
        return "order"


class Bars:
    Close = np.arange(1.0, 11.0)

    def __len__(self):
        return 10


class Example(Strategy):
    n = 3

    def init(self):
        self.sma = self.I(lib.SMA, self.data.Close, self.n)

    def next(self):
        pass


def test_base_talks_to_its_broker_like_backtesting():
    broker = FakeBroker()
    strategy = Example(broker, Bars(), {"n": 4})
    assert strategy.n == 4 and str(strategy) == "Example(n=4)"
    assert strategy.buy(size=0.5, limit=9.0, tag="x") == "order"
    strategy.sell(size=3, sl=11.0, tp=8.0)
    strategy.buy()
    assert broker.placed == [(0.5, 9.0, None, None, None, "x"), (-3, None, None, 11.0, 8.0, None),
                             (BacktestingStrategy._FULL_EQUITY, None, None, None, None, None)]
    assert (strategy.equity, strategy.position, strategy.orders, strategy.trades, strategy.closed_trades) == (
        123.0, "position", (1,), (2, 3), ())
    for size in (0, -0.5, 1.5, 1.0 + 1e-9):
        with pytest.raises(AssertionError, match="positive fraction of equity"):
            strategy.buy(size=size)


def test_base_declares_indicators_like_backtesting():
    strategy = Example(FakeBroker(), Bars(), {})
    strategy.init()
    assert np.array_equal(strategy.sma, lib.SMA(Bars.Close, 3), equal_nan=True)
    both = strategy.I(lambda x: np.column_stack([x, 2 * x]), strategy.data.Close)  # time-major: flipped
    assert both.shape == (2, 10)
    with pytest.raises(ValueError, match="one value per bar"):
        strategy.I(lambda x: x[:5], strategy.data.Close)
    with pytest.raises(AttributeError, match="missing parameter 'm'"):
        Example(FakeBroker(), Bars(), {"m": 1})


def test_to_backtesting_runs_the_same_class_under_backtesting():
    classic = to_backtesting(Example)
    assert issubclass(classic, BacktestingStrategy) and classic.n == 3
    assert to_backtesting(classic) is classic
    with pytest.raises(TypeError):
        to_backtesting(dict)


def test_import_sqfast_with_the_base_and_lib_stays_light():
    code = ("import sys, sqfast\nfrom sqfast import Strategy\nfrom sqfast.lib import SMA, crossover\n"
            f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
    assert sqfast.Strategy is Strategy


# --- loading, recording, checking ----------------------------------------------------------------

def test_loader_finds_a_sqfast_strategy_and_its_parameters(twins):
    loaded = load_strategy(twins[0])
    assert loaded.name == "Twin" and issubclass(loaded.cls, Strategy)
    assert loaded.params == {"fast": 8, "slow": 21}
    kernels = [ind.kernel.describe() for ind in record_init(loaded)]
    assert kernels == ["sma(n=8)", "sma(n=21)"]


@pytest.mark.parametrize("extra, message", [
    ("\n\nclass Other(Twin):\n    fast = 2\n",
     r"several Strategy subclasses: Twin, Other \(choose one with --class"),
    ("\n\nclass Mixed(BtStrategy):\n    def init(self):\n        pass\n\n    def next(self):\n        pass\n",
     r"several Strategy subclasses: Twin, Mixed"),
])
def test_loader_reports_several_classes_for_the_sqfast_base(tmp_path, extra, message):
    text = '"""S."""\nfrom backtesting import Strategy as BtStrategy\n' + SQFAST_IMPORTS + TWIN_BODY + extra
    with pytest.raises(StrategyError, match=message):
        load_strategy(write(tmp_path, "several.py", text))


def test_loader_reports_no_subclass_and_names_both_bases(tmp_path):
    path = write(tmp_path, "none.py", "from sqfast import Strategy\n\nclass NotOne:\n    pass\n")
    with pytest.raises(StrategyError, match=r"no Strategy subclass found \(define a class that subclasses "
                                            r"sqfast\.Strategy or backtesting\.Strategy\)"):
        load_strategy(path)


def test_sqfast_lib_signals_compile_and_a_lookalike_does_not(tmp_path):
    native = load_strategy(write(tmp_path, "native.py", SQFAST_IMPORTS + TWIN_BODY)).cls
    assert check_next(native, {"fast_sma", "slow_sma"}, {"fast", "slow"}).compiled
    lookalike = SQFAST_IMPORTS + TWIN_BODY + "\n\ndef cross(a, b):\n    return False\n"
    cls = load_strategy(write(tmp_path, "lookalike.py", lookalike)).cls
    report = check_next(cls, {"fast_sma", "slow_sma"}, {"fast", "slow"})
    assert not report.compiled
    assert report.construct == "call to cross() that is neither backtesting.lib's nor sqfast.lib's"
    assert report.line == lookalike.splitlines().index("        elif cross(self.data.Close, self.slow_sma) "
                                                       "and self.position.is_long:") + 1


def test_native_example_is_compiled_with_kernels():
    report = analyse(NATIVE)
    assert report.next_report.compiled
    assert [r.source for r in report.indicators] == ["kernel sma(n=10)", "kernel sma(n=30)"]


# --- replay: the twins agree, and with backtesting.py --------------------------------------------

@pytest.mark.parametrize("python", [False, True])
def test_twins_replay_to_the_same_orders_and_trades(twins, data_dir, python):
    native, classic = (sqfast.replay(path, data_dir, python=python, commission=0.001) for path in twins)
    assert native.orders.height > 5 and native.trades.height > 5
    assert native.orders.equals(classic.orders)
    assert native.trades.equals(classic.trades)
    assert native.summary.drop("strategy").equals(classic.summary.drop("strategy"))


def test_native_twin_equals_backtesting_on_each_symbol(twins, data_dir):
    result = sqfast.replay(twins[0], data_dir, commission=0.001)
    cls = to_backtesting(load_strategy(twins[0]).cls)
    for seed in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            stats = Backtest(parity_frame(200 + seed, 900), cls, commission=0.001).run()
        ours = result.trades.filter(pl.col("symbol") == f"SYN{seed}")
        assert ours["entry_bar"].to_list() == stats._trades.EntryBar.tolist()
        assert ours["size"].to_list() == stats._trades.Size.tolist()
        np.testing.assert_allclose(ours["exit_price"].to_numpy(), stats._trades.ExitPrice.to_numpy(),
                                   rtol=1e-9)


# --- without backtesting.py (or pandas, or TA-Lib) -----------------------------------------------

BLOCKED = """
import sys
for name in {heavy!r}:
    sys.modules[name] = None  # `import name` now raises ImportError
try:
    import backtesting
except ImportError:
    pass
else:
    raise SystemExit("backtesting.py is still importable")
"""


def run_blocked(code: str, cache: Path) -> subprocess.CompletedProcess:
    source = BLOCKED.format(heavy=("backtesting", "pandas", "talib")) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, cwd=ROOT,
                          timeout=600, env={**os.environ, "SQFAST_CACHE_DIR": str(cache)})


def test_check_works_without_backtesting(tmp_path):
    result = run_blocked("""
        from sqfast.cli import main
        sys.exit(main(["check", "strategies/sqfast_native.py"]))
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "    fast_sma: kernel sma(n=10); first value on bar 9" in result.stdout
    assert "  next(): compiled (" in result.stdout


@pytest.mark.parametrize("python", [False, True])
def test_replay_works_without_backtesting(tmp_path, data_dir, python):
    expected = sqfast.replay(NATIVE, data_dir, python=python, commission=0.001)
    result = run_blocked(f"""
        import sqfast
        result = sqfast.replay({str(NATIVE)!r}, {str(data_dir)!r}, python={python}, commission=0.001)
        print(result.trades.write_csv(), end="")
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    assert expected.trades.height > 0
    assert result.stdout == expected.trades.write_csv()
