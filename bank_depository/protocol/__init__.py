"""The wire contract of the Wanxin depository, shared by the bank and the platform.

Only the standard library and ``cryptography`` are used here, so that a
platform can import this package without importing the bank.
"""
from . import codes, envelope, money, services, signing  # noqa: F401
