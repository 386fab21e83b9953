"""The JSON API, `/api/v1`: bearer tokens, the caller, user administration, the audit trail."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from docctl.audit.tags import Tag
from docctl.db.models import User
from docctl.domain.passwords import MAX_PASSWORD_LENGTH
from docctl.domain.policy import Permission, Role, permissions_of
from docctl.errors import AuditTampered, LoginFailed, PasswordChangeRequired
from docctl.services import accounts, audit_trail, sessions, training
from docctl.web.deps import Caller, Info, Public, RequireApi, State
from docctl.web.routes.audit import export_response, pdf_response, report_filter

router = APIRouter(prefix="/api/v1")

Admin = Annotated[Caller, Depends(RequireApi(Permission.USERS_MANAGE))]
UserReader = Annotated[Caller, Depends(RequireApi(Permission.USERS_READ))]
Auditor = Annotated[Caller, Depends(RequireApi(Permission.AUDIT_READ))]
Anyone = Annotated[Caller, Depends(RequireApi())]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=2000)


class TokenRequest(Strict):
    username: str = Field(max_length=64)
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    name: str = Field("", max_length=200)


class TokenOut(BaseModel):
    token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth token type, not a secret)
    expires_at: datetime


class UserCreate(Strict):
    username: str = Field(max_length=64)
    full_name: str = Field(max_length=200)
    title: str = Field("", max_length=200)
    email: str = Field("", max_length=200)
    time_zone: str = Field("UTC", max_length=64)
    department: str = Field("", max_length=12)
    roles: list[Role] = Field(default_factory=list, max_length=8)


class ProfileChange(Strict):
    title: str = Field("", max_length=200)
    email: str = Field("", max_length=200)
    department: str = Field("", max_length=12)
    time_zone: str = Field("UTC", max_length=64)
    reason: str = Field(min_length=1, max_length=2000)


class RoleChange(Strict):
    role: Role
    reason: str = Field(min_length=1, max_length=2000)


class Reason(Strict):
    reason: str = Field(min_length=1, max_length=2000)


class GrantOut(BaseModel):
    role: str
    granted_at: datetime
    grant_reason: str
    revoked_at: datetime | None
    revoke_reason: str | None


class UserOut(BaseModel):
    id: uuid.UUID
    username: str
    full_name: str
    title: str
    email: str
    time_zone: str
    department: str
    status: str
    roles: list[str]
    must_change_password: bool
    created_at: datetime
    last_login_at: datetime | None
    deactivated_at: datetime | None
    grants: list[GrantOut]

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id, username=user.username, full_name=user.full_name, title=user.title, email=user.email,
            time_zone=user.time_zone, department=user.department, status=user.status, roles=user.roles,
            must_change_password=user.password_set_by_admin, created_at=user.created_at,
            last_login_at=user.last_login_at, deactivated_at=user.deactivated_at,
            grants=[GrantOut.model_validate(g, from_attributes=True) for g in user.grants],
        )


class MeOut(UserOut):
    permissions: list[str]
    job_functions: list[str]


@router.post("/auth/token", dependencies=[Depends(Public())], status_code=201)
def issue_token(body: TokenRequest, state: State, info: Info) -> TokenOut:
    at = state.clock.now()
    with state.db.read() as s:
        verdict = sessions.verify_credentials(s, state.accounts, username=body.username, password=body.password)
    with state.db.unit_of_work() as s:
        outcome = sessions.issue_token(s, state.accounts, verdict=verdict, name=body.name, at=at, request=info)
    if not outcome.ok:
        raise LoginFailed()
    if outcome.token is None:
        raise PasswordChangeRequired("Your password was set by an administrator: change it in the browser first.")
    return TokenOut(token=outcome.token, expires_at=at + state.accounts.api_token_lifetime)


@router.delete("/auth/token", status_code=204)
def revoke_own_token(request: Request, state: State, info: Info, caller: Anyone) -> None:
    token = request.headers["authorization"].partition(" ")[2].strip()
    with state.db.unit_of_work() as s:
        found = sessions.resolve_token(s, token, at=state.clock.now())
        if found is not None:
            row, user = found
            sessions.revoke_token(s, user=user, token_id=row.id, at=state.clock.now(), request=info)


@router.get("/me")
def me(state: State, caller: Anyone) -> MeOut:
    with state.db.read() as s:
        user = accounts.get_user(s, caller.user.id)
        out = UserOut.of(user)
        functions = [f.code for f in training.functions_of(s, user.id)]
    return MeOut(**out.model_dump(), permissions=sorted(permissions_of(user.roles)), job_functions=functions)


@router.get("/users")
def list_users(state: State, caller: UserReader) -> list[UserOut]:
    with state.db.read() as s:
        return [UserOut.of(u) for u in accounts.list_users(s, principal=caller.principal)]


@router.post("/users", status_code=201)
def create_user(body: UserCreate, state: State, info: Info, caller: Admin) -> JSONResponse:
    with state.db.unit_of_work() as s:
        created = accounts.create_user(
            s, state.accounts, principal=caller.principal, username=body.username, full_name=body.full_name,
            title=body.title, email=body.email, time_zone=body.time_zone, department=body.department,
            roles=[r.value for r in body.roles],
            at=state.clock.now(), request=info,
        )
        out = UserOut.of(created.user).model_dump(mode="json")
    out["temporary_password"] = created.temporary_password
    return JSONResponse(out, status_code=201)


@router.get("/users/{user_id}")
def get_user(user_id: uuid.UUID, state: State, caller: UserReader) -> UserOut:
    with state.db.read() as s:
        caller.principal.require(Permission.USERS_READ)
        return UserOut.of(accounts.get_user(s, user_id))


def _reloaded(state: State, user_id: uuid.UUID) -> UserOut:
    with state.db.read() as s:
        return UserOut.of(accounts.get_user(s, user_id))


@router.post("/users/{user_id}/profile")
def update_profile(user_id: uuid.UUID, body: ProfileChange, state: State, info: Info, caller: Admin) -> UserOut:
    with state.db.unit_of_work() as s:
        accounts.update_profile(s, principal=caller.principal, user_id=user_id, title=body.title, email=body.email,
                                department=body.department, time_zone=body.time_zone, reason=body.reason,
                                at=state.clock.now(), request=info)
    return _reloaded(state, user_id)


@router.post("/users/{user_id}/roles")
def grant_role(user_id: uuid.UUID, body: RoleChange, state: State, info: Info, caller: Admin) -> UserOut:
    with state.db.unit_of_work() as s:
        accounts.grant_role(s, principal=caller.principal, user_id=user_id, role=body.role.value,
                            reason=body.reason, at=state.clock.now(), request=info)
    return _reloaded(state, user_id)


@router.post("/users/{user_id}/roles/{role}/revoke")
def revoke_role(user_id: uuid.UUID, role: Role, body: Reason, state: State, info: Info, caller: Admin) -> UserOut:
    with state.db.unit_of_work() as s:
        accounts.revoke_role(s, principal=caller.principal, user_id=user_id, role=role.value,
                             reason=body.reason, at=state.clock.now(), request=info)
    return _reloaded(state, user_id)


@router.post("/users/{user_id}/deactivate")
def deactivate(user_id: uuid.UUID, body: Reason, state: State, info: Info, caller: Admin) -> UserOut:
    with state.db.unit_of_work() as s:
        accounts.deactivate_user(s, principal=caller.principal, user_id=user_id, reason=body.reason,
                                 at=state.clock.now(), request=info)
    return _reloaded(state, user_id)


@router.post("/users/{user_id}/reset-password")
def reset_password(user_id: uuid.UUID, body: Reason, state: State, info: Info, caller: Admin) -> dict[str, Any]:
    with state.db.unit_of_work() as s:
        temp = accounts.reset_password(s, state.accounts, principal=caller.principal, user_id=user_id,
                                       reason=body.reason, at=state.clock.now(), request=info)
    return {"user": _reloaded(state, user_id).model_dump(mode="json"), "temporary_password": temp}


@router.post("/users/{user_id}/unlock")
def unlock(user_id: uuid.UUID, body: Reason, state: State, info: Info, caller: Admin) -> UserOut:
    with state.db.unit_of_work() as s:
        accounts.unlock_user(s, principal=caller.principal, user_id=user_id, reason=body.reason,
                             at=state.clock.now(), request=info)
    return _reloaded(state, user_id)


@router.get("/audit")
def audit_events(
    state: State, caller: Auditor,
    actor: Annotated[str, Query(max_length=64)] = "", action: Annotated[str, Query(max_length=64)] = "",
    subject_type: Annotated[str, Query(max_length=32)] = "", subject_id: Annotated[str, Query(max_length=64)] = "",
    since: datetime | None = None, until: datetime | None = None,
    before: Annotated[int | None, Query(ge=1)] = None, limit: Annotated[int, Query(ge=1, le=500)] = 100,
    preset: Annotated[str, Query(max_length=64, description="an exception report, e.g. admin-actions")] = "",
    document: Annotated[str, Query(max_length=64, description="a document number: it, its revisions, their "
                                   "signatures and training")] = "",
    signature: Annotated[str, Query(max_length=64, description="a signature id: the events naming it")] = "",
    after: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    filters = report_filter(state, audit_trail.TrailFilter(actor=actor, action=action, subject_type=subject_type,
                                                           subject_id=subject_id, since=since, until=until,
                                                           preset=preset, document=document, signature=signature))
    with state.db.read() as s:
        page = audit_trail.events(s, principal=caller.principal, filters=filters, before=before, after=after,
                                  limit=limit)
    return {
        "total": page.total,
        "next_before": page.before,
        "next_after": page.after,
        "events": [dict(e.event, leaf_hash=e.leaf_hash) for e in page.entries],
    }


@router.get("/audit/export.csv")
def audit_export_csv(
    state: State, info: Info, caller: Auditor,
    actor: Annotated[str, Query(max_length=64)] = "", action: Annotated[str, Query(max_length=64)] = "",
    subject_type: Annotated[str, Query(max_length=32)] = "", subject_id: Annotated[str, Query(max_length=64)] = "",
    since: datetime | None = None, until: datetime | None = None,
    preset: Annotated[str, Query(max_length=64)] = "",
) -> StreamingResponse:
    """The trail (with the same filters) as CSV, through a checkpoint made now; the export is recorded first."""
    filters = audit_trail.TrailFilter(actor=actor, action=action, subject_type=subject_type,
                                      subject_id=subject_id, since=since, until=until, preset=preset)
    return export_response(state, caller, info, report_filter(state, filters))


@router.get("/audit/export.pdf", response_class=FileResponse)
def audit_export_pdf(
    state: State, info: Info, caller: Auditor,
    actor: Annotated[str, Query(max_length=64)] = "", action: Annotated[str, Query(max_length=64)] = "",
    subject_type: Annotated[str, Query(max_length=32)] = "", subject_id: Annotated[str, Query(max_length=64)] = "",
    since: datetime | None = None, until: datetime | None = None,
    preset: Annotated[str, Query(max_length=64)] = "",
) -> FileResponse:
    """The same as a printable PDF, every field of every event (at most DOCCTL_AUDIT_PDF_MAX_EVENTS: narrow the
    filters or use CSV beyond that), through a checkpoint made now; the export is recorded first."""
    filters = audit_trail.TrailFilter(actor=actor, action=action, subject_type=subject_type,
                                      subject_id=subject_id, since=since, until=until, preset=preset)
    return pdf_response(state, caller, info, report_filter(state, filters))


@router.get("/audit/verify")
def audit_verify(state: State, caller: Auditor) -> dict[str, Any]:
    try:
        with state.db.read() as s:
            report = audit_trail.verify(s, principal=caller.principal)
    except AuditTampered as exc:
        return {"ok": False, "first_bad_seq": exc.seq, "problem": exc.message}
    return {"ok": True, "tree_size": report.size, "root": report.root.hex()}


@router.get("/audit/tags")
def audit_tags(caller: Auditor) -> list[str]:
    return [t.value for t in Tag]
