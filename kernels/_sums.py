"""Compensated (Neumaier) running sums, so windowed sums never drift.

A plain running sum that adds the newest value and subtracts the oldest accumulates rounding
error over millions of updates; carrying the lost low-order part in a separate compensation term
keeps the sum exact to a few ulps indefinitely, at the cost of a few flops and no branches that
stop vectorisation. The value of the sum is `total + comp`.
"""

from ._jit import kernel


@kernel
def neumaier_add(total, comp, v):
    """Return `(total', comp')` after adding `v` to the compensated sum `(total, comp)`."""
    t = total + v
    if abs(total) >= abs(v):
        comp += (total - t) + v
    else:
        comp += (v - t) + total
    return t, comp
