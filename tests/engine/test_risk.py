"""The pre-trade risk gate: each limit blocks exactly the orders it should, names itself, and
never blocks an order that only reduces a position."""

import pytest

from sqfast.config_types import RiskLimits
from sqfast.risk import NS_PER_DAY, NS_PER_MINUTE, OrderCheck, RiskGate

T0 = 1_704_196_800_000_000_000  # 2024-01-02 12:00 UTC


def order(side="buy", units=10.0, price=100.0, before=0.0, symbol=None, gross=0.0) -> OrderCheck:
    return OrderCheck(side, units, price, before, before if symbol is None else symbol, gross)


def gate(**limits) -> RiskGate:
    g = RiskGate(RiskLimits(**limits))
    g.new_bar(T0, 100_000.0)
    return g


@pytest.mark.parametrize("limits, check, reason", [
    ({"max_order_notional": 999.0}, order(units=10, price=100), "max_order_notional"),
    ({"max_position_notional": 1_500.0}, order(units=10, before=6), "max_position_notional"),
    ({"max_position_notional": 1_500.0}, order(units=10, before=0, symbol=6), "max_position_notional"),
    ({"max_gross_exposure": 5_000.0}, order(units=10, gross=4_500.0), "max_gross_exposure"),
    ({"max_gross_exposure": 5_000.0}, order(side="sell", units=10, before=-45, gross=4_500.0),
     "max_gross_exposure"),
])
def test_each_exposure_limit_blocks_and_names_itself(limits, check, reason):
    assert reason in gate(**limits).check(check, T0)


@pytest.mark.parametrize("limits, check", [
    ({"max_order_notional": 999.0}, order(units=9, price=100)),
    ({"max_position_notional": 1_500.0}, order(units=5, before=10)),
    ({"max_gross_exposure": 5_000.0}, order(units=10, gross=3_000.0)),
])
def test_orders_within_the_limits_pass(limits, check):
    assert gate(**limits).check(check, T0) is None


@pytest.mark.parametrize("check", [
    order(side="sell", units=10, before=50),  # reduces a long
    order(side="buy", units=50, before=-50),  # flattens a short
    order(side="close", units=50, before=50),
])
def test_reducing_orders_pass_every_exposure_limit_and_the_halts(check):
    g = gate(max_order_notional=1.0, max_position_notional=1.0, max_gross_exposure=1.0, daily_loss_limit=1.0)
    g.halted = True
    g.new_bar(T0 + 1, 0.0)  # a large loss: entries halted for the day
    assert g.check(check, T0 + 1) is None


def test_a_reversal_is_not_a_reduction():
    assert not order(side="sell", units=100, before=50).reduces
    reversal = order("sell", units=100, price=11, before=50)
    assert "max_order_notional" in gate(max_order_notional=1_000.0).check(reversal, T0)


def test_kill_switch_blocks_new_entries():
    g = gate()
    g.halted = True
    assert "kill switch" in g.check(order(), T0)


def test_daily_loss_limit_halts_entries_until_the_next_day():
    g = gate(daily_loss_limit=1_000.0)
    g.new_bar(T0 + NS_PER_MINUTE, 99_500.0)
    assert g.check(order(), T0 + NS_PER_MINUTE) is None
    g.new_bar(T0 + 2 * NS_PER_MINUTE, 98_999.0)
    assert "daily loss limit" in g.check(order(), T0 + 2 * NS_PER_MINUTE)
    g.new_bar(T0 + 3 * NS_PER_MINUTE, 100_000.0)  # recovering does not lift it the same day
    assert "daily loss limit" in g.check(order(), T0 + 3 * NS_PER_MINUTE)
    next_day = (T0 // NS_PER_DAY + 1) * NS_PER_DAY
    g.new_bar(next_day, 98_999.0)  # a new day starts from this equity
    assert g.check(order(), next_day) is None


def test_orders_per_minute_counts_a_sliding_minute_of_bar_time():
    g = gate(max_orders_per_minute=3)
    for k in range(3):
        assert g.check(order(), T0 + k) is None
    assert "max_orders_per_minute" in g.check(order(), T0 + 3)
    g.new_bar(T0 + NS_PER_MINUTE - 1, 100_000.0)
    assert "max_orders_per_minute" in g.check(order(), T0 + NS_PER_MINUTE - 1)
    g.new_bar(T0 + NS_PER_MINUTE + 1, 100_000.0)  # the first two left the window
    assert g.check(order(), T0 + NS_PER_MINUTE + 1) is None


def test_state_survives_a_restart():
    g = gate(max_orders_per_minute=2, daily_loss_limit=10.0)
    g.check(order(), T0)
    g.new_bar(T0 + 1, 99_000.0)
    restored = RiskGate(g.limits)
    restored.restore(g.state())
    assert restored.state() == g.state()
    assert "daily loss limit" in restored.check(order(), T0 + 1)
