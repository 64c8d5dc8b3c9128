"""The universe file and symbol lists: grammar, comments, every problem with its line."""

import pytest

from sqfast.errors import ConfigError
from sqfast.universe import parse_symbol_list, parse_universe, read_universe, symbol_problem


@pytest.mark.parametrize("symbol", ["A", "AAPL", "BRK.B", "BF-B", "BTC/USD", "SHIB/USDT", "X1", "A" * 20])
def test_well_formed(symbol):
    assert symbol_problem(symbol) is None


@pytest.mark.parametrize(("symbol", "why"), [
    ("BRK B", "no spaces"), ("AAPL,MSFT", "no spaces or commas"), ("A" * 21, "longer than 20"),
    ("BTC/", "joined by single"), (".A", "joined by single"), ("A..B", "joined by single"),
    ("TOO$", "letters and digits"), ("ÄPPLE", "letters and digits"), ("A/B/C", "one '/'"),
])
def test_malformed(symbol, why):
    assert why in symbol_problem(symbol)


def test_comments_blank_lines_and_case():
    text = "# header\n\n  aapl  \nMSFT # trailing\n   # indented comment\nbtc/usd\n"
    assert parse_universe(text, "u.txt") == ("AAPL", "MSFT", "BTC/USD")


def test_every_problem_with_its_line():
    with pytest.raises(ConfigError) as caught:
        parse_universe("AAPL\nAAPL\nbad sym\n\naapl\nOK\n", "u.txt")
    assert caught.value.problems == [
        "line 2: duplicate symbol 'AAPL' (first on line 1)",
        "line 3: malformed symbol 'BAD SYM': one symbol per entry, no spaces or commas",
        "line 5: duplicate symbol 'AAPL' (first on line 1)",
    ]
    assert str(caught.value).startswith("u.txt: 3 problems: line 2: duplicate")


def test_empty():
    with pytest.raises(ConfigError, match=r"^u\.txt: no symbols, only comments and blank lines"):
        parse_universe("# only\n\n", "u.txt")


def test_read_errors(tmp_path):
    with pytest.raises(ConfigError, match="symbols file not found"):
        read_universe(tmp_path / "missing.txt")
    with pytest.raises(ConfigError, match="is a directory"):
        read_universe(tmp_path)
    (tmp_path / "latin1.txt").write_bytes(b"CAF\xc9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_universe(tmp_path / "latin1.txt", shown_as="latin1.txt")


def test_symbol_list():
    symbols = parse_symbol_list(" aapl, MSFT ,btc/usd,", "command line", "--symbols")
    assert symbols == ("AAPL", "MSFT", "BTC/USD")
    with pytest.raises(ConfigError, match=r"^command line: --symbols: no symbols given"):
        parse_symbol_list(" , ", "command line", "--symbols")


def test_a_large_universe_is_fast_and_ordered(tmp_path):
    symbols = [f"S{i:05d}" for i in range(20_000)]
    (tmp_path / "big.txt").write_text("\n".join(symbols))
    assert read_universe(tmp_path / "big.txt") == tuple(symbols)
