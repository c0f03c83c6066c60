"""The in-process sandbox: both apps on loopback, serving many requests without leaking."""
from __future__ import annotations

import os

import pytest
import requests

from bank_depository.client import SimClient
from scenarios.harness import Sandbox


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts file descriptors in /proc")
def test_a_sandbox_serves_many_requests_without_leaking_file_descriptors(tmp_path):
    # Werkzeug closes every connection: the servers must not hold a thread's
    # resources (its SQLite connections) per request served.
    with Sandbox(tmp_path) as sb:
        http = requests.Session()
        bank = SimClient(sb.bank_url, sb.sim_token, http, timeout=10)
        platform = SimClient(sb.platform_url, sb.sim_token, http)
        bank.raw("GET", "/sim/clock")
        before = open_fds()
        for _ in range(200):
            assert bank.raw("GET", "/sim/accounts").status_code == 200
            assert platform.raw("GET", "/sim/clock", timeout=10).status_code == 200
        assert open_fds() - before < 80  # bounded by the pools, not by the 400 requests
