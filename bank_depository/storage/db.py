"""Connections and transactions for the bank's embedded SQLite database.

Every request's state change runs inside :func:`transaction`, which opens
``BEGIN IMMEDIATE`` so that concurrent writers (threads or worker processes)
serialise on the database lock, and commits or rolls back as one unit.
A few writers outside a request own their transaction: the clock
(``clock.PersistentClock.set`` in ``BEGIN IMMEDIATE``; ``freeze`` and the app's
start-up settings are single autocommitted statements) and the fault rules
(``faults``, ``BEGIN IMMEDIATE``); the check file's read snapshot
(``services.checkfile.snapshot``) is a read-only ``BEGIN`` … ``COMMIT``.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from importlib import resources
from pathlib import Path
from typing import Iterator, Union

from ..protocol import private_file

BUSY_TIMEOUT_MS = 30_000


def connect(path: Union[str, Path]) -> sqlite3.Connection:
    private_file.sqlite_database(path)  # 0600 before SQLite creates it (its -wal/-shm inherit the mode)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                           check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    if str(path) != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
        # WAL + NORMAL is durable against process crashes; only an OS crash can
        # lose the last commits, which a simulator accepts for speed.
        conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The rowid an ``INSERT`` just created (sqlite3 types it Optional; after an INSERT it is set)."""
    rowid = cursor.lastrowid
    if rowid is None:
        raise RuntimeError("the statement inserted no row")
    return rowid


def init_schema(conn: sqlite3.Connection, package: str = "bank_depository.storage") -> None:
    sql = resources.files(package).joinpath("schema.sql").read_text(encoding="utf-8")
    conn.executescript(sql)


def ensure_column(conn: sqlite3.Connection, table: str, column: str, ddl: str) -> None:
    """Add ``column`` to a table of an older database file (``ddl``: its definition after the name)."""
    if column not in {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}")


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


@contextlib.contextmanager
def savepoint(conn: sqlite3.Connection, name: str = "sp") -> Iterator[None]:
    """A nested unit inside a transaction: undone alone when its body raises."""
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield
    except BaseException:
        conn.execute(f"ROLLBACK TO {name}")
        conn.execute(f"RELEASE {name}")
        raise
    else:
        conn.execute(f"RELEASE {name}")


class Database:
    """Hands out one connection per thread (and process) for a database file.

    Connections of threads that have ended are closed when the next one is
    opened, so a thread-per-request server does not accumulate open files.
    """

    def __init__(self, path: Union[str, Path]):
        self.path = str(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._by_thread: dict[int, sqlite3.Connection] = {}

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        # A connection must never cross a fork (gunicorn workers): reopen per process.
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = connect(self.path)
            self._local.conn = conn
            self._local.pid = os.getpid()
            with self._lock:
                if getattr(self, "_pid", None) != os.getpid():
                    self._by_thread, self._pid = {}, os.getpid()
                alive = {t.ident for t in threading.enumerate()}
                for ident in [i for i in self._by_thread if i not in alive]:
                    _close(self._by_thread.pop(ident))
                self._by_thread[threading.get_ident()] = conn
        return conn

    def open_connections(self) -> int:
        with self._lock:
            return len(self._by_thread)

    def close(self) -> None:
        with self._lock:
            for conn in self._by_thread.values():
                _close(conn)
            self._by_thread.clear()
        self._local = threading.local()


def _close(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error:
        pass
