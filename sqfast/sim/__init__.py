"""The built-in simulated broker: backtesting.py's order and fill rules.

`SimAccount` is one sub-account in Python (every feature, including a callable commission);
`sqfast.sim.compiled` holds many sub-accounts in arrays and applies the same rules in Numba, one
call per bar for all symbols (imported on its own, so that `sqfast.sim` stays light).
"""

from sqfast.sim.broker import FULL, NO_MARGIN, NO_UNITS, OUT_OF_MONEY, SAME_BAR_BRACKET, SimAccount
from sqfast.sim.records import Order, Position, Trade

__all__ = ["FULL", "NO_MARGIN", "NO_UNITS", "OUT_OF_MONEY", "SAME_BAR_BRACKET", "Order", "Position",
           "SimAccount", "Trade"]
