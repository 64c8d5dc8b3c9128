"""`sqfast status`, `sqfast halt` and `sqfast resume` as functions over a run directory.

They work beside an active run: the journal is in WAL mode, so `status` reads one consistent
committed interval without blocking the engine, and `halt` / `resume` write the persistent kill
switch through their own connection (waiting up to the busy timeout for the engine's interval to
commit). The engine reads the switch every interval; a halted run places no new orders.
"""

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .journal import write_kill_switch
from .journal_read import KILL_SWITCH_KEY, JournalReader, open_reader
from .journal_rows import NETTED, OPEN_STATES, EquityRow, KillSwitch, TradeRow
from .journal_schema import check_run_dir, open_existing
from .run_lock import is_active


@dataclass(frozen=True)
class OpenPosition:
    symbol: str
    size: float
    avg_price: float | None


@dataclass(frozen=True)
class StrategyStatus:
    """One strategy's account: money in the strategy's own currency, percentages as 0-100."""

    strategy: str
    allocation: float | None
    capital: float | None
    equity: float | None
    cash: float | None
    pnl: float | None
    pnl_pct: float | None
    positions: tuple[OpenPosition, ...]
    orders: dict[str, int]
    signals: int
    trades: int
    win_rate_pct: float | None
    max_drawdown_pct: float
    last_interval_ns: int | None


@dataclass(frozen=True)
class FeedHealth:
    source: str
    received: int
    accepted: int
    dropped: int
    duplicate: int
    late: int
    out_of_order: int
    invalid: int
    last_bar_ts_ns: int | None
    last_bar_age_s: float | None  # now minus the last bar's start time
    last_received_age_s: float | None  # now minus when that bar arrived


@dataclass(frozen=True)
class RunStatus:
    run_dir: str
    run_id: str
    state: str  # running | stopped | crashed (the journal says running, but no process holds it)
    mode: str | None
    sqfast_version: str
    created_ns: int
    stopped_ns: int | None
    now_ns: int
    kill_switch: KillSwitch
    risk: dict[str, Any]
    strategies: tuple[StrategyStatus, ...]
    feeds: tuple[FeedHealth, ...]

    @property
    def halted_entries(self) -> list[str]:
        """Risk states that currently halt new entries (e.g. the daily loss limit)."""
        return [key for key, value in self.risk.items()
                if isinstance(value, dict) and any(k.startswith("halted") and v for k, v in value.items())]


def win_rate_pct(trades: list[TradeRow]) -> float | None:
    """Share of closed trades with a positive P&L, in percent (backtesting.py's Win Rate)."""
    return None if not trades else 100.0 * sum(t.pnl > 0 for t in trades) / len(trades)


def max_drawdown_pct(equity: list[float]) -> float:
    """Largest fall from a running peak, in percent of that peak (0 for a rising curve)."""
    peak, worst = float("-inf"), 0.0
    for value in equity:
        peak = max(peak, value)
        if peak > 0:
            worst = max(worst, 1.0 - value / peak)
    return 100.0 * worst


def _strategy_names(reader: JournalReader, *tables: dict | list) -> list[str]:
    names = [s.strategy for s in reader.strategies()]
    for table in tables:
        keys = table if isinstance(table, dict) else [r.strategy for r in table]
        names += sorted(set(keys) - set(names) - {NETTED})
    return list(dict.fromkeys(names))


def _strategy_status(name: str, reader: JournalReader, registered: dict, last: dict[str, EquityRow],
                     curves: dict[str, list[float]], counts: dict, signals: dict,
                     progress: dict) -> StrategyStatus:
    info = registered.get(name)
    capital = info.capital if info else None
    row = last.get(name)
    equity = row.equity if row else capital
    pnl = None if equity is None or capital is None else equity - capital
    trades = reader.trades(name)
    curve = ([capital] if capital is not None else []) + curves.get(name, [])
    return StrategyStatus(
        strategy=name, allocation=info.allocation if info else None, capital=capital, equity=equity,
        cash=row.cash if row else capital, pnl=pnl,
        pnl_pct=None if pnl is None or not capital else 100.0 * pnl / capital,
        positions=tuple(OpenPosition(p.symbol, p.size, p.avg_entry_price)
                        for p in reader.positions(name, open_only=True)),
        orders=dict(sorted(counts.get(name, {}).items())), signals=signals.get(name, 0),
        trades=len(trades),
        win_rate_pct=win_rate_pct(trades), max_drawdown_pct=max_drawdown_pct(curve),
        last_interval_ns=progress.get(name),
    )


def _age(now_ns: int, then_ns: int | None) -> float | None:
    return None if then_ns is None else (now_ns - then_ns) / 1e9


def status(run_dir: Path, now_ns: int | None = None) -> RunStatus:
    """Everything `sqfast status` shows, read from the run directory's journal."""
    now = time.time_ns() if now_ns is None else now_ns
    with open_reader(Path(run_dir)) as reader, reader.snapshot():
        run, config = reader.run(), reader.config()
        registered = {s.strategy: s for s in reader.strategies()}
        last, counts, signals, progress = (reader.last_equity(), reader.order_counts(),
                                           reader.signal_counts(), reader.progress())
        curves: dict[str, list[float]] = {}
        for e in reader.equity():
            curves.setdefault(e.strategy, []).append(e.equity)
        names = _strategy_names(reader, progress, last, counts, reader.positions())
        strategies = tuple(_strategy_status(n, reader, registered, last, curves, counts, signals, progress)
                           for n in names)
        feeds = tuple(
            FeedHealth(c.source, c.received, c.accepted, c.dropped, c.duplicate, c.late, c.out_of_order,
                       c.invalid, c.last_bar_ts_ns, _age(now, c.last_bar_ts_ns),
                       _age(now, c.last_bar_wall_ns))
            for c in reader.feed_counters().values()
        )
        risk = {k: v for k, v in reader.risk_state().items() if k != KILL_SWITCH_KEY}
        kill = reader.kill_switch()
    active = is_active(Path(run_dir))
    state = "running" if active else ("crashed" if run.status == "running" else run.status)
    return RunStatus(str(run_dir), run.run_id, state, config.get("mode"), run.sqfast_version,
                     run.created_ns, run.stopped_ns, now, kill, risk, strategies, feeds)


def _set_kill_switch(run_dir: Path, state: KillSwitch) -> KillSwitch:
    conn, _ = open_existing(check_run_dir(Path(run_dir)))
    try:
        conn.execute("BEGIN IMMEDIATE")
        write_kill_switch(conn, state)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return state


def halt(run_dir: Path, reason: str, by: str = "sqfast halt") -> KillSwitch:
    """Set the run's persistent kill switch: no new orders until `resume`, across restarts."""
    return _set_kill_switch(run_dir, KillSwitch(True, by, reason, time.time_ns()))


def resume(run_dir: Path, by: str = "sqfast resume") -> KillSwitch:
    """Clear the run's kill switch. Risk halts with their own rule (the daily loss limit) stay."""
    return _set_kill_switch(run_dir, KillSwitch(False, by, None, time.time_ns()))


def _iso(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def status_json(s: RunStatus) -> dict[str, Any]:
    """The status as JSON-ready data (`sqfast status --json`): times as epoch ns and ISO text."""
    data = asdict(s)
    data.update(created=_iso(s.created_ns), stopped=_iso(s.stopped_ns), now=_iso(s.now_ns),
                halted_entries=s.halted_entries)
    for feed in data["feeds"]:
        feed["last_bar"] = _iso(feed["last_bar_ts_ns"])
    for strategy in data["strategies"]:
        strategy["last_interval"] = _iso(strategy["last_interval_ns"])
    return data


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign, total = "-" if seconds < 0 else "", round(abs(seconds))
    if total < 60:
        return f"{sign}{total}s"
    if total < 3600:
        return f"{sign}{total // 60}m{total % 60:02d}s"
    if total < 86400:
        return f"{sign}{total // 3600}h{total % 3600 // 60:02d}m"
    return f"{sign}{total // 86400}d{total % 86400 // 3600:02d}h"


def _num(value: float | None, fmt: str = ",.2f") -> str:
    return "-" if value is None else format(value, fmt)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Plain-text columns: the first left-aligned, the rest right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    def line(row: list[str]) -> str:
        cells = zip(row, widths, strict=True)
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(cells)).rstrip()

    return [line(r) for r in [header, *rows]]


def format_status(s: RunStatus, max_positions: int = 10) -> str:
    """A compact plain-text report of a RunStatus."""
    lines = [f"run {s.run_id}  {s.state}  mode {s.mode or '-'}  sqfast {s.sqfast_version}  "
             f"started {_iso(s.created_ns)}" + (f"  stopped {_iso(s.stopped_ns)}" if s.stopped_ns else "")]
    k = s.kill_switch
    lines.append(f"kill switch: HALTED by {k.by} at {_iso(k.ts_ns)}: {k.reason}" if k.halted
                 else "kill switch: off")
    if s.halted_entries:
        lines.append(f"new entries halted by: {', '.join(s.halted_entries)}")
    rows = []
    for st in s.strategies:
        open_orders = sum(st.orders.get(state, 0) for state in OPEN_STATES)
        rows.append([st.strategy, _num(None if st.allocation is None else 100 * st.allocation, ".1f"),
                     _num(st.equity), _num(st.pnl), _num(st.pnl_pct), str(len(st.positions)),
                     str(sum(st.orders.values())), str(open_orders), str(st.orders.get("blocked", 0)),
                     str(st.trades), _num(st.win_rate_pct, ".1f"), _num(st.max_drawdown_pct)])
    header = ["strategy", "alloc%", "equity", "P&L", "P&L%", "pos", "orders", "open", "blocked", "trades",
              "win%", "maxDD%"]
    lines += ["", *_table(header, rows)]
    positions = [[st.strategy, p.symbol, _num(p.size, "g"), _num(p.avg_price)]
                 for st in s.strategies for p in st.positions[:max_positions]]
    if positions:
        lines += ["", *_table(["position", "symbol", "size", "avg price"], positions)]
        hidden = sum(max(0, len(st.positions) - max_positions) for st in s.strategies)
        if hidden:
            lines.append(f"... and {hidden} more positions (--json lists all)")
    feeds = [[f.source, str(f.received), str(f.accepted), str(f.dropped), str(f.duplicate), str(f.late),
              str(f.out_of_order), str(f.invalid), _iso(f.last_bar_ts_ns) or "-",
              _duration(f.last_bar_age_s), _duration(f.last_received_age_s)] for f in s.feeds]
    if feeds:
        lines += ["", *_table(["feed", "received", "accepted", "dropped", "dup", "late", "out-of-order",
                               "invalid", "last bar", "bar age", "since recv"], feeds)]
    return "\n".join(lines)
