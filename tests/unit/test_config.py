"""The two config builders: keys from a directory, settings by their config names."""
from __future__ import annotations

import pytest

from bank_depository.config import bank_config
from bank_depository.protocol import keyfiles
from p2p_platform.config import platform_config


@pytest.fixture
def keys_dir(tmp_path):
    directory = tmp_path / "keys"
    directory.mkdir()
    for name in (keyfiles.BANK_PRIVATE, keyfiles.BANK_PUBLIC, keyfiles.PLATFORM_PRIVATE, keyfiles.PLATFORM_PUBLIC):
        (directory / name).write_text(f"<{name}>")
    return directory


def test_the_bank_config_reads_its_key_and_each_platforms_key_from_the_keys_directory(tmp_path, keys_dir):
    cfg = bank_config(tmp_path / "bank.sqlite", keys_dir=keys_dir,
                      platforms=[{"platform_no": "p1", "notify_url": "http://p1/notify"}], PASSWORD_ITERATIONS=7)
    assert cfg == {"DATABASE": str(tmp_path / "bank.sqlite"), "PRIVATE_KEY": "<bank_private.pem>",
                   "PLATFORMS": [{"platform_no": "p1", "notify_url": "http://p1/notify",
                                  "public_key": "<platform_public.pem>"}],
                   "PASSWORD_ITERATIONS": 7}


def test_given_key_texts_win_and_settings_override_what_the_builder_sets(tmp_path):
    cfg = bank_config("b.sqlite", private_key="PRIV", platforms=[{"platform_no": "p", "public_key": "PUB"}],
                      DATABASE=":memory:")
    assert (cfg["DATABASE"], cfg["PRIVATE_KEY"], cfg["PLATFORMS"][0]["public_key"]) == (":memory:", "PRIV", "PUB")


def test_a_missing_key_file_is_named_with_the_command_that_makes_it(tmp_path, keys_dir):
    (keys_dir / keyfiles.PLATFORM_PUBLIC).unlink()
    with pytest.raises(keyfiles.MissingKeyFile) as err:
        bank_config(tmp_path / "bank.sqlite", keys_dir=keys_dir, platforms=[{"platform_no": "p"}])
    assert str(err.value) == (f"{keys_dir / keyfiles.PLATFORM_PUBLIC} is missing;"
                              f" run `wanxin keys generate --dir {keys_dir}`")


def test_the_platform_config_reads_its_key_and_the_banks_public_key(tmp_path, keys_dir):
    cfg = platform_config(tmp_path / "p.sqlite", keys_dir=keys_dir, bank_url="http://bank", ID_SEED=3)
    assert cfg == {"DATABASE": str(tmp_path / "p.sqlite"), "PRIVATE_KEY": "<platform_private.pem>",
                   "BANK_PUBLIC_KEY": "<bank_public.pem>", "BANK_URL": "http://bank", "ID_SEED": 3}


def test_the_platform_config_without_a_directory_needs_both_key_texts(tmp_path, keys_dir):
    with pytest.raises(ValueError, match="both private_key and bank_public_key"):
        platform_config("p.sqlite", private_key="PRIV", bank_url="http://bank")
    (keys_dir / keyfiles.BANK_PUBLIC).unlink()
    with pytest.raises(keyfiles.MissingKeyFile, match="bank_public.pem is missing"):
        platform_config("p.sqlite", keys_dir=keys_dir, bank_url="http://bank")
