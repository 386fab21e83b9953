"""Document type administration: codes, numbering patterns, review intervals, training rules (audited)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from docctl.domain import routes
from docctl.domain.policy import Permission
from docctl.errors import DocctlError, InvalidInput
from docctl.services import accounts, approvals, documents
from docctl.web.deps import Caller, Info, Require, State
from docctl.web.errors import status_for
from docctl.web.render import render

router = APIRouter(prefix="/admin/document-types")

TypeAdmin = Annotated[Caller, Depends(Require(Permission.DOCUMENT_TYPES_MANAGE))]


@router.get("")
def types_page(request: Request, state: State, caller: TypeAdmin) -> Response:
    with state.db.read() as s:
        types = documents.list_types(s, include_inactive=True)
    return render(request, "pages/admin/types.html", caller=caller, types=types, error=None, form={})


@router.post("")
def create(
    request: Request, state: State, info: Info, caller: TypeAdmin,
    code: Annotated[str, Form(max_length=16)], name: Annotated[str, Form(max_length=200)],
    numbering_pattern: Annotated[str, Form(max_length=64)],
    review_interval_months: Annotated[int, Form(ge=1, le=120)] = 24,
    training_window_days: Annotated[int, Form(ge=0, le=365)] = 14,
    training_required: Annotated[bool, Form()] = False,
) -> Response:
    form = {"code": code, "name": name, "numbering_pattern": numbering_pattern,
            "review_interval_months": review_interval_months, "training_window_days": training_window_days,
            "training_required": training_required}
    try:
        with state.db.unit_of_work() as s:
            documents.create_type(s, principal=caller.principal, at=state.clock.now(), request=info, **form)
    except DocctlError as exc:
        with state.db.read() as s:
            types = documents.list_types(s, include_inactive=True)
        return render(request, "pages/admin/types.html", caller=caller, types=types, error=exc.message, form=form,
                      status_code=status_for(exc))
    return RedirectResponse("/admin/document-types", status_code=303)


@router.get("/{code}")
def edit_page(request: Request, code: str, state: State, caller: TypeAdmin) -> Response:
    with state.db.read() as s:
        t = documents.get_type(s, code)
    return render(request, "pages/admin/type_edit.html", caller=caller, t=t, error=None)


@router.post("/{code}")
def edit(
    request: Request, code: str, state: State, info: Info, caller: TypeAdmin,
    name: Annotated[str, Form(max_length=200)], numbering_pattern: Annotated[str, Form(max_length=64)],
    review_interval_months: Annotated[int, Form(ge=1, le=120)],
    training_window_days: Annotated[int, Form(ge=0, le=365)],
    reason: Annotated[str, Form(max_length=2000)],
    training_required: Annotated[bool, Form()] = False, active: Annotated[bool, Form()] = False,
) -> Response:
    changes = {"name": name, "numbering_pattern": numbering_pattern, "review_interval_months": review_interval_months,
               "training_window_days": training_window_days, "training_required": training_required,
               "active": active}
    try:
        with state.db.read() as s:
            current = documents.type_snapshot(documents.get_type(s, code))
        changes = {k: v for k, v in changes.items() if current.get(k) != v}
        with state.db.unit_of_work() as s:
            documents.update_type(s, principal=caller.principal, code=code, changes=changes, reason=reason,
                                  at=state.clock.now(), request=info)
    except DocctlError as exc:
        with state.db.read() as s:
            t = documents.get_type(s, code)
        return render(request, "pages/admin/type_edit.html", caller=caller, t=t, error=exc.message,
                      status_code=status_for(exc))
    return RedirectResponse("/admin/document-types", status_code=303)


RouteAdmin = Annotated[Caller, Depends(Require(Permission.USERS_MANAGE))]
MAX_STAGES = 5


def _route_page(request: Request, state: State, caller: Caller, code: str, *, error: str | None = None,
                status: int = 200) -> Response:
    with state.db.read() as s:
        t = documents.get_type(s, code)
        route = approvals.current_route(s, t.id)
        stages = approvals.route_json(approvals.rules_of(route))
        names = {str(u.id): u.username for u in accounts.users_by_id(
            s, {uuid.UUID(x) for st in stages for x in st["users"]})}
    rows = stages + [None] * (MAX_STAGES - len(stages))
    return render(request, "pages/admin/route.html", caller=caller, t=t, route=route, rows=rows, names=names,
                  error=error, meanings=routes.MEANINGS, status_code=status)


@router.get("/{code}/route")
def route_page(request: Request, code: str, state: State, caller: RouteAdmin) -> Response:
    return _route_page(request, state, caller, code)


@router.post("/{code}/route")
async def route_save(request: Request, code: str, state: State, info: Info, caller: RouteAdmin) -> Response:
    form = await request.form()

    def field(name: str) -> str:
        value = form.get(name, "")
        return value.strip()[:200] if isinstance(value, str) else ""

    try:
        reason = field("reason")
        raw = []
        for n in range(1, MAX_STAGES + 1):
            if not field(f"name_{n}"):
                continue
            required = field(f"required_{n}") or "1"
            if not required.isdigit():
                raise InvalidInput(f"Stage {n}: the number of signatures is a whole number.")
            raw.append({"name": field(f"name_{n}"), "meaning": field(f"meaning_{n}"), "rule": field(f"rule_{n}"),
                        "role": field(f"role_{n}") or None,
                        "users": [u for u in field(f"users_{n}").replace(",", " ").split() if u],
                        "required": int(required), "author_may_sign": field(f"author_{n}") == "true"})
        await run_in_threadpool(_save_route, state, caller, code, raw, reason, info)
    except DocctlError as exc:
        return _route_page(request, state, caller, code, error=exc.message, status=status_for(exc))
    return RedirectResponse(f"/admin/document-types/{code}/route?saved=1", status_code=303)


def _save_route(state: State, caller: Caller, code: str, raw: list[dict], reason: str, info: object) -> None:
    with state.db.unit_of_work() as s:
        stages = [approvals.stage_rule(s, position=n, **stage) for n, stage in enumerate(raw, 1)]
        approvals.update_route(s, principal=caller.principal, type_code=code, stages=stages, reason=reason,
                               at=state.clock.now(), request=info)  # type: ignore[arg-type]
