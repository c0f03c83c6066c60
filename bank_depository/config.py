"""The bank's Flask config, built in one place for the CLI, the scenario harness and the tests.

``bank_config(database, keys_dir=..., platforms=[...], **settings)`` reads the bank's private
key and each platform's public key from a keys directory (or takes the key texts), and adds
any other settings by their config names (``PASSWORD_ITERATIONS=1000``, ``CLOCK_FROZEN=True``,
...), which win over what the builder sets.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

from .protocol import keyfiles

PathLike = Union[str, Path]


def bank_config(database: PathLike, *, keys_dir: Optional[PathLike] = None, private_key: Optional[str] = None,
                platforms: Iterable[Mapping[str, Any]] = (), **settings: Any) -> dict[str, Any]:
    """A config for :func:`bank_depository.app.create_app`.

    Each platform is ``{platform_no, public_key?, notify_url?, profile?, algorithm?, name?}``; without
    ``public_key`` it is read from ``keys_dir/platform_public.pem``. Without ``private_key`` the bank's
    comes from ``keys_dir/bank_private.pem``. A missing file raises :class:`keyfiles.MissingKeyFile`.
    """
    entries = [dict(p) for p in platforms]
    if keys_dir is not None:
        needed = ([keyfiles.BANK_PRIVATE] if private_key is None else []) \
            + ([keyfiles.PLATFORM_PUBLIC] if any("public_key" not in p for p in entries) else [])
        keyfiles.require(keys_dir, *needed)
    if private_key is None:
        if keys_dir is None:
            raise ValueError("give keys_dir or private_key")
        private_key = keyfiles.read(keys_dir, keyfiles.BANK_PRIVATE)
    for entry in entries:
        if "public_key" not in entry:
            if keys_dir is None:
                raise ValueError(f"platform {entry.get('platform_no')!r} needs public_key or keys_dir")
            entry["public_key"] = keyfiles.read(keys_dir, keyfiles.PLATFORM_PUBLIC)
    config: dict[str, Any] = {"DATABASE": str(database), "PRIVATE_KEY": private_key, "PLATFORMS": entries}
    config.update(settings)
    return config
