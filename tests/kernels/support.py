"""Seeded market data and the comparison every kernel test uses."""

import numpy as np

RTOL = 1e-9


def random_walk(n_bars: int, n_symbols: int | None = None, seed: int = 0, start: float = 100.0,
                step: float = 1.0) -> np.ndarray:
    """A Gaussian random walk from `start`, `(T,)` or `(T, N)`, time first."""
    rng = np.random.default_rng(seed)
    shape = (n_bars,) if n_symbols is None else (n_bars, n_symbols)
    steps = rng.normal(0.0, step, shape)
    return start + np.cumsum(steps, axis=0)


def random_ohlcv(n_bars: int, n_symbols: int | None = None, seed: int = 0, start: float = 100.0):
    """Consistent bars: `high >= max(open, close)`, `low <= min(open, close)`, volume > 0.

    Returns `(open, high, low, close, volume)`, each `(T,)` or `(T, N)`.
    """
    rng = np.random.default_rng(seed)
    shape = (n_bars,) if n_symbols is None else (n_bars, n_symbols)
    close = start * np.exp(np.cumsum(rng.normal(0.0, 0.01, shape), axis=0))
    open_ = np.concatenate([close[:1], close[:-1]]) * np.exp(rng.normal(0.0, 0.002, shape))
    top = np.maximum(open_, close)
    bottom = np.minimum(open_, close)
    high = top * (1.0 + rng.uniform(0.0, 0.01, shape))
    low = bottom * (1.0 - rng.uniform(0.0, 0.01, shape))
    volume = rng.integers(1_000, 100_000, shape).astype(np.float64)
    return open_, high, low, close, volume


def assert_matches(actual, expected, rtol: float = RTOL, atol: float = 0.0, name: str = "") -> None:
    """Same NaN positions (the warm-up) and values within `rtol` relative where both are set."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    nan_a, nan_e = np.isnan(actual), np.isnan(expected)
    if not np.array_equal(nan_a, nan_e):
        first = np.argmax(nan_a != nan_e)
        raise AssertionError(
            f"{name}: NaN pattern differs first at flat index {first}: "
            f"actual {actual.flat[first]!r}, expected {expected.flat[first]!r}"
        )
    ok = ~nan_e
    np.testing.assert_allclose(actual[ok], expected[ok], rtol=rtol, atol=atol, err_msg=name)


def warmup(values) -> int:
    """Index of the first non-NaN value (backtesting.py's rule: `np.isnan(ind).argmin()`)."""
    return int(np.isnan(np.asarray(values, dtype=np.float64)).argmin())
