"""Recording init(): every kernel mapping reproduces the function it replaces (the oracle is the
function itself, called on the same arrays), with backtesting.py's warm-up; the rest are window
nodes; mistakes in init() are one clear line."""

import textwrap

import numpy as np
import pytest
from backtesting.test import GOOG

from sqfast.compile.evaluate import evaluate
from sqfast.compile.loader import load_strategy
from sqfast.compile.record import record_init
from sqfast.errors import StrategyError
from tests.kernels.support import assert_matches

INIT_LINES = {
    "sma_bt": "self.I(SMA, self.data.Close, self.n)",
    "sma_mid": "self.I(SMA, (self.data.High + self.data.Low) / 2, 5)",
    "ema": "self.I(talib.EMA, self.data.Close, timeperiod=self.n)",
    "wma_default": "self.I(talib.WMA, self.data.Close)",
    "dema": "self.I(talib.DEMA, self.data.Close, 8)",
    "kama": "self.I(talib.KAMA, self.data.Close, 12)",
    "rsi": "self.I(talib.RSI, self.data.Close, 9)",
    "macd": "self.I(talib.MACD, self.data.Close, 8, 21, signalperiod=5)",
    "roc": "self.I(talib.ROC, self.data.Close)",
    "mom": "self.I(talib.MOM, self.data.Close, 4)",
    "stoch": "self.I(talib.STOCH, self.data.High, self.data.Low, self.data.Close, 9, 3, 0, 4)",
    "stochrsi": "self.I(talib.STOCHRSI, self.data.Close, 10, 4, 2)",
    "willr": "self.I(talib.WILLR, self.data.High, self.data.Low, self.data.Close)",
    "cci": "self.I(talib.CCI, self.data.High, self.data.Low, self.data.Close, 20)",
    "mfi": "self.I(talib.MFI, self.data.High, self.data.Low, self.data.Close, self.data.Volume, 10)",
    "trange": "self.I(talib.TRANGE, self.data.High, self.data.Low, self.data.Close)",
    "atr": "self.I(talib.ATR, self.data.High, self.data.Low, self.data.Close, 10)",
    "natr": "self.I(talib.NATR, self.data.High, self.data.Low, self.data.Close)",
    "adx": "self.I(talib.ADX, self.data.High, self.data.Low, self.data.Close, 10)",
    "plus_di": "self.I(talib.PLUS_DI, self.data.High, self.data.Low, self.data.Close, 10)",
    "minus_di": "self.I(talib.MINUS_DI, self.data.High, self.data.Low, self.data.Close)",
    "stddev": "self.I(talib.STDDEV, self.data.Close, 10, 2)",
    "var": "self.I(talib.VAR, self.data.Close, 6)",
    "bbands": "self.I(talib.BBANDS, self.data.Close, 15, 2.5, 1.5)",
    "max": "self.I(talib.MAX, self.data.High, 20)",
    "min": "self.I(talib.MIN, self.data.Low)",
    "obv": "self.I(talib.OBV, self.data.Close, self.data.Volume)",
    "ad": "self.I(talib.AD, self.data.High, self.data.Low, self.data.Close, self.data.Volume)",
    "sq_rsi": "self.I(k.rsi_batch, self.data.Close, 7)",
    "sq_vwap": "self.I(k.vwap_batch, self.data.High, self.data.Low, self.data.Close, self.data.Volume, n=15)",
    "sq_donchian": "self.I(k.donchian_batch, self.data.High, self.data.Low, 10)",
}
WINDOW_NODES = {
    "doubled": "self.I(lambda x: x * 2, self.data.Close)",
    "bbands_ema_matype": "self.I(talib.BBANDS, self.data.Close, 5, 2, 2, 1)",
}


def strategy_file(tmp_path, lines: dict[str, str]):
    body = "\n".join(f"        self.{name} = {call}" for name, call in lines.items())
    source = textwrap.dedent('''
        import talib
        from backtesting import Strategy
        from backtesting.test import SMA
        import sqfast.kernels as k


        class Recorded(Strategy):
            n = 14

            def init(self):
        ''') + body + "\n\n    def next(self):\n        pass\n"
    path = tmp_path / "recorded.py"
    path.write_text(source)
    return path


@pytest.fixture(scope="module")
def columns():
    return {name: GOOG[name].to_numpy(dtype=float) for name in ("Open", "High", "Low", "Close", "Volume")}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    path = strategy_file(tmp_path_factory.mktemp("rec"), {**INIT_LINES, **WINDOW_NODES})
    return {ind.attr: ind for ind in record_init(load_strategy(path))}


@pytest.mark.parametrize("name", sorted(INIT_LINES))
def test_kernel_equals_the_function_it_replaces(recorded, columns, name):
    indicator = recorded[name]
    call = indicator.kernel
    assert call is not None, f"{name} should map to a kernel"
    reference = np.atleast_2d(evaluate(indicator, columns))
    inputs = [evaluate(node, columns) for node in call.inputs]
    outputs = call.spec.batch(*inputs, **call.params)
    outputs = dict(zip(call.spec.outputs, outputs if isinstance(outputs, tuple) else (outputs,), strict=True))
    assert reference.shape[0] == len(call.lines)
    for line, expected in zip(call.lines, reference, strict=True):
        assert_matches(outputs[line], expected, rtol=1e-9, atol=1e-9, name=f"{name}.{line}")


@pytest.mark.parametrize("name", sorted(INIT_LINES))
def test_lookback_is_backtesting_warmup(recorded, columns, name):
    """backtesting.py's warm-up of an indicator: the first index where no line is NaN."""
    reference = np.atleast_2d(evaluate(recorded[name], columns))
    assert recorded[name].kernel.lookback() == int(np.isnan(reference).argmin(axis=-1).max())


@pytest.mark.parametrize("name", sorted(WINDOW_NODES))
def test_unrecognised_functions_are_window_nodes(recorded, name):
    assert recorded[name].kernel is None


def test_indicators_keep_call_order_and_attribute_names(recorded):
    names = [ind.attr for ind in sorted(recorded.values(), key=lambda i: i.position)]
    assert names == list({**INIT_LINES, **WINDOW_NODES})


@pytest.mark.parametrize("line, message", [
    ("self.x = self.I(SMA, self.data.Close, self.n) + undefined_name",
     r"recorded\.py:\d+: init\(\) raised NameError"),
    ("self.x = self.I(SMA, self.data.df, 3)", r"init\(\) reads self\.data\.df, which sqfast cannot"),
    ("self.x = self.I(42, self.data.Close)", r"self\.I\(\) needs a function first"),
])
def test_mistakes_in_init_are_one_clear_line(tmp_path, line, message):
    name, _, call = line.partition(" = ")
    path = strategy_file(tmp_path, {name.removeprefix("self."): call})
    with pytest.raises(StrategyError, match=message) as caught:
        record_init(load_strategy(path))
    assert "\n" not in str(caught.value)
