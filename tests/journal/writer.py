"""A stand-in engine for the crash tests: writes journal intervals the way the engine does.

`python -m tests.journal.writer RUN_DIR N SYNC [--kill-at I:STAGE]` runs intervals 0..N-1 of two
strategies over three symbols with `synchronous=SYNC`, resuming from the journal's progress. Per
interval, in one transaction: the orders sent after the previous interval are submitted and filled
at this bar's open (the simulated broker's rule), positions, trades and equity follow, then this
bar's signals and new orders (state pending) are journaled. After the commit, new orders are
"sent": appended to `broker.log`, the fake venue's order book. On start, pending orders are
reconciled with that book (adopted if the venue has them, sent otherwise), as the real engine
resolves them by client id.

`--kill-at I:STAGE` SIGKILLs itself in interval I at STAGE: `in-interval` (rows written, not
committed), `before-send` (committed, nothing sent) or `mid-send` (one order sent).
"""

import os
import signal
import sys
from pathlib import Path

from sqfast.journal import Journal, client_order_id
from sqfast.journal_rows import FeedCounters

STRATEGIES = ("s1", "s2")
SYMBOLS = ("A", "B", "C")
T0 = 1_700_000_000_000_000_000
STEP = 60_000_000_000
CAPITAL = 1_000.0
CONFIG = {"capital": 2 * CAPITAL, "mode": "paper",
          "strategy": [{"id": s, "allocation": 0.5, "params": {"n": 3}} for s in STRATEGIES]}


def ts(i: int) -> int:
    return T0 + i * STEP


def price(symbol: str, i: int) -> float:
    return 100.0 + 10 * SYMBOLS.index(symbol) + (i * 7 + SYMBOLS.index(symbol) * 3) % 11


def side(strategy: str, symbol: str, i: int) -> str:
    return "buy" if (i + STRATEGIES.index(strategy) + SYMBOLS.index(symbol)) % 3 else "sell"


def venue_orders(run_dir: Path) -> list[str]:
    path = run_dir / "broker.log"
    return path.read_text().split() if path.exists() else []


def send(run_dir: Path, cid: str) -> None:
    fd = os.open(run_dir / "broker.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{cid}\n".encode())
    finally:
        os.close(fd)


def maybe_kill(kill_at: tuple[int, str] | None, i: int, stage: str) -> None:
    if kill_at == (i, stage):
        os.kill(os.getpid(), signal.SIGKILL)


class Ledger:
    """Positions, cash and entries per (strategy, symbol), restored from the journal."""

    def __init__(self, journal: Journal):
        self.size = {(p.strategy, p.symbol): p.size for p in journal.positions()}
        self.entry = {(p.strategy, p.symbol): p.avg_entry_price for p in journal.positions()}
        self.cash = {s: CAPITAL for s in STRATEGIES}
        self.cash.update({s: e.cash for s, e in journal.last_equity().items()})

    def fill(self, tx, order, i: int) -> None:
        key, p = (order.strategy, order.symbol), price(order.symbol, i)
        qty = order.size if order.side == "buy" else -order.size
        before = self.size.get(key, 0.0)
        after = before + qty
        tx.fill(order.client_order_id + ":1", order.client_order_id, order.strategy, order.symbol, order.side,
                order.size, p, ts(i))
        tx.order_state(order.client_order_id, "filled")
        self.cash[order.strategy] -= qty * p
        if before == 0:
            self.entry[key] = p
        if after == 0:
            tx.trade(order.strategy, order.symbol, before, order.bar_ts_ns, ts(i), self.entry[key], p,
                     (p - self.entry[key]) * before)
            self.entry[key] = None
        self.size[key] = after
        tx.position(order.strategy, order.symbol, after, self.entry.get(key), 0.0, ts(i))

    def equity(self, strategy: str, i: int) -> float:
        return self.cash[strategy] + sum(self.size.get((strategy, s), 0.0) * price(s, i) for s in SYMBOLS)


def reconcile(journal: Journal, run_dir: Path) -> None:
    """Pending orders whose send may have been cut short: adopt if the venue has them, else send."""
    known = set(venue_orders(run_dir))
    for order in journal.orders(states=("pending",)):
        if order.client_order_id not in known:
            send(run_dir, order.client_order_id)


def run(run_dir: Path, n: int, sync: str, kill_at: tuple[int, str] | None) -> None:
    journal = Journal.open(run_dir, create=True, config=CONFIG, synchronous=sync)
    reconcile(journal, run_dir)
    progress = journal.progress()
    start = 0 if not progress else (progress["s1"] - T0) // STEP + 1
    ledger = Ledger(journal)
    counters = journal.feed_counters().get("demo", FeedCounters("demo"))
    print("ready", start, flush=True)
    for i in range(start, n):
        with journal.interval() as tx:
            if i == 0:
                for s in STRATEGIES:
                    tx.strategy(s, 0.5, CAPITAL, "1m", len(SYMBOLS))
            for order in journal.orders(states=("pending",)):
                cid = order.client_order_id
                tx.order_state(cid, "submitted", broker_order_id="b-" + cid)
                ledger.fill(tx, order, i)
            new = []
            for s in STRATEGIES:
                for sym in SYMBOLS:
                    tx.signal(s, sym, ts(i), side(s, sym, i), 1.0, indicators={"close": price(sym, i)})
                    cid = client_order_id(journal.run_id, s, sym, ts(i), 0)
                    if tx.order(cid, s, sym, ts(i), side(s, sym, i), 1.0):
                        new.append(cid)
                tx.equity(s, ts(i), ledger.equity(s, i), ledger.cash[s])
                tx.progress(s, ts(i))
            counters = FeedCounters("demo", counters.received + 7, counters.accepted + 6,
                                    counters.duplicate + 1, last_bar_ts_ns=ts(i), last_bar_wall_ns=ts(i))
            tx.counters(counters)
            maybe_kill(kill_at, i, "in-interval")
        maybe_kill(kill_at, i, "before-send")
        for k, cid in enumerate(new):
            send(run_dir, cid)
            if k == 0:
                maybe_kill(kill_at, i, "mid-send")
    journal.close()


if __name__ == "__main__":
    kill = None
    if len(sys.argv) > 5 and sys.argv[4] == "--kill-at":
        index, stage = sys.argv[5].split(":")
        kill = (int(index), stage)
    run(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], kill)
