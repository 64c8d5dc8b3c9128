"""A stand-in engine for the background SIGKILL test: bulk rows through a background journal.

`python -m tests.journal.bulk_writer RUN_DIR N WIDTH` writes intervals 0..N-1 of
tests/journal/intervals.py (WIDTH symbols) with `background=True` and `synchronous=NORMAL`,
resuming after the journal's progress. It prints `ready START`, then `handed I` once interval I
is handed to the writer; it never flushes before `close`, as a run with no outside state.
"""

import sys
from pathlib import Path

from sqfast.journal import Journal
from tests.journal.conftest import CONFIG
from tests.journal.intervals import STEP, T0, ts, write_bulk


def done(journal) -> int:
    """Whole intervals in the journal (its progress)."""
    progress = journal.progress()
    return 0 if not progress else (progress["s1"] - T0) // STEP + 1


def run(run_dir: Path, n: int, width: int) -> None:
    journal = Journal.open(run_dir, create=True, config=CONFIG, synchronous="NORMAL", background=True)
    start = done(journal)
    print("ready", start, flush=True)
    for i in range(start, n):
        with journal.interval(now_ns=ts(i) + 7) as tx:
            write_bulk(tx, i, width)
        print("handed", i, flush=True)
    journal.close()


if __name__ == "__main__":
    run(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
