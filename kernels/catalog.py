"""What each kernel is: inputs, parameters, outputs, warm-up and reference.

The strategy compiler maps indicator functions to kernels through this table, and the test
suite runs one generic set of checks over every entry. Each family module lists its own
`SPECS`; this module only gathers them.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class KernelSpec:
    """One indicator kernel and the facts needed to use and check it.

    `lookback(**params)` gives, per output, the index of the first non-NaN value in a batch
    run (TA-Lib's lookback), so warm-up needs `lookback + 1` bars.
    """

    name: str
    inputs: tuple[str, ...]
    params: tuple[tuple[str, float], ...]
    outputs: tuple[str, ...]
    lookback: Callable[..., tuple[int, ...]]
    init: Callable
    update: Callable
    step: Callable
    batch: Callable
    reference: str
    out_dtype: type = np.float64

    def defaults(self) -> dict[str, float]:
        """Parameter names and their default values, in signature order."""
        return dict(self.params)


def all_specs() -> dict[str, KernelSpec]:
    """Every kernel spec by name, in family order."""
    from . import cross, extrema, ma, momentum, volatility, volume

    specs: dict[str, KernelSpec] = {}
    for module in (ma, momentum, volatility, extrema, volume, cross):
        for spec in module.SPECS:
            specs[spec.name] = spec
    return specs
