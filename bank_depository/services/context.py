"""What every use case of the bank needs: database, clock, signing key, settings."""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any, Optional

from ..clock import Clock, iso
from ..protocol import envelope, profiles, signing
from ..storage import db as dbmod, repo


@dataclass
class Platform:
    """A registered platform; ``profile`` owns every way its wire differs (stored by ``profile.name``)."""
    platform_no: str
    public_key: signing.PublicKey
    algorithm: str = signing.SHA256
    notify_url: str = ""
    profile: profiles.WireProfile = profiles.MODERN
    name: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.profile, str):  # a name, as the config and the database hold it
            self.profile = profiles.get(self.profile)


@dataclass
class BankContext:
    database: dbmod.Database
    clock: Clock
    private_key: signing.PrivateKey
    platforms: dict[str, Platform] = field(default_factory=dict)
    password_iterations: int = 120_000
    faults: Any = None  # bank_depository.faults.FaultBook, set by create_app
    #: How a full reset puts the clock back: (start instant ISO or None, frozen?) from the configuration.
    clock_start: tuple[Optional[str], bool] = (None, False)
    _platforms_version: Optional[str] = field(default=None, repr=False)

    def conn(self) -> sqlite3.Connection:
        return self.database.conn()

    def now_iso(self) -> str:
        return iso(self.clock.now())

    def platform(self, platform_no: str) -> Optional[Platform]:
        self.refresh_platforms()
        return self.platforms.get(platform_no)

    def refresh_platforms(self) -> dict[str, Platform]:
        """The registered platforms, reloaded when another worker (or a restart) changed them.

        Workers are separate processes: the database is the registry, and a
        counter in ``meta`` (one indexed read) tells when to reload it.
        """
        conn = self.conn()
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (PLATFORMS_VERSION,)).fetchone()
        version = row[0] if row else "0"
        if version != self._platforms_version:
            self.platforms = {r["platform_no"]: platform_from_row(r)
                              for r in conn.execute("SELECT * FROM platforms ORDER BY platform_no")}
            self._platforms_version = version
        return self.platforms

    def sign_body(self, resp_data: dict, algorithm: str) -> str:
        return envelope.response_body(resp_data, self.private_key, algorithm)


def notify_url_problem(url: str) -> Optional[str]:
    """Why ``url`` cannot be a platform's notify URL, or None ('' means: no notifications are sent)."""
    from urllib.parse import urlsplit

    if not url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    return None


PLATFORMS_VERSION = "platforms.version"


def platform_from_row(row: sqlite3.Row) -> Platform:
    profile = profiles.get(row["profile"] or profiles.MODERN.name)
    return Platform(platform_no=row["platform_no"],
                    public_key=signing.load_public_key(row["public_key"], allow_weak=profile.allow_weak_keys),
                    algorithm=row["algorithm"], notify_url=row["notify_url"], profile=profile, name=row["name"])


def register_platform(ctx: BankContext, platform: Platform, public_key_text: str) -> bool:
    """Remember a platform in the database (every worker and a restart see it); True if it changed."""
    conn = ctx.conn()
    values = (platform.platform_no, platform.name, public_key_text, platform.algorithm,
              platform.notify_url, platform.profile.name)
    with dbmod.transaction(conn):
        old = repo.platform(conn, platform.platform_no)
        changed = old is None or tuple(old[k] for k in ("platform_no", "name", "public_key", "algorithm",
                                                        "notify_url", "profile")) != values
        if changed:
            conn.execute(
                "INSERT INTO platforms (platform_no, name, public_key, algorithm, notify_url, profile)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (platform_no) DO UPDATE SET name = excluded.name,"
                " public_key = excluded.public_key, algorithm = excluded.algorithm,"
                " notify_url = excluded.notify_url, profile = excluded.profile", values)
            conn.execute("INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT (key)"
                         " DO UPDATE SET value = CAST(value AS INTEGER) + 1", (PLATFORMS_VERSION,))
    return changed
