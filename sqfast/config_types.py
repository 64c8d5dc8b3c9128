"""The run configuration's values: what `sqfast run` was asked to do, checked and resolved.

Built by `sqfast.config.build_config` from the portfolio file and the command line; everything
here is already valid (paths absolute, granularities parsed, allocations within bounds).
"""

from dataclasses import dataclass, field
from pathlib import Path

from .granularity import Granularity

MODES = ("signals", "paper", "live")
BROKERS = {"sim": "the built-in simulated broker", "alpaca": "Alpaca (a paper or a live account)"}
SPEEDS = ("realtime", "max")
DEFAULT_DATA_SOURCE = "demo"
DEFAULT_GRANULARITY = "1m"
DEFAULT_MODE = "paper"
DEFAULT_BROKER = "sim"
DEFAULT_CAPITAL = 100_000.0
DEFAULT_SPEED = "realtime"
ALLOCATION_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RiskLimits:
    """Limits checked before an order leaves the portfolio; None means no limit. Amounts are in
    the account currency."""

    max_order_notional: float | None = None
    max_position_notional: float | None = None
    max_gross_exposure: float | None = None
    max_orders_per_minute: int | None = None
    daily_loss_limit: float | None = None


@dataclass(frozen=True)
class StrategyConfig:
    """One strategy of the portfolio.

    `file` is absolute; `class_name` None means the file's only Strategy subclass; `params`
    override the class's parameters (checked against them when the file is loaded); `symbols`
    None means the run's whole universe, and `granularity` None the run's feed granularity.
    `origin` says where it was declared (`portfolio.toml:14`, or `--strategy`), for messages
    about it that only loading the file can find.
    """

    id: str
    file: Path
    class_name: str | None
    allocation: float
    params: dict[str, object] = field(default_factory=dict)
    symbols: tuple[str, ...] | None = None
    granularity: Granularity | None = None
    origin: str = ""


@dataclass(frozen=True)
class RunConfig:
    """Everything `sqfast run` needs to start, checked before anything starts.

    `duration_seconds` None runs until stopped; `lookback` None lets each strategy's warm-up
    decide; `verbosity` is -1 (`--quiet`), 0 or 1 (`--verbose`); `source_options` are the options
    of `data_source`, defaults filled in.
    """

    data_source: str
    granularity: Granularity
    mode: str
    broker: str
    capital: float
    duration_seconds: int | None
    run_dir: Path
    speed: str
    lookback: int | None
    risk: RiskLimits
    strategies: tuple[StrategyConfig, ...]
    source_options: dict[str, object]
    symbols: tuple[str, ...]
    verbosity: int = 0
    portfolio_path: Path | None = None
    symbols_file: Path | None = None

    def granularity_of(self, strategy: StrategyConfig) -> Granularity:
        """The granularity `strategy` runs at: its own, else the feed's."""
        return strategy.granularity or self.granularity

    def symbols_of(self, strategy: StrategyConfig) -> tuple[str, ...]:
        """The symbols `strategy` trades: its own, else the whole universe."""
        return strategy.symbols if strategy.symbols is not None else self.symbols


@dataclass(frozen=True)
class Overrides:
    """The command line's settings for `sqfast run`, as typed (None or empty = not given).

    `strategies` are strategy files (`--strategy`, repeatable): given, they replace the portfolio
    file's strategies and share the capital evenly. `duration` may be "none" to run until stopped
    whatever the file says.
    """

    symbols_file: str | None = None
    symbols: str | None = None
    strategies: tuple[str, ...] = ()
    data_source: str | None = None
    granularity: str | None = None
    duration: str | None = None
    mode: str | None = None
    live: bool = False
    broker: str | None = None
    lookback: str | int | None = None
    run_dir: str | None = None
    speed: str | None = None
    verbose: bool = False
    quiet: bool = False
