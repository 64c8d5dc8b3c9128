"""`sqfast run`'s flags: declared on a parser, turned into Overrides and a RunConfig."""

import argparse
from pathlib import Path

import pytest

from sqfast.config import ConfigError, Overrides
from sqfast.run_args import add_run_arguments, config_from_args, overrides_from_args

from .helpers import BASE, make_project


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sqfast run")
    add_run_arguments(parser)
    return parser.parse_args(argv)


def test_no_flags_are_no_overrides():
    args = parse()
    assert args.portfolio is None
    assert overrides_from_args(args) == Overrides()


def test_every_flag():
    args = parse("p.toml", "--symbols-file", "u.txt", "--symbols", "A,B", "--strategy", "a.py",
                 "--strategy", "b.py", "--data-source", "demo", "--granularity", "5m", "--duration", "90s",
                 "--mode", "live", "--live", "--broker", "alpaca", "--lookback", "10", "--run-dir", "r",
                 "--speed", "max", "--verbose", "--quiet")
    assert args.portfolio == "p.toml"
    assert overrides_from_args(args) == Overrides(
        symbols_file="u.txt", symbols="A,B", strategies=("a.py", "b.py"), data_source="demo",
        granularity="5m", duration="90s", mode="live", live=True, broker="alpaca", lookback="10",
        run_dir="r", speed="max", verbose=True, quiet=True)


def test_short_flags():
    assert overrides_from_args(parse("-v")).verbose and overrides_from_args(parse("-q")).quiet


def test_config_from_args(tmp_path):
    make_project(tmp_path, BASE)
    config = config_from_args(parse("portfolio.toml", "--granularity", "5m"), cwd=tmp_path)
    assert config.granularity.name == "5m" and len(config.strategies) == 2
    with pytest.raises(ConfigError, match=r"^command line: --speed: unknown speed"):
        config_from_args(parse("portfolio.toml", "--speed", "fastest"), cwd=tmp_path)


def test_strategy_only(tmp_path):
    make_project(tmp_path, toml=None)
    config = config_from_args(parse("--strategy", "strategies/a.py", "--symbols", "AAPL"), cwd=tmp_path)
    assert config.portfolio_path is None and config.strategies[0].file == Path(tmp_path, "strategies", "a.py")
