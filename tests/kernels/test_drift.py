"""No drift: a million streaming updates of a random walk around 30,000 stay within 1e-9 of exact
window statistics (SMA, VAR, STDDEV, BBANDS), and a naive running sum provably would not.

The exact reference is rational arithmetic (`fractions.Fraction`) on the window, evaluated at
2,000 sampled bars plus the final 100. `_batch` runs the streaming code (the lockstep path); the
per-symbol path is driven bar by bar from compiled code and must give the same bits.
"""

from fractions import Fraction

import numba
import numpy as np
import pytest

from sqfast.kernels import ma
from sqfast.kernels import volatility as vol

T = 1_000_000
N_SYMBOLS = 2
RTOL = 1e-9
PERIODS = (5, 30)


@pytest.fixture(scope="module")
def walk():
    rng = np.random.default_rng(20240601)
    return 30_000.0 + np.cumsum(rng.normal(0.0, 1.0, (T, N_SYMBOLS)), axis=0)


def sampled_bars(n: int) -> np.ndarray:
    rng = np.random.default_rng(n)
    picked = rng.choice(np.arange(n - 1, T - 100), size=2_000, replace=False)
    return np.sort(np.concatenate([picked, np.arange(T - 100, T)]))


def exact_window_stats(x: np.ndarray, bars: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and population variance of the window ending at each bar, rounded once."""
    means, variances = [], []
    for t in bars:
        w = [Fraction(v) for v in x[t - n + 1: t + 1].tolist()]
        mean = sum(w) / n
        means.append(float(mean))
        variances.append(float(sum((v - mean) ** 2 for v in w) / n))
    return np.array(means), np.array(variances)


@pytest.fixture(scope="module")
def exact(walk):
    """`{(n, column): (bars, mean, variance)}` for every period and symbol."""
    table = {}
    for n in PERIODS:
        bars = sampled_bars(n)
        for col in range(N_SYMBOLS):
            table[n, col] = (bars, *exact_window_stats(walk[:, col], bars, n))
    return table


def max_rel_error(got, expected) -> float:
    return float(np.max(np.abs(got - expected) / np.abs(expected)))


@pytest.mark.parametrize("n", PERIODS)
def test_a_million_updates_stay_within_1e_9_of_exact(walk, exact, n):
    sma = ma.sma_batch(walk, n)
    var = vol.var_batch(walk, n)
    std = vol.stddev_batch(walk, n, 1.0)
    upper, middle, lower = vol.bbands_batch(walk, n, 2.0, 2.0)
    for col in range(N_SYMBOLS):
        bars, mean, variance = exact[n, col]
        sd = np.sqrt(variance)
        np.testing.assert_allclose(sma[bars, col], mean, rtol=RTOL, atol=0, err_msg="SMA")
        np.testing.assert_allclose(middle[bars, col], mean, rtol=RTOL, atol=0, err_msg="BBANDS middle")
        np.testing.assert_allclose(var[bars, col], variance, rtol=RTOL, atol=0, err_msg="VAR")
        np.testing.assert_allclose(std[bars, col], sd, rtol=RTOL, atol=0, err_msg="STDDEV")
        np.testing.assert_allclose(upper[bars, col], mean + 2.0 * sd, rtol=RTOL, atol=0, err_msg="upper")
        np.testing.assert_allclose(lower[bars, col], mean - 2.0 * sd, rtol=RTOL, atol=0, err_msg="lower")
        # the last bars are as accurate as the first: nothing accumulates
        assert max_rel_error(var[bars[-100:], col], variance[-100:]) < 1e-11
        assert max_rel_error(sma[bars[-100:], col], mean[-100:]) < 1e-14


@numba.njit
def naive_running_stats(x, n):
    """Add the new value, subtract the old: plain running sums of x and x^2 (TA-Lib's classic VAR)."""
    mean = np.full(x.shape[0], np.nan)
    var = np.full(x.shape[0], np.nan)
    t1 = 0.0
    t2 = 0.0
    for i in range(x.shape[0]):
        t1 += x[i]
        t2 += x[i] * x[i]
        if i >= n:
            t1 -= x[i - n]
            t2 -= x[i - n] * x[i - n]
        if i >= n - 1:
            m = t1 / n
            mean[i] = m
            var[i] = t2 / n - m * m
    return mean, var


@pytest.mark.parametrize("n", PERIODS)
def test_a_naive_running_sum_would_drift_and_fail(walk, exact, n):
    x = walk[:, 0]
    bars, mean, variance = exact[n, 0]
    naive_mean, naive_var = naive_running_stats(x, n)
    kernel_mean_err = max_rel_error(ma.sma_batch(x, n)[bars], mean)
    naive_mean_err = max_rel_error(naive_mean[bars], mean)
    # The naive mean drifts: measurably worse than the compensated kernel, and worse at the end
    # of the run than at its start.
    assert naive_mean_err > 1e-14
    assert naive_mean_err > 10 * kernel_mean_err
    early = bars < 20_000
    assert max_rel_error(naive_mean[bars[-100:]], mean[-100:]) > max_rel_error(naive_mean[bars[early]],
                                                                                mean[early])
    # The naive variance fails the very bound the kernels pass, by orders of magnitude.
    naive_var_err = max_rel_error(naive_var[bars], variance)
    kernel_var_err = max_rel_error(vol.var_batch(x, n)[bars], variance)
    assert naive_var_err > 1e3 * RTOL
    assert kernel_var_err < 1e-11 < naive_var_err


@numba.njit
def stream_one_symbol(update, state, x, out):
    """Feed `x` bar by bar through `update` with an explicit row list: the per-symbol path."""
    sym = np.zeros(1, dtype=np.int64)
    row = np.empty(1)
    got = np.empty(1)
    for t in range(x.shape[0]):
        row[0] = x[t]
        update(state, sym, row, got)
        out[t] = got[0]


@numba.njit
def stream_bands_one_symbol(state, x, upper, middle, lower):
    sym = np.zeros(1, dtype=np.int64)
    row = np.empty(1)
    got = (np.empty(1), np.empty(1), np.empty(1))
    for t in range(x.shape[0]):
        row[0] = x[t]
        vol.bbands_update(state, sym, row, got)
        upper[t], middle[t], lower[t] = got[0][0], got[1][0], got[2][0]


def test_the_per_symbol_streaming_path_gives_the_batch_bits_over_a_million_updates(walk):
    x = np.ascontiguousarray(walk[:, 1])
    n = 30
    for update, init, batch in (
        (ma.sma_update, ma.sma_init, ma.sma_batch),
        (vol.var_update, vol.var_init, vol.var_batch),
        (vol.stddev_update, vol.stddev_init, vol.stddev_batch),
    ):
        out = np.empty(T)
        stream_one_symbol(update, init(1, n), x, out)
        assert np.array_equal(out, batch(x, n), equal_nan=True), update.__name__
    bands = (np.empty(T), np.empty(T), np.empty(T))
    stream_bands_one_symbol(vol.bbands_init(1, n), x, *bands)
    for got, expected in zip(bands, vol.bbands_batch(x, n), strict=True):
        assert np.array_equal(got, expected, equal_nan=True)
