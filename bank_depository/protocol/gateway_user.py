"""A headless end user of the bank's gateway pages: open the page, fill its form, submit, read the redirect.

One implementation for every caller: ``wanxin gateway complete`` and the
scenario user agent (a ``requests.Session`` over HTTP, :class:`RequestsBrowser`)
and ``POST /sim/gateway/complete`` (the bank's own app in process, a Flask
test client, :class:`FlaskBrowser`). The form is submitted as the page
rendered it: every input, hidden ones included, with the cookies of the page
kept by the session, so a one-time page token keeps working. Stdlib only.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Mapping, Optional, Protocol
from urllib.parse import parse_qs, urljoin, urlsplit

ENVELOPE_FIELDS = ("serviceName", "platformNo", "reqData", "signature")
OUTCOMES = ("success", "wrong_password", "cancel")


class GatewayError(Exception):
    """The bank's page showed an error (or no usable form) instead of redirecting."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Form:
    id: str
    action: str
    method: str = "post"
    inputs: list[dict[str, str]] = field(default_factory=list)  # {name, type, value} in page order
    #: Submit buttons that post the same form elsewhere (``formaction``), by their id.
    actions: dict[str, str] = field(default_factory=dict)


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.error: Optional[str] = None
        self._in_error = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("id", ""), a.get("action", ""), (a.get("method") or "get").lower()))
        elif tag == "button" and self.forms and a.get("id") and a.get("formaction"):
            self.forms[-1].actions[a["id"]] = a["formaction"]
        elif tag in ("input", "button", "select", "textarea") and self.forms and a.get("name"):
            kind = a.get("type", "text" if tag != "button" else "submit").lower()
            if tag == "button" or kind in ("submit", "image", "reset", "button"):
                return  # a button is sent only when it is the one pressed; ours carry no name
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.forms[-1].inputs.append({"name": a["name"], "type": kind, "value": a.get("value", "")})
        if a.get("id") == "error":
            self._in_error, self.error = True, ""

    def handle_endtag(self, tag: str) -> None:
        self._in_error = False

    def handle_data(self, data: str) -> None:
        if self._in_error:
            self.error = (self.error or "") + data


def parse_page(html: str) -> _PageParser:
    parser = _PageParser()
    parser.feed(html)
    return parser


@dataclass
class Answer:
    status: int
    url: str
    text: str
    headers: Mapping[str, str]


class Browser(Protocol):
    def get(self, url: str, params: Mapping[str, str]) -> Answer: ...
    def post(self, url: str, data: Mapping[str, str]) -> Answer: ...


class RequestsBrowser:
    """Over HTTP with one ``requests.Session`` (it keeps the page's cookies for the form post)."""

    def __init__(self, session: Any, timeout: float = 30):
        self.session, self.timeout = session, timeout

    def get(self, url: str, params: Mapping[str, str]) -> Answer:
        r = self.session.get(url, params=dict(params), timeout=self.timeout)
        return Answer(r.status_code, r.url, r.text, r.headers)

    def post(self, url: str, data: Mapping[str, str]) -> Answer:
        r = self.session.post(url, data=dict(data), allow_redirects=False, timeout=self.timeout)
        return Answer(r.status_code, r.url, r.text, r.headers)


class FlaskBrowser:
    """In process against a Flask app's test client (which keeps cookies too)."""

    def __init__(self, client: Any, base: str = "http://localhost"):
        self.client, self.base = client, base

    def get(self, url: str, params: Mapping[str, str]) -> Answer:
        path = urlsplit(url).path or "/gateway"
        r = self.client.get(path, query_string=dict(params))
        return Answer(r.status_code, self.base + path, r.get_data(as_text=True), r.headers)

    def post(self, url: str, data: Mapping[str, str]) -> Answer:
        path = urlsplit(url).path
        r = self.client.post(path, data=dict(data))
        return Answer(r.status_code, self.base + path, r.get_data(as_text=True), r.headers)


def parse_request(text_or_obj: Any, bank_url: str = "") -> tuple[str, dict[str, str]]:
    """``(gateway URL, the four envelope fields)`` from a URL or a JSON object (text or dict).

    JSON: ``{depositoryUrl|url, serviceName, platformNo, reqData, signature}``; the URL defaults to
    ``<bank_url>/gateway``. A URL: its query carries the four fields.
    """
    obj = text_or_obj
    if isinstance(obj, str):
        text = obj.strip()
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except ValueError as exc:
                raise GatewayError(f"REQUEST is not valid JSON: {exc}") from None
        else:
            parts = urlsplit(text)
            if parts.scheme not in ("http", "https") and not parts.path.startswith("/"):
                raise GatewayError("REQUEST must be a gateway URL with the four envelope fields, or a JSON object")
            query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            missing = [f for f in ENVELOPE_FIELDS if f not in query]
            if missing:
                raise GatewayError(f"the URL lacks {', '.join(missing)}")
            url = text.split("?", 1)[0]
            if not parts.scheme:
                url = _join(bank_url, url)
            return url, {f: query[f] for f in ENVELOPE_FIELDS}
    if not isinstance(obj, dict):
        raise GatewayError("REQUEST must be a gateway URL or a JSON object")
    missing = [f for f in ENVELOPE_FIELDS if not isinstance(obj.get(f), str) or not obj.get(f)]
    if missing:
        raise GatewayError(f"REQUEST lacks {', '.join(missing)} (text)")
    url = obj.get("depositoryUrl") or obj.get("url") or ""
    if not isinstance(url, str):
        raise GatewayError("depositoryUrl must be text")
    if not url or not urlsplit(url).scheme:
        if not bank_url and not url:
            raise GatewayError("REQUEST has no depositoryUrl; give --bank-url")
        url = _join(bank_url, url or "/gateway")
    return url, {f: obj[f] for f in ENVELOPE_FIELDS}


def _join(base: str, path: str) -> str:
    if not base:
        return path
    return base.rstrip("/") + "/" + path.lstrip("/")


def _fill(form: Form, password: str, confirm_password: Optional[str], outcome: str) -> dict[str, str]:
    data = {i["name"]: i["value"] for i in form.inputs}
    names = [i["name"] for i in form.inputs if i["type"] == "password"]
    confirm = password if confirm_password is None else confirm_password
    wrong = password + "-wrong"
    if "prePassword" in names:  # the legacy page: prePassword first, password confirms it
        data["prePassword"] = password
        data["password"] = wrong if outcome == "wrong_password" else confirm
        return data
    if "confirmPassword" in names:  # opening an account: a wrong password is a confirmation that differs
        data["password"] = password
        data["confirmPassword"] = wrong if outcome == "wrong_password" else confirm
    elif "password" in names:
        data["password"] = wrong if outcome == "wrong_password" else password
    return data


def _callback_query(location: str) -> dict[str, list[str]]:
    """The callback's parameters: in its query, or (a single-page front end, as the original's) in the
    query inside its fragment, ``…/#/pages/common/success?st=1&code=0``."""
    parts = urlsplit(location)
    query = parse_qs(parts.query)
    if "code" not in query and "?" in parts.fragment:
        query = parse_qs(parts.fragment.split("?", 1)[1])
    return query


def complete(browser: Browser, url: str, fields: Mapping[str, str], password: str,
             confirm_password: Optional[str] = None, outcome: str = "success") -> dict[str, Any]:
    """Act as the user on one gateway request; ``{code, msg, location}`` of the redirect.

    Raises :class:`GatewayError` when the page (or the form post) shows an error instead.
    """
    if outcome not in OUTCOMES:
        raise GatewayError(f"outcome must be one of {', '.join(OUTCOMES)}")
    page = browser.get(url, {k: fields[k] for k in ENVELOPE_FIELDS})
    parsed = parse_page(page.text)
    wanted = "cancel" if outcome == "cancel" else "confirm"
    form = next((f for f in parsed.forms if f.id == wanted), None)
    action = form.action if form is not None else ""
    if form is None and outcome == "cancel":  # the page's cancel button posts the confirm form elsewhere
        form = next((f for f in parsed.forms if "cancel" in f.actions), None)
        action = form.actions["cancel"] if form is not None else ""
    if form is None:
        if parsed.error is not None:
            raise GatewayError(parsed.error.strip(), page.status)
        if outcome == "cancel" and any(f.id == "confirm" for f in parsed.forms):
            raise GatewayError("the page offers no cancel action", page.status)
        raise GatewayError(f"no gateway form on the page (HTTP {page.status})", page.status)
    data = {i["name"]: i["value"] for i in form.inputs} if outcome == "cancel" else \
        _fill(form, password, confirm_password, outcome)
    done = browser.post(urljoin(page.url, action), data)
    if done.status not in (301, 302, 303, 307):
        error = parse_page(done.text).error
        raise GatewayError(error.strip() if error else f"HTTP {done.status}", done.status)
    location = done.headers.get("Location", "")
    query = _callback_query(location)
    try:
        code = int(query["code"][-1])
    except (KeyError, ValueError):
        raise GatewayError(f"the redirect carries no code: {location}", done.status) from None
    return {"code": code, "msg": query.get("msg", [""])[-1], "location": location}
