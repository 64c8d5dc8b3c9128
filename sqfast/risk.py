"""Pre-trade risk checks: every order is checked here before it leaves the portfolio.

Checks, in order (the first that fails names the reason, which the journal keeps with the
blocked order):

- kill switch (`sqfast halt`): no new entries; orders that only reduce a position still go out;
- daily loss limit: once the portfolio's equity is `daily_loss_limit` below its equity at the
  start of the (UTC, bar-time) day, new entries halt until the next day;
- max orders per minute, all strategies together, in bar time (so `--speed max` runs behave as
  real-time ones);
- max order notional, max position notional per symbol (all strategies' positions in it
  together), max gross exposure (every position's absolute value).

Notional is units times the bar's close. An order sized as a fraction of the available margin is
valued as backtesting.py would size it at this close. A `position.close()` or an order that
shrinks the position is never blocked by an exposure limit: blocking an exit only adds risk.
"""

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .config_types import RiskLimits

SIDE_CODES = {"buy": 1, "sell": 2, "close": 3}
NS_PER_DAY = 86_400 * 1_000_000_000
NS_PER_MINUTE = 60 * 1_000_000_000


@dataclass(frozen=True)
class OrderCheck:
    """An order as the risk gate sees it: signed units before and after it, in its symbol."""

    side: str  # buy, sell, close
    units: float  # the order's units (positive); for a close, the units it closes
    price: float  # the bar's close
    position_before: float  # the sub-account's position (units, signed)
    symbol_before: float  # all strategies' position in the symbol (units, signed)
    gross_before: float  # every position's absolute notional

    @property
    def delta(self) -> float:
        if self.side == "close":
            return -self.units if self.position_before > 0 else self.units
        return self.units if self.side == "buy" else -self.units

    @property
    def reduces(self) -> bool:
        """Whether the order only brings the position nearer to flat (an entry whose size is not
        known yet, zero units, never does)."""
        if self.side != "close" and self.units == 0:
            return False
        after = self.position_before + self.delta
        return abs(after) <= abs(self.position_before) and after * self.position_before >= 0


@dataclass
class RiskGate:
    """The limits, and the state they need: order times, the day's starting equity, halts."""

    limits: RiskLimits
    halted: bool = False  # the kill switch
    day: int = -1
    day_start_equity: float = float("nan")
    entries_halted_day: int = -1  # the day the daily loss limit was hit
    recent: deque = field(default_factory=deque)  # [bar time, orders sent then] over the last minute
    sent_last_minute: int = 0

    def new_bar(self, ts_ns: int, equity: float) -> None:
        """Start of an interval: roll the day, and check the daily loss on the equity so far."""
        day = ts_ns // NS_PER_DAY
        if day != self.day:
            self.day, self.day_start_equity = day, equity
        limit = self.limits.daily_loss_limit
        if limit is not None and self.day_start_equity - equity >= limit:
            self.entries_halted_day = day
        while self.recent and self.recent[0][0] <= ts_ns - NS_PER_MINUTE:
            self.sent_last_minute -= self.recent.popleft()[1]

    def check(self, order: OrderCheck, ts_ns: int) -> str | None:
        """The reason `order` is blocked, or None (then it is counted as sent)."""
        reasons, _ = self.check_many(np.array([SIDE_CODES[order.side]]), np.array([order.units]),
                                     np.array([order.price]), np.array([order.position_before]),
                                     np.array([order.symbol_before]), order.gross_before, ts_ns)
        return reasons[0]

    def check_many(self, side: np.ndarray, units: np.ndarray, price: np.ndarray, before: np.ndarray,
                   symbol_before: np.ndarray, gross: float, ts_ns: int) -> tuple[list[str | None], float]:
        """Orders in the sequence they are sent, as columns (side codes 1 buy, 2 sell, 3 close; the
        rest as in OrderCheck): the reason each is blocked or None, and the gross exposure after
        the ones that pass. Each passing order counts for the orders-per-minute limit and adds its
        notional to the gross exposure the next one is checked against."""
        limits = self.limits
        delta = np.where(side == 3, np.where(before > 0, -units, units), np.where(side == 1, units, -units))
        after = before + delta
        reduces = (((side == 3) | (units != 0)) & (np.abs(after) <= np.abs(before))
                   & (after * before >= 0)).tolist()
        notional = (np.abs(delta) * price).tolist()
        position = (np.abs(symbol_before + delta) * price).tolist()
        held = (np.abs(symbol_before) * price).tolist()
        entries_halted = self.halted or self.entries_halted_day == self.day
        cap = limits.max_orders_per_minute
        room = cap - self.sent_last_minute if cap is not None else len(notional) + 1
        reasons: list[str | None] = []
        for j, reduce in enumerate(reduces):
            reason = None
            if entries_halted and not reduce:
                reason = self._halt_reason()
            elif room <= 0:
                reason = f"max_orders_per_minute {limits.max_orders_per_minute} reached"
            elif not reduce:
                reason = self._exposure_reason(notional[j], position[j], gross - held[j] + position[j])
            reasons.append(reason)
            if reason is None:
                room -= 1
                gross += notional[j]
                self._count_sent(ts_ns)
        return reasons, gross

    def _halt_reason(self) -> str:
        if self.halted:
            return "kill switch: trading halted (sqfast resume RUN_DIR to resume)"
        return f"daily loss limit {self.limits.daily_loss_limit:,.2f} reached: new entries halted for the day"

    def _exposure_reason(self, notional: float, position: float, gross: float) -> str | None:
        limits = self.limits
        if limits.max_order_notional is not None and notional > limits.max_order_notional:
            return f"order notional {notional:,.2f} > max_order_notional {limits.max_order_notional:,.2f}"
        if limits.max_position_notional is not None and position > limits.max_position_notional:
            return (f"position notional {position:,.2f} > max_position_notional "
                    f"{limits.max_position_notional:,.2f}")
        if limits.max_gross_exposure is not None and gross > limits.max_gross_exposure:
            return f"gross exposure {gross:,.2f} > max_gross_exposure {limits.max_gross_exposure:,.2f}"
        return None

    def state(self) -> dict:
        """What a restart restores (the journal's risk_state)."""
        return {"day": self.day, "day_start_equity": self.day_start_equity,
                "entries_halted_day": self.entries_halted_day,
                "halted_entries": self.entries_halted_day == self.day,
                "recent": [list(entry) for entry in self.recent]}

    def restore(self, state: dict) -> None:
        self.day, self.day_start_equity = state["day"], state["day_start_equity"]
        self.entries_halted_day = state["entries_halted_day"]
        self.recent, self.sent_last_minute = deque(), 0
        for entry in state["recent"]:  # [bar time, count]; a bare bar time (older journals) counts 1
            ts_ns, count = entry if isinstance(entry, list) else (entry, 1)
            self._count_sent(ts_ns, count)

    def _count_sent(self, ts_ns: int, count: int = 1) -> None:
        if self.recent and self.recent[-1][0] == ts_ns:
            self.recent[-1][1] += count
        else:
            self.recent.append([ts_ns, count])
        self.sent_last_minute += count
