"""Rolling extremes: MAX, MIN (TA-Lib) and the Donchian channel.

Conventions as in `ma.py`: `<ind>_init`, `<ind>_step`, `<ind>_update` (sym None = every symbol in
row order, with a shared-slot path while all symbols advance together) and `<ind>_batch`.

Algorithm (van Herk / Gil-Werman, streamed): each symbol's ring is cut into blocks of `n` pushes,
block boundaries falling where the write slot wraps to 0. `block[s]` is the extreme of the
current block so far; once a block is complete its ring slots are folded in place into suffix
extremes (`buf[k] = extreme(buf[k:])`). The window ending at slot `j` is slots `j+1..n-1` of the
previous block plus slots `0..j` of the current one, so its extreme is
`extreme(buf[j + 1], block)`, read before slot `j + 1` is overwritten. That is one comparison per
push plus a fold of `n - 1` comparisons every `n` pushes: O(1) amortized whatever the data (a
rescan-when-the-extreme-leaves scheme is O(n) per bar on monotone data and, even on random walks,
reads the ring column-wise). In lockstep the fold runs row by row over all symbols, vectorised.
Values are exact (no arithmetic, only comparisons), so the result equals TA-Lib bit for bit.

Performance (the rule in `ma.py`): `window_extreme_next` is straight-line over the arrays, so it
inlines into the per-symbol loops for free. The fold is a loop, which LLVM keeps as a call; the
`_update` functions therefore bind the rings to locals once, before their per-symbol loop, and
fold from there, instead of calling a per-symbol `_step` (kept out of line, that call took a
reference on every state array for every symbol: MAX 310 µs per call at 10,000 symbols, now
under 50). Rows and slots are unsigned indices (`row_index`).

Outputs are NaN until `n` values have been seen; inputs must be finite.
"""

from typing import NamedTuple

import numpy as np

from ._jit import kernel
from ._shape import run_rows
from .catalog import KernelSpec
from .ma import check_period
from .ring import ring_advance, ring_advance_all, ring_arrays, row_index, window_arrays

__all__ = [
    "DonchianState", "ExtremeState",
    "donchian_batch", "donchian_init", "donchian_step", "donchian_update",
    "max_batch", "max_init", "max_step", "max_update",
    "min_batch", "min_init", "min_step", "min_update",
    "window_extreme_fold", "window_extreme_fold_all", "window_extreme_next",
]


def _nans(n_symbols: int) -> np.ndarray:
    return np.full(n_symbols, np.nan)


@kernel
def _pick(a, b, upper):
    """The larger (`upper`) or the smaller of `a` and `b`."""
    return max(a, b) if upper else min(a, b)


@kernel
def window_extreme_next(buf, block, s, x, slot, c, n, upper):
    """Push `x`, symbol `s`'s `c`-th value, at `buf[slot, s]`; return the max (`upper`) or min
    of its last `n` values, NaN while `c < n`.

    When `slot == n - 1` the block is complete: follow with `window_extreme_fold(buf, s, n,
    upper)`, or, in lockstep, one `window_extreme_fold_all` for every symbol. Shared by MAX, MIN,
    the Donchian channel, STOCH, STOCHRSI and WILLR; see the module docstring for the algorithm.
    The next slot is read up front (clamped to the ring; unused at its end) so the arrays are
    touched outside any branch.
    """
    following = buf[np.uint64(min(slot + 1, n - 1)), s]
    p = x if slot == 0 else _pick(block[s], x, upper)
    block[s] = p
    buf[np.uint64(slot), s] = x
    out = p if slot == n - 1 else _pick(following, p, upper)
    return np.nan if c < n else out


@kernel
def window_extreme_fold(buf, s, n, upper):
    """Turn symbol `s`'s completed block into suffix extremes, in place."""
    for k in range(n - 2, -1, -1):
        buf[k, s] = _pick(buf[k, s], buf[k + 1, s], upper)


@kernel
def window_extreme_fold_all(buf, n, upper):
    """`window_extreme_fold` for every symbol at once (lockstep), row by row."""
    for k in range(n - 2, -1, -1):
        for s in range(buf.shape[1]):
            buf[k, s] = _pick(buf[k, s], buf[k + 1, s], upper)


# --- MAX / MIN --------------------------------------------------------------------------------


class ExtremeState(NamedTuple):
    """Rolling highest (MAX) or lowest (MIN) of the last `n` values."""

    n: int
    buf: np.ndarray  # slots < head: this block's values; slots >= head: last block's suffix extremes
    head: np.ndarray
    count: np.ndarray
    lock: np.ndarray
    block: np.ndarray  # extreme of the current block so far


def _extreme_init(n_symbols: int, n: int) -> ExtremeState:
    n = check_period("n", n)
    return ExtremeState(n, *window_arrays(n, n_symbols), _nans(n_symbols))


def max_init(n_symbols: int, n: int = 30) -> ExtremeState:
    """State for the rolling highest value over `n` bars."""
    return _extreme_init(n_symbols, n)


@kernel
def _extreme_step(state, s, x, upper):
    """One MAX (`upper`) or MIN step for symbol `s`."""
    n = state.n
    slot, c = ring_advance(state.head, state.count, state.lock, s, n)
    v = window_extreme_next(state.buf, state.block, s, x, slot, c, n, upper)
    if slot == n - 1:
        window_extreme_fold(state.buf, s, n, upper)
    return v


@kernel
def _extreme_update(state, sym, x, out, upper):
    """`max_update` (`upper`) / `min_update`; the per-symbol loop is `_extreme_step` with the ring
    bound once (see the module docstring)."""
    n = state.n
    buf = state.buf
    if sym is None and state.lock[0]:
        slot, c = ring_advance_all(state.head, state.count, n)
        for s in range(x.shape[0]):
            out[s] = window_extreme_next(buf, state.block, s, x[s], slot, c, n, upper)
        if slot == n - 1:
            window_extreme_fold_all(buf, n, upper)
    else:
        for i in range(x.shape[0]):
            s = row_index(sym, i)
            slot, c = ring_advance(state.head, state.count, state.lock, s, n)
            out[s] = window_extreme_next(buf, state.block, s, x[i], slot, c, n, upper)
            if slot == n - 1:
                window_extreme_fold(buf, s, n, upper)


@kernel
def max_step(state, s, x):
    """Highest value of the last `n` bars; reference: TA-Lib MAX."""
    return _extreme_step(state, s, x, True)


@kernel
def max_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    _extreme_update(state, sym, x, out, True)


@kernel
def _max_rows(state, x, out):
    for t in range(x.shape[0]):
        max_update(state, None, x[t], out[t])


def max_batch(x, n: int = 30, out=None) -> np.ndarray:
    """Rolling MAX(n) of a `(T,)` or `(T, N)` history; NaN for the first `n - 1` bars.

    Reference: TA-Lib `MAX` (also `pd.Series(x).rolling(n).max()`). Inputs must be finite.
    """
    return run_rows(_max_rows, lambda m: max_init(m, n), (x,), out)


def min_init(n_symbols: int, n: int = 30) -> ExtremeState:
    """State for the rolling lowest value over `n` bars."""
    return _extreme_init(n_symbols, n)


@kernel
def min_step(state, s, x):
    """Lowest value of the last `n` bars; reference: TA-Lib MIN."""
    return _extreme_step(state, s, x, False)


@kernel
def min_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    _extreme_update(state, sym, x, out, False)


@kernel
def _min_rows(state, x, out):
    for t in range(x.shape[0]):
        min_update(state, None, x[t], out[t])


def min_batch(x, n: int = 30, out=None) -> np.ndarray:
    """Rolling MIN(n) of a `(T,)` or `(T, N)` history; NaN for the first `n - 1` bars.

    Reference: TA-Lib `MIN` (also `pd.Series(x).rolling(n).min()`). Inputs must be finite.
    """
    return run_rows(_min_rows, lambda m: min_init(m, n), (x,), out)


# --- Donchian channel ---------------------------------------------------------------------------


class DonchianState(NamedTuple):
    n: int
    high_buf: np.ndarray
    head: np.ndarray
    count: np.ndarray
    lock: np.ndarray
    low_buf: np.ndarray  # shares `head` / `count` with `high_buf`
    high_block: np.ndarray  # highest high of the current block so far
    low_block: np.ndarray  # lowest low of the current block so far


def donchian_init(n_symbols: int, n: int = 20) -> DonchianState:
    """State for the Donchian channel over `n` bars."""
    n = check_period("n", n)
    return DonchianState(n, *window_arrays(n, n_symbols), ring_arrays(n, n_symbols)[0],
                         _nans(n_symbols), _nans(n_symbols))


@kernel
def _donchian_next(state, s, high, low, slot, c):
    n = state.n
    up = window_extreme_next(state.high_buf, state.high_block, s, high, slot, c, n, True)
    lo = window_extreme_next(state.low_buf, state.low_block, s, low, slot, c, n, False)
    return up, (up + lo) / 2.0, lo


@kernel
def donchian_step(state, s, high, low):
    """Donchian channel `(upper, middle, lower)`: highest high, midpoint, lowest low of `n` bars.

    Reference (TA-Lib has none): pandas `high.rolling(n).max()`, `low.rolling(n).min()` and
    their mean.
    """
    n = state.n
    slot, c = ring_advance(state.head, state.count, state.lock, s, n)
    v = _donchian_next(state, s, high, low, slot, c)
    if slot == n - 1:
        window_extreme_fold(state.high_buf, s, n, True)
        window_extreme_fold(state.low_buf, s, n, False)
    return v


@kernel
def donchian_update(state, sym, high, low, out):
    """Advance the symbols in `sym` (None = all, in row order); `out` = (upper, middle, lower)."""
    upper, middle, lower = out
    n = state.n
    high_buf, low_buf = state.high_buf, state.low_buf
    if sym is None and state.lock[0]:
        slot, c = ring_advance_all(state.head, state.count, n)
        for s in range(high.shape[0]):
            upper[s], middle[s], lower[s] = _donchian_next(state, s, high[s], low[s], slot, c)
        if slot == n - 1:
            window_extreme_fold_all(high_buf, n, True)
            window_extreme_fold_all(low_buf, n, False)
    else:
        for i in range(high.shape[0]):
            s = row_index(sym, i)
            slot, c = ring_advance(state.head, state.count, state.lock, s, n)
            upper[s], middle[s], lower[s] = _donchian_next(state, s, high[i], low[i], slot, c)
            if slot == n - 1:
                window_extreme_fold(high_buf, s, n, True)
                window_extreme_fold(low_buf, s, n, False)


@kernel
def _donchian_rows(state, high, low, upper, middle, lower):
    for t in range(high.shape[0]):
        donchian_update(state, None, high[t], low[t], (upper[t], middle[t], lower[t]))


def donchian_batch(high, low, n: int = 20, out=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Donchian channel over `n` bars: `(upper, middle, lower)`, NaN for the first `n - 1` bars.

    upper = rolling max of `high`, lower = rolling min of `low`, middle = (upper + lower) / 2.
    Reference (no TA-Lib equivalent): pandas `rolling(n).max()` / `rolling(n).min()`.
    Inputs must be finite. `out`, if given, is a tuple of three arrays.
    """
    return run_rows(_donchian_rows, lambda m: donchian_init(m, n), (high, low), out, n_outputs=3)


SPECS = (
    KernelSpec("max", ("x",), (("n", 30),), ("max",), lambda n: (n - 1,),
               max_init, max_update, max_step, max_batch, "TA-Lib MAX"),
    KernelSpec("min", ("x",), (("n", 30),), ("min",), lambda n: (n - 1,),
               min_init, min_update, min_step, min_batch, "TA-Lib MIN"),
    KernelSpec("donchian", ("high", "low"), (("n", 20),), ("upper", "middle", "lower"),
               lambda n: (n - 1, n - 1, n - 1), donchian_init, donchian_update, donchian_step,
               donchian_batch, "pandas rolling(n).max() of high / rolling(n).min() of low"),
)
