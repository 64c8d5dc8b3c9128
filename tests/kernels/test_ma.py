"""Moving averages against TA-Lib, backtesting.py and pandas."""

import numpy as np
import pandas as pd
import pytest
import talib
from backtesting.test import SMA as BT_SMA

from sqfast.kernels import ma
from tests.kernels.support import assert_matches, random_ohlcv, random_walk

TALIB_EQUIVALENTS = {
    "sma": (ma.sma_batch, talib.SMA),
    "ema": (ma.ema_batch, talib.EMA),
    "wma": (ma.wma_batch, talib.WMA),
    "dema": (ma.dema_batch, talib.DEMA),
    "tema": (ma.tema_batch, talib.TEMA),
    "kama": (ma.kama_batch, talib.KAMA),
}


@pytest.mark.parametrize("name", sorted(TALIB_EQUIVALENTS))
@pytest.mark.parametrize("n", [2, 9, 30])
def test_equals_talib_one_symbol(name, n):
    ours, theirs = TALIB_EQUIVALENTS[name]
    x = random_ohlcv(600, seed=n)[3]
    assert_matches(ours(x, n), theirs(x, timeperiod=n), name=f"{name}({n})")


@pytest.mark.parametrize("name", sorted(TALIB_EQUIVALENTS))
def test_equals_talib_per_column(name):
    ours, theirs = TALIB_EQUIVALENTS[name]
    x = random_ohlcv(400, 7, seed=3)[3]
    got = ours(x, 12)
    for col in range(x.shape[1]):
        assert_matches(got[:, col], theirs(x[:, col], timeperiod=12), name=f"{name} column {col}")


@pytest.mark.parametrize("name", sorted(TALIB_EQUIVALENTS))
def test_default_parameters_equal_talib_defaults(name):
    ours, theirs = TALIB_EQUIVALENTS[name]
    x = random_walk(300, seed=5, start=50.0)
    assert_matches(ours(x), theirs(x), name=name)


def test_sma_equals_backtesting_and_pandas():
    x = random_walk(500, seed=11)
    for n in (1, 10, 20, 50):
        ours = ma.sma_batch(x, n)
        assert_matches(ours, BT_SMA(x, n), name=f"backtesting SMA({n})")
        assert_matches(ours, pd.Series(x).rolling(n).mean().to_numpy(), name=f"pandas SMA({n})")


def _rma_reference(x: np.ndarray, n: int) -> np.ndarray:
    seeded = pd.Series(x, dtype=float).copy()
    seeded[: n - 1] = np.nan
    seeded[n - 1] = x[:n].mean()
    return seeded.ewm(alpha=1.0 / n, adjust=False).mean().to_numpy()


@pytest.mark.parametrize("n", [1, 5, 14, 40])
def test_rma_equals_pandas_ewm_on_sma_seed(n):
    x = random_walk(400, seed=n)
    assert_matches(ma.rma_batch(x, n), _rma_reference(x, n), name=f"rma({n})")


def test_ema_after_seed_equals_pandas_ewm_span():
    x = random_walk(300, seed=2)
    n = 20
    seeded = x.copy()
    seeded[n - 1] = x[:n].mean()
    expected = pd.Series(seeded[n - 1:]).ewm(span=n, adjust=False).mean().to_numpy()
    assert_matches(ma.ema_batch(x, n)[n - 1:], expected, rtol=1e-12)


def test_out_is_filled_in_place_and_returned():
    x = random_walk(200, 3, seed=1)
    out = np.empty_like(x)
    result = ma.sma_batch(x, 10, out=out)
    assert result is out
    assert_matches(out, ma.sma_batch(x, 10))


def test_wrong_out_shape_is_rejected():
    with pytest.raises(ValueError, match="out must be"):
        ma.ema_batch(np.ones(10), 3, out=np.empty(9))


@pytest.mark.parametrize("init", [ma.sma_init, ma.ema_init, ma.wma_init, ma.rma_init, ma.dema_init,
                                  ma.tema_init, ma.kama_init])
@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_period_is_rejected(init, bad):
    with pytest.raises(ValueError, match="n must be an integer"):
        init(4, bad)


def test_inputs_of_different_shapes_are_rejected():
    from sqfast.kernels._shape import as_columns

    with pytest.raises(ValueError, match="share one shape"):
        as_columns(np.ones(5), np.ones(6))


def test_step_on_one_symbol_reproduces_the_batch_column():
    x = random_walk(120, 4, seed=9)
    expected = ma.tema_batch(x, 6)
    state = ma.tema_init(4, 6)
    got = np.array([ma.tema_step(state, 2, v) for v in x[:, 2]])
    assert_matches(got, expected[:, 2], rtol=0)


@pytest.mark.parametrize("name", ["ema", "dema", "tema"])
def test_ema_family_equals_talib_bit_for_bit(name):
    """Large moves relative to the price level expose any difference in rounding."""
    ours, theirs = TALIB_EQUIVALENTS[name]
    x = random_walk(2_000, seed=17, start=5.0, step=3.0)
    assert_matches(ours(x, 15), theirs(x, timeperiod=15), rtol=0.0, name=name)


def test_fma_rounds_once():
    import numba

    from sqfast.kernels._fma import fma

    @numba.njit
    def fused(a, b, c):
        return fma(a, b, c)

    assert fused(0.1, 10.0, -1.0) == 5.551115123125783e-17  # exact 0.1*10 - 1; unfused it is 0.0
    assert 0.1 * 10.0 - 1.0 == 0.0
