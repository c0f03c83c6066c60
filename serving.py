"""Serving either app on gunicorn worker processes (not the Flask dev server).

A single-process server is held to one core by the GIL, so both apps run as
gunicorn workers. ``port=0`` binds a free port; ``on_ready`` is told the real
address once the master is listening (before any request is served).
"""
from __future__ import annotations

import gc
from typing import Callable, Optional

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):
    def __init__(self, factory: Callable[[], object], options: dict,
                 on_ready: Optional[Callable[[str, int], None]] = None):
        self._factory = factory
        self._options = options
        self._on_ready = on_ready
        super().__init__()

    def load_config(self):
        for key, value in self._options.items():
            self.cfg.set(key, value)
        if self._on_ready:
            ready = self._on_ready

            def when_ready(server):
                host, port = server.LISTENERS[0].sock.getsockname()[:2]
                ready(host, port)

            self.cfg.set("when_ready", when_ready)

    def load(self):
        return self._factory()


def warn_if_exposed(host: str, what: str) -> bool:
    """A loud WARNING on stderr when ``host`` is not a loopback address; whether it warned."""
    import ipaddress
    import sys

    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return False
    bar = "!" * 78
    print(f"{bar}\nWARNING: the {what} listens on {host}, beyond this machine's loopback.\n"
          f"It is a sandbox: it holds personal data (names, ID numbers, card numbers) and an operator\n"
          f"credential, and it was not built to face a network. Bind 127.0.0.1 unless you mean it.\n{bar}",
          file=sys.stderr, flush=True)
    return True


def serve(factory: Callable[[], object], *, host: str, port: int, workers: int = 2, threads: int = 4,
          on_ready: Optional[Callable[[str, int], None]] = None, log_level: str = "warning") -> None:
    """Run until interrupted; each worker builds its own app (own DB connections)."""
    options = {"bind": f"{host}:{port}", "workers": workers, "threads": threads, "worker_class": "gthread",
               "loglevel": log_level, "accesslog": None, "timeout": 120, "graceful_timeout": 5,
               "keepalive": 5}
    # No SQLite connection may cross the fork into the workers: SQLite's per-process lock
    # bookkeeping would be inherited without the locks, and closing the inherited handle in a
    # worker (when the garbage collector finds it) drops that worker's own POSIX locks. Both
    # corrupt the database. Apps built before serving (a fail-fast check) are unreferenced
    # garbage by now, but may sit in reference cycles: collect them while still in one process.
    gc.collect()
    _Gunicorn(factory, options, on_ready).run()
