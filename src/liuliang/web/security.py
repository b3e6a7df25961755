"""Who may reach the dashboard: loopback by default, a token for anything else, and the token on every request.

The dashboard shows a company's retention and revenue, so the safe default is to be reachable only from the machine
it runs on. Binding any other address without a token would publish those numbers to the network, so it is refused
outright rather than warned about. With a token, every request (page, script, API) must carry it:

- ``Authorization: Bearer <token>`` (what the page's own API calls send),
- ``?token=<token>`` in the URL (how a person opens the page; the page then moves it out of the address bar), or
- the ``liuliang_token`` cookie the server sets on that first page load (so ``<script src>`` requests pass too; it is
  ``HttpOnly`` and ``SameSite=Strict``, and every endpoint only reads).

Tokens are compared with :func:`secrets.compare_digest`, so timing does not reveal how much of a guess was right.
Without a token, requests must name a loopback host in their ``Host`` header: a web page elsewhere that points its
own domain at 127.0.0.1 (DNS rebinding) cannot read the numbers through the reader's browser.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from liuliang.errors import LiuliangError

TOKEN_ENV = "LIULIANG_TOKEN"
TOKEN_COOKIE = "liuliang_token"
#: Short tokens can be guessed by trying; ``secrets.token_urlsafe()`` gives 43 characters.
MIN_TOKEN_LENGTH = 16
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})

#: Headers on every response: no framing, no MIME sniffing, no Referer (a URL may still hold the token), and a
#: content policy allowing only this server's scripts (Plotly sets inline styles, hence 'unsafe-inline' for styles).
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: addresses only this machine can reach."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def resolve_token(token: str | None, environ: MutableMapping[str, str] | None = None) -> str | None:
    """The token from ``--token`` or else ``$LIULIANG_TOKEN``; blank means none."""
    env = os.environ if environ is None else environ
    value = token if token else env.get(TOKEN_ENV)
    value = (value or "").strip()
    return value or None


def check_binding(host: str, token: str | None) -> None:
    """Refuse to serve on a non-loopback address without a token, and any too-short token.

    Raises :class:`~liuliang.errors.LiuliangError` with the fix in the message.
    """
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise LiuliangError(
            f"the token is {len(token)} characters; use at least {MIN_TOKEN_LENGTH} "
            '(e.g. python -c "import secrets; print(secrets.token_urlsafe())")'
        )
    if token is None and not is_loopback(host):
        raise LiuliangError(
            f"refusing to serve on {host} without a token: anyone who can reach that address would see the "
            f"workspace's numbers. Bind 127.0.0.1 (the default), or set a token with --token or ${TOKEN_ENV} "
            "and open the page with ?token=<token>"
        )


def token_matches(given: str | None, token: str) -> bool:
    if not given:
        return False
    return secrets.compare_digest(given.encode(), token.encode())


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {k.lower(): v for k, v in scope.get("headers", [])}


def presented_token(scope: Scope) -> str | None:
    """The token a request carries: Authorization header first, then ``?token=``, then the cookie."""
    headers = _headers(scope)
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0]
    cookie = headers.get(b"cookie")
    if cookie:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(cookie.decode("latin-1"))
        except Exception:  # a malformed cookie header is simply no token
            return None
        if TOKEN_COOKIE in jar:
            return jar[TOKEN_COOKIE].value
    return None


class AccessGuard:
    """ASGI middleware: the token rule (or, without a token, the loopback ``Host`` rule) and the security headers.

    A plain ASGI wrapper rather than Starlette's ``BaseHTTPMiddleware``: it adds nothing to the cached path's latency
    and also guards the static files and the OpenAPI schema.
    """

    def __init__(self, app: ASGIApp, *, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets here
            return
        if self.token is None:
            host = _headers(scope).get(b"host", b"").decode("latin-1")
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if not is_loopback(name):
                await _reply(send, 400, f"this dashboard answers only to localhost, not to host {host!r}")
                return
        elif not token_matches(presented_token(scope), self.token):
            await _reply(
                send, 401, "this dashboard needs its token: open it as /?token=<token> or send Authorization: Bearer"
            )
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="liuliang"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
