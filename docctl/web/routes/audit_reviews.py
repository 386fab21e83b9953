"""Audit-trail review pages (MHRA-6.13/EMA-6.2.2): the list and each signed review (anyone who reads the trail:
administrators, QA, inspectors), and the review form with its signature (QA only)."""

from __future__ import annotations

import tempfile
import uuid
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from docctl.domain import esig
from docctl.domain.passwords import MAX_PASSWORD_LENGTH
from docctl.domain.policy import Permission
from docctl.errors import ConfigurationError, Conflict, DocctlError, InvalidInput
from docctl.services import accounts, audit_reviews
from docctl.web.deps import Caller, Info, Require, State
from docctl.web.errors import status_for
from docctl.web.files import zip_download
from docctl.web.render import render
from docctl.web.routes.audit import _day

router = APIRouter()

Auditor = Annotated[Caller, Depends(Require(Permission.AUDIT_READ))]
Reviewer = Annotated[Caller, Depends(Require(Permission.AUDIT_REVIEW))]
Text = Annotated[str, Query(max_length=40)]


def _instant(value: str) -> datetime | None:
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("The range in the form is damaged; reload it.") from None
    if at.tzinfo is None:
        raise InvalidInput("The range in the form is damaged; reload it.")
    return at


def _day_of(at: datetime | None, zone: str, *, end: bool = False) -> str:
    if at is None:
        return ""
    local = at.astimezone(ZoneInfo(zone))
    if end and local.time() == time(0):
        local -= timedelta(days=1)
    return local.date().isoformat()


def _trail_link(zone: str, r: audit_reviews.ReviewRange, first_at: datetime, report: str) -> str:
    """The trail, or the exception report, over the range's days in the viewer's zone."""
    query = urlencode({"since": _day_of(r.since or first_at, zone), "until": _day_of(r.until, zone, end=True)})
    return f"/audit?{query}" if report == audit_reviews.TRAIL else f"/audit/exceptions/{report}?{query}"


def working_hours(state: State) -> audit_reviews.WorkingHours | None:
    try:
        return audit_reviews.WorkingHours.from_settings(state.settings)
    except ConfigurationError:
        return None


def _form(request: Request, state: State, caller: Caller, *, since: str = "", until: str = "",
          from_seq: int | None = None, range_: audit_reviews.ReviewRange | None = None, error: str | None = None,
          status: int = 200, form: dict[str, Any] | None = None) -> Response:
    now = state.clock.now()
    zone = caller.user.time_zone
    with state.db.read() as s:
        user = accounts.get_user(s, caller.user.id)
        readiness = accounts.signing_readiness(user)
        last = audit_reviews.last_review(s)
        counts = None
        if range_ is None:
            try:
                cap = _day(until, zone, end=True)
                range_ = audit_reviews.resolve_range(
                    s, at=now, since=_day(since, zone, end=False),
                    until=min(cap, now) if cap is not None else None, from_seq=from_seq)
            except (InvalidInput, Conflict) as exc:
                # nothing to review by default is news, not an error; a range the person typed that holds none is
                error = error or exc.message
                status = status if status != 200 else (422 if since or until or from_seq else 200)
        if range_ is not None:
            counts = audit_reviews.counts(s, principal=caller.principal, range_=range_,
                                          working_hours=working_hours(state))
    links = {name: _trail_link(zone, range_, counts.first_at, name)
             for name in audit_reviews.REPORTS} if range_ and counts else {}
    return render(request, "pages/audit/reviews_new.html", caller=caller, range=range_, counts=counts, links=links,
                  last=last, readiness=readiness, statement=esig.STATEMENT, meaning=audit_reviews.MEANING,
                  no_findings=audit_reviews.NO_FINDINGS, error=error, status_code=status, form=form or {},
                  error_class="alert-info" if status == 200 else "alert-error",
                  query={"since": since or _day_of(range_.since if range_ else None, zone),
                         "until": until or _day_of(range_.until if range_ else now, zone, end=True),
                         "from_seq": from_seq or ""})


@router.get("/audit/reviews")
def review_list(request: Request, state: State, caller: Auditor) -> Response:
    with state.db.read() as s:
        reviews = audit_reviews.list_reviews(s, principal=caller.principal)
        checks = {r.id: audit_reviews.verify(s, r) for r in reviews}
        default = audit_reviews.default_range(s, at=state.clock.now())
    return render(request, "pages/audit/reviews_list.html", caller=caller, reviews=reviews, checks=checks,
                  default=default, can_review=caller.principal.can(Permission.AUDIT_REVIEW))


@router.get("/audit/reviews/new")
def review_form(request: Request, state: State, caller: Reviewer, since: Text = "", until: Text = "",
                from_seq: Annotated[int | None, Query(ge=1)] = None) -> Response:
    """The form: the range (default: after the last review, to now), what is in it with links into the trail, the
    findings, then the signature."""
    return _form(request, state, caller, since=since, until=until, from_seq=from_seq)


@router.post("/audit/reviews")
def complete_review(
    request: Request, state: State, info: Info, caller: Reviewer,
    from_seq: Annotated[int, Form(ge=1)], to_seq: Annotated[int, Form(ge=1)],
    until: Annotated[str, Form(max_length=40)], username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)],
    since: Annotated[str, Form(max_length=40)] = "", findings: Annotated[str, Form(max_length=8000)] = "",
    no_findings: Annotated[str, Form(max_length=10)] = "", meaning: Annotated[str, Form(max_length=200)] = "",
    scope: Annotated[list[str] | None, Form()] = None,
) -> Response:
    at = state.clock.now()
    text = audit_reviews.NO_FINDINGS if no_findings and not findings.strip() else findings
    form = {"findings": findings, "no_findings": bool(no_findings), "scope": scope or []}
    range_ = None
    try:
        with state.db.read() as s:
            range_ = audit_reviews.resolve_range(s, at=at, since=_instant(since), until=_instant(until),
                                                 from_seq=from_seq, expected_to_seq=to_seq)
            prepared = audit_reviews.prepare_review(s, principal=caller.principal, range_=range_, scope=scope or [],
                                                    findings=text, username=username, password=password,
                                                    meaning=meaning, working_hours=working_hours(state))
        with state.db.unit_of_work() as s:
            review = audit_reviews.record_review(
                s, state.accounts, state.blobs, secret=state.settings.secret_key.get_secret_value().encode(),
                prepared=prepared, at=at, request=info)
            review_id = review.id if review is not None else None
    except DocctlError as exc:
        return _form(request, state, caller, range_=range_, error=exc.message, status=status_for(exc), form=form)
    if review_id is None:
        # 422, not 401: the person stays logged in; the form shows the message in place
        return _form(request, state, caller, range_=range_, status=422, form=form,
                     error="The user ID or password is incorrect. The attempt was recorded; repeated failures lock "
                           "the account. Nothing was signed.")
    return RedirectResponse(f"/audit/reviews/{review_id}?signed=1", status_code=303)


@router.get("/audit/reviews/{review_id}")
def review_detail(request: Request, review_id: uuid.UUID, state: State, caller: Auditor,
                  signed: Annotated[int, Query(ge=0, le=1)] = 0) -> Response:
    with state.db.read() as s:
        review = audit_reviews.get_review(s, principal=caller.principal, review_id=review_id)
        check = audit_reviews.verify(s, review)
    return render(request, "pages/audit/reviews_detail.html", caller=caller, review=review, check=check,
                  scope=audit_reviews.scope_of(review), signed=bool(signed),
                  manifest_text=review.manifest.decode("utf-8"))


def bundle_zip(state: State, caller: Caller, review_id: uuid.UUID) -> Response:
    """The review's openssl bundle (manifest.json, signature.der, signer.pem, signer-pubkey.pem, ca.pem, VERIFY.txt)."""
    with state.db.read() as s, tempfile.TemporaryDirectory() as tmp:
        review = audit_reviews.get_review(s, principal=caller.principal, review_id=review_id)
        return zip_download(audit_reviews.bundle(s, review, Path(tmp)), f"audit-review-{review.id}")


@router.get("/audit/reviews/{review_id}/bundle.zip")
def review_bundle(review_id: uuid.UUID, state: State, caller: Auditor) -> Response:
    return bundle_zip(state, caller, review_id)
