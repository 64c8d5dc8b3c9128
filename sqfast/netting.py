"""Netting: several strategies' orders on one symbol go to the broker as one order, and its fill is
split back to each strategy's order, so the ledger keeps each strategy's own position, fills and P&L.

`net` groups one bar's orders by symbol: a symbol ordered by two or more strategies becomes one
`NetOrder` under a deterministic id (`client_order_id(run_id, "*", symbol, bar_ts_ns, 0)`, as the
journal's `net_id`), so a restart reproduces it; any other order goes to the broker as itself.
`allocate` splits the net order's fill back to its components. Pure Python, no I/O.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from .journal import client_order_id

__all__ = ["NET_STRATEGY", "Component", "NetOrder", "allocate", "net"]

NET_STRATEGY = "*"  # the journal's strategy of a net order


@dataclass(frozen=True)
class Component:
    """One strategy's order on one symbol: `units` signed (+ buy, − sell), whole or fractional."""

    client_order_id: str
    strategy: str
    symbol: str
    units: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.units):
            raise ValueError(f"order {self.client_order_id} ({self.symbol}): units must be finite, "
                             f"not {self.units!r}")


@dataclass(frozen=True)
class NetOrder:
    """The one broker order for several strategies' orders on a symbol: `qty` = |sum of units|."""

    net_id: str
    symbol: str
    side: Literal["buy", "sell"]
    qty: float
    components: tuple[Component, ...]

    @property
    def crossed(self) -> bool:
        """Nothing goes to the broker: the components fill against each other in full."""
        return self.qty == 0


def net(run_id: str, bar_ts_ns: int,
        components: Iterable[Component]) -> tuple[list[NetOrder], list[Component]]:
    """One bar's orders as (net orders, orders that go to the broker as themselves).

    Symbols are taken in first-seen order. A symbol with orders from at least two strategies
    becomes one `NetOrder` (its components in input order; side from the sign of the sum, "buy"
    when it is 0). Orders on any other symbol are returned unchanged, in input order.
    """
    components = list(components)
    by_symbol: dict[str, list[Component]] = {}
    for component in components:
        by_symbol.setdefault(component.symbol, []).append(component)
    orders = []
    for symbol, group in by_symbol.items():
        if len({c.strategy for c in group}) < 2:
            continue
        total = math.fsum(c.units for c in group)  # correctly rounded: 0 only if the sum is 0
        net_id = client_order_id(run_id, NET_STRATEGY, symbol, bar_ts_ns, 0)
        orders.append(NetOrder(net_id, symbol, "buy" if total >= 0 else "sell", abs(total), tuple(group)))
    netted = {order.symbol for order in orders}
    return orders, [c for c in components if c.symbol not in netted]


def _apportion(total: Fraction, weights: list[Fraction], whole: bool) -> list[Fraction]:
    """`total` pro rata to `weights`: exact fractions, or whole units by the largest-remainder
    method (each gets the floor of its quota, the units left go to the largest remainders, ties
    to the earlier weight), which never gives a weight more than the ceiling of its quota."""
    weight = sum(weights)
    if total == 0 or weight == 0:
        return [Fraction(0)] * len(weights)
    quotas = [total * w / weight for w in weights]
    if not whole:
        return quotas
    shares = [Fraction(math.floor(q)) for q in quotas]
    left = int(total - sum(shares))
    for i in sorted(range(len(quotas)), key=lambda i: (shares[i] - quotas[i], i))[:left]:
        shares[i] += 1
    return shares


def allocate(order: NetOrder, filled_qty: float, price: float) -> list[tuple[str, float, float]]:
    """Split a (possibly partial) fill of `order` back to its components, as one
    (client_order_id, signed units filled, price) per component in order (0.0 for none).

    `filled_qty` is the broker's total fill of the net order (0 ≤ filled_qty ≤ order.qty, else
    ValueError) and `price` its average price, which is also the price of the crossed units (the
    venue's price for the same instant; for a crossed order the caller's price for that instant).
    Call it once, when the net order is final: largest remainders are not monotone in filled_qty.

    1. Internal crossing first: the buys and the sells offset each other up to min(total buys,
       total sells). The side opposite the net side fills in full, and the net side gets those
       crossed units pro rata to its components' units; crossing needs no broker, so it fills in
       full even when the broker's fill is partial or 0.
    2. The net side's remaining demand gets the broker's fill, pro rata to each component's
       remaining units.
    3. Pro rata in whole units when every component's units and the broker's fill are whole
       numbers (largest-remainder method, ties to the earlier component); otherwise in exact
       fractions, returned as the nearest floats.
    4. No component gets more than it asked or the wrong sign; 0 units get 0. The signed sum of the
       allocations is the net fill (sign of the net side × filled_qty): exactly in whole units,
       in fractions to float rounding (a full fill gives every component exactly its units).
    """
    if not 0 <= filled_qty <= order.qty:
        raise ValueError(f"net order {order.net_id} ({order.symbol}): filled_qty must be within "
                         f"[0, {order.qty}], not {filled_qty!r}")
    units = [Fraction(c.units) for c in order.components]
    sign = 1 if sum(units) >= 0 else -1  # the net side
    demand = [max(sign * u, Fraction(0)) for u in units]  # each net-side component's units
    crossed = sum(demand) - abs(sum(units))  # == the opposite side's total, which fills in full
    remaining = abs(sum(units))
    broker = remaining * Fraction(filled_qty) / Fraction(order.qty) if order.qty else Fraction(0)
    whole = all(u.denominator == 1 for u in units) and broker.denominator == 1
    first = _apportion(crossed, demand, whole)
    second = _apportion(broker, [d - c for d, c in zip(demand, first, strict=True)], whole)
    fills = [float(u if sign * u < 0 else sign * (a + b))
             for u, a, b in zip(units, first, second, strict=True)]
    if any(fills) and not math.isfinite(price):
        raise ValueError(f"net order {order.net_id} ({order.symbol}): fill price must be finite, "
                         f"not {price!r}")
    return [(c.client_order_id, fill, float(price)) for c, fill in zip(order.components, fills, strict=True)]
