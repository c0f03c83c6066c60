"""The security tests' figures (cases fuzzed, 500s seen, kills survived, requests checked), printed in
pytest's terminal summary so that they show without ``-s``."""
from __future__ import annotations

import pytest

FIGURES: list[str] = []


@pytest.fixture(scope="session")
def figures() -> list[str]:
    """Lines for the terminal summary (a fixture: test modules may import this file under another name)."""
    return FIGURES


def pytest_terminal_summary(terminalreporter) -> None:
    if FIGURES:
        terminalreporter.section("security figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
