"""Helpers for strategies written against `sqfast.Strategy`, without backtesting.py installed.

`crossover`, `cross` and `barssince` mean exactly what `backtesting.lib`'s do, and `SMA` is
`backtesting.test.SMA` (pandas' `rolling(n).mean()`), so a strategy can import them from here
and needs only numpy. sqfast translates them as it translates backtesting.py's: `SMA` maps to
the SMA kernel, and the three signals compile in `next()`.
"""

from collections.abc import Sequence
from numbers import Number

import numpy as np

__all__ = ["SMA", "barssince", "cross", "crossover"]


def _as_series(series):
    """A number is a constant series (two equal values); a pandas Series its values."""
    if isinstance(series, Number):
        return (series, series)
    if not isinstance(series, np.ndarray) and hasattr(series, "to_numpy"):
        return series.to_numpy()
    return series


def crossover(series1: Sequence, series2: Sequence) -> bool:
    """True if `series1` just crossed above `series2`: `a[-2] < b[-2] and a[-1] > b[-1]`.

    Strict inequalities, so any NaN gives False; fewer than two values gives False. Same as
    `backtesting.lib.crossover`.
    """
    a, b = _as_series(series1), _as_series(series2)
    try:
        return bool(a[-2] < b[-2] and a[-1] > b[-1])
    except IndexError:
        return False


def cross(series1: Sequence, series2: Sequence) -> bool:
    """True if the two series just crossed, either way. Same as `backtesting.lib.cross`."""
    return crossover(series1, series2) or crossover(series2, series1)


def barssince(condition: Sequence[bool], default: float = np.inf) -> float:
    """Bars since `condition` was last true (0 if it is true now), else `default`.

    Same as `backtesting.lib.barssince`.
    """
    for bars, value in enumerate(reversed(condition)):
        if value:
            return bars
    return default


def SMA(values: Sequence[float], n: int) -> np.ndarray:  # noqa: N802 (backtesting.py's name)
    """Simple moving average of the last `n` values; NaN for the first `n - 1` bars and wherever
    the window holds a NaN. Same numbers as `backtesting.test.SMA` (`pd.Series(values).rolling(n).mean()`).
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"SMA window must be a whole number >= 1, got {n!r}")
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"SMA takes one series, got an array of shape {x.shape}")
    out = np.full(x.shape, np.nan)
    if len(x) >= n:
        out[n - 1:] = np.lib.stride_tricks.sliding_window_view(x, n).mean(axis=1)
    return out
