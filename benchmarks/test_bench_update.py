"""`_update` of every kernel, every symbol with a bar (`sym=None`), at 1,000 and 10,000 symbols."""

import numpy as np
import pytest

from sqfast.kernels.catalog import all_specs
from sqfast.synthetic import demo_bars

SPECS = all_specs()
BARS = 64


def bar_rows(spec, n_symbols: int) -> list[list[np.ndarray]]:
    """`BARS` consecutive rows of the kernel's inputs, by input name."""
    bars = demo_bars(BARS, n_symbols, seed=1)
    by_name = {"x": bars.close, "open": bars.open, "high": bars.high, "low": bars.low, "close": bars.close,
               "volume": bars.volume, "a": bars.close, "b": bars.open,
               "cond": (bars.close > bars.open).astype(np.float64)}
    return [[by_name[name][t] for name in spec.inputs] for t in range(BARS)]


@pytest.mark.parametrize("n_symbols", [1_000, 10_000])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_update(record, name, n_symbols):
    spec = SPECS[name]
    state = spec.init(n_symbols, **spec.defaults())
    dtype = spec.out_dtype
    outs = tuple(np.empty(n_symbols, dtype=dtype) for _ in spec.outputs)
    out = outs[0] if len(outs) == 1 else outs
    rows = bar_rows(spec, n_symbols)
    for row in rows:  # past the warm-up, into the steady state
        spec.update(state, None, *row, out)
    position = [0]

    def one_bar():
        t = position[0]
        position[0] = t + 1 if t + 1 < BARS else 0
        spec.update(state, None, *rows[t], out)

    record(f"update_{name}_{n_symbols}", one_bar, rounds_=20, iterations=50)
