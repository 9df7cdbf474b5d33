"""The Go standard-library behaviour Prometheus' template functions build on, for
`templates`: url.QueryEscape (``graphLink``, ``tableLink``), net.SplitHostPort and
net.ParseIP (``stripPort``, ``stripDomain``), url.URL's Path (``pathPrefix``),
model.ParseDuration (``parseDuration``), strconv.Quote, and text/template's escapers
(``html``, ``js``, ``urlquery``)."""

from __future__ import annotations

import ipaddress
import json
import re
from urllib.parse import quote_plus, unquote, urlsplit


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (strconv.Quote) for printable text."""
    return json.dumps(text, ensure_ascii=False)


_HTML = {'"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;", "\0": "\ufffd"}
_JS = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E",
       "&": "\\u0026", "=": "\\u003D"}


def html_escape(text: str) -> str:
    """template.HTMLEscapeString."""
    return "".join(_HTML.get(c, c) for c in text)


def js_escape(text: str) -> str:
    """template.JSEscapeString: quotes, backslashes and HTML's specials escaped, control
    characters and unprintable runes as ``\\uXXXX``."""
    return "".join(_JS.get(c) or (c if c >= " " and (c < "\x80" or c.isprintable())
                                  else f"\\u{ord(c):04X}") for c in text)


def url_query_escape(text: str) -> str:
    """url.QueryEscape."""
    return quote_plus(text, safe="")


def graph_link(expr: str) -> str:
    """strutil.GraphLinkForExpression."""
    return f"/graph?g0.expr={quote_plus(expr, safe='')}&g0.tab=0"


def table_link(expr: str) -> str:
    """strutil.TableLinkForExpression."""
    return f"/graph?g0.expr={quote_plus(expr, safe='')}&g0.tab=1"


def split_host_port(text: str) -> tuple[str, str]:
    """net.SplitHostPort: ("host", "port") of ``host:port`` or ``[host]:port``; a
    `ValueError` for anything else."""
    colon = text.rfind(":")
    if colon < 0:
        raise ValueError("missing port in address")
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or end + 1 != colon:
            raise ValueError("bad bracketed address")
        host, rest = text[1:end], text[end + 1:]
        if "[" in host or "]" in rest:
            raise ValueError("unexpected bracket in address")
        return host, text[colon + 1:]
    host = text[:colon]
    if ":" in host or "[" in text or "]" in text:
        raise ValueError("too many colons or brackets in address")
    return host, text[colon + 1:]


def strip_port(text: str) -> str:
    try:
        return split_host_port(text)[0]
    except ValueError:
        return text


def strip_domain(text: str) -> str:
    try:
        host, port = split_host_port(text)
    except ValueError:
        host, port = text, ""
    if _is_ip(host):
        return text
    host = host.split(".")[0]
    if not port:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # net.JoinHostPort


def _is_ip(text: str) -> bool:
    """net.ParseIP accepts it (no IPv6 zone, no leading zeros, as Go's)."""
    if "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def path_prefix(url: str) -> str:
    """url.URL's Path (decoded) of `url`."""
    return unquote(urlsplit(url).path)


_DURATION = re.compile(r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?"
                       r"(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?")  # ASCII digits, as Go
_UNIT_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)
_MAX_NS = 2**63 - 1


def parse_duration(text: str) -> float:
    """model.ParseDuration of `text`, in seconds."""
    if text == "0":
        return 0.0
    if not text:
        raise ValueError("empty duration string")
    match = _DURATION.fullmatch(text)
    if not match:
        raise ValueError(f"not a valid duration string: {go_quote(text)}")
    ms = sum(int(n) * unit for n, unit in zip(match.groups(), _UNIT_MS, strict=True) if n)
    if ms * 1_000_000 > _MAX_NS:
        raise ValueError("duration out of range")
    return ms / 1000
