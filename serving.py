"""Serving either app on gunicorn worker processes (not the Flask dev server).

A single-process server is held to one core by the GIL, so both apps run as
gunicorn workers. ``port=0`` binds a free port; ``on_ready`` is told the real
address once the master is listening (before any request is served).
"""
from __future__ import annotations

import errno
import gc
import socket
from typing import Callable, Optional

from gunicorn.app.base import BaseApplication


class BindError(OSError):
    """The address cannot be bound; the message is one line for people."""


def check_bind(host: str, port: int) -> None:
    """Fail before gunicorn starts (and retries noisily) when ``host:port`` cannot be bound."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BindError(f"port {port} is in use; try --port 0") from None
            raise BindError(f"cannot bind {host}:{port}: {exc.strerror or exc}") from None


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
        if "control_socket_disable" in self.cfg.settings:
            # gunicorn >= 25.1 opens a control socket shared by every server of the user
            # (~/.gunicorn/gunicorn.ctl); a second server logs an ERROR for it. Nothing here uses it.
            self.cfg.set("control_socket_disable", True)
        if self._on_ready:
            ready = self._on_ready

            def when_ready(server):
                host, port = server.LISTENERS[0].sock.getsockname()[:2]
                ready(host, port)

            self.cfg.set("when_ready", when_ready)

    def load(self):
        return self._factory()


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
    check_bind(host, port)
    _Gunicorn(factory, options, on_ready).run()
