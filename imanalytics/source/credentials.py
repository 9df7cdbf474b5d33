"""Who a request speaks for: URL, auth, TLS files; secret masking and the identity hash."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from prometheus_api_client import PrometheusConnect
from requests.adapters import HTTPAdapter

from ..deadline import watch_pools
from .errors import SourceError

URL_ENV = "PROMETHEUS_URL"
TOKEN_ENV = "IMANALYTICS_BEARER_TOKEN"
TOKEN_FILE_ENV = "IMANALYTICS_BEARER_TOKEN_FILE"


def _split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without ``user:password@`` (and trailing slash), and those credentials."""
    if not url:
        raise SourceError(f"no Prometheus URL: pass one or set ${URL_ENV}")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError(f"not a Prometheus URL: {_redact(url)!r} (expected http(s)://host:port)")
    auth = None
    if parts.username is not None:
        auth = (unquote(parts.username), unquote(parts.password or ""))
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")), auth


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _redact(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", url)


def _bearer_token(token, token_file, basic_auth, headers) -> str | None:
    if token and basic_auth:
        raise SourceError("give basic_auth or a bearer token, not both")
    if token_file:
        return _read_token(token_file)
    if token:
        return token
    if basic_auth or any(k.lower() == "authorization" for k in headers or {}):
        return None
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV].strip()
    if os.environ.get(TOKEN_FILE_ENV):
        return _read_token(os.environ[TOKEN_FILE_ENV])
    return None


def _read_token(path) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError as exc:
        raise SourceError(f"cannot read the bearer token file {path}: {exc.strerror}") from None


def _request_headers(headers: dict, token: str | None, gzip: bool) -> dict:
    out = dict(headers)
    if token:
        out["Authorization"] = f"Bearer {token}"
    if not gzip:
        out.setdefault("Accept-Encoding", "identity")
    return out


def _secret_values(headers: dict, basic_auth, token) -> list[str]:
    """Every form a secret can take in text: as given, URL-quoted, and inside the base64 of
    an ``Authorization: Basic`` header (given or built from `basic_auth`)."""
    values = [str(v) for v in headers.values()]
    for value in list(values):
        scheme, _, rest = value.partition(" ")
        if scheme.lower() in ("basic", "bearer") and rest:
            values.append(rest.strip())
            values += _basic_parts(rest.strip())
    if basic_auth:
        user, password = map(str, basic_auth)
        values += [password, base64.b64encode(f"{user}:{password}".encode()).decode()]
    if token:
        values.append(token)
    values += [quote(v, safe="") for v in values]
    # Longest first, so a secret containing another is masked whole.
    return sorted({v for v in values if len(v) >= 3}, key=len, reverse=True)


def _basic_parts(encoded: str) -> list[str]:
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except ValueError:
        return []
    return [password] if password else []


def identity_hash(headers: dict, basic_auth, token) -> str:
    """A one-way digest of who a request speaks for ("" when anonymous).

    PBKDF2, not a bare hash: the digest lands in cache files, and a short password must
    not be recoverable from it by trying guesses quickly.
    """
    if not headers and not basic_auth and not token:
        return ""
    material = json.dumps({"headers": sorted((str(k).lower(), str(v)) for k, v in headers.items()),
                           "basic_auth": list(map(str, basic_auth)) if basic_auth else None,
                           "token": token}, sort_keys=True)
    digest = hashlib.pbkdf2_hmac("sha256", material.encode(), b"imanalytics-cache-identity",
                                 100_000)
    return digest.hex()


def _connect(url, headers, basic_auth, verify, ca_bundle, client_cert, timeout,
             workers) -> PrometheusConnect:
    for path in ([ca_bundle] if ca_bundle else []) + _cert_paths(client_cert):
        if not Path(path).is_file():
            raise SourceError(f"TLS file not found: {path}")
    client = PrometheusConnect(url=url, headers=headers or None, disable_ssl=not verify,
                               auth=tuple(basic_auth) if basic_auth else None, timeout=timeout)
    session = client._session
    session.verify = str(ca_bundle) if (verify and ca_bundle) else bool(verify)
    if client_cert:
        session.cert = (tuple(map(str, client_cert)) if isinstance(client_cert, tuple | list)
                        else str(client_cert))
    # Retries are ours (they honour Retry-After and name the server); the pool fits the workers.
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=max(10, workers), max_retries=0)
    watch_pools(adapter)
    session.mount(url, adapter)
    return client


def _cert_paths(client_cert) -> list:
    if not client_cert:
        return []
    return list(client_cert) if isinstance(client_cert, tuple | list) else [client_cert]


def _tls_hint(exc: Exception, client_cert) -> str:
    """What to try: trusting the server's CA when its certificate failed, else the client
    certificate (a server requiring one closes or alerts mid-handshake)."""
    if "certificate verify failed" in str(exc).lower():
        return "trust its CA with ca_bundle=..."
    if client_cert:
        return "check that the server trusts the client certificate"
    return "if it requires a client certificate, give client_cert=(cert_path, key_path)"

