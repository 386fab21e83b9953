"""The access review report (E6-4.3.8): every grant, current and revoked, with last logins; on screen and as CSV."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from docctl.clock import rfc3339
from docctl.domain.policy import Permission
from docctl.services import accounts
from docctl.web.deps import Caller, Info, Require, State
from docctl.web.render import render

router = APIRouter(prefix="/admin/access-review")

Reader = Annotated[Caller, Depends(Require(Permission.USERS_READ))]


@router.get("")
def page(request: Request, state: State, caller: Reader) -> Response:
    with state.db.read() as s:
        rows = accounts.access_review(s, principal=caller.principal)
    return render(request, "pages/admin/access_review.html", caller=caller, rows=rows)


@router.get(".csv")
def export(state: State, info: Info, caller: Reader) -> Response:
    """The same report as CSV (times in UTC, RFC 3339); the export itself is recorded in the audit trail."""
    with state.db.read() as s:
        rows = accounts.access_review(s, principal=caller.principal)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(accounts.ACCESS_REVIEW_COLUMNS)
    for r in rows:
        writer.writerow([
            r.user.username, r.user.full_name, r.user.status,
            rfc3339(r.user.last_login_at) if r.user.last_login_at else "", r.role, rfc3339(r.granted_at),
            r.granted_by, r.grant_reason, rfc3339(r.revoked_at) if r.revoked_at else "", r.revoked_by,
            r.revoke_reason,
        ])
    with state.db.unit_of_work() as s:
        accounts.record_access_review_export(s, principal=caller.principal, rows=len(rows), at=state.clock.now(),
                                             request=info)
    stamp = state.clock.now().strftime("%Y%m%dT%H%M%SZ")
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="docctl-access-review-{stamp}.csv"'})
