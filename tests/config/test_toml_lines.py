"""Finding the line of a key in a TOML text, for error messages."""

from sqfast.toml_lines import KeyLines

TEXT = '''\
a = 1
"quoted" = 2
[risk]
x = 3   # comment
[[strategy]]
id = "one"
params = { n1 = 1 }
[[strategy]]
doc = """
fake = 1
"""
allocation = 0.4
[strategy.params]
n = 3
[source.demo]
seed = 1
dotted.key = 2
'''


def test_lines():
    lines = KeyLines(TEXT)
    assert lines.line("a") == 1
    assert lines.line("quoted") == 2
    assert lines.line("risk") == 3 and lines.line("risk", "x") == 4
    assert lines.line("strategy", 0) == 5 and lines.line("strategy", 0, "id") == 6
    assert lines.line("strategy", 0, "params", "n1") == 7  # inside an inline table: its key's line
    assert lines.line("strategy", 1, "allocation") == 12  # not fooled by the multi-line string
    assert lines.line("strategy", 1, "fake") == 8  # unknown: the table's line
    assert lines.line("strategy", 1, "params", "n") == 14
    assert lines.line("source") == 15 and lines.line("source", "demo", "seed") == 16
    assert lines.line("source", "demo", "dotted", "key") == 17
    assert lines.line("nowhere") is None
