"""Netting several strategies' orders on one symbol, and splitting the net fill back to them,
against a unit-by-unit reference (whole units) and a one-formula reference (fractions)."""

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqfast.journal import client_order_id
from sqfast.netting import Component, NetOrder, allocate, net

RUN, TS = "run-1", 1_699_920_000_000_000_000
PRICE = 101.25


def order_of(units: list[float], symbol: str = "X") -> NetOrder:
    """A net order of `units`, one component per unit count, from strategies alternating a/b."""
    components = [Component(f"c{i}", "ab"[i % 2], symbol, u) for i, u in enumerate(units)]
    orders, alone = net(RUN, TS, components)
    assert len(orders) == 1 and not alone
    return orders[0]


def filled(order: NetOrder, qty: float, price: float = PRICE) -> list[float]:
    result = allocate(order, qty, price)
    assert [cid for cid, _, _ in result] == [c.client_order_id for c in order.components]
    assert all(p == price for _, _, p in result)
    return [units for _, units, _ in result]


# --- references ---------------------------------------------------------------------------------

def hand_out(total: int, weights: list[int]) -> list[int]:
    """One unit at a time to the weight with the largest deficit against its quota
    (total × w / sum(w), compared in integers), ties to the earlier weight."""
    weight, given = sum(weights), [0] * len(weights)
    for _ in range(total if weight else 0):
        deficits = [total * w - g * weight for w, g in zip(weights, given, strict=True)]
        given[deficits.index(max(deficits))] += 1
    return given


def reference_whole(units: list[int], qty: int) -> list[int]:
    buys, sells = sum(u for u in units if u > 0), -sum(u for u in units if u < 0)
    sign = 1 if buys >= sells else -1
    mine = [abs(u) if u * sign > 0 else 0 for u in units]
    crossed = hand_out(min(buys, sells), mine)
    broker = hand_out(qty, [m - c for m, c in zip(mine, crossed, strict=True)])
    return [u if u * sign < 0 else sign * (c + b) for u, c, b in zip(units, crossed, broker, strict=True)]


def reference_fraction(units: list[float], qty: float, net_qty: float) -> list[Fraction]:
    """Each net-side component fills the same share of its units: (crossed + the broker's share of
    the rest) / the net side's total; the other side fills in full."""
    exact = [Fraction(u) for u in units]
    buys, sells = sum(u for u in exact if u > 0), -sum(u for u in exact if u < 0)
    sign, side, other = (1, buys, sells) if buys >= sells else (-1, sells, buys)
    rest = side - other
    share = (other + (rest * Fraction(qty) / Fraction(net_qty) if net_qty else 0)) / side if side else 0
    return [u * share if u * sign > 0 else u for u in exact]


# --- hand examples --------------------------------------------------------------------------------

def test_examples():
    # buys 3 and 1 against a sell of 2: 2 cross (quotas 1.5/0.5, tie -> 2/0), the broker buys 2
    order = order_of([3, 1, -2])
    assert (order.side, order.qty) == ("buy", 2)
    assert filled(order, 2) == [3, 1, -2]
    assert filled(order, 0) == [2, 0, -2]  # crossing fills in full without the broker
    assert filled(order, 1) == [3, 0, -2]  # remaining 1 and 1: the tie goes to the earlier again
    # the net side is the sell side
    assert filled(order_of([5, -4, -4]), 2) == [5, -4, -3]
    assert filled(order_of([1, 1, 1]), 2) == [1, 1, 0]
    assert filled(order_of([0, 2, -1]), 0) == [0, 1, -1]
    assert filled(order_of([1.5, 0.5, -1.0]), 0.5) == [1.125, 0.375, -1.0]


def test_crossed():
    order = order_of([4, -3, -1])
    assert order.crossed and order.qty == 0 and order.side == "buy"
    assert filled(order, 0) == [4, -3, -1]
    assert not order_of([4, -3]).crossed


def test_zero_units_get_a_positive_zero():
    fills = filled(order_of([0, 3, -0.0, -1]), 0)
    assert fills == [0, 1, 0, -1]
    assert math.copysign(1, fills[0]) == math.copysign(1, fills[2]) == 1


# --- properties, whole units -----------------------------------------------------------------------

whole_units = st.lists(st.integers(-50, 50), min_size=2, max_size=8)


@settings(max_examples=400, deadline=None)
@given(whole_units, st.data())
def test_whole_units_match_unit_by_unit_reference(units, data):
    order = order_of(units)
    qty = data.draw(st.integers(0, int(order.qty)))
    fills = filled(order, qty)
    assert fills == reference_whole(units, qty)
    sign = 1 if order.side == "buy" else -1
    assert sum(fills) == sign * qty  # conservation, exactly
    assert all(f.is_integer() for f in fills)
    for u, f in zip(units, fills, strict=True):
        assert 0 <= f * (1 if u > 0 else -1) <= abs(u)
        assert f * u >= 0  # never the wrong sign
        assert u or f == 0
        if u * sign < 0:
            assert f == u  # the crossed side fills in full
    assert fills == filled(order, qty)  # deterministic


@settings(max_examples=200, deadline=None)
@given(whole_units, st.data())
def test_equal_components_earlier_gets_no_less(units, data):
    order = order_of(units)
    fills = filled(order, data.draw(st.integers(0, int(order.qty))))
    for i in range(len(units)):
        for j in range(i + 1, len(units)):
            if units[i] == units[j]:
                assert abs(fills[i]) >= abs(fills[j])


@settings(max_examples=200, deadline=None)
@given(whole_units, st.data())
def test_allocation_depends_on_position_not_on_ids(units, data):
    """Swapping two equal components swaps nothing: ties follow input order, not ids or strategies."""
    order = order_of(units)
    qty = data.draw(st.integers(0, int(order.qty)))
    reordered = NetOrder(order.net_id, order.symbol, order.side, order.qty,
                         tuple(Component(f"z{len(units) - i}", "ba"[i % 2], "X", u)
                               for i, u in enumerate(units)))
    assert filled(reordered, qty) == filled(order, qty)


# --- properties, fractions -------------------------------------------------------------------------

fraction_units = st.lists(
    st.one_of(st.floats(-1_000, 1_000, allow_nan=False, allow_infinity=False).filter(lambda u: u % 1),
              st.integers(-20, 20).map(lambda n: n / 8), st.integers(-20, 20)),
    min_size=2, max_size=8).filter(lambda us: any(u % 1 for u in us))


@settings(max_examples=400, deadline=None)
@given(fraction_units, st.one_of(st.just(0.0), st.just(1.0), st.floats(0, 1)))
def test_fractions_match_reference(units, part):
    order = order_of(units)
    qty = min(order.qty * part, order.qty)
    fills = filled(order, qty)
    assert fills == [float(x) for x in reference_fraction(units, qty, order.qty)]
    sign = 1 if order.side == "buy" else -1
    scale = max(abs(u) for u in units)
    assert math.isclose(math.fsum(fills), sign * qty, rel_tol=1e-12, abs_tol=1e-12 * scale)
    for u, f in zip(units, fills, strict=True):
        assert 0 <= f * (1 if u > 0 else -1) <= abs(u)
        if u * sign < 0 or part == 1.0:
            assert f == u  # the crossed side, and every component of a full fill, fill in full
    assert fills == filled(order, qty)


def test_a_fractional_fill_of_whole_units_is_split_in_fractions():
    assert filled(order_of([2, 1]), 1.5) == [1.0, 0.5]


# --- grouping --------------------------------------------------------------------------------------

def test_grouping():
    components = [
        Component("a1", "a", "AAA", 10),   # only a on AAA: goes alone
        Component("b1", "b", "BBB", 5),
        Component("a2", "a", "AAA", -3),
        Component("a3", "a", "BBB", -2),   # BBB: a and b net
        Component("c1", "c", "CCC", 1),
        Component("d1", "d", "CCC", -1),   # CCC: crossed
        Component("b2", "b", "BBB", 4),
    ]
    orders, alone = net(RUN, TS, components)
    assert alone == [components[0], components[2]]
    assert [o.symbol for o in orders] == ["BBB", "CCC"]
    bbb, ccc = orders
    assert bbb.components == (components[1], components[3], components[6])
    assert (bbb.side, bbb.qty, bbb.crossed) == ("buy", 7, False)
    assert (ccc.side, ccc.qty, ccc.crossed) == ("buy", 0, True)
    assert bbb.net_id == client_order_id(RUN, "*", "BBB", TS, 0)
    assert ccc.net_id == client_order_id(RUN, "*", "CCC", TS, 0)
    assert net(RUN, TS, components) == (orders, alone)  # a restart reproduces the ids
    assert net(RUN, TS + 1, components)[0][0].net_id != bbb.net_id
    assert net("run-2", TS, components)[0][0].net_id != bbb.net_id


def test_sell_side_and_nothing_to_net():
    orders, _ = net(RUN, TS, [Component("a", "a", "X", -2.5), Component("b", "b", "X", 1)])
    assert (orders[0].side, orders[0].qty) == ("sell", 1.5)
    single = [Component("a", "a", "X", 1), Component("b", "b", "Y", 1), Component("c", "a", "X", 2)]
    assert net(RUN, TS, single) == ([], single)
    assert net(RUN, TS, []) == ([], [])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.sampled_from("XYZ"), st.integers(-9, 9)), max_size=12))
def test_symbols_never_mix(rows):
    components = [Component(f"o{i}", s, sym, u) for i, (s, sym, u) in enumerate(rows)]
    orders, alone = net(RUN, TS, components)
    for order in orders:
        assert {c.symbol for c in order.components} == {order.symbol}
        assert len({c.strategy for c in order.components}) >= 2
        assert order.qty == abs(sum(c.units for c in order.components))
        assert list(order.components) == [c for c in components if c.symbol == order.symbol]
    assert sorted([c for o in orders for c in o.components] + alone, key=components.index) == components
    assert alone == [c for c in components if c.symbol not in {o.symbol for o in orders}]
    first_seen = list(dict.fromkeys(c.symbol for c in components))
    assert [o.symbol for o in orders] == [s for s in first_seen if s in {o.symbol for o in orders}]


# --- bad input --------------------------------------------------------------------------------------

@pytest.mark.parametrize("qty", [-1, 2.5, math.nan, math.inf])
def test_filled_qty_outside_the_order(qty):
    with pytest.raises(ValueError, match=r"filled_qty must be within \[0, 2\.0\]"):
        allocate(order_of([3, -1]), qty, PRICE)


def test_crossed_order_takes_no_broker_fill():
    with pytest.raises(ValueError, match=r"filled_qty must be within \[0, 0\.0\]"):
        allocate(order_of([1, -1]), 1, PRICE)


def test_a_fill_needs_a_price():
    with pytest.raises(ValueError, match="fill price must be finite"):
        allocate(order_of([1, -1]), 0, math.nan)
    assert [f for _, f, _ in allocate(order_of([1, 1]), 0, math.nan)] == [0, 0]  # nothing filled


def test_units_must_be_finite():
    with pytest.raises(ValueError, match="units must be finite"):
        Component("a", "a", "X", math.nan)
