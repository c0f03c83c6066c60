"""The platform's Flask config, built in one place for the CLI, the scenario harness and the tests.

The twin of ``bank_depository.config``: the platform's private key and the bank's public key
come from a keys directory (or are given as texts); other settings are passed by their config
names and win over what the builder sets.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

from bank_depository.protocol import keyfiles

PathLike = Union[str, Path]


def platform_config(database: PathLike, *, bank_url: str, keys_dir: Optional[PathLike] = None,
                    private_key: Optional[str] = None, bank_public_key: Optional[str] = None,
                    **settings: Any) -> dict[str, Any]:
    """A config for :func:`p2p_platform.app.create_app`; a missing key file raises ``keyfiles.MissingKeyFile``."""
    if keys_dir is not None:
        keyfiles.require(keys_dir, *([keyfiles.PLATFORM_PRIVATE] if private_key is None else []),
                         *([keyfiles.BANK_PUBLIC] if bank_public_key is None else []))
        private_key = private_key if private_key is not None else keyfiles.read(keys_dir, keyfiles.PLATFORM_PRIVATE)
        if bank_public_key is None:
            bank_public_key = keyfiles.read(keys_dir, keyfiles.BANK_PUBLIC)
    elif private_key is None or bank_public_key is None:
        raise ValueError("give keys_dir, or both private_key and bank_public_key")
    config: dict[str, Any] = {"DATABASE": str(database), "PRIVATE_KEY": private_key,
                              "BANK_PUBLIC_KEY": bank_public_key, "BANK_URL": bank_url}
    config.update(settings)
    return config
