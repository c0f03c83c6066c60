"""Security headers on every answer of both apps (HTML pages and JSON alike).

No framing (``X-Frame-Options: DENY``, ``frame-ancestors 'none'``), no referrer
(a gateway URL carries a signed request), and a Content-Security-Policy that
allows only the app's own scripts and no inline script. A gateway page widens
``form-action`` to the one origin its form's redirect leads to (the platform's
callback), since browsers check form-action along the redirect. Stdlib only.
"""
from __future__ import annotations

from collections.abc import MutableMapping
from urllib.parse import urlsplit

CSP_HEADER = "Content-Security-Policy"


def csp(form_origins: tuple[str, ...] = ()) -> str:
    form_action = " ".join(("'self'", *form_origins))
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
            f" connect-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none';"
            f" form-action {form_action}")


def origin(url: str) -> str:
    """``scheme://host[:port]`` of an http(s) URL ('' for anything else)."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c in parts.netloc for c in " ;,'\""):
        return ""
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


_DEFAULT_CSP = csp()
#: (lower-case name, name, value) of every hygiene header, in the order they are added.
_HEADERS = tuple((name.lower(), name, value) for name, value in (
    ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"), ("X-Content-Type-Options", "nosniff"),
    (CSP_HEADER, _DEFAULT_CSP)))


def apply(headers: MutableMapping[str, str]) -> None:
    """Set the hygiene headers on a response's headers (a header already set, such as a page's own
    CSP, is kept); the existing names are read once, not once per header."""
    present = {str(name).lower() for name in headers.keys()}
    add = getattr(headers, "add", None)  # werkzeug's Headers: append, without scanning the list again
    for lower, name, value in _HEADERS:
        if lower not in present:
            if add is not None:
                add(name, value)
            else:
                headers[name] = value
