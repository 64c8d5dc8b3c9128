"""Bad run directories give one clear line, and a file that is not ours is never changed."""

import sqlite3

import pytest

from sqfast.errors import SqfastError
from sqfast.journal import Journal
from sqfast.run_status import halt, resume, status

READERS = {
    "status": status,
    "halt": lambda d: halt(d, "x"),
    "resume": resume,
    "open": lambda d: Journal.open(d, create=False),
}


def missing(tmp_path):
    return tmp_path / "nowhere"


def a_file(tmp_path):
    (tmp_path / "file.txt").write_text("hello")
    return tmp_path / "file.txt"


def empty_dir(tmp_path):
    (tmp_path / "run").mkdir()
    return tmp_path / "run"


def garbage_journal(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "journal.sqlite").write_bytes(b"this is not a database, it is a text file " * 50)
    return tmp_path / "run"


def foreign_sqlite(tmp_path):
    (tmp_path / "run").mkdir()
    conn = sqlite3.connect(tmp_path / "run" / "journal.sqlite")
    conn.execute("CREATE TABLE trades (id INTEGER)")
    conn.commit()
    conn.close()
    return tmp_path / "run"


def newer_schema(tmp_path):
    Journal.open(tmp_path / "run", create=True).close()
    conn = sqlite3.connect(tmp_path / "run" / "journal.sqlite")
    conn.execute("INSERT INTO schema_version VALUES (99, 0, '9.0.0')")
    conn.commit()
    conn.close()
    return tmp_path / "run"


CASES = {
    "missing": (missing, "run directory .*nowhere does not exist"),
    "file": (a_file, "is not a directory"),
    "empty": (empty_dir, "is not a sqfast run directory \\(no journal.sqlite\\)"),
    "garbage": (garbage_journal, "is not a sqfast journal \\(file is not a database\\)"),
    "foreign": (foreign_sqlite, "is not a sqfast journal \\(it is some other SQLite database\\)"),
    "newer": (newer_schema, r"written by a newer sqfast \(journal schema 99; this sqfast reads up to 1\)"),
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("case", CASES)
def test_bad_run_directories_give_one_clear_line(tmp_path, reader, case):
    make, message = CASES[case]
    run_dir = make(tmp_path)
    with pytest.raises(SqfastError, match=message) as error:
        READERS[reader](run_dir)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("case", ["garbage", "foreign", "newer"])
def test_creating_over_a_file_that_is_not_ours_refuses_and_leaves_it_alone(tmp_path, case):
    make, message = CASES[case]
    run_dir = make(tmp_path)
    before = (run_dir / "journal.sqlite").read_bytes()
    with pytest.raises(SqfastError, match=message):
        Journal.open(run_dir, create=True, config={"capital": 1})
    assert (run_dir / "journal.sqlite").read_bytes() == before


def test_a_foreign_database_is_not_switched_to_wal(tmp_path):
    run_dir = foreign_sqlite(tmp_path)
    with pytest.raises(SqfastError):
        status(run_dir)
    conn = sqlite3.connect(run_dir / "journal.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()
