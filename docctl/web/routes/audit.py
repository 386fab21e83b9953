"""The audit trail page (administrators, QA and inspectors): newest first, filtered, paginated."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from docctl.audit.tags import Tag
from docctl.domain.policy import Permission
from docctl.errors import InvalidInput
from docctl.services import audit_trail
from docctl.web.deps import Caller, Require, State
from docctl.web.render import render

router = APIRouter()

Auditor = Annotated[Caller, Depends(Require(Permission.AUDIT_READ))]
Text = Annotated[str, Query(max_length=200)]


def _day(value: str, zone: str, *, end: bool) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date (YYYY-MM-DD).") from None
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


@router.get("/audit")
def trail(
    request: Request, state: State, caller: Auditor, actor: Text = "", action: Text = "", subject_type: Text = "",
    subject_id: Text = "", since: Text = "", until: Text = "", before: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    zone = caller.user.time_zone
    filters = audit_trail.TrailFilter(
        actor=actor.strip(), action=action.strip(), subject_type=subject_type.strip(), subject_id=subject_id.strip(),
        since=_day(since, zone, end=False), until=_day(until, zone, end=True),
    )
    with state.db.read() as s:
        page = audit_trail.events(s, principal=caller.principal, filters=filters, before=before, limit=limit)
    query = {"actor": actor, "action": action, "subject_type": subject_type, "subject_id": subject_id,
             "since": since, "until": until, "limit": limit}
    return render(request, "pages/audit.html", "partials/_audit_rows.html", caller=caller, page=page,
                  query=query, tags=[t.value for t in Tag])
