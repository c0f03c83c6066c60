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

    def conn(self) -> sqlite3.Connection:
        return self.database.conn()

    def now_iso(self) -> str:
        return iso(self.clock.now())

    def platform(self, platform_no: str) -> Optional[Platform]:
        return self.platforms.get(platform_no)

    def sign_body(self, resp_data: dict, algorithm: str) -> str:
        return envelope.response_body(resp_data, self.private_key, algorithm)


def register_platform(ctx: BankContext, platform: Platform, public_key_text: str) -> None:
    """Remember a platform in memory and in the database (for inspection and restarts)."""
    ctx.platforms[platform.platform_no] = platform
    conn = ctx.conn()
    with dbmod.transaction(conn):
        conn.execute(
            "INSERT INTO platforms (platform_no, name, public_key, algorithm, notify_url, profile)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (platform_no) DO UPDATE SET name = excluded.name,"
            " public_key = excluded.public_key, algorithm = excluded.algorithm,"
            " notify_url = excluded.notify_url, profile = excluded.profile",
            (platform.platform_no, platform.name, public_key_text, platform.algorithm,
             platform.notify_url, platform.profile.name))
    assert repo.platform(conn, platform.platform_no) is not None
