"""Line numbers of keys in a TOML file, for error messages.

`tomllib` returns plain values without positions, so this scans the text: table headers
(`[risk]`, `[[strategy]]`, `[source.demo]`) and `key =` lines, tracking which element of an array
of tables each key belongs to. It is a locator for messages, not a parser: a key it cannot place
(inside an inline table or a multi-line string) falls back to its enclosing key or table.
"""

import re

_PART = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_DOTTED = rf"{_PART}(?:\s*\.\s*{_PART})*"
_ARRAY_HEADER = re.compile(rf"\s*\[\[\s*({_DOTTED})\s*\]\]")
_TABLE_HEADER = re.compile(rf"\s*\[\s*({_DOTTED})\s*\]")
_KEY = re.compile(rf"\s*({_DOTTED})\s*=")

KeyPath = tuple[str | int, ...]


class KeyLines:
    """Where each key and table of a TOML text is, by path: `("risk", "max_order_notional")`,
    `("strategy", 0, "allocation")` (arrays of tables are indexed from 0, in file order)."""

    def __init__(self, text: str):
        self._lines: dict[KeyPath, int] = {}
        self._scan(text)

    def line(self, *path: str | int) -> int | None:
        """The line of `path`, else of its nearest enclosing key or table that has one."""
        for end in range(len(path), 0, -1):
            found = self._lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return None

    def _scan(self, text: str) -> None:
        arrays: dict[KeyPath, int] = {}
        table: KeyPath = ()
        in_string = None
        for number, raw in enumerate(text.splitlines(), start=1):
            if in_string:
                if raw.count(in_string) % 2 == 1:
                    in_string = None
                continue
            header = _ARRAY_HEADER.match(raw)
            if header:
                *outer, name = _parts(header.group(1))
                base = (*self._resolve(outer, arrays), name)
                arrays[base] = arrays.get(base, -1) + 1
                table = (*base, arrays[base])
                self._lines.setdefault(table, number)
                continue
            header = _TABLE_HEADER.match(raw)
            if header:
                table = self._resolve(_parts(header.group(1)), arrays)
                for end in range(1, len(table) + 1):
                    self._lines.setdefault(table[:end], number)
                continue
            key = _KEY.match(raw)
            if key:
                path = (*table, *_parts(key.group(1)))
                for end in range(len(table) + 1, len(path) + 1):
                    self._lines.setdefault(path[:end], number)
                in_string = _opens_multiline_string(raw[key.end():])

    @staticmethod
    def _resolve(parts: list[str], arrays: dict[KeyPath, int]) -> KeyPath:
        """A header's path, with the current index after each array of tables it passes through."""
        path: KeyPath = ()
        for part in parts:
            path = (*path, part)
            if path in arrays:
                path = (*path, arrays[path])
        return path


def _parts(dotted: str) -> list[str]:
    return [part.strip("\"'") for part in re.findall(_PART, dotted)]


def _opens_multiline_string(value: str) -> str | None:
    """The delimiter of a multi-line string that `value` opens and does not close, if any."""
    for delimiter in ('"""', "'''"):
        if value.count(delimiter) % 2 == 1:
            return delimiter
    return None
