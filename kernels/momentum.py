"""Momentum oscillators: RSI, MACD, ROC, MOM, STOCH, STOCHRSI, WILLR, CCI, MFI.

Conventions are those of `ma.py` (see DESIGN.md, "Kernels"):

- `<ind>_init(n_symbols, <params>)` allocates the state (a NamedTuple of arrays).
- `<ind>_step(state, s, <inputs>)` advances symbol `s` by one bar and returns its value, or a
  tuple of values for the multi-output kernels (MACD, STOCH, STOCHRSI).
- `<ind>_update(state, sym, <inputs>, out)` advances the symbols in `sym` and writes
  `out[sym[i]]` (for multi-output kernels `out` is a tuple of arrays, written `out[j][sym[i]]`);
  `sym=None` means every symbol in row order. Windowed kernels take the lockstep shared-slot path
  while every symbol has advanced together.
- `<ind>_batch(<inputs>, <params>, out=None)` runs a `(T,)` or `(T, N)` history (time first).

Every kernel reproduces the TA-Lib function it names (the 0.8 series, as installed), including
the NaN warm-up length and TA-Lib's zero rules; RSI, MACD, ROC, MOM, WILLR, CCI and STOCH's/
STOCHRSI's raw %K are equal to it bit for bit. Where TA-Lib keeps a plain running sum (the SMA
smoothing of STOCH/STOCHRSI, MFI's flow sums) these kernels keep a compensated one, so they agree
to ~1e-13 and return an exact 0 where TA-Lib returns its rounding residue. Outputs are NaN until
the indicator is ready; inputs must be finite.

Rolling highest/lowest values (STOCH, STOCHRSI, WILLR) use `extrema`'s streamed van Herk /
Gil-Werman blocks: the extreme rings have exactly the window's length, and a completed block is
folded once per `n` bars (row by row over all symbols in lockstep). STOCH's and STOCHRSI's SMA
stages keep their own rings, indexed by the bar count.

Performance (the rule in `ma.py`; times per `_update` call at 10,000 symbols):

- Per-symbol code loads the symbol's state, computes on scalars (`rsi_core`, `_macd_ema_core`,
  `_sma_stage_core`) and stores, with no branch on the data: RSI's and MFI's branches on the
  direction of the move were mispredicted half the time (RSI 119 -> 25 µs, MFI 1.7x).
- The per-symbol `_update` loops inline that code instead of calling `<ind>_step`: LLVM kept a
  `_step` that folds extreme rings out of line, and the call took a reference on every state
  array per symbol (STOCH 1,200 µs). The rings a fold needs are bound before the loop.
- Rows are unsigned indices (`ring.row_index`), which spares every access Numba's negative-
  index wraparound (about half of MOM's per-symbol time).
- In lockstep, STOCH and STOCHRSI run in passes over all symbols (fast %K, then each SMA stage)
  and CCI sums its windows row by row over blocks of symbols, so each loop vectorises.
"""

from typing import NamedTuple

import numpy as np

from ._jit import kernel
from ._shape import run_rows
from ._sums import neumaier_add
from .catalog import KernelSpec
from .extrema import window_extreme_fold, window_extreme_fold_all, window_extreme_next
from .ma import check_period, ema_core
from .ring import ring_advance, ring_advance_all, ring_arrays, row_index, slot_ago, window_arrays

__all__ = [
    "CciState", "LagState", "MacdState", "MfiState", "RsiState", "StochRsiState", "StochState",
    "WillrState",
    "cci_batch", "cci_init", "cci_step", "cci_update",
    "macd_batch", "macd_init", "macd_step", "macd_update",
    "mfi_batch", "mfi_init", "mfi_step", "mfi_update",
    "mom_batch", "mom_init", "mom_step", "mom_update",
    "roc_batch", "roc_init", "roc_step", "roc_update",
    "rsi_batch", "rsi_init", "rsi_step", "rsi_update",
    "stoch_batch", "stoch_init", "stoch_step", "stoch_update",
    "stochrsi_batch", "stochrsi_init", "stochrsi_step", "stochrsi_update",
    "willr_batch", "willr_init", "willr_step", "willr_update",
]


def _zeros(n_symbols: int) -> np.ndarray:
    return np.zeros(n_symbols)


def _counts(n_symbols: int) -> np.ndarray:
    return np.zeros(n_symbols, dtype=np.int64)


def _nans(n_symbols: int) -> np.ndarray:
    return np.full(n_symbols, np.nan)


def _ring(m: int, n_symbols: int) -> np.ndarray:
    """An extra NaN-filled `[m, n_symbols]` buffer sharing a kernel's ring slots."""
    return ring_arrays(m, n_symbols)[0]


# --- TA-Lib's zero rules -------------------------------------------------------------------------


@kernel
def is_zero_scaled(v, scale):
    """TA-Lib's `TA_IS_ZERO_SCALED`: `|v| <= 1e-14 * scale` (about 90 ulp of `scale`), so the
    difference of two nearly equal prices counts as zero whatever their magnitude."""
    return abs(v) <= 1e-14 * scale


@kernel
def _fast_k(close, lowest, highest):
    """TA-Lib's stochastic %K: ((close - LL) / (HH - LL)) * 100, 0 when the range is flat."""
    rng = highest - lowest
    if is_zero_scaled(rng, abs(highest) + abs(lowest)):
        return 0.0
    return ((close - lowest) / rng) * 100.0


# --- RSI ----------------------------------------------------------------------------------------


class RsiState(NamedTuple):
    n: int
    count: np.ndarray
    prev: np.ndarray
    gain: np.ndarray
    loss: np.ndarray


def rsi_init(n_symbols: int, n: int = 14) -> RsiState:
    """State for the relative strength index of period `n` (n >= 2, as TA-Lib)."""
    n = check_period("n", n, 2)
    return RsiState(n, _counts(n_symbols), _zeros(n_symbols), _zeros(n_symbols), _zeros(n_symbols))


@kernel
def rsi_core(c, prev, gain, loss, x, n):
    """One RSI step on scalars, the `c`-th input `x` → `(gain, loss, output)`, in TA-Lib's order of
    operations (bit-for-bit equal to TA-Lib 0.8's RSI).

    Average gain/loss are the means of the first `n` changes, then Wilder-smoothed. The change goes
    to the gain or the loss without a branch on its sign (the other one adds an exact 0, which
    leaves it unchanged): in the per-symbol loop that branch was mispredicted half the time.
    """
    d = x - prev
    out = np.nan
    if c > 1:
        if c > n + 1:
            gain *= n - 1
            loss *= n - 1
        gain += d if d > 0.0 else 0.0
        loss -= d if d < 0.0 else 0.0
        if c > n:
            inv = 1.0 / n  # TA-Lib 0.8 multiplies by the reciprocal rather than dividing
            gain *= inv
            loss *= inv
            total = gain + loss
            out = 100.0 * (gain / total) if total > 0.0 else 0.0
    return gain, loss, out


@kernel
def rsi_next(prev, gain, loss, s, x, c, n):
    """One RSI step for symbol `s`'s `c`-th input on bare arrays: load, `rsi_core`, store.

    Shared by STOCHRSI.
    """
    g, lo, out = rsi_core(c, prev[s], gain[s], loss[s], x, n)
    prev[s] = x
    gain[s] = g
    loss[s] = lo
    return out


@kernel
def rsi_step(state, s, x):
    """Relative strength index; reference: TA-Lib RSI (Wilder smoothing, 0 when gain + loss is 0).

    Inputs must be finite.
    """
    c = state.count[s] + 1
    state.count[s] = c
    return rsi_next(state.prev, state.gain, state.loss, s, x, c, state.n)


@kernel
def rsi_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    for i in range(x.shape[0]):
        s = row_index(sym, i)
        out[s] = rsi_step(state, s, x[i])


@kernel
def _rsi_rows(state, x, out):
    for t in range(x.shape[0]):
        rsi_update(state, None, x[t], out[t])


def rsi_batch(x, n: int = 14, out=None) -> np.ndarray:
    """RSI(n) of a `(T,)` or `(T, N)` history; NaN for the first `n` bars.

    Reference: TA-Lib `RSI` (default compatibility): mean gain/loss of the first `n` changes, then
    `avg = (avg * (n - 1) + change) * (1 / n)`; `100 * gain / (gain + loss)`, or 0 when that sum is 0
    (TA-Lib 0.8 tests it exactly; older releases zeroed sums within 1e-8). Inputs must be finite.
    """
    return run_rows(_rsi_rows, lambda m: rsi_init(m, n), (x,), out)


# --- MACD ---------------------------------------------------------------------------------------


class MacdState(NamedTuple):
    """Three EMAs per symbol: row 0 slow, row 1 fast, row 2 signal (of the MACD line)."""

    fast: int
    slow: int
    signal: int
    k_fast: float
    k_slow: float
    k_signal: float
    count: np.ndarray  # int64 [3, n_symbols]
    seed: np.ndarray  # [3, n_symbols]
    value: np.ndarray  # [3, n_symbols]


def macd_init(n_symbols: int, fast: int = 12, slow: int = 26, signal: int = 9) -> MacdState:
    """State for MACD(fast, slow, signal); like TA-Lib, `fast` and `slow` are swapped if slow < fast."""
    fast = check_period("fast", fast, 2)
    slow = check_period("slow", slow, 2)
    signal = check_period("signal", signal)
    if slow < fast:
        fast, slow = slow, fast
    shape = (3, n_symbols)
    return MacdState(fast, slow, signal, 2.0 / (fast + 1), 2.0 / (slow + 1), 2.0 / (signal + 1),
                     np.zeros(shape, np.int64), np.zeros(shape), np.zeros(shape))


@kernel
def _macd_ema_core(c, seed, value, x, n, k):
    """`ma.ema_core` (TA-Lib 0.8's fused rounding) → `(c, seed, value, output)`, except that a NaN
    input (an upstream warm-up) leaves the EMA and its count untouched.

    The MACD line and histogram are differences of nearly equal EMAs, so they would show any
    last-bit difference from TA-Lib; with the fused recursion they are TA-Lib's.
    """
    if np.isnan(x):
        return c, seed, value, np.nan
    seed, value, out = ema_core(c + 1, seed, value, x, n, k)
    return c + 1, seed, value, out


@kernel
def _macd_ema(state, row, s, x, n, k):
    """Advance EMA `row` (0 slow, 1 fast, 2 signal) of symbol `s`: load, `_macd_ema_core`, store."""
    count, seed, value = state.count[row, s], state.seed[row, s], state.value[row, s]
    c, seed, value, out = _macd_ema_core(count, seed, value, x, n, k)
    state.count[row, s] = c
    state.seed[row, s] = seed
    state.value[row, s] = value
    return out


@kernel
def macd_step(state, s, x):
    """MACD; reference: TA-Lib MACD. Returns `(macd, signal, hist)`, all NaN until the signal is set.

    As in TA-Lib, the fast EMA is seeded with the mean of the `fast` inputs ending where the slow
    EMA's seed ends (bar `slow - 1`), not at bar `fast - 1`. Inputs must be finite.
    """
    slow_v = _macd_ema(state, 0, s, x, state.slow, state.k_slow)
    fast_x = x if state.count[0, s] > state.slow - state.fast else np.nan
    fast_v = _macd_ema(state, 1, s, fast_x, state.fast, state.k_fast)
    m = fast_v - slow_v
    sig = _macd_ema(state, 2, s, m, state.signal, state.k_signal)
    if np.isnan(sig):
        m = np.nan
    return m, sig, m - sig


@kernel
def macd_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); `out` is `(macd, signal, hist)`."""
    for i in range(x.shape[0]):
        s = row_index(sym, i)
        m, sig, h = macd_step(state, s, x[i])
        out[0][s] = m
        out[1][s] = sig
        out[2][s] = h


@kernel
def _macd_rows(state, x, out_macd, out_signal, out_hist):
    for t in range(x.shape[0]):
        macd_update(state, None, x[t], (out_macd[t], out_signal[t], out_hist[t]))


def macd_batch(x, fast: int = 12, slow: int = 26, signal: int = 9, out=None):
    """MACD(fast, slow, signal) of a `(T,)` or `(T, N)` history: `(macd, signal, hist)`.

    Reference: TA-Lib `MACD`: macd = EMA_fast - EMA_slow, signal = EMA_signal(macd), hist = macd -
    signal, all NaN for the first `max(fast, slow) + signal - 2` bars. EMAs are SMA-seeded with
    k = 2 / (n + 1) and advanced as `fma(x - prev, k, prev)` (TA-Lib 0.8); the fast EMA's seed is
    the mean of the `fast` inputs ending at bar `slow - 1` (TA-Lib's rule). Equal to TA-Lib bit for
    bit. Inputs must be finite.
    """
    return run_rows(_macd_rows, lambda m: macd_init(m, fast, slow, signal), (x,), out, n_outputs=3)


# --- MOM / ROC ----------------------------------------------------------------------------------


class LagState(NamedTuple):
    """The last `n` inputs of every symbol: all MOM and ROC need to compare x[t] with x[t-n]."""

    n: int
    buf: np.ndarray  # last n inputs
    head: np.ndarray
    count: np.ndarray
    lock: np.ndarray


def _lag_init(n_symbols: int, n: int) -> LagState:
    n = check_period("n", n)
    return LagState(n, *window_arrays(n, n_symbols))


def mom_init(n_symbols: int, n: int = 10) -> LagState:
    """State for momentum over `n` bars."""
    return _lag_init(n_symbols, n)


@kernel
def _mom_next(state, s, x, slot, c):
    j = np.uint64(slot)  # unsigned, as `ring.row_index`: no negative-index wraparound
    old = state.buf[j, s]
    state.buf[j, s] = x
    return x - old if c > state.n else np.nan


@kernel
def mom_step(state, s, x):
    """Momentum x[t] - x[t-n]; reference: TA-Lib MOM. Inputs must be finite."""
    slot, c = ring_advance(state.head, state.count, state.lock, s, state.n)
    return _mom_next(state, s, x, slot, c)


@kernel
def mom_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    if sym is None and state.lock[0]:
        slot, c = ring_advance_all(state.head, state.count, state.n)
        for s in range(x.shape[0]):
            out[s] = _mom_next(state, s, x[s], slot, c)
    else:
        for i in range(x.shape[0]):
            s = row_index(sym, i)
            out[s] = mom_step(state, s, x[i])


@kernel
def _mom_rows(state, x, out):
    for t in range(x.shape[0]):
        mom_update(state, None, x[t], out[t])


def mom_batch(x, n: int = 10, out=None) -> np.ndarray:
    """MOM(n) = x[t] - x[t-n]; NaN for the first `n` bars.

    Reference: TA-Lib `MOM`. Inputs must be finite.
    """
    return run_rows(_mom_rows, lambda m: mom_init(m, n), (x,), out)


def roc_init(n_symbols: int, n: int = 10) -> LagState:
    """State for the rate of change over `n` bars, in percent."""
    return _lag_init(n_symbols, n)


@kernel
def _roc_next(state, s, x, slot, c):
    j = np.uint64(slot)  # unsigned, as `ring.row_index`: no negative-index wraparound
    old = state.buf[j, s]
    state.buf[j, s] = x
    roc = ((x / old) - 1.0) * 100.0 if old != 0.0 else 0.0
    return roc if c > state.n else np.nan


@kernel
def roc_step(state, s, x):
    """Rate of change ((x[t] / x[t-n]) - 1) * 100; reference: TA-Lib ROC. Inputs must be finite."""
    slot, c = ring_advance(state.head, state.count, state.lock, s, state.n)
    return _roc_next(state, s, x, slot, c)


@kernel
def roc_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    if sym is None and state.lock[0]:
        slot, c = ring_advance_all(state.head, state.count, state.n)
        for s in range(x.shape[0]):
            out[s] = _roc_next(state, s, x[s], slot, c)
    else:
        for i in range(x.shape[0]):
            s = row_index(sym, i)
            out[s] = roc_step(state, s, x[i])


@kernel
def _roc_rows(state, x, out):
    for t in range(x.shape[0]):
        roc_update(state, None, x[t], out[t])


def roc_batch(x, n: int = 10, out=None) -> np.ndarray:
    """ROC(n) = ((x[t] / x[t-n]) - 1) * 100, 0 where x[t-n] is 0; NaN for the first `n` bars.

    Reference: TA-Lib `ROC`. Inputs must be finite.
    """
    return run_rows(_roc_rows, lambda m: roc_init(m, n), (x,), out)


# --- STOCH --------------------------------------------------------------------------------------


# The SMA smoothing stages of STOCH and STOCHRSI. Each keeps an `[m, n_symbols]` ring indexed by
# the bar count (`_sma_slot`) and a compensated running sum.


def _sma_ring_length(p: int) -> int:
    """Ring length for SMA stages of windows up to `p`: the smallest power of two above `p`, so a
    slot is a bit mask of the count rather than a remainder (a division per symbol and bar)."""
    return 1 << p.bit_length()


@kernel
def _sma_slot(c, m):
    """Ring slot of the `c`-th value in an SMA stage ring of power-of-two length `m` (any `c`: the
    mask wraps negative counts too). Unsigned, which spares Numba's negative-index wraparound."""
    return np.uint64((c - 1) & (m - 1))


@kernel
def _sma_stage_core(total, comp, x, old, c, start, p):
    """One step of the compensated running sum behind an SMA(`p`) of a series whose first value
    arrives at count `start`: `x` is added from then on, and `old` (the value `p` bars back)
    dropped once the window is full. Returns `(total, comp)`; scalars only.
    """
    if c >= start:
        total, comp = neumaier_add(total, comp, x)
        if c - p >= start:
            total, comp = neumaier_add(total, comp, -old)
    return total, comp


@kernel
def _sma_stage_next(ring, total, comp, s, x, c, start, p):
    """Symbol `s`'s SMA stage for its `c`-th value `x`; returns `sum / p` (meaningful from count
    `start + p - 1` on). Loads, `_sma_stage_core`, stores."""
    m = ring.shape[0]
    t, e = _sma_stage_core(total[s], comp[s], x, ring[_sma_slot(c - p, m), s], c, start, p)
    ring[_sma_slot(c, m), s] = x
    total[s] = t
    comp[s] = e
    return (t + e) / p


@kernel
def _sma_stage_all(ring, total, comp, x, out, c, start, p):
    """`_sma_stage_next` for every symbol in lockstep, `x[s]` in and `out[s]` out.

    A loop of its own over a few arrays, so it vectorises (`x` and `out` must be distinct arrays).
    """
    for s in range(x.shape[0]):
        out[s] = _sma_stage_next(ring, total, comp, s, x[s], c, start, p)


class StochState(NamedTuple):
    fastk_period: int
    slowk_period: int
    slowd_period: int
    m: int  # length of the SMA rings: a power of two > max(slowk_period, slowd_period)
    high: np.ndarray  # fastk_period-slot ring of highs, block-folded for the rolling max (extrema)
    head: np.ndarray
    count: np.ndarray
    lock: np.ndarray
    low: np.ndarray  # same for the rolling min of lows
    high_block: np.ndarray
    low_block: np.ndarray
    fastk: np.ndarray  # [m, n_symbols] ring of fast %K, slot `_sma_slot(count, m)`
    slowk: np.ndarray  # [m, n_symbols] ring of slow %K
    k_total: np.ndarray
    k_comp: np.ndarray
    d_total: np.ndarray
    d_comp: np.ndarray


def stoch_init(n_symbols: int, fastk_period: int = 5, slowk_period: int = 3,
               slowd_period: int = 3) -> StochState:
    """State for the slow stochastic (SMA smoothing of %K and %D, TA-Lib's default MA type)."""
    fk = check_period("fastk_period", fastk_period)
    sk = check_period("slowk_period", slowk_period)
    sd = check_period("slowd_period", slowd_period)
    m = _sma_ring_length(max(sk, sd))
    z = _zeros
    return StochState(fk, sk, sd, m, *window_arrays(fk, n_symbols), _ring(fk, n_symbols),
                      _nans(n_symbols), _nans(n_symbols), _ring(m, n_symbols), _ring(m, n_symbols),
                      z(n_symbols), z(n_symbols), z(n_symbols), z(n_symbols))


@kernel
def _stoch_fast_k(state, s, high, low, close, slot, c):
    """Push the bar into the extreme rings; fast %K over the last `fastk_period` bars."""
    fk = state.fastk_period
    hh = window_extreme_next(state.high, state.high_block, s, high, slot, c, fk, True)
    ll = window_extreme_next(state.low, state.low_block, s, low, slot, c, fk, False)
    return _fast_k(close, ll, hh)


@kernel
def _stoch_smooth(state, s, k, c):
    """slowk = SMA(fast %K, slowk_period), slowd = SMA(slowk, slowd_period), NaN until both are set.

    Fast %K exists from count `fastk_period` on and slowk from `fastk_period + slowk_period - 1` on.
    """
    fk, sk, sd = state.fastk_period, state.slowk_period, state.slowd_period
    slowk = _sma_stage_next(state.fastk, state.k_total, state.k_comp, s, k, c, fk, sk)
    slowd = _sma_stage_next(state.slowk, state.d_total, state.d_comp, s, slowk, c, fk + sk - 1, sd)
    ready = c >= fk + sk + sd - 2
    return (slowk if ready else np.nan), (slowd if ready else np.nan)


@kernel
def _stoch_all(state, high, low, close, slowk, slowd, slot, c):
    """Lockstep STOCH in three vectorised passes: fast %K of every symbol (parked in `slowd`), then
    each SMA stage over all symbols. One loop doing all of it touched too many arrays to vectorise.
    """
    fk, sk, sd = state.fastk_period, state.slowk_period, state.slowd_period
    for s in range(high.shape[0]):
        slowd[s] = _stoch_fast_k(state, s, high[s], low[s], close[s], slot, c)
    _sma_stage_all(state.fastk, state.k_total, state.k_comp, slowd, slowk, c, fk, sk)
    _sma_stage_all(state.slowk, state.d_total, state.d_comp, slowk, slowd, c, fk + sk - 1, sd)
    if c < fk + sk + sd - 2:
        slowk[:] = np.nan
        slowd[:] = np.nan


@kernel
def stoch_step(state, s, high, low, close):
    """Slow stochastic `(slowk, slowd)`; reference: TA-Lib STOCH with SMA smoothing (matype 0).

    Inputs must be finite.
    """
    fk = state.fastk_period
    slot, c = ring_advance(state.head, state.count, state.lock, s, fk)
    k = _stoch_fast_k(state, s, high, low, close, slot, c)
    if slot == fk - 1:
        window_extreme_fold(state.high, s, fk, True)
        window_extreme_fold(state.low, s, fk, False)
    return _stoch_smooth(state, s, k, c)


@kernel
def stoch_update(state, sym, high, low, close, out):
    """Advance the symbols in `sym` (None = all, in row order); `out` is `(slowk, slowd)`."""
    fk = state.fastk_period
    high_buf, low_buf = state.high, state.low
    if sym is None and state.lock[0]:
        slot, c = ring_advance_all(state.head, state.count, fk)
        _stoch_all(state, high, low, close, out[0], out[1], slot, c)
        if slot == fk - 1:
            window_extreme_fold_all(high_buf, fk, True)
            window_extreme_fold_all(low_buf, fk, False)
    else:
        for i in range(high.shape[0]):
            s = row_index(sym, i)
            slot, c = ring_advance(state.head, state.count, state.lock, s, fk)
            k = _stoch_fast_k(state, s, high[i], low[i], close[i], slot, c)
            out[0][s], out[1][s] = _stoch_smooth(state, s, k, c)
            if slot == fk - 1:
                window_extreme_fold(high_buf, s, fk, True)
                window_extreme_fold(low_buf, s, fk, False)


@kernel
def _stoch_rows(state, high, low, close, out_k, out_d):
    for t in range(high.shape[0]):
        stoch_update(state, None, high[t], low[t], close[t], (out_k[t], out_d[t]))


def stoch_batch(high, low, close, fastk_period: int = 5, slowk_period: int = 3, slowd_period: int = 3,
                out=None):
    """Slow stochastic `(slowk, slowd)` of `(T,)` or `(T, N)` high/low/close histories.

    fastk = ((close - LL) / (HH - LL)) * 100 over `fastk_period` bars, 0 when the range is flat
    (|HH - LL| <= 1e-14 * (|HH| + |LL|), TA-Lib 0.8's rule); slowk = SMA(fastk, slowk_period);
    slowd = SMA(slowk, slowd_period), as compensated running sums. Both outputs are NaN for the
    first `(fastk_period - 1) + (slowk_period - 1) + (slowd_period - 1)` bars.
    Reference: TA-Lib `STOCH` with `slowk_matype = slowd_matype = 0` (SMA). Inputs must be finite.
    """
    return run_rows(_stoch_rows, lambda m: stoch_init(m, fastk_period, slowk_period, slowd_period),
                    (high, low, close), out, n_outputs=2)


# --- STOCHRSI -----------------------------------------------------------------------------------


class StochRsiState(NamedTuple):
    n: int
    fastk_period: int
    fastd_period: int
    m: int  # length of the %K ring: a power of two > fastd_period
    rsi_high: np.ndarray  # fastk_period-slot ring of RSI values, block-folded for the rolling max
    head: np.ndarray
    count: np.ndarray
    lock: np.ndarray
    rsi_low: np.ndarray  # the same values, folded for the rolling min
    high_block: np.ndarray
    low_block: np.ndarray
    fastk: np.ndarray  # [m, n_symbols] ring of fast %K, slot `_sma_slot(count, m)`
    prev: np.ndarray
    gain: np.ndarray
    loss: np.ndarray
    k_total: np.ndarray
    k_comp: np.ndarray


def stochrsi_init(n_symbols: int, n: int = 14, fastk_period: int = 5, fastd_period: int = 3) -> StochRsiState:
    """State for the stochastic RSI: a fast stochastic (SMA %D) of RSI(n)."""
    n = check_period("n", n, 2)
    fk = check_period("fastk_period", fastk_period)
    fd = check_period("fastd_period", fastd_period)
    m = _sma_ring_length(fd)
    z = _zeros
    return StochRsiState(n, fk, fd, m, *window_arrays(fk, n_symbols), _ring(fk, n_symbols),
                         _nans(n_symbols), _nans(n_symbols), _ring(m, n_symbols),
                         z(n_symbols), z(n_symbols), z(n_symbols), z(n_symbols), z(n_symbols))


@kernel
def _stochrsi_fast_k(state, s, x, slot, c):
    """RSI(n) of the bar, pushed into the extreme rings; fast %K of the last `fastk_period` RSIs.

    RSI is NaN for the first `n` bars; a window (so each block part of it) holds only valid values
    from count `n + fastk_period` on, the first %K.
    """
    fk = state.fastk_period
    r = rsi_next(state.prev, state.gain, state.loss, s, x, c, state.n)
    hh = window_extreme_next(state.rsi_high, state.high_block, s, r, slot, c, fk, True)
    ll = window_extreme_next(state.rsi_low, state.low_block, s, r, slot, c, fk, False)
    return _fast_k(r, ll, hh)


@kernel
def _stochrsi_smooth(state, s, k, c):
    """`(fastk, fastd = SMA(fastk, fastd_period))`, NaN until both are set (count n + fk + fd - 1)."""
    fd = state.fastd_period
    start_k = state.n + state.fastk_period
    fastd = _sma_stage_next(state.fastk, state.k_total, state.k_comp, s, k, c, start_k, fd)
    ready = c >= start_k + fd - 1
    return (k if ready else np.nan), (fastd if ready else np.nan)


@kernel
def _stochrsi_all(state, x, fastk, fastd, slot, c):
    """Lockstep STOCHRSI in two vectorised passes: fast %K of every symbol, then its SMA stage."""
    fd = state.fastd_period
    start_k = state.n + state.fastk_period
    for s in range(x.shape[0]):
        fastk[s] = _stochrsi_fast_k(state, s, x[s], slot, c)
    _sma_stage_all(state.fastk, state.k_total, state.k_comp, fastk, fastd, c, start_k, fd)
    if c < start_k + fd - 1:
        fastk[:] = np.nan
        fastd[:] = np.nan


@kernel
def stochrsi_step(state, s, x):
    """Stochastic RSI `(fastk, fastd)`; reference: TA-Lib STOCHRSI (STOCHF of RSI, SMA %D).

    Inputs must be finite.
    """
    fk = state.fastk_period
    slot, c = ring_advance(state.head, state.count, state.lock, s, fk)
    k = _stochrsi_fast_k(state, s, x, slot, c)
    if slot == fk - 1:
        window_extreme_fold(state.rsi_high, s, fk, True)
        window_extreme_fold(state.rsi_low, s, fk, False)
    return _stochrsi_smooth(state, s, k, c)


@kernel
def stochrsi_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); `out` is `(fastk, fastd)`."""
    fk = state.fastk_period
    high_buf, low_buf = state.rsi_high, state.rsi_low
    if sym is None and state.lock[0]:
        slot, c = ring_advance_all(state.head, state.count, fk)
        _stochrsi_all(state, x, out[0], out[1], slot, c)
        if slot == fk - 1:
            window_extreme_fold_all(high_buf, fk, True)
            window_extreme_fold_all(low_buf, fk, False)
    else:
        for i in range(x.shape[0]):
            s = row_index(sym, i)
            slot, c = ring_advance(state.head, state.count, state.lock, s, fk)
            k = _stochrsi_fast_k(state, s, x[i], slot, c)
            out[0][s], out[1][s] = _stochrsi_smooth(state, s, k, c)
            if slot == fk - 1:
                window_extreme_fold(high_buf, s, fk, True)
                window_extreme_fold(low_buf, s, fk, False)


@kernel
def _stochrsi_rows(state, x, out_k, out_d):
    for t in range(x.shape[0]):
        stochrsi_update(state, None, x[t], (out_k[t], out_d[t]))


def stochrsi_batch(x, n: int = 14, fastk_period: int = 5, fastd_period: int = 3, out=None):
    """Stochastic RSI `(fastk, fastd)` of a `(T,)` or `(T, N)` history.

    fastk = ((rsi - LL) / (HH - LL)) * 100 over the last `fastk_period` RSI(n) values, 0 when the
    range is flat (as STOCH); fastd = SMA(fastk, fastd_period). Both are NaN for the first
    `n + (fastk_period - 1) + (fastd_period - 1)` bars.
    Reference: TA-Lib `STOCHRSI` with `fastd_matype = 0` (SMA). Inputs must be finite.
    """
    return run_rows(_stochrsi_rows, lambda m: stochrsi_init(m, n, fastk_period, fastd_period), (x,), out,
                    n_outputs=2)


# --- WILLR --------------------------------------------------------------------------------------


class WillrState(NamedTuple):
    n: int
    high: np.ndarray  # n-slot ring of highs, block-folded for the rolling max (extrema)
    head: np.ndarray
    count: np.ndarray
    lock: np.ndarray
    low: np.ndarray  # same for the rolling min of lows
    high_block: np.ndarray
    low_block: np.ndarray


def willr_init(n_symbols: int, n: int = 14) -> WillrState:
    """State for Williams' %R over `n` bars (n >= 2, as TA-Lib)."""
    n = check_period("n", n, 2)
    return WillrState(n, *window_arrays(n, n_symbols), _ring(n, n_symbols),
                      _nans(n_symbols), _nans(n_symbols))


@kernel
def _willr_value(hh, ll, close):
    rng = hh - ll
    if is_zero_scaled(rng, abs(hh) + abs(ll)):
        return 0.0
    v = ((hh - close) / rng) * -100.0
    if v > 0.0:
        return 0.0
    return -100.0 if v < -100.0 else v


@kernel
def _willr_next(state, s, high, low, close, slot, c):
    hh = window_extreme_next(state.high, state.high_block, s, high, slot, c, state.n, True)
    ll = window_extreme_next(state.low, state.low_block, s, low, slot, c, state.n, False)
    return _willr_value(hh, ll, close) if c >= state.n else np.nan


@kernel
def willr_step(state, s, high, low, close):
    """Williams' %R, ((HH - close) / (HH - LL)) * -100; reference: TA-Lib WILLR. Inputs must be finite."""
    n = state.n
    slot, c = ring_advance(state.head, state.count, state.lock, s, n)
    v = _willr_next(state, s, high, low, close, slot, c)
    if slot == n - 1:
        window_extreme_fold(state.high, s, n, True)
        window_extreme_fold(state.low, s, n, False)
    return v


@kernel
def willr_update(state, sym, high, low, close, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    n = state.n
    high_buf, low_buf = state.high, state.low
    if sym is None and state.lock[0]:
        slot, c = ring_advance_all(state.head, state.count, n)
        for s in range(high.shape[0]):
            out[s] = _willr_next(state, s, high[s], low[s], close[s], slot, c)
        if slot == n - 1:
            window_extreme_fold_all(high_buf, n, True)
            window_extreme_fold_all(low_buf, n, False)
    else:
        for i in range(high.shape[0]):
            s = row_index(sym, i)
            slot, c = ring_advance(state.head, state.count, state.lock, s, n)
            out[s] = _willr_next(state, s, high[i], low[i], close[i], slot, c)
            if slot == n - 1:
                window_extreme_fold(high_buf, s, n, True)
                window_extreme_fold(low_buf, s, n, False)


@kernel
def _willr_rows(state, high, low, close, out):
    for t in range(high.shape[0]):
        willr_update(state, None, high[t], low[t], close[t], out[t])


def willr_batch(high, low, close, n: int = 14, out=None) -> np.ndarray:
    """Williams' %R(n) = ((HH - close) / (HH - LL)) * -100 over `n` bars; NaN for the first `n - 1` bars.

    As TA-Lib: 0 when the range is flat (|HH - LL| <= 1e-14 * (|HH| + |LL|)), and clamped to
    [-100, 0]. Reference: TA-Lib `WILLR`. Inputs must be finite.
    """
    return run_rows(_willr_rows, lambda m: willr_init(m, n), (high, low, close), out)


# --- CCI ----------------------------------------------------------------------------------------


class CciState(NamedTuple):
    n: int
    buf: np.ndarray  # ring of typical prices
    head: np.ndarray
    count: np.ndarray
    lock: np.ndarray


def cci_init(n_symbols: int, n: int = 14) -> CciState:
    """State for the commodity channel index over `n` bars (n >= 2, as TA-Lib)."""
    n = check_period("n", n, 2)
    return CciState(n, *window_arrays(n, n_symbols))


_CCI_BLOCK = 256  # symbols per block of the lockstep path: a block of the ring stays in L1/L2


@kernel
def _cci_window(buf, s, n):
    """Mean and mean absolute deviation of symbol `s`'s window of typical prices.

    The deviation needs the whole window anyway, so the mean is re-summed each bar (no drift), in
    ring-slot order, which is TA-Lib's circular-buffer order: the results are TA-Lib's to the bit.
    In the warm-up the ring still holds NaN and so do these; they are not used.
    """
    total = 0.0
    for j in range(n):
        total += buf[j, s]
    mean = total / n
    dev = 0.0
    for j in range(n):
        dev += abs(buf[j, s] - mean)
    return mean, dev / n


@kernel
def _cci_push(buf, s, high, low, close, slot):
    """Write the bar's typical price into symbol `s`'s ring and return it."""
    tp = (high + low + close) / 3.0
    buf[slot, s] = tp
    return tp


@kernel
def _cci_value(tp, mean, dev, c, n):
    """CCI of the bar from its typical price and its window's mean and mean deviation; TA-Lib's zero
    rule for a flat window. Straight-line, so the lockstep loop vectorises."""
    num = tp - mean
    scale = abs(mean)
    flat = is_zero_scaled(num, scale) | is_zero_scaled(dev, scale)
    v = 0.0 if flat else num / (0.015 * dev)
    return np.nan if c < n else v


@kernel
def _cci_all(buf, slot, c, n, out):
    """Lockstep CCI of every symbol once the bar is pushed: `_cci_window` and `_cci_value` run over
    blocks of symbols row by row (vectorised) instead of one symbol's column at a time.

    Each symbol's sums keep their order, so the results are the same to the bit. Column by column,
    every symbol waited on two chains of `n` dependent additions (336 µs per call at 10,000 symbols).
    Columns are unsigned offsets, which spares Numba's negative-index wraparound (2.5x faster).
    """
    n_symbols = out.shape[0]
    mean = np.empty(_CCI_BLOCK)
    dev = np.empty(_CCI_BLOCK)
    for start in range(0, n_symbols, _CCI_BLOCK):
        first = np.uint64(start)
        m = np.uint64(min(_CCI_BLOCK, n_symbols - start))
        for b in range(m):
            mean[b] = 0.0
            dev[b] = 0.0
        for j in range(n):
            for b in range(m):
                mean[b] += buf[j, first + b]
        for b in range(m):
            mean[b] /= n
        for j in range(n):
            for b in range(m):
                dev[b] += abs(buf[j, first + b] - mean[b])
        for b in range(m):
            s = first + b
            out[s] = _cci_value(buf[slot, s], mean[b], dev[b] / n, c, n)


@kernel
def _cci_columns(buf, head, count, sym, n, out):
    """CCI of the symbols in `sym` (None = all) from their windows as they stand, one column each.

    A loop of its own, after the bars are pushed, with `_cci_window`'s loops written out (LLVM
    keeps that call, unrolled, out of line): kept small, the processor overlaps one symbol's
    chains of dependent additions with the next symbol's (1.3x faster than either a call per
    symbol or pushing in the same loop). A symbol listed twice gets its final window's value at
    both places, which `cci_step` would have written last.
    """
    for i in range(out.shape[0] if sym is None else sym.shape[0]):
        s = row_index(sym, i)
        total = 0.0
        for j in range(n):
            total += buf[j, s]
        mean = total / n
        dev = 0.0
        for j in range(n):
            dev += abs(buf[j, s] - mean)
        out[s] = _cci_value(buf[slot_ago(head[s], 1, n), s], mean, dev / n, count[s], n)


@kernel
def cci_step(state, s, high, low, close):
    """Commodity channel index; reference: TA-Lib CCI. Inputs must be finite."""
    n = state.n
    slot, c = ring_advance(state.head, state.count, state.lock, s, n)
    tp = _cci_push(state.buf, s, high, low, close, slot)
    mean, dev = _cci_window(state.buf, s, n)
    return _cci_value(tp, mean, dev, c, n)


@kernel
def cci_update(state, sym, high, low, close, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring.

    Every bar is pushed first, then the outputs are computed from the windows.
    """
    n = state.n
    buf = state.buf
    if sym is None and state.lock[0]:
        slot, c = ring_advance_all(state.head, state.count, n)
        for s in range(high.shape[0]):
            _cci_push(buf, s, high[s], low[s], close[s], slot)
        _cci_all(buf, slot, c, n, out)
    else:
        for i in range(high.shape[0]):
            s = row_index(sym, i)
            slot, c = ring_advance(state.head, state.count, state.lock, s, n)
            _cci_push(buf, s, high[i], low[i], close[i], slot)
        _cci_columns(buf, state.head, state.count, sym, n, out)


@kernel
def _cci_rows(state, high, low, close, out):
    for t in range(high.shape[0]):
        cci_update(state, None, high[t], low[t], close[t], out[t])


def cci_batch(high, low, close, n: int = 14, out=None) -> np.ndarray:
    """CCI(n) = (tp - SMA(tp)) / (0.015 * mean |tp - SMA(tp)|), tp = (high + low + close) / 3.

    As TA-Lib: 0 when the numerator or the mean deviation is within 1e-14 of |SMA(tp)| (a flat
    window); NaN for the first `n - 1` bars.
    Reference: TA-Lib `CCI` (reproduced to the bit: same summation order). Inputs must be finite.
    """
    return run_rows(_cci_rows, lambda m: cci_init(m, n), (high, low, close), out)


# --- MFI ----------------------------------------------------------------------------------------


class MfiState(NamedTuple):
    n: int
    pos_flow: np.ndarray  # ring of positive money flows (0 when the bar's flow was not positive)
    head: np.ndarray
    count: np.ndarray
    lock: np.ndarray
    neg_flow: np.ndarray  # ring of negative money flows (as magnitudes)
    prev: np.ndarray  # previous typical price
    null_run: np.ndarray  # int64: consecutive bars without money flow
    pos: np.ndarray
    pos_comp: np.ndarray
    neg: np.ndarray
    neg_comp: np.ndarray


def mfi_init(n_symbols: int, n: int = 14) -> MfiState:
    """State for the money flow index over `n` bars (n >= 2, as TA-Lib)."""
    n = check_period("n", n, 2)
    z = _zeros
    return MfiState(n, *window_arrays(n, n_symbols), _ring(n, n_symbols), z(n_symbols), _counts(n_symbols),
                    z(n_symbols), z(n_symbols), z(n_symbols), z(n_symbols))


@kernel
def _mfi_next(state, s, high, low, close, volume, slot, c):
    n = state.n
    tp = (high + low + close) / 3.0
    prev = state.prev[s]
    old_pos = state.pos_flow[slot, s]
    old_neg = state.neg_flow[slot, s]
    p, pe = state.pos[s], state.pos_comp[s]
    q, qe = state.neg[s], state.neg_comp[s]
    run = state.null_run[s]
    d = tp - prev
    # TA-Lib: a move within ~90 ulp of the two typical prices is no move; a flat bar has no flow.
    mf = 0.0 if c == 1 or is_zero_scaled(d, abs(tp) + abs(prev)) else tp * volume
    nf = mf if d < 0.0 else 0.0
    pf = mf - nf  # mf or exactly 0: no second branch on the direction (mispredicted half the time)
    if c > n:
        p, pe = neumaier_add(p, pe, -old_pos)
        q, qe = neumaier_add(q, qe, -old_neg)
    p, pe = neumaier_add(p, pe, pf)
    q, qe = neumaier_add(q, qe, nf)
    if c > 1:
        run = run + 1 if mf == 0.0 else 0
        if run >= n:  # every flow in the window is 0: the sums are exactly 0 (TA-Lib's rule)
            run = n
            p = pe = q = qe = 0.0
    state.prev[s] = tp
    state.pos_flow[slot, s] = pf
    state.neg_flow[slot, s] = nf
    state.pos[s], state.pos_comp[s] = p, pe
    state.neg[s], state.neg_comp[s] = q, qe
    state.null_run[s] = run
    out = np.nan
    if c > n:
        pos = p + pe
        total = pos + (q + qe)
        if total <= 0.0:
            out = 0.0
        else:
            pos = min(max(pos, 0.0), total)
            out = 100.0 * (pos / total)
    return out


@kernel
def mfi_step(state, s, high, low, close, volume):
    """Money flow index; reference: TA-Lib MFI (0 when the window has no money flow).

    Inputs must be finite; volume must be >= 0.
    """
    slot, c = ring_advance(state.head, state.count, state.lock, s, state.n)
    return _mfi_next(state, s, high, low, close, volume, slot, c)


@kernel
def mfi_update(state, sym, high, low, close, volume, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    if sym is None and state.lock[0]:
        slot, c = ring_advance_all(state.head, state.count, state.n)
        for s in range(high.shape[0]):
            out[s] = _mfi_next(state, s, high[s], low[s], close[s], volume[s], slot, c)
    else:
        for i in range(high.shape[0]):
            s = row_index(sym, i)
            out[s] = mfi_step(state, s, high[i], low[i], close[i], volume[i])


@kernel
def _mfi_rows(state, high, low, close, volume, out):
    for t in range(high.shape[0]):
        mfi_update(state, None, high[t], low[t], close[t], volume[t], out[t])


def mfi_batch(high, low, close, volume, n: int = 14, out=None) -> np.ndarray:
    """MFI(n) = 100 * positive flow / total flow over the last `n` typical-price changes.

    Money flow is tp * volume (tp = (high + low + close) / 3), positive when tp rose, negative when
    it fell, none when it moved less than 1e-14 * (|tp| + |previous tp|); 0 when the window has no
    flow. NaN for the first `n` bars. Reference: TA-Lib `MFI` (0.8: no "total < 1" rule any more).
    Inputs must be finite; volume must be >= 0. Sums are compensated.
    """
    return run_rows(_mfi_rows, lambda m: mfi_init(m, n), (high, low, close, volume), out)


# --- Catalog ------------------------------------------------------------------------------------

_HLC = ("high", "low", "close")

SPECS = (
    KernelSpec("rsi", ("x",), (("n", 14),), ("rsi",), lambda n: (n,), rsi_init, rsi_update, rsi_step,
               rsi_batch, "TA-Lib RSI"),
    KernelSpec("macd", ("x",), (("fast", 12), ("slow", 26), ("signal", 9)), ("macd", "signal", "hist"),
               lambda fast, slow, signal: (max(fast, slow) + signal - 2,) * 3,
               macd_init, macd_update, macd_step, macd_batch, "TA-Lib MACD"),
    KernelSpec("roc", ("x",), (("n", 10),), ("roc",), lambda n: (n,), roc_init, roc_update, roc_step,
               roc_batch, "TA-Lib ROC"),
    KernelSpec("mom", ("x",), (("n", 10),), ("mom",), lambda n: (n,), mom_init, mom_update, mom_step,
               mom_batch, "TA-Lib MOM"),
    KernelSpec("stoch", _HLC, (("fastk_period", 5), ("slowk_period", 3), ("slowd_period", 3)),
               ("slowk", "slowd"),
               lambda fastk_period, slowk_period, slowd_period:
                   (fastk_period + slowk_period + slowd_period - 3,) * 2,
               stoch_init, stoch_update, stoch_step, stoch_batch, "TA-Lib STOCH (SMA smoothing)"),
    KernelSpec("stochrsi", ("x",), (("n", 14), ("fastk_period", 5), ("fastd_period", 3)), ("fastk", "fastd"),
               lambda n, fastk_period, fastd_period: (n + fastk_period + fastd_period - 2,) * 2,
               stochrsi_init, stochrsi_update, stochrsi_step, stochrsi_batch, "TA-Lib STOCHRSI (SMA fastd)"),
    KernelSpec("willr", _HLC, (("n", 14),), ("willr",), lambda n: (n - 1,), willr_init, willr_update,
               willr_step, willr_batch, "TA-Lib WILLR"),
    KernelSpec("cci", _HLC, (("n", 14),), ("cci",), lambda n: (n - 1,), cci_init, cci_update, cci_step,
               cci_batch, "TA-Lib CCI"),
    KernelSpec("mfi", (*_HLC, "volume"), (("n", 14),), ("mfi",), lambda n: (n,), mfi_init, mfi_update,
               mfi_step, mfi_batch, "TA-Lib MFI"),
)
