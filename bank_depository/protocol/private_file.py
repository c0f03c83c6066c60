"""Files only their owner may read: private keys, tokens, databases (mode 0600).

Created with the mode from the start (``os.open`` with 0600), never written
world-readable and narrowed afterwards. SQLite gives a database's ``-wal`` and
``-shm`` files the mode of the database file, so a database created here
keeps its journal private too. Stdlib only: the CLI, the harness and both apps
share it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")

PathLike = Union[str, "os.PathLike[str]"]


def write(path: PathLike, data: Union[bytes, str]) -> Path:
    """Write ``data`` to ``path`` with mode 0600 (an existing file is narrowed first, then replaced)."""
    path = Path(path)
    if path.exists():
        os.chmod(path, MODE)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, MODE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
    os.chmod(path, MODE)
    return path


def sqlite_database(path: PathLike) -> None:
    """Make a database file private before SQLite opens it: create it 0600 when missing,
    narrow it and its ``-wal``/``-shm`` files when they exist. ``:memory:`` is left alone."""
    text = os.fspath(path)
    if text == ":memory:" or text.startswith("file:"):
        return
    if not os.path.exists(text):
        os.close(os.open(text, os.O_WRONLY | os.O_CREAT, MODE))
    for name in (text, *(text + suffix for suffix in SQLITE_COMPANIONS)):
        try:
            if os.stat(name).st_mode & 0o777 != MODE:
                os.chmod(name, MODE)
        except FileNotFoundError:
            pass
