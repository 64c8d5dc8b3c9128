"""Signal helpers with `backtesting.lib` semantics: crossover, crossunder, cross, barssince.

Conventions as in `ma.py`: `<ind>_init`, `<ind>_step`, `<ind>_update` (sym None = every symbol in
row order) and `<ind>_batch`. "Previous" always means the symbol's own previous bar, so symbols
that skip bars compare against their own last values.

NaN is meaningful here: a comparison with NaN is false, so a NaN on either bar gives no cross,
exactly as `backtesting.lib.crossover` on a NaN warm-up. A plain number stands for a constant
series in `<ind>_batch` and `<ind>_update`.
"""

from numbers import Number
from typing import NamedTuple

import numpy as np

from ._jit import kernel
from ._shape import run_rows
from .catalog import KernelSpec
from .ring import row_index

__all__ = [
    "BarssinceState", "CrossState",
    "barssince_batch", "barssince_init", "barssince_step", "barssince_update",
    "cross_batch", "cross_init", "cross_step", "cross_update",
    "crossover_batch", "crossover_init", "crossover_step", "crossover_update",
    "crossunder_batch", "crossunder_init", "crossunder_step", "crossunder_update",
]


@kernel
def _at(x, i):
    """`x[i]`, or `x` itself when it is a plain number (a constant series)."""
    if isinstance(x, (int, float)):
        return x
    return x[i]


@kernel
def _rows_in(sym, a, b):
    """How many symbols an update call advances: `len(sym)`, else the length of `a` or `b`."""
    if sym is not None:
        return sym.shape[0]
    if isinstance(a, (int, float)):
        return b.shape[0]
    return a.shape[0]


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Both series as arrays; a plain number becomes a constant series shaped like the other."""
    a_num, b_num = isinstance(a, Number), isinstance(b, Number)
    if a_num and b_num:
        raise ValueError("at least one of a and b must be a series, not a number")
    if a_num:
        b = np.asarray(b, dtype=np.float64)
        return np.full(b.shape, float(a)), b
    if b_num:
        a = np.asarray(a, dtype=np.float64)
        return a, np.full(a.shape, float(b))
    return a, b


# --- crossover / crossunder / cross ---------------------------------------------------------


class CrossState(NamedTuple):
    """Each symbol's previous `a` and `b` (NaN before its first bar)."""

    prev_a: np.ndarray
    prev_b: np.ndarray


def _cross_init(n_symbols: int) -> CrossState:
    return CrossState(np.full(n_symbols, np.nan), np.full(n_symbols, np.nan))


@kernel
def _advance(state, s, a, b):
    """Store this bar's `a`, `b`; return the previous ones."""
    pa, pb = state.prev_a[s], state.prev_b[s]
    state.prev_a[s], state.prev_b[s] = a, b
    return pa, pb


def crossover_init(n_symbols: int) -> CrossState:
    """State for `crossover(a, b)`."""
    return _cross_init(n_symbols)


@kernel
def crossover_step(state, s, a, b):
    """True iff `a` was strictly below `b` on the previous bar and is strictly above it now.

    Reference: `backtesting.lib.crossover(a, b)` (`a[-2] < b[-2] and a[-1] > b[-1]`); NaN on
    either bar gives False, and so does the first bar.
    """
    pa, pb = _advance(state, s, a, b)
    return (pa < pb) & (a > b)


@kernel
def crossover_update(state, sym, a, b, out):
    """Advance the symbols in `sym` (None = all, in row order); `a` or `b` may be a number."""
    m = _rows_in(sym, a, b)
    for i in range(m):
        s = row_index(sym, i)
        out[s] = crossover_step(state, s, _at(a, i), _at(b, i))


@kernel
def _crossover_rows(state, a, b, out):
    for t in range(a.shape[0]):
        crossover_update(state, None, a[t], b[t], out[t])


def crossover_batch(a, b, out=None) -> np.ndarray:
    """`backtesting.lib.crossover(a[:t+1], b[:t+1])` at every bar t, as a bool array.

    `a` and `b` are `(T,)` or `(T, N)`; either may be a plain number (a constant series). NaN
    gives False (no cross), so NaN warm-ups are fine.
    """
    return run_rows(_crossover_rows, crossover_init, _pair(a, b), out, dtype=np.bool_)


def crossunder_init(n_symbols: int) -> CrossState:
    """State for `crossunder(a, b)`."""
    return _cross_init(n_symbols)


@kernel
def crossunder_step(state, s, a, b):
    """True iff `a` just crossed strictly below `b`; reference: `backtesting.lib.crossover(b, a)`."""
    pa, pb = _advance(state, s, a, b)
    return (pb < pa) & (b > a)


@kernel
def crossunder_update(state, sym, a, b, out):
    """Advance the symbols in `sym` (None = all, in row order); `a` or `b` may be a number."""
    m = _rows_in(sym, a, b)
    for i in range(m):
        s = row_index(sym, i)
        out[s] = crossunder_step(state, s, _at(a, i), _at(b, i))


@kernel
def _crossunder_rows(state, a, b, out):
    for t in range(a.shape[0]):
        crossunder_update(state, None, a[t], b[t], out[t])


def crossunder_batch(a, b, out=None) -> np.ndarray:
    """`backtesting.lib.crossover(b[:t+1], a[:t+1])` at every bar t, as a bool array.

    `a` and `b` are `(T,)` or `(T, N)`; either may be a plain number. NaN gives False.
    """
    return run_rows(_crossunder_rows, crossunder_init, _pair(a, b), out, dtype=np.bool_)


def cross_init(n_symbols: int) -> CrossState:
    """State for `cross(a, b)`."""
    return _cross_init(n_symbols)


@kernel
def cross_step(state, s, a, b):
    """True iff `a` and `b` just crossed either way; reference: `backtesting.lib.cross(a, b)`."""
    pa, pb = _advance(state, s, a, b)
    return ((pa < pb) & (a > b)) | ((pb < pa) & (b > a))


@kernel
def cross_update(state, sym, a, b, out):
    """Advance the symbols in `sym` (None = all, in row order); `a` or `b` may be a number."""
    m = _rows_in(sym, a, b)
    for i in range(m):
        s = row_index(sym, i)
        out[s] = cross_step(state, s, _at(a, i), _at(b, i))


@kernel
def _cross_rows(state, a, b, out):
    for t in range(a.shape[0]):
        cross_update(state, None, a[t], b[t], out[t])


def cross_batch(a, b, out=None) -> np.ndarray:
    """`backtesting.lib.cross(a[:t+1], b[:t+1])` at every bar t, as a bool array.

    `a` and `b` are `(T,)` or `(T, N)`; either may be a plain number. NaN gives False.
    """
    return run_rows(_cross_rows, cross_init, _pair(a, b), out, dtype=np.bool_)


# --- barssince --------------------------------------------------------------------------------


class BarssinceState(NamedTuple):
    default: float  # returned while the condition has never been true
    since: np.ndarray  # int64, bars since the condition was last true; -1 = never


def barssince_init(n_symbols: int, default: float = np.inf) -> BarssinceState:
    """State for `barssince(cond, default)`."""
    return BarssinceState(float(default), np.full(n_symbols, -1, dtype=np.int64))


@kernel
def barssince_step(state, s, cond):
    """Bars since `cond` was last true (0 if true now), else the state's default.

    Reference: `backtesting.lib.barssince(cond, default)`. `cond` is tested for truth as Python
    does, so a NaN condition counts as true, as it does in backtesting.lib.
    """
    n = state.since[s]
    if cond:
        n = 0
    elif n >= 0:
        n += 1
    state.since[s] = n
    return float(n) if n >= 0 else state.default


@kernel
def barssince_update(state, sym, cond, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    for i in range(cond.shape[0]):
        s = row_index(sym, i)
        out[s] = barssince_step(state, s, cond[i])


@kernel
def _barssince_rows(state, cond, out):
    for t in range(cond.shape[0]):
        barssince_update(state, None, cond[t], out[t])


def barssince_batch(cond, default: float = np.inf, out=None) -> np.ndarray:
    """`backtesting.lib.barssince(cond[:t+1], default)` at every bar t, as float64.

    `cond` is `(T,)` or `(T, N)` of bools (or numbers, tested for truth; NaN counts as true).
    """
    return run_rows(_barssince_rows, lambda m: barssince_init(m, default), (cond,), out)


def _cross_spec(name, reference, init, update, step, batch):
    return KernelSpec(name, ("a", "b"), (), (name,), lambda: (0,), init, update, step, batch, reference,
                      out_dtype=np.bool_)


SPECS = (
    _cross_spec("crossover", "backtesting.lib.crossover(a, b)",
                crossover_init, crossover_update, crossover_step, crossover_batch),
    _cross_spec("crossunder", "backtesting.lib.crossover(b, a)",
                crossunder_init, crossunder_update, crossunder_step, crossunder_batch),
    _cross_spec("cross", "backtesting.lib.cross(a, b)", cross_init, cross_update, cross_step, cross_batch),
    KernelSpec("barssince", ("cond",), (("default", np.inf),), ("barssince",), lambda default=np.inf: (0,),
               barssince_init, barssince_update, barssince_step, barssince_batch,
               "backtesting.lib.barssince(cond, default)"),
)
