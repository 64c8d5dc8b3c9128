"""The kernels behind pandas' rolling/ewm forms, with pandas itself as the oracle: EWM
(`ewm(span=n, adjust=False).mean()`), ROLLING_STD (`rolling(n).std()`, ddof=1), and the SMA,
MAX and MIN kernels against `rolling(n).mean()/.max()/.min()`.

pandas 3's rolling variance (Welford updates with Kahan compensation) carries an absolute error
of up to ~25 ulps of x^2 on these data, which on a window whose variance is tiny next to x^2 is
more than 1e-9 relative (and not 0 on some windows of identical values). ROLLING_STD is therefore
compared with pandas at rtol 1e-9 plus that allowance on the variance, as the TA-Lib variances
are in test_volatility.py, and with an exact extended-precision reference at rtol 1e-12.
"""

import numpy as np
import pandas as pd
import pytest
from backtesting.test import GOOG

from sqfast.kernels import (
    ewm_batch,
    ewm_init,
    max_batch,
    min_batch,
    rolling_std_batch,
    rolling_std_init,
    sma_batch,
)
from tests.kernels.support import assert_matches, random_ohlcv, random_walk

PANDAS_VAR_ULPS = 64 * np.finfo(np.float64).eps


def series():
    """GOOG's close, a random walk near 100, one near 30,000, and prices on a 0.1 grid that repeat."""
    rng = np.random.default_rng(5)
    return {"goog": GOOG.Close.to_numpy(float), "walk100": random_walk(3_000, seed=1),
            "walk30000": random_walk(3_000, seed=2, start=30_000.0),
            "grid": np.repeat(np.round(100 + np.cumsum(rng.normal(size=500)), 1), 5)}


SERIES = series()


def pandas_ewm(x, span):
    return pd.Series(x).ewm(span=span, adjust=False).mean().to_numpy()


def exact_sample_std(x, n):
    w = np.lib.stride_tricks.sliding_window_view(np.asarray(x, dtype=np.longdouble), n)
    var = ((w - w.mean(axis=1, keepdims=True)) ** 2).sum(axis=1) / (n - 1)
    return np.concatenate([np.full(n - 1, np.nan), np.sqrt(var).astype(np.float64)])


@pytest.mark.parametrize("span", [1, 2, 2.5, 9, 20, 200])
@pytest.mark.parametrize("name", sorted(SERIES))
def test_ewm_equals_pandas(name, span):
    x = SERIES[name]
    assert_matches(ewm_batch(x, span), pandas_ewm(x, span), rtol=1e-12, name=f"ewm({span}) {name}")


def test_ewm_has_no_warmup_and_starts_at_the_first_value():
    x = random_walk(50, seed=3)
    got = ewm_batch(x, 10)
    assert not np.isnan(got).any() and got[0] == x[0]
    assert got[1] == pytest.approx(x[0] * (1 - 2 / 11) + x[1] * 2 / 11, rel=1e-15)


def test_ewm_per_column():
    x = random_ohlcv(300, 5, seed=4)[3]
    got = ewm_batch(x, 12)
    for col in range(5):
        assert_matches(got[:, col], pandas_ewm(x[:, col], 12), rtol=1e-12, name=f"column {col}")


@pytest.mark.parametrize("n", [2, 3, 5, 20, 50])
@pytest.mark.parametrize("name", sorted(SERIES))
def test_rolling_std_equals_pandas(name, n):
    x = SERIES[name]
    got, expected = rolling_std_batch(x, n), pd.Series(x).rolling(n).std().to_numpy()
    allowance = PANDAS_VAR_ULPS * float(np.max(np.abs(x))) ** 2
    assert_matches(got ** 2, expected ** 2, rtol=1e-9, atol=allowance, name=f"rolling_std({n}) {name}")
    assert_matches(got, exact_sample_std(x, n), rtol=1e-12, atol=1e-300, name=f"exact, {name}")


def test_rolling_std_is_within_1e_9_of_pandas_on_goog():
    """Where pandas' own rounding is small (GOOG's prices), the deviations agree to 1e-9 directly."""
    x = SERIES["goog"]
    for n in (5, 10, 20, 50):
        assert_matches(rolling_std_batch(x, n), pd.Series(x).rolling(n).std().to_numpy(), rtol=1e-9,
                       name=f"rolling_std({n})")


def test_rolling_std_is_the_sample_deviation_and_zero_on_identical_values():
    x = np.array([1.0, 2.0, 4.0, 4.0, 4.0, 4.0])
    got = rolling_std_batch(x, 3)
    assert np.isnan(got[:2]).all()
    assert got[2] == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1), rel=1e-15)
    assert got[-1] == 0.0  # exactly; pandas 3 can leave ~1e-8 of rounding on such windows


@pytest.mark.parametrize("n", [1, 2, 7, 30])
def test_rolling_mean_max_min_kernels_equal_pandas(n):
    x = SERIES["walk100"]
    rolling = pd.Series(x).rolling(n)
    assert_matches(sma_batch(x, n), rolling.mean().to_numpy(), name=f"mean({n})")
    assert_matches(max_batch(x, n), rolling.max().to_numpy(), rtol=0.0, name=f"max({n})")
    assert_matches(min_batch(x, n), rolling.min().to_numpy(), rtol=0.0, name=f"min({n})")


@pytest.mark.parametrize("lead", [1, 7, 40])
def test_started_at_the_first_finite_input_they_equal_pandas_on_nan_led_inputs(lead):
    """A chained indicator's input starts with NaN; the engine starts the kernel at its first
    finite value, which is what pandas' rolling and ewm (adjust=False) do with leading NaN."""
    x = np.concatenate([np.full(lead, np.nan), SERIES["walk100"][:500]])
    s = pd.Series(x)
    cases = {"ewm": (lambda v: ewm_batch(v, 15), s.ewm(span=15, adjust=False).mean()),
             "rolling_std": (lambda v: rolling_std_batch(v, 15), s.rolling(15).std()),
             "sma": (lambda v: sma_batch(v, 15), s.rolling(15).mean()),
             "max": (lambda v: max_batch(v, 15), s.rolling(15).max())}
    for name, (kernel, expected) in cases.items():
        got = np.concatenate([np.full(lead, np.nan), kernel(x[lead:])])
        assert_matches(got, expected.to_numpy(), rtol=1e-9, name=name)


@pytest.mark.parametrize("init, kwargs", [
    (ewm_init, {"span": 0.5}), (ewm_init, {"span": float("nan")}), (ewm_init, {"span": float("inf")}),
    (ewm_init, {"span": "wide"}), (rolling_std_init, {"n": 1}), (rolling_std_init, {"n": 2.5}),
])
def test_bad_parameters_raise(init, kwargs):
    with pytest.raises(ValueError):
        init(3, **kwargs)
