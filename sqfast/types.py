"""The core data contracts shared by feeds, the engine and brokers.

Adapters see only this module, `sqfast.protocols` and `sqfast.errors`, so everything here is
plain numpy and the standard library. Times are int64 nanoseconds since the epoch, UTC; a bar's
time is the venue's bar start, never the time it was received (notes/venues.md, 4.9).
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

NS_PER_SECOND = 1_000_000_000

GRANULARITY_SECONDS: dict[str, int] = {
    "1s": 1, "5s": 5, "10s": 10, "15s": 15, "30s": 30,
    "1m": 60, "2m": 120, "5m": 300, "15m": 900, "30m": 1_800,
    "1h": 3_600, "2h": 7_200, "4h": 14_400, "6h": 21_600, "12h": 43_200,
    "1d": 86_400,
}
"""Every bar length sqfast runs at, by the name configs use. Bars start on multiples of their
length counted from the epoch, so `1d` bars start at midnight UTC."""

GRANULARITY_NAMES: dict[int, str] = {seconds: name for name, seconds in GRANULARITY_SECONDS.items()}

TS_DTYPE = np.dtype(np.int64)
SYM_DTYPE = np.dtype(np.int64)
"""Rows are int64, the index type the compiled steps take, so a batch reaches them unconverted."""
PRICE_DTYPE = np.dtype(np.float64)

BAR_FIELDS = ("ts", "sym", "open", "high", "low", "close", "volume")
_DTYPES = (TS_DTYPE, SYM_DTYPE, PRICE_DTYPE, PRICE_DTYPE, PRICE_DTYPE, PRICE_DTYPE, PRICE_DTYPE)


@dataclass(frozen=True, slots=True, eq=False)
class BarBatch:
    """Bars as a struct of arrays, one row per (symbol, bar start).

    `ts` is the bar start (int64 ns UTC), `sym` the symbol's row in the universe the feed was
    given, and `open, high, low, close, volume` float64. A symbol with no bar in an interval is
    absent. Arrays are coerced to these dtypes, C-contiguous (no copy when they already are).
    A batch from a feed may hold several intervals and bad rows; the assembler's output holds one
    interval of validated bars sorted by `sym`.
    """

    ts: np.ndarray
    sym: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __post_init__(self) -> None:
        length = None
        for name, dtype in zip(BAR_FIELDS, _DTYPES, strict=True):
            array = np.ascontiguousarray(getattr(self, name), dtype=dtype)
            if array.ndim != 1:
                raise ValueError(f"BarBatch.{name} must be one-dimensional, got shape {array.shape}")
            if length is None:
                length = len(array)
            elif len(array) != length:
                raise ValueError(f"BarBatch.{name} has {len(array)} rows, ts has {length}")
            object.__setattr__(self, name, array)

    def __len__(self) -> int:
        return len(self.ts)

    def __eq__(self, other: object) -> bool:
        """Same rows in the same order (NaN equals NaN, so bad batches compare too)."""
        if not isinstance(other, BarBatch):
            return NotImplemented
        return all(np.array_equal(getattr(self, f), getattr(other, f), equal_nan=f not in ("ts", "sym"))
                   for f in BAR_FIELDS)

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def empty(cls) -> "BarBatch":
        """A batch with no rows."""
        return cls(*(np.empty(0, dtype) for dtype in _DTYPES))

    @classmethod
    def concat(cls, batches: Iterable["BarBatch"]) -> "BarBatch":
        """All rows of `batches`, in order."""
        parts = [b for b in batches if len(b)]
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(*(np.concatenate([getattr(b, f) for b in parts]) for f in BAR_FIELDS))

    def take(self, rows: np.ndarray) -> "BarBatch":
        """The rows selected by a boolean mask or an integer index array, in that order."""
        return BarBatch(*(getattr(self, f)[rows] for f in BAR_FIELDS))

    def sorted(self) -> "BarBatch":
        """Rows ordered by (ts, sym); stable, so duplicates keep their arrival order."""
        return self.take(np.lexsort((self.sym, self.ts)))

    def columns(self) -> dict[str, np.ndarray]:
        """The arrays by field name."""
        return {f: getattr(self, f) for f in BAR_FIELDS}


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    OPG = "opg"
    CLS = "cls"


class OrderStatus(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        """No further fills or updates can follow."""
        return self in _FINAL


_FINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order as the portfolio sends it to a broker.

    `client_order_id` is deterministic (derived from run, strategy, symbol and bar) and written to
    the journal before the order is sent, so a retry or a restart can never place it twice
    (notes/venues.md, 4.3). Alpaca accepts at most 128 characters. `qty` is in units of the
    symbol, positive; `side` gives the direction. `strategy_id` is for the journal only: a
    netted order from several strategies carries the id the portfolio gives the netted order.
    """

    client_order_id: str
    symbol: str
    side: Side
    qty: float
    type: OrderType = OrderType.MARKET
    limit_price: float | None = None
    stop_price: float | None = None
    time_in_force: TimeInForce = TimeInForce.DAY
    strategy_id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "side", Side(self.side))
        object.__setattr__(self, "type", OrderType(self.type))
        object.__setattr__(self, "time_in_force", TimeInForce(self.time_in_force))
        if not self.client_order_id:
            raise ValueError("OrderRequest needs a client_order_id")
        if not (math.isfinite(self.qty) and self.qty > 0):
            raise ValueError(f"OrderRequest {self.client_order_id}: qty must be positive, got {self.qty}")
        needs_limit = self.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        needs_stop = self.type in (OrderType.STOP, OrderType.STOP_LIMIT)
        for name, needed in (("limit_price", needs_limit), ("stop_price", needs_stop)):
            price = getattr(self, name)
            if needed and (price is None or not (math.isfinite(price) and price > 0)):
                raise ValueError(f"OrderRequest {self.client_order_id}: a {self.type} order needs a "
                                 f"positive {name}")
            if not needed and price is not None:
                raise ValueError(f"OrderRequest {self.client_order_id}: a {self.type} order takes no {name}")


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A broker's view of one order at `ts_ns`: its status and cumulative fill so far.

    `broker_order_id` is None until the broker has assigned one; `avg_fill_price` is None until
    something filled; `reason` explains a rejection, cancellation or expiry.
    """

    client_order_id: str
    broker_order_id: str | None
    status: OrderStatus
    filled_qty: float = 0.0
    avg_fill_price: float | None = None
    ts_ns: int = 0
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", OrderStatus(self.status))


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution. `execution_id` is unique per broker, so a fill seen twice is booked once."""

    execution_id: str
    client_order_id: str
    symbol: str
    side: Side
    qty: float
    price: float
    ts_ns: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "side", Side(self.side))


@dataclass(frozen=True, slots=True)
class Position:
    """A broker-side position: `qty` signed (negative is short), at `avg_entry_price`."""

    symbol: str
    qty: float
    avg_entry_price: float


@dataclass(frozen=True, slots=True)
class Account:
    """A broker account's balances, in `currency`."""

    cash: float
    equity: float
    buying_power: float
    currency: str = "USD"
