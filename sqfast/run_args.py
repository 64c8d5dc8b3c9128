"""The command line of `sqfast run`: its flags, and turning parsed arguments into a RunConfig.

Flags are declared without argparse types or choices so that every mistake is checked by
`build_config` and reported the same way as the portfolio file's (one line, the flag, the fix).

    sqfast run [PORTFOLIO] [flags]

    PORTFOLIO            a portfolio .toml file (optional with --strategy)
    --symbols-file FILE  the universe: one symbol per line, # comments
    --symbols A,B        the universe, comma-separated (not with --symbols-file)
    --strategy FILE      run this strategy file (repeatable); replaces the portfolio's strategies,
                         the capital is split evenly, the id is the file's stem (made unique)
    --data-source NAME   demo, polygon (or massive), alpaca, coinmarketcap
    --granularity G      the feed's bar: 1s ... 1d
    --duration D         90s, 30m, 8h, 2d, 1h30m; "none" runs until stopped
    --mode MODE          signals, paper or live
    --live               confirm a live run (needs mode live as well)
    --broker NAME        sim or alpaca
    --lookback N         bars of history per symbol loaded before live bars
    --run-dir DIR        the run directory (journal, log, exports); reusing it resumes
    --speed SPEED        realtime or max (demo feed only)
    -v, --verbose        each signal's indicator values too
    -q, --quiet          warnings and errors only
"""

import argparse
from pathlib import Path

from .config import build_config
from .config_types import BROKERS, MODES, SPEEDS, Overrides, RunConfig
from .granularity import DATA_SOURCES, names


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare `sqfast run`'s positional PORTFOLIO and its flags on `parser`."""
    parser.add_argument("portfolio", nargs="?", metavar="PORTFOLIO",
                        help="portfolio .toml file (optional with --strategy)")
    parser.add_argument("--symbols-file", metavar="FILE", help="universe file: one symbol per line")
    parser.add_argument("--symbols", metavar="A,B", help="universe, comma-separated")
    parser.add_argument("--strategy", dest="strategies", action="append", default=[], metavar="FILE",
                        help="run this strategy file (repeatable; replaces the portfolio's strategies, "
                             "capital split evenly)")
    parser.add_argument("--data-source", metavar="NAME", help=f"one of: {', '.join(DATA_SOURCES)}")
    parser.add_argument("--granularity", metavar="G", help=f"feed bar length: {names()}")
    parser.add_argument("--duration", metavar="D",
                        help='how long to run: 90s, 30m, 8h, 2d, 1h30m; "none" = until stopped')
    parser.add_argument("--mode", metavar="MODE", help=f"one of: {', '.join(MODES)}")
    parser.add_argument("--live", action="store_true", help="confirm a live run (needs mode live too)")
    parser.add_argument("--broker", metavar="NAME", help=f"one of: {', '.join(BROKERS)}")
    parser.add_argument("--lookback", metavar="N", help="bars of history per symbol for warm-up")
    parser.add_argument("--run-dir", metavar="DIR", help="run directory (default runs/<portfolio name>)")
    parser.add_argument("--speed", metavar="SPEED", help=f"one of: {', '.join(SPEEDS)} (max: demo only)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show each signal's indicator values")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")


def overrides_from_args(args: argparse.Namespace) -> Overrides:
    """The Overrides in arguments parsed with `add_run_arguments`' flags."""
    return Overrides(
        symbols_file=args.symbols_file, symbols=args.symbols, strategies=tuple(args.strategies),
        data_source=args.data_source, granularity=args.granularity, duration=args.duration,
        mode=args.mode, live=args.live, broker=args.broker, lookback=args.lookback,
        run_dir=args.run_dir, speed=args.speed, verbose=args.verbose, quiet=args.quiet,
    )


def config_from_args(args: argparse.Namespace, cwd: Path | None = None) -> RunConfig:
    """The checked RunConfig for `sqfast run`'s parsed arguments (ConfigError if anything is wrong)."""
    portfolio = Path(args.portfolio) if args.portfolio else None
    return build_config(portfolio, overrides_from_args(args), cwd=cwd)
