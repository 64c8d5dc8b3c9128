"""Reading `portfolio.toml`: every key checked for name, type and range, with its line.

Relative paths (`file`, `symbols_file`, `run_dir`) are relative to the portfolio file's
directory. Files a setting names are read only when the setting is used (a `--symbols-file` on
the command line means the file's `symbols_file` is not read); every value is checked anyway.

Top level (every key optional except at least one `[[strategy]]`):

    key            type, default                 meaning
    data_source    string, "demo"                where bars come from: demo, polygon (or massive),
                                                 alpaca, coinmarketcap
    granularity    string, "1m"                  the feed's bar: 1s 5s 10s 15s 30s 1m 2m 5m 15m 30m
                                                 1h 2h 4h 6h 12h 1d; one the data source serves
    mode           string, "paper"               signals (record signals only), paper, or live
                                                 (real orders; needs --live on the command line too)
    broker         string, "sim"                 sim (the built-in simulated broker) or alpaca;
                                                 live needs a real broker
    capital        number > 0, 100_000           starting capital, shared by allocation
    duration       string, none (until stopped)  90s, 30m, 8h, 2d, 1h30m; simulated time with speed max
    run_dir        string, runs/<file stem>      journal, log and exports; reusing it resumes the run
                   in the working directory
    speed          string, "realtime"            realtime (bars close on the clock) or max (as fast as
                                                 the engine goes; demo feed only)
    lookback       integer >= 1, none            bars of history per symbol loaded before live bars
                                                 (none: each strategy's own warm-up)
    symbols        array of strings              the universe inline, or:
    symbols_file   string                        a universe file (one symbol per line, # comments)

`[risk]`, each optional (absent = no limit), amounts in the account currency:

    max_order_notional     number > 0     the largest order, price x quantity
    max_position_notional  number > 0     the largest position in one symbol
    max_gross_exposure     number > 0     the sum of the absolute values of all positions
    max_orders_per_minute  integer >= 1   orders sent in any minute, all strategies together
    daily_loss_limit       number > 0     the day's loss at which new entries halt (exits still go)

`[[strategy]]`, one table per strategy:

    key          type, default                   meaning
    file         string, required                the strategy's .py file
    id           string, the file's stem         unique; a letter, then letters, digits or _ (<= 32)
    class        string, the only subclass       which Strategy subclass, if the file has several
    allocation   number in (0, 1], even split    share of capital; together at most 1; give it for
                                                 every strategy or for none
    params       table, {}                       parameter overrides: numbers, strings, true/false
    symbols      array of strings, all           this strategy's symbols, each in the universe
    granularity  string, the feed's              coarser bars built from the feed's: a whole
                                                 multiple of the run's granularity

`[source.<data source>]`: a data source's options, one table per source; only the chosen
source's options are used, all are checked. Credentials are never read from this file: they
come from the environment or `.env`.

    source         key                   type, default        meaning
    demo           seed                  integer >= 0, 0      the random seed: same seed, same bars
    demo           start                 date-time, none      the first bar's time (TOML date or
                                                              date-time with offset, unquoted)
    polygon        market                string, "stocks"     stocks or crypto
    polygon        delayed               true/false, false    the 15-minute delayed feed
    polygon        rest_url, stream_url  URL, the venue's     endpoint overrides (tests, proxies)
    alpaca         market                string, "stocks"     stocks or crypto
    alpaca         feed                  string, "iex"        iex or sip (stocks)
    alpaca         rest_url, stream_url  URL, the venue's     endpoint overrides
    coinmarketcap  convert               string, "USD"        the quote currency
    coinmarketcap  rest_url              URL, the venue's     endpoint override
"""

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from .compile.loader import PARAM_TYPES
from .config_types import ALLOCATION_TOLERANCE, BROKERS, MODES, SPEEDS, RiskLimits, StrategyConfig
from .config_values import (
    Where,
    as_bool,
    as_choice,
    as_int,
    as_number,
    as_str,
    as_table,
    as_url,
    as_utc_datetime,
    check_keys,
    read_config_text,
    show,
)
from .durations import parse_duration
from .errors import ConfigError
from .granularity import DATA_SOURCES, SOURCE_ALIASES, Granularity, parse_granularity
from .toml_lines import KeyLines
from .universe import check_symbols, problems_error

TOP_KEYS = ("data_source", "granularity", "mode", "broker", "capital", "duration", "run_dir", "speed",
            "lookback", "symbols", "symbols_file", "risk", "source", "strategy")
RISK_KEYS = ("max_order_notional", "max_position_notional", "max_gross_exposure", "max_orders_per_minute",
             "daily_loss_limit")
STRATEGY_KEYS = ("id", "file", "class", "allocation", "params", "symbols", "granularity")
EXAMPLE_SYMBOLS = '["AAPL", "MSFT"]'
STRATEGY_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}", re.ASCII)
CREDENTIALS = {
    "demo": "the demo feed needs no credentials",
    "polygon": "set MASSIVE_API_KEY or POLYGON_API_KEY in the environment or .env",
    "alpaca": "set PAPER_KEY/PAPER_SECRET or ALPACA_API_KEY/ALPACA_SECRET_KEY in the environment or .env",
    "coinmarketcap": "set CMC_API_KEY in the environment or .env",
}


@dataclass(frozen=True)
class Option:
    """One data-source option: how to check it, its default and a TOML example."""

    check: Callable[[object, Where, str], object]
    default: object
    example: str


def _choice(*choices: str) -> Callable[[object, Where, str], str]:
    return lambda value, where, _: as_choice(value, where, choices, "value")


def _seed(value: object, where: Where, example: str) -> int:
    return as_int(value, where, example, minimum=0)


def _currency(value: object, where: Where, example: str) -> str:
    text = as_str(value, where, example)
    if not re.fullmatch(r"[A-Z]{3,5}", text):
        raise where.error(f"expected a currency code such as USD, got {show(text)}",
                          f"write {where.example(example)}")
    return text


SOURCE_OPTIONS: dict[str, dict[str, Option]] = {
    "demo": {"seed": Option(_seed, 0, "7"),
             "start": Option(as_utc_datetime, None, "2024-01-02T14:30:00Z")},
    "polygon": {"market": Option(_choice("stocks", "crypto"), "stocks", '"stocks"'),
                "delayed": Option(as_bool, False, "false"),
                "rest_url": Option(as_url, None, '"https://api.massive.com"'),
                "stream_url": Option(as_url, None, '"wss://socket.massive.com"')},
    "alpaca": {"market": Option(_choice("stocks", "crypto"), "stocks", '"stocks"'),
               "feed": Option(_choice("iex", "sip"), "iex", '"iex"'),
               "rest_url": Option(as_url, None, '"https://paper-api.alpaca.markets"'),
               "stream_url": Option(as_url, None, '"wss://stream.data.alpaca.markets/v2/iex"')},
    "coinmarketcap": {"convert": Option(_currency, "USD", '"USD"'),
                      "rest_url": Option(as_url, None, '"https://pro-api.coinmarketcap.com"')},
}


def source_defaults(source: str) -> dict[str, object]:
    """The options of data source `source` (a canonical name) when the file sets none."""
    return {key: option.default for key, option in SOURCE_OPTIONS[source].items()}


def canonical_source(value: object, where: Where) -> str:
    """A data source's canonical name (`massive` is `polygon`), or a ConfigError."""
    choices = [*DATA_SOURCES, *SOURCE_ALIASES]
    name = as_choice(value, where, choices, "data source")
    return SOURCE_ALIASES.get(name, name)


def strategy_id_from(file: Path) -> str:
    """A valid strategy id made from a file's stem: `my-strat.py` gives `my_strat`."""
    stem = re.sub(r"[^A-Za-z0-9_]", "_", file.stem, flags=re.ASCII)
    if not stem[:1].isalpha() or not stem[:1].isascii():
        stem = "s_" + stem
    return stem[:32]


@dataclass(frozen=True)
class PortfolioFile:
    """What a portfolio file says, checked: each top-level setting with its origin.

    `settings` maps `data_source, granularity, mode, broker, capital, duration, run_dir, speed,
    lookback` (those present) to (value, Where), with values converted: a canonical source name,
    a Granularity, seconds, an absolute Path. `strategy_keys[id][key]` is where each strategy key
    was written, for checks that need the command line too.
    """

    path: Path
    shown: str
    settings: dict[str, tuple[object, Where]]
    risk: RiskLimits
    source_options: dict[str, dict[str, object]]
    strategies: tuple[StrategyConfig, ...]
    strategies_where: Where
    strategy_keys: dict[str, dict[str, Where]] = field(default_factory=dict)
    symbols: tuple[tuple[str, ...], Where] | None = None
    symbols_file: tuple[Path, Where] | None = None


class _Doc:
    """A portfolio file being read: its name in messages, its directory and its key lines."""

    def __init__(self, path: Path, shown: str, text: str):
        self.path, self.shown, self.base = path, shown, path.parent
        self.lines = KeyLines(text)

    def where(self, label: str, *path: str | int) -> Where:
        return Where(self.shown, self.lines.line(*path), label)

    def resolve(self, text: str) -> Path:
        return (self.base / Path(text).expanduser()).resolve()


def read_portfolio(path: Path, shown: str | None = None) -> PortfolioFile:
    """Read and check the portfolio file at `path` (named `shown` in errors, default `path`)."""
    shown = shown or str(path)
    path = path.resolve()
    text = read_config_text(path, shown, "portfolio",
                            "check the path, or run with --strategy FILE and no portfolio file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise _syntax_error(err, shown) from None
    return _read(_Doc(path, shown, text), data)


def _syntax_error(err: tomllib.TOMLDecodeError, shown: str) -> ConfigError:
    """tomllib's message, with its line moved to the front (it carries no attributes before 3.14)."""
    message = str(err)
    line = getattr(err, "lineno", None)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)", message)
    if found:
        line = line or int(found.group(1))
        message = message[:found.start()] + f" at column {found.group(2)}" + message[found.end():]
    elif re.search(r"\(at end of document\)", message):
        message = message.replace("(at end of document)", "at the end of the file")
    return ConfigError(f"invalid TOML: {message}", path=shown, line=line,
                       hint="see https://toml.io; strings need quotes, tables [brackets]")


def _read(doc: _Doc, data: dict) -> PortfolioFile:
    check_keys(data, TOP_KEYS, lambda key: doc.where(key, key))
    settings: dict[str, tuple[object, Where]] = {}
    readers: dict[str, Callable[[object, Where], object]] = {
        "data_source": canonical_source,
        "granularity": _granularity,
        "mode": lambda value, where: as_choice(value, where, MODES, "mode"),
        "broker": lambda value, where: as_choice(value, where, BROKERS, "broker"),
        "capital": lambda value, where: as_number(value, where, "100_000"),
        "duration": _duration,
        "run_dir": lambda value, where: doc.resolve(as_str(value, where, '"runs/demo"')),
        "speed": lambda value, where: as_choice(value, where, SPEEDS, "speed"),
        "lookback": lambda value, where: as_int(value, where, "200"),
    }
    for key, read in readers.items():
        if key in data:
            where = doc.where(key, key)
            settings[key] = (read(data[key], where), where)
    symbols, symbols_file = _read_universe_keys(doc, data)
    strategies_where = doc.where("strategy", "strategy")
    strategies, strategy_keys = _read_strategies(doc, data.get("strategy"), strategies_where)
    return PortfolioFile(
        path=doc.path, shown=doc.shown, settings=settings,
        risk=_read_risk(doc, data.get("risk", {})),
        source_options=_read_sources(doc, data.get("source", {})),
        strategies=strategies, strategies_where=strategies_where, strategy_keys=strategy_keys,
        symbols=symbols, symbols_file=symbols_file,
    )


def _granularity(value: object, where: Where) -> Granularity:
    try:
        return parse_granularity(as_str(value, where, '"1m"'))
    except ValueError as err:
        raise where.error(str(err)) from None


def _duration(value: object, where: Where) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        minutes = show(f"{value}m")
        raise where.error(f"expected a string with a unit, got {show(value)}",
                          f"write {where.example(minutes)} for minutes")
    try:
        return parse_duration(as_str(value, where, '"30m"'))
    except ValueError as err:
        raise where.error(str(err)) from None


def symbols_from_list(value: object, where: Where) -> tuple[str, ...]:
    """The symbols of a TOML array of strings, all problems reported with their item numbers."""
    if not isinstance(value, list):
        raise where.error(f"expected an array of strings, got {show(value)}",
                          f"write {where.example(EXAMPLE_SYMBOLS)}")
    entries, problems = [], []
    for index, item in enumerate(value, start=1):
        if isinstance(item, str):
            entries.append((index, item))
        else:
            problems.append((index, f"item {index}: expected a string, got {show(item)}"))
    symbols, symbol_problems = check_symbols(entries, "item")
    problems += symbol_problems
    if problems:
        raise problems_error(problems, path=where.path, key=where.key,
                             line=where.line, hint='write symbols as strings: ["AAPL", "BTC/USD"]')
    if not symbols:
        raise where.error("the list of symbols is empty", 'list at least one symbol, e.g. ["AAPL"]')
    return symbols


def _read_universe_keys(doc: _Doc, data: dict) -> tuple[tuple[tuple[str, ...], Where] | None,
                                                       tuple[Path, Where] | None]:
    symbols = symbols_file = None
    if "symbols" in data:
        where = doc.where("symbols", "symbols")
        symbols = (symbols_from_list(data["symbols"], where), where)
    if "symbols_file" in data:
        where = doc.where("symbols_file", "symbols_file")
        symbols_file = (doc.resolve(as_str(data["symbols_file"], where, '"universe.txt"')), where)
    if symbols and symbols_file:
        raise symbols_file[1].error("give symbols or symbols_file, not both",
                                    "keep one of them; --symbols or --symbols-file overrides either")
    return symbols, symbols_file


def _read_risk(doc: _Doc, table: object) -> RiskLimits:
    where = doc.where("risk", "risk")
    table = as_table(table, where, "{ max_order_notional = 10_000 }")
    check_keys(table, RISK_KEYS, lambda key: doc.where(f"risk.{key}", "risk", key))
    limits: dict[str, float | int] = {}
    for key, value in table.items():
        key_where = doc.where(f"risk.{key}", "risk", key)
        if key == "max_orders_per_minute":
            limits[key] = as_int(value, key_where, "60")
        else:
            limits[key] = as_number(value, key_where, "10_000")
    return RiskLimits(**limits)


def _read_sources(doc: _Doc, table: object) -> dict[str, dict[str, object]]:
    where = doc.where("source", "source")
    table = as_table(table, where, "{ demo = { seed = 7 } }")
    check_keys(table, [*DATA_SOURCES, *SOURCE_ALIASES], lambda key: doc.where(f"source.{key}", "source", key))
    options: dict[str, dict[str, object]] = {}
    for name, values in table.items():
        source = SOURCE_ALIASES.get(name, name)
        source_where = doc.where(f"source.{name}", "source", name)
        if source in options:
            raise source_where.error(f"options for {source} are given twice ([source.{source}] and "
                                     f"[source.{name}])", "keep one table")
        values = as_table(values, source_where, "{ }")
        schema = SOURCE_OPTIONS[source]
        check_keys(values, list(schema), lambda key, n=name: doc.where(f"source.{n}.{key}", "source", n, key),
                   secret_hint=CREDENTIALS[source])
        options[source] = {}
        for key, value in values.items():
            key_where = doc.where(f"source.{name}.{key}", "source", name, key)
            options[source][key] = schema[key].check(value, key_where, schema[key].example)
    return options


def _read_strategies(doc: _Doc, value: object, where: Where):
    if value is None:
        return (), {}
    if isinstance(value, dict):
        raise where.error("strategies are an array of tables", "write [[strategy]] with double brackets")
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise where.error(f"expected [[strategy]] tables, got {show(value)}",
                          "write each strategy as a [[strategy]] table")
    read = [_read_strategy(doc, index, table) for index, table in enumerate(value)]
    _check_ids(read)
    strategies = _allocate(read)
    return tuple(strategies), {config.id: keys for config, keys in read}


def _read_strategy(doc: _Doc, index: int, table: dict) -> tuple[StrategyConfig, dict[str, Where]]:
    label = str(index + 1)
    if isinstance(table.get("id"), str) and STRATEGY_ID.fullmatch(table["id"]):
        label = table["id"]

    def where(key: str) -> Where:
        return doc.where(f"strategy[{label}].{key}", "strategy", index, key)

    check_keys(table, STRATEGY_KEYS, where)
    header = doc.where(f"strategy[{label}]", "strategy", index)
    if "file" not in table:
        raise header.error("no file", 'add file = "strategies/my_strategy.py" to this [[strategy]]')
    file = doc.resolve(as_str(table["file"], where("file"), '"strategies/sma_cross.py"'))
    keys = {key: where(key) for key in table}
    strategy_id = strategy_id_from(file)
    if "id" in table:
        strategy_id = as_str(table["id"], keys["id"], '"sma_cross"')
        if not STRATEGY_ID.fullmatch(strategy_id):
            fixed = show(strategy_id_from(Path(f"{strategy_id}.py")))
            raise keys["id"].error(f"invalid id {show(strategy_id)}: a letter, then letters, digits or _, "
                                   "at most 32", f"write {keys['id'].example(fixed)}")
    class_name = None
    if "class" in table:
        class_name = as_str(table["class"], keys["class"], '"SmaCross"')
        if not class_name.isidentifier():
            raise keys["class"].error(f"{show(class_name)} is not a Python class name",
                                      'write class = "SmaCross"')
    allocation = None
    if "allocation" in table:
        allocation = as_number(table["allocation"], keys["allocation"], "0.4")
        if allocation > 1:
            raise keys["allocation"].error(
                f"must be at most 1 (a fraction of capital), got {show(allocation)}",
                f"write {keys['allocation'].example('0.4')} for 40 %")
    params = _params(table.get("params", {}), keys.get("params") or where("params"))
    symbols = symbols_from_list(table["symbols"], keys["symbols"]) if "symbols" in table else None
    granularity = _granularity(table["granularity"], keys["granularity"]) if "granularity" in table else None
    keys["strategy"] = header
    config = StrategyConfig(id=strategy_id, file=file, class_name=class_name,
                            allocation=allocation if allocation is not None else 0.0, params=params,
                            symbols=symbols, granularity=granularity,
                            origin=f"{doc.shown}:{header.line}" if header.line else doc.shown)
    return config, keys


def _params(value: object, where: Where) -> dict[str, object]:
    table = as_table(value, where, "{ n1 = 10, n2 = 20 }")
    for name, param in table.items():
        if not isinstance(param, PARAM_TYPES):
            raise where.error(f"parameter {name!r} is {show(param)}; parameters are numbers, strings "
                              "or true/false", "write params = { n1 = 10, n2 = 20 }")
    return dict(table)


def _check_ids(read: list[tuple[StrategyConfig, dict[str, Where]]]) -> None:
    first: dict[str, Where] = {}
    for config, keys in read:
        where = keys.get("id", keys["strategy"])
        if config.id in first:
            origin = "" if "id" in keys else f" (from the file name {config.file.name})"
            raise where.error(f"duplicate strategy id {show(config.id)}{origin}; the first is at "
                              f"{first[config.id].describe()}", "give each [[strategy]] its own id")
        first[config.id] = where


def _allocate(read: list[tuple[StrategyConfig, dict[str, Where]]]) -> list[StrategyConfig]:
    """Strategies with their allocations: as given, or split evenly when none gives one."""
    given = [(config, keys) for config, keys in read if "allocation" in keys]
    if not given:
        share = 1.0 / len(read) if read else 0.0
        return [_with_allocation(config, share) for config, _ in read]
    if len(given) < len(read):
        missing = next(keys["strategy"] for _, keys in read if "allocation" not in keys)
        raise missing.error("no allocation, while other strategies have one",
                            "give every [[strategy]] an allocation, or none to split capital evenly")
    total = 0.0
    for config, keys in given:
        total += config.allocation
        if total > 1 + ALLOCATION_TOLERANCE:
            parts = " + ".join(f"{c.id} {c.allocation:g}" for c, _ in given)
            raise keys["allocation"].error(f"allocations add up to {sum(c.allocation for c, _ in given):g} "
                                           f"({parts}), over 1", "lower them so they add up to at most 1")
    return [config for config, _ in read]


def _with_allocation(config: StrategyConfig, allocation: float) -> StrategyConfig:
    return replace(config, allocation=allocation)
