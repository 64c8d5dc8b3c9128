"""The `sqfast` command line."""

import argparse
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
    return parser


def _run_check(args: argparse.Namespace) -> int:
    from .compile.analysis import analyse, format_report
    from .compile.loader import parse_param

    try:
        overrides = dict(parse_param(p) for p in args.param)
    except ValueError as err:
        raise SqfastError(str(err)) from None
    print(format_report(analyse(args.strategy, args.class_name, overrides, args.lookback)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import run_demo

            return run_demo(args.symbols, args.bars, args.seed, args.show)
        if args.command == "check":
            return _run_check(args)
    except SqfastError as err:
        print(f"sqfast: error: {err}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
