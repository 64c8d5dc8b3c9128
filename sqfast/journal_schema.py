"""The journal's SQLite schema, its version, and opening a journal file safely.

Every connection uses WAL (readers never block the engine's writer, and `sqfast halt` can write
while a run is active) with a busy timeout, and enforces foreign keys (a fill always belongs to a
journaled order). A file is recognised as a journal by its `application_id` and its
`schema_version` table; a journal from a newer schema is refused rather than misread.
"""

import sqlite3
from pathlib import Path

from .errors import SqfastError

SCHEMA_VERSION = 1
APPLICATION_ID = 0x73716661  # "sqfa"
JOURNAL_FILE = "journal.sqlite"
BUSY_TIMEOUT_S = 10.0

DDL = """
CREATE TABLE schema_version (
    version INTEGER PRIMARY KEY, applied_ns INTEGER NOT NULL, sqfast_version TEXT NOT NULL);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY, created_ns INTEGER NOT NULL, config_json TEXT NOT NULL,
    config_hash TEXT NOT NULL, sqfast_version TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'stopped', 'crashed')), stopped_ns INTEGER);
CREATE TABLE sessions (
    session_id INTEGER PRIMARY KEY, started_ns INTEGER NOT NULL, ended_ns INTEGER, pid INTEGER NOT NULL,
    sqfast_version TEXT NOT NULL, config_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'stopped', 'crashed')));
CREATE TABLE strategies (
    strategy TEXT PRIMARY KEY, allocation REAL NOT NULL, capital REAL NOT NULL, granularity TEXT,
    n_symbols INTEGER);
CREATE TABLE signals (
    id INTEGER PRIMARY KEY, strategy TEXT NOT NULL, symbol TEXT NOT NULL, bar_ts_ns INTEGER NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('buy', 'sell', 'close')), size REAL, limit_price REAL,
    stop_price REAL, sl REAL, tp REAL, portion REAL, indicators TEXT);
CREATE TABLE orders (
    client_order_id TEXT PRIMARY KEY, strategy TEXT NOT NULL, symbol TEXT NOT NULL,
    bar_ts_ns INTEGER NOT NULL, side TEXT NOT NULL CHECK (side IN ('buy', 'sell')), size REAL NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('market', 'limit', 'stop', 'stop_limit')),
    limit_price REAL, stop_price REAL, sl REAL, tp REAL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'submitted', 'partially_filled', 'filled',
                                         'canceled', 'rejected', 'expired', 'blocked')),
    reason TEXT, broker_order_id TEXT, net_id TEXT, filled_qty REAL NOT NULL DEFAULT 0,
    avg_fill_price REAL, created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL);
CREATE INDEX orders_by_state ON orders (state);
CREATE TABLE fills (
    execution_id TEXT PRIMARY KEY,
    client_order_id TEXT NOT NULL REFERENCES orders (client_order_id),
    strategy TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    qty REAL NOT NULL, price REAL NOT NULL, commission REAL NOT NULL DEFAULT 0, ts_ns INTEGER NOT NULL);
CREATE INDEX fills_by_order ON fills (client_order_id);
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


def connect(path: Path, *, synchronous: str = "FULL", create: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit `BEGIN IMMEDIATE`) with a busy
    timeout and foreign keys on. Without `create` the file must exist: it is never created. WAL is
    set when the journal is created (it is a persistent property of the file), so opening a foreign
    database never changes it."""
    if synchronous not in ("FULL", "NORMAL"):
        raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
    uri = f"{Path(path).resolve().as_uri()}?mode={'rwc' if create else 'rw'}"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_S)
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
