"""Training: job functions and their holders, the matrix of what each function must know, and the assignments
that follow from them (TR-MATRIX). Reading and signing "read and understood" is in `training_signing`; the
matrix, reports and the point-in-time answer are in `training_reports`.

Assignments follow three events: a revision becomes effective (or is approved, when its author chose "train before
effective"), a person gains a function, and a function gains a requirement. Each is handled here in the caller's
transaction, with an audit event per assignment created, closed or carried over.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from docctl.audit import log
from docctl.audit.log import Actor, RequestInfo, Subject
from docctl.audit.tags import Tag
from docctl.db.models import (
    Document,
    DocumentType,
    JobFunction,
    Revision,
    TrainingAssignment,
    TrainingRecord,
    TrainingRequirement,
    User,
    UserJobFunction,
)
from docctl.domain import training as rules
from docctl.domain.lifecycle import State
from docctl.domain.policy import Permission
from docctl.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from docctl.services import accounts, documents, notifications
from docctl.services.principal import Principal

# --- job functions ----------------------------------------------------------------------------------------------


def _reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("A reason is required.")
    if len(reason) > 2000:
        raise InvalidInput("The reason is longer than 2,000 characters.")
    return reason


def function_subject(f: JobFunction) -> Subject:
    return Subject("job_function", str(f.id), f.code)


def list_functions(session: Session, *, include_inactive: bool = True) -> list[JobFunction]:
    stmt = select(JobFunction).order_by(JobFunction.code)
    if not include_inactive:
        stmt = stmt.where(JobFunction.active.is_(True))
    return list(session.scalars(stmt))


def get_function(session: Session, code: str) -> JobFunction:
    f = session.scalars(select(JobFunction).where(JobFunction.code == code.strip().upper())).one_or_none()
    if f is None:
        raise NotFound(f"No job function {code!r}.")
    return f


def create_function(session: Session, *, principal: Principal, code: str, name: str, description: str = "",
                    at: datetime, request: RequestInfo | None = None) -> JobFunction:
    principal.require(Permission.TRAINING_MANAGE)
    code = code.strip().upper()
    if not rules.FUNCTION_CODE.fullmatch(code):
        raise InvalidInput("A function code is 2 to 32 capital letters, digits, '-' or '_', starting with a letter.")
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("A function needs a name of up to 200 characters.")
    if session.scalars(select(JobFunction.id).where(JobFunction.code == code)).first() is not None:
        raise Conflict(f"The job function {code} exists already.")
    f = JobFunction(code=code, name=name, description=description.strip(), active=True, created_at=at,
                    updated_at=at, created_by_id=principal.user.id if principal.user else None)
    session.add(f)
    session.flush()
    log.append(session, Tag.JOB_FUNCTION_CREATE, actor=principal.actor, subject=function_subject(f), at=at,
               after={"code": code, "name": name, "description": f.description}, request=request)
    return f


def update_function(session: Session, *, principal: Principal, code: str, name: str, description: str,
                    active: bool, reason: str, at: datetime, request: RequestInfo | None = None) -> JobFunction:
    principal.require(Permission.TRAINING_MANAGE)
    reason = _reason(reason)
    f = get_function(session, code)
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput("A function needs a name of up to 200 characters.")
    before = {"name": f.name, "description": f.description, "active": f.active}
    after = {"name": name, "description": description.strip(), "active": active}
    if before == after:
        return f
    f.name, f.description, f.active, f.updated_at = name, description.strip(), active, at
    log.append(session, Tag.JOB_FUNCTION_UPDATE, actor=principal.actor, subject=function_subject(f), at=at,
               reason=reason, before=before, after=after, request=request)
    if before["active"] != active:
        holders = list(session.scalars(select(UserJobFunction.user_id).where(
            UserJobFunction.function_id == f.id, UserJobFunction.revoked_at.is_(None))))
        session.flush()
        for user_id in holders:
            if active:
                _assign_for_user(session, user_id, at=at, request=request)
            else:
                _cancel_unrequired(session, user_id, why=f"job function {f.code} deactivated", at=at, request=request)
    return f


def holders(session: Session, function_id: uuid.UUID) -> list[tuple[UserJobFunction, User]]:
    rows = session.execute(
        select(UserJobFunction, User).join(User, User.id == UserJobFunction.user_id)
        .where(UserJobFunction.function_id == function_id, UserJobFunction.revoked_at.is_(None))
        .order_by(User.full_name)
    ).all()
    return [(g, u) for g, u in rows]


def functions_of(session: Session, user_id: uuid.UUID) -> list[JobFunction]:
    return list(session.scalars(
        select(JobFunction).join(UserJobFunction, UserJobFunction.function_id == JobFunction.id)
        .where(UserJobFunction.user_id == user_id, UserJobFunction.revoked_at.is_(None)).order_by(JobFunction.code)
    ))


def grants_of(session: Session, user_id: uuid.UUID) -> list[tuple[UserJobFunction, JobFunction]]:
    """Every grant the person ever had, revoked ones included (their training history)."""
    rows = session.execute(
        select(UserJobFunction, JobFunction).join(JobFunction, JobFunction.id == UserJobFunction.function_id)
        .where(UserJobFunction.user_id == user_id).order_by(UserJobFunction.granted_at)
    ).all()
    return [(g, f) for g, f in rows]


def _user_for_grant(session: Session, username: str) -> User:
    user = accounts.find_user(session, username)
    if user is None:
        raise NotFound(f"No user {username!r}.")
    if user.status == "deactivated":
        raise Conflict(f"{user.username} is deactivated.")
    return user


def grant_function(session: Session, *, principal: Principal, username: str, code: str, reason: str, at: datetime,
                   request: RequestInfo | None = None) -> UserJobFunction:
    """Give a person a job function; they get assignments for the effective revisions it requires."""
    principal.require(Permission.TRAINING_MANAGE)
    reason = _reason(reason)
    user = _user_for_grant(session, username)
    f = get_function(session, code)
    if not f.active:
        raise Conflict(f"The job function {f.code} is inactive.")
    return _grant(session, principal.actor, user, f, reason, at, request)


def _grant(session: Session, actor: Actor, user: User, f: JobFunction, reason: str, at: datetime,
           request: RequestInfo | None) -> UserJobFunction:
    held = session.scalars(select(UserJobFunction).where(
        UserJobFunction.user_id == user.id, UserJobFunction.function_id == f.id,
        UserJobFunction.revoked_at.is_(None))).first()
    if held is not None:
        raise Conflict(f"{user.username} already holds {f.code}.")
    g = UserJobFunction(user_id=user.id, function_id=f.id, granted_at=at, granted_by_id=actor.id, grant_reason=reason)
    session.add(g)
    session.flush()
    log.append(session, Tag.JOB_FUNCTION_GRANT, actor=actor, subject=accounts.user_subject(user), at=at,
               reason=reason, after={"function": f.code, "grant": str(g.id)}, request=request)
    _assign_for_user(session, user.id, at=at, request=request)
    return g


def revoke_function(session: Session, *, principal: Principal, username: str, code: str, reason: str, at: datetime,
                    request: RequestInfo | None = None) -> UserJobFunction:
    """End a person's job function; open training nothing else requires is cancelled (completions stay)."""
    principal.require(Permission.TRAINING_MANAGE)
    reason = _reason(reason)
    log.lock_head(session)
    user = accounts.find_user(session, username)
    if user is None:
        raise NotFound(f"No user {username!r}.")
    f = get_function(session, code)
    return _revoke(session, principal.actor, user, f, reason, at, request)


def _revoke(session: Session, actor: Actor, user: User, f: JobFunction, reason: str, at: datetime,
            request: RequestInfo | None) -> UserJobFunction:
    g = session.scalars(select(UserJobFunction).where(
        UserJobFunction.user_id == user.id, UserJobFunction.function_id == f.id,
        UserJobFunction.revoked_at.is_(None)).with_for_update()).first()
    if g is None:
        raise Conflict(f"{user.username} does not hold {f.code}.")
    g.revoked_at, g.revoked_by_id, g.revoke_reason = at, actor.id, reason
    session.flush()
    log.append(session, Tag.JOB_FUNCTION_REVOKE, actor=actor, subject=accounts.user_subject(user), at=at,
               reason=reason, before={"function": f.code, "grant": str(g.id)}, request=request)
    _cancel_unrequired(session, user.id, why=f"job function {f.code} revoked", at=at, request=request)
    return g


# --- the HR file ------------------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    parsed: rules.ParsedFile
    applied: bool = False
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def problem(self) -> str:
        return self.parsed.problem

    @property
    def rows(self) -> list[rules.ImportRow]:
        return self.parsed.rows

    @property
    def rejected(self) -> list[rules.ImportRow]:
        return self.parsed.rejected

    @property
    def accepted(self) -> list[rules.ImportRow]:
        return self.parsed.accepted

    def as_json(self) -> dict[str, object]:
        return {
            "problem": self.problem or None, "applied": self.applied, "counts": self.counts,
            "rows": [{"line": r.line, "username": r.username, "function": r.function, "action": r.action,
                      "outcome": r.outcome or None, "problem": r.problem or None} for r in self.rows],
        }


def check_file(session: Session, data: bytes) -> ImportReport:
    """Every row checked against the database (read-only): unknown or deactivated users, unknown or inactive
    functions, grants already held (unchanged), revocations of functions not held."""
    parsed = rules.parse_function_file(data)
    report = ImportReport(parsed)
    if parsed.problem:
        return report
    users = {}
    for u in session.scalars(select(User)):
        users[u.username_key] = u
    functions = {f.code: f for f in session.scalars(select(JobFunction))}
    held = {(g.user_id, g.function_id) for g in session.scalars(
        select(UserJobFunction).where(UserJobFunction.revoked_at.is_(None)))}
    from docctl.domain.usernames import username_key

    for row in parsed.rows:
        if row.problem:
            continue
        user = users.get(username_key(row.username))
        f = functions.get(row.function)
        if user is None:
            row.problem = f"unknown user {row.username!r}"
        elif user.status == "deactivated":
            row.problem = f"{user.username} is deactivated"
        elif f is None:
            row.problem = f"unknown job function {row.function!r}"
        elif not f.active and row.action == "grant":
            row.problem = f"job function {f.code} is inactive"
        elif row.action == "grant":
            row.outcome = "unchanged" if (user.id, f.id) in held else "grant"
        elif (user.id, f.id) not in held:
            row.problem = f"{user.username} does not hold {f.code}"
        else:
            row.outcome = "revoke"
    report.counts = {"rows": len(parsed.rows), "rejected": len(parsed.rejected),
                     "grant": sum(r.outcome == "grant" for r in parsed.rows if r.valid),
                     "revoke": sum(r.outcome == "revoke" for r in parsed.rows if r.valid),
                     "unchanged": sum(r.outcome == "unchanged" for r in parsed.rows if r.valid)}
    return report


def import_file(session: Session, *, principal: Principal, data: bytes, filename: str, reason: str,
                accept_partial: bool, at: datetime, request: RequestInfo | None = None) -> ImportReport:
    """Apply an HR file: nothing unless every row is valid, or the person confirmed applying the valid rows
    (`accept_partial`). Checked again here, in the writing transaction, so a stale preview cannot apply rows that
    became invalid."""
    import hashlib

    principal.require(Permission.TRAINING_MANAGE)
    reason = _reason(reason)
    report = check_file(session, data)
    if report.problem:
        return report
    if (report.rejected and not accept_partial) or not report.accepted:
        return report
    functions = {f.code: f for f in session.scalars(select(JobFunction))}
    for row in report.accepted:
        if row.outcome == "unchanged":
            continue
        user = accounts.find_user(session, row.username)
        assert user is not None
        why = f"{reason} (HR file {filename}, line {row.line}" + (f": {row.reason})" if row.reason else ")")
        if row.outcome == "grant":
            _grant(session, principal.actor, user, functions[row.function], why, at, request)
        else:
            _revoke(session, principal.actor, user, functions[row.function], why, at, request)
    report.applied = True
    log.append(session, Tag.JOB_FUNCTION_IMPORT, actor=principal.actor,
               subject=Subject("hr_file", hashlib.sha256(data).hexdigest(), filename[:200]), at=at, reason=reason,
               after={"sha256": hashlib.sha256(data).hexdigest(), **report.counts,
                      "rejected_lines": [r.line for r in report.rejected]}, request=request)
    return report


# --- requirements -----------------------------------------------------------------------------------------------


def requirement_subject(f: JobFunction, req: TrainingRequirement, label: str) -> Subject:
    return Subject("training_requirement", str(req.id), f"{f.code} → {label}")


def requirements_of(session: Session, function_id: uuid.UUID) -> list[TrainingRequirement]:
    return list(session.scalars(select(TrainingRequirement).where(
        TrainingRequirement.function_id == function_id, TrainingRequirement.removed_at.is_(None))
        .order_by(TrainingRequirement.created_at)))


def add_requirement(session: Session, *, principal: Principal, code: str, reason: str, at: datetime,
                    number: str | None = None, type_code: str | None = None, department: str = "",
                    request: RequestInfo | None = None) -> TrainingRequirement:
    """The function must know this document, or every document of this type (in this department, or in every
    department). Holders get assignments for the effective revisions now required."""
    principal.require(Permission.TRAINING_MANAGE)
    reason = _reason(reason)
    f = get_function(session, code)
    if not f.active:
        raise Conflict(f"The job function {f.code} is inactive: activate it first.")
    active = requirements_of(session, f.id)
    if number:
        d = documents.get_document(session, number)
        if any(r.document_id == d.id for r in active):
            raise Conflict(f"{f.code} already requires {d.number}.")
        req = TrainingRequirement(function_id=f.id, document_id=d.id, department="", created_at=at, reason=reason,
                                  created_by_id=principal.user.id if principal.user else None)
        label = d.number
    elif type_code:
        t = documents.get_type(session, type_code)
        department = department.strip().upper()
        if any(r.type_id == t.id and r.department == department for r in active):
            raise Conflict(f"{f.code} already requires every {t.code} of {department or 'every department'}.")
        req = TrainingRequirement(function_id=f.id, type_id=t.id, department=department, created_at=at,
                                  reason=reason, created_by_id=principal.user.id if principal.user else None)
        label = f"every {t.code}" + (f" in {department}" if department else "")
    else:
        raise InvalidInput("Name a document, or a document type (and optionally a department).")
    session.add(req)
    session.flush()
    log.append(session, Tag.TRAINING_REQUIREMENT_ADD, actor=principal.actor, subject=requirement_subject(f, req, label),
               at=at, reason=reason, after={"function": f.code, "requires": label}, request=request)
    for user_id in _active_holders(session, [f.id]):
        _assign_for_user(session, user_id, at=at, request=request)
    return req


def remove_requirement(session: Session, *, principal: Principal, requirement_id: uuid.UUID, reason: str,
                       at: datetime, request: RequestInfo | None = None) -> TrainingRequirement:
    principal.require(Permission.TRAINING_MANAGE)
    reason = _reason(reason)
    req = session.get(TrainingRequirement, requirement_id, with_for_update=True)
    if req is None or req.removed_at is not None:
        raise NotFound("No such requirement (it may have been removed already).")
    f = session.get(JobFunction, req.function_id)
    assert f is not None
    label = requirement_label(session, req)
    req.removed_at, req.removed_by_id, req.remove_reason = at, principal.user.id if principal.user else None, reason
    session.flush()
    log.append(session, Tag.TRAINING_REQUIREMENT_REMOVE, actor=principal.actor,
               subject=requirement_subject(f, req, label), at=at, reason=reason,
               before={"function": f.code, "requires": label}, request=request)
    for user_id in _active_holders(session, [f.id]):
        _cancel_unrequired(session, user_id, why=f"{f.code} no longer requires {label}", at=at, request=request)
    return req


def requirement_label(session: Session, req: TrainingRequirement) -> str:
    if req.document_id is not None:
        d = session.get(Document, req.document_id)
        return d.number if d else str(req.document_id)
    t = session.get(DocumentType, req.type_id)
    code = t.code if t else "?"
    return f"every {code}" + (f" in {req.department}" if req.department else "")


def set_document_requirement(session: Session, *, principal: Principal, code: str, number: str, required: bool,
                             reason: str, at: datetime, request: RequestInfo | None = None) -> bool:
    """The grid editor's cell: make the function require the document, or not. Returns the new value."""
    principal.require(Permission.TRAINING_MANAGE)
    f = get_function(session, code)
    d = documents.get_document(session, number)
    existing = session.scalars(select(TrainingRequirement).where(
        TrainingRequirement.function_id == f.id, TrainingRequirement.document_id == d.id,
        TrainingRequirement.removed_at.is_(None))).first()
    if required and existing is None:
        add_requirement(session, principal=principal, code=code, number=number, reason=reason, at=at, request=request)
    elif not required and existing is not None:
        remove_requirement(session, principal=principal, requirement_id=existing.id, reason=reason, at=at,
                           request=request)
    else:
        principal.require(Permission.TRAINING_MANAGE)
    return required


# --- who must know what -----------------------------------------------------------------------------------------


def functions_requiring(session: Session, d: Document) -> list[uuid.UUID]:
    """Active functions that require this document, directly or through its type (and department)."""
    return list(session.scalars(
        select(TrainingRequirement.function_id).distinct()
        .join(JobFunction, JobFunction.id == TrainingRequirement.function_id)
        .where(TrainingRequirement.removed_at.is_(None), JobFunction.active.is_(True),
               or_(TrainingRequirement.document_id == d.id,
                   (TrainingRequirement.type_id == d.type_id)
                   & TrainingRequirement.department.in_(["", d.department])))
    ))


def required_documents(session: Session, function_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, set[uuid.UUID]]:
    """For each function, the documents it requires (type requirements expanded over current documents)."""
    ids = list(function_ids)
    out: dict[uuid.UUID, set[uuid.UUID]] = {f: set() for f in ids}
    if not ids:
        return out
    direct = session.execute(
        select(TrainingRequirement.function_id, TrainingRequirement.document_id)
        .where(TrainingRequirement.function_id.in_(ids), TrainingRequirement.removed_at.is_(None),
               TrainingRequirement.document_id.is_not(None))).all()
    by_type = session.execute(
        select(TrainingRequirement.function_id, Document.id)
        .join(Document, Document.type_id == TrainingRequirement.type_id)
        .where(TrainingRequirement.function_id.in_(ids), TrainingRequirement.removed_at.is_(None),
               TrainingRequirement.type_id.is_not(None),
               or_(TrainingRequirement.department == "", TrainingRequirement.department == Document.department))
    ).all()
    for function_id, document_id in [*direct, *by_type]:
        out[function_id].add(document_id)
    return out


def _active_holders(session: Session, function_ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Active people holding any of the functions, each with one of them (the first by code)."""
    if not function_ids:
        return {}
    rows = session.execute(
        select(UserJobFunction.user_id, UserJobFunction.function_id).join(User, User.id == UserJobFunction.user_id)
        .join(JobFunction, JobFunction.id == UserJobFunction.function_id)
        .where(UserJobFunction.function_id.in_(function_ids), UserJobFunction.revoked_at.is_(None),
               User.status != "deactivated", JobFunction.active.is_(True))
        .order_by(JobFunction.code.desc())
    ).all()
    return {user_id: function_id for user_id, function_id in rows}


def required_of_user(session: Session, user_id: uuid.UUID) -> dict[uuid.UUID, uuid.UUID]:
    """Document id -> the (first) function by which this person must know it."""
    fs = list(session.scalars(
        select(UserJobFunction.function_id).join(JobFunction, JobFunction.id == UserJobFunction.function_id)
        .where(UserJobFunction.user_id == user_id, UserJobFunction.revoked_at.is_(None),
               JobFunction.active.is_(True))))
    out: dict[uuid.UUID, uuid.UUID] = {}
    for function_id, docs in sorted(required_documents(session, fs).items(), key=lambda kv: str(kv[0])):
        for d in docs:
            out.setdefault(d, function_id)
    return out


# --- assignments ------------------------------------------------------------------------------------------------


def assignment_subject(user: User | str, d: Document, r: Revision, assignment_id: uuid.UUID) -> Subject:
    name = user if isinstance(user, str) else user.username
    return Subject("training_assignment", str(assignment_id), f"{name}: {d.number} v{r.version}")


def _live(session: Session, user_ids: Iterable[uuid.UUID],
          revision_id: uuid.UUID) -> dict[uuid.UUID, TrainingAssignment]:
    ids = list(user_ids)
    if not ids:
        return {}
    found: dict[uuid.UUID, TrainingAssignment] = {}
    for start in range(0, len(ids), 500):
        for a in session.scalars(select(TrainingAssignment).where(
                TrainingAssignment.revision_id == revision_id, TrainingAssignment.user_id.in_(ids[start:start + 500]),
                TrainingAssignment.state.in_(("open", "completed")))):
            found[a.user_id] = a
    return found


def _completion_before(session: Session, user_id: uuid.UUID, d: Document, r: Revision) -> TrainingAssignment | None:
    """For a "no retraining" revision: the person's completed training on the revisions before it, back to the
    last one that required training."""
    earlier = sorted((x for x in d.revisions if (x.major, x.minor) < (r.major, r.minor) and x.effective_at),
                     key=lambda x: (x.major, x.minor), reverse=True)
    for x in earlier:
        done = session.scalars(select(TrainingAssignment).where(
            TrainingAssignment.user_id == user_id, TrainingAssignment.revision_id == x.id,
            TrainingAssignment.state == "completed")).first()
        if done is not None:
            return done
        if x.training_required:
            return None
    return None


def _create(session: Session, d: Document, r: Revision, people: dict[uuid.UUID, uuid.UUID], *, due_at: datetime,
            at: datetime, why: str, request: RequestInfo | None,
            carried: dict[uuid.UUID, TrainingAssignment] | None = None) -> dict[uuid.UUID, uuid.UUID]:
    """Create assignments on `r` for `people` (user id -> function id) in bulk: open ones, or completed ones carried
    over from `carried` (user id -> their completed assignment on an earlier revision). Returns user -> assignment."""
    if not people:
        return {}
    carried = carried or {}
    names = dict(session.execute(select(User.id, User.username).where(User.id.in_(list(people)))).all()) \
        if len(people) <= 2000 else dict(session.execute(select(User.id, User.username)).all())
    created: dict[uuid.UUID, uuid.UUID] = {}
    rows, records = [], []
    for user_id, function_id in people.items():
        aid = uuid.uuid4()
        created[user_id] = aid
        old = carried.get(user_id)
        row = {"id": aid, "user_id": user_id, "revision_id": r.id, "document_id": d.id, "function_id": function_id,
               "state": "open", "assigned_at": at, "due_at": due_at, "opened_at": None, "reminded_at": None,
               "overdue_at": None, "completed_at": None, "record_id": None, "closed_at": None, "close_reason": None,
               "superseded_by_id": None}
        if old is not None:
            previous = session.get(TrainingRecord, old.record_id) if old.record_id else None
            rid = uuid.uuid4()
            row.update(state="completed", completed_at=at, record_id=rid)
            records.append({
                "id": rid, "assignment_id": aid, "user_id": user_id, "revision_id": r.id, "method": "carried_over",
                "result": "completed", "signature_id": previous.signature_id if previous else None,
                "trainer_id": previous.trainer_id if previous else None,
                "performed_on": previous.performed_on if previous else None,
                "performed_at": previous.performed_at if previous else old.completed_at or at, "recorded_at": at,
                "carried_from_id": previous.id if previous else None,
                "note": f"version {r.version} needs no retraining: training on version "
                        f"{previous.version if previous else '?'} carries over", "recorded_by_id": None,
                "version": previous.version if previous else "",
            })
        rows.append(row)
    session.execute(insert(TrainingAssignment), rows)
    if records:
        session.execute(insert(TrainingRecord), records)
    log.append_many(session, [
        log.Entry(Tag.TRAINING_CARRY if row["state"] == "completed" else Tag.TRAINING_ASSIGN, log.SYSTEM,
                  assignment_subject(names.get(row["user_id"], "?"), d, r, row["id"]), at, why,
                  after={"user": str(row["user_id"]), "revision": str(r.id), "state": row["state"],
                         "due_at": row["due_at"], "function": str(row["function_id"]),
                         **({"record": str(row["record_id"])} if row["state"] == "completed" else {})},
                  request=request)
        for row in rows])
    open_ids = [row["user_id"] for row in rows if row["state"] == "open"]
    if open_ids:
        notifications.notify(session, user_ids=open_ids, kind="training.assigned",
                             subject=f"Training: read {d.number} v{r.version}",
                             body=f"Please read {d.number} {d.title}, version {r.version}, and sign that you have "
                                  f"read and understood it, by {due_at:%Y-%m-%d %H:%M} UTC.", at=at, email=True)
    return created


def _assignable(d: Document, at: datetime) -> list[Revision]:
    """The revisions of a document a newly required person must train on: the effective one, and an approved one
    whose author chose "train before effective" (its date still ahead)."""
    out = [r for r in d.revisions if r.state == State.EFFECTIVE]
    out += [r for r in d.revisions if r.state == State.APPROVED and r.train_before_effective
            and r.planned_effective_at is not None and r.planned_effective_at > at]
    return out


def _assign_for_user(session: Session, user_id: uuid.UUID, *, at: datetime, request: RequestInfo | None) -> int:
    """A person gained a function (or a function gained a requirement): assignments for every required document's
    current revision they have no live assignment on, due after the type's training window."""
    user = session.get(User, user_id)
    if user is None or user.status == "deactivated":
        return 0
    made = 0
    for document_id, function_id in required_of_user(session, user_id).items():
        d = session.get(Document, document_id)
        assert d is not None
        for r in _assignable(d, at):
            if _live(session, [user_id], r.id):
                continue
            carried = {}
            if not r.training_required:
                done = _completion_before(session, user_id, d, r)
                if done is not None:
                    carried[user_id] = done
            due = rules.due_date(assigned_at=at, window_days=d.type.training_window_days,
                                 planned_effective_at=r.planned_effective_at,
                                 train_before_effective=r.state == State.APPROVED)
            _create(session, d, r, {user_id: function_id}, due_at=due, at=at, why="required by a job function",
                    request=request, carried=carried)
            made += 1
    return made


def _cancel_unrequired(session: Session, user_id: uuid.UUID, *, why: str, at: datetime,
                       request: RequestInfo | None) -> int:
    """Open assignments on documents none of the person's functions requires any more are cancelled."""
    still = required_of_user(session, user_id)
    rows = session.execute(
        select(TrainingAssignment, Revision).join(Revision, Revision.id == TrainingAssignment.revision_id)
        .where(TrainingAssignment.user_id == user_id, TrainingAssignment.state == "open")).all()
    user = session.get(User, user_id)
    assert user is not None
    n = 0
    for a, r in rows:
        if a.document_id in still:
            continue
        a.state, a.closed_at, a.close_reason = "cancelled", at, why
        log.append(session, Tag.TRAINING_CANCEL, actor=log.SYSTEM,
                   subject=assignment_subject(user, r.document, r, a.id), at=at, reason=why,
                   before={"state": "open"}, after={"state": "cancelled", "user": str(user_id)}, request=request)
        n += 1
    return n


def on_approved(session: Session, d: Document, r: Revision, *, at: datetime, request: RequestInfo | None = None
                ) -> int:
    """"Train before effective": holders get their assignment at approval, due at the effective date."""
    if not (r.train_before_effective and r.planned_effective_at is not None and r.planned_effective_at > at):
        return 0
    people = _active_holders(session, functions_requiring(session, d))
    live = _live(session, people, r.id)
    carried, todo = {}, {}
    for user_id, function_id in people.items():
        if user_id in live:
            continue
        if not r.training_required and _completion_before(session, user_id, d, r) is not None:
            continue  # carried over when the revision takes effect
        todo[user_id] = function_id
    _create(session, d, r, todo, due_at=r.planned_effective_at, at=at, request=request, carried=carried,
            why=f"version {r.version} approved; training due before it takes effect")
    return len(todo)


def on_effective(session: Session, d: Document, r: Revision, previous: Revision | None, *, at: datetime,
                 request: RequestInfo | None = None) -> int:
    """A revision took effect: every holder of a function requiring the document gets an assignment on it (or keeps
    their completion, for a "no retraining" revision); open assignments on the previous version are closed as
    superseded by the new ones. Runs in the transaction that made the revision effective."""
    people = _active_holders(session, functions_requiring(session, d))
    live = _live(session, people, r.id)  # assigned at approval ("train before effective")
    old_open: dict[uuid.UUID, TrainingAssignment] = {}
    old_done: dict[uuid.UUID, TrainingAssignment] = {}
    if previous is not None:
        for a in session.scalars(select(TrainingAssignment).where(
                TrainingAssignment.revision_id == previous.id, TrainingAssignment.state.in_(("open", "completed")))):
            (old_open if a.state == "open" else old_done)[a.user_id] = a
    carry = not r.training_required and previous is not None
    carried, todo = {}, {}
    for user_id, function_id in people.items():
        if user_id in live:
            continue
        todo[user_id] = function_id
        if carry:
            done = old_done.get(user_id) or (None if user_id in old_open else
                                             _completion_before(session, user_id, d, r))
            if done is not None:
                carried[user_id] = done
    due = rules.due_date(assigned_at=at, window_days=d.type.training_window_days, effective_at=at)
    created = _create(session, d, r, todo, due_at=due, at=at, request=request, carried=carried,
                      why=f"version {r.version} became effective")
    successor = {**{u: a.id for u, a in live.items()}, **created}
    if old_open:
        names = dict(session.execute(select(User.id, User.username).where(User.id.in_(list(old_open)))).all()) \
            if len(old_open) <= 2000 else dict(session.execute(select(User.id, User.username)).all())
        for user_id, a in old_open.items():
            a.state, a.closed_at, a.superseded_by_id = "superseded", at, successor.get(user_id)
            a.close_reason = f"superseded by version {r.version}"
        log.append_many(session, [
            log.Entry(Tag.TRAINING_SUPERSEDE, log.SYSTEM,
                      assignment_subject(names.get(user_id, "?"), d, previous, a.id), at, a.close_reason,
                      before={"state": "open"},
                      after={"state": "superseded", "user": str(user_id),
                             "superseded_by": str(a.superseded_by_id) if a.superseded_by_id else None},
                      request=request)
            for user_id, a in old_open.items()])
    return len(created)


def find_assignment(session: Session, assignment_id: uuid.UUID, *, lock: bool = False) -> TrainingAssignment:
    stmt = select(TrainingAssignment).where(TrainingAssignment.id == assignment_id)
    a = session.scalars(stmt.with_for_update() if lock else stmt).one_or_none()
    if a is None:
        raise NotFound("No such training assignment.")
    return a


def get_assignment(session: Session, *, principal: Principal, assignment_id: uuid.UUID) -> TrainingAssignment:
    """An assignment its person may see, and those who read training records (managers, QA, inspectors)."""
    a = find_assignment(session, assignment_id)
    if principal.user is None or (a.user_id != principal.user.id and not principal.can(Permission.TRAINING_READ)):
        raise PermissionDenied("This training belongs to someone else.")
    return a


def my_assignments(session: Session, user_id: uuid.UUID) -> list[tuple[TrainingAssignment, Revision]]:
    """The person's assignments, open ones first by due date, then the rest newest first."""
    rows = session.execute(
        select(TrainingAssignment, Revision).join(Revision, Revision.id == TrainingAssignment.revision_id)
        .where(TrainingAssignment.user_id == user_id)
    ).all()
    open_ = sorted(((a, r) for a, r in rows if a.state == "open"), key=lambda x: x[0].due_at)
    rest = sorted(((a, r) for a, r in rows if a.state != "open"),
                  key=lambda x: x[0].completed_at or x[0].closed_at or x[0].assigned_at, reverse=True)
    return open_ + rest


def open_count(session: Session, user_id: uuid.UUID) -> int:
    from sqlalchemy import func

    return session.scalars(select(func.count()).select_from(TrainingAssignment).where(
        TrainingAssignment.user_id == user_id, TrainingAssignment.state == "open")).one()


def gate_blockers(session: Session, user_id: uuid.UUID) -> list[tuple[str, str]]:
    """TR-GATE: the documents in force this person must still train on (number, version)."""
    rows = session.execute(
        select(Document.number, Revision.major, Revision.minor).select_from(TrainingAssignment)
        .join(Revision, Revision.id == TrainingAssignment.revision_id)
        .join(Document, Document.id == Revision.document_id)
        .where(TrainingAssignment.user_id == user_id, TrainingAssignment.state == "open",
               Revision.state == State.EFFECTIVE).order_by(Document.number)
    ).all()
    return [(number, f"{major}.{minor}") for number, major, minor in rows]


# --- the scheduler ----------------------------------------------------------------------------------------------


def sweep(session: Session, *, at: datetime, reminder_days: int = 3, limit: int = 5000) -> tuple[int, int]:
    """Remind people whose training falls due within `reminder_days`, and mark overdue what passed its due date
    (each once), telling the person. Returns (reminded, overdue)."""
    from datetime import timedelta

    log.lock_head(session)  # head before assignment rows, like every transaction that changes assignments
    overdue = session.execute(
        select(TrainingAssignment, Revision, User).join(Revision, Revision.id == TrainingAssignment.revision_id)
        .join(User, User.id == TrainingAssignment.user_id)
        .where(TrainingAssignment.state == "open", TrainingAssignment.overdue_at.is_(None),
               TrainingAssignment.due_at <= at).limit(limit)).all()
    for a, r, user in overdue:
        a.overdue_at = at
        log.append(session, Tag.TRAINING_OVERDUE, actor=log.SYSTEM,
                   subject=assignment_subject(user, r.document, r, a.id), at=at,
                   after={"user": str(user.id), "due_at": a.due_at}, request=None)
        if user.status == "active":
            notifications.notify(session, user_ids=[user.id], kind="training.overdue",
                                 subject=f"Overdue training: {r.document.number} v{r.version}",
                                 body=f"Your training on {r.document.number} {r.document.title}, version {r.version}, "
                                      f"was due {a.due_at:%Y-%m-%d %H:%M} UTC.", at=at, email=True)
    soon = session.execute(
        select(TrainingAssignment, Revision, User).join(Revision, Revision.id == TrainingAssignment.revision_id)
        .join(User, User.id == TrainingAssignment.user_id)
        .where(TrainingAssignment.state == "open", TrainingAssignment.reminded_at.is_(None),
               TrainingAssignment.overdue_at.is_(None), TrainingAssignment.due_at > at,
               TrainingAssignment.due_at <= at + timedelta(days=reminder_days)).limit(limit)).all()
    if soon:
        session.execute(update(TrainingAssignment).where(TrainingAssignment.id.in_([a.id for a, _, _ in soon]))
                        .values(reminded_at=at))
        for a, r, user in soon:
            if user.status == "active":
                notifications.notify(session, user_ids=[user.id], kind="training.reminder",
                                     subject=f"Training due soon: {r.document.number} v{r.version}",
                                     body=f"Please read {r.document.number} {r.document.title}, version {r.version}, "
                                          f"and sign by {a.due_at:%Y-%m-%d %H:%M} UTC.", at=at, email=True)
        log.append(session, Tag.TRAINING_REMIND, actor=log.SYSTEM, subject=Subject("training", "reminders", ""),
                   at=at, after={"assignments": [str(a.id) for a, _, _ in soon]}, request=None)
    return len(soon), len(overdue)
