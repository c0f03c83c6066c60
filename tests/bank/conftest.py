"""Fixtures shared by the bank tests: two platforms on one bank (see two_platforms.py)."""
from tests.bank.two_platforms import acme_keys, two  # noqa: F401
