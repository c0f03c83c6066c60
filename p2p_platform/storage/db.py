"""The platform's SQLite access: one connection per thread and process, with
foreign keys enforced, and ``write()``, which opens ``BEGIN IMMEDIATE`` and is
how the services commit every state change (``init`` runs the idempotent schema
script, the clock persists its own setting through ``write`` too)."""
from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from importlib import resources
from typing import Any, Iterator, Type, TypeVar

from bank_depository.protocol import private_file

R = TypeVar("R")


class Store:
    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()

    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            private_file.sqlite_database(self.path)  # 0600 before SQLite creates it; -wal/-shm inherit it
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA foreign_keys = ON")
            if self.path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def init(self) -> None:
        self.conn().executescript(
            resources.files("p2p_platform.storage").joinpath("schema.sql").read_text(encoding="utf-8"))

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def one(self, sql: str, args=()) -> sqlite3.Row | None:
        return self.conn().execute(sql, args).fetchone()

    def all(self, sql: str, args=()) -> list[sqlite3.Row]:
        return self.conn().execute(sql, args).fetchall()


def typed(cls: Type[R], row: Any) -> R:
    """A frozen dataclass from one ``sqlite3.Row`` (every column is a field)."""
    return cls(**dict(row))


def typed_or_none(cls: Type[R], row: Any) -> R | None:
    return None if row is None else typed(cls, row)
