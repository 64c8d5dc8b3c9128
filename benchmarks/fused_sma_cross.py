"""A hand-written fused Numba step for the SMA-crossover strategy (SMA(10), SMA(20), crossover,
close-then-reverse intents), the reference the translated step is measured against.

What one would write by hand for exactly this strategy with every symbol advancing together:
one loop, shared ring slots, plain running sums, intents written straight to arrays.
"""

import numpy as np
from numba import njit


def fused_state(n_symbols: int) -> tuple[np.ndarray, ...]:
    z = np.zeros
    return (z((10, n_symbols)), z((20, n_symbols)), z(n_symbols), z(n_symbols),
            np.full(n_symbols, np.nan), np.full(n_symbols, np.nan), z((4, n_symbols)), z((4, n_symbols)),
            np.zeros(n_symbols, np.int64))


@njit(cache=True, nogil=True, error_model="numpy")
def fused_sma_cross_step(t, close, ring10, ring20, sum10, sum20, prev10, prev20, act_code, act_size, n_act):
    """Advance every symbol by bar `t` and write its intents (1 buy, 2 sell, 3 close)."""
    h10, h20 = t % 10, t % 20
    for s in range(close.shape[0]):
        x = close[s]
        sum10[s] += x - ring10[h10, s]
        ring10[h10, s] = x
        sum20[s] += x - ring20[h20, s]
        ring20[h20, s] = x
        a = sum10[s] / 10.0 if t >= 9 else np.nan
        b = sum20[s] / 20.0 if t >= 19 else np.nan
        k = 0
        if t >= 20:
            if prev10[s] < prev20[s] and a > b:
                act_code[0, s], act_code[1, s], act_size[1, s], k = 3, 1, 0.1, 2
            elif prev20[s] < prev10[s] and b > a:
                act_code[0, s], act_code[1, s], act_size[1, s], k = 3, 2, 1.0, 2
        n_act[s] = k
        prev10[s] = a
        prev20[s] = b
