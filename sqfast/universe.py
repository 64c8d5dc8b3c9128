"""The universe of symbols: `universe.txt`, `--symbols A,B` and symbol arrays in the portfolio file.

A symbol is 1 to 20 characters of ASCII letters and digits, in parts joined by single `.`, `-`
or `/` (`AAPL`, `BRK.B`, `BF-B`, `BTC/USD`; at most one `/`). Symbols are upper-cased, since
every venue sqfast speaks spells them that way, so `aapl` and `AAPL` are the same symbol and
listing both is a duplicate. Every problem is reported at once, each with its line (or position
in a list), so a universe of thousands of symbols is fixed in one pass.
"""

import re
from collections.abc import Iterable
from pathlib import Path

from .config_values import read_config_text
from .errors import ConfigError

MAX_SYMBOL_LENGTH = 20
MAX_PROBLEMS_SHOWN = 10
_SYMBOL = re.compile(r"[A-Z0-9]+(?:[./-][A-Z0-9]+)*", re.ASCII)


def symbol_problem(symbol: str) -> str | None:
    """Why an upper-cased `symbol` is malformed, or None if it is well formed."""
    if re.search(r"[\s,;]", symbol):
        return f"malformed symbol {symbol!r}: one symbol per entry, no spaces or commas"
    if len(symbol) > MAX_SYMBOL_LENGTH:
        return f"malformed symbol {symbol!r}: longer than {MAX_SYMBOL_LENGTH} characters"
    if not _SYMBOL.fullmatch(symbol):
        return (f"malformed symbol {symbol!r}: letters and digits, joined by single '.', '-' "
                "or '/' (e.g. BRK.B, BTC/USD)")
    if symbol.count("/") > 1:
        return f"malformed symbol {symbol!r}: a pair has one '/' (e.g. BTC/USD)"
    return None


def check_symbols(entries: Iterable[tuple[int, str]],
                  unit: str) -> tuple[tuple[str, ...], list[tuple[int, str]]]:
    """Upper-cased symbols from `(position, text)` entries, and every problem found as
    `(position, "<unit> <position>: <problem>")`; `unit` is "line" for a file, "item" for a list."""
    symbols: list[str] = []
    first_seen: dict[str, int] = {}
    problems: list[tuple[int, str]] = []
    for position, text in entries:
        symbol = text.strip().upper()
        problem = symbol_problem(symbol) if symbol else "empty symbol"
        if problem is None and symbol in first_seen:
            problem = f"duplicate symbol {symbol!r} (first on {unit} {first_seen[symbol]})"
        if problem is not None:
            problems.append((position, f"{unit} {position}: {problem}"))
            continue
        first_seen[symbol] = position
        symbols.append(symbol)
    return tuple(symbols), problems


class SymbolsError(ConfigError):
    """Malformed or duplicate symbols; `problems` holds every one, each with its line or item."""

    def __init__(self, message: str, problems: list[str], *, path: str, key: str | None = None,
                 line: int | None = None, hint: str | None = None):
        super().__init__(message, path=path, key=key, line=line, hint=hint)
        self.problems = list(problems)


def problems_error(problems: list[tuple[int, str]], *, path: str, key: str | None = None,
                   line: int | None = None, hint: str | None = None) -> SymbolsError:
    """One ConfigError listing all `problems` (the first `MAX_PROBLEMS_SHOWN` of them, in order of
    position) on one line."""
    problems = [message for _, message in sorted(problems, key=lambda problem: problem[0])]
    shown = "; ".join(problems[:MAX_PROBLEMS_SHOWN])
    more = len(problems) - MAX_PROBLEMS_SHOWN
    if more > 0:
        shown += f"; and {more} more"
    count = "1 problem" if len(problems) == 1 else f"{len(problems)} problems"
    return SymbolsError(f"{count}: {shown}", problems, path=path, key=key, line=line, hint=hint)


def parse_universe(text: str, path: str) -> tuple[str, ...]:
    """The symbols in the text of a universe file, named `path` in errors.

    One symbol per line; `#` starts a comment (whole line or trailing); blank lines are ignored.
    """
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        content = raw.split("#", 1)[0].strip()
        if content:
            entries.append((number, content))
    symbols, problems = check_symbols(entries, "line")
    if problems:
        raise problems_error(problems, path=path, hint="one symbol per line; # starts a comment")
    if not symbols:
        raise ConfigError("no symbols, only comments and blank lines", path=path,
                          hint="add one symbol per line, e.g. AAPL")
    return symbols


def read_universe(path: Path, shown_as: str | None = None) -> tuple[str, ...]:
    """The symbols in the universe file at `path` (named `shown_as` in errors, default `path`)."""
    name = shown_as or str(path)
    text = read_config_text(path, name, "symbols",
                            "check the path; in a portfolio file it is relative to that file")
    return parse_universe(text, name)


def parse_symbol_list(text: str, where: str, key: str) -> tuple[str, ...]:
    """The symbols in a comma-separated list such as `--symbols AAPL,MSFT`."""
    entries = [(index, item) for index, item in enumerate(text.split(","), start=1) if item.strip()]
    symbols, problems = check_symbols(entries, "item")
    if problems:
        raise problems_error(problems, path=where, key=key, hint="separate symbols with commas: AAPL,MSFT")
    if not symbols:
        raise ConfigError("no symbols given", path=where, key=key,
                          hint="separate symbols with commas: AAPL,MSFT")
    return symbols
