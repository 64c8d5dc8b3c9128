"""The journal's SQLite schema, its version, and opening a journal file safely.

Every connection uses WAL (readers never block the engine's writer, and `sqfast halt` can write
while a run is active) with a busy timeout, and enforces foreign keys (a fill always belongs to a
journaled order). A file is recognised as a journal by its `application_id` and its
`schema_version` table; a journal from a newer schema is refused rather than misread.

Write cost: a CHECK of the form `x IN ('a', 'b')` builds a temporary table for every row it
checks (several microseconds each), so the allowed values are spelled `x = 'a' OR x = 'b'`, which
accepts and refuses exactly the same values. There is no index on `orders.state` or
`fills.client_order_id`: nothing looks rows up by them (`sqfast status` counts orders by state
with a scan either way), and every order state change would move an index entry. Journals made
before these changes keep their constraints and indexes; the data is the same (schema 1).
"""

import sqlite3
from pathlib import Path

from .errors import SqfastError
from .journal_rows import ORDER_STATES, ORDER_TYPES, RUN_STATUSES, SIDES, SIGNAL_ACTIONS

SCHEMA_VERSION = 1
APPLICATION_ID = 0x73716661  # "sqfa"
JOURNAL_FILE = "journal.sqlite"
BUSY_TIMEOUT_S = 10.0
CACHE_KIB = 8 * 1024  # page cache of a writing connection (hot index pages; more costs RSS for little speed)
WAL_AUTOCHECKPOINT_PAGES = 8192  # about 32 MiB of WAL between checkpoints (SQLite's default is 1,000)


def one_of(column: str, allowed: tuple[str, ...]) -> str:
    """A CHECK constraint allowing `allowed` (see the module docstring for why not IN)."""
    return "CHECK (" + " OR ".join(f"{column} = '{value}'" for value in allowed) + ")"


DDL = f"""
CREATE TABLE schema_version (
    version INTEGER PRIMARY KEY, applied_ns INTEGER NOT NULL, sqfast_version TEXT NOT NULL);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, created_ns INTEGER NOT NULL, config_json TEXT NOT NULL,
    config_hash TEXT NOT NULL, sqfast_version TEXT NOT NULL,
    status TEXT NOT NULL {one_of('status', RUN_STATUSES)}, stopped_ns INTEGER);
CREATE TABLE sessions (
    session_id INTEGER PRIMARY KEY, started_ns INTEGER NOT NULL, ended_ns INTEGER, pid INTEGER NOT NULL,
    sqfast_version TEXT NOT NULL, config_hash TEXT NOT NULL,
    status TEXT NOT NULL {one_of('status', RUN_STATUSES)});
CREATE TABLE strategies (
    strategy TEXT PRIMARY KEY, allocation REAL NOT NULL, capital REAL NOT NULL, granularity TEXT,
    n_symbols INTEGER);
CREATE TABLE signals (
    id INTEGER PRIMARY KEY, strategy TEXT NOT NULL, symbol TEXT NOT NULL, bar_ts_ns INTEGER NOT NULL,
    action TEXT NOT NULL {one_of('action', SIGNAL_ACTIONS)}, size REAL, limit_price REAL,
    stop_price REAL, sl REAL, tp REAL, portion REAL, indicators TEXT);
CREATE TABLE orders (
    client_order_id TEXT PRIMARY KEY, strategy TEXT NOT NULL, symbol TEXT NOT NULL,
    bar_ts_ns INTEGER NOT NULL, side TEXT NOT NULL {one_of('side', SIDES)}, size REAL NOT NULL,
    type TEXT NOT NULL {one_of('type', ORDER_TYPES)},
    limit_price REAL, stop_price REAL, sl REAL, tp REAL,
    state TEXT NOT NULL {one_of('state', ORDER_STATES)},
    reason TEXT, broker_order_id TEXT, net_id TEXT, filled_qty REAL NOT NULL DEFAULT 0,
    avg_fill_price REAL, created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL);
CREATE TABLE fills (
    execution_id TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL REFERENCES orders (client_order_id),
    strategy TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL {one_of('side', SIDES)},
    qty REAL NOT NULL, price REAL NOT NULL, commission REAL NOT NULL DEFAULT 0, ts_ns INTEGER NOT NULL);
CREATE TABLE positions (
    strategy TEXT NOT NULL, symbol TEXT NOT NULL, size REAL NOT NULL, avg_entry_price REAL,
    realized_pnl REAL NOT NULL DEFAULT 0, updated_ts_ns INTEGER NOT NULL,
    PRIMARY KEY (strategy, symbol)) WITHOUT ROWID;
CREATE TABLE trades (
    id INTEGER PRIMARY KEY, strategy TEXT NOT NULL, symbol TEXT NOT NULL, size REAL NOT NULL,
    entry_bar_ts_ns INTEGER NOT NULL, exit_bar_ts_ns INTEGER NOT NULL, entry_price REAL NOT NULL,
    exit_price REAL NOT NULL, pnl REAL NOT NULL, commission REAL NOT NULL DEFAULT 0);
CREATE TABLE equity (
    strategy TEXT NOT NULL, ts_ns INTEGER NOT NULL, equity REAL NOT NULL, cash REAL NOT NULL,
    PRIMARY KEY (strategy, ts_ns)) WITHOUT ROWID;
CREATE TABLE risk_state (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_ns INTEGER NOT NULL);
CREATE TABLE feed_state (
    source TEXT PRIMARY KEY, received INTEGER NOT NULL, accepted INTEGER NOT NULL,
    duplicate INTEGER NOT NULL, late INTEGER NOT NULL, out_of_order INTEGER NOT NULL,
    invalid INTEGER NOT NULL, last_bar_ts_ns INTEGER, last_bar_wall_ns INTEGER,
    updated_ns INTEGER NOT NULL);
CREATE TABLE progress (strategy TEXT PRIMARY KEY, ts_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL);
"""


def journal_path(run_dir: Path) -> Path:
    return Path(run_dir) / JOURNAL_FILE


def check_run_dir(run_dir: Path) -> Path:
    """The journal file of an existing run directory, or a one-line error saying what is wrong."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise SqfastError(f"run directory {run_dir} does not exist")
    if not run_dir.is_dir():
        raise SqfastError(f"{run_dir} is not a directory (expected a sqfast run directory)")
    path = journal_path(run_dir)
    if not path.is_file():
        raise SqfastError(f"{run_dir} is not a sqfast run directory (no {JOURNAL_FILE})")
    return path


def connect(path: Path, *, synchronous: str = "FULL", create: bool = False,
            other_thread: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit `BEGIN IMMEDIATE`) with a busy
    timeout and foreign keys on. Without `create` the file must exist: it is never created. WAL is
    set when the journal is created (it is a persistent property of the file), so opening a foreign
    database never changes it. `other_thread`: the connection is handed to another thread (which
    then uses it alone)."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
    uri = f"{Path(path).resolve().as_uri()}?mode={'rwc' if create else 'rw'}"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_S,
                               check_same_thread=not other_thread)
    except sqlite3.Error as error:
        raise SqfastError(f"cannot open journal {path}: {error}") from None
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as error:
        conn.close()
        if isinstance(error, sqlite3.OperationalError):
            raise SqfastError(f"cannot open journal {path}: {error}") from None
        raise SqfastError(f"{path} is not a sqfast journal ({error})") from None
    return conn


def tune_for_writing(conn: sqlite3.Connection) -> None:
    """Settings of the connection that writes intervals: a page cache that holds the hot index
    pages, and fewer, larger checkpoints (a page changed by many intervals is copied back once)."""
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")


def open_existing(path: Path, *, synchronous: str = "FULL") -> tuple[sqlite3.Connection, int]:
    """A connection to an existing journal and its schema version; one-line errors otherwise."""
    conn = connect(path, synchronous=synchronous)
    try:
        return conn, check_schema(conn, path)
    except sqlite3.DatabaseError as error:
        conn.close()
        raise SqfastError(f"{path} is not a sqfast journal ({error})") from None
    except SqfastError:
        conn.close()
        raise


def is_empty(conn: sqlite3.Connection) -> bool:
    """True for a database with no tables: new, or left so by a crash during its creation."""
    return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def create_schema(conn: sqlite3.Connection, now_ns: int, sqfast_version: str) -> None:
    """Switch the new file to WAL and create every table, in a transaction the caller commits
    (after adding the run's first rows, so a crash leaves either no journal or a whole one)."""
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN IMMEDIATE")
    for statement in DDL.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("INSERT INTO schema_version VALUES (?, ?, ?)", (SCHEMA_VERSION, now_ns, sqfast_version))


def check_schema(conn: sqlite3.Connection, path: Path) -> int:
    """The journal's schema version, or a one-line error for a foreign or newer file."""
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    has_version = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()[0]
    if application_id != APPLICATION_ID or not has_version:
        raise SqfastError(f"{path} is not a sqfast journal (it is some other SQLite database)")
    version = conn.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    if version is None or version > SCHEMA_VERSION:
        raise SqfastError(
            f"{path} was written by a newer sqfast (journal schema {version}; this sqfast reads up to "
            f"{SCHEMA_VERSION}): upgrade sqfast to open this run"
        )
    return version
