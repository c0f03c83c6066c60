"""The wire profile is one object per platform; the core asks it, never tests which one it holds."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bank_depository.protocol import profiles, signing

ROOT = Path(__file__).resolve().parents[2]
PROFILE_TEST = re.compile(r"""profile\s*[!=]=|[!=]=\s*["']legacy["']|legacy(_wire)?\.PROFILE\b""")


def test_each_name_gives_its_profile_and_an_unknown_name_is_refused_with_the_choices():
    assert profiles.NAMES == ("modern", "legacy")
    assert profiles.get("legacy").name == "legacy" and profiles.get(None) is profiles.MODERN
    with pytest.raises(ValueError, match="profile must be one of modern, legacy"):
        profiles.get("ancient")


def test_the_profiles_differ_in_algorithm_weak_keys_roles_and_project_status_policy():
    modern, legacy = profiles.MODERN, profiles.LEGACY
    assert (modern.default_algorithm, legacy.default_algorithm) == (signing.SHA256, signing.SHA1)
    assert (modern.allow_weak_keys, legacy.allow_weak_keys) == (False, True)
    assert (modern.requires_repaying_status, legacy.requires_repaying_status) == (True, False)
    assert modern.roles.borrow_problem("USR_A", "I") and legacy.roles.borrow_problem("USR_A", "I") is None
    assert legacy.roles.recorded_role("I") == "B" and modern.roles.recorded_role("I") == "I"


def test_the_callback_and_the_notification_call_are_the_profiles_own():
    assert profiles.MODERN.callback_url("http://f/cb", 1, "a b") == "http://f/cb?code=1&msg=a+b"
    assert profiles.LEGACY.callback_url("http://f/#/s?st=1", 0) == "http://f/#/s?st=1&code=0"
    fields = {"serviceName": "RECHARGE", "platformNo": "p", "reqData": "e30=", "signature": "s+/="}
    assert profiles.MODERN.notification_call("http://p/notify", fields).method == "POST"
    call = profiles.LEGACY.notification_call("http://p/notify/", fields)
    assert (call.method, call.url) == ("GET", "http://p/notify/gateway/?serviceName=RECHARGE&platformNo=p"
                                              "&reqData=e30%3D&signature=s%2B%2F%3D")


def test_no_code_outside_the_profile_module_tests_which_profile_it_holds():
    offenders = []
    for base in ("bank_depository", "p2p_platform", "scenarios"):
        for path in (ROOT / base).rglob("*.py"):
            if path.name == "profiles.py":
                continue
            offenders += [f"{path.relative_to(ROOT)}:{n}" for n, line in
                          enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if PROFILE_TEST.search(line)]
    offenders += [f"cli.py:{n}" for n, line in enumerate((ROOT / "cli.py").read_text().splitlines(), 1)
                  if PROFILE_TEST.search(line)]
    assert offenders == []
