"""Errors a user can cause and fix. The CLI prints them as one line, never a traceback."""


class SqfastError(Exception):
    """A mistake in the user's input: the message names the file, line or field and the fix."""


class StrategyError(SqfastError):
    """A strategy file that cannot be loaded, recorded or run."""

    def __init__(self, path: str, message: str, line: int | None = None, hint: str | None = None):
        self.path, self.line, self.hint = path, line, hint
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}" + (f" ({hint})" if hint else ""))


class ConfigError(SqfastError):
    """A mistake in the run configuration: the portfolio file, the universe file or a flag.

    The message is one line: where (file and line, or "command line"), the key or flag, what is
    wrong, and in parentheses how to fix it.
    """

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 key: str | None = None, hint: str | None = None):
        self.path, self.line, self.key, self.hint = path, line, key, hint
        where = f"{path}:{line}" if path and line else path
        text = ": ".join(part for part in (where, key, message) if part)
        super().__init__(text + (f" ({hint})" if hint else ""))
