"""Exception reports (MHRA-6.13/EMA-6.2.2): the list of presets with what each flags and how many events in the
chosen dates, and one preset's events (the trail's rows, keyset-paginated) with its CSV and PDF exports. Read-only:
AUDIT_READ (administrators, QA, inspectors)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from docctl.domain.policy import Permission
from docctl.services import audit_exceptions, audit_trail
from docctl.web.deps import Caller, Require, State
from docctl.web.render import render
from docctl.web.routes.audit import _filters, report_filter

router = APIRouter()

Auditor = Annotated[Caller, Depends(Require(Permission.AUDIT_READ))]
Day = Annotated[str, Query(max_length=10)]


def _dates(state: State, caller: Caller, since: str, until: str) -> tuple[str, str]:
    """The report's days in the viewer's zone: the last DEFAULT_RANGE_DAYS days (today included) unless chosen."""
    today = state.clock.now().astimezone(ZoneInfo(caller.user.time_zone)).date()
    until = until or (today.isoformat() if not since else "")
    if not since:
        end = date.fromisoformat(until) if _is_day(until) else today
        since = (end - timedelta(days=audit_exceptions.DEFAULT_RANGE_DAYS - 1)).isoformat()
    return since, until


def _is_day(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


@router.get("/audit/exceptions")
def exceptions(request: Request, state: State, caller: Auditor, since: Day = "", until: Day = "") -> Response:
    since, until = _dates(state, caller, since, until)
    base = _filters(caller.user.time_zone, "", "", "", "", since, until)
    with state.db.read() as s:
        rows = audit_exceptions.summary(s, principal=caller.principal, base=base, settings=state.settings,
                                        now=state.clock.now())
    return render(request, "pages/audit/exceptions.html", caller=caller, rows=rows,
                  query={"since": since, "until": until}, dates=urlencode({"since": since, "until": until}),
                  working_hours=audit_exceptions.WorkingHours.from_settings(state.settings).describe())


@router.get("/audit/exceptions/{preset}")
def exception_report(
    preset: str, request: Request, state: State, caller: Auditor, since: Day = "", until: Day = "",
    before: Annotated[int | None, Query(ge=1)] = None, after: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    report = audit_exceptions.get(preset)
    since, until = _dates(state, caller, since, until)
    filters = report_filter(state, _filters(caller.user.time_zone, "", "", "", "", since, until, report.slug))
    with state.db.read() as s:
        page = audit_trail.events(s, principal=caller.principal, filters=filters, before=before, after=after,
                                  limit=limit)
    exports = urlencode({"preset": report.slug, "since": since, "until": until})
    return render(request, "pages/audit/exception.html", "partials/_audit_rows.html", caller=caller, page=page,
                  report=report, query={"since": since, "until": until, "limit": limit},
                  paged=before is not None or after is not None,
                  rows_url=f"/audit/exceptions/{report.slug}", export_url=f"/audit/export.csv?{exports}",
                  export_pdf_url=f"/audit/export.pdf?{exports}",
                  working_hours=filters.working_hours.describe() if filters.working_hours else "")
