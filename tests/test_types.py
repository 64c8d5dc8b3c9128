"""The core contracts: BarBatch's helpers, order types, and the protocols' shapes."""

import asyncio

import numpy as np
import pytest

from sqfast.protocols import Broker, Feed, HistorySource
from sqfast.types import (
    GRANULARITY_NAMES,
    GRANULARITY_SECONDS,
    Account,
    BarBatch,
    Fill,
    OrderRequest,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Position,
    Side,
)


def some_bars(ts, sym) -> BarBatch:
    n = len(ts)
    return BarBatch(ts, sym, np.ones(n), np.full(n, 2.0), np.zeros(n), np.ones(n), np.arange(n, dtype=float))


def test_granularity_table():
    assert list(GRANULARITY_SECONDS) == ["1s", "5s", "10s", "15s", "30s", "1m", "2m", "5m", "15m", "30m",
                                         "1h", "2h", "4h", "6h", "12h", "1d"]
    assert all(86_400 % s == 0 for s in GRANULARITY_SECONDS.values())
    assert GRANULARITY_NAMES[60] == "1m" and GRANULARITY_NAMES[86_400] == "1d"


def test_bar_batch_coerces_dtypes_and_checks_lengths():
    bars = some_bars([3, 1], [0, 1])
    assert bars.ts.dtype == np.int64 and bars.sym.dtype == np.int64 and bars.open.dtype == np.float64
    assert all(a.flags.c_contiguous for a in bars.columns().values())
    with pytest.raises(ValueError, match="rows"):
        BarBatch([1, 2], [0], [1.0], [1.0], [1.0], [1.0], [1.0])
    with pytest.raises(ValueError, match="one-dimensional"):
        BarBatch([[1]], [[0]], [[1.0]], [[1.0]], [[1.0]], [[1.0]], [[1.0]])


def test_bar_batch_does_not_copy_arrays_of_the_right_type():
    ts = np.array([1, 2], dtype=np.int64)
    assert some_bars(ts, np.array([0, 1])).ts is ts


def test_bar_batch_empty_concat_take_sorted():
    assert len(BarBatch.empty()) == 0
    a, b = some_bars([5, 5], [1, 0]), some_bars([2], [3])
    both = BarBatch.concat([a, BarBatch.empty(), b])
    assert list(both.ts) == [5, 5, 2] and list(both.sym) == [1, 0, 3]
    assert BarBatch.concat([]) == BarBatch.empty()
    assert list(both.sorted().sym) == [3, 0, 1]
    assert list(both.take(both.ts == 5).sym) == [1, 0]
    assert list(both.take(np.array([2, 0])).ts) == [2, 5]


def test_bar_batch_equality_treats_nan_as_equal():
    a = some_bars([1], [0])
    nan = BarBatch(a.ts, a.sym, [np.nan], a.high, a.low, a.close, a.volume)
    assert nan == BarBatch(a.ts, a.sym, [np.nan], a.high, a.low, a.close, a.volume)
    assert nan != a
    with pytest.raises(TypeError):
        hash(a)


def test_order_request_validates_prices_for_its_type():
    market = OrderRequest("run1-sma-AAPL-1", "AAPL", "buy", 10)
    assert market.side is Side.BUY and market.type is OrderType.MARKET
    OrderRequest("id", "AAPL", Side.SELL, 1.5, OrderType.STOP_LIMIT, limit_price=9.0, stop_price=9.5)
    for kwargs in ({"type": "limit"}, {"type": "stop", "stop_price": -1.0}, {"limit_price": 10.0}):
        with pytest.raises(ValueError):
            OrderRequest("id", "AAPL", "buy", 1, **kwargs)
    for qty in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="qty"):
            OrderRequest("id", "AAPL", "buy", qty)
    with pytest.raises(ValueError):
        OrderRequest("", "AAPL", "buy", 1)
    with pytest.raises(ValueError):
        OrderRequest("id", "AAPL", "hold", 1)


def test_order_status_finality():
    assert {s for s in OrderStatus if s.is_final} == {"filled", "canceled", "rejected", "expired"}
    assert OrderUpdate("id", None, "accepted").status is OrderStatus.ACCEPTED


class FakeBroker:
    """The smallest thing that satisfies Broker, including its idempotency requirement."""

    name = "fake"

    def __init__(self):
        self.orders: dict[str, OrderUpdate] = {}

    async def submit(self, order: OrderRequest) -> OrderUpdate:
        if order.client_order_id not in self.orders:
            broker_id = f"b{len(self.orders)}"
            self.orders[order.client_order_id] = OrderUpdate(order.client_order_id, broker_id, "new")
        return self.orders[order.client_order_id]

    async def cancel(self, client_order_id: str) -> None:
        return None

    async def order(self, client_order_id: str) -> OrderUpdate | None:
        return self.orders.get(client_order_id)

    async def updates(self):
        yield Fill("e1", "c1", "AAPL", "buy", 1.0, 10.0, 0)

    async def positions(self) -> list[Position]:
        return []

    async def account(self) -> Account:
        return Account(cash=1.0, equity=1.0, buying_power=1.0)


def test_protocols_are_structural():
    broker = FakeBroker()
    assert isinstance(broker, Broker)
    assert not isinstance(broker, Feed) and not isinstance(broker, HistorySource)
    order = OrderRequest("same-id", "AAPL", "buy", 1)

    async def twice():
        return await broker.submit(order), await broker.submit(order)

    first, second = asyncio.run(twice())
    assert first == second and len(broker.orders) == 1
