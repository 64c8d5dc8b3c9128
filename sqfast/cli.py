"""The `sqfast` command line."""

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__
from .errors import SqfastError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sqfast", description=__doc__)
    parser.add_argument("--version", action="version", version=f"sqfast {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser(
        "demo",
        help="stream seeded demo bars through the kernels and print indicators and crossovers",
        description="Stream seeded synthetic bars for a demo universe through SMA(10), SMA(20), "
        "EMA(20), RSI(14) and crossover, one compiled call per indicator per bar.",
    )
    demo.add_argument("--symbols", type=_positive_int, default=1000, help="universe size (default 1000)")
    demo.add_argument("--bars", type=_positive_int, default=500, help="bars to stream (default 500)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--show", type=_positive_int, default=10, help="symbols to print (default 10)")
    check = commands.add_parser(
        "check",
        help="show how a strategy translates: indicators, kernels, warm-up, compiled subset",
        description="Load a backtesting.py strategy file and show its class, parameters, each "
        "indicator and the kernel (or window node) behind it, its warm-up, and whether next() is "
        "within the compiled subset (else the line that sends it to Python).",
    )
    check.add_argument("strategy", help="path to the strategy file")
    check.add_argument("--class", dest="class_name", help="the Strategy subclass, if the file has several")
    check.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                       help="override a strategy parameter (repeatable)")
    check.add_argument("--lookback", type=_positive_int, help="bars of history available for warm-up")
    replay = commands.add_parser(
        "replay",
        help="replay a strategy over historical bars for many symbols with the simulated broker",
        description="Replay a backtesting.py strategy over historical bars, every symbol an "
        "independent sub-account with --cash, filled by backtesting.py's rules.",
    )
    replay.add_argument("strategy", help="path to the strategy file")
    replay.add_argument("--data", required=True, metavar="PATH",
                        help="a directory of SYMBOL.csv/.parquet files, or one file with a symbol column")
    replay.add_argument("--symbols", type=_symbol_list, metavar="A,B",
                        help="only these symbols, in this order")
    replay.add_argument("--class", dest="class_name", help="the Strategy subclass, if the file has several")
    replay.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="override a strategy parameter (repeatable)")
    replay.add_argument("--cash", type=float, default=10_000.0, help="cash per symbol (default 10000)")
    replay.add_argument("--commission", type=float, default=0.0, help="commission, a fraction of value")
    replay.add_argument("--spread", type=float, default=0.0, help="bid-ask spread, a fraction of price")
    replay.add_argument("--margin", type=float, default=1.0, help="margin ratio, 0 < margin <= 1")
    for flag in ("trade-on-close", "exclusive-orders", "hedging", "finalize-trades"):
        replay.add_argument(f"--{flag}", action="store_true",
                            help=f"as backtesting.py's {flag.replace('-', '_')}=True")
    replay.add_argument("--python", action="store_true",
                        help="decide with the strategy's own next() in Python, even if it compiles")
    replay.add_argument("--trades", metavar="FILE", help="write one row per trade (.csv or .parquet)")
    replay.add_argument("--orders", metavar="FILE", help="write every order next() placed (.csv or .parquet)")
    _add_run_commands(commands)
    return parser


def _add_run_commands(commands) -> None:
    """`run` and the commands that look after a run directory."""
    from .run_args import add_run_arguments

    run = commands.add_parser(
        "run",
        help="run a portfolio of strategies live: demo feed, simulated broker, journal, restart",
        description="Run several translated strategies together over a universe, fed by a data "
        "source, executed by the simulated broker (paper) or only recorded (signals), journaled "
        "to the run directory. Running again with the same run directory resumes.",
    )
    add_run_arguments(run)
    status = commands.add_parser("status", help="a run directory's strategies, positions and feed health")
    status.add_argument("run_dir", metavar="RUN_DIR")
    status.add_argument("--json", action="store_true", help="print JSON")
    halt = commands.add_parser("halt", help="set a run's persistent kill switch: no new orders")
    halt.add_argument("run_dir", metavar="RUN_DIR")
    halt.add_argument("--reason", default="halted from the command line", help="why (journaled)")
    resume = commands.add_parser("resume", help="clear a run's kill switch")
    resume.add_argument("run_dir", metavar="RUN_DIR")
    commands.add_parser("granularities", help="list the bar granularities and the data sources serving each")


def _symbol_list(text: str) -> list[str]:
    symbols = [s.strip() for s in text.split(",") if s.strip()]
    if not symbols:
        raise argparse.ArgumentTypeError("expected symbols separated by commas, e.g. AAPL,MSFT")
    return symbols


def _overrides(args: argparse.Namespace) -> dict:
    from .compile.loader import parse_param

    try:
        return dict(parse_param(p) for p in args.param)
    except ValueError as err:
        raise SqfastError(str(err)) from None


def _run_replay(args: argparse.Namespace) -> int:
    from .replayer import ProgressLine, replay, write_table

    result = replay(args.strategy, args.data, args.symbols, class_name=args.class_name,
                    params=_overrides(args), python=args.python, progress=ProgressLine(sys.stderr),
                    cash=args.cash,
                    commission=args.commission, spread=args.spread, margin=args.margin,
                    trade_on_close=args.trade_on_close, hedging=args.hedging,
                    exclusive_orders=args.exclusive_orders, finalize_trades=args.finalize_trades)
    if args.trades:
        write_table(result.trades, args.trades)
    if args.orders:
        write_table(result.orders, args.orders)
    row = result.summary.row(0, named=True)
    print(f"{row['strategy']} ({row['decisions']}): {row['symbols']} symbols, {row['trades']} trades, "
          f"return {row['return_pct']:+.2f}%, max drawdown {row['max_drawdown_pct']:.2f}%, "
          f"win rate {row['win_rate_pct']:.1f}%, Sharpe {row['sharpe']:.2f}")
    return 0


def _run_check(args: argparse.Namespace) -> int:
    from .compile.analysis import analyse, format_report

    print(format_report(analyse(args.strategy, args.class_name, _overrides(args), args.lookback)))
    return 0


def _run_live(args: argparse.Namespace) -> int:
    from .live import run
    from .run_args import config_from_args

    return run(config_from_args(args))


def _run_dir_command(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from .run_status import format_status, halt, resume, status, status_json

    run_dir = Path(args.run_dir)
    if args.command == "status":
        current = status(run_dir)
        print(json.dumps(status_json(current), indent=1) if args.json else format_status(current))
    elif args.command == "halt":
        halt(run_dir, args.reason)
        print(f"{run_dir}: halted ({args.reason}); `sqfast resume {run_dir}` clears it")
    else:
        resume(run_dir)
        print(f"{run_dir}: resumed")
    return 0


def _list_granularities() -> int:
    from .granularity import GRANULARITIES, sources_serving

    for granularity in GRANULARITIES:
        print(f"{granularity.name:>4}  {', '.join(sources_serving(granularity))}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import run_demo

            return run_demo(args.symbols, args.bars, args.seed, args.show)
        if args.command == "check":
            return _run_check(args)
        if args.command == "replay":
            return _run_replay(args)
        if args.command == "run":
            return _run_live(args)
        if args.command in ("status", "halt", "resume"):
            return _run_dir_command(args)
        if args.command == "granularities":
            return _list_granularities()
    except SqfastError as err:
        print(f"sqfast: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
