"""Checking one configuration value at a time, with an error that says where it came from.

`Where` is the origin of a setting (a file and line with its key, a command-line flag, or the
embedded default); the `as_*` functions check a value's type and range and raise a ConfigError
naming that origin, what was wrong and the fix. `read_config_text` reads a configuration file
with the same kind of errors.
"""

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from .compile.loader import did_you_mean
from .errors import ConfigError

COMMAND_LINE = "command line"
DEFAULT = "default"
_SECRET_WORDS = ("key", "secret", "token", "password", "passphrase")


@dataclass(frozen=True)
class Where:
    """Where a setting came from: `path` (a file as the user named it, "command line" or
    "default"), the line in that file if known, and the key or flag."""

    path: str
    line: int | None
    key: str

    @property
    def from_default(self) -> bool:
        return self.path == DEFAULT

    @property
    def from_command_line(self) -> bool:
        return self.path == COMMAND_LINE

    def describe(self) -> str:
        """A short origin for messages about another setting: `portfolio.toml:3`, `--mode`."""
        if self.from_default:
            return "the default"
        if self.from_command_line:
            return self.key
        return f"{self.path}:{self.line}" if self.line else self.path

    def example(self, literal: str) -> str:
        """How to write this setting with the value `literal` (TOML syntax): `allocation = 0.4`
        in a file, `--lookback 50` on the command line."""
        if self.from_command_line:
            value = literal.strip('"')
            return f"{self.key} {value}"
        return f"{self.key.rsplit('.', 1)[-1]} = {literal}"

    def error(self, message: str, hint: str | None = None) -> ConfigError:
        """A ConfigError about this setting."""
        path = None if self.from_default else self.path
        return ConfigError(message, path=path, line=self.line, key=self.key, hint=hint)


def show(value: object) -> str:
    """A value as it would be written in TOML, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return str(value)


def kind(value: object) -> str:
    """A value's TOML type, for messages."""
    for cls, name in ((bool, "true/false"), (str, "a string"), (int, "an integer"), (float, "a number"),
                      (dict, "a table"), (list, "an array"), (datetime, "a date-time"),
                      (date, "a date"), (time, "a time")):
        if isinstance(value, cls):
            return name
    return type(value).__name__


def _wrong_type(value: object, where: Where, expected: str, example: str) -> ConfigError:
    hint = f"write {where.example(example)}"
    if isinstance(value, str) and _looks_numeric(value) and "number" in expected:
        hint = f"write the number without quotes: {where.example(value.strip())}"
    shown = "" if isinstance(value, dict | list) else f" {show(value)}"
    return where.error(f"expected {expected}, got {kind(value)}{shown}", hint)


def _looks_numeric(text: str) -> bool:
    return re.fullmatch(r"\s*[-+]?[\d_]*\.?\d+(e[-+]?\d+)?\s*", text, re.IGNORECASE) is not None


def as_str(value: object, where: Where, example: str) -> str:
    """`value` if it is a string; `example` (like every `example` here) is a TOML literal of a
    good value, shown in the fix."""
    if not isinstance(value, str):
        raise _wrong_type(value, where, "a string", example)
    return value


def as_choice(value: object, where: Where, choices: Iterable[str], what: str) -> str:
    """`value` if it is one of `choices` (a "did you mean" otherwise)."""
    options = list(choices)
    text = as_str(value, where, show(options[0]))
    if text not in options:
        hint = did_you_mean(text, options)
        if text.strip().lower() in options:
            hint = f"write {where.example(show(text.strip().lower()))}"
        raise where.error(f"unknown {what} {show(text)}", hint)
    return text


def as_number(value: object, where: Where, example: str, *, positive: bool = True) -> float:
    """`value` as a float if it is an integer or float (not a bool), and > 0 if `positive`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong_type(value, where, "a number", example)
    if value != value or value in (float("inf"), float("-inf")):
        raise where.error(f"expected a finite number, got {value}", f"write {where.example(example)}")
    if positive and value <= 0:
        raise where.error(f"must be greater than 0, got {show(value)}", f"write {where.example(example)}")
    return float(value)


def as_int(value: object, where: Where, example: str, *, minimum: int = 1) -> int:
    """`value` if it is a whole number >= `minimum` (a bool is not a number)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong_type(value, where, "a whole number", example)
    if value < minimum:
        raise where.error(f"must be at least {minimum}, got {value}", f"write {where.example(example)}")
    return value


def as_bool(value: object, where: Where, example: str) -> bool:
    """`value` if it is true or false."""
    if not isinstance(value, bool):
        raise _wrong_type(value, where, "true or false", example)
    return value


def as_table(value: object, where: Where, example: str) -> dict:
    """`value` if it is a TOML table."""
    if not isinstance(value, dict):
        raise _wrong_type(value, where, "a table", example)
    return value


def as_utc_datetime(value: object, where: Where, example: str) -> datetime:
    """A timezone-aware TOML date-time (converted to UTC), or a date (its midnight UTC)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise where.error("a date-time needs a UTC offset", f"write {where.example(example)} (Z = UTC)")
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise _wrong_type(value, where, "a TOML date or date-time (without quotes)", example)


def as_url(value: object, where: Where, example: str) -> str:
    """`value` if it is an http(s) or ws(s) URL."""
    text = as_str(value, where, example)
    if not re.match(r"(https?|wss?)://[^\s/]+", text):
        raise where.error(f"expected an http(s):// or ws(s):// URL, got {show(text)}",
                          f"write {where.example(example)}")
    return text


def read_config_text(path: Path, shown: str, what: str, missing_hint: str) -> str:
    """The UTF-8 text of the `what` file at `path` (named `shown` in errors); a byte-order mark is
    dropped."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{what} file not found: {path}", path=shown, hint=missing_hint) from None
    except IsADirectoryError:
        raise ConfigError(f"{what} file {path} is a directory", path=shown,
                          hint=f"name the {what} file itself") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text ({err.reason} at byte {err.start})", path=shown,
                          hint="save the file as UTF-8") from None
    except OSError as err:
        raise ConfigError(f"cannot read the {what} file {path}: {err.strerror}", path=shown) from None


def looks_secret(key: str) -> bool:
    """Whether a key name looks like it holds a credential (those never belong in a config file)."""
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def check_keys(table: dict, allowed: Sequence[str], where_of, secret_hint: str | None = None) -> None:
    """Refuse the first key of `table` not in `allowed`, with a "did you mean" (or, for a key that
    looks like a credential, where credentials go). `where_of(key)` gives the key's Where."""
    for key in table:
        if key in allowed:
            continue
        where = where_of(key)
        if looks_secret(key):
            raise where.error("credentials are never read from the portfolio file", secret_hint
                              or "set them in the environment or a .env file")
        raise where.error("unknown key", did_you_mean(key, list(allowed)))
