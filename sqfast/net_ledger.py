"""The portfolio's broker orders: several strategies' market orders on one symbol become one.

At the end of each interval the approved plain market orders (buy, sell or position.close with
no limit, stop, sl or tp) of strategies that share a granularity, and so fill at the same next
bar, are grouped by symbol (`sqfast.netting.net`). A symbol with orders from two or more
strategies gets one net order, journaled with strategy "*" under its own deterministic id, and
each strategy's order names it in `net_id`; other orders go out as themselves. Orders with
prices or brackets stay per strategy: their fills depend on each sub-account's own state.

Each strategy's sub-account still fills its own order (the ledger keeps every strategy's
position, fills and P&L, and a paper run still equals replay). The net order is what the broker
sees: its size is the sum of its members' signed units as the risk gate sized them; it ends
`filled` when its members have finished (with `filled_qty` the sum of what they filled, each
entry by its actual fill, each close by its size) or `canceled` when none filled, priced at its
members' fill. With the simulated broker that is the whole story; a live broker adapter sends
the net order and splits its fills back with `sqfast.netting.allocate`.
"""

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .netting import NET_STRATEGY, Component, net

if TYPE_CHECKING:
    from .admission import JournalRows
    from .engine import IntervalStats, StrategySlot


@dataclass
class _Open:
    """A net order whose members have not all finished."""

    members: dict[str, float]  # client id -> signed units as sized
    filled: float = 0.0
    price: float = math.nan
    any_filled: bool = False
    entries: dict[str, float] = field(default_factory=dict)  # member id -> its entry fill, signed


class NetLedger:
    """Groups each interval's market orders into net orders and follows them to their end."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.candidates: list[tuple] = []  # ((granularity, strategy), symbol, client id, units, row index)
        self.member_of: dict[str, str] = {}  # member client id -> net id
        self.open: dict[str, _Open] = {}

    def offer(self, slot: "StrategySlot", symbols: list[str], cids: list[str], units: list[float],
              order_rows: list[int] | None) -> None:
        """A strategy's approved plain market orders of one bar: symbols, client ids, signed units,
        and their indices in the interval's order rows (None while re-simulating)."""
        rows = order_rows if order_rows is not None else [None] * len(cids)
        key = (slot.granularity_seconds, slot.id)
        self.candidates += [(key, symbol, cid, u, k) for symbol, cid, u, k in zip(symbols, cids, units, rows,
                                                                                    strict=True)]

    def close_interval(self, ts: int, rows: "JournalRows", stats: "IntervalStats") -> None:
        """Net this interval's candidates; journal the net orders and their members' net_id."""
        candidates, self.candidates = self.candidates, []
        strategies: dict[tuple[int, str], set[str]] = {}
        for (granularity, strategy), symbol, *_ in candidates:
            strategies.setdefault((granularity, symbol), set()).add(strategy)
        shared = {key for key, owners in strategies.items() if len(owners) > 1}
        if not shared:
            return
        where: dict[str, int | None] = {}
        groups: dict[int, list[Component]] = {}
        for (granularity, strategy), symbol, cid, units, k in candidates:
            if (granularity, symbol) in shared:
                groups.setdefault(granularity, []).append(Component(cid, strategy, symbol, units))
                where[cid] = k
        for granularity in sorted(groups):
            for order in net(self.run_id, ts, groups[granularity])[0]:
                stats.net_orders += 1
                self.open[order.net_id] = _Open({m.client_order_id: m.units for m in order.components})
                rows.orders.append((order.net_id, NET_STRATEGY, order.symbol, ts, order.side, order.qty,
                                    "market", None, None, None, None, "submitted", None, None))
                for member in order.components:
                    self.member_of[member.client_order_id] = order.net_id
                    k = where[member.client_order_id]
                    if k is not None:
                        rows.orders[k] = (*rows.orders[k][:13], order.net_id)

    def on_events(self, states: list, fills: list, rows: "JournalRows") -> None:
        """Members' fills and final states of a sub-account bar; a net order whose members have
        all finished gets its final state (and filled quantity and price) in `rows`."""
        if not self.member_of:
            return
        for _, _, cid, side, qty, price in fills:
            net_id = self.member_of.get(cid)
            if net_id is not None:
                entry = self.open[net_id]
                entry.price = price
                if cid in entry.members:
                    entry.entries[cid] = entry.entries.get(cid, 0.0) + (qty if side == "buy" else -qty)
        for cid, state in states:
            net_id = self.member_of.pop(cid, None)
            if net_id is None:
                continue
            entry = self.open[net_id]
            units = entry.members.pop(cid)
            if state == "filled":
                entry.any_filled = True
                entry.filled += entry.entries.get(cid, units)
            if not entry.members:
                del self.open[net_id]
                state = "filled" if entry.any_filled else "canceled"
                price = None if math.isnan(entry.price) else entry.price
                rows.net_states.append((net_id, state, abs(entry.filled), price))
