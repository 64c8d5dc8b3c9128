"""A strategy's orders of one bar as columns: what a compiled step asked for, decoded in bulk.

One row per order, grouped by symbol row (increasing) and, within a row, in the order next()
made them. Columns follow the compiled broker's actions (`ACT_*`): code (1 buy, 2 sell,
3 position.close), size, limit, stop, sl, tp, portion; NaN = not given. The live engine checks
and journals the orders from these arrays and hands the approved ones to the sub-accounts in
one call, so no per-order Python object is made on the hot path.
"""

from dataclasses import dataclass

import numpy as np

from .compile.intents import ACTION_WIDTH, expand_actions, site_tables
from .compile.translate import StepArrays
from .fallback import PlacedOrder
from .sim.compiled_layout import (
    ACT_CLOSE,
    ACT_CODE,
    ACT_LIMIT,
    ACT_PORTION,
    ACT_SIZE,
    ACT_SL,
    ACT_STOP,
    ACT_TP,
)

SIDE_NAMES = {1: "buy", 2: "sell", 3: "close"}
SIDE_CODES = {name: code for code, name in SIDE_NAMES.items()}


@dataclass
class OrderBatch:
    """Orders as columns (module docstring); `rows` are the strategy's symbol rows."""

    rows: np.ndarray  # int64 [m]
    values: np.ndarray  # float64 [m, ACTION_WIDTH]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def codes(self) -> np.ndarray:
        return self.values[:, ACT_CODE].astype(np.int64)

    def amount(self) -> np.ndarray:
        """Each order's size, or its portion for a close."""
        return np.where(self.values[:, ACT_CODE] == ACT_CLOSE, self.values[:, ACT_PORTION],
                        self.values[:, ACT_SIZE])

    def sequence(self) -> np.ndarray:
        """Each order's number among its row's orders of this bar (0, 1, ...)."""
        m = len(self.rows)
        if not m:
            return np.zeros(0, dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, self.rows[1:] != self.rows[:-1]])
        return np.arange(m) - np.repeat(starts, np.diff(np.r_[starts, m]))

    def take(self, keep: np.ndarray) -> "OrderBatch":
        return OrderBatch(self.rows[keep], self.values[keep])

    def placed(self, j: int, bar: int) -> PlacedOrder:
        """Order `j` as the Python path's PlacedOrder."""
        code, size, limit, stop, sl, tp, portion = self.values[j, :ACT_PORTION + 1].tolist()
        return PlacedOrder(bar, SIDE_NAMES[int(code)], portion if code == ACT_CLOSE else size,
                           *(None if x != x else x for x in (limit, stop, sl, tp)))

    @staticmethod
    def of(orders: list[tuple[int, PlacedOrder]]) -> "OrderBatch":
        """(row, PlacedOrder) pairs, rows increasing, as a batch."""
        values = np.full((len(orders), ACTION_WIDTH), np.nan)
        for j, (_, order) in enumerate(orders):
            close = order.side == "close"
            values[j, ACT_CODE] = SIDE_CODES[order.side]
            values[j, ACT_PORTION if close else ACT_SIZE] = order.size
            for column, price in ((ACT_LIMIT, order.limit), (ACT_STOP, order.stop), (ACT_SL, order.sl),
                                  (ACT_TP, order.tp)):
                if price is not None:
                    values[j, column] = price
        return OrderBatch(np.array([row for row, _ in orders], dtype=np.int64), values)


class StepDecoder:
    """Decodes a compiled step's `fired`/`args` into an OrderBatch, with scratch arrays reused."""

    def __init__(self, arrays: StepArrays):
        self.arrays = arrays
        sites = arrays.layout.sites
        self.literal, self.slots = site_tables(sites)
        n = len(arrays.bars)
        self.act = np.full((n, max(1, len(sites)), ACTION_WIDTH), np.nan)
        self.n_act = np.zeros(n, dtype=np.int64)

    def decode(self, rows: np.ndarray) -> OrderBatch:
        """The orders of the symbols `rows` (increasing) from the step's last call."""
        arrays = self.arrays
        fired = rows[arrays.fired[rows] != 0]
        if not len(fired) or not len(self.literal):
            return OrderBatch(np.zeros(0, dtype=np.int64), np.zeros((0, ACTION_WIDTH)))
        expand_actions(fired, arrays.fired, arrays.args, self.literal, self.slots, self.act, self.n_act)
        counts = self.n_act[fired]
        starts = np.cumsum(counts) - counts
        order_rows = np.repeat(fired, counts)
        k = np.arange(len(order_rows)) - np.repeat(starts, counts)
        return OrderBatch(order_rows, self.act[order_rows, k])
