"""Loading strategy files: the class, parameters, LOOKBACK, and a clear error for each mistake."""

import textwrap

import pytest

from sqfast.compile.loader import load_strategy, parse_param
from sqfast.errors import StrategyError

SMA_CROSS = '''
LOOKBACK = 20

from backtesting import Strategy
from backtesting.lib import crossover
from backtesting.test import SMA


class SmaCross(Strategy):
    n1 = 10
    n2 = 20
    label = "x"

    def init(self):
        self.sma1 = self.I(SMA, self.data.Close, self.n1)
        self.sma2 = self.I(SMA, self.data.Close, self.n2)

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.buy()
'''


def write(tmp_path, text, name="strategy.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_loads_class_parameters_and_lookback(tmp_path):
    loaded = load_strategy(write(tmp_path, SMA_CROSS))
    assert loaded.name == "SmaCross"
    assert loaded.params == {"n1": 10, "n2": 20, "label": "x"}
    assert loaded.lookback == 20


def test_overrides_replace_defaults(tmp_path):
    loaded = load_strategy(write(tmp_path, SMA_CROSS), overrides={"n1": 5})
    assert loaded.params["n1"] == 5 and loaded.params["n2"] == 20


def test_same_class_name_in_two_files_does_not_collide(tmp_path):
    a = load_strategy(write(tmp_path, SMA_CROSS, "a.py"))
    b = load_strategy(write(tmp_path, SMA_CROSS.replace("n1 = 10", "n1 = 3"), "b.py"))
    assert a.params["n1"] == 10 and b.params["n1"] == 3


def test_several_classes_need_a_choice(tmp_path):
    path = write(tmp_path, SMA_CROSS + "\n\nclass Other(SmaCross):\n    n1 = 2\n")
    with pytest.raises(StrategyError, match=r"several Strategy subclasses: SmaCross, Other.*--class"):
        load_strategy(path)
    assert load_strategy(path, class_name="Other").params["n1"] == 2


@pytest.mark.parametrize("text, kwargs, message", [
    (None, {}, r"strategy\.py: strategy file not found"),
    ("x = (\n", {}, r"strategy\.py:1: syntax error"),
    ("import math\n\nraise RuntimeError('boom')\n", {}, r"py:3: importing .* raised RuntimeError: boom"),
    ("class NotAStrategy:\n    pass\n", {}, r"no Strategy subclass found \(define a class that subclasses"),
    (SMA_CROSS, {"overrides": {"lable": 1}}, r"SmaCross has no parameter 'lable' \(did you mean 'label'\?\)"),
    (SMA_CROSS, {"overrides": {"n1": "ten"}}, r"parameter 'n1' expects int, got 'ten'"),
    (SMA_CROSS, {"class_name": "SmaCros"}, r"no Strategy subclass named 'SmaCros' \(did you mean 'SmaCross'"),
    (SMA_CROSS.replace("LOOKBACK = 20", "LOOKBACK = -1"), {}, r"LOOKBACK must be a whole number of bars"),
])
def test_bad_input_is_one_clear_line(tmp_path, text, kwargs, message):
    path = tmp_path / "strategy.py"
    if text is not None:
        path.write_text(text)
    with pytest.raises(StrategyError, match=message) as caught:
        load_strategy(path, **kwargs)
    assert "\n" not in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("text, expected", [
    ("n1=5", ("n1", 5)), ("ratio=0.5", ("ratio", 0.5)), ("flag=True", ("flag", True)),
    ("name=abc", ("name", "abc")), (" n = 7 ", ("n", 7)),
])
def test_parse_param(text, expected):
    assert parse_param(text) == expected


@pytest.mark.parametrize("text", ["n1", "=5", ""])
def test_parse_param_rejects_malformed(text):
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_param(text)
