"""Request checks in front of every route (a plain ASGI middleware, so streaming responses
such as SSE and file downloads pass through untouched).

* Token (when the server has one, which it must off loopback): ``Authorization: Bearer T`` (API
  clients), or the ``fluidframes_token`` cookie (``HttpOnly``, ``SameSite=Strict``) that the
  page URL ``/?token=T`` sets once, answering with a redirect to the bare ``/``. The page's
  ``<video>``, download links and ``EventSource`` then carry the cookie, never the secret in a
  URL. A token in the query of any other URL is refused: URLs end up in access logs, browser
  history and ``Referer`` headers. ``/api/health`` is open.
* No secret reaches a log line: the query string is rewritten in the request scope before the
  app runs (the access log formats the scope), and :class:`RedactFilter` masks ``token=`` in
  uvicorn's records as a second line of defence.
* Without a token the server is on loopback: the ``Host`` header must then name this machine,
  which defeats DNS-rebinding pages that would otherwise reach ``127.0.0.1`` as "same origin".
* State-changing requests (POST, DELETE, ...) must come from this server's own page or from a
  non-browser client: an ``Origin`` that is not this server, ``Origin: null`` (sandboxed
  iframes, ``file://`` pages, some redirects) and, when there is no ``Origin``, a browser's
  ``Sec-Fetch-Site: cross-site``/``same-site`` are refused (403).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl, urlencode, urlsplit

from .config import LOOPBACK_NAMES, ServerConfig

COOKIE = "fluidframes_token"
OPEN_PATHS = frozenset({"/api/health"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECRET_PARAMS = frozenset({"token", "access_token"})
MASK = "REDACTED"
_SECRET_IN_TEXT = re.compile(r"((?:access_)?token=)[^&\s\"']+", re.IGNORECASE)


def redact(text: str) -> str:
    """``...?token=abc&x=1`` -> ``...?token=REDACTED&x=1``."""
    return _SECRET_IN_TEXT.sub(lambda m: m.group(1) + MASK, text)


class RedactFilter(logging.Filter):
    """Masks ``token=...`` in a log record (uvicorn's access and error logs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logged as it is
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def install_log_redaction() -> None:
    """Add :class:`RedactFilter` to uvicorn's loggers (once)."""
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactFilter) for f in logger.filters):
            logger.addFilter(RedactFilter())


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def token_matches(given: str | None, expected: str) -> bool:
    return bool(given) and secrets.compare_digest(given.encode(), expected.encode())


def session_value(token: str) -> str:
    """What the page's cookie holds: derived from the token (any characters are safe in it, and
    the cookie never holds the secret itself)."""
    return hmac.new(token.encode(), b"fluidframes page session v1", hashlib.sha256).hexdigest()


class SecurityMiddleware:
    def __init__(self, app, config: ServerConfig) -> None:
        self.app = app
        self.config = config
        hosts = set(LOOPBACK_NAMES) | {h.lower() for h in config.extra_hosts}
        hosts.add(config.host.lower())
        self.allowed_hosts = hosts

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        query_token = self._take_query_secret(scope)
        if scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        problem = self._check(scope, headers, host, query_token)
        if problem == "login":
            await self._respond(send, 303, b"", [
                (b"location", b"/"), (b"cache-control", b"no-store"),
                (b"set-cookie", (f"{COOKIE}={session_value(self.config.token)}; Path=/; HttpOnly; "
                                 "SameSite=Strict").encode("latin-1"))])
            return
        if problem is not None:
            status, message = problem
            body = json.dumps({"detail": message}).encode()
            extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
            await self._respond(send, status, body, [(b"content-type", b"application/json"),
                                                     *extra])
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _respond(send, status: int, body: bytes, headers: list) -> None:
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-length", str(len(body)).encode()), *headers]})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _take_query_secret(scope) -> str | None:
        """Remove a token from the request's query string (so neither the app nor the access
        log sees it); return it."""
        raw = scope.get("query_string", b"")
        if not raw or not any(p.encode() in raw.lower() for p in SECRET_PARAMS):
            return None
        pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
        found = [v for k, v in pairs if k.lower() in SECRET_PARAMS]
        if not found:
            return None
        scope["query_string"] = urlencode(
            [(k, MASK if k.lower() in SECRET_PARAMS else v) for k, v in pairs]).encode("latin-1")
        return found[-1]

    def _check(self, scope, headers: dict[str, str], host: str,
               query_token: str | None) -> tuple[int, str] | str | None:
        token = self.config.token
        if token is None and _hostname(host) not in self.allowed_hosts:
            return 403, (f"host {host[:100]!r} is not allowed: this server answers on loopback "
                         "only (start it with --token to serve other names)")
        method = scope.get("method", "GET")
        if method not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None:
                if origin.strip().lower() == "null":
                    return 403, ("cross-origin request refused: Origin null (a sandboxed frame or "
                                 "a local file) may not change anything here")
                if urlsplit(origin).netloc.lower() != host.lower():
                    return 403, f"cross-origin request from {origin[:100]} refused"
            elif headers.get("sec-fetch-site", "").lower() in ("cross-site", "same-site"):
                return 403, "cross-site request refused (it did not come from this server's page)"
        if token is None:
            return None
        if query_token is not None:
            if scope["path"] == "/" and method == "GET" and token_matches(query_token, token):
                return "login"  # set the cookie, then the bare URL (no secret left in it)
            return 401, ("a token in the URL is refused (URLs end up in logs): send "
                         "'Authorization: Bearer <token>', or open the page as /?token=<token>")
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and token_matches(auth[7:].strip(), token):
            return None
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001, S110 - a malformed cookie header is just no cookie
            pass
        if COOKIE in cookie and token_matches(cookie[COOKIE].value, session_value(token)):
            return None
        return 401, "missing or wrong token: send 'Authorization: Bearer <token>'"
