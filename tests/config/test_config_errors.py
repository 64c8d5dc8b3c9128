"""Every mistake in the portfolio file, the universe or on the command line is one ConfigError
line that names the file and line (or the flag), the key, what is wrong and the fix."""

from pathlib import Path

import pytest

from sqfast.config import ConfigError, Overrides, build_config
from sqfast.errors import SqfastError

from .helpers import BASE, make_project


def edit(*pairs: str) -> str:
    """BASE with each (old, new) pair replaced once; every old text must be there."""
    text = BASE
    for old, new in zip(pairs[::2], pairs[1::2], strict=True):
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


LIVE = Overrides(live=True)

# (id, portfolio text, overrides, universe text or None for the default, fragments the message has)
CASES = [
    ("unknown top-level key", edit('capital = 100_000', 'capitol = 100_000'), None, None,
     ["portfolio.toml:5: capitol: unknown key", "did you mean 'capital'?"]),
    ("capital is a string", edit("capital = 100_000", 'capital = "lots"'), None, None,
     ["portfolio.toml:5: capital: expected a number", '"lots"', "write capital = 100_000"]),
    ("capital negative", edit("capital = 100_000", "capital = -5"), None, None,
     ["portfolio.toml:5: capital: must be greater than 0, got -5"]),
    ("capital zero", edit("capital = 100_000", "capital = 0"), None, None,
     ["portfolio.toml:5: capital: must be greater than 0"]),
    ("allocation quoted", edit("allocation = 0.5", 'allocation = "0.4"'), None, None,
     ["portfolio.toml:15: strategy[a].allocation: expected a number", "without quotes: allocation = 0.4"]),
    ("allocation over 1", edit("allocation = 0.5", "allocation = 1.5"), None, None,
     ["portfolio.toml:15: strategy[a].allocation: must be at most 1"]),
    ("allocation zero", edit("allocation = 0.5", "allocation = 0"), None, None,
     ["portfolio.toml:15: strategy[a].allocation: must be greater than 0"]),
    ("allocations sum over 1", edit("allocation = 0.5", "allocation = 0.7"),
     None, None,
     ["portfolio.toml:21: strategy[b].allocation: allocations add up to 1.2 (a 0.7 + b 0.5), over 1"]),
    ("allocation on some strategies only", edit("allocation = 0.5\n", "", ), None, None,
     ["portfolio.toml:12: strategy[a]: no allocation", "or none to split capital evenly"]),
    ("params not a table", edit("params = { n1 = 10 }", "params = 5"), None, None,
     ["portfolio.toml:16: strategy[a].params: expected a table", "params = { n1 = 10, n2 = 20 }"]),
    ("param value a table", edit("params = { n1 = 10 }", "params = { n1 = { x = 1 } }"), None, None,
     ["portfolio.toml:16: strategy[a].params: parameter 'n1' is a table"]),
    ("duplicate strategy ids", edit('id = "b"', 'id = "a"'), None, None,
     ["portfolio.toml:19: strategy[a].id: duplicate strategy id \"a\"", "portfolio.toml:13"]),
    ("invalid strategy id", edit('id = "b"', 'id = "my-strat"'), None, None,
     ["portfolio.toml:19: strategy[2].id: invalid id \"my-strat\"", 'id = "my_strat"']),
    ("strategy file missing", edit("strategies/b.py", "strategies/zzz.py"), None, None,
     ["portfolio.toml:20: strategy[b].file: strategy file not found: ", "strategies/zzz.py"]),
    ("strategy without file", edit('file = "strategies/b.py"\n', ""), None, None,
     ["portfolio.toml:18: strategy[b]: no file"]),
    ("unknown strategy key", edit('id = "b"', 'id = "b"\nclas = "B"'), None, None,
     ["portfolio.toml:20: strategy[b].clas: unknown key", "did you mean 'class'?"]),
    ("single [strategy] table", 'symbols = ["AAPL"]\n[strategy]\nfile = "strategies/a.py"\n', None, None,
     ["portfolio.toml:2: strategy: strategies are an array of tables", "[[strategy]] with double brackets"]),
    ("unknown granularity", edit('granularity = "1m"', 'granularity = "7m"'), None, None,
     ["portfolio.toml:2: granularity: unknown granularity '7m'", "1s, 5s, 10s, 15s, 30s, 1m"]),
    ("granularity spelled 60s", edit('granularity = "1m"', 'granularity = "60s"'), None, None,
     ["portfolio.toml:2: granularity: unknown granularity '60s'", "write '60s' as '1m'"]),
    ("granularity the source cannot serve",
     edit('data_source = "demo"', 'data_source = "alpaca"', 'granularity = "1m"', 'granularity = "1s"'),
     None, None,
     ["portfolio.toml:2: granularity: alpaca cannot serve 1s bars (its stream has minute bars only)",
      "portfolio.toml:1", "use 1m or coarser"]),
    ("default granularity the source cannot serve",
     edit('data_source = "demo"', 'data_source = "coinmarketcap"', 'granularity = "1m"\n', ""), None, None,
     ["portfolio.toml:1: data_source: coinmarketcap cannot serve 1m bars", 'granularity = "1h"']),
    ("unknown data source", edit('data_source = "demo"', 'data_source = "polygn"'), None, None,
     ["portfolio.toml:1: data_source: unknown data source \"polygn\"", "did you mean 'polygon'?"]),
    ("unknown broker", edit('broker = "sim"', 'broker = "ib"'), None, None,
     ["portfolio.toml:4: broker: unknown broker \"ib\"", "alpaca, sim"]),
    ("unknown mode", edit('mode = "paper"', 'mode = "papr"'), None, None,
     ["portfolio.toml:3: mode: unknown mode \"papr\"", "did you mean 'paper'?"]),
    ("unknown speed", edit('mode = "paper"', 'speed = "fast"'), None, None,
     ["portfolio.toml:3: speed: unknown speed \"fast\"", "max, realtime"]),
    ("duration without unit", edit('duration = "30m"', 'duration = "30"'), None, None,
     ["portfolio.toml:6: duration: malformed duration '30': a number needs a unit"]),
    ("duration as a number", edit('duration = "30m"', "duration = 30"), None, None,
     ["portfolio.toml:6: duration: expected a string with a unit, got 30", 'duration = "30m"']),
    ("duration zero", edit('duration = "30m"', 'duration = "0s"'), None, None,
     ["portfolio.toml:6: duration: duration '0s' is zero"]),
    ("lookback zero", edit('duration = "30m"', "lookback = 0"), None, None,
     ["portfolio.toml:6: lookback: must be at least 1, got 0"]),
    ("risk limit zero", edit("max_order_notional = 10_000", "max_order_notional = 0"), None, None,
     ["portfolio.toml:10: risk.max_order_notional: must be greater than 0"]),
    ("risk orders per minute fractional", edit("max_order_notional = 10_000", "max_orders_per_minute = 2.5"),
     None, None, ["portfolio.toml:10: risk.max_orders_per_minute: expected a whole number"]),
    ("unknown risk key", edit("max_order_notional = 10_000", "max_order_notionl = 10_000"), None, None,
     ["portfolio.toml:10: risk.max_order_notionl: unknown key", "did you mean 'max_order_notional'?"]),
    ("unknown source option", BASE + "\n[source.demo]\nsed = 3\n", None, None,
     ["portfolio.toml:24: source.demo.sed: unknown key", "did you mean 'seed'?"]),
    ("unknown source table", BASE + "\n[source.polygn]\nmarket = \"stocks\"\n", None, None,
     ["portfolio.toml:23: source.polygn: unknown key", "did you mean 'polygon'?"]),
    ("source option wrong choice", BASE + "\n[source.alpaca]\nfeed = \"sp\"\n", None, None,
     ["portfolio.toml:24: source.alpaca.feed: unknown value \"sp\"", "did you mean 'sip'?"]),
    ("symbols and symbols_file", edit('symbols_file = "universe.txt"',
                                      'symbols = ["AAPL"]\nsymbols_file = "universe.txt"'), None, None,
     ["portfolio.toml:8: symbols_file: give symbols or symbols_file, not both"]),
    ("symbols file missing", edit('"universe.txt"', '"nope.txt"'), None, None,
     ["portfolio.toml:7: symbols_file: symbols file not found: ", "nope.txt"]),
    ("inline symbols malformed", edit('symbols_file = "universe.txt"', 'symbols = ["AAPL", 5, "BAD SYM"]'),
     None, None,
     ["portfolio.toml:7: symbols: 2 problems: item 2: expected a string, got 5; item 3: malformed symbol"]),
    ("empty universe", BASE, None, "# nothing here\n\n   # still nothing\n",
     ["universe.txt: no symbols, only comments and blank lines"]),
    ("malformed and duplicate symbols", BASE, None, "AAPL\nmsft\nAAPL # again\n\nBRK B\nMSFT\nTOO$\n",
     ["universe.txt: 4 problems: line 3: duplicate symbol 'AAPL' (first on line 1); line 5: malformed "
      "symbol 'BRK B'", "line 6: duplicate symbol 'MSFT' (first on line 2)",
      "line 7: malformed symbol 'TOO$'"]),
    ("strategy granularity finer than the feed",
     edit('granularity = "1m"', 'granularity = "5m"', 'id = "b"', 'id = "b"\ngranularity = "1m"'), None, None,
     ["portfolio.toml:20: strategy[b].granularity: 1m is finer than the feed's 5m (portfolio.toml:2)",
      "use one of 5m, 15m, 30m, 1h"]),
    ("strategy granularity not a multiple",
     edit('granularity = "1m"', 'granularity = "2m"', 'id = "b"', 'id = "b"\ngranularity = "5m"'), None, None,
     ["portfolio.toml:20: strategy[b].granularity: 5m is not a whole multiple of the feed's 2m"]),
    ("strategy symbols outside the universe", edit('id = "b"', 'id = "b"\nsymbols = ["AAPL", "TSLA"]'),
     None, None,
     ["portfolio.toml:20: strategy[b].symbols: TSLA is not in the universe (universe.txt)"]),
    ("credential in a source table", BASE + '\n[source.polygon]\napi_key = "sk-SECRET-123"\n', None, None,
     ["portfolio.toml:24: source.polygon.api_key: credentials are never read from the portfolio file",
      "MASSIVE_API_KEY"]),
    ("invalid TOML", edit("capital = 100_000", "capital = 100_000 000"), None, None,
     ["portfolio.toml:5: invalid TOML"]),
    ("live without --live", edit('mode = "paper"', 'mode = "live"'), None, None,
     ["portfolio.toml:3: mode: mode live sends real orders, and needs --live", "add --live"]),
    ("--live without live mode", BASE, LIVE, None,
     ["command line: --live: --live confirms a live run, but the mode is paper (portfolio.toml:3)"]),
    ("live with the simulated broker", edit('mode = "paper"', 'mode = "live"'), LIVE, None,
     ["portfolio.toml:4: broker: mode live needs a real broker; sim is the simulated one"]),
    ("live on the demo feed",
     edit('mode = "paper"', 'mode = "live"', 'broker = "sim"', 'broker = "alpaca"'), LIVE, None,
     ["portfolio.toml:1: data_source: mode live would trade real money on the demo feed's synthetic bars"]),
    ("speed max on a live feed",
     edit('data_source = "demo"', 'data_source = "polygon"', 'mode = "paper"', 'speed = "max"'), None, None,
     ["portfolio.toml:3: speed: speed max replays bars as fast as possible, which only the demo feed"]),
    ("unknown granularity flag", BASE, Overrides(granularity="1min"), None,
     ["command line: --granularity: unknown granularity '1min'", "write '1min' as '1m'"]),
    ("malformed duration flag", BASE, Overrides(duration="1 h"), None,
     ["command line: --duration: malformed duration '1 h': write it without spaces"]),
    ("unknown mode flag", BASE, Overrides(mode="LIVE"), None,
     ["command line: --mode: unknown mode \"LIVE\" (write --mode live)"]),
    ("lookback flag not a number", BASE, Overrides(lookback="many"), None,
     ["command line: --lookback: expected a whole number, got \"many\""]),
    ("--symbols and --symbols-file", BASE, Overrides(symbols="AAPL", symbols_file="universe.txt"), None,
     ["command line: --symbols: --symbols and --symbols-file both give the universe"]),
    ("--symbols malformed", BASE, Overrides(symbols="AAPL,,MS FT,AAPL"), None,
     ["command line: --symbols: 2 problems: item 3: malformed symbol 'MS FT'",
      "item 4: duplicate symbol 'AAPL' (first on item 1)"]),
    ("--strategy missing", BASE, Overrides(strategies=("strategies/nope.py",)), None,
     ["command line: --strategy: strategy file not found: ", "strategies/nope.py"]),
    ("--verbose and --quiet", BASE, Overrides(verbose=True, quiet=True), None,
     ["command line: --verbose: --verbose and --quiet contradict each other"]),
]


@pytest.mark.parametrize(("toml", "overrides", "universe", "fragments"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_one_clear_line(tmp_path, toml, overrides, universe, fragments):
    make_project(tmp_path, toml, universe if universe is not None else "AAPL\nMSFT\nBTC/USD\n")
    with pytest.raises(ConfigError) as caught:
        build_config(Path("portfolio.toml"), overrides, cwd=tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_there_are_at_least_twenty_distinct_bad_inputs():
    assert len({case[0] for case in CASES}) == len(CASES) >= 20


def test_config_error_is_a_sqfast_error_with_its_parts(tmp_path):
    make_project(tmp_path, BASE.replace("capital = 100_000", 'capital = "lots"'))
    with pytest.raises(SqfastError) as caught:
        build_config(Path("portfolio.toml"), cwd=tmp_path)
    error = caught.value
    assert isinstance(error, ConfigError)
    assert (error.path, error.line, error.key) == ("portfolio.toml", 5, "capital")
    assert error.hint == "write capital = 100_000"


def test_a_credential_is_never_echoed(tmp_path):
    make_project(tmp_path, BASE + '\n[source.alpaca]\nsecret_key = "sk-SECRET-123"\n')
    with pytest.raises(ConfigError) as caught:
        build_config(Path("portfolio.toml"), cwd=tmp_path)
    assert "sk-SECRET-123" not in str(caught.value)
    assert "PAPER_KEY" in str(caught.value)


def test_universe_problems_are_all_listed_with_their_lines(tmp_path):
    lines = ["AAPL"] + [f"BAD SYMBOL {i}" for i in range(15)]
    make_project(tmp_path, universe="\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as caught:
        build_config(Path("portfolio.toml"), cwd=tmp_path)
    assert [problem.split(":")[0] for problem in caught.value.problems] == [f"line {n}" for n in range(2, 17)]
    assert str(caught.value).startswith("universe.txt: 15 problems: line 2: malformed symbol")
    assert str(caught.value).count("malformed") == 10 and "and 5 more" in str(caught.value)


def test_missing_portfolio_file(tmp_path):
    with pytest.raises(ConfigError, match=r"^nope\.toml: portfolio file not found: .*nope\.toml"):
        build_config(Path("nope.toml"), cwd=tmp_path)


def test_nothing_to_run(tmp_path):
    with pytest.raises(ConfigError, match=r"^command line: nothing to run: no portfolio file and no "
                                          r"--strategy \(run `sqfast run portfolio.toml`"):
        build_config(None, Overrides(symbols="AAPL"), cwd=tmp_path)


def test_no_strategies_in_the_file(tmp_path):
    make_project(tmp_path, 'symbols = ["AAPL"]\n')
    with pytest.raises(ConfigError, match=r"^portfolio\.toml: strategy: no strategies \(add a \[\[strategy"):
        build_config(Path("portfolio.toml"), cwd=tmp_path)


def test_no_symbols_anywhere(tmp_path):
    make_project(tmp_path, BASE.replace('symbols_file = "universe.txt"\n', ""))
    with pytest.raises(ConfigError, match=r"^portfolio\.toml: no symbols to trade \(pass --symbols-file"):
        build_config(Path("portfolio.toml"), cwd=tmp_path)


def test_syntax_error_names_line_and_column(tmp_path):
    make_project(tmp_path, BASE.replace('mode = "paper"', "mode = paper"))
    with pytest.raises(ConfigError, match=r"^portfolio\.toml:3: invalid TOML: Invalid value at column 8"):
        build_config(Path("portfolio.toml"), cwd=tmp_path)
