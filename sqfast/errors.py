"""Errors a user can cause and fix. The CLI prints them as one line, never a traceback."""


class SqfastError(Exception):
    """A mistake in the user's input: the message names the file, line or field and the fix."""


class StrategyError(SqfastError):
    """A strategy file that cannot be loaded, recorded or run."""

    def __init__(self, path: str, message: str, line: int | None = None, hint: str | None = None):
        self.path, self.line, self.hint = path, line, hint
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}" + (f" ({hint})" if hint else ""))
