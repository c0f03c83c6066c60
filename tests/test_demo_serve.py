"""``wanxin demo`` says what to try next; ``wanxin demo --serve`` keeps both apps up until Ctrl-C."""
from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("WANXIN_SIM_TOKEN", "WANXIN_BANK_URL",
                                                             "WANXIN_PLATFORM_URL")}


def test_plain_demo_ends_with_two_lines_saying_what_to_try_next():
    done = subprocess.run([sys.executable, "-m", "cli", "demo"], cwd=ROOT, env=_env(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    last = done.stdout.rstrip("\n").splitlines()[-2:]
    assert "wanxin demo --serve" in last[0] and "wanxin demo --keep DIR" in last[1]


def test_demo_serve_keeps_the_console_up_with_its_credential_until_interrupted():
    proc = subprocess.Popen([sys.executable, "-m", "cli", "demo", "--serve"], cwd=ROOT, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)
    reader.start()
    shown: dict = {}
    deadline = time.monotonic() + 300
    try:
        while "platform" not in shown:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1)).strip()
            for key in ("console", "credential", "platform"):
                if line.startswith(key + ":"):
                    shown[key] = line.split(":", 1)[1].strip()
        http = requests.Session()
        http.trust_env = False
        assert shown["console"].startswith("http://127.0.0.1:") and shown["console"].endswith("/console")
        page = http.get(shown["console"], headers={"Authorization": f"Bearer {shown['credential']}"}, timeout=30)
        assert page.status_code == 200 and "平衡" in page.text  # the demo's ledger, still there
        refused = http.get(shown["console"], allow_redirects=False, timeout=30)
        assert refused.status_code == 302 and "/console/login" in refused.headers["Location"]
        users = http.get(shown["platform"], headers={"Authorization": f"Bearer {shown['credential']}"},
                         timeout=30)  # one credential opens the console and the platform's API
        assert users.status_code == 200 and len(users.json()) >= 2
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        reader.join(timeout=10)
        err = proc.stderr.read() if proc.stderr else ""
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
    rest = "".join(lines.queue)
    assert proc.returncode == 0, err
    assert "stopped" in rest and "PASSED" in rest


def test_demo_serve_does_not_combine_with_json():
    done = subprocess.run([sys.executable, "-m", "cli", "demo", "--serve", "--json"], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "does not combine with --json" in done.stderr
