"""Per-symbol ring buffers, time-major: `buf[slot, symbol]`.

Every windowed kernel keeps its last `n` inputs in a `[n, n_symbols]` ring with one write slot
per symbol (`head`), so symbols that skip bars keep their own window. Time-major layout keeps the
rows of symbols that advance together on the same cache lines.

The array-level helpers (`ring_push`, `ring_ago`) are what kernels call inside compiled code;
`RingState` with `ring_init/ring_update/ring_step/ring_window` is the public form used to
recompute arbitrary functions on each symbol's window.
"""

from typing import NamedTuple

import numpy as np

from ._jit import kernel


class RingState(NamedTuple):
    """The last `buf.shape[0]` values of every symbol, and how many each has seen."""

    buf: np.ndarray  # float64 [n, n_symbols]
    head: np.ndarray  # int64 [n_symbols], next slot to write
    count: np.ndarray  # int64 [n_symbols], values pushed so far


def ring_arrays(n: int, n_symbols: int) -> tuple[np.ndarray, np.ndarray]:
    """Allocate a NaN-filled `[n, n_symbols]` buffer and its zeroed head index."""
    if n < 1:
        raise ValueError(f"window length must be >= 1, got {n}")
    return np.full((n, n_symbols), np.nan), np.zeros(n_symbols, dtype=np.int64)


def ring_init(n: int, n_symbols: int) -> RingState:
    """A ring holding the last `n` values of `n_symbols` symbols."""
    buf, head = ring_arrays(n, n_symbols)
    return RingState(buf, head, np.zeros(n_symbols, dtype=np.int64))


@kernel
def ring_push(buf, head, s, x):
    """Write `x` as symbol `s`'s newest value; return the value it overwrote (NaN at first)."""
    h = head[s]
    old = buf[h, s]
    buf[h, s] = x
    h += 1
    if h == buf.shape[0]:
        h = 0
    head[s] = h
    return old


@kernel
def ring_ago(buf, head, s, k):
    """Symbol `s`'s value `k` pushes ago (0 = newest); `k` must be < the ring length."""
    i = head[s] - 1 - k
    if i < 0:
        i += buf.shape[0]
    return buf[i, s]


@kernel
def ring_step(state, s, x):
    """Push `x` for symbol `s`; return how many values the symbol has seen."""
    ring_push(state.buf, state.head, s, x)
    c = state.count[s] + 1
    state.count[s] = c
    return c


@kernel
def ring_update(state, sym, x):
    """Push `x[i]` for each symbol `sym[i]`; other symbols are untouched."""
    for i in range(sym.shape[0]):
        ring_step(state, sym[i], x[i])


@kernel
def ring_window(state, s, out):
    """Copy symbol `s`'s window, oldest first, into `out[:m]`; return `m` (≤ ring length)."""
    n = state.buf.shape[0]
    m = min(state.count[s], n)
    for j in range(m):
        out[j] = ring_ago(state.buf, state.head, s, m - 1 - j)
    return m


@kernel
def ring_advance(head, count, lock, s, n):
    """Advance symbol `s` alone; return `(slot to write, its new count)`.

    Advancing one symbol ends lockstep (`lock[0] = 0`): from then on symbols keep their own slots.
    """
    lock[0] = 0
    h = head[s]
    c = count[s] + 1
    head[s] = h + 1 if h + 1 < n else 0
    count[s] = c
    return h, c


@kernel
def ring_advance_all(head, count, n):
    """Advance every symbol together (lockstep); return the shared `(slot, new count)`.

    Valid only while every symbol has seen the same number of values, which the kernels track
    with their `lock` flag; the shared slot makes the per-symbol loop contiguous and vectorisable.
    """
    h = head[0]
    c = count[0] + 1
    head[:] = h + 1 if h + 1 < n else 0
    count[:] = c
    return h, c


def window_arrays(n: int, n_symbols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`(buf, head, count, lock)` for a windowed kernel's state, all symbols in lockstep."""
    buf, head = ring_arrays(n, n_symbols)
    return buf, head, np.zeros(n_symbols, dtype=np.int64), np.ones(1, dtype=np.int64)


@kernel
def slot_ago(slot, k, n):
    """Index of the value written `k` pushes before the one at `slot`, in a ring of length `n`."""
    i = slot - k
    return i + n if i < 0 else i


@kernel
def row_index(sym, i):
    """Row of the `i`-th update: `i` when `sym` is None, else `sym[i]` as an unsigned index.

    Rows are never negative; an unsigned index says so and spares every array access with it
    Numba's negative-index wraparound, about half the per-symbol cost of a ring kernel.
    """
    return np.uint64(i if sym is None else sym[i])
