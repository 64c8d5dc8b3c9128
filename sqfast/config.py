"""The run configuration of `sqfast run`: the portfolio file and the command line, merged and checked.

A flag on the command line beats the portfolio file, which beats the embedded defaults (demo
feed, 1m bars, paper mode, simulated broker, 100,000 capital, real time, until stopped). Every
mistake is a ConfigError naming the file and line, or the flag, found before anything starts.
`portfolio_file` documents the file's keys and `run_args` the flags.

Safety: a live run needs `mode = "live"` (in the file or `--mode live`) and `--live` on the
command line; either without the other is refused, and so is live with the simulated broker or
the synthetic demo feed.
"""

from pathlib import Path

from .config_types import (
    BROKERS,
    DEFAULT_BROKER,
    DEFAULT_CAPITAL,
    DEFAULT_DATA_SOURCE,
    DEFAULT_GRANULARITY,
    DEFAULT_MODE,
    DEFAULT_SPEED,
    MODES,
    SPEEDS,
    Overrides,
    RiskLimits,
    RunConfig,
    StrategyConfig,
)
from .config_values import COMMAND_LINE, DEFAULT, Where, as_choice, as_int, show
from .durations import parse_duration
from .errors import ConfigError
from .granularity import DATA_SOURCES, GRANULARITIES, Granularity, parse_granularity, serves
from .portfolio_file import (
    PortfolioFile,
    canonical_source,
    read_portfolio,
    source_defaults,
    strategy_id_from,
)
from .universe import parse_symbol_list, read_universe

__all__ = ["ConfigError", "Overrides", "RiskLimits", "RunConfig", "StrategyConfig", "build_config"]

Setting = tuple[object, Where]


def build_config(portfolio_path: Path | None, overrides: Overrides | None = None, *,
                 cwd: Path | None = None) -> RunConfig:
    """The checked configuration of a run, from a portfolio file (or None) and the command line.

    Paths in the file are relative to the file; paths on the command line and the default run
    directory are relative to `cwd` (default: the working directory).
    """
    cwd = (cwd or Path.cwd()).resolve()
    overrides = overrides or Overrides()
    file = read_portfolio(cwd / portfolio_path, shown=str(portfolio_path)) if portfolio_path else None
    flags = _read_flags(overrides, cwd)

    def setting(name: str, default: object) -> Setting:
        if name in flags:
            return flags[name]
        if file is not None and name in file.settings:
            return file.settings[name]
        return default, Where(DEFAULT, None, name)

    source, source_where = setting("data_source", DEFAULT_DATA_SOURCE)
    granularity, granularity_where = setting("granularity", parse_granularity(DEFAULT_GRANULARITY))
    mode, mode_where = setting("mode", DEFAULT_MODE)
    broker, broker_where = setting("broker", DEFAULT_BROKER)
    speed, speed_where = setting("speed", DEFAULT_SPEED)
    verbosity = _verbosity(overrides)
    _check_live(overrides.live, (mode, mode_where), (broker, broker_where), (source, source_where))
    _check_served((source, source_where), (granularity, granularity_where))
    if speed == "max" and source != "demo":
        raise speed_where.error(f"speed max replays bars as fast as possible, which only the demo feed can "
                                f"do; the data source is {source} ({source_where.describe()})",
                                "use speed realtime with a live data source")
    strategies = _strategies(file, overrides, cwd)
    _check_strategy_granularities(file, strategies, (granularity, granularity_where))
    symbols, symbols_file = _universe(file, overrides, cwd, strategies)
    _check_strategy_symbols(file, strategies, symbols, symbols_file)
    run_dir = _run_dir(setting("run_dir", None), file, strategies, cwd)
    options = source_defaults(source)
    if file is not None:
        options.update(file.source_options.get(source, {}))
    return RunConfig(
        data_source=source, granularity=granularity, mode=mode, broker=broker,
        capital=setting("capital", DEFAULT_CAPITAL)[0], duration_seconds=setting("duration", None)[0],
        run_dir=run_dir, speed=speed, lookback=setting("lookback", None)[0],
        risk=file.risk if file is not None else RiskLimits(), strategies=strategies,
        source_options=options, symbols=symbols, verbosity=verbosity,
        portfolio_path=file.path if file is not None else None, symbols_file=symbols_file,
    )


def _flag(name: str) -> Where:
    return Where(COMMAND_LINE, None, name)


def _read_flags(overrides: Overrides, cwd: Path) -> dict[str, Setting]:
    """The command line's settings, each checked, keyed like the file's."""
    flags: dict[str, Setting] = {}
    readers = {
        "data_source": ("--data-source", canonical_source),
        "granularity": ("--granularity", _granularity),
        "mode": ("--mode", lambda value, where: as_choice(value, where, MODES, "mode")),
        "broker": ("--broker", lambda value, where: as_choice(value, where, BROKERS, "broker")),
        "duration": ("--duration", _duration),
        "run_dir": ("--run-dir", lambda value, where: (cwd / Path(value).expanduser()).resolve()),
        "speed": ("--speed", lambda value, where: as_choice(value, where, SPEEDS, "speed")),
        "lookback": ("--lookback", _lookback),
    }
    for name, (flag, read) in readers.items():
        value = getattr(overrides, name)
        if value is not None:
            where = _flag(flag)
            flags[name] = (read(value, where), where)
    return flags


def _granularity(value: str, where: Where) -> Granularity:
    try:
        return parse_granularity(value)
    except ValueError as err:
        raise where.error(str(err)) from None


def _duration(value: str, where: Where) -> int | None:
    if value.strip().lower() == "none":
        return None
    try:
        return parse_duration(value)
    except ValueError as err:
        raise where.error(str(err), "or --duration none to run until stopped") from None


def _lookback(value: str | int, where: Where) -> int:
    if isinstance(value, str):
        try:
            value = int(value.replace("_", ""))
        except ValueError:
            raise where.error(f"expected a whole number, got {show(value)}", "write --lookback 200") from None
    return as_int(value, where, "200")


def _verbosity(overrides: Overrides) -> int:
    if overrides.verbose and overrides.quiet:
        raise _flag("--verbose").error("--verbose and --quiet contradict each other", "pass one of them")
    return 1 if overrides.verbose else -1 if overrides.quiet else 0


def _check_live(live_flag: bool, mode: Setting, broker: Setting, source: Setting) -> None:
    """Live needs both `mode = "live"` and `--live`, a real broker and a real data source."""
    (mode_value, mode_where), (broker_value, broker_where) = mode, broker
    source_value, source_where = source
    if live_flag and mode_value != "live":
        raise _flag("--live").error(
            f"--live confirms a live run, but the mode is {mode_value} ({mode_where.describe()})",
            'set mode = "live" in the portfolio file or pass --mode live as well; for paper trading '
            "drop --live")
    if mode_value != "live":
        return
    if not live_flag:
        raise mode_where.error("mode live sends real orders, and needs --live on the command line to confirm",
                               'add --live, or use mode "paper"')
    if broker_value == "sim":
        raise broker_where.error("mode live needs a real broker; sim is the simulated one",
                                 'set broker = "alpaca", or use mode "paper"')
    if source_value == "demo":
        real = ", ".join(sorted(DATA_SOURCES.keys() - {"demo"}))
        raise source_where.error("mode live would trade real money on the demo feed's synthetic bars",
                                 f"choose a real data source: {real}")


def _check_served(source: Setting, granularity: Setting) -> None:
    (source_value, source_where), (value, where) = source, granularity
    if serves(source_value, value):
        return
    feed = DATA_SOURCES[source_value]
    finest = feed.granularities[0].name
    others = ", ".join(name for name in DATA_SOURCES if serves(name, value))
    message = f"{source_value} cannot serve {value} bars ({feed.note})"
    if where.from_default:
        raise source_where.error(f"{message}; {value} is the default granularity",
                                 f'set granularity = "{finest}" or coarser')
    raise where.error(f"{message}; the data source comes from {source_where.describe()}",
                      f"use {finest} or coarser, or a data source that serves {value}: {others}")


def _strategies(file: PortfolioFile | None, overrides: Overrides, cwd: Path) -> tuple[StrategyConfig, ...]:
    """The run's strategies: `--strategy` files (sharing the capital evenly), else the file's."""
    if overrides.strategies:
        return _flag_strategies(overrides.strategies, cwd)
    if file is None:
        raise ConfigError("nothing to run: no portfolio file and no --strategy", path=COMMAND_LINE,
                          hint="run `sqfast run portfolio.toml`, or `sqfast run --strategy FILE "
                               "--symbols A,B`")
    if not file.strategies:
        raise file.strategies_where.error(
            "no strategies",
            'add a [[strategy]] table with file = "strategies/sma_cross.py", or pass --strategy')
    for strategy in file.strategies:
        _check_strategy_file(strategy.file, file.strategy_keys[strategy.id]["file"],
                             "check the path; it is relative to the portfolio file")
    return file.strategies


def _flag_strategies(paths: tuple[str, ...], cwd: Path) -> tuple[StrategyConfig, ...]:
    strategies: list[StrategyConfig] = []
    taken: set[str] = set()
    for text in paths:
        path = (cwd / Path(text).expanduser()).resolve()
        _check_strategy_file(path, _flag("--strategy"),
                             "check the path; it is relative to the working directory")
        base = strategy_id_from(path)
        strategy_id, copy = base, 1
        while strategy_id in taken:
            copy += 1
            strategy_id = f"{base[:29]}_{copy}"
        taken.add(strategy_id)
        strategies.append(StrategyConfig(id=strategy_id, file=path, class_name=None,
                                         allocation=1 / len(paths), origin=f"--strategy {text}"))
    return tuple(strategies)


def _check_strategy_file(path: Path, where: Where, hint: str) -> None:
    if not path.exists():
        raise where.error(f"strategy file not found: {path}", hint)
    if not path.is_file() or path.suffix != ".py":
        raise where.error(f"a strategy is a .py file, got {path}", "name the strategy's Python file")


def _strategy_where(file: PortfolioFile | None, strategy: StrategyConfig, key: str) -> Where:
    """Where a strategy's key was written; only the file's strategies have their own symbols or
    granularity, `--strategy` ones have neither."""
    if file is None or strategy.id not in file.strategy_keys:
        return _flag("--strategy")
    return file.strategy_keys[strategy.id][key]


def _check_strategy_granularities(file: PortfolioFile | None, strategies: tuple[StrategyConfig, ...],
                                  feed: Setting) -> None:
    """A strategy's own bars are aggregated from the feed's: not finer, and a whole multiple."""
    value, where = feed
    for strategy in strategies:
        own = strategy.granularity
        if own is None or value.divides(own):
            continue
        problem = "finer than" if own.seconds < value.seconds else "not a whole multiple of"
        multiples = ", ".join(g.name for g in _multiples(value)[:6]) or value.name
        raise _strategy_where(file, strategy, "granularity").error(
            f"{own} is {problem} the feed's {value} ({where.describe()}); a strategy's bars are built "
            "from the feed's", f"use one of {multiples}, or a feed granularity that divides {own}")


def _multiples(granularity: Granularity) -> list[Granularity]:
    return [g for g in GRANULARITIES if granularity.divides(g)]


def _universe(file: PortfolioFile | None, overrides: Overrides, cwd: Path,
              strategies: tuple[StrategyConfig, ...]) -> tuple[tuple[str, ...], Path | None]:
    """The universe: `--symbols` or `--symbols-file`, else the file's, else the strategies' own."""
    if overrides.symbols is not None and overrides.symbols_file is not None:
        raise _flag("--symbols").error("--symbols and --symbols-file both give the universe",
                                       "pass one of them")
    if overrides.symbols is not None:
        return parse_symbol_list(overrides.symbols, COMMAND_LINE, "--symbols"), None
    if overrides.symbols_file is not None:
        path = (cwd / Path(overrides.symbols_file).expanduser()).resolve()
        return read_universe(path, shown_as=overrides.symbols_file), path
    if file is not None and file.symbols is not None:
        return file.symbols[0], None
    if file is not None and file.symbols_file is not None:
        path, where = file.symbols_file
        if not path.is_file():
            raise where.error(f"symbols file not found: {path}",
                              "the path is relative to the portfolio file; or pass --symbols-file")
        return read_universe(path, shown_as=_shown(path, cwd)), path
    if strategies and all(strategy.symbols for strategy in strategies):
        union = dict.fromkeys(symbol for strategy in strategies for symbol in strategy.symbols)
        return tuple(union), None
    raise ConfigError("no symbols to trade", path=file.shown if file else COMMAND_LINE,
                      hint='pass --symbols-file universe.txt or --symbols AAPL,MSFT, or set '
                           'symbols_file = "universe.txt" in the portfolio file')


def _shown(path: Path, cwd: Path) -> str:
    """`path` relative to `cwd` when it is inside it, for messages."""
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return str(path)


def _check_strategy_symbols(file: PortfolioFile | None, strategies: tuple[StrategyConfig, ...],
                            universe: tuple[str, ...], symbols_file: Path | None) -> None:
    members = set(universe)
    for strategy in strategies:
        missing = [symbol for symbol in strategy.symbols or () if symbol not in members]
        if missing:
            source = symbols_file.name if symbols_file else "the run's symbols"
            listed = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise _strategy_where(file, strategy, "symbols").error(
                f"{listed} {'is' if len(missing) == 1 else 'are'} not in the universe ({source})",
                "add the missing symbols to the universe, or remove them from this strategy's symbols")


def _run_dir(setting: Setting, file: PortfolioFile | None, strategies: tuple[StrategyConfig, ...],
             cwd: Path) -> Path:
    """The run directory: as set, else `runs/<portfolio stem>` in `cwd`; without a portfolio file,
    `runs/<strategy ids joined by +>`, so runs of different strategies never resume each other."""
    value, where = setting
    if value is None:
        name = file.path.stem if file is not None else "+".join(strategy.id for strategy in strategies)
        if len(name) > 100:
            name = f"{strategies[0].id}+{len(strategies) - 1}more"
        value, where = cwd / "runs" / name, Where(DEFAULT, None, "run_dir")
    if value.exists() and not value.is_dir():
        raise where.error(f"{value} is a file, not a directory", "choose another run directory")
    return value
