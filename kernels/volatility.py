"""Volatility: TRANGE, ATR, NATR, ADX (+DI, -DI), STDDEV, VAR, BBANDS, and pandas' rolling std.

Same conventions as `ma.py` (see its module docstring and DESIGN.md, "Kernels"). Kernels over
bars take `high, low, close`; the windowed ones (STDDEV, VAR, BBANDS) keep a per-symbol ring and
take the shared-slot path while every symbol advances together. ROLLING_STD is pandas'
`rolling(n).std()`, the sample standard deviation (ddof=1), where TA-Lib's STDDEV is the
population one: the same window moments, scaled by sqrt(n / (n - 1)).

Window variance: TA-Lib's classic `mean(x^2) - mean(x)^2` from running sums of `x` and `x^2`
cancels catastrophically at prices ~30,000. Here each symbol keeps running sums of `x - K` and
`(x - K)^2` around a shift `K` taken from its own inputs. Whenever the symbol's count is a
multiple of `n` (the window has fully turned over), after that bar's output, `K` becomes the
newest input and both sums are recomputed exactly from the ring, so rounding error never builds
up over more than `n` updates. The sums also carry a bound on their rounding error; a bar whose
variance that bound could spoil (a small variance just after a large move left the window, or a
flat window) re-sums first. Both rules depend only on the symbol's own history, so the per-symbol
and the lockstep paths give bit-identical results.

Speed follows `ma.py`'s performance rule: per-symbol code loads a symbol's state into scalars, runs
a scalar core (`_atr_core`, `_adx_core`, `_moments_core`) and stores the state back. The lockstep
loops are kept free of calls and of branches around divisions and square roots, so that LLVM
vectorises them; those operations dominate otherwise. ADX takes such a loop once every symbol is
past its warm-up; the window moments flag the symbols to re-sum in theirs and re-sum only those in
a second pass, and re-centre in blocks of symbols.
"""

import math
from typing import NamedTuple

import numpy as np

from ._jit import kernel
from ._shape import run_rows
from .catalog import KernelSpec
from .ma import check_period, wilder_core
from .ring import ring_advance, ring_advance_all, row_index, window_arrays

__all__ = [
    "AdxState", "AtrState", "BbandsState", "StddevState", "TrangeState", "VarState",
    "adx_batch", "adx_init", "adx_step", "adx_update",
    "atr_batch", "atr_init", "atr_step", "atr_update",
    "bbands_batch", "bbands_init", "bbands_step", "bbands_update",
    "natr_batch", "natr_init", "natr_step", "natr_update",
    "rolling_std_batch", "rolling_std_init", "rolling_std_step", "rolling_std_update",
    "stddev_batch", "stddev_init", "stddev_step", "stddev_update",
    "trange_batch", "trange_init", "trange_step", "trange_update",
    "var_batch", "var_init", "var_step", "var_update",
]


def _zeros(n_symbols: int) -> np.ndarray:
    return np.zeros(n_symbols)


def _counts(n_symbols: int) -> np.ndarray:
    return np.zeros(n_symbols, dtype=np.int64)


def _check_float(name: str, value: float) -> float:
    """Return `value` as a float, or raise a ValueError naming the parameter."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return v


@kernel
def _true_range(high, low, prev_close):
    """TA-Lib's true range, `max(high - low, |prev_close - high|, |prev_close - low|)`, in its order."""
    tr = high - low
    v = abs(prev_close - high)
    if v > tr:
        tr = v
    v = abs(prev_close - low)
    if v > tr:
        tr = v
    return tr


@kernel
def _advance_bar(count, prev_close, s, close):
    """Count a bar for symbol `s` and remember its close; return `(new count, previous close)`."""
    c = count[s] + 1
    count[s] = c
    yc = prev_close[s]
    prev_close[s] = close
    return c, yc


# --- TRANGE ---------------------------------------------------------------------------------


class TrangeState(NamedTuple):
    count: np.ndarray
    prev_close: np.ndarray


def trange_init(n_symbols: int) -> TrangeState:
    """State for the true range of `n_symbols` symbols."""
    return TrangeState(_counts(n_symbols), _zeros(n_symbols))


@kernel
def trange_step(state, s, high, low, close):
    """True range; reference: TA-Lib TRANGE. Inputs must be finite."""
    c, yc = _advance_bar(state.count, state.prev_close, s, close)
    return np.nan if c == 1 else _true_range(high, low, yc)


@kernel
def trange_update(state, sym, high, low, close, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    for i in range(high.shape[0]):
        s = row_index(sym, i)
        out[s] = trange_step(state, s, high[i], low[i], close[i])


@kernel
def _trange_rows(state, high, low, close, out):
    for t in range(high.shape[0]):
        trange_update(state, None, high[t], low[t], close[t], out[t])


def trange_batch(high, low, close, out=None) -> np.ndarray:
    """True range `max(high, prev close) - min(low, prev close)`; NaN for the first bar.

    Reference: TA-Lib `TRANGE`. Inputs must be finite.
    """
    return run_rows(_trange_rows, trange_init, (high, low, close), out)


# --- ATR / NATR -----------------------------------------------------------------------------


class AtrState(NamedTuple):
    """True range fed into Wilder's smoothing; shared by ATR and NATR."""

    n: int
    count: np.ndarray  # bars seen (one more than the true ranges)
    prev_close: np.ndarray
    value: np.ndarray  # sum of the true ranges while there are fewer than n, then the ATR


def atr_init(n_symbols: int, n: int = 14) -> AtrState:
    """State for the average true range of period `n`."""
    n = check_period("n", n)
    return AtrState(n, _counts(n_symbols), _zeros(n_symbols), _zeros(n_symbols))


@kernel
def _atr_core(c, prev_close, value, high, low, n):
    """One ATR step on scalars: the `c`-th bar → `(value, output)`.

    Wilder's smoothing (`ma.wilder_core`) of the true range, which starts at the second bar. One
    state value is `wilder_core`'s seed (the sum of the true ranges) during the warm-up and its
    value (the ATR) after: a step then touches one array fewer, which the per-symbol path feels.
    """
    if c == 1:
        return value, np.nan
    seed, atr, out = wilder_core(c - 1, value, value, _true_range(high, low, prev_close), n)
    return (seed if c <= n else atr), out


@kernel
def _atr_next(count, prev_close, value, s, high, low, close, n):
    """One ATR step for symbol `s` on bare arrays: load its state, `_atr_core`, store it back."""
    c = count[s] + 1
    new_value, out = _atr_core(c, prev_close[s], value[s], high, low, n)
    count[s] = c
    prev_close[s] = close
    value[s] = new_value
    return out


@kernel
def atr_step(state, s, high, low, close):
    """Average true range (Wilder); reference: TA-Lib ATR. Inputs must be finite."""
    return _atr_next(state.count, state.prev_close, state.value, s, high, low, close, state.n)


@kernel
def atr_update(state, sym, high, low, close, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    for i in range(high.shape[0]):
        s = row_index(sym, i)
        out[s] = atr_step(state, s, high[i], low[i], close[i])


@kernel
def _atr_rows(state, high, low, close, out):
    for t in range(high.shape[0]):
        atr_update(state, None, high[t], low[t], close[t], out[t])


def atr_batch(high, low, close, n: int = 14, out=None) -> np.ndarray:
    """ATR(n): the mean of the first `n` true ranges, then `(prev * (n - 1) + tr) / n`.

    Reference: TA-Lib `ATR`. NaN for the first `n` bars. Inputs must be finite.
    """
    return run_rows(_atr_rows, lambda m: atr_init(m, n), (high, low, close), out)


def natr_init(n_symbols: int, n: int = 14) -> AtrState:
    """State for the normalised average true range of period `n`."""
    return atr_init(n_symbols, n)


@kernel
def _normalised(atr, close, n):
    """NATR from the ATR: `100 * atr / close`, 0 where close is 0, NaN while the ATR is.

    The quotient is taken whatever the case and then selected, so the lockstep loop vectorises.
    """
    natr = (atr / close) * 100.0
    if close == 0.0:  # TA-Lib 0.8: an exact test (older releases used |close| < 1e-8)
        natr = 0.0
    if n == 1 or np.isnan(atr):
        natr = atr  # TA-Lib's NATR with period 1 returns the true range itself, not normalised
    return natr


@kernel
def natr_step(state, s, high, low, close):
    """Normalised ATR, 100 * ATR / close; reference: TA-Lib NATR. Inputs must be finite."""
    return _normalised(atr_step(state, s, high, low, close), close, state.n)


@kernel
def natr_update(state, sym, high, low, close, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    for i in range(high.shape[0]):
        s = row_index(sym, i)
        out[s] = natr_step(state, s, high[i], low[i], close[i])


@kernel
def _natr_rows(state, high, low, close, out):
    for t in range(high.shape[0]):
        natr_update(state, None, high[t], low[t], close[t], out[t])


def natr_batch(high, low, close, n: int = 14, out=None) -> np.ndarray:
    """NATR(n) = 100 * ATR(n) / close (0 where close is 0); NaN for the first `n` bars.

    Reference: TA-Lib `NATR`, including its quirk that period 1 returns the unnormalised true
    range. Inputs must be finite.
    """
    return run_rows(_natr_rows, lambda m: natr_init(m, n), (high, low, close), out)


# --- ADX / +DI / -DI --------------------------------------------------------------------------


class AdxState(NamedTuple):
    n: int
    count: np.ndarray
    prev_high: np.ndarray
    prev_low: np.ndarray
    prev_close: np.ndarray
    plus_dm: np.ndarray  # smoothed +DM (a Wilder sum, not a mean)
    minus_dm: np.ndarray
    tr: np.ndarray  # smoothed true range
    adx: np.ndarray  # sum of DX from bar n until bar 2n-1, then the ADX


def adx_init(n_symbols: int, n: int = 14) -> AdxState:
    """State for the average directional index and the directional indicators of period `n`."""
    n = check_period("n", n, 2)
    z = _zeros
    return AdxState(n, _counts(n_symbols), z(n_symbols), z(n_symbols), z(n_symbols), z(n_symbols),
                    z(n_symbols), z(n_symbols), z(n_symbols))


@kernel
def _directional_movement(high, low, prev_high, prev_low):
    """TA-Lib's `(+DM, -DM)` of a bar: the larger move beyond the previous bar's range, if positive."""
    diff_p = high - prev_high
    diff_m = prev_low - low
    if diff_m > 0 and diff_p < diff_m:
        return 0.0, diff_m
    if diff_p > 0 and diff_p > diff_m:
        return diff_p, 0.0
    return 0.0, 0.0


@kernel
def _wilder_sum(total, x, n):
    """Wilder's running sum of period `n` (TA-Lib's smoothed DM and TR): `total - total / n + x`."""
    return total - total / n + x


@kernel
def _directional_indexes(p, m, t):
    """`(+DI, -DI, DX)` from the smoothed +DM, -DM and true range; DX is NaN where undefined.

    Both DI are 0 where the smoothed true range is 0 (TA-Lib 0.8 tests exactly against 0; older
    releases used |v| < 1e-8), and DX is undefined there and where both DI are 0.
    """
    plus_di = 0.0
    minus_di = 0.0
    dx = np.nan
    if t != 0.0:
        plus_di = 100.0 * (p / t)
        minus_di = 100.0 * (m / t)
        total = minus_di + plus_di
        if total != 0.0:
            dx = 100.0 * (abs(minus_di - plus_di) / total)
    return plus_di, minus_di, dx


@kernel
def _adx_average(adx, dx, n):
    """Wilder's average of DX, `(adx * (n - 1) + dx) / n`; a bar with an undefined DX leaves it."""
    return adx if np.isnan(dx) else (adx * (n - 1) + dx) / n


@kernel
def _adx_core(c, n, high, low, prev_high, prev_low, prev_close, p, m, t, adx):
    """One ADX step on scalars: the `c`-th bar and the state `p, m, t` (smoothed +DM, -DM, true
    range) and `adx` → `(p, m, t, adx, ADX, +DI, -DI)`.

    Bars 1..n-1 sum +DM, -DM and the true range; from bar n they are Wilder sums and give +DI and
    -DI. `adx` sums DX over bars n..2n-1, whose mean at bar 2n-1 seeds Wilder's average of DX.
    """
    if c == 1:
        return p, m, t, adx, np.nan, np.nan, np.nan
    pdm, mdm = _directional_movement(high, low, prev_high, prev_low)
    tr = _true_range(high, low, prev_close)
    if c <= n:
        return p + pdm, m + mdm, t + tr, adx, np.nan, np.nan, np.nan
    p = _wilder_sum(p, pdm, n)
    m = _wilder_sum(m, mdm, n)
    t = _wilder_sum(t, tr, n)
    plus_di, minus_di, dx = _directional_indexes(p, m, t)
    if c > 2 * n:
        adx = _adx_average(adx, dx, n)
    else:
        if not np.isnan(dx):
            adx += dx
        if c < 2 * n:
            return p, m, t, adx, np.nan, plus_di, minus_di
        adx = adx / n
    return p, m, t, adx, adx, plus_di, minus_di


@kernel
def adx_step(state, s, high, low, close):
    """`(ADX, +DI, -DI)`; reference: TA-Lib ADX, PLUS_DI, MINUS_DI. Inputs must be finite.

    +DI and -DI start at bar `n`, ADX at bar `2n - 1`.
    """
    c = state.count[s] + 1
    p, m, t, adx, out_adx, plus_di, minus_di = _adx_core(
        c, state.n, high, low, state.prev_high[s], state.prev_low[s], state.prev_close[s],
        state.plus_dm[s], state.minus_dm[s], state.tr[s], state.adx[s])
    state.count[s] = c
    state.prev_high[s] = high
    state.prev_low[s] = low
    state.prev_close[s] = close
    state.plus_dm[s] = p
    state.minus_dm[s] = m
    state.tr[s] = t
    state.adx[s] = adx
    return out_adx, plus_di, minus_di


@kernel
def _all_counts_at_least(count, c):
    """Whether every symbol has seen at least `c` bars (a min-reduction, so it vectorises)."""
    lowest = c
    for s in range(count.shape[0]):
        lowest = min(lowest, count[s])
    return lowest >= c


@kernel
def _adx_steady_all(state, high, low, close, out_adx, out_plus, out_minus):
    """Advance every symbol one bar once all are past the warm-up (count >= 2n): `_adx_core`'s
    last case alone. Free of the warm-up branches, the loop vectorises: its seven divisions per
    symbol dominate, and scalar they made the lockstep ADX ~4x slower."""
    n = state.n
    count, prev_high, prev_low, prev_close = state.count, state.prev_high, state.prev_low, state.prev_close
    plus_dm, minus_dm, tr, adx = state.plus_dm, state.minus_dm, state.tr, state.adx
    for s in range(high.shape[0]):
        h = high[s]
        lo = low[s]
        pdm, mdm = _directional_movement(h, lo, prev_high[s], prev_low[s])
        p = _wilder_sum(plus_dm[s], pdm, n)
        m = _wilder_sum(minus_dm[s], mdm, n)
        t = _wilder_sum(tr[s], _true_range(h, lo, prev_close[s]), n)
        plus_di, minus_di, dx = _directional_indexes(p, m, t)
        a = _adx_average(adx[s], dx, n)
        count[s] += 1
        prev_high[s] = h
        prev_low[s] = lo
        prev_close[s] = close[s]
        plus_dm[s] = p
        minus_dm[s] = m
        tr[s] = t
        adx[s] = a
        out_adx[s] = a
        out_plus[s] = plus_di
        out_minus[s] = minus_di


@kernel
def adx_update(state, sym, high, low, close, out):
    """Advance the symbols in `sym` (None = all, in row order); `out` is `(adx, plus_di, minus_di)`."""
    out_adx, out_plus, out_minus = out
    if sym is None and _all_counts_at_least(state.count, 2 * state.n):
        _adx_steady_all(state, high, low, close, out_adx, out_plus, out_minus)
    else:
        for i in range(high.shape[0]):
            s = row_index(sym, i)
            out_adx[s], out_plus[s], out_minus[s] = adx_step(state, s, high[i], low[i], close[i])


@kernel
def _adx_rows(state, high, low, close, out_adx, out_plus, out_minus):
    for t in range(high.shape[0]):
        adx_update(state, None, high[t], low[t], close[t], (out_adx[t], out_plus[t], out_minus[t]))


def adx_batch(high, low, close, n: int = 14, out=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(ADX, +DI, -DI)` of period `n` (n >= 2): +DI/-DI from bar `n`, ADX from bar `2n - 1`.

    Reference: TA-Lib `ADX`, `PLUS_DI` and `MINUS_DI` (DI is 0 where the smoothed true range is
    0; bars with an undefined DX leave the ADX unchanged). Inputs must be finite.
    """
    return run_rows(_adx_rows, lambda m: adx_init(m, n), (high, low, close), out, n_outputs=3)


# --- Window moments: VAR / STDDEV / BBANDS ----------------------------------------------------


class VarState(NamedTuple):
    n: int
    buf: np.ndarray
    head: np.ndarray
    count: np.ndarray
    lock: np.ndarray
    shift: np.ndarray  # K, an input of the window at the last re-sum
    s1: np.ndarray  # sum of x - K over the window
    s2: np.ndarray  # sum of (x - K)^2 over the window
    mag1: np.ndarray  # magnitudes s1 has accumulated since the last re-sum: bounds its rounding error
    mag2: np.ndarray  # ... and s2


class StddevState(NamedTuple):
    n: int
    nbdev: float
    buf: np.ndarray
    head: np.ndarray
    count: np.ndarray
    lock: np.ndarray
    shift: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    mag1: np.ndarray
    mag2: np.ndarray


class BbandsState(NamedTuple):
    n: int
    nbdevup: float
    nbdevdn: float
    buf: np.ndarray
    head: np.ndarray
    count: np.ndarray
    lock: np.ndarray
    shift: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    mag1: np.ndarray
    mag2: np.ndarray


def _moment_arrays(n: int, n_symbols: int):
    return (*window_arrays(n, n_symbols), *(np.zeros(n_symbols) for _ in range(5)))


@kernel
def _sums(state):
    """The state's running-sum arrays as one tuple, `(shift, s1, s2, mag1, mag2)`.

    The helpers below take bare arrays rather than the state: a call passing the state costs
    reference counting on every one of its arrays and keeps it from being inlined.
    """
    return state.shift, state.s1, state.s2, state.mag1, state.mag2


_ULP2 = 2.0**-52  # twice the unit roundoff: bounds the relative rounding error of one operation
_VAR_RTOL = 1e-12  # re-sum exactly when the variance may be less accurate than this


@kernel
def _moments_core(c, n, x, old, k, s1, s2, a1, a2):
    """One window-moments step on scalars: the `c`-th input `x` (evicting `old` once the window is
    full) into the sums `s1`, `s2` of `x - k` and `(x - k)^2` and their error bounds `a1`, `a2`.

    Returns `(s1, s2, a1, a2, mean, variance, needs_resum)`: mean and population variance come from
    the sums (NaN until the window is full); `needs_resum` says the sums' rounding-error bound could
    make that variance less accurate than `_VAR_RTOL` (a small variance just after large moves left
    the window, or a flat window, which re-summed gives exactly 0, or a negative variance), so it
    must be re-summed before use.
    """
    d = x - k
    a1 = a1 + abs(s1) + abs(d)
    a2 = a2 + s2 + d * d
    s1 += d
    s2 += d * d
    if c > n:
        e = old - k
        a1 += abs(s1) + abs(e)
        a2 += s2 + e * e
        s1 -= e
        s2 -= e * e
    if c < n:
        return s1, s2, a1, a2, np.nan, np.nan, False
    m = s1 / n
    v = s2 / n - m * m
    return s1, s2, a1, a2, k + m, v, _ULP2 * (a2 + 2.0 * abs(m) * a1) > _VAR_RTOL * n * v


@kernel
def _moments_push(buf, sums, s, x, slot, c, n):
    """Push `x` into symbol `s`'s window slot and running sums (load, `_moments_core`, store);
    return `(mean, variance, needs_resum)`. The caller sets the shift `K` at the first input.

    Straight-line and inlined into the update loops, so its array accesses cost no reference
    counting and the lockstep loop vectorises.
    """
    shift, sum1, sum2, mag1, mag2 = sums
    old = buf[slot, s]
    buf[slot, s] = x
    s1, s2, a1, a2, mean, v, needed = _moments_core(c, n, x, old, shift[s], sum1[s], sum2[s], mag1[s],
                                                    mag2[s])
    sum1[s] = s1
    sum2[s] = s2
    mag1[s] = a1
    mag2[s] = a2
    return mean, v, needed


@kernel
def _resum(buf, sums, s, k, n):
    """Recompute symbol `s`'s sums from its full window around `k`, an input of that window;
    return the window's `(mean, variance)`.

    `x - k` is exact for inputs within a factor 2 of each other (Sterbenz), and with `k` inside
    the window the variance loses at most ~2n ulps to cancellation. `_recentre_all` repeats these
    operations in the same order for every symbol at once.
    """
    shift, sum1, sum2, mag1, mag2 = sums
    s1 = 0.0
    s2 = 0.0
    a1 = 0.0
    for j in range(n):
        d = buf[j, s] - k
        s1 += d
        s2 += d * d
        a1 += abs(d)
    shift[s] = k
    sum1[s] = s1
    sum2[s] = s2
    mag1[s] = n * a1
    mag2[s] = n * s2
    m = s1 / n
    v = s2 / n - m * m
    return k + m, v if v > 0.0 else 0.0


_RECENTRE_BLOCK = 256  # symbols re-centred together (see `_recentre_all`)


@kernel
def _recentre_all(buf, sums, c, n):
    """Lockstep re-centring, after the outputs of a bar whose count is a multiple of `n`: `_resum`
    of every symbol around its newest input (in slot `n - 1`). Rows outer and symbols inner, so
    that it vectorises, over blocks of symbols whose partial sums stay in L1 across the `n` rows."""
    if c % n != 0:
        return
    shift, sum1, sum2, mag1, mag2 = sums
    n_symbols = buf.shape[1]
    for lo in range(0, n_symbols, _RECENTRE_BLOCK):
        hi = min(lo + _RECENTRE_BLOCK, n_symbols)
        k, s1, s2, a1, a2 = shift[lo:hi], sum1[lo:hi], sum2[lo:hi], mag1[lo:hi], mag2[lo:hi]
        k[:] = buf[n - 1, lo:hi]
        s1[:] = 0.0
        s2[:] = 0.0
        a1[:] = 0.0
        for j in range(n):
            row = buf[j, lo:hi]
            for i in range(hi - lo):
                d = row[i] - k[i]
                s1[i] += d
                s2[i] += d * d
                a1[i] += abs(d)
        for i in range(hi - lo):
            a1[i] = n * a1[i]
            a2[i] = n * s2[i]


@kernel
def _moments_settle(buf, sums, s, x, n, needed, mean, v):
    """After `_moments_push`, where it asked for a re-sum (`needed`) or the count is a multiple of
    `n`: re-sum symbol `s` around its newest input `x`, before the output where needed, else after
    it (re-centring; `x` is then in slot `n - 1`, and re-summing around it twice would give the
    same sums). Returns the output `(mean, variance)`.

    Called only in that rare case, from the per-symbol loop itself: a per-symbol helper that
    branches and takes arrays is not inlined and reference-counts them on every call.
    """
    if needed:
        return _resum(buf, sums, s, x, n)
    _resum(buf, sums, s, x, n)
    return mean, v


@kernel
def _moments_step(state, s, x):
    """Advance symbol `s` alone; return its window's `(mean, variance)` (NaN until full).

    The definition of the window moments: push, then settle. The per-symbol update loops repeat
    these calls inline; the lockstep paths run the same stages over all symbols, stage by stage.
    """
    n = state.n
    buf = state.buf
    sums = _sums(state)
    slot, c = ring_advance(state.head, state.count, state.lock, s, n)
    if c == 1:
        sums[0][s] = x
    mean, v, needed = _moments_push(buf, sums, s, x, slot, c, n)
    if needed or slot == n - 1:
        mean, v = _moments_settle(buf, sums, s, x, n, needed, mean, v)
    return mean, v


@kernel
def _std(v, nbdev):
    """`nbdev` standard deviations of a variance; 0 unless it is positive (TA-Lib 0.8, #243).

    The root is taken whatever `v` and then selected: a branch around it made LLVM predicate the
    lockstep loops' output stores (masked stores, slow on AMD), which tripled their time.
    """
    sd = math.sqrt(v) * nbdev
    return sd if v > 0.0 else v  # v is 0.0, or NaN during the warm-up (never negative once used)


def var_init(n_symbols: int, n: int = 5) -> VarState:
    """State for the population variance over the last `n` values."""
    n = check_period("n", n)
    return VarState(n, *_moment_arrays(n, n_symbols))


@kernel
def var_step(state, s, x):
    """Population variance of the last `n` values; reference: TA-Lib VAR. Inputs must be finite."""
    return _moments_step(state, s, x)[1]


@kernel
def var_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    n = state.n
    buf = state.buf
    sums = _sums(state)
    shift = sums[0]
    if sym is None and state.lock[0]:
        slot, c = ring_advance_all(state.head, state.count, n)
        if c == 1:
            shift[:] = x  # the first inputs become the shifts K
        resum = np.empty(x.shape[0], np.bool_)
        n_resum = 0
        for s in range(x.shape[0]):
            _, out[s], needed = _moments_push(buf, sums, s, x[s], slot, c, n)
            resum[s] = needed
            n_resum += needed
        if n_resum:  # a separate pass keeps the loop above free of calls, so it vectorises
            for s in range(x.shape[0]):
                if resum[s]:
                    out[s] = _resum(buf, sums, s, x[s], n)[1]
        _recentre_all(buf, sums, c, n)
    else:
        head, count, lock = state.head, state.count, state.lock
        for i in range(x.shape[0]):  # var_step, with the state's arrays taken out once
            s = row_index(sym, i)
            slot, c = ring_advance(head, count, lock, s, n)
            if c == 1:
                shift[s] = x[i]
            mean, v, needed = _moments_push(buf, sums, s, x[i], slot, c, n)
            if needed or slot == n - 1:
                mean, v = _moments_settle(buf, sums, s, x[i], n, needed, mean, v)
            out[s] = v


@kernel
def _var_rows(state, x, out):
    for t in range(x.shape[0]):
        var_update(state, None, x[t], out[t])


def var_batch(x, n: int = 5, out=None) -> np.ndarray:
    """Population variance (divide by `n`) of the last `n` values; NaN for the first `n - 1` bars.

    Reference: TA-Lib `VAR` (its `nbdev` is unused). Inputs must be finite. Accurate at any price
    level (see the module docstring) and exactly 0 on a window of identical values; no drift.
    """
    return run_rows(_var_rows, lambda m: var_init(m, n), (x,), out)


def stddev_init(n_symbols: int, n: int = 5, nbdev: float = 1.0) -> StddevState:
    """State for `nbdev` population standard deviations over the last `n` values (n >= 2)."""
    n = check_period("n", n, 2)
    return StddevState(n, _check_float("nbdev", nbdev), *_moment_arrays(n, n_symbols))


@kernel
def stddev_step(state, s, x):
    """`nbdev` population standard deviations; reference: TA-Lib STDDEV. Inputs must be finite."""
    v = _moments_step(state, s, x)[1]
    return _std(v, state.nbdev)


@kernel
def stddev_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    n = state.n
    nbdev = state.nbdev
    buf = state.buf
    sums = _sums(state)
    shift = sums[0]
    if sym is None and state.lock[0]:
        slot, c = ring_advance_all(state.head, state.count, n)
        if c == 1:
            shift[:] = x  # the first inputs become the shifts K
        resum = np.empty(x.shape[0], np.bool_)
        n_resum = 0
        for s in range(x.shape[0]):
            _, v, needed = _moments_push(buf, sums, s, x[s], slot, c, n)
            out[s] = _std(v, nbdev)
            resum[s] = needed
            n_resum += needed
        if n_resum:
            for s in range(x.shape[0]):
                if resum[s]:
                    out[s] = _std(_resum(buf, sums, s, x[s], n)[1], nbdev)
        _recentre_all(buf, sums, c, n)
    else:
        head, count, lock = state.head, state.count, state.lock
        for i in range(x.shape[0]):  # stddev_step, with the state's arrays taken out once
            s = row_index(sym, i)
            slot, c = ring_advance(head, count, lock, s, n)
            if c == 1:
                shift[s] = x[i]
            mean, v, needed = _moments_push(buf, sums, s, x[i], slot, c, n)
            if needed or slot == n - 1:
                mean, v = _moments_settle(buf, sums, s, x[i], n, needed, mean, v)
            out[s] = _std(v, nbdev)


@kernel
def _stddev_rows(state, x, out):
    for t in range(x.shape[0]):
        stddev_update(state, None, x[t], out[t])


def stddev_batch(x, n: int = 5, nbdev: float = 1.0, out=None) -> np.ndarray:
    """`nbdev * sqrt(VAR(n))`, the population standard deviation; NaN for the first `n - 1` bars.

    Reference: TA-Lib `STDDEV`. Exactly 0 on a window of identical values. Inputs must be finite.
    """
    return run_rows(_stddev_rows, lambda m: stddev_init(m, n, nbdev), (x,), out)


def rolling_std_init(n_symbols: int, n: int = 20) -> StddevState:
    """State for the sample standard deviation (ddof=1) over the last `n` values (n >= 2).

    A `StddevState` whose `nbdev` is sqrt(n / (n - 1)), the factor from the population to the
    sample standard deviation.
    """
    n = check_period("n", n, 2)
    return StddevState(n, math.sqrt(n / (n - 1.0)), *_moment_arrays(n, n_symbols))


@kernel
def rolling_std_step(state, s, x):
    """Sample standard deviation; reference: pandas `rolling(n).std()`. Inputs must be finite."""
    return stddev_step(state, s, x)


@kernel
def rolling_std_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    stddev_update(state, sym, x, out)


@kernel
def _rolling_std_rows(state, x, out):
    for t in range(x.shape[0]):
        stddev_update(state, None, x[t], out[t])


def rolling_std_batch(x, n: int = 20, out=None) -> np.ndarray:
    """pandas' `pd.Series(x).rolling(n).std()`: the sample standard deviation (divide by `n - 1`)
    of the last `n` values; NaN for the first `n - 1` bars.

    Reference: pandas `rolling(n).std()` (ddof=1; TA-Lib's `STDDEV` divides by `n`). Exactly 0 on
    a window of identical values, as in pandas. Inputs must be finite.
    """
    return run_rows(_rolling_std_rows, lambda m: rolling_std_init(m, n), (x,), out)


def bbands_init(n_symbols: int, n: int = 20, nbdevup: float = 2.0, nbdevdn: float = 2.0) -> BbandsState:
    """State for Bollinger Bands of period `n` (n >= 2) around the SMA."""
    n = check_period("n", n, 2)
    up = _check_float("nbdevup", nbdevup)
    dn = _check_float("nbdevdn", nbdevdn)
    return BbandsState(n, up, dn, *_moment_arrays(n, n_symbols))


@kernel
def _bands(mean, v, up, dn):
    sd = _std(v, 1.0)
    return mean + up * sd, mean, mean - dn * sd


@kernel
def bbands_step(state, s, x):
    """`(upper, middle, lower)`; reference: TA-Lib BBANDS with matype=0 (SMA). Inputs must be finite."""
    mean, v = _moments_step(state, s, x)
    return _bands(mean, v, state.nbdevup, state.nbdevdn)


@kernel
def bbands_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); `out` is `(upper, middle, lower)`."""
    n, up, dn = state.n, state.nbdevup, state.nbdevdn
    buf = state.buf
    sums = _sums(state)
    shift = sums[0]
    upper, middle, lower = out
    if sym is None and state.lock[0]:
        slot, c = ring_advance_all(state.head, state.count, n)
        if c == 1:
            shift[:] = x  # the first inputs become the shifts K
        resum = np.empty(x.shape[0], np.bool_)
        n_resum = 0
        for s in range(x.shape[0]):
            mean, v, needed = _moments_push(buf, sums, s, x[s], slot, c, n)
            upper[s], middle[s], lower[s] = _bands(mean, v, up, dn)
            resum[s] = needed
            n_resum += needed
        if n_resum:
            for s in range(x.shape[0]):
                if resum[s]:
                    mean, v = _resum(buf, sums, s, x[s], n)
                    upper[s], middle[s], lower[s] = _bands(mean, v, up, dn)
        _recentre_all(buf, sums, c, n)
    else:
        head, count, lock = state.head, state.count, state.lock
        for i in range(x.shape[0]):  # bbands_step, with the state's arrays taken out once
            s = row_index(sym, i)
            slot, c = ring_advance(head, count, lock, s, n)
            if c == 1:
                shift[s] = x[i]
            mean, v, needed = _moments_push(buf, sums, s, x[i], slot, c, n)
            if needed or slot == n - 1:
                mean, v = _moments_settle(buf, sums, s, x[i], n, needed, mean, v)
            upper[s], middle[s], lower[s] = _bands(mean, v, up, dn)


@kernel
def _bbands_rows(state, x, out_upper, out_middle, out_lower):
    for t in range(x.shape[0]):
        bbands_update(state, None, x[t], (out_upper[t], out_middle[t], out_lower[t]))


def bbands_batch(x, n: int = 20, nbdevup: float = 2.0, nbdevdn: float = 2.0, out=None):
    """Bollinger Bands `(upper, middle, lower)`: SMA(n) ± nbdev * population std; NaN for `n - 1` bars.

    Reference: TA-Lib `BBANDS` with `matype=0` (its default period is 20 since TA-Lib 0.8). On a
    window of identical values the bands are exactly the middle. Inputs must be finite.
    """
    return run_rows(_bbands_rows, lambda m: bbands_init(m, n, nbdevup, nbdevdn), (x,), out, n_outputs=3)


_HLC = ("high", "low", "close")

SPECS = (
    KernelSpec("trange", _HLC, (), ("trange",), lambda: (1,), trange_init, trange_update, trange_step,
               trange_batch, "TA-Lib TRANGE"),
    KernelSpec("atr", _HLC, (("n", 14),), ("atr",), lambda n: (n,), atr_init, atr_update, atr_step,
               atr_batch, "TA-Lib ATR"),
    KernelSpec("natr", _HLC, (("n", 14),), ("natr",), lambda n: (n,), natr_init, natr_update, natr_step,
               natr_batch, "TA-Lib NATR"),
    KernelSpec("adx", _HLC, (("n", 14),), ("adx", "plus_di", "minus_di"), lambda n: (2 * n - 1, n, n),
               adx_init, adx_update, adx_step, adx_batch, "TA-Lib ADX, PLUS_DI, MINUS_DI"),
    KernelSpec("stddev", ("x",), (("n", 5), ("nbdev", 1.0)), ("stddev",), lambda n, nbdev: (n - 1,),
               stddev_init, stddev_update, stddev_step, stddev_batch, "TA-Lib STDDEV"),
    KernelSpec("var", ("x",), (("n", 5),), ("var",), lambda n: (n - 1,), var_init, var_update, var_step,
               var_batch, "TA-Lib VAR"),
    KernelSpec("rolling_std", ("x",), (("n", 20),), ("rolling_std",), lambda n: (n - 1,), rolling_std_init,
               rolling_std_update, rolling_std_step, rolling_std_batch, "pandas rolling(n).std() (ddof=1)"),
    KernelSpec("bbands", ("x",), (("n", 20), ("nbdevup", 2.0), ("nbdevdn", 2.0)),
               ("upper", "middle", "lower"), lambda n, nbdevup, nbdevdn: (n - 1, n - 1, n - 1),
               bbands_init, bbands_update, bbands_step, bbands_batch, "TA-Lib BBANDS (matype=0)"),
)
