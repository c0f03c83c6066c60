"""One client for the simulator's HTTP surfaces: the bank's ``/sim`` REST API, the platform's
JSON API and the bank's signed ``/service``.

Used by the CLI, the scenario runner, the tests and the bench, so that "send, then read the one
JSON error shape" is written once. An answer the caller must not take as success raises
:class:`SimError` (``code``, ``message``, ``status``); a server that cannot be reached raises
``requests``' own ``RequestException``, so callers keep telling "it said no" from "no answer".
The operator credential (``bank_depository.protocol.operator``) goes on every request when a
token is given.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

import requests

from .protocol import envelope, operator, signing


def why_unreachable(exc: Exception) -> str:
    """Why a server did not answer, in a few words (not urllib3's retry text)."""
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused (is it running?)" if "refused" in str(exc).lower() else "no connection"
    return type(exc).__name__


class SimError(Exception):
    """A JSON surface refused: ``{"error": {"code", "message"}}`` (or a non-JSON answer)."""

    def __init__(self, code: str, message: str, status: int, *, url: str = "", json_body: bool = True):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.url = url
        self.json_body = json_body  # False: the server answered something that is not JSON


class SimClient:
    """JSON REST against ``base_url`` (a bank or a platform); ``signed`` for the bank's ``/service``.

    ``get``/``post``/``delete`` return the decoded JSON body of a 2xx answer. Any other status, a
    non-200 answer that carries an ``error`` object, a 202 (the platform's "the bank's outcome is
    unknown", code ``OUTCOME_UNKNOWN``) or a body that is not JSON raises :class:`SimError`.
    """

    def __init__(self, base_url: str, sim_token: Optional[str] = None, session: Optional[requests.Session] = None,
                 *, timeout: float = 60.0):
        self.base_url = base_url.rstrip("/")
        self.headers = operator.header(sim_token)
        self.session = session if session is not None else requests.Session()
        self.timeout = timeout

    def url(self, path: str) -> str:
        """``base_url + path``; an absolute ``path`` (``http(s)://…``) is used as it is."""
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def raw(self, method: str, path: str, **kw: Any) -> requests.Response:
        """The response as it came (no error mapping), with the credential and the timeout."""
        headers = {**self.headers, **(kw.pop("headers", None) or {})}
        kw.setdefault("timeout", self.timeout)
        return self.session.request(method, self.url(path), headers=headers, **kw)

    def request(self, method: str, path: str, **kw: Any) -> Any:
        return self.answer(self.raw(method, path, **kw))

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params or None)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    @staticmethod
    def answer(resp: requests.Response) -> Any:
        """The JSON body of a successful answer, or :class:`SimError`."""
        try:
            body = resp.json()
        except ValueError:
            if resp.status_code >= 400:
                raise SimError(str(resp.status_code), resp.text[:200], resp.status_code, url=resp.url,
                               json_body=False) from None
            raise SimError("NOT_JSON", resp.text[:200], resp.status_code, url=resp.url, json_body=False) from None
        error = body.get("error") if isinstance(body, dict) else None
        if resp.status_code >= 400 or resp.status_code == 202 or (error is not None and resp.status_code != 200):
            err = error if isinstance(error, dict) else {}
            if resp.status_code == 202:
                code, message = err.get("code", "OUTCOME_UNKNOWN"), err.get("message", "")
            else:
                code, message = err.get("code", resp.status_code), err.get("message", resp.text[:200])
            raise SimError(str(code), str(message), resp.status_code, url=resp.url)
        return body

    def signed(self, service: str, payload: Mapping[str, Any], key: signing.PrivateKey, platform_no: str,
               *, bank_key: signing.PublicKey, algorithm: str = signing.SHA256, path: str = "/service") -> dict:
        """POST a signed request to the bank's ``/service`` and return its verified ``respData``.

        The bank's refusals are data (``respCode`` other than ``00000``), returned as they are; an
        answer whose signature does not verify raises ``envelope.ResponseSignatureError``.
        """
        fields = envelope.sign_request(service, platform_no, payload, key, algorithm).fields()
        resp = self.raw("POST", path, data=fields)
        if resp.status_code != 200:
            self.answer(resp)  # the envelope's own error body, if JSON
            raise SimError(str(resp.status_code), resp.text[:200], resp.status_code, url=resp.url)
        return envelope.verify_response(resp.text, bank_key, algorithm)
