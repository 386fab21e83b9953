"""Document types and documents: numbering, metadata, its history, and who may see what."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from docctl.audit import log
from docctl.audit.log import RequestInfo, Subject
from docctl.audit.tags import Tag
from docctl.db.models import Document, DocumentHistory, DocumentType, NumberCounter, User
from docctl.domain.numbering import Pattern, check_department
from docctl.domain.policy import Permission, Role
from docctl.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from docctl.services.principal import Principal

EDITABLE = ("title", "department", "owner_id", "external", "external_source", "external_version",
            "external_issued_on", "next_review_on")


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("A reason is required.")
    return text[:2000]


# --- types ------------------------------------------------------------------------------------------------------


def type_snapshot(t: DocumentType) -> dict[str, Any]:
    return {
        "code": t.code, "name": t.name, "numbering_pattern": t.numbering_pattern,
        "review_interval_months": t.review_interval_months, "training_window_days": t.training_window_days,
        "training_required": t.training_required, "active": t.active,
    }


def list_types(session: Session, *, include_inactive: bool = False) -> list[DocumentType]:
    stmt = select(DocumentType).order_by(DocumentType.code)
    if not include_inactive:
        stmt = stmt.where(DocumentType.active.is_(True))
    return list(session.scalars(stmt))


def get_type(session: Session, code: str) -> DocumentType:
    found = session.scalars(select(DocumentType).where(DocumentType.code == code.strip().upper())).one_or_none()
    if found is None:
        raise NotFound(f"No document type {code!r}.")
    return found


def _check_type_fields(values: dict[str, Any]) -> None:
    Pattern(values["numbering_pattern"])
    if not 1 <= int(values["review_interval_months"]) <= 120:
        raise InvalidInput("The periodic review interval is 1 to 120 months.")
    if not 0 <= int(values["training_window_days"]) <= 365:
        raise InvalidInput("The training window is 0 to 365 days.")
    if not values["name"].strip():
        raise InvalidInput("A document type needs a name.")


def create_type(
    session: Session, *, principal: Principal, code: str, name: str, numbering_pattern: str,
    review_interval_months: int = 24, training_window_days: int = 14, training_required: bool = True,
    at: datetime, request: RequestInfo | None = None,
) -> DocumentType:
    principal.require(Permission.DOCUMENT_TYPES_MANAGE)
    code = code.strip().upper()
    if not code.isalnum() or not 1 <= len(code) <= 16:
        raise InvalidInput("A type code is 1 to 16 letters or digits, e.g. SOP.")
    values = {"name": name.strip(), "numbering_pattern": numbering_pattern.strip(),
              "review_interval_months": review_interval_months, "training_window_days": training_window_days,
              "training_required": training_required}
    _check_type_fields(values)
    if session.scalars(select(func.count()).select_from(DocumentType).where(DocumentType.code == code)).one():
        raise Conflict(f"A document type {code} exists already.")
    t = DocumentType(code=code, active=True, created_at=at, updated_at=at, **values)
    session.add(t)
    session.flush()
    log.append(session, Tag.DOCUMENT_TYPE_CREATE, actor=principal.actor,
               subject=Subject("document_type", str(t.id), code), at=at, after=type_snapshot(t), request=request)
    return t


def update_type(
    session: Session, *, principal: Principal, code: str, changes: dict[str, Any], reason: str, at: datetime,
    request: RequestInfo | None = None,
) -> DocumentType:
    """Change a type's settings; they apply to documents created (numbering) or revisions made from now on."""
    principal.require(Permission.DOCUMENT_TYPES_MANAGE)
    reason = _reason(reason)
    t = get_type(session, code)
    before = type_snapshot(t)
    allowed = {"name", "numbering_pattern", "review_interval_months", "training_window_days", "training_required",
               "active"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(f"These cannot be changed: {', '.join(sorted(unknown))}.")
    after = {**before, **changes}
    _check_type_fields(after)
    if after == before:
        raise InvalidInput("Nothing to change.")
    for key, value in changes.items():
        setattr(t, key, value)
    t.updated_at = at
    old, new = log.changed(before, type_snapshot(t))
    log.append(session, Tag.DOCUMENT_TYPE_UPDATE, actor=principal.actor,
               subject=Subject("document_type", str(t.id), t.code), at=at, reason=reason, before=old, after=new,
               request=request)
    return t


# --- documents --------------------------------------------------------------------------------------------------


def snapshot(d: Document) -> dict[str, Any]:
    return {
        "number": d.number, "title": d.title, "type": d.type.code if d.type else None, "department": d.department,
        "owner_id": str(d.owner_id), "external": d.external, "external_source": d.external_source,
        "external_version": d.external_version,
        "external_issued_on": d.external_issued_on.isoformat() if d.external_issued_on else None,
        "next_review_on": d.next_review_on.isoformat() if d.next_review_on else None,
    }


def document_subject(d: Document) -> Subject:
    return Subject("document", str(d.id), d.number)


def _take_number(session: Session, t: DocumentType, dept: str, at: datetime) -> str:
    """The next number of the type's pattern, under a row lock on its counter: concurrent creations get
    distinct numbers, and a number is never handed out twice."""
    pattern = Pattern(t.numbering_pattern)
    key = pattern.counter_key(type_code=t.code, dept=dept, year=at.year)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(NumberCounter).values(key=key, last_value=0).on_conflict_do_nothing())
    locked = select(NumberCounter).where(NumberCounter.key == key).with_for_update()
    counter = session.execute(locked.execution_options(populate_existing=True)).scalar_one()
    while True:
        counter.last_value += 1
        number = pattern.render(type_code=t.code, dept=dept, year=at.year, seq=counter.last_value)
        taken = session.scalars(select(func.count()).select_from(Document).where(Document.number == number)).one()
        if not taken:  # a number typed in by hand (an imported document) is skipped, never reused
            return number


def _history(session: Session, d: Document, principal: Principal, reason: str, at: datetime) -> None:
    edition = session.scalars(
        select(func.coalesce(func.max(DocumentHistory.edition), 0)).where(DocumentHistory.document_id == d.id)
    ).one()
    session.add(DocumentHistory(document_id=d.id, edition=edition + 1, at=at,
                                actor_id=principal.user.id if principal.user else None, reason=reason,
                                snapshot=snapshot(d)))


def _active_user(session: Session, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None or user.status == "deactivated":
        raise InvalidInput("The owner must be an active user.")
    return user


def create_document(
    session: Session, *, principal: Principal, type_code: str, title: str, department: str,
    owner_id: uuid.UUID | None = None, external: bool = False, external_source: str = "",
    external_version: str = "", external_issued_on: date | None = None, at: datetime,
    request: RequestInfo | None = None,
) -> Document:
    principal.require(Permission.DOCUMENTS_CREATE)
    t = get_type(session, type_code)
    if not t.active:
        raise InvalidInput(f"The document type {t.code} is retired.")
    title = " ".join(title.split())
    if not title:
        raise InvalidInput("A document needs a title.")
    if len(title) > 300:
        raise InvalidInput("The title is too long (300 characters at most).")
    dept = check_department(department)
    if external and not external_source.strip():
        raise InvalidInput("An external document needs its source (issuer), e.g. 'ICH' or the vendor.")
    owner = owner_id or (principal.user.id if principal.user else None)
    if owner is None:
        raise InvalidInput("A document needs an owner.")
    _active_user(session, owner)
    number = _take_number(session, t, dept, at)
    d = Document(
        number=number, title=title, type_id=t.id, department=dept, owner_id=owner, external=external,
        external_source=external_source.strip(), external_version=external_version.strip(),
        external_issued_on=external_issued_on, created_at=at, updated_at=at,
        created_by_id=principal.user.id if principal.user else owner,
    )
    d.type = t
    session.add(d)
    session.flush()
    _history(session, d, principal, "created", at)
    log.append(session, Tag.DOCUMENT_CREATE, actor=principal.actor, subject=document_subject(d), at=at,
               after=snapshot(d), request=request)
    return d


def get_document(session: Session, number: str, *, for_update: bool = False) -> Document:
    stmt = select(Document).where(Document.number == number)
    if for_update:
        stmt = stmt.with_for_update(of=Document, key_share=True)  # FOR NO KEY UPDATE
    d = session.scalars(stmt).unique().one_or_none()
    if d is None:
        raise NotFound(f"No document {number}.")
    return d


def can_edit(principal: Principal, d: Document) -> bool:
    if not principal.can(Permission.DOCUMENTS_EDIT):
        return False
    if Role.DOCUMENT_CONTROL in principal.roles:
        return True
    return principal.user is not None and principal.user.id == d.owner_id


def edit_document(
    session: Session, *, principal: Principal, number: str, changes: dict[str, Any], reason: str, at: datetime,
    request: RequestInfo | None = None,
) -> Document:
    """Change metadata with a reason; the before and after values go to the audit trail and the new state of the
    metadata to the document's history (every earlier state stays readable, P11-10e.3)."""
    reason = _reason(reason)
    d = get_document(session, number, for_update=True)
    if not can_edit(principal, d):
        raise PermissionDenied("Only document control or the document's owner may edit it.")
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise InvalidInput(f"These cannot be changed: {', '.join(sorted(unknown))}.")
    before = snapshot(d)
    if "title" in changes:
        changes["title"] = " ".join(str(changes["title"]).split())
        if not changes["title"] or len(changes["title"]) > 300:
            raise InvalidInput("A title is 1 to 300 characters.")
    if "department" in changes:
        changes["department"] = check_department(changes["department"])
    if "owner_id" in changes:
        _active_user(session, changes["owner_id"])
    for key, value in changes.items():
        setattr(d, key, value)
    if d.external and not d.external_source:
        raise InvalidInput("An external document needs its source (issuer).")
    after = snapshot(d)
    old, new = log.changed(before, after)
    if not new:
        raise InvalidInput("Nothing to change.")
    d.updated_at = at
    session.flush()
    _history(session, d, principal, reason, at)
    log.append(session, Tag.DOCUMENT_UPDATE, actor=principal.actor, subject=document_subject(d), at=at,
               reason=reason, before=old, after=new, request=request)
    if "title" in new:
        from docctl.services import search  # the index holds titles; keep it current

        search.reindex_document(session, d)
    return d


def history(session: Session, d: Document) -> list[DocumentHistory]:
    return list(session.scalars(
        select(DocumentHistory).where(DocumentHistory.document_id == d.id).order_by(DocumentHistory.edition)
    ))
