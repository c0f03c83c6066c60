"""The only code of the platform that talks to the bank.

It signs requests with the platform's key, sends them, and verifies every
answer with the bank's key. It tells three outcomes apart:

* :class:`BankReply` with ``ok`` — the bank did it;
* :class:`BankReply` without ``ok`` — the bank said no (a verified refusal);
* :class:`OutcomeUnknown` — timeout, reset, 5xx, or an answer whose signature
  does not verify (never trusted): the bank may or may not have done it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import requests

from bank_depository.protocol import codes, envelope, signing


@dataclass(frozen=True)
class BankReply:
    data: dict
    body: str

    @property
    def code(self) -> str:
        return str(self.data.get("respCode", ""))

    @property
    def message(self) -> str:
        return str(self.data.get("respMsg", ""))

    @property
    def ok(self) -> bool:
        return self.code == codes.SUCCESS


class OutcomeUnknown(Exception):
    """We do not know whether the bank acted; retry with the same requestNo or query."""


@dataclass(frozen=True)
class GatewayRequest:
    """What a browser (or a scenario's user-agent) follows to the bank's page."""
    url: str
    fields: dict

    def as_dict(self) -> dict:
        return {"method": "GET", "depositoryUrl": self.url, **self.fields}


class BankClient:
    def __init__(self, base_url: str, platform_no: str, private_key: signing.PrivateKey,
                 bank_public_key: signing.PublicKey, algorithm: str = signing.SHA256,
                 session: Optional[requests.Session] = None, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.platform_no = platform_no
        self.private_key = private_key
        self.bank_public_key = bank_public_key
        self.algorithm = algorithm
        self.session = session or requests.Session()
        self.timeout = timeout

    def _sign(self, service: str, payload: dict, payload_text: Optional[str] = None) -> envelope.SignedRequest:
        return envelope.sign_request(service, self.platform_no, payload, self.private_key, self.algorithm,
                                     payload_text=payload_text)

    def gateway_request(self, service: str, payload: dict) -> GatewayRequest:
        return GatewayRequest(self.base_url + "/gateway", self._sign(service, payload).fields())

    def call(self, service: str, payload: dict, payload_text: Optional[str] = None) -> BankReply:
        """One signed call; ``payload_text`` resends a recorded request byte for byte."""
        fields = self._sign(service, payload, payload_text).fields()
        try:
            resp = self.session.post(self.base_url + "/service", data=fields, timeout=self.timeout)
        except requests.RequestException as exc:
            raise OutcomeUnknown(f"{service} {payload.get('requestNo')}: {type(exc).__name__}") from None
        if resp.status_code >= 500:
            raise OutcomeUnknown(f"{service} {payload.get('requestNo')}: HTTP {resp.status_code}")
        try:
            data = envelope.verify_response(resp.text, self.bank_public_key, self.algorithm)
        except envelope.ResponseSignatureError as exc:
            raise OutcomeUnknown(f"{service} {payload.get('requestNo')}: {exc}") from None
        return BankReply(data, resp.text)

    def verify_notification(self, fields: Any) -> tuple[str, dict]:
        """(serviceName, payload) of a bank notification; raises EnvelopeError if not the bank's."""
        signed = envelope.parse_request(fields)
        envelope.verify_request(signed, self.bank_public_key, self.algorithm)
        return signed.service_name, signed.payload()
