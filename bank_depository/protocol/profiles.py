"""The wire profiles: one object per platform owns every way its wire differs.

``modern`` is this project's wire (POST, SHA256withRSA, 2048-bit keys, signed
envelope errors, strict roles and project states). ``legacy`` is the original
Java depository's (reference §1–§2): GETs through ``java.net.URLEncoder``,
SHA1withRSA with the original's 512-bit demo keys, HashMap-ordered
``respData``, unsigned envelope errors, notifications as
``GET {notifyUrl}gateway/?…``, and the original's lenient roles and project
states (issue 13). Code outside this module asks the platform's profile what
to do (``platform.profile.response_body(...)``, ``platform.profile.roles``);
it never tests which profile it holds.

The money rules are not a profile difference: both profiles move exactly the
held money and refuse what does not add up.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional
from urllib.parse import urlencode, urlsplit

from . import codes, envelope, fastjson, legacy, signing

MODERN_NAME = "modern"
LEGACY_NAME = legacy.PROFILE


@dataclass(frozen=True)
class HttpCall:
    """One outbound HTTP call: ``GET url`` or ``POST url`` with form ``data``."""
    method: str
    url: str
    data: Optional[dict[str, str]] = None


@dataclass(frozen=True)
class RolePolicy:
    """Which depository roles may borrow and lend, and what a registration records."""
    strict: bool = True
    #: The role recorded whatever the platform asked for ("" = the requested one).
    recorded: str = ""

    def recorded_role(self, requested: str) -> str:
        """The role stored for a new account; raises ValueError for a role this profile does not know."""
        if self.strict and requested not in ("B", "I"):
            raise ValueError("role must be B (borrower) or I (investor)")
        return self.recorded or requested

    def borrow_problem(self, user_no: str, role: str) -> Optional[str]:
        """Why ``user_no`` may not borrow (create a project), or None."""
        if self.strict and role != "B":
            return f"{user_no} has role {role}, needs B"
        return None

    def lend_problem(self, user_no: str, role: str) -> Optional[str]:
        """Why ``user_no`` may not lend (tender, buy a claim, sell a claim), or None."""
        if self.strict and role != "I":
            return f"{user_no} is not an investor"
        return None


STRICT_ROLES = RolePolicy()
#: The original overrides every registration's role to B and never checks a role afterwards.
ORIGINAL_ROLES = RolePolicy(strict=False, recorded="B")


@dataclass(frozen=True)
class WireProfile:
    """What a platform's wire looks like; subclasses override the differences."""
    name: str
    default_algorithm: str
    #: Keys below :data:`signing.MIN_BITS` (the original's 512-bit demo keys) are accepted.
    allow_weak_keys: bool
    #: The original's routes under the context path (``/service``, ``/gateway``, ``/trans/*``, local
    #: endpoints) serve platforms of this profile.
    serves_context_routes: bool
    roles: RolePolicy
    #: REPAYMENT freezes and CONFIRM_REPAYMENT need the project REPAYING (else: loan confirmed suffices).
    requires_repaying_status: bool
    #: A requestNo already used for another service answers that service's stored response
    #: (else: a 00005 conflict naming serviceName).
    replays_across_services: bool
    #: The signed reqData must name the envelope's serviceName and platformNo
    #: (:func:`envelope.require_binding`), so a signature cannot be replayed under another service or
    #: platform. The original's scheme signs reqData alone: that weakness is kept for the legacy wire.
    binds_signature: bool
    #: A wrong trade password's redirect says how many attempts are left before the lockout
    #: (else the original's bare message).
    tells_attempts_left: bool
    #: What the platform's notify URL is, relative to its base (the platform side of the wire).
    notify_path: str

    # -- the bank's answers ------------------------------------------------------------------
    def response_body(self, resp_text: str, key: signing.PrivateKey, algorithm: str, service: str = "",
                      payload: Optional[Mapping[str, Any]] = None) -> str:
        """The signed ``/service`` body for a stored respData text (a replay is the same bytes)."""
        return envelope.sign_response(resp_text, key, algorithm)

    def envelope_error_body(self, key: signing.PrivateKey, code: str, detail: str, request_no: str = "") -> str:
        """The answer to an envelope that could not be verified (no platform, so no platform algorithm)."""
        message = codes.message(code) if detail == codes.message(code) else f"{codes.message(code)}: {detail}"
        data = {"requestNo": request_no, "respCode": code, "respMsg": message, "status": codes.STATUS_FAILURE}
        return envelope.response_body(data, key, signing.SHA256)

    def callback_url(self, url: str, code: int, msg: str = "") -> str:
        """Where the browser goes after a gateway page: ``url`` with ``code`` (and ``msg``)."""
        params = {"code": str(code)}
        if msg:
            params["msg"] = msg
        return url + ("&" if urlsplit(url).query else "?") + urlencode(params)

    # -- notifications -------------------------------------------------------------------------
    def notification_payload(self, service: str, note: dict[str, Any]) -> dict[str, Any]:
        """The outbox payload for this profile from the bank's full notification."""
        return note

    def json_text(self, value: Any) -> str:
        """A payload's JSON text, as this profile's bank writes it (the notification signs these bytes)."""
        return envelope.dumps(value)

    def notification_call(self, notify_url: str, fields: Mapping[str, str]) -> HttpCall:
        """How the signed notification reaches the platform."""
        return HttpCall("POST", notify_url, dict(fields))

    def notify_url_warning(self, notify_url: str) -> Optional[str]:
        """A configuration mistake worth a warning at start, or None."""
        return None

    # -- the platform side ---------------------------------------------------------------------
    def wire_path(self, context_path: Optional[str]) -> str:
        """Where ``/service`` and ``/gateway`` live below the bank's base URL."""
        return ""

    def service_call(self, wire_url: str, fields: Mapping[str, str]) -> HttpCall:
        """How a platform sends a signed direct request."""
        return HttpCall("POST", wire_url + "/service", dict(fields))

    def key_text(self, pem: str, private: bool) -> str:
        """A key file's text in the form a platform of this profile holds it."""
        return pem


@dataclass(frozen=True)
class ModernProfile(WireProfile):
    name: str = MODERN_NAME
    default_algorithm: str = signing.SHA256
    allow_weak_keys: bool = False
    serves_context_routes: bool = False
    roles: RolePolicy = STRICT_ROLES
    requires_repaying_status: bool = True
    replays_across_services: bool = False
    binds_signature: bool = True
    tells_attempts_left: bool = True
    notify_path: str = "/notify"


@dataclass(frozen=True)
class LegacyProfile(WireProfile):
    name: str = LEGACY_NAME
    default_algorithm: str = signing.SHA1
    allow_weak_keys: bool = True
    serves_context_routes: bool = True
    roles: RolePolicy = ORIGINAL_ROLES
    #: The original never checks the project's status (its platform's MODIFY_PROJECT never arrives).
    requires_repaying_status: bool = False
    #: The original's interceptor replays a stored response by requestNo alone, so the MODIFY_PROJECT its
    #: platform sends with the CONFIRM_LOAN's requestNo gets the CONFIRM_LOAN answer and changes nothing.
    replays_across_services: bool = True
    #: The original signs reqData alone (no binding to serviceName / platformNo).
    binds_signature: bool = False
    tells_attempts_left: bool = False
    #: The original appends ``gateway/`` to the notify URL, so it ends with a slash.
    notify_path: str = "/notify/"

    def response_body(self, resp_text: str, key: signing.PrivateKey, algorithm: str, service: str = "",
                      payload: Optional[Mapping[str, Any]] = None) -> str:
        data = legacy.resp_data(envelope.loads(resp_text), service, payload)
        return legacy.response_body(data, key, algorithm)

    def envelope_error_body(self, key: signing.PrivateKey, code: str, detail: str, request_no: str = "") -> str:
        return legacy.envelope_error_body(code)  # the original's are unsigned

    def callback_url(self, url: str, code: int, msg: str = "") -> str:
        # The original always appends with '&', the message through java.net.URLEncoder.
        params = {"code": str(code), **({"msg": msg} if msg else {})}
        return url + "".join(f"&{k}={legacy.java_url_encode(v)}" for k, v in params.items())

    def notification_payload(self, service: str, note: dict[str, Any]) -> dict[str, Any]:
        return legacy.notification_payload(service, note)

    def json_text(self, value: Any) -> str:
        return fastjson.dumps(value)  # the original's JSON.toJSONString(response)

    def notification_call(self, notify_url: str, fields: Mapping[str, str]) -> HttpCall:
        return HttpCall("GET", notify_url + "gateway/?" + legacy.query_string(fields))

    def notify_url_warning(self, notify_url: str) -> Optional[str]:
        if notify_url and not notify_url.endswith("/"):
            return f"notifications go to {notify_url}gateway/ (the original appends without '/')"
        return None

    def wire_path(self, context_path: Optional[str]) -> str:
        return legacy.context_path(context_path)

    def service_call(self, wire_url: str, fields: Mapping[str, str]) -> HttpCall:
        return HttpCall("GET", wire_url + "/service?" + legacy.query_string(fields))

    def key_text(self, pem: str, private: bool) -> str:
        # The Java side's key format: bare Base64 DER, no PEM armour.
        if private:
            return legacy.bare_private_key(signing.load_private_key(pem, allow_weak=True))
        return legacy.bare_public_key(signing.load_public_key(pem, allow_weak=True))


MODERN: WireProfile = ModernProfile()
LEGACY: WireProfile = LegacyProfile()
_BY_NAME: dict[str, WireProfile] = {p.name: p for p in (MODERN, LEGACY)}
NAMES: tuple[str, ...] = tuple(_BY_NAME)


def get(name: Optional[str]) -> WireProfile:
    """The profile called ``name`` (empty: modern); raises ValueError naming the choices."""
    try:
        return _BY_NAME[name or MODERN_NAME]
    except KeyError:
        raise ValueError(f"profile must be one of {', '.join(NAMES)}") from None


__all__ = ["WireProfile", "ModernProfile", "LegacyProfile", "RolePolicy", "HttpCall", "MODERN", "LEGACY",
           "NAMES", "get"]
