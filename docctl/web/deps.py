"""Request dependencies: the application state, who is calling, and the authorization every route declares.

Every route declares exactly one of `Public()`, `Require(...)` or `RequireApi(...)`; `tests/web/test_authz.py`
walks the registered routes and checks that this holds and that each refuses whom it should.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from docctl.audit.log import RequestInfo
from docctl.blobstore.base import BlobStore
from docctl.clock import Clock
from docctl.config import Settings
from docctl.db.models import User
from docctl.db.session import Database
from docctl.domain.policy import Permission
from docctl.errors import NotAuthenticated, PasswordChangeRequired, PermissionDenied
from docctl.services import accounts, sessions
from docctl.services.credentials import AccountConfig
from docctl.services.principal import Principal
from docctl.web import security


@dataclass
class AppState:
    settings: Settings
    db: Database
    clock: Clock
    accounts: AccountConfig
    blobs: BlobStore

    @property
    def https(self) -> bool:
        return self.settings.secure_cookies

    @property
    def session_cookie(self) -> str:
        return security.session_cookie_name(self.https)


def app_state(request: Request) -> AppState:
    return request.app.state.docctl


def request_info(request: Request) -> RequestInfo:
    client = request.client.host if request.client else ""
    return RequestInfo(ip=client, user_agent=request.headers.get("user-agent", "")[:400])


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of one request."""

    principal: Principal
    user: User
    session_token: str | None = None  # browser session
    session_id: uuid.UUID | None = None
    csrf_token: str = ""

    @property
    def via_api(self) -> bool:
        return self.session_token is None


class Public:
    """Marks a route anyone may call (the login page, static files, health). Still CSRF-checks form posts."""

    async def __call__(self, request: Request) -> None:
        if request.method not in security.SAFE_METHODS and not request.url.path.startswith("/api/"):
            state = app_state(request)
            security.check_same_origin(request.headers, state.settings.base_url)
            supplied = await _supplied_csrf(request)
            binding = request.cookies.get(security.anon_cookie_name(state.https))
            security.check_csrf(state.accounts.secret, f"anon:{binding}" if binding else None, supplied)


async def _supplied_csrf(request: Request) -> str | None:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else None
    return None


class Require:
    """A browser page or form: a live session, the permission (None = any logged-in user), and CSRF on posts."""

    def __init__(self, permission: Permission | None = None, *, allow_password_change: bool = False) -> None:
        self.permission = permission
        self.allow_password_change = allow_password_change

    async def __call__(self, request: Request) -> Caller:
        state = app_state(request)
        token = request.cookies.get(state.session_cookie)
        if not token:
            raise NotAuthenticated()
        caller = await run_in_threadpool(self._resolve, state, token, request)
        request.state.caller = caller
        if request.method not in security.SAFE_METHODS:
            security.check_same_origin(request.headers, state.settings.base_url)
            security.check_csrf(state.accounts.secret, f"session:{token}", await _supplied_csrf(request))
        must_change = caller.user.password_set_by_admin or accounts.password_expired(
            state.accounts, caller.user, state.clock.now()
        )
        if must_change and not self.allow_password_change:
            raise PasswordChangeRequired()
        if self.permission is not None and not caller.principal.can(self.permission):
            raise PermissionDenied()
        return caller

    def _resolve(self, state: AppState, token: str, request: Request) -> Caller:
        at = state.clock.now()
        with state.db.read() as s:
            found = sessions.lookup(s, state.accounts, token, at=at)
        if isinstance(found, str):
            if found in ("timeout", "expired"):
                with state.db.unit_of_work() as s:
                    sessions.end_stale(s, token, found, at=at, request=request_info(request))
                raise NotAuthenticated("Your session timed out; please log in again.")
            raise NotAuthenticated()
        if found.needs_touch:
            with state.db.unit_of_work() as s:
                sessions.touch(s, token, at=at)
        return Caller(
            principal=Principal.of(found.user),
            user=found.user,
            session_token=token,
            session_id=found.web.id,
            csrf_token=security.csrf_token_for(state.accounts.secret, f"session:{token}"),
        )


class RequireApi:
    """A JSON API call: a bearer token and the permission (None = any authenticated caller)."""

    def __init__(self, permission: Permission | None = None) -> None:
        self.permission = permission

    async def __call__(self, request: Request) -> Caller:
        state = app_state(request)
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticated("A bearer token is required (POST /api/v1/auth/token).")
        caller = await run_in_threadpool(self._resolve, state, token.strip())
        if self.permission is not None and not caller.principal.can(self.permission):
            raise PermissionDenied()
        return caller

    def _resolve(self, state: AppState, token: str) -> Caller:
        with state.db.read() as s:
            found = sessions.resolve_token(s, token, at=state.clock.now())
            if found is None:
                raise NotAuthenticated("The token is not valid (unknown, expired or revoked).")
            _, user = found
            return Caller(principal=Principal.of(user), user=user)


State = Annotated[AppState, Depends(app_state)]
Info = Annotated[RequestInfo, Depends(request_info)]
