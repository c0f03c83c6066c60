"""Serving either app on gunicorn worker processes (not the Flask dev server).

A single-process server is held to one core by the GIL, so both apps run as
gunicorn workers. ``port=0`` binds a free port; ``on_ready`` is told the real
address once the master is listening (before any request is served).

Stalled clients: gunicorn's threaded worker parks a connection that sends
nothing, but one that sends half a request holds a worker thread for as long
as it likes. Our worker (:func:`timed_worker`) gives every request a deadline
of ``read_timeout`` seconds to arrive whole (headers and body); a client that
misses it is disconnected, so a few stalled sockets delay honest requests by
at most that long, never indefinitely.
"""
from __future__ import annotations

import errno
import gc
import socket
import time
from typing import Callable, Optional

from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import TConn, ThreadWorker

#: Seconds a request has to arrive whole (headers and body) before the client is cut off.
DEFAULT_READ_TIMEOUT = 5.0


class _DeadlineSocket(socket.socket):
    """A client socket whose reads share one deadline per request; a miss reads as a reset."""

    read_timeout = DEFAULT_READ_TIMEOUT
    deadline = 0.0
    accepted = False  # the first request's deadline runs from accept, so queued stalled clients expire together

    def start_request(self) -> None:
        if self.accepted:
            self.accepted = False
        else:
            self.deadline = time.monotonic() + self.read_timeout
        self.settimeout(self.read_timeout)

    def recv(self, size: int, flags: int = 0) -> bytes:
        # Past the deadline only what has already arrived is read (a request queued behind stalled
        # clients is whole in the kernel's buffer and still served); waiting for more is over.
        self.settimeout(max(self.deadline - time.monotonic(), 0.0))
        try:
            return super().recv(size, flags)
        except (TimeoutError, BlockingIOError):
            raise ConnectionResetError(errno.ECONNRESET, "the request did not arrive in time") from None

    def sendall(self, data, flags: int = 0) -> None:
        self.settimeout(self.read_timeout)  # a client that stops reading is cut off as well
        super().sendall(data, flags)


class _TimedConn(TConn):
    def init(self):
        super().init()  # sets the socket blocking; the deadline then bounds every read of this request
        self.sock.start_request()


def timed_worker(read_timeout: float) -> type:
    """A gthread worker class whose requests must arrive within ``read_timeout`` seconds."""

    class TimedThreadWorker(ThreadWorker):
        def accept(self, listener):
            try:
                client, addr = listener.accept()
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                    raise
                return
            self.nr_conns += 1
            sock = _DeadlineSocket(client.family, client.type, client.proto, fileno=client.detach())
            sock.read_timeout, sock.accepted = read_timeout, True
            sock.deadline = time.monotonic() + read_timeout
            sock.setblocking(True)
            self.enqueue_req(_TimedConn(self.cfg, sock, addr, listener.getsockname()))

    return TimedThreadWorker


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
          on_ready: Optional[Callable[[str, int], None]] = None, log_level: str = "warning",
          read_timeout: float = DEFAULT_READ_TIMEOUT) -> None:
    """Run until interrupted; each worker builds its own app (own DB connections)."""
    options = {"bind": f"{host}:{port}", "workers": workers, "threads": threads,
               "worker_class": timed_worker(read_timeout),
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
