"""The orders a compiled step asked for this bar, decoded from what it writes.

The step sets bit `j` of `fired[s]` when symbol `s` reached order call `j` of next() (the
layout's `sites`, in program order, which is the order they ran in: next() has no loops), and
stores the arguments computed at run time in `args[s, column]`. Arguments known at translation
are in the site's `literal`. An action is a tuple in ACTION_FIELDS order: (code, size, limit,
stop, sl, tp, portion), code 1 buy, 2 sell, 3 position.close; NaN = not given.
"""

import math

import numpy as np
from numba import njit

from .codegen import ACTION_FIELDS, ActionSite

ACTION_WIDTH = 8  # ACTION_FIELDS padded so that one action fills one 64-byte cache line


def site_tables(sites: list[ActionSite]) -> tuple[np.ndarray, np.ndarray]:
    """Each site's literal arguments (n_sites, 7) and argument columns (n_sites, 7, -1 = literal)."""
    width = len(ACTION_FIELDS)
    literal = np.array([site.literal for site in sites], dtype=np.float64).reshape(len(sites), width)
    slots = np.array([site.slots for site in sites], dtype=np.int64).reshape(len(sites), width)
    return literal, slots


def actions_of(sites: list[ActionSite], fired_bits: int, args_row: np.ndarray) -> list[tuple[float, ...]]:
    """Symbol's actions this bar, in the order next() made them."""
    actions = []
    for j, site in enumerate(sites):
        if fired_bits >> j & 1:
            actions.append(tuple(args_row[slot] if slot >= 0 else value
                                 for value, slot in zip(site.literal, site.slots, strict=True)))
    return actions


@njit(cache=True, nogil=True, error_model="numpy")
def expand_actions(sym, fired, args, literal, slots, act, n_act):
    """Write the actions of the symbols in `sym` as rows `act[s, k, :]` (ACTION_WIDTH wide, k in
    the order next() made them) and their count in `n_act[s]`."""
    for i in range(sym.shape[0]):
        s = sym[i]
        bits = fired[s]
        k = 0
        for j in range(literal.shape[0]):
            if bits >> j & 1:
                for f in range(literal.shape[1]):
                    column = slots[j, f]
                    act[s, k, f] = args[s, column] if column >= 0 else literal[j, f]
                act[s, k, ACTION_WIDTH - 1] = math.nan
                k += 1
        n_act[s] = k
