"""What a person watching `sqfast run` sees: a status line per bar, a line per signal, a
progress bar for long warm-ups, and a per-strategy summary table at exit (rich)."""

import shutil
import time

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from .engine import Engine, IntervalStats
from .types import NS_PER_SECOND


def _clock(ts_ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts_ns // NS_PER_SECOND))


class RunConsole:
    """Prints to stdout at the configured verbosity (-1 quiet, 0 normal, 1 verbose).

    With `--speed max`, bars arrive faster than anyone can read, so status lines are printed at
    most every `max_rate_seconds` (signals always); in real time every bar gets its line.
    """

    def __init__(self, verbosity: int = 0, throttle: bool = False, console: Console | None = None):
        self.verbosity = verbosity
        width = shutil.get_terminal_size((120, 24)).columns
        self.console = console or Console(highlight=False, soft_wrap=True, width=max(width, 100))
        self.throttle_seconds = 0.5 if throttle else 0.0
        self._last_line = 0.0
        self.bars = self.signals = self.orders = self.blocked = 0

    def info(self, text: str) -> None:
        if self.verbosity >= 0:
            self.console.print(text)

    def interval(self, stats: IntervalStats) -> None:
        """One closed interval: its status line and its signals."""
        self.bars += stats.bars
        self.signals += stats.signals
        self.orders += stats.orders
        self.blocked += stats.blocked
        if self.verbosity < 0:
            return
        now = time.monotonic()
        if stats.lines or now - self._last_line >= self.throttle_seconds:
            self._last_line = now
            self.console.print(
                f"{_clock(stats.ts_ns)}  bars {stats.bars:>6}  signals {stats.signals:>3}  orders "
                f"{stats.orders:>3} (net {stats.net_orders:>2})  blocked {stats.blocked:>2}  "
                f"step {stats.step_seconds * 1e3:6.2f} ms  engine {stats.seconds * 1e3:7.2f} ms  "
                f"equity {stats.equity:,.2f}")
        for line in stats.lines:
            self.console.print(line, markup=False)
        if stats.hidden_lines:
            self.console.print(f"  (and {stats.hidden_lines} more signal lines; --verbose shows them all)")

    def totals(self) -> str:
        return (f"bars {self.bars:,}  signals {self.signals:,}  orders {self.orders:,}  "
                f"blocked {self.blocked:,}")

    def progress(self, total: int, label: str) -> Progress | None:
        """A progress bar for a long phase (None when quiet or short)."""
        if self.verbosity < 0 or total < 50:
            return None
        progress = Progress(console=self.console, transient=True)
        progress.add_task(label, total=total)
        return progress

    def summary(self, engine: Engine) -> None:
        """The per-strategy table at exit."""
        if self.verbosity < 0:
            return
        table = Table(title="sqfast run summary")
        for column in ("strategy", "decides", "symbols", "equity", "P&L", "P&L %", "trades", "won", "open"):
            table.add_column(column, justify="left" if column in ("strategy", "decides") else "right",
                             no_wrap=True)
        for slot in engine.slots:
            equity, _ = engine.strategy_equity(slot)
            start = engine.config.capital * slot.config.allocation
            closed, wins = slot.closed_trades, slot.won_trades
            table.add_row(slot.id, "compiled" if slot.compiled else "python", str(len(slot.symbols)),
                          f"{equity:,.0f}", f"{equity - start:,.0f}", f"{(equity / start - 1) * 100:.2f}",
                          str(closed), f"{wins / closed:.0%}" if closed else "-",
                          str(int((slot.units != 0).sum())))
        self.console.print(table)
        self.console.print(self.totals())
