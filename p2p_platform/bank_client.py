"""The only code of the platform that talks to the bank.

It signs requests with the platform's key, sends them, and verifies every
answer with the bank's key. It tells three outcomes apart:

* :class:`BankReply` with ``ok`` — the bank did it;
* :class:`BankReply` without ``ok`` — the bank said no (a verified refusal);
* :class:`OutcomeUnknown` — timeout, reset, 5xx, or an answer whose signature
  does not verify (never trusted): the bank may or may not have done it.

The day's check file can also be read as a stream (:meth:`BankClient.stream_checkfile`,
``POST /checkfile``): the file's bytes, then one trailer line
``#SIGNATURE,<fileDate>,<closed 0|1>,<content bytes>,<algorithm>,<signature>``
signed over the hash of every byte before the signature
(:mod:`bank_depository.protocol.trailer`). Lines are handed out as they
arrive and hashed on the way; the last line is held back, and once the stream
ends it must be a trailer that verifies, or :class:`CheckfileUnverified` is
raised — so a consumer treats what it read as provisional until the iterator
is exhausted.

With ``profile="legacy"`` the client speaks the original Java depository's
wire instead (:mod:`bank_depository.protocol.legacy`): ``GET
{bank}{context_path}/service`` with the four fields URL-encoded as
``java.net.URLEncoder`` does, in the original's order, and gateway pages at
``{bank}{context_path}/gateway``; answers are verified the same way (over the
exact respData text, whatever the key order), so an unsigned envelope error
is never trusted. The check file stream is our extension and stays at
``{bank}/checkfile``.
"""
from __future__ import annotations

import http.client
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Optional

import requests

from bank_depository.protocol import codes, envelope, legacy, profiles, services as svc, signing, trailer


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


class CheckfileUnverified(OutcomeUnknown):
    """A streamed check file cut short, altered, or without a trailer that verifies: never trusted."""


MAX_LINE_BYTES = 1 << 20
_CUT = (requests.RequestException, http.client.HTTPException, OSError)


def _byte_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Lines with their ``\n`` (the last one may lack it), exactly as the bytes came."""
    rest = b""
    for chunk in chunks:
        if not chunk:
            continue
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        for part in parts:
            yield part + b"\n"
        if len(rest) > MAX_LINE_BYTES:
            raise CheckfileUnverified(f"a line longer than {MAX_LINE_BYTES} bytes: not a check file")
    if rest:
        yield rest


class CheckfileDownload:
    """One streamed check file: ``refusal`` if the bank said no, else ``lines()`` to read once.

    After ``lines()`` is exhausted without an exception, ``verified`` holds the
    trailer's date, closed flag and byte count.
    """

    def __init__(self, *, refusal: Optional[BankReply] = None, response: Optional[requests.Response] = None,
                 file_date: str = "", bank_public_key: Optional[signing.PublicKey] = None,
                 algorithm: str = signing.SHA256, chunk_size: int = 64 * 1024):
        self.refusal = refusal
        self.verified: Optional[trailer.Verified] = None
        self._response = response
        self._file_date = file_date
        self._key = bank_public_key
        self._algorithm = algorithm
        self._chunk_size = chunk_size

    def lines(self) -> Iterator[str]:
        if self._response is None:
            raise ValueError("the bank refused the download; there are no lines")
        verifier = trailer.Verifier(self._algorithm)
        held: Optional[bytes] = None
        try:
            for line in _byte_lines(self._response.iter_content(self._chunk_size)):
                if held is not None:
                    verifier.feed(held)
                    yield _text(held)
                held = line
        except _CUT as exc:
            raise CheckfileUnverified(f"the check file stream was cut short: {type(exc).__name__}") from None
        finally:
            self.close()
        if held is None:
            raise CheckfileUnverified("the check file stream was empty")
        if self._key is None:
            raise CheckfileUnverified("no bank public key to verify the check file with")
        try:
            self.verified = verifier.check(held, self._key, self._file_date)
        except trailer.TrailerError as exc:
            raise CheckfileUnverified(f"check file for {self._file_date} refused: {exc}") from None

    def close(self) -> None:
        if self._response is not None:
            self._response.close()

    def __enter__(self) -> "CheckfileDownload":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _text(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        raise CheckfileUnverified("the check file is not UTF-8 text") from None


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
                 session: Optional[requests.Session] = None, timeout: float = 10.0, *,
                 profile: str = "modern", context_path: str = legacy.DEFAULT_CONTEXT_PATH):
        try:
            self.wire = profiles.get(profile)
        except ValueError:
            raise ValueError(f"unknown bank profile {profile!r}; use {' or '.join(profiles.NAMES)}") from None
        self.base_url = base_url.rstrip("/")
        self.profile = self.wire.name
        self.context_path = self.wire.wire_path(context_path)
        self.platform_no = platform_no
        self.private_key = private_key
        self.bank_public_key = bank_public_key
        self.algorithm = algorithm
        self.session = session or requests.Session()
        self.timeout = timeout

    @property
    def wire_url(self) -> str:
        """Where /service and /gateway live: the root (modern) or the original's context path (legacy)."""
        return self.base_url + self.context_path

    def payload_text(self, service: str, payload: dict) -> str:
        """The exact JSON text a request for ``payload`` is signed over (the modern profile binds it to the
        service and this platform); what the agent records, so a retry resends the same bytes."""
        return envelope.request_text(service, self.platform_no, payload, bind=self.wire.binds_signature)

    def _sign(self, service: str, payload: dict, payload_text: Optional[str] = None) -> envelope.SignedRequest:
        return envelope.sign_request(service, self.platform_no, payload, self.private_key, self.algorithm,
                                     payload_text=payload_text, bind=self.wire.binds_signature)

    def gateway_request(self, service: str, payload: dict) -> GatewayRequest:
        return GatewayRequest(self.wire_url + "/gateway", self._sign(service, payload).fields())

    def call(self, service: str, payload: dict, payload_text: Optional[str] = None) -> BankReply:
        """One signed call; ``payload_text`` resends a recorded request byte for byte."""
        fields = self._sign(service, payload, payload_text).fields()
        try:
            how = self.wire.service_call(self.wire_url, fields)
            resp = self.session.request(how.method, how.url, data=how.data, timeout=self.timeout)
        except requests.RequestException as exc:
            raise OutcomeUnknown(f"{service} {payload.get('requestNo')}: {type(exc).__name__}") from None
        if resp.status_code >= 500:
            raise OutcomeUnknown(f"{service} {payload.get('requestNo')}: HTTP {resp.status_code}")
        try:
            data = envelope.verify_response(resp.text, self.bank_public_key, self.algorithm)
        except envelope.ResponseSignatureError as exc:
            raise OutcomeUnknown(f"{service} {payload.get('requestNo')}: {exc}") from None
        return BankReply(data, resp.text)

    def stream_checkfile(self, file_date: str, request_no: str) -> CheckfileDownload:
        """Open the streamed check file of ``file_date``; read it with ``lines()`` and close it.

        A verified refusal comes back as ``refusal``; no answer, a 5xx or an
        unverifiable refusal raise :class:`OutcomeUnknown`.
        """
        payload = {"requestNo": request_no, "fileDate": file_date}
        fields = self._sign(svc.DOWNLOAD_CHECKFILE, payload).fields()
        what = f"{svc.DOWNLOAD_CHECKFILE} {file_date}"
        try:
            resp = self.session.post(self.base_url + "/checkfile", data=fields, timeout=self.timeout, stream=True)
        except requests.RequestException as exc:
            raise OutcomeUnknown(f"{what}: {type(exc).__name__}") from None
        kind = resp.headers.get("Content-Type", "")
        if resp.status_code == 200 and kind.startswith("text/csv"):
            return CheckfileDownload(response=resp, file_date=file_date, bank_public_key=self.bank_public_key,
                                     algorithm=self.algorithm)
        try:
            if resp.status_code >= 500 or not kind.startswith("application/json"):
                raise OutcomeUnknown(f"{what}: HTTP {resp.status_code} {kind or 'without a content type'}")
            try:
                data = envelope.verify_response(resp.text, self.bank_public_key, self.algorithm)
            except envelope.ResponseSignatureError as exc:
                raise OutcomeUnknown(f"{what}: {exc}") from None
        finally:
            resp.close()
        reply = BankReply(data, "")
        if reply.ok:  # a JSON answer here is only ever a refusal
            raise OutcomeUnknown(f"{what}: a JSON success instead of the file")
        return CheckfileDownload(refusal=reply)

    def verify_notification(self, fields: Any) -> tuple[str, dict]:
        """(serviceName, payload) of a bank notification; raises EnvelopeError if not the bank's."""
        signed = envelope.parse_request(fields)
        envelope.verify_request(signed, self.bank_public_key, self.algorithm)
        return signed.service_name, signed.payload()
