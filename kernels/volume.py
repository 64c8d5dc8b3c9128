"""Volume indicators: OBV, Chaikin A/D line (TA-Lib) and a rolling VWAP.

Conventions as in `ma.py`: `<ind>_init`, `<ind>_step`, `<ind>_update` (sym None = every symbol in
row order; VWAP, a windowed kernel, takes a shared-slot path while all symbols advance together)
and `<ind>_batch`. Every running sum is compensated (`neumaier_add`), so none drifts.

Inputs must be finite (volume >= 0).
"""

from typing import NamedTuple

import numpy as np

from ._jit import kernel
from ._shape import run_rows
from ._sums import neumaier_add
from .catalog import KernelSpec
from .ma import check_period
from .ring import ring_advance, ring_advance_all, ring_arrays, row_index, window_arrays

__all__ = [
    "AdState", "ObvState", "VwapState",
    "ad_batch", "ad_init", "ad_step", "ad_update",
    "obv_batch", "obv_init", "obv_step", "obv_update",
    "vwap_batch", "vwap_init", "vwap_step", "vwap_update",
]


def _zeros(n_symbols: int) -> np.ndarray:
    return np.zeros(n_symbols)


# --- OBV ------------------------------------------------------------------------------------


class ObvState(NamedTuple):
    prev: np.ndarray  # previous close, NaN before the first bar
    total: np.ndarray
    comp: np.ndarray


def obv_init(n_symbols: int) -> ObvState:
    """State for on-balance volume."""
    return ObvState(np.full(n_symbols, np.nan), _zeros(n_symbols), _zeros(n_symbols))


@kernel
def obv_step(state, s, close, volume):
    """On-balance volume; reference: TA-Lib OBV (starts at the first bar's volume)."""
    prev = state.prev[s]
    state.prev[s] = close
    t, e = state.total[s], state.comp[s]
    if np.isnan(prev):
        t, e = volume, 0.0
    elif close > prev:
        t, e = neumaier_add(t, e, volume)
    elif close < prev:
        t, e = neumaier_add(t, e, -volume)
    state.total[s], state.comp[s] = t, e
    return t + e


@kernel
def obv_update(state, sym, close, volume, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    for i in range(close.shape[0]):
        s = row_index(sym, i)
        out[s] = obv_step(state, s, close[i], volume[i])


@kernel
def _obv_rows(state, close, volume, out):
    for t in range(close.shape[0]):
        obv_update(state, None, close[t], volume[t], out[t])


def obv_batch(close, volume, out=None) -> np.ndarray:
    """On-balance volume of a `(T,)` or `(T, N)` history; no warm-up.

    OBV starts at `volume[0]` and then adds `volume` when the close rises, subtracts it when the
    close falls and stays put when it is unchanged. Reference: TA-Lib `OBV`. Inputs must be finite.
    """
    return run_rows(_obv_rows, obv_init, (close, volume), out)


# --- AD (Chaikin accumulation / distribution) ---------------------------------------------------


class AdState(NamedTuple):
    total: np.ndarray
    comp: np.ndarray


def ad_init(n_symbols: int) -> AdState:
    """State for the Chaikin accumulation/distribution line."""
    return AdState(_zeros(n_symbols), _zeros(n_symbols))


@kernel
def ad_step(state, s, high, low, close, volume):
    """Chaikin A/D line; reference: TA-Lib AD (a bar with high == low adds nothing)."""
    span = high - low
    # Adding 0.0 leaves the sum as it is; computing it unconditionally lets the dense loop
    # vectorise (a branch around the division made it ~6x slower).
    inc = ((close - low) - (high - close)) / span * volume if span > 0.0 else 0.0
    t, e = neumaier_add(state.total[s], state.comp[s], inc)
    state.total[s], state.comp[s] = t, e
    return t + e


@kernel
def ad_update(state, sym, high, low, close, volume, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    for i in range(close.shape[0]):
        s = row_index(sym, i)
        out[s] = ad_step(state, s, high[i], low[i], close[i], volume[i])


@kernel
def _ad_rows(state, high, low, close, volume, out):
    for t in range(close.shape[0]):
        ad_update(state, None, high[t], low[t], close[t], volume[t], out[t])


def ad_batch(high, low, close, volume, out=None) -> np.ndarray:
    """Chaikin accumulation/distribution line of a `(T,)` or `(T, N)` history; no warm-up.

    `ad += ((close - low) - (high - close)) / (high - low) * volume` on bars with high > low,
    starting from 0. Reference: TA-Lib `AD`. Inputs must be finite. The sum is compensated.
    """
    return run_rows(_ad_rows, ad_init, (high, low, close, volume), out)


# --- VWAP (rolling) ---------------------------------------------------------------------------


class VwapState(NamedTuple):
    n: int
    pv_buf: np.ndarray  # typical price * volume
    head: np.ndarray
    count: np.ndarray
    lock: np.ndarray
    v_buf: np.ndarray  # volume; shares `head` / `count` with `pv_buf`
    pv: np.ndarray
    pv_comp: np.ndarray
    v: np.ndarray
    v_comp: np.ndarray
    traded: np.ndarray  # int64, bars with non-zero volume in the window


def vwap_init(n_symbols: int, n: int = 20) -> VwapState:
    """State for the volume-weighted average price over the last `n` bars."""
    n = check_period("n", n)
    z = _zeros
    return VwapState(n, *window_arrays(n, n_symbols), ring_arrays(n, n_symbols)[0],
                     z(n_symbols), z(n_symbols), z(n_symbols), z(n_symbols),
                     np.zeros(n_symbols, dtype=np.int64))


@kernel
def _vwap_next(state, s, high, low, close, volume, slot, c):
    n = state.n
    pv_new = (high + low + close) / 3.0 * volume
    pv_old = state.pv_buf[slot, s]
    v_old = state.v_buf[slot, s]
    state.pv_buf[slot, s] = pv_new
    state.v_buf[slot, s] = volume
    pv, pve = neumaier_add(state.pv[s], state.pv_comp[s], pv_new)
    v, ve = neumaier_add(state.v[s], state.v_comp[s], volume)
    traded = state.traded[s] + (volume != 0.0)
    if c > n:
        pv, pve = neumaier_add(pv, pve, -pv_old)
        v, ve = neumaier_add(v, ve, -v_old)
        traded -= v_old != 0.0
    state.pv[s], state.pv_comp[s] = pv, pve
    state.v[s], state.v_comp[s] = v, ve
    state.traded[s] = traded
    if c < n or traded == 0:
        return np.nan
    return (pv + pve) / (v + ve)


@kernel
def vwap_step(state, s, high, low, close, volume):
    """Rolling VWAP: sum(tp * volume) / sum(volume) over `n` bars, tp = (high + low + close) / 3.

    Reference: pandas rolling sums. NaN when the window's volume is all zero.
    """
    slot, c = ring_advance(state.head, state.count, state.lock, s, state.n)
    return _vwap_next(state, s, high, low, close, volume, slot, c)


@kernel
def vwap_update(state, sym, high, low, close, volume, out):
    """Advance the symbols in `sym` (None = all, in row order); see the module docstring."""
    if sym is None and state.lock[0]:
        slot, c = ring_advance_all(state.head, state.count, state.n)
        for s in range(close.shape[0]):
            out[s] = _vwap_next(state, s, high[s], low[s], close[s], volume[s], slot, c)
    else:
        for i in range(close.shape[0]):
            s = row_index(sym, i)
            out[s] = vwap_step(state, s, high[i], low[i], close[i], volume[i])


@kernel
def _vwap_rows(state, high, low, close, volume, out):
    for t in range(close.shape[0]):
        vwap_update(state, None, high[t], low[t], close[t], volume[t], out[t])


def vwap_batch(high, low, close, volume, n: int = 20, out=None) -> np.ndarray:
    """Rolling VWAP(n) of a `(T,)` or `(T, N)` history; NaN for the first `n - 1` bars.

    `sum(tp * volume) / sum(volume)` over the last `n` bars with `tp = (high + low + close) / 3`;
    NaN where the window's volume is all zero. Reference (TA-Lib has none): pandas
    `(tp * volume).rolling(n).sum() / volume.rolling(n).sum()`. Inputs must be finite, volume
    >= 0. The running sums are compensated.
    """
    return run_rows(_vwap_rows, lambda m: vwap_init(m, n), (high, low, close, volume), out)


SPECS = (
    KernelSpec("obv", ("close", "volume"), (), ("obv",), lambda: (0,),
               obv_init, obv_update, obv_step, obv_batch, "TA-Lib OBV"),
    KernelSpec("ad", ("high", "low", "close", "volume"), (), ("ad",), lambda: (0,),
               ad_init, ad_update, ad_step, ad_batch, "TA-Lib AD"),
    KernelSpec("vwap", ("high", "low", "close", "volume"), (("n", 20),), ("vwap",), lambda n: (n - 1,),
               vwap_init, vwap_update, vwap_step, vwap_batch,
               "pandas (tp * volume).rolling(n).sum() / volume.rolling(n).sum()"),
)
