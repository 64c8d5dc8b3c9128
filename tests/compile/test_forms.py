"""Indicator functions written as one expression: pandas rolling/ewm forms in a lambda or a
one-line def map to kernels, with the window bound from the self.I arguments, the closure or the
defaults; wrappers of known functions map to their kernel (or one line of it); near-misses stay
window nodes. Every mapping reproduces the function itself (pandas) on GOOG, with its warm-up."""

import textwrap

import numpy as np
import pytest
from backtesting.test import GOOG

from sqfast.compile.evaluate import evaluate
from sqfast.compile.loader import load_strategy
from sqfast.compile.record import record_init
from sqfast.replay_engine import indicator_values
from tests.kernels.support import assert_matches

# pandas 3's rolling variance carries up to ~25 ulps of x^2 of rounding (tests/kernels/
# test_pandas_kernels.py): where the variance is tiny next to x^2 (a deviation of an SMA), compare
# deviations through their variances with that allowance.
PANDAS_VAR_ULPS = 64 * np.finfo(np.float64).eps


def assert_same_values(call, got, expected, inputs, name):
    if call.spec.name in ("rolling_std", "stddev"):
        allowance = PANDAS_VAR_ULPS * float(np.nanmax(np.abs(inputs[0]))) ** 2
        assert_matches(got ** 2, expected ** 2, rtol=1e-9, atol=allowance, name=name)
    else:
        assert_matches(got, expected, rtol=1e-9, atol=1e-9, name=name)

HEADER = '''
import numpy as np
import pandas as pd
import talib
from pandas import Series
from backtesting import Strategy
from backtesting.test import SMA
import sqfast.lib

WINDOW = 12


def rolling_std(x, n):
    """Sample deviation, pandas' default."""
    return pd.Series(x).rolling(n).std()


def rolling_max(values, n=15):
    return pd.Series(values).rolling(window=n).max()


def ewm_mean(x, span):
    return pd.Series(x).ewm(span=span, adjust=False).mean().values


def fast_low(x):
    return pd.Series(x).rolling(WINDOW).min().to_numpy()


def population_std(x, n):
    return pd.Series(x).rolling(n).std(ddof=0)


def two_statements(x, n):
    s = pd.Series(x)
    return s.rolling(n).mean()


def wrapped_macd(x, f, s, g):
    return talib.MACD(x, f, s, g)[1]
'''

# name: (self.I call, expected kernel description)
RECOGNISED = {
    "mean_lambda_closure": ("self.I(lambda x: pd.Series(x).rolling(self.n).mean(), self.data.Close)",
                            "sma(n=14)"),
    "mean_lambda_param": ("self.I(lambda x, k: pd.Series(x).rolling(k).mean(), self.data.Close, 9)",
                          "sma(n=9)"),
    "mean_lambda_keyword": ("self.I(lambda x, k: pd.Series(x).rolling(window=k).mean(), self.data.Close, "
                            "k=6)", "sma(n=6)"),
    "mean_lambda_arithmetic": ("self.I(lambda x: pd.Series(x).rolling(self.n * 2 + 1).mean(), "
                               "self.data.Close)", "sma(n=29)"),
    "mean_min_periods_n": ("self.I(lambda x: pd.Series(x).rolling(8, min_periods=8).mean(), self.data.Close)",
                           "sma(n=8)"),
    "mean_of_median_price": ("self.I(lambda x: Series(x).rolling(5).mean(), "
                             "(self.data.High + self.data.Low) / 2)", "sma(n=5)"),
    "std_def": ("self.I(rolling_std, self.data.Close, 20)", "rolling_std(n=20)"),
    "std_def_parameter": ("self.I(rolling_std, self.data.Close, self.n)", "rolling_std(n=14)"),
    "std_lambda": ("self.I(lambda x: pd.Series(x).rolling(self.n).std(), self.data.Close)",
                   "rolling_std(n=14)"),
    "std_population": ("self.I(population_std, self.data.Close, 10)", "stddev(n=10, nbdev=1.0)"),
    "max_def_default": ("self.I(rolling_max, self.data.High)", "max(n=15)"),
    "max_lambda": ("self.I(lambda x: pd.Series(x).rolling(self.n).max(), self.data.High)", "max(n=14)"),
    "min_def_global": ("self.I(fast_low, self.data.Low)", "min(n=12)"),
    "ewm_lambda": ("self.I(lambda x: pd.Series(x).ewm(span=self.n, adjust=False).mean(), self.data.Close)",
                   "ewm(span=14)"),
    "ewm_def": ("self.I(ewm_mean, self.data.Close, 30)", "ewm(span=30)"),
    "ewm_float_span": ("self.I(lambda x: pd.Series(x).ewm(span=7.5, adjust=False, min_periods=1).mean(), "
                       "self.data.Close)", "ewm(span=7.5)"),
    "wrapped_sma": ("self.I(lambda x: SMA(x, self.n), self.data.Close)", "sma(n=14)"),
    "wrapped_sqfast_sma": ("self.I(lambda x: sqfast.lib.SMA(x, 4), self.data.Open)", "sma(n=4)"),
    "wrapped_talib_line": ("self.I(lambda x, f, s, g: talib.MACD(x, f, s, g)[0], self.data.Close, 12, 26, 9)",
                           "macd(fast=12, slow=26, signal=9) -> macd"),
    "wrapped_def_line": ("self.I(wrapped_macd, self.data.Close, 8, 21, 5)",
                         "macd(fast=8, slow=21, signal=5) -> signal"),
    "sqfast_lib_sma": ("self.I(sqfast.lib.SMA, self.data.Close, 7)", "sma(n=7)"),
}

NEAR_MISSES = {
    "not_the_argument": "self.I(lambda x: pd.Series(self.data.High).rolling(10).mean(), self.data.Close)",
    "ewm_adjust_default": "self.I(lambda x: pd.Series(x).ewm(span=10).mean(), self.data.Close)",
    "ewm_adjust_true": "self.I(lambda x: pd.Series(x).ewm(span=10, adjust=True).mean(), self.data.Close)",
    "ewm_com": "self.I(lambda x: pd.Series(x).ewm(com=4, adjust=False).mean(), self.data.Close)",
    "ewm_min_periods": ("self.I(lambda x: pd.Series(x).ewm(span=5, adjust=False, min_periods=5).mean(), "
                        "self.data.Close)"),
    "min_periods_1": "self.I(lambda x: pd.Series(x).rolling(10, min_periods=1).mean(), self.data.Close)",
    "centered": "self.I(lambda x: pd.Series(x).rolling(10, center=True).mean(), self.data.Close)",
    "rolling_sum": "self.I(lambda x: pd.Series(x).rolling(10).sum(), self.data.Close)",
    "rolling_median": "self.I(lambda x: pd.Series(x).rolling(10).median(), self.data.Close)",
    "std_window_1": "self.I(lambda x: pd.Series(x).rolling(1).std(), self.data.Close)",
    "float_window": "self.I(lambda x: pd.Series(x).rolling(self.ratio).mean(), self.data.Close)",
    "arithmetic_after": "self.I(lambda x: pd.Series(x).rolling(10).mean() * 2, self.data.Close)",
    "two_statements": "self.I(two_statements, self.data.Close, 10)",
    "shifted": "self.I(lambda x: pd.Series(x).rolling(10).mean().shift(1), self.data.Close)",
    "numpy_series": "self.I(lambda x: np.asarray(pd.Series(x).rolling(10).mean()), self.data.Close)",
    "bar_of_one_line": "self.I(lambda x: talib.SMA(x, 5)[0], self.data.Close)",
    "doubled": "self.I(lambda x: x * 2, self.data.Close)",
}


def strategy_file(directory, lines: dict[str, str]):
    body = "\n".join(f"        self.{name} = {call}" for name, call in lines.items())
    source = textwrap.dedent(HEADER) + textwrap.dedent('''

        class Forms(Strategy):
            n = 14
            ratio = 10.5

            def init(self):
        ''') + body + "\n        self.sma = self.I(SMA, self.data.Close, 10)\n" + textwrap.dedent('''
        self.ewm_of_sma = self.I(lambda x: pd.Series(x).ewm(span=5, adjust=False).mean(), self.sma)
        self.std_of_sma = self.I(rolling_std, self.sma, 6)
        self.one, self.two = (self.I(lambda x: pd.Series(x).rolling(3).max(), self.data.Close),
                              self.I(lambda x: pd.Series(x).rolling(4).min(), self.data.Close))

    def next(self):
        pass
''').replace("\n", "\n    ").rstrip() + "\n"
    path = directory / "forms.py"
    path.write_text(source)
    return path


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    lines = {name: call for name, (call, _) in RECOGNISED.items()} | NEAR_MISSES
    path = strategy_file(tmp_path_factory.mktemp("forms"), lines)
    return {ind.attr: ind for ind in record_init(load_strategy(path))}


@pytest.fixture(scope="module")
def columns():
    return {name: GOOG[name].to_numpy(dtype=float) for name in ("Open", "High", "Low", "Close", "Volume")}


@pytest.mark.parametrize("name", sorted(RECOGNISED))
def test_form_maps_to_its_kernel(recorded, name):
    call = recorded[name].kernel
    assert call is not None, f"{name} should map to a kernel"
    assert call.describe() == RECOGNISED[name][1]


@pytest.mark.parametrize("name", sorted(NEAR_MISSES))
def test_near_misses_stay_window_nodes(recorded, name):
    assert recorded[name].kernel is None


def test_several_lambdas_on_one_line_each_get_their_own(recorded):
    assert recorded["one"].kernel.describe() == "max(n=3)"
    assert recorded["two"].kernel.describe() == "min(n=4)"


def kernel_lines(call, inputs):
    outputs = call.spec.batch(*inputs, **call.params)
    return dict(zip(call.spec.outputs, outputs if isinstance(outputs, tuple) else (outputs,), strict=True))


@pytest.mark.parametrize("name", [*sorted(RECOGNISED), "one", "two"])
def test_kernel_reproduces_the_function_itself_on_goog(recorded, columns, name):
    indicator = recorded[name]
    call = indicator.kernel
    reference = np.atleast_2d(evaluate(indicator, columns))
    inputs = [evaluate(node, columns) for node in call.inputs]
    outputs = kernel_lines(call, inputs)
    assert reference.shape[0] == len(call.lines)
    for line, expected in zip(call.lines, reference, strict=True):
        assert_same_values(call, outputs[line], expected, inputs, f"{name}.{line}")
    assert call.lookback() == int(np.isnan(reference).argmin(axis=-1).max())  # backtesting.py's warm-up


@pytest.mark.parametrize("name", ["ewm_of_sma", "std_of_sma"])
def test_forms_on_a_nan_led_indicator_equal_pandas(recorded, columns, name):
    """An indicator of an indicator: its input starts with NaN; the engine starts the kernel at
    the first finite input, which is what pandas' rolling and ewm(adjust=False) do."""
    indicator = recorded[name]
    assert indicator.kernel is not None
    ours = indicator_values([recorded["sma"], indicator], columns)[name]
    inputs = [evaluate(recorded["sma"], columns)]
    assert_same_values(indicator.kernel, ours, evaluate(indicator, columns), inputs, name)
