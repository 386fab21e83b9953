"""The JSON API of audit-trail reviews (`/api/v1/audit/reviews`). Reading needs AUDIT_READ (administrators, QA,
inspectors); completing a review needs AUDIT_REVIEW (QA) and the reviewer's user ID and password in that request."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from docctl.clock import rfc3339
from docctl.db.models.audit_reviews import AuditReview
from docctl.domain.passwords import MAX_PASSWORD_LENGTH
from docctl.domain.policy import Permission
from docctl.errors import InvalidInput, LoginFailed
from docctl.services import audit_reviews, signing_keys
from docctl.web.deps import Caller, Info, RequireApi, State
from docctl.web.routes.audit_reviews import bundle_zip, working_hours

router = APIRouter(prefix="/api/v1")

AuditReader = Annotated[Caller, Depends(RequireApi(Permission.AUDIT_READ))]
Reviewer = Annotated[Caller, Depends(RequireApi(Permission.AUDIT_REVIEW))]


class ReviewRequest(BaseModel):
    """`since`/`until` (RFC 3339 with a zone): the stated range; by default from after the last review to now.
    `from_seq` starts at an exact event instead of `since`. `scope`: what was reviewed, "trail" and/or exception
    report names (default: the trail).
    `meaning`, when given, must be "Audit trail review completed" (the only meaning of this record)."""

    model_config = ConfigDict(extra="forbid", str_max_length=8000)
    since: datetime | None = None
    until: datetime | None = None
    from_seq: int | None = Field(None, ge=1)
    scope: list[str] = Field(default_factory=lambda: ["trail"], max_length=20)
    findings: str = Field(max_length=8000)
    username: str = Field(max_length=64)
    password: str = Field(max_length=MAX_PASSWORD_LENGTH)
    meaning: str = Field(audit_reviews.MEANING, max_length=200)


def review_json(review: AuditReview) -> dict[str, Any]:
    return {
        "id": str(review.id), "from_seq": review.seq_from, "to_seq": review.seq_to,
        "since": rfc3339(review.since) if review.since else None, "until": rfc3339(review.until),
        "checkpoint": {"tree_size": review.checkpoint_tree_size, "root": review.checkpoint_root.hex()},
        "scope": audit_reviews.scope_of(review), "findings": review.findings,
        "reviewer_id": str(review.reviewer_id), "printed_name": review.printed_name, "title": review.title,
        "meaning": review.meaning, "signed_at": rfc3339(review.signed_at),
        "statement_version": review.statement_version, "manifest_sha256": review.manifest_sha256,
    }


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone (RFC 3339, e.g. 2026-11-21T09:00:00Z).")
    return value


@router.get("/audit/reviews")
def list_reviews(state: State, caller: AuditReader) -> list[dict[str, Any]]:
    """Signed reviews, newest first, each with whether its signature verifies now."""
    with state.db.read() as s:
        return [{**review_json(r), "valid": audit_reviews.verify(s, r).ok}
                for r in audit_reviews.list_reviews(s, principal=caller.principal)]


@router.post("/audit/reviews", status_code=201)
def complete_review(body: ReviewRequest, state: State, info: Info, caller: Reviewer) -> dict[str, Any]:
    """Sign "Audit trail review completed" over the range: 201 with the record; 401 for a wrong user ID or password
    (recorded, counting towards lockout); 409 when you already signed this exact range."""
    at = state.clock.now()
    with state.db.read() as s:
        range_ = audit_reviews.resolve_range(s, at=at, since=_aware(body.since, "since"),
                                             until=_aware(body.until, "until"), from_seq=body.from_seq)
        prepared = audit_reviews.prepare_review(s, principal=caller.principal, range_=range_, scope=body.scope,
                                                findings=body.findings, username=body.username,
                                                password=body.password, meaning=body.meaning,
                                                working_hours=working_hours(state))
    with state.db.unit_of_work() as s:
        review = audit_reviews.record_review(s, state.accounts, state.blobs,
                                             secret=state.settings.secret_key.get_secret_value().encode(),
                                             prepared=prepared, at=at, request=info)
        out = review_json(review) if review is not None else None
    if out is None:
        raise LoginFailed("The user ID or password is incorrect; the attempt was recorded. Nothing was signed.")
    return out


@router.get("/audit/reviews/{review_id}")
def get_review(review_id: uuid.UUID, state: State, caller: AuditReader) -> dict[str, Any]:
    """The record, its manifest (parsed and base64 as signed), the DER signature, the certificates and the result
    of re-checking all of it now."""
    with state.db.read() as s:
        review = audit_reviews.get_review(s, principal=caller.principal, review_id=review_id)
        result = audit_reviews.verify(s, review)
        ca = signing_keys.instance_ca(s)
        return {
            **review_json(review), "manifest": result.manifest,
            "manifest_base64": base64.b64encode(review.manifest).decode(),
            "signature_der_base64": base64.b64encode(review.signature).decode(),
            "certificate_pem": audit_reviews.certificate_of(s, review),
            "ca_certificate_pem": ca.certificate_pem.decode() if ca else None, "verification": result.as_json(),
        }


@router.get("/audit/reviews/{review_id}/bundle.zip")
def review_bundle(review_id: uuid.UUID, state: State, caller: AuditReader) -> Response:
    """Everything needed to check the review's signature with `openssl` alone, as a zip."""
    return bundle_zip(state, caller, review_id)
