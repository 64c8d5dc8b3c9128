"""Moving averages: SMA, EMA, EWM (pandas), WMA, RMA (Wilder), DEMA, TEMA, KAMA.

Conventions shared by every kernel module (see DESIGN.md, "Kernels"):

- `<ind>_init(n_symbols, <params>)` allocates the state (a NamedTuple of arrays).
- `<ind>_step(state, s, x)` advances symbol `s` by one bar and returns its value(s).
- `<ind>_update(state, sym, x, out)` advances the symbols in `sym` (an int array of rows) with
  `x[i]` for `sym[i]` and writes `out[sym[i]]`; every other row is untouched. `sym=None` means
  every symbol in row order (`x` has one value per symbol); while all symbols have advanced
  together, windowed kernels then take a vectorisable shared-slot path.
- `<ind>_batch(x, <params>, out=None)` runs a `(T,)` or `(T, N)` history (time first).

Outputs are NaN until the indicator is ready; inputs must be finite.

Performance rule for per-symbol code: read the symbol's state into locals first, branch only on
those scalars, and write the state back at the end. Numba reference-counts an array each time it
is taken from the state inside a branch, and those atomic operations made EMA 20x slower at
10,000 symbols; straight-line array access is free (its counts are pruned). Pure scalar cores
(`ema_core`, `wilder_core`) keep the math itself free of arrays. Two corollaries, also measured:
a helper that both branches and takes arrays is not inlined and pays those counts on every call,
so rare paths (a re-sum) belong in the update loop itself; and a branch around a division or
square root blocks vectorisation, so compute the value first and then select it.
"""

from typing import NamedTuple

import numpy as np

from ._fma import fma
from ._jit import kernel
from ._shape import run_rows
from ._sums import neumaier_add
from .catalog import KernelSpec
from .ring import ring_advance, ring_advance_all, row_index, slot_ago, window_arrays

__all__ = [
    "ChainedEmaState", "EmaState", "EwmState", "KamaState", "RmaState", "SmaState", "WmaState",
    "dema_batch", "dema_init", "dema_step", "dema_update",
    "ema_batch", "ema_init", "ema_step", "ema_update",
    "ewm_batch", "ewm_init", "ewm_step", "ewm_update",
    "kama_batch", "kama_init", "kama_step", "kama_update",
    "rma_batch", "rma_init", "rma_step", "rma_update",
    "sma_batch", "sma_init", "sma_step", "sma_update",
    "tema_batch", "tema_init", "tema_step", "tema_update",
    "wma_batch", "wma_init", "wma_step", "wma_update",
]


def check_period(name: str, value: int, minimum: int = 1) -> int:
    """Return `value` as an int, or raise a ValueError naming the parameter."""
    if int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _zeros(n_symbols: int) -> np.ndarray:
    return np.zeros(n_symbols)


def _counts(n_symbols: int) -> np.ndarray:
    return np.zeros(n_symbols, dtype=np.int64)


# --- SMA ------------------------------------------------------------------------------------


class SmaState(NamedTuple):
    n: int
    buf: np.ndarray
    head: np.ndarray
    count: np.ndarray
    lock: np.ndarray
    total: np.ndarray
    comp: np.ndarray


def sma_init(n_symbols: int, n: int = 30) -> SmaState:
    """State for a simple moving average of period `n` over `n_symbols` symbols."""
    n = check_period("n", n)
    return SmaState(n, *window_arrays(n, n_symbols), _zeros(n_symbols), _zeros(n_symbols))


@kernel
def _sma_next(state, s, x, slot, c):
    n = state.n
    old = state.buf[slot, s]
    state.buf[slot, s] = x
    t, e = neumaier_add(state.total[s], state.comp[s], x)
    if c > n:
        t, e = neumaier_add(t, e, -old)
    state.total[s] = t
    state.comp[s] = e
    return (t + e) / n if c >= n else np.nan


@kernel
def sma_step(state, s, x):
    """Simple moving average; reference: TA-Lib SMA, `backtesting.test.SMA`, pandas rolling mean."""
    slot, c = ring_advance(state.head, state.count, state.lock, s, state.n)
    return _sma_next(state, s, x, slot, c)


@kernel
def sma_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    if sym is None and state.lock[0]:
        slot, c = ring_advance_all(state.head, state.count, state.n)
        for s in range(x.shape[0]):
            out[s] = _sma_next(state, s, x[s], slot, c)
    else:
        for i in range(x.shape[0]):
            s = row_index(sym, i)
            out[s] = sma_step(state, s, x[i])


@kernel
def _sma_rows(state, x, out):
    for t in range(x.shape[0]):
        sma_update(state, None, x[t], out[t])


def sma_batch(x, n: int = 30, out=None) -> np.ndarray:
    """SMA(n) of a `(T,)` or `(T, N)` history; NaN for the first `n - 1` bars.

    Reference: TA-Lib `SMA`; equal to `backtesting.test.SMA` and `pd.Series(x).rolling(n).mean()`.
    Inputs must be finite. The running sum is compensated, so it does not drift.
    """
    return run_rows(_sma_rows, lambda m: sma_init(m, n), (x,), out)


# --- EMA ------------------------------------------------------------------------------------


class EmaState(NamedTuple):
    n: int
    k: float
    count: np.ndarray
    seed: np.ndarray
    value: np.ndarray


def ema_init(n_symbols: int, n: int = 30) -> EmaState:
    """State for an exponential moving average of period `n` (k = 2 / (n + 1))."""
    n = check_period("n", n)
    return EmaState(n, 2.0 / (n + 1), _counts(n_symbols), _zeros(n_symbols), _zeros(n_symbols))


@kernel
def ema_core(c, seed, value, x, n, k):
    """One EMA step on scalars: the `c`-th input `x` → `(seed, value, output)`.

    Seeded with the SMA of the first `n` inputs, then `fma(x - value, k, value)`: TA-Lib 0.8's
    rule and rounding, so the EMA family equals TA-Lib bit for bit.
    """
    if c < n:
        return seed + x, value, np.nan
    if c == n:
        v = (seed + x) / n
    else:
        v = fma(x - value, k, value)
    return seed, v, v


@kernel
def ema_next(count, seed, value, s, x, n, k):
    """One EMA step for symbol `s` on bare arrays; shared by EMA and MACD."""
    c = count[s] + 1
    new_seed, new_value, out = ema_core(c, seed[s], value[s], x, n, k)
    count[s] = c
    seed[s] = new_seed
    value[s] = new_value
    return out


@kernel
def ema_step(state, s, x):
    """Exponential moving average; reference: TA-Lib EMA (SMA-seeded, k = 2 / (n + 1))."""
    return ema_next(state.count, state.seed, state.value, s, x, state.n, state.k)


@kernel
def ema_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    for i in range(x.shape[0]):
        s = row_index(sym, i)
        out[s] = ema_step(state, s, x[i])


@kernel
def _ema_rows(state, x, out):
    for t in range(x.shape[0]):
        ema_update(state, None, x[t], out[t])


def ema_batch(x, n: int = 30, out=None) -> np.ndarray:
    """EMA(n), seeded with the SMA of the first `n` values; NaN for the first `n - 1` bars.

    Reference: TA-Lib `EMA` (also `pd.Series(x).ewm(span=n, adjust=False)` after the seed).
    Inputs must be finite.
    """
    return run_rows(_ema_rows, lambda m: ema_init(m, n), (x,), out)


# --- EWM (pandas) ---------------------------------------------------------------------------


class EwmState(NamedTuple):
    span: float
    alpha: float  # 1 / (1 + com), com = (span - 1) / 2: pandas' own arithmetic
    decay: float  # 1 - alpha
    norm: float  # decay + alpha, which pandas divides by (not always exactly 1.0 in floating point)
    count: np.ndarray
    value: np.ndarray


def ewm_init(n_symbols: int, span: float = 30) -> EwmState:
    """State for pandas' `ewm(span=span, adjust=False).mean()` (alpha = 2 / (span + 1))."""
    try:
        span = float(span)
    except (TypeError, ValueError):
        raise ValueError(f"span must be a number >= 1, got {span!r}") from None
    if not span >= 1.0 or span == np.inf:
        raise ValueError(f"span must be a finite number >= 1, got {span!r}")
    alpha = 1.0 / (1.0 + (span - 1.0) / 2.0)
    decay = 1.0 - alpha
    return EwmState(span, alpha, decay, decay + alpha, _counts(n_symbols), _zeros(n_symbols))


@kernel
def ewm_core(c, value, x, alpha, decay, norm):
    """One pandas EWM step on scalars: the `c`-th input `x` → the new value (also the output).

    The first input is the value; then `(decay * value + alpha * x) / norm`, skipped where `x`
    equals the value, exactly as pandas' `ewm` (adjust=False) computes it. The blend is computed
    first and then selected, so the step stays free of a branch around the division.
    """
    blend = (decay * value + alpha * x) / norm
    if c == 1:
        return x
    return value if value == x else blend


@kernel
def ewm_step(state, s, x):
    """Exponentially weighted mean; reference: pandas `ewm(span=n, adjust=False).mean()`."""
    c = state.count[s] + 1
    v = ewm_core(c, state.value[s], x, state.alpha, state.decay, state.norm)
    state.count[s] = c
    state.value[s] = v
    return v


@kernel
def ewm_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    for i in range(x.shape[0]):
        s = row_index(sym, i)
        out[s] = ewm_step(state, s, x[i])


@kernel
def _ewm_rows(state, x, out):
    for t in range(x.shape[0]):
        ewm_update(state, None, x[t], out[t])


def ewm_batch(x, span: float = 30, out=None) -> np.ndarray:
    """pandas' `pd.Series(x).ewm(span=span, adjust=False).mean()`: starts at the first value, then
    `(1 - alpha) * prev + alpha * x` with alpha = 2 / (span + 1). No NaN warm-up.

    Reference: pandas `ewm(span=span, adjust=False).mean()` (unlike TA-Lib's EMA, which seeds with
    the SMA of the first `n` values and is NaN before). Inputs must be finite.
    """
    return run_rows(_ewm_rows, lambda m: ewm_init(m, span), (x,), out)


# --- RMA (Wilder) -----------------------------------------------------------------------------


class RmaState(NamedTuple):
    n: int
    count: np.ndarray
    seed: np.ndarray
    value: np.ndarray


def rma_init(n_symbols: int, n: int = 14) -> RmaState:
    """State for Wilder's moving average of period `n` (alpha = 1 / n)."""
    n = check_period("n", n)
    return RmaState(n, _counts(n_symbols), _zeros(n_symbols), _zeros(n_symbols))


@kernel
def wilder_core(c, seed, value, x, n):
    """One Wilder smoothing step on scalars → `(seed, value, output)`.

    The SMA of the first `n` inputs, then `(value * (n - 1) + x) / n`, as TA-Lib smooths ATR.
    """
    if c < n:
        return seed + x, value, np.nan
    if c == n:
        v = (seed + x) / n
    else:
        v = (value * (n - 1) + x) / n
    return seed, v, v


@kernel
def wilder_next(count, seed, value, s, x, n):
    """One Wilder smoothing step for symbol `s` on bare arrays."""
    c = count[s] + 1
    new_seed, new_value, out = wilder_core(c, seed[s], value[s], x, n)
    count[s] = c
    seed[s] = new_seed
    value[s] = new_value
    return out


@kernel
def rma_step(state, s, x):
    """Wilder's moving average (RMA); reference: pandas ewm(alpha=1/n, adjust=False) on an SMA seed."""
    return wilder_next(state.count, state.seed, state.value, s, x, state.n)


@kernel
def rma_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    for i in range(x.shape[0]):
        s = row_index(sym, i)
        out[s] = rma_step(state, s, x[i])


@kernel
def _rma_rows(state, x, out):
    for t in range(x.shape[0]):
        rma_update(state, None, x[t], out[t])


def rma_batch(x, n: int = 14, out=None) -> np.ndarray:
    """Wilder's RMA(n): the SMA of the first `n` values, then `(prev * (n - 1) + x) / n`.

    Reference (TA-Lib has no RMA): pandas `ewm(alpha=1/n, adjust=False).mean()` started from the
    SMA seed at bar `n - 1`, as in TradingView's `ta.rma`. NaN for the first `n - 1` bars.
    Inputs must be finite.
    """
    return run_rows(_rma_rows, lambda m: rma_init(m, n), (x,), out)


# --- WMA ------------------------------------------------------------------------------------


class WmaState(NamedTuple):
    n: int
    buf: np.ndarray
    head: np.ndarray
    count: np.ndarray
    lock: np.ndarray
    total: np.ndarray
    total_comp: np.ndarray
    weighted: np.ndarray
    weighted_comp: np.ndarray


def wma_init(n_symbols: int, n: int = 30) -> WmaState:
    """State for a linearly weighted moving average of period `n` (newest weight `n`)."""
    n = check_period("n", n)
    sums = (_zeros(n_symbols) for _ in range(4))
    return WmaState(n, *window_arrays(n, n_symbols), *sums)


@kernel
def _wma_next(state, s, x, slot, c):
    n = state.n
    old = state.buf[slot, s]
    state.buf[slot, s] = x
    t, te = state.total[s], state.total_comp[s]
    w, we = state.weighted[s], state.weighted_comp[s]
    if c <= n:
        w, we = neumaier_add(w, we, c * x)
    else:
        w, we = neumaier_add(w, we, -(t + te))
        w, we = neumaier_add(w, we, n * x)
        t, te = neumaier_add(t, te, -old)
    t, te = neumaier_add(t, te, x)
    state.total[s], state.total_comp[s] = t, te
    state.weighted[s], state.weighted_comp[s] = w, we
    return (w + we) / (n * (n + 1) / 2.0) if c >= n else np.nan


@kernel
def wma_step(state, s, x):
    """Weighted moving average; reference: TA-Lib WMA (weights 1..n, newest heaviest)."""
    slot, c = ring_advance(state.head, state.count, state.lock, s, state.n)
    return _wma_next(state, s, x, slot, c)


@kernel
def wma_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    if sym is None and state.lock[0]:
        slot, c = ring_advance_all(state.head, state.count, state.n)
        for s in range(x.shape[0]):
            out[s] = _wma_next(state, s, x[s], slot, c)
    else:
        for i in range(x.shape[0]):
            s = row_index(sym, i)
            out[s] = wma_step(state, s, x[i])


@kernel
def _wma_rows(state, x, out):
    for t in range(x.shape[0]):
        wma_update(state, None, x[t], out[t])


def wma_batch(x, n: int = 30, out=None) -> np.ndarray:
    """WMA(n) with weights 1..n (newest heaviest); NaN for the first `n - 1` bars.

    Reference: TA-Lib `WMA`. Inputs must be finite. Running sums are compensated.
    """
    return run_rows(_wma_rows, lambda m: wma_init(m, n), (x,), out)


# --- DEMA / TEMA ------------------------------------------------------------------------------


class ChainedEmaState(NamedTuple):
    """`depth` EMAs of the same period, each fed by the previous one (DEMA: 2, TEMA: 3)."""

    n: int
    k: float
    count: np.ndarray  # int64 [depth, n_symbols]
    seed: np.ndarray  # [depth, n_symbols]
    value: np.ndarray  # [depth, n_symbols]


def _chained_ema_init(n_symbols: int, n: int, depth: int) -> ChainedEmaState:
    n = check_period("n", n)
    shape = (depth, n_symbols)
    return ChainedEmaState(n, 2.0 / (n + 1), np.zeros(shape, np.int64), np.zeros(shape), np.zeros(shape))


@kernel
def _chained_ema_level(state, level, s, x):
    c = state.count[level, s] + 1
    seed, value, out = ema_core(c, state.seed[level, s], state.value[level, s], x, state.n, state.k)
    state.count[level, s] = c
    state.seed[level, s] = seed
    state.value[level, s] = value
    return out


def dema_init(n_symbols: int, n: int = 30) -> ChainedEmaState:
    """State for a double exponential moving average of period `n`."""
    return _chained_ema_init(n_symbols, n, 2)


@kernel
def dema_step(state, s, x):
    """Double EMA, 2*EMA - EMA(EMA); reference: TA-Lib DEMA."""
    e1 = _chained_ema_level(state, 0, s, x)
    e2 = _chained_ema_level(state, 1, s, e1) if state.count[0, s] >= state.n else np.nan
    return 2.0 * e1 - e2


@kernel
def dema_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    for i in range(x.shape[0]):
        s = row_index(sym, i)
        out[s] = dema_step(state, s, x[i])


@kernel
def _dema_rows(state, x, out):
    for t in range(x.shape[0]):
        dema_update(state, None, x[t], out[t])


def dema_batch(x, n: int = 30, out=None) -> np.ndarray:
    """DEMA(n) = 2*EMA(x) - EMA(EMA(x)); NaN for the first `2 * (n - 1)` bars.

    Reference: TA-Lib `DEMA`. Inputs must be finite.
    """
    return run_rows(_dema_rows, lambda m: dema_init(m, n), (x,), out)


def tema_init(n_symbols: int, n: int = 30) -> ChainedEmaState:
    """State for a triple exponential moving average of period `n`."""
    return _chained_ema_init(n_symbols, n, 3)


@kernel
def tema_step(state, s, x):
    """Triple EMA, 3*e1 - 3*e2 + e3; reference: TA-Lib TEMA."""
    e1 = _chained_ema_level(state, 0, s, x)
    e2 = _chained_ema_level(state, 1, s, e1) if state.count[0, s] >= state.n else np.nan
    e3 = _chained_ema_level(state, 2, s, e2) if state.count[1, s] >= state.n else np.nan
    return e3 + (3.0 * e1 - 3.0 * e2)


@kernel
def tema_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    for i in range(x.shape[0]):
        s = row_index(sym, i)
        out[s] = tema_step(state, s, x[i])


@kernel
def _tema_rows(state, x, out):
    for t in range(x.shape[0]):
        tema_update(state, None, x[t], out[t])


def tema_batch(x, n: int = 30, out=None) -> np.ndarray:
    """TEMA(n) = 3*EMA - 3*EMA(EMA) + EMA(EMA(EMA)); NaN for the first `3 * (n - 1)` bars.

    Reference: TA-Lib `TEMA`. Inputs must be finite.
    """
    return run_rows(_tema_rows, lambda m: tema_init(m, n), (x,), out)


# --- KAMA -----------------------------------------------------------------------------------

_KAMA_SLOW = 2.0 / (30 + 1)
_KAMA_FAST_MINUS_SLOW = 2.0 / (2 + 1) - _KAMA_SLOW


class KamaState(NamedTuple):
    n: int
    buf: np.ndarray  # last n + 1 inputs
    head: np.ndarray
    count: np.ndarray
    lock: np.ndarray
    noise: np.ndarray  # sum of |x[i] - x[i-1]| over the last n changes
    noise_comp: np.ndarray
    value: np.ndarray


def kama_init(n_symbols: int, n: int = 30) -> KamaState:
    """State for Kaufman's adaptive moving average with efficiency period `n` (fast 2, slow 30)."""
    n = check_period("n", n)
    sums = (_zeros(n_symbols) for _ in range(3))
    return KamaState(n, *window_arrays(n + 1, n_symbols), *sums)


@kernel
def kama_core(c, n, x, prev, n_ago, evicted, noise, noise_comp, value):
    """One KAMA step on scalars → `(noise, noise_comp, value, output)`.

    `prev` is the previous input, `n_ago` the input `n` bars back, `evicted` the one `n + 1` back.
    """
    m = n + 1
    if c > 1:
        noise, noise_comp = neumaier_add(noise, noise_comp, abs(x - prev))
    if c > m:
        noise, noise_comp = neumaier_add(noise, noise_comp, -abs(n_ago - evicted))
    if c < m:
        return noise, noise_comp, value, np.nan
    total = noise + noise_comp
    change = x - n_ago
    if total <= change or (-1e-8 < total < 1e-8):
        ratio = 1.0
    else:
        ratio = abs(change / total)
    sc = ratio * _KAMA_FAST_MINUS_SLOW + _KAMA_SLOW
    sc *= sc
    base = prev if c == m else value
    value = (x - base) * sc + base
    return noise, noise_comp, value, value


@kernel
def _kama_next(state, s, x, slot, c):
    m = state.n + 1
    prev = state.buf[slot_ago(slot, 1, m), s]
    evicted = state.buf[slot, s]
    state.buf[slot, s] = x
    n_ago = state.buf[slot_ago(slot, state.n, m), s]
    noise, noise_comp, value, out = kama_core(c, state.n, x, prev, n_ago, evicted, state.noise[s],
                                              state.noise_comp[s], state.value[s])
    state.noise[s] = noise
    state.noise_comp[s] = noise_comp
    state.value[s] = value
    return out


@kernel
def kama_step(state, s, x):
    """Kaufman adaptive moving average; reference: TA-Lib KAMA."""
    slot, c = ring_advance(state.head, state.count, state.lock, s, state.n + 1)
    return _kama_next(state, s, x, slot, c)


@kernel
def kama_update(state, sym, x, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    if sym is None and state.lock[0]:
        slot, c = ring_advance_all(state.head, state.count, state.n + 1)
        for s in range(x.shape[0]):
            out[s] = _kama_next(state, s, x[s], slot, c)
    else:
        for i in range(x.shape[0]):
            s = row_index(sym, i)
            out[s] = kama_step(state, s, x[i])


@kernel
def _kama_rows(state, x, out):
    for t in range(x.shape[0]):
        kama_update(state, None, x[t], out[t])


def kama_batch(x, n: int = 30, out=None) -> np.ndarray:
    """KAMA(n): efficiency ratio over `n` changes, smoothing between 2 and 30; NaN for `n` bars.

    Reference: TA-Lib `KAMA` (its seed is the previous input at bar `n`). Inputs must be finite.
    """
    return run_rows(_kama_rows, lambda m: kama_init(m, n), (x,), out)


def _spec(name, params, lookback, reference, init, update, step, batch):
    return KernelSpec(name, ("x",), params, (name,), lookback, init, update, step, batch, reference)


SPECS = (
    _spec("sma", (("n", 30),), lambda n: (n - 1,), "TA-Lib SMA; backtesting.test.SMA; pandas rolling mean",
          sma_init, sma_update, sma_step, sma_batch),
    _spec("ema", (("n", 30),), lambda n: (n - 1,), "TA-Lib EMA", ema_init, ema_update, ema_step, ema_batch),
    _spec("ewm", (("span", 30),), lambda span: (0,), "pandas ewm(span=n, adjust=False).mean()",
          ewm_init, ewm_update, ewm_step, ewm_batch),
    _spec("wma", (("n", 30),), lambda n: (n - 1,), "TA-Lib WMA", wma_init, wma_update, wma_step, wma_batch),
    _spec("rma", (("n", 14),), lambda n: (n - 1,), "pandas ewm(alpha=1/n, adjust=False) on an SMA seed",
          rma_init, rma_update, rma_step, rma_batch),
    _spec("dema", (("n", 30),), lambda n: (2 * (n - 1),), "TA-Lib DEMA",
          dema_init, dema_update, dema_step, dema_batch),
    _spec("tema", (("n", 30),), lambda n: (3 * (n - 1),), "TA-Lib TEMA",
          tema_init, tema_update, tema_step, tema_batch),
    _spec("kama", (("n", 30),), lambda n: (n,), "TA-Lib KAMA", kama_init, kama_update, kama_step, kama_batch),
)
