"""The operator credential: what every caller of the simulator's control surfaces presents.

The signed protocol (``/service``, ``/gateway``, ``/checkfile``) is the only
thing a platform may do without it. Everything else that acts or discloses
personal data (``/sim/*`` and the operator pages) needs the token, sent as
``Authorization: Bearer <token>``. Tools on the same machine find it without
extra typing: an explicit value, then ``WANXIN_SIM_TOKEN``, then the file
written beside the bank's database (``<db>.sim-token``, mode 0600).

Stdlib only, so the platform, the CLI and the scenario runner can share it.
"""
from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

HEADER_NAME = "Authorization"
SCHEME = "Bearer"
ENV_VAR = "WANXIN_SIM_TOKEN"
FILE_SUFFIX = ".sim-token"


def header(token: str | None) -> dict[str, str]:
    """The request header that carries ``token`` (empty when there is none)."""
    return {HEADER_NAME: f"{SCHEME} {token}"} if token else {}


def token_file(db_path: str | os.PathLike[str]) -> Path:
    """Where a bank serving ``db_path`` keeps its generated token."""
    return Path(f"{os.fspath(db_path)}{FILE_SUFFIX}")


def presented(value: str | None) -> str:
    """The token inside an ``Authorization`` header value ('' when absent or malformed)."""
    if not value:
        return ""
    scheme, _, token = value.strip().partition(" ")
    return token.strip() if scheme.lower() == SCHEME.lower() else ""


def matches(expected: str, value: str | None) -> bool:
    """Whether the header value carries the expected token (constant-time)."""
    token = presented(value)
    return bool(expected) and bool(token) and hmac.compare_digest(token.encode(), expected.encode())


def read_file(db_path: str | os.PathLike[str]) -> str | None:
    path = token_file(db_path)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def resolve(explicit: str | None = None, db: str | os.PathLike[str] | None = None,
            env: Mapping[str, str] | None = None) -> str | None:
    """The token a tool should present: ``explicit``, then the environment, then the file beside ``db``."""
    if explicit:
        return explicit
    value = (os.environ if env is None else env).get(ENV_VAR, "").strip()
    if value:
        return value
    return read_file(db) if db is not None else None


def ensure_file(db_path: str | os.PathLike[str]) -> str:
    """The token stored beside ``db_path``, generated (mode 0600) when there is none yet."""
    existing = read_file(db_path)
    if existing:
        return existing
    token = secrets.token_urlsafe(24)
    path = token_file(db_path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    os.chmod(path, 0o600)
    return token
