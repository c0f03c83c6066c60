"""The key files of a keys directory (as ``wanxin keys generate`` writes them), read by name.

Both apps build their config from such a directory; a missing file is one clear error that
says how to make it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

BANK_PRIVATE = "bank_private.pem"
BANK_PUBLIC = "bank_public.pem"
PLATFORM_PRIVATE = "platform_private.pem"
PLATFORM_PUBLIC = "platform_public.pem"


class MissingKeyFile(FileNotFoundError):
    """A key file the config needs is not in the keys directory."""

    def __str__(self) -> str:
        return str(self.args[0])


def require(keys_dir: Union[str, Path], *names: str) -> None:
    """Refuse, naming the first missing file, before anything is read."""
    directory = Path(keys_dir)
    for name in names:
        if not (directory / name).exists():
            raise MissingKeyFile(f"{directory / name} is missing; run `wanxin keys generate --dir {directory}`")


def read(keys_dir: Union[str, Path], name: str) -> str:
    """The text of one key file (PEM or bare Base64)."""
    require(keys_dir, name)
    return (Path(keys_dir) / name).read_text()
