"""A real served bank for the security tests: ``python -m cli bank serve --port 0`` in its own
process group, with keys from the CLI and accounts prepared in-process on the same file.

Every wait is bounded; stopping ends only the process group this helper started.
"""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Optional

from bank_depository.protocol import signing

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 60


def wanxin(*args: str) -> list[str]:
    """The ``wanxin`` command, run by this interpreter from this checkout."""
    return [sys.executable, "-m", "cli", *args]


def generate_keys(keys_dir: Path) -> dict:
    subprocess.run(wanxin("keys", "generate", "--dir", str(keys_dir)), cwd=ROOT, check=True,
                   capture_output=True, timeout=60)
    return {
        "bank_private": (keys_dir / "bank_private.pem").read_bytes(),
        "platform_public": (keys_dir / "platform_public.pem").read_bytes(),
        "bank_public_key": signing.load_public_key(keys_dir / "bank_public.pem"),
        "platform_private_key": signing.load_private_key(keys_dir / "platform_private.pem"),
    }


def _pump(stream, lines: "queue.Queue[str]") -> None:
    for line in iter(stream.readline, ""):
        lines.put(line)


class ServedBank:
    """One ``wanxin bank serve`` process group on a database file; start, kill -9, start again."""

    def __init__(self, db_path: str, keys_dir: Path, sim_token: str, log_path: Path, *extra: str):
        self.db_path, self.keys_dir, self.sim_token = db_path, keys_dir, sim_token
        self.log_path, self.extra = log_path, extra
        self.proc: Optional[subprocess.Popen] = None
        self.url = ""

    def start(self) -> str:
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            wanxin("bank", "serve", "--db", self.db_path, "--keys", str(self.keys_dir), "--host", "127.0.0.1",
                   "--port", "0", "--password-iterations", "1000", "--sim-token", self.sim_token, *self.extra),
            cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        log.close()
        lines: "queue.Queue[str]" = queue.Queue()
        self.pump = threading.Thread(target=_pump, args=(self.proc.stdout, lines), daemon=True)
        self.pump.start()
        while True:
            try:
                line = lines.get(timeout=STARTUP_SECONDS)  # bounded
            except queue.Empty:
                self.kill()
                raise AssertionError(f"the bank did not start: {self.log_path.read_text()[-2000:]}") from None
            found = re.search(r"bank listening on (http://127\.0\.0\.1:\d+)", line)
            if found:
                self.url = found.group(1)
                return self.url

    def kill(self) -> None:
        """``kill -9`` of the whole group this helper started (master and workers), by its id."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=20)
        self._release()

    def _release(self) -> None:
        """Close our end of the server's stdout once its reader has seen the end (bounded)."""
        assert self.proc is not None
        self.pump.join(20)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # any worker left behind in our own group
        except ProcessLookupError:
            pass
        self._release()
