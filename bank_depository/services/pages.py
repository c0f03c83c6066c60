"""Gateway pages bound to their confirmation: a one-time token and a cookie per rendered page.

Invariants guarded: a confirmation acts only when it carries the token of the
live page of its request (``pageToken`` in the form) and the cookie that page
set; reopening a pending request issues a fresh pair and the old page dies;
a page expires on the simulated clock; once the request is final, the same
page (its token) can only read back its stored outcome. Only SHA-256 digests are stored.
The row is committed in its own transaction when the page is rendered.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass

from ..clock import iso, parse_instant
from ..domain.errors import BankError
from ..protocol import codes
from ..storage import db
from .context import BankContext

FORM_FIELD = "pageToken"
COOKIE_PREFIX = "wanxin_page_"
TTL_SECONDS = 30 * 60


class PageRefused(BankError):
    """A confirmation that is not bound to the live page of its request: nothing changes (HTTP 403)."""

    def __init__(self, detail: str):
        super().__init__(codes.PAGE_EXPIRED, detail)


@dataclass(frozen=True)
class Issued:
    token: str
    cookie_name: str
    cookie_value: str
    max_age: int = TTL_SECONDS


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cookie_name(platform_no: str, request_no: str) -> str:
    """One cookie per request, so two open pages (tabs) do not overwrite each other."""
    return COOKIE_PREFIX + _digest(f"{platform_no}\n{request_no}")[:16]


def issue(ctx: BankContext, platform_no: str, request_no: str) -> Issued:
    """A fresh token and cookie for the page of a pending request; any older page of it dies."""
    token, cookie = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    now = ctx.clock.now()
    conn = ctx.conn()
    with db.transaction(conn):
        conn.execute(
            "INSERT INTO gateway_pages (platform_no, request_no, token_hash, cookie_hash, issued_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (platform_no, request_no) DO UPDATE SET"
            " token_hash = excluded.token_hash, cookie_hash = excluded.cookie_hash, issued_at = excluded.issued_at,"
            " expires_at = excluded.expires_at, used_at = NULL",
            (platform_no, request_no, _digest(token), _digest(cookie), iso(now),
             iso(now + dt.timedelta(seconds=TTL_SECONDS))))
    return Issued(token, cookie_name(platform_no, request_no), cookie)


def check(conn: sqlite3.Connection, platform_no: str, request_no: str, token: str, cookie: str,
          now: dt.datetime, *, final: bool = False) -> None:
    """Raise :class:`PageRefused` unless ``token`` and ``cookie`` are the live page's.

    ``final``: the request already has its outcome, so its page's token alone may read it back (a form
    posted twice gets the same redirect; the cookie was dropped with the outcome, and nothing can change).
    """
    if not token:
        raise PageRefused(f"the confirmation carries no {FORM_FIELD}: open the page from the platform again")
    if not cookie and not final:
        raise PageRefused("the confirmation carries no page cookie: confirm in the browser that opened the page")
    row = conn.execute("SELECT token_hash, cookie_hash, expires_at, used_at FROM gateway_pages"
                       " WHERE platform_no = ? AND request_no = ?", (platform_no, request_no)).fetchone()
    if row is None or not hmac.compare_digest(row["token_hash"], _digest(token)):
        raise PageRefused(f"the {FORM_FIELD} is not the live page of request {request_no} (another page's, or"
                          " replaced when the request was reopened)")
    if (cookie or not final) and not hmac.compare_digest(row["cookie_hash"], _digest(cookie)):
        raise PageRefused("the page cookie does not belong to this page")
    if row["used_at"] and not final:
        raise PageRefused("this page was already used")
    if not final and parse_instant(row["expires_at"]) < now:
        raise PageRefused(f"the page expired at {row['expires_at']}: open it again from the platform")


def mark_used(conn: sqlite3.Connection, platform_no: str, request_no: str, now: dt.datetime) -> None:
    """The request is final: its page may only read the outcome back (inside the caller's transaction)."""
    conn.execute("UPDATE gateway_pages SET used_at = ? WHERE platform_no = ? AND request_no = ? AND used_at IS NULL",
                 (iso(now), platform_no, request_no))
