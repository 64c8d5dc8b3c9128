"""The built-in simulated broker: backtesting.py's order and fill rules, one sub-account at a time."""

from sqfast.sim.broker import FULL, NO_MARGIN, NO_UNITS, OUT_OF_MONEY, SAME_BAR_BRACKET, SimAccount
from sqfast.sim.records import Order, Position, Trade

__all__ = ["FULL", "NO_MARGIN", "NO_UNITS", "OUT_OF_MONEY", "SAME_BAR_BRACKET", "Order", "Position",
           "SimAccount", "Trade"]
