"""Request checks in front of every route (a plain ASGI middleware, so streaming responses
such as SSE and file downloads pass through untouched).

* Token (when the server has one, which it must off loopback): ``Authorization: Bearer T``, or
  ``?token=T`` for URLs the page hands to ``<video>``, ``<a download>`` and ``EventSource``
  (which cannot set headers), or the ``fluidframes_token`` cookie that the page URL sets
  (``SameSite=Strict``, so other sites' requests never carry it). ``/api/health`` is open.
* Without a token the server is on loopback: the ``Host`` header must then name this machine,
  which defeats DNS-rebinding pages that would otherwise reach ``127.0.0.1`` as "same origin".
* Unsafe methods with an ``Origin`` header that is not this server are refused, so a web page
  the user visits cannot post uploads or cancel jobs through the user's browser.
"""

from __future__ import annotations

import json
import secrets
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

from .config import LOOPBACK_NAMES, ServerConfig

COOKIE = "fluidframes_token"
OPEN_PATHS = frozenset({"/api/health"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def token_matches(given: str | None, expected: str) -> bool:
    return bool(given) and secrets.compare_digest(given.encode(), expected.encode())


class SecurityMiddleware:
    def __init__(self, app, config: ServerConfig) -> None:
        self.app = app
        self.config = config
        hosts = set(LOOPBACK_NAMES) | {h.lower() for h in config.extra_hosts}
        hosts.add(config.host.lower())
        self.allowed_hosts = hosts

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        problem = self._check(scope, headers, host)
        if problem is not None:
            status, message = problem
            body = json.dumps({"detail": message}).encode()
            extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
            await send({"type": "http.response.start", "status": status, "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()), *extra]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    def _check(self, scope, headers: dict[str, str], host: str) -> tuple[int, str] | None:
        token = self.config.token
        if token is None and _hostname(host) not in self.allowed_hosts:
            return 403, (f"host {host!r} is not allowed: this server answers on loopback only "
                         "(start it with --token to serve other names)")
        origin = headers.get("origin")
        unsafe = scope.get("method", "GET") not in SAFE_METHODS
        if unsafe and origin and origin != "null" and urlsplit(origin).netloc.lower() != host.lower():
            return 403, f"cross-origin request from {origin} refused"
        if token is None:
            return None
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and token_matches(auth[7:].strip(), token):
            return None
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if token_matches((query.get("token") or [None])[0], token):
            return None
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001, S110 - a malformed cookie header is just no cookie
            pass
        if COOKIE in cookie and token_matches(cookie[COOKIE].value, token):
            return None
        return 401, "missing or wrong token: send 'Authorization: Bearer <token>' or ?token=<token>"
