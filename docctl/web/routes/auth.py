"""Logging in and out, the dashboard, and changing one's own password."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from docctl.domain.passwords import MAX_PASSWORD_LENGTH
from docctl.errors import LoginFailed, PasswordPolicyViolation
from docctl.services import accounts, approvals, notifications, sessions, training
from docctl.web import security
from docctl.web.deps import Caller, Info, Public, Require, State
from docctl.web.render import render

router = APIRouter()

Username = Annotated[str, Form(max_length=64)]
Password = Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)]


def _safe_next(target: str | None) -> str:
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


@router.get("/login", dependencies=[Depends(Public())])
def login_page(request: Request, next: str = "", timeout: int = 0) -> Response:  # noqa: A002
    return render(request, "pages/login.html", next=_safe_next(next), error=None, username="")


@router.post("/login", dependencies=[Depends(Public())])
def login(
    request: Request, state: State, info: Info, username: Username, password: Password,
    next: Annotated[str, Form(max_length=2000)] = "/",  # noqa: A002
) -> Response:
    with state.db.read() as s:
        verdict = sessions.verify_credentials(s, state.accounts, username=username, password=password)
    with state.db.unit_of_work() as s:
        outcome = sessions.login(s, state.accounts, verdict=verdict, at=state.clock.now(), request=info)
    if not outcome.ok or outcome.token is None:
        return render(
            request, "pages/login.html", status_code=401, next=_safe_next(next), error=LoginFailed.message,
            username=username,
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(state.session_cookie, outcome.token, **security.cookie_options(state.https))
    response.delete_cookie(security.anon_cookie_name(state.https), path="/")
    return response


@router.post("/logout")
def logout(request: Request, state: State, info: Info,
           caller: Annotated[Caller, Depends(Require(allow_password_change=True))]) -> Response:
    assert caller.session_token is not None
    with state.db.unit_of_work() as s:
        sessions.logout(s, caller.session_token, at=state.clock.now(), request=info)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(state.session_cookie, path="/")
    return response


@router.get("/")
def dashboard(request: Request, state: State, caller: Annotated[Caller, Depends(Require())]) -> Response:
    with state.db.read() as s:
        unread = notifications.unread_for(s, caller.user.id)
        previous = sessions.previous_login(s, caller.user.id, caller.session_id)
        tasks = [(t, r, r.document) for t, r in approvals.open_tasks(s, caller.user.id)]
        training_tasks = [(a, r) for a, r in training.my_assignments(s, caller.user.id) if a.state == "open"]
    return render(request, "pages/dashboard.html", caller=caller, notifications=unread, tasks=tasks,
                  previous_login=previous, esig_ready=accounts.signing_readiness(caller.user).ready,
                  training_tasks=training_tasks, now=state.clock.now())


@router.post("/notifications/{notification_id}/read")
def notification_read(
    request: Request, notification_id: uuid.UUID, state: State, caller: Annotated[Caller, Depends(Require())]
) -> Response:
    with state.db.unit_of_work() as s:
        notifications.mark_read(s, user_id=caller.user.id, notification_id=notification_id, at=state.clock.now())
    if not request.headers.get("HX-Request"):
        return RedirectResponse("/", status_code=303)
    with state.db.read() as s:
        unread = notifications.unread_for(s, caller.user.id)
    return render(request, "partials/_notifications.html", caller=caller, notifications=unread)


@router.get("/account/password")
def password_page(
    request: Request, state: State, caller: Annotated[Caller, Depends(Require(allow_password_change=True))]
) -> Response:
    return render(request, "pages/password.html", caller=caller, error=None, policy=state.accounts.policy,
                  forced=_forced(state, caller))


def _forced(state: State, caller: Caller) -> bool:
    return caller.user.password_set_by_admin or accounts.password_expired(
        state.accounts, caller.user, state.clock.now()
    )


@router.post("/account/password")
def change_password(
    request: Request,
    state: State,
    info: Info,
    caller: Annotated[Caller, Depends(Require(allow_password_change=True))],
    current_password: Password,
    new_password: Password,
    confirm_password: Password,
) -> Response:
    def page(error: str, status: int) -> Response:
        return render(request, "pages/password.html", caller=caller, error=error, policy=state.accounts.policy,
                      forced=_forced(state, caller), status_code=status)

    if new_password != confirm_password:
        return page("The new password and its confirmation differ.", 422)
    try:
        with state.db.read() as s:
            change = accounts.prepare_password_change(
                s, state.accounts, user_id=caller.user.id, current_password=current_password,
                new_password=new_password, at=state.clock.now(),
            )
    except PasswordPolicyViolation as exc:
        return page(exc.message, 422)
    with state.db.unit_of_work() as s:
        ok = accounts.change_password(s, state.accounts, change=change, at=state.clock.now(), request=info)
    if not ok:
        return page("The current password is not correct.", 422)
    return RedirectResponse("/?password=changed", status_code=303)

