"""Netting: several strategies' market orders on one symbol in one interval become one broker
order (strategy "*"), while each strategy's own order, fills and position stay in the ledger.

The run trades two market-order strategies at the same granularity on the same symbols (so
their orders meet) and a third at a coarser granularity, whose orders fill at a different bar
and so must never be netted with theirs. Checked against the journal: membership, sizes, sides,
final states and filled quantities of every net order, recomputed from its members' rows; and
that the strategies' own positions are what their own fills add up to.
"""

import textwrap
from collections import defaultdict
from pathlib import Path

import pytest

from sqfast.config import build_config
from sqfast.journal import client_order_id
from sqfast.journal_read import open_reader
from sqfast.live import run

ROOT = Path(__file__).resolve().parents[2]
SYMBOLS = ["AAA", "BBB", "CCC", "DDD"]


def portfolio(tmp_path: Path) -> Path:
    text = textwrap.dedent(f"""\
        data_source = "demo"
        granularity = "1m"
        mode = "paper"
        capital = 400000
        duration = "8h"
        speed = "max"
        run_dir = "run"
        symbols = ["AAA", "BBB", "CCC", "DDD"]

        [source.demo]
        seed = 5

        [[strategy]]
        id = "fast_sma"
        file = "{ROOT / 'strategies' / 'sma_cross.py'}"
        allocation = 0.3
        params = {{ n1 = 3, n2 = 7 }}

        [[strategy]]
        id = "fast_ema"
        file = "{ROOT / 'strategies' / 'ema_cross.py'}"
        allocation = 0.3
        params = {{ fast = 3, slow = 6 }}

        [[strategy]]
        id = "slow_sma"
        file = "{ROOT / 'strategies' / 'sma_cross.py'}"
        allocation = 0.3
        granularity = "5m"
        params = {{ n1 = 2, n2 = 5 }}
        """)
    path = tmp_path / "portfolio.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def journal(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("net")
    config = build_config(portfolio(tmp_path), cwd=tmp_path)
    assert run(config) == 0
    with open_reader(config.run_dir) as reader:
        return reader.run().run_id, reader.orders(), reader.fills(), reader.positions()


def _signed(order) -> float:
    return order.size if order.side == "buy" else -order.size


def test_orders_from_two_strategies_on_a_symbol_share_one_net_order(journal):
    run_id, orders, _, _ = journal
    nets = {o.client_order_id: o for o in orders if o.strategy == "*"}
    members = defaultdict(list)
    for o in orders:
        if o.net_id is not None:
            members[o.net_id].append(o)
    assert len(nets) >= 10, "too few net orders to prove anything"
    assert set(members) == set(nets)
    for net_id, net in nets.items():
        mine = members[net_id]
        assert len({m.strategy for m in mine}) >= 2
        assert all(m.symbol == net.symbol and m.bar_ts_ns == net.bar_ts_ns for m in mine)
        assert all(m.type == "market" and (m.limit, m.stop, m.sl, m.tp) == (None,) * 4 for m in mine)
        assert "slow_sma" not in {m.strategy for m in mine}, "a 5m order netted with 1m orders"
        total = sum(_signed(m) for m in mine)
        assert net.size == pytest.approx(abs(total), abs=1e-9)
        assert net.side == ("buy" if total >= 0 else "sell")
        assert net_id == client_order_id(run_id, "*", net.symbol, net.bar_ts_ns, 0)


def test_every_pair_of_meeting_market_orders_is_netted(journal):
    """No two same-granularity strategies' market orders on a symbol at a bar escape netting."""
    _, orders, _, _ = journal
    by_bar = defaultdict(set)
    for o in orders:
        sent = o.state != "blocked" and o.type == "market" and o.size > 0
        if o.strategy in ("fast_sma", "fast_ema") and sent:
            by_bar[o.symbol, o.bar_ts_ns].add(o.strategy)
    meeting = {key for key, owners in by_bar.items() if len(owners) == 2}
    netted = {(o.symbol, o.bar_ts_ns) for o in orders if o.strategy == "*"}
    assert meeting and meeting == netted


def test_a_finished_net_order_reports_what_its_members_filled(journal):
    _, orders, fills, _ = journal
    entered = defaultdict(float)  # an order's own execution: its fills' "in" legs (exits of the trade
    for f in fills:  # it opened are journaled against it too)
        if ":in:" in f.execution_id:
            entered[f.client_order_id] += f.qty
    members = defaultdict(list)
    for o in orders:
        if o.net_id is not None:
            members[o.net_id].append(o)
    finished = 0
    for net in (o for o in orders if o.strategy == "*"):
        mine = members[net.client_order_id]
        if any(m.state == "submitted" for m in mine):
            assert net.state == "submitted"
            continue
        finished += 1
        filled = [m for m in mine if m.state == "filled"]
        assert net.state == ("filled" if filled else "canceled")
        # an entry by what it entered; a position.close() (no fill of its own) by its size
        done = sum((entered[m.client_order_id] or m.size) * (1 if m.side == "buy" else -1) for m in filled)
        assert net.filled_qty == pytest.approx(abs(done), abs=1e-9)
    assert finished >= 10


def test_each_strategy_keeps_its_own_position(journal):
    _, orders, fills, positions = journal
    strategy_of = {o.client_order_id: o.strategy for o in orders}
    held = defaultdict(float)
    for f in fills:
        assert strategy_of[f.client_order_id] != "*", "a fill booked to the net order"
        held[f.strategy, f.symbol] += f.qty if f.side == "buy" else -f.qty
    for p in positions:
        assert p.size == pytest.approx(held[p.strategy, p.symbol], abs=1e-9)
