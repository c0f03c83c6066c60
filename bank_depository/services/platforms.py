"""The platforms a bank serves: each with its own key, platformNo, notify URL, profile and algorithm.

Invariant guarded: a platform is registered only whole and valid (a loadable
RSA public key, a known profile and algorithm, an http(s) notify URL or
none); the database is the registry, so every worker process and a restart
see a platform registered at run time (:meth:`BankContext.refresh_platforms`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from ..domain.errors import param_error
from ..protocol import profiles, signing
from .context import BankContext, Platform, notify_url_problem, register_platform

PROFILES = profiles.NAMES
_NO = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: ``--platform`` spec keys and the registration fields they stand for.
SPEC_KEYS = {"no": "platform_no", "key": "public_key", "notify": "notify_url", "profile": "profile",
             "algorithm": "algorithm", "name": "name"}


class PlatformSpecError(ValueError):
    """A ``--platform`` spec or registration that cannot be used; the message is one line."""


def parse_spec(text: str) -> dict[str, str]:
    """``no=acme,key=PATH,notify=URL[,profile=…][,algorithm=…][,name=…]`` as registration fields;
    ``key`` names a file (PEM, PKCS#1 or bare Base64 DER), read here so a bad one is named."""
    fields: dict[str, str] = {}
    for part in [p for p in str(text).split(",") if p.strip()]:
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in SPEC_KEYS:
            raise PlatformSpecError(f"--platform {text!r}: {part.strip()!r} is not one of "
                                    f"{', '.join(k + '=' for k in SPEC_KEYS)}")
        fields[SPEC_KEYS[name]] = value.strip()
    for needed in ("no", "key"):
        if not fields.get(SPEC_KEYS[needed]):
            raise PlatformSpecError(f"--platform {text!r}: {needed}= is required")
    path = Path(fields["public_key"])
    try:
        fields["public_key"] = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlatformSpecError(f"platform {fields['platform_no']}: cannot read key file {path}: "
                                f"{getattr(exc, 'strerror', None) or exc}") from None
    try:
        build(fields)
    except (PlatformSpecError, signing.KeyError_) as exc:
        raise PlatformSpecError(f"{exc} (key file {path})") from None
    return fields


def build(spec: Mapping[str, Any]) -> tuple[Platform, str]:
    """A checked :class:`Platform` and its key text from registration fields; raises PlatformSpecError,
    or signing.KeyError_ for a key that does not load or is too weak."""
    platform_no = str(spec.get("platform_no") or "").strip()
    if not _NO.fullmatch(platform_no):
        raise PlatformSpecError(f"platformNo {platform_no!r} must be 1 to 64 letters, digits, '_', '.' or '-'")
    name = str(spec.get("profile") or profiles.MODERN.name)
    if name not in PROFILES:
        raise PlatformSpecError(f"platform {platform_no}: profile must be one of {', '.join(PROFILES)}")
    profile = profiles.get(name)
    algorithm = str(spec.get("algorithm") or profile.default_algorithm)
    if algorithm not in signing.ALGORITHMS:
        raise PlatformSpecError(f"platform {platform_no}: algorithm must be one of {', '.join(signing.ALGORITHMS)}")
    notify_url = str(spec.get("notify_url") or "").strip()
    problem = notify_url_problem(notify_url)
    if problem:
        raise PlatformSpecError(f"platform {platform_no}: notify URL {notify_url!r} {problem}")
    text = str(spec.get("public_key") or "")  # key text: callers read files (never a path from the wire)
    try:
        key = signing.load_public_key(text, allow_weak=profile.allow_weak_keys)
    except signing.KeyError_ as exc:
        raise signing.KeyError_(f"platform {platform_no}: {exc}") from None
    return Platform(platform_no=platform_no, public_key=key, algorithm=algorithm, notify_url=notify_url,
                    profile=profile, name=str(spec.get("name") or "")), text.strip()


def register(ctx: BankContext, data: Mapping[str, Any]) -> tuple[dict, bool]:
    """``POST /sim/platforms``: register (or update) a platform from its wire fields; (view, created)."""
    if not isinstance(data, Mapping):
        raise param_error("the request body must be a JSON object")
    allowed = {"platformNo", "publicKey", "notifyUrl", "profile", "algorithm", "name"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise param_error(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    if not isinstance(data.get("publicKey"), str) or not data["publicKey"].strip():
        raise param_error("publicKey is required: the platform's RSA public key (PEM, PKCS#1 or bare Base64 DER)")
    try:
        platform, text = build({"platform_no": data.get("platformNo"), "public_key": data["publicKey"],
                                "notify_url": data.get("notifyUrl"), "profile": data.get("profile"),
                                "algorithm": data.get("algorithm"), "name": data.get("name")})
    except (PlatformSpecError, signing.KeyError_) as exc:
        raise param_error(str(exc)) from None
    created = ctx.refresh_platforms().get(platform.platform_no) is None
    register_platform(ctx, platform, text)
    return view(platform), created


def view(p: Platform) -> dict:
    return {"platformNo": p.platform_no, "name": p.name, "profile": p.profile.name, "algorithm": p.algorithm,
            "notifyUrl": p.notify_url, "keyBits": p.public_key.key_size}


def listing(ctx: BankContext) -> list[dict]:
    return [view(p) for _, p in sorted(ctx.refresh_platforms().items())]
