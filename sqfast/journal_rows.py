"""Typed rows of the run journal (sqfast/journal.py): one frozen dataclass per table.

Field order equals the column order the readers select, so a row is built as `Row(*tuple)`.
All timestamps are int64 epoch nanoseconds UTC; an unset price is None (the engine's NaN).
"""

from dataclasses import dataclass, fields

ORDER_STATES = ("pending", "submitted", "partially_filled", "filled", "canceled", "rejected", "expired",
                "blocked")
OPEN_STATES = ("pending", "submitted", "partially_filled")
TERMINAL_STATES = ("filled", "canceled", "rejected", "expired", "blocked")
SIGNAL_ACTIONS = ("buy", "sell", "close")
SIDES = ("buy", "sell")
ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
RUN_STATUSES = ("running", "stopped", "crashed")
NETTED = "*"  # the strategy of a broker order that nets several strategies' orders on one symbol


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: str
    created_ns: int
    config_json: str
    config_hash: str
    sqfast_version: str
    status: str
    stopped_ns: int | None


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One process's stretch of a run: a restart adds a session, a SIGKILL leaves one `crashed`."""

    session_id: int
    started_ns: int
    ended_ns: int | None
    pid: int
    sqfast_version: str
    config_hash: str
    status: str


@dataclass(frozen=True, slots=True)
class StrategyRow:
    strategy: str
    allocation: float
    capital: float
    granularity: str | None = None
    n_symbols: int | None = None


@dataclass(frozen=True, slots=True)
class SignalRow:
    strategy: str
    symbol: str
    bar_ts_ns: int
    action: str
    size: float | None = None
    limit: float | None = None
    stop: float | None = None
    sl: float | None = None
    tp: float | None = None
    portion: float | None = None
    indicators: str | None = None  # JSON object of indicator values, when the engine records them


@dataclass(frozen=True, slots=True)
class OrderRow:
    client_order_id: str
    strategy: str
    symbol: str
    bar_ts_ns: int
    side: str
    size: float
    type: str
    limit: float | None
    stop: float | None
    sl: float | None
    tp: float | None
    state: str
    reason: str | None
    broker_order_id: str | None
    net_id: str | None
    filled_qty: float
    avg_fill_price: float | None
    created_ns: int
    updated_ns: int


@dataclass(frozen=True, slots=True)
class FillRow:
    execution_id: str
    client_order_id: str
    strategy: str
    symbol: str
    side: str
    qty: float
    price: float
    commission: float
    ts_ns: int


@dataclass(frozen=True, slots=True)
class PositionRow:
    strategy: str
    symbol: str
    size: float
    avg_entry_price: float | None
    realized_pnl: float
    updated_ts_ns: int


@dataclass(frozen=True, slots=True)
class TradeRow:
    strategy: str
    symbol: str
    size: float  # signed: negative for a short trade, as in backtesting.py
    entry_bar_ts_ns: int
    exit_bar_ts_ns: int
    entry_price: float
    exit_price: float
    pnl: float
    commission: float = 0.0


@dataclass(frozen=True, slots=True)
class EquityRow:
    strategy: str
    ts_ns: int
    equity: float
    cash: float


@dataclass(frozen=True, slots=True)
class FeedCounters:
    """Cumulative bar counters of one data source (the assembler's validation outcome)."""

    source: str
    received: int = 0
    accepted: int = 0
    duplicate: int = 0
    late: int = 0
    out_of_order: int = 0
    invalid: int = 0
    last_bar_ts_ns: int | None = None
    last_bar_wall_ns: int | None = None

    @property
    def dropped(self) -> int:
        return self.duplicate + self.late + self.out_of_order + self.invalid


@dataclass(frozen=True, slots=True)
class KillSwitch:
    """The persistent kill switch: while `halted`, no new order leaves the portfolio."""

    halted: bool = False
    by: str | None = None
    reason: str | None = None
    ts_ns: int | None = None


def columns(row_type: type) -> str:
    """The row type's fields as a SELECT list (price columns are stored as `limit_price` etc.)."""
    renamed = {"limit": "limit_price", "stop": "stop_price"}
    return ", ".join(renamed.get(f.name, f.name) for f in fields(row_type))
