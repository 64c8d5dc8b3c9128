"""A hand-written, fused Numba step for W2 (SMA10, SMA20, EMA20, RSI14, crossover), the
reference the public kernel API is measured against.

It is what one would write for exactly this workload with every symbol advancing together: one
loop over symbols, time-major rings with a shared slot, plain running sums, no generality.
"""

import numpy as np
from numba import njit


def fused_state(n_symbols: int) -> tuple[np.ndarray, ...]:
    z = np.zeros
    return (z((10, n_symbols)), z((20, n_symbols)), z(n_symbols), z(n_symbols), z(n_symbols), z(n_symbols),
            z(n_symbols), z(n_symbols), np.full(n_symbols, np.nan), np.full(n_symbols, np.nan))


@njit(cache=True, nogil=True, error_model="numpy")
def fused_w2_step(t, close, ring10, ring20, sum10, sum20, ema, gain, loss, prev, p10, p20,
                  o10, o20, oema, orsi, signal):
    """Advance every symbol by bar `t` (0-based, same for all symbols)."""
    h10 = t % 10
    h20 = t % 20
    k = 2.0 / 21.0
    for s in range(close.shape[0]):
        x = close[s]
        sum10[s] += x - ring10[h10, s]
        ring10[h10, s] = x
        sum20[s] += x - ring20[h20, s]
        ring20[h20, s] = x
        a = sum10[s] / 10.0 if t >= 9 else np.nan
        b = sum20[s] / 20.0 if t >= 19 else np.nan
        if t < 20:
            ema[s] = sum20[s] / 20.0
        else:
            ema[s] += k * (x - ema[s])
        d = x - prev[s] if t > 0 else 0.0
        prev[s] = x
        up = d if d > 0.0 else 0.0
        down = -d if d < 0.0 else 0.0
        gain[s] = (gain[s] * 13.0 + up) / 14.0
        loss[s] = (loss[s] * 13.0 + down) / 14.0
        total = gain[s] + loss[s]
        orsi[s] = 100.0 * gain[s] / total if total != 0.0 else 0.0
        signal[s] = p10[s] < p20[s] and a > b
        p10[s] = a
        p20[s] = b
        o10[s] = a
        o20[s] = b
        oema[s] = ema[s]
