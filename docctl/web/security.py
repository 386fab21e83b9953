"""HTTP hardening: security headers, request-size limits, CSRF tokens, cookie settings."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from docctl.errors import PermissionDenied
from docctl.services.credentials import keyed

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SecurityHeaders:
    """Adds the security headers to every response."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", CSP.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if https:
            self.headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend(h for h in self.headers if h[0] not in present)
                if not is_static and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Refuses request bodies over a limit with 413, whether or not a Content-Length was sent."""

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = True
            if too_big:
                await _too_large(scope, receive, send, limit)
                return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # raised inside the app, so its exception handlers answer 413 whatever was reading the body
                    raise HTTPException(413, f"The request body is larger than the limit of {limit:,} bytes.")
            return message

        await self.app(scope, counting_receive, send)


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    message = f"The request body is larger than the limit of {limit:,} bytes."
    if scope["path"].startswith("/api/"):
        response = JSONResponse({"error": {"code": "TooLarge", "message": message}}, status_code=413)
    else:
        response = PlainTextResponse(message, status_code=413)
    await response(scope, receive, send)


def session_cookie_name(https: bool) -> str:
    # the __Host- prefix pins the cookie to this host, path / and https
    return "__Host-docctl_session" if https else "docctl_session"


def anon_cookie_name(https: bool) -> str:
    return "__Host-docctl_anon" if https else "docctl_anon"


def cookie_options(https: bool) -> dict[str, object]:
    return {"httponly": True, "samesite": "strict", "secure": https, "path": "/"}


def new_anon_id() -> str:
    return secrets.token_urlsafe(24)


def csrf_token_for(secret: bytes, binding: str) -> str:
    """The CSRF token is bound to the session (or, before login, to a random anonymous cookie): a form from
    another session, or from before a logout, is refused."""
    return keyed(secret, "csrf", binding)


def check_csrf(secret: bytes, binding: str | None, supplied: str | None) -> None:
    if not binding or not supplied or not hmac.compare_digest(csrf_token_for(secret, binding), supplied):
        raise PermissionDenied("The form has expired or did not come from this site; reload the page and try again.")


def check_same_origin(headers: Headers, base_url: str) -> None:
    """Refuse a state-changing request that a browser tells us comes from another site."""
    if headers.get("sec-fetch-site") == "cross-site":
        raise PermissionDenied("Cross-site requests are refused.")
    origin = headers.get("origin")
    if origin and origin != "null":
        allowed = {_origin(base_url)}
        host = headers.get("host")
        if host:
            allowed.update({f"http://{host}", f"https://{host}"})
        if _origin(origin) not in allowed:
            raise PermissionDenied("Cross-site requests are refused.")
    elif origin == "null":
        raise PermissionDenied("Cross-site requests are refused.")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
