"""What a market-data feed, a history source and a broker must provide.

These are structural (`typing.Protocol`): an adapter implements the methods, it does not
inherit. Network I/O is async and runs in the engine's asyncio loop; the engine itself never
awaits a venue. Adapters import only `sqfast.types`, `sqfast.protocols`, `sqfast.errors` and
their own SDK (imported lazily, so a missing SDK fails only when that adapter is chosen).
"""

from collections.abc import AsyncIterator, Sequence
from typing import Protocol, runtime_checkable

from .types import Account, BarBatch, Fill, OrderRequest, OrderUpdate, Position


@runtime_checkable
class Feed(Protocol):
    """A live source of bars.

    `name` is the data-source name used in configs (`demo`, `polygon`, ...); `granularities` the
    bar lengths in seconds it can stream (see `sqfast.types.GRANULARITY_SECONDS`).
    """

    name: str
    granularities: frozenset[int]

    def stream(self, symbols: Sequence[str], granularity_seconds: int) -> AsyncIterator[BarBatch]:
        """Bars for `symbols` at `granularity_seconds`, usually an `async def` generator.

        `sym` in each batch is the row of the bar's symbol in `symbols`; `ts` is the venue's bar
        start. A batch holds whatever the venue delivered: bars may come late, twice, out of
        order, misaligned or malformed, and symbols without trades send no bar. The consumer
        (the bar assembler) validates, dedupes and orders them, so an adapter converts wire
        frames to arrays and nothing more. A feed may yield empty batches as heartbeats so the
        consumer sees `now_ns()` advance. Reconnecting is the adapter's job; after a reconnect
        the engine fills the gap from `HistorySource.history` (notes/venues.md, 4.2).
        """
        ...

    def now_ns(self) -> int:
        """The feed's clock, ns UTC: against it the assembler decides that an interval is over.

        Wall time for a live venue (corrected for measured skew where the venue reports its
        clock); for a simulated feed run at full speed, the end of the last interval it yielded.
        """
        ...


@runtime_checkable
class HistorySource(Protocol):
    """Past bars, for indicator warm-up and for filling gaps after a reconnect."""

    name: str
    granularities: frozenset[int]

    async def history(self, symbols: Sequence[str], granularity_seconds: int,
                      start_ns: int, end_ns: int) -> BarBatch:
        """All bars of `symbols` whose start is in `[start_ns, end_ns)`, sorted by (ts, sym).

        `sym` is the row in `symbols`. Only complete bars: an interval still in progress at the
        time of the request is left out. Pagination and rate limits are the adapter's business.
        """
        ...


@runtime_checkable
class Broker(Protocol):
    """Order entry and the order and fill events that come back.

    Idempotency is a contract requirement: submitting a `client_order_id` the broker has
    already seen must never create a second order. The adapter returns the existing order's
    current state instead, e.g. by resolving the venue's "client_order_id must be unique"
    rejection with a lookup (notes/venues.md, 0.1 and 4.3). The engine relies on it when it
    retries after a timeout and when it resumes after a crash.
    """

    name: str

    async def submit(self, order: OrderRequest) -> OrderUpdate:
        """Send `order` and return its state as acknowledged (or as already known, see above).

        A venue refusing the order is an `OrderUpdate` with status `rejected` and a reason, not an
        exception; exceptions mean the outcome is unknown (network, auth) and the caller resolves
        it with `order()` before anything else.
        """
        ...

    async def cancel(self, client_order_id: str) -> None:
        """Ask the venue to cancel; the outcome arrives as an `OrderUpdate` from `updates()`.

        Cancelling an order that is already final, or unknown, is not an error.
        """
        ...

    async def order(self, client_order_id: str) -> OrderUpdate | None:
        """The current state of the order with `client_order_id`, or None if the venue has none.

        Used to resolve submissions of unknown outcome and journal rows left without a broker
        order by a crash.
        """
        ...

    def updates(self) -> AsyncIterator[OrderUpdate | Fill]:
        """Order state changes and executions as they happen, usually an `async def` generator.

        An execution may be reported both as a `Fill` and in an `OrderUpdate`'s cumulative
        `filled_qty`; the ledger books `Fill`s (deduplicated by `execution_id`).
        """
        ...

    async def positions(self) -> list[Position]:
        """Open positions on the account, for reconciliation with the ledger at start."""
        ...

    async def account(self) -> Account:
        """Balances, for the start-up check and for status."""
        ...
