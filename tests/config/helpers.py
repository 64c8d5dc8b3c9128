"""A throwaway project for configuration tests: a portfolio file, strategy files and a universe."""

from pathlib import Path

BASE = """\
data_source = "demo"
granularity = "1m"
mode = "paper"
broker = "sim"
capital = 100_000
duration = "30m"
symbols_file = "universe.txt"

[risk]
max_order_notional = 10_000

[[strategy]]
id = "a"
file = "strategies/a.py"
allocation = 0.5
params = { n1 = 10 }

[[strategy]]
id = "b"
file = "strategies/b.py"
allocation = 0.5
"""

UNIVERSE = """\
# test universe
AAPL
MSFT  # trailing comment

BTC/USD
"""


def make_project(root: Path, toml: str | None = BASE, universe: str | None = UNIVERSE) -> Path:
    """Write the portfolio (if any), universe and strategies a.py, b.py, c.py under `root`; return
    the portfolio's path."""
    (root / "strategies").mkdir(parents=True, exist_ok=True)
    for name in ("a", "b", "c"):
        (root / "strategies" / f"{name}.py").write_text("# a strategy file\n")
    if universe is not None:
        (root / "universe.txt").write_text(universe)
    portfolio = root / "portfolio.toml"
    if toml is not None:
        portfolio.write_text(toml)
    return portfolio


def basics(config) -> tuple[str, str, str, str]:
    """A RunConfig's data source, granularity, mode and broker."""
    return config.data_source, config.granularity.name, config.mode, config.broker
