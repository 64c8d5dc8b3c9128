"""One engine per run directory: an exclusive `flock` on `run_dir/journal.lock`.

The operating system drops the lock when its process dies, even by SIGKILL, so a held lock means
a live run and a journal that says `running` without a held lock means the last run crashed.
`sqfast status`, `halt` and `resume` never take it; they only probe it.
"""

import fcntl
import os
from pathlib import Path

from .errors import SqfastError

LOCK_FILE = "journal.lock"


class RunLock:
    """The held lock; `release()` (or process exit) frees it."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / LOCK_FILE
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise SqfastError(
                f"{run_dir} is in use by another sqfast process (pid {owner}); stop it first or use "
                f"another run directory"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def is_active(run_dir: Path) -> bool:
    """True while some process holds the run directory's lock (a run is going on)."""
    path = Path(run_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
