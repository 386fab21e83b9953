"""User administration pages: list, create, roles, deactivate, reset password, unlock."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from docctl.domain.policy import ROLE_TITLES, Permission, Role
from docctl.errors import DocctlError
from docctl.services import accounts, audit_trail, training
from docctl.web.deps import Caller, Info, Require, State
from docctl.web.errors import status_for
from docctl.web.render import render

router = APIRouter(prefix="/admin/users")

Manager = Annotated[Caller, Depends(Require(Permission.USERS_MANAGE))]
Reader = Annotated[Caller, Depends(Require(Permission.USERS_READ))]
Reason = Annotated[str, Form(max_length=2000)]


@router.get("")
def list_users(request: Request, state: State, caller: Reader, show: str = "active") -> Response:
    with state.db.read() as s:
        users = accounts.list_users(s, principal=caller.principal, include_deactivated=(show == "all"))
    return render(request, "pages/admin/users.html", caller=caller, users=users, show=show)


@router.get("/new")
def new_user_page(request: Request, caller: Manager) -> Response:
    return render(request, "pages/admin/user_new.html", caller=caller, error=None, form={})


@router.post("")
def create_user(
    request: Request,
    state: State,
    info: Info,
    caller: Manager,
    username: Annotated[str, Form(max_length=64)],
    full_name: Annotated[str, Form(max_length=200)],
    title: Annotated[str, Form(max_length=200)] = "",
    email: Annotated[str, Form(max_length=200)] = "",
    time_zone: Annotated[str, Form(max_length=64)] = "UTC",
    department: Annotated[str, Form(max_length=12)] = "",
    roles: Annotated[list[str] | None, Form(max_length=32)] = None,
) -> Response:
    form = {"username": username, "full_name": full_name, "title": title, "email": email, "time_zone": time_zone,
            "department": department, "roles": roles or []}
    try:
        with state.db.unit_of_work() as s:
            created = accounts.create_user(
                s, state.accounts, principal=caller.principal, username=username, full_name=full_name,
                title=title, email=email, time_zone=time_zone, department=department, roles=roles or [],
                at=state.clock.now(),
                request=info,
            )
    except (DocctlError, ValueError) as exc:
        message = exc.message if isinstance(exc, DocctlError) else "One of the roles is not known."
        return render(request, "pages/admin/user_new.html", caller=caller, error=message, form=form,
                      status_code=422)
    return _detail(request, state, caller, created.user.id, temporary_password=created.temporary_password,
                   status_code=201)


def _detail(request: Request, state: State, caller: Caller, user_id: uuid.UUID, *,
            temporary_password: str | None = None, message: str | None = None, error: str | None = None,
            status_code: int = 200) -> Response:
    with state.db.read() as s:
        user = accounts.get_user(s, user_id)
        grants = sorted(user.grants, key=lambda g: g.granted_at, reverse=True)
        everyone = accounts.list_users(s, principal=caller.principal)
        names = {u.id: u.username for u in everyone}
        full_names = {u.id: u.full_name for u in everyone}
        job_functions = training.grants_of(s, user.id)
        trail = audit_trail.record_trail(s, principal=caller.principal, filters=audit_trail.TrailFilter(
            subject_type="user", subject_id=str(user.id)))
    return render(
        request, "pages/admin/user_detail.html", "partials/_user_panel.html", caller=caller, user=user,
        trail=trail, trail_title="Audit trail of this account",
        trail_url=f"/audit?subject_type=user&subject_id={user.id}",
        grants=grants, names=names, full_names=full_names, temporary_password=temporary_password, message=message,
        error=error, job_functions=job_functions,
        all_roles=[r.value for r in Role], status_code=status_code,
    )


@router.get("/{user_id}")
def user_detail(request: Request, user_id: uuid.UUID, state: State, caller: Reader) -> Response:
    return _detail(request, state, caller, user_id)


def _act(request: Request, state: State, caller: Caller, user_id: uuid.UUID, action, done: str) -> Response:  # type: ignore[no-untyped-def]
    try:
        with state.db.unit_of_work() as s:
            result = action(s)
    except DocctlError as exc:
        return _detail(request, state, caller, user_id, error=exc.message, status_code=status_for(exc))
    temp = result if isinstance(result, str) else None
    return _detail(request, state, caller, user_id, temporary_password=temp, message=done)


@router.post("/{user_id}/profile")
def update_profile(request: Request, user_id: uuid.UUID, state: State, info: Info, caller: Manager,
                   reason: Reason, title: Annotated[str, Form(max_length=200)] = "",
                   email: Annotated[str, Form(max_length=200)] = "",
                   department: Annotated[str, Form(max_length=12)] = "",
                   time_zone: Annotated[str, Form(max_length=64)] = "UTC") -> Response:
    return _act(request, state, caller, user_id, lambda s: accounts.update_profile(
        s, principal=caller.principal, user_id=user_id, title=title, email=email, department=department,
        time_zone=time_zone, reason=reason, at=state.clock.now(), request=info), "Profile updated.")


@router.post("/{user_id}/roles")
def grant(request: Request, user_id: uuid.UUID, state: State, info: Info, caller: Manager,
          role: Annotated[str, Form(max_length=32)], reason: Reason) -> Response:
    return _act(request, state, caller, user_id, lambda s: accounts.grant_role(
        s, principal=caller.principal, user_id=user_id, role=role, reason=reason, at=state.clock.now(),
        request=info), f"Role {ROLE_TITLES.get(role, role)} granted.")


@router.post("/{user_id}/roles/{role}/revoke")
def revoke(request: Request, user_id: uuid.UUID, role: str, state: State, info: Info, caller: Manager,
           reason: Reason) -> Response:
    return _act(request, state, caller, user_id, lambda s: accounts.revoke_role(
        s, principal=caller.principal, user_id=user_id, role=role, reason=reason, at=state.clock.now(),
        request=info), f"Role {ROLE_TITLES.get(role, role)} revoked.")


@router.post("/{user_id}/deactivate")
def deactivate(request: Request, user_id: uuid.UUID, state: State, info: Info, caller: Manager,
               reason: Reason) -> Response:
    return _act(request, state, caller, user_id, lambda s: accounts.deactivate_user(
        s, principal=caller.principal, user_id=user_id, reason=reason, at=state.clock.now(), request=info),
        "Account deactivated; its sessions and tokens ended.")


@router.post("/{user_id}/reset-password")
def reset_password(request: Request, user_id: uuid.UUID, state: State, info: Info, caller: Manager,
                   reason: Reason) -> Response:
    return _act(request, state, caller, user_id, lambda s: accounts.reset_password(
        s, state.accounts, principal=caller.principal, user_id=user_id, reason=reason, at=state.clock.now(),
        request=info), "Temporary password issued: hand it over securely; it must be changed at first login.")


@router.post("/{user_id}/unlock")
def unlock(request: Request, user_id: uuid.UUID, state: State, info: Info, caller: Manager,
           reason: Reason) -> Response:
    return _act(request, state, caller, user_id, lambda s: accounts.unlock_user(
        s, principal=caller.principal, user_id=user_id, reason=reason, at=state.clock.now(), request=info),
        "Account unlocked.")



@router.post("/{user_id}/verify-identity")
def verify_identity(request: Request, user_id: uuid.UUID, state: State, info: Info, caller: Manager,
                    evidence: Reason) -> Response:
    return _act(request, state, caller, user_id, lambda s: accounts.verify_identity(
        s, principal=caller.principal, user_id=user_id, evidence=evidence, at=state.clock.now(), request=info),
        "Identity verification recorded.")
