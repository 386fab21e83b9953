"""Document type administration: codes, numbering patterns, review intervals, training rules (audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from docctl.domain.policy import Permission
from docctl.errors import DocctlError
from docctl.services import documents
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
