"""What ``wanxin scenario run -v`` shows: the HTTP exchanges behind each step.

A :class:`Recorder` hangs a response hook on a ``requests.Session`` and keeps
one :class:`Exchange` per response (a redirect the session follows is an
exchange of its own); the runner prints them under the step they belong to.
Recording reads nothing the caller would not read anyway: a streamed answer's
body is never touched.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Optional
from urllib.parse import parse_qs, urlencode

import requests

#: How much of each body ``-vv`` prints.
BODY_LIMIT = 2048
_INDENT = "        "


@dataclass(frozen=True)
class Exchange:
    via: str                 # "" for the runner's own requests, else who made it ("platform → bank")
    method: str
    url: str
    status: int
    ms: float
    service: str = ""        # the signed envelope's serviceName, when the request carried one
    request_body: Optional[str] = None
    response_body: Optional[str] = None

    def lines(self) -> list[str]:
        via = f"[{self.via}] " if self.via else ""
        service = f" {self.service}" if self.service else ""
        out = [f"{_INDENT}{via}{self.method} {self.url}{service} → {self.status} ({self.ms:.0f} ms)"]
        for mark, body in ((">", self.request_body), ("<", self.response_body)):
            if body:
                out += [f"{_INDENT}  {mark} {line}" for line in body.splitlines() if line.strip()]
        return out


class Recorder:
    """Collects the exchanges of the sessions it is attached to until :meth:`take` hands them over."""

    def __init__(self, bodies: bool = False):
        self.bodies = bodies
        self._seen: list[Exchange] = []

    def attach(self, session: requests.Session, via: str = "") -> None:
        def hook(resp: requests.Response, *_args, **kwargs) -> requests.Response:
            self._seen.append(self._exchange(resp, via, streamed=bool(kwargs.get("stream"))))
            return resp

        session.hooks["response"].append(hook)

    def take(self) -> list[Exchange]:
        seen, self._seen = self._seen, []
        return seen

    def _exchange(self, resp: requests.Response, via: str, streamed: bool) -> Exchange:
        sent = resp.request
        raw = sent.body
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw if isinstance(raw, str) else None
        url = str(sent.url)
        fields = _form(text, sent.headers.get("Content-Type", ""))
        base, _, query = url.partition("?")
        if "reqData=" in query:  # a signed request in the URL (a gateway page): its payload says more than Base64
            fields = {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
            url = base + "?…"
        request_body = response_body = None
        if self.bodies:
            request_body = _request_text(text, fields, raw, sent.headers.get("Content-Type", ""))
            response_body = "(streamed, not read)" if streamed else \
                _truncate(_readable(resp.content, resp.headers.get("Content-Type", "")))
        return Exchange(via, str(sent.method), url, resp.status_code, resp.elapsed.total_seconds() * 1000,
                        fields.get("serviceName", ""), request_body, response_body)


def _form(text: Optional[str], content_type: str) -> dict[str, str]:
    if not text or not content_type.startswith("application/x-www-form-urlencoded"):
        return {}
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _request_text(text: Optional[str], fields: dict[str, str], raw: object, content_type: str) -> Optional[str]:
    if raw is not None and text is None:
        return "(a streamed body)"
    if "reqData" in fields:  # a signed envelope: its business payload is what a reader wants to see
        try:
            payload = base64.b64decode(fields["reqData"], validate=True).decode("utf-8")
            return _truncate(f"reqData {payload}".encode("utf-8"))
        except (binascii.Error, ValueError):
            pass
    if fields and any(_secret(k) for k in fields):  # a gateway page's form: never print the trade password
        text = urlencode({k: "***" if _secret(k) else v for k, v in fields.items()})
    return _truncate(_readable(text.encode("utf-8"), content_type)) if text else None


def _secret(field: str) -> bool:
    return "password" in field.lower()


def _readable(body: bytes, content_type: str) -> bytes:
    """A JSON body with its non-ASCII text as it reads (``测试`` rather than ``\\u6d4b\\u8bd5``)."""
    if not content_type.startswith("application/json") or len(body) > 16 * BODY_LIMIT:
        return body
    try:
        return json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except ValueError:
        return body


def _truncate(body: bytes) -> str:
    if len(body) <= BODY_LIMIT:
        return body.decode("utf-8", "replace")
    return body[:BODY_LIMIT].decode("utf-8", "ignore") + f" … ({len(body) - BODY_LIMIT} more bytes)"
