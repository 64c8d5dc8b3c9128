"""What a strategy's simulated sub-accounts did on a bar, as journal rows.

The simulated broker fills inside the engine, so the journal's fills, order states, closed
trades and positions are read off each sub-account after its bar is processed. An order the
engine placed carries its client order id as its tag, and so do the trade it opens and every
exit of that trade (a close, a stop-loss, a take-profit): fills reference the order that opened
the trade. Execution ids are deterministic, so a restarted engine that re-simulates the same
bars writes the same rows, which the journal ignores.
"""

from dataclasses import dataclass, field

from .sim import SimAccount


@dataclass
class SubAccountBook:
    """The journal's view of one sub-account: what it has already written."""

    closed_seen: int = 0
    open_seen: set = field(default_factory=set)  # ids of open trades already journaled as entries
    pending: dict = field(default_factory=dict)  # client order id -> the account's Order
    closing: list = field(default_factory=list)  # client order ids of position.close() orders
    entry_ts: dict = field(default_factory=dict)  # entry bar -> its bar time, for open trades


@dataclass(frozen=True)
class FillRow:
    execution_id: str
    client_order_id: str
    side: str
    qty: float
    price: float
    bar: int


def bar_events(account: SimAccount, book: SubAccountBook, bar: int,
               ts: int) -> tuple[list, list, dict[str, str]]:
    """After `account` processed `bar` (starting at `ts`): the new fills, the newly closed trades
    with their entry bar's time, and the new state of each order that left the queue."""
    fills, states = [], {}
    book.entry_ts.setdefault(bar, ts)
    closed = list(account.closed_trades[book.closed_seen:])
    book.closed_seen += len(closed)
    for trade in closed:
        if trade.entry_bar == bar and id(trade) not in book.open_seen and isinstance(trade.tag, str):
            fills.append((trade.tag, "in", trade.size, trade.entry_price, bar))
        fills.append((trade.tag, "out", -trade.size, trade.exit_price, bar))
    for trade in account.trades:
        if id(trade) not in book.open_seen:
            book.open_seen.add(id(trade))
            if isinstance(trade.tag, str):
                fills.append((trade.tag, "in", trade.size, trade.entry_price, trade.entry_bar))
    book.open_seen.intersection_update(id(t) for t in account.trades)
    closed = [(trade, book.entry_ts.get(trade.entry_bar, ts)) for trade in closed]
    open_bars = {t.entry_bar for t in account.trades} | {bar}
    for old in [b for b in book.entry_ts if b not in open_bars]:
        del book.entry_ts[old]
    opened = {t.tag for t in [*account.trades, *(c for c, _ in closed)] if t.entry_bar == bar}
    for cid, order in list(book.pending.items()):
        if not order._pending:
            states[cid] = "filled" if cid in opened else "canceled"
            del book.pending[cid]
    for cid in book.closing:
        states[cid] = "filled"
    book.closing.clear()
    return fill_rows([f for f in fills if isinstance(f[0], str)]), closed, states


def execution_id(cid: str, leg: str, bar: int, n: int) -> str:
    """A fill's deterministic id: its order, leg ("in"/"out"), bar, and its number among that
    order's fills of that leg on that bar."""
    return f"{cid}:{leg}:{bar}:{n}"


def fill_rows(fills: list[tuple]) -> list[FillRow]:
    """(client order id, leg "in"/"out", signed size, price, bar) as journal fills, each with a
    deterministic execution id: the order, the leg, the bar and its number among that order's
    fills of that leg on that bar."""
    rows, seen = [], {}
    for cid, leg, size, price, bar in fills:
        n = seen[cid, leg, bar] = seen.get((cid, leg, bar), -1) + 1
        side = "buy" if size > 0 else "sell"
        eid = execution_id(cid, leg, bar, n)
        rows.append(FillRow(eid, cid, side, abs(float(size)), float(price), int(bar)))
    return rows


def position_row(account: SimAccount) -> tuple[float, float | None, float]:
    """(signed units, average entry price, realised P&L) of a sub-account."""
    trades = account.trades
    units = float(sum(t.size for t in trades))
    average = (sum(t.size * t.entry_price for t in trades) / units) if units else None
    realised = float(sum(t.pl for t in account.closed_trades))
    return units, average, realised
