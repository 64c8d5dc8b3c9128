"""The portfolio.toml and universe.txt at the repository root parse cleanly, and name real
strategies with parameters those strategies have."""

from pathlib import Path

import pytest

from sqfast.compile.loader import load_strategy
from sqfast.config import Overrides, build_config
from sqfast.universe import read_universe

from .helpers import basics

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_universe():
    symbols = read_universe(ROOT / "universe.txt")
    assert 40 <= len(symbols) <= 60
    assert (ROOT / "universe.txt").read_text().startswith("#")


def test_the_shipped_portfolio(tmp_path):
    config = build_config(Path("portfolio.toml"), Overrides(symbols_file="universe.txt"), cwd=ROOT)
    assert basics(config) == ("demo", "1m", "paper", "sim")
    assert config.capital == 100_000 and config.duration_seconds == 30 * 60
    assert config.run_dir == ROOT / "runs" / "demo"
    assert config.symbols == read_universe(ROOT / "universe.txt")
    assert all(value is not None and value > 0 for value in vars(config.risk).values())
    assert [s.id for s in config.strategies] == ["sma_cross", "ema_cross", "rsi_reversion"]
    assert config.strategies[0].allocation == 0.4 and config.strategies[0].params == {"n1": 10, "n2": 20}
    assert sum(s.allocation for s in config.strategies) <= 1
    assert build_config(ROOT / "portfolio.toml", cwd=tmp_path).symbols == config.symbols


@pytest.mark.parametrize("index", [0, 1, 2])
def test_the_shipped_strategies_take_their_params(index):
    pytest.importorskip("talib")
    strategy = build_config(Path("portfolio.toml"), cwd=ROOT).strategies[index]
    loaded = load_strategy(strategy.file, strategy.class_name, strategy.params)
    assert {key: loaded.params[key] for key in strategy.params} == strategy.params
