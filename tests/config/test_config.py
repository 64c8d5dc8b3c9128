"""Good configurations: a full portfolio file, command-line overrides, `--strategy` runs."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from sqfast.config import ConfigError, Overrides, RiskLimits, build_config
from sqfast.granularity import parse_granularity

from .helpers import BASE, basics, make_project

FULL = """\
data_source = "demo"
granularity = "1m"
mode = "signals"
broker = "sim"
capital = 250_000.5
duration = "1h30m"
run_dir = "out/run1"
speed = "max"
lookback = 300
symbols_file = "universe.txt"

[source.demo]
seed = 42
start = 2024-01-02T09:30:00-05:00

[source.polygon]            # checked, unused: the data source is demo
market = "crypto"

[risk]
max_order_notional = 10_000
max_position_notional = 20_000.5
max_gross_exposure = 150_000
max_orders_per_minute = 600
daily_loss_limit = 5_000

[[strategy]]
id = "fast"
file = "strategies/a.py"
class = "SmaCross"
allocation = 0.25
params = { n1 = 5, n2 = 30, label = "x", short = true, ratio = 0.5 }
symbols = ["aapl", "BTC/USD"]
granularity = "5m"

[[strategy]]
file = "strategies/b.py"
allocation = 0.75
"""


def test_a_full_portfolio_file(tmp_path):
    make_project(tmp_path, FULL)
    config = build_config(Path("portfolio.toml"), cwd=tmp_path)
    assert basics(config) == ("demo", "1m", "signals", "sim")
    assert config.capital == 250_000.5
    assert config.duration_seconds == 5_400
    assert config.run_dir == tmp_path / "out" / "run1"
    assert (config.speed, config.lookback, config.verbosity) == ("max", 300, 0)
    assert config.risk == RiskLimits(10_000, 20_000.5, 150_000, 600, 5_000)
    assert config.source_options == {"seed": 42, "start": datetime(2024, 1, 2, 14, 30, tzinfo=UTC)}
    assert config.symbols == ("AAPL", "MSFT", "BTC/USD")
    assert config.symbols_file == tmp_path / "universe.txt"
    assert config.portfolio_path == tmp_path / "portfolio.toml"
    fast, b = config.strategies
    assert (fast.id, fast.class_name, fast.allocation) == ("fast", "SmaCross", 0.25)
    assert fast.file == tmp_path / "strategies" / "a.py"
    assert fast.params == {"n1": 5, "n2": 30, "label": "x", "short": True, "ratio": 0.5}
    assert fast.symbols == ("AAPL", "BTC/USD")
    assert fast.granularity == parse_granularity("5m")
    assert fast.origin == "portfolio.toml:26"
    assert (b.id, b.class_name, b.allocation, b.params) == ("b", None, 0.75, {})
    assert b.symbols is None and b.granularity is None
    assert config.granularity_of(fast).name == "5m" and config.granularity_of(b).name == "1m"
    assert config.symbols_of(fast) == ("AAPL", "BTC/USD") and config.symbols_of(b) == config.symbols


def test_defaults_fill_what_the_file_leaves_out(tmp_path):
    make_project(tmp_path, '[[strategy]]\nfile = "strategies/a.py"\n[[strategy]]\nfile = "strategies/b.py"\n')
    config = build_config(Path("portfolio.toml"), Overrides(symbols="AAPL"), cwd=tmp_path)
    assert basics(config) == ("demo", "1m", "paper", "sim")
    assert (config.capital, config.duration_seconds, config.speed, config.lookback) == (100_000.0, None,
                                                                                         "realtime", None)
    assert config.risk == RiskLimits()
    assert config.source_options == {"seed": 0, "start": None}
    assert config.run_dir == tmp_path / "runs" / "portfolio"
    assert [(s.id, s.allocation) for s in config.strategies] == [("a", 0.5), ("b", 0.5)]


def test_command_line_beats_the_file(tmp_path):
    make_project(tmp_path, BASE)
    (tmp_path / "other.txt").write_text("NVDA\nAMD\n")
    overrides = Overrides(data_source="massive", granularity="5s", duration="8h", mode="signals",
                          broker="alpaca", lookback="50", run_dir="elsewhere", speed="realtime",
                          symbols_file="other.txt", verbose=True)
    config = build_config(Path("portfolio.toml"), overrides, cwd=tmp_path)
    assert (config.data_source, config.granularity.name, config.duration_seconds) == ("polygon", "5s", 28_800)
    assert basics(config) == ("polygon", "5s", "signals", "alpaca")
    assert (config.lookback, config.speed) == (50, "realtime")
    assert config.run_dir == tmp_path / "elsewhere"
    assert config.symbols == ("NVDA", "AMD") and config.symbols_file == tmp_path / "other.txt"
    assert config.verbosity == 1
    assert config.source_options == {"market": "stocks", "delayed": False, "rest_url": None,
                                     "stream_url": None}
    assert config.capital == 100_000 and config.risk.max_order_notional == 10_000


def test_symbols_flag_and_duration_none_and_quiet(tmp_path):
    make_project(tmp_path, BASE)
    overrides = Overrides(symbols="tsla, nvda", duration="none", quiet=True)
    config = build_config(Path("portfolio.toml"), overrides, cwd=tmp_path)
    assert config.symbols == ("TSLA", "NVDA") and config.symbols_file is None
    assert config.duration_seconds is None and config.verbosity == -1


def test_strategy_flags_without_a_portfolio_file(tmp_path):
    make_project(tmp_path, toml=None)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.py").write_text("")
    overrides = Overrides(strategies=("strategies/a.py", "strategies/b.py", "x/a.py"), symbols="AAPL,MSFT")
    config = build_config(None, overrides, cwd=tmp_path)
    assert [s.id for s in config.strategies] == ["a", "b", "a_2"]
    assert [s.allocation for s in config.strategies] == pytest.approx([1 / 3] * 3)
    assert sum(s.allocation for s in config.strategies) <= 1 + 1e-12
    assert config.strategies[2].file == tmp_path / "x" / "a.py"
    assert config.strategies[0].origin == "--strategy strategies/a.py"
    assert basics(config) == ("demo", "1m", "paper", "sim")
    assert config.run_dir == tmp_path / "runs" / "a+b+a_2"
    assert config.portfolio_path is None


def test_strategy_flag_replaces_the_files_strategies(tmp_path):
    make_project(tmp_path, BASE)
    config = build_config(Path("portfolio.toml"), Overrides(strategies=("strategies/c.py",)), cwd=tmp_path)
    assert [(s.id, s.allocation, s.params) for s in config.strategies] == [("c", 1.0, {})]
    assert config.duration_seconds == 1_800 and config.symbols == ("AAPL", "MSFT", "BTC/USD")
    assert config.run_dir == tmp_path / "runs" / "portfolio"


def test_strategy_ids_from_awkward_file_names(tmp_path):
    make_project(tmp_path, toml=None)
    for name in ("my-strat.py", "2fast.py"):
        (tmp_path / name).write_text("")
    overrides = Overrides(strategies=("my-strat.py", "2fast.py"), symbols="AAPL")
    config = build_config(None, overrides, cwd=tmp_path)
    assert [s.id for s in config.strategies] == ["my_strat", "s_2fast"]


def test_relative_paths_resolve_against_the_portfolio_file(tmp_path):
    project = tmp_path / "project"
    make_project(project, BASE.replace('capital = 100_000', 'capital = 1\nrun_dir = "state"'))
    cwd = tmp_path / "somewhere" / "else"
    cwd.mkdir(parents=True)
    config = build_config(Path("../../project/portfolio.toml"), cwd=cwd)
    assert config.strategies[0].file == project / "strategies" / "a.py"
    assert config.symbols_file == project / "universe.txt"
    assert config.run_dir == project / "state"
    assert config.portfolio_path == project / "portfolio.toml"
    (cwd / "mine.txt").write_text("IBM\n")
    (cwd / "s.py").write_text("")
    overridden = build_config(Path("../../project/portfolio.toml"),
                              Overrides(symbols_file="mine.txt", strategies=("s.py",), run_dir="r"), cwd=cwd)
    assert overridden.symbols_file == cwd / "mine.txt" and overridden.symbols == ("IBM",)
    assert overridden.strategies[0].file == cwd / "s.py"
    assert overridden.run_dir == cwd / "r"


def test_allocations_split_evenly_when_none_is_given(tmp_path):
    make_project(tmp_path, BASE.replace("allocation = 0.5\n", ""))
    config = build_config(Path("portfolio.toml"), cwd=tmp_path)
    assert [s.allocation for s in config.strategies] == [0.5, 0.5]


def test_allocations_may_sum_to_one_within_rounding(tmp_path):
    text = 'symbols = ["AAPL"]\n' + "".join(
        f'[[strategy]]\nid = "s{i}"\nfile = "strategies/a.py"\nallocation = 0.1\n' for i in range(10))
    make_project(tmp_path, text)
    config = build_config(Path("portfolio.toml"), cwd=tmp_path)
    assert len(config.strategies) == 10


def test_universe_from_the_strategies_own_symbols(tmp_path):
    text = ('[[strategy]]\nfile = "strategies/a.py"\nsymbols = ["AAPL", "MSFT"]\n'
            '[[strategy]]\nfile = "strategies/b.py"\nsymbols = ["MSFT", "ETH/USD"]\n')
    make_project(tmp_path, text)
    config = build_config(Path("portfolio.toml"), cwd=tmp_path)
    assert config.symbols == ("AAPL", "MSFT", "ETH/USD")


def test_a_live_run_with_everything_confirmed(tmp_path):
    make_project(tmp_path, BASE.replace('broker = "sim"', 'broker = "alpaca"'))
    overrides = Overrides(mode="live", live=True, data_source="alpaca")
    config = build_config(Path("portfolio.toml"), overrides, cwd=tmp_path)
    assert (config.mode, config.broker, config.data_source) == ("live", "alpaca", "alpaca")
    assert config.source_options["feed"] == "iex"


def test_strategy_granularity_a_multiple_of_the_feed(tmp_path):
    make_project(tmp_path, BASE.replace('id = "b"', 'id = "b"\ngranularity = "1d"'))
    config = build_config(Path("portfolio.toml"), Overrides(granularity="15m"), cwd=tmp_path)
    assert config.granularity_of(config.strategies[1]).seconds == 86_400


def test_granularity_flag_finer_than_a_strategy_is_fine_but_coarser_is_named(tmp_path):
    make_project(tmp_path, BASE.replace('id = "b"', 'id = "b"\ngranularity = "5m"'))
    build_config(Path("portfolio.toml"), Overrides(granularity="1s"), cwd=tmp_path)
    with pytest.raises(ConfigError, match=r"portfolio\.toml:20: strategy\[b\]\.granularity: 5m is finer "
                                          r"than the feed's 15m \(--granularity\)"):
        build_config(Path("portfolio.toml"), Overrides(granularity="15m"), cwd=tmp_path)


def test_a_universe_file_with_a_byte_order_mark_and_crlf(tmp_path):
    make_project(tmp_path, BASE)
    (tmp_path / "universe.txt").write_bytes("\ufeffAAPL\r\nmsft\r\n# c\r\n".encode())
    config = build_config(Path("portfolio.toml"), cwd=tmp_path)
    assert config.symbols == ("AAPL", "MSFT")
