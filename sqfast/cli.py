"""The `sqfast` command line."""

import argparse
import sys
from collections.abc import Sequence

from . import __version__


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(args.symbols, args.bars, args.seed, args.show)
    return 2


if __name__ == "__main__":
    sys.exit(main())
