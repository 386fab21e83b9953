"""Reading the training records: the matrix of people against documents, compliance per function and department,
the overdue list, the whole matrix as CSV (streamed), a person's transcript, and the point-in-time answer "was this
person trained on the version in force at that moment, and when did they sign?" (TR-PIT)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import String, and_, case, cast, delete, func, or_, select, union, union_all
from sqlalchemy.orm import Session

from docctl.audit import log
from docctl.audit.log import RequestInfo, Subject
from docctl.audit.tags import Tag
from docctl.db.models import (
    AuditEvent,
    Document,
    JobFunction,
    Revision,
    Signature,
    TrainingAssignment,
    TrainingComplianceSnapshot,
    TrainingRecord,
    TrainingRequirement,
    User,
    UserJobFunction,
)
from docctl.domain import training as rules
from docctl.domain.lifecycle import State
from docctl.domain.policy import Permission
from docctl.errors import InvalidInput, NotFound
from docctl.services import accounts, documents, training
from docctl.services.principal import Principal

Status = rules.Status


# --- the building blocks (Core selects reused by the matrix and the summaries) -----------------------------------


def _requirements():
    """(function_id, document_id) for every active requirement, type requirements expanded over documents."""
    direct = select(TrainingRequirement.function_id.label("function_id"),
                    TrainingRequirement.document_id.label("document_id")).where(
        TrainingRequirement.removed_at.is_(None), TrainingRequirement.document_id.is_not(None))
    by_type = select(TrainingRequirement.function_id, Document.id).join(
        Document, Document.type_id == TrainingRequirement.type_id).where(
        TrainingRequirement.removed_at.is_(None), TrainingRequirement.type_id.is_not(None),
        or_(TrainingRequirement.department == "", TrainingRequirement.department == Document.department))
    return union(direct, by_type).subquery("req")


def _holders(department: str | None = None, function_id: uuid.UUID | None = None):
    """(function_id, user_id, department) for active holders of active functions."""
    stmt = (select(UserJobFunction.function_id.label("function_id"), UserJobFunction.user_id.label("user_id"),
                   User.department.label("department"))
            .join(User, User.id == UserJobFunction.user_id)
            .join(JobFunction, JobFunction.id == UserJobFunction.function_id)
            .where(UserJobFunction.revoked_at.is_(None), User.status != "deactivated", JobFunction.active.is_(True)))
    if department:
        stmt = stmt.where(User.department == department)
    if function_id:
        stmt = stmt.where(UserJobFunction.function_id == function_id)
    return stmt.subquery("holders")


def _effective():
    return select(Revision.id.label("revision_id"), Revision.document_id.label("document_id")).where(
        Revision.state == State.EFFECTIVE).subquery("eff")


# --- the matrix -------------------------------------------------------------------------------------------------


class Cell(NamedTuple):
    """One person against one document (a named tuple: the matrix makes tens of thousands of them)."""

    status: Status
    version: str = ""  # complete: the version trained on; due/overdue: the version to read
    when: datetime | None = None  # complete: when trained; due/overdue: due date
    assignment_id: str = ""


NOT_REQUIRED = Cell(Status.NOT_REQUIRED)
NO_VERSION = Cell(Status.NO_VERSION)
NOT_ASSIGNED = Cell(Status.NOT_ASSIGNED)


@dataclass
class Column:
    document_id: str
    number: str
    title: str
    version: str  # the effective version, "" if none


@dataclass
class Row:
    user_id: str
    username: str
    name: str
    department: str
    functions: list[str]
    cells: list[Cell]


@dataclass
class Matrix:
    columns: list[Column]
    rows: list[Row]
    total_people: int
    offset: int
    limit: int

    def counts(self) -> dict[Status, int]:
        out = dict.fromkeys(Status, 0)
        for row in self.rows:
            for cell in row.cells:
                out[cell.status] += 1
        return out


def _function_id(session: Session, code: str | None) -> uuid.UUID | None:
    return training.get_function(session, code).id if code else None


def _dashed(value: str) -> str:
    """An id read as text in the usual dashed form (SQLite stores 32 hex digits, PostgreSQL answers dashed)."""
    if len(value) == 32:
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return value


def _id(column):  # type: ignore[no-untyped-def]
    """An id column read as text: the matrix keys tens of thousands of cells by ids, and turning each into a
    `uuid.UUID` would cost more than the query (the same text on both sides of every lookup)."""
    return cast(column, String)


@dataclass(frozen=True)
class _Person:
    id: str
    username: str
    key: str
    name: str
    department: str


def _people(session: Session, department: str | None, function_id: uuid.UUID | None, *, after: str = "",
            offset: int = 0, limit: int | None = None) -> tuple[list[_Person], int]:
    """Active people who hold a function (filtered), by user ID."""
    holding = select(UserJobFunction.user_id).join(JobFunction, JobFunction.id == UserJobFunction.function_id).where(
        UserJobFunction.revoked_at.is_(None), JobFunction.active.is_(True))
    if function_id:
        holding = holding.where(UserJobFunction.function_id == function_id)
    where = [User.status != "deactivated", User.id.in_(holding)]
    if department:
        where.append(User.department == department)
    total = session.scalars(select(func.count()).select_from(User).where(*where)).one()
    if after:
        where.append(User.username_key > after)
    stmt = (select(_id(User.id), User.username, User.username_key, User.full_name, User.department).where(*where)
            .order_by(User.username_key).offset(offset))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_Person(*row) for row in session.execute(stmt)], total


def _required_by_function(session: Session, function_ids: list[str]) -> dict[str, set[str]]:
    """Function id -> the ids of the documents it requires (type requirements expanded), all as text."""
    out: dict[str, set[str]] = {f: set() for f in function_ids}
    if not function_ids:
        return out
    wanted = TrainingRequirement.function_id.in_([uuid.UUID(f) for f in function_ids])
    direct = select(_id(TrainingRequirement.function_id), _id(TrainingRequirement.document_id)).where(
        wanted, TrainingRequirement.removed_at.is_(None), TrainingRequirement.document_id.is_not(None))
    by_type = select(_id(TrainingRequirement.function_id), _id(Document.id)).join(
        Document, Document.type_id == TrainingRequirement.type_id).where(
        wanted, TrainingRequirement.removed_at.is_(None), TrainingRequirement.type_id.is_not(None),
        or_(TrainingRequirement.department == "", TrainingRequirement.department == Document.department))
    for function_id, document_id in [*session.execute(direct), *session.execute(by_type)]:
        out[function_id].add(document_id)
    return out


def _cells_for(session: Session, people: list[_Person], function_id: uuid.UUID | None, now: datetime
               ) -> tuple[list[Column], list[Row]]:
    if not people:
        return [], []
    ids = [p.id for p in people]
    user_ids = [uuid.UUID(i) for i in ids]  # filters use the typed columns (and their indexes)
    holds = UserJobFunction.user_id.in_(user_ids)
    grants = session.execute(
        select(_id(UserJobFunction.user_id), _id(JobFunction.id), JobFunction.code)
        .join(JobFunction, JobFunction.id == UserJobFunction.function_id)
        .where(holds, UserJobFunction.revoked_at.is_(None), JobFunction.active.is_(True))
    ).all()
    functions_by_user: dict[str, list[tuple[str, str]]] = {}
    for user_id, fid, code in grants:
        functions_by_user.setdefault(user_id, []).append((fid, code))
    required = _required_by_function(session, sorted({fid for _, fid, _ in grants}))
    if function_id:
        shown = next((docs for fid, docs in required.items() if uuid.UUID(fid) == function_id), set())
    else:
        shown = set().union(*required.values())
    shown_ids = [uuid.UUID(d) for d in shown]
    docs = session.execute(select(_id(Document.id), Document.number, Document.title)
                           .where(Document.id.in_(shown_ids))).all() if shown else []
    effective = {d: (rid, f"{ma}.{mi}") for d, rid, ma, mi in session.execute(
        select(_id(Revision.document_id), _id(Revision.id), Revision.major, Revision.minor)
        .where(Revision.document_id.in_(shown_ids), Revision.state == State.EFFECTIVE))} if docs else {}
    columns = sorted((Column(d, number, title, effective.get(d, ("", ""))[1]) for d, number, title in docs),
                     key=lambda c: c.number)
    # the live assignment of each person on each effective revision, with the record that completed it
    found: dict[tuple[str, str], Cell] = {}
    if effective:
        version_of = {rid: version for rid, version in effective.values()}
        rows = session.execute(
            select(_id(TrainingAssignment.user_id), _id(TrainingAssignment.document_id), _id(TrainingAssignment.id),
                   _id(TrainingAssignment.revision_id), TrainingAssignment.state, TrainingAssignment.due_at,
                   TrainingRecord.version, TrainingRecord.performed_at)
            .outerjoin(TrainingRecord, TrainingRecord.id == TrainingAssignment.record_id)
            .where(TrainingAssignment.user_id.in_(user_ids),
                   TrainingAssignment.revision_id.in_([uuid.UUID(r) for r in version_of]),
                   TrainingAssignment.state.in_(("open", "completed")))
        ).all()
        for user_id, document_id, aid, rid, state, due_at, trained_version, performed_at in rows:
            if state == "completed":  # a completed assignment always has its record
                found[(user_id, document_id)] = Cell(Status.COMPLETE, trained_version or version_of[rid],
                                                     performed_at, _dashed(aid))
            else:
                found[(user_id, document_id)] = Cell(rules.status_of(state, due_at, now), version_of[rid], due_at,
                                                     _dashed(aid))
    out_rows = []
    for p in people:
        mine = functions_by_user.get(p.id, [])
        needed = set().union(*(required.get(fid, set()) for fid, _ in mine)) if mine else set()
        cells = []
        append = cells.append
        for col in columns:
            if col.document_id not in needed:
                append(NOT_REQUIRED)
            elif not col.version:
                append(NO_VERSION)
            else:
                append(found.get((p.id, col.document_id), NOT_ASSIGNED))
        out_rows.append(Row(_dashed(p.id), p.username, p.name, p.department, sorted(c for _, c in mine), cells))
    for col in columns:
        col.document_id = _dashed(col.document_id)
    return columns, out_rows


def matrix(session: Session, *, principal: Principal, now: datetime, department: str | None = None,
           function: str | None = None, offset: int = 0, limit: int = 200) -> Matrix:
    """People (filtered by department and function) against the documents their functions require."""
    principal.require(Permission.TRAINING_READ)
    function_id = _function_id(session, function)
    people, total = _people(session, department or None, function_id, offset=max(offset, 0), limit=limit)
    columns, rows = _cells_for(session, people, function_id, now)
    return Matrix(columns, rows, total, max(offset, 0), limit)


def departments(session: Session) -> list[str]:
    return [d for d in session.scalars(select(User.department).distinct().where(User.department != "")
                                       .order_by(User.department))]


# --- compliance -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compliance:
    key: str  # function code or department
    name: str
    required: int  # person-document pairs required (documents with a version in force)
    complete: int
    overdue: int
    people: int

    @property
    def due(self) -> int:
        return self.required - self.complete - self.overdue

    @property
    def percent(self) -> int | None:
        return rules.percent(self.complete, self.required)


def _pair_counts(now: datetime, *group: object):
    """Aggregates over required person-document pairs: required, complete, overdue (with an assignment on the
    version in force)."""
    a = TrainingAssignment
    return [
        func.count().label("required"),
        func.sum(case((a.state == "completed", 1), else_=0)).label("complete"),
        func.sum(case((and_(a.state == "open", a.due_at <= now), 1), else_=0)).label("overdue"),
        *group,
    ]


def compliance(session: Session, *, principal: Principal, now: datetime) -> tuple[list[Compliance], list[Compliance],
                                                                                  Compliance]:
    """Per function, per department, and overall: how many required person-document pairs are complete."""
    principal.require(Permission.TRAINING_READ)
    req, holders, eff = _requirements(), _holders(), _effective()
    a = TrainingAssignment
    live = and_(a.user_id == holders.c.user_id, a.revision_id == eff.c.revision_id, a.state.in_(("open", "completed")))
    per_function = session.execute(
        select(*_pair_counts(now, holders.c.function_id), func.count(holders.c.user_id.distinct()))
        .select_from(holders).join(req, req.c.function_id == holders.c.function_id)
        .join(eff, eff.c.document_id == req.c.document_id).outerjoin(a, live)
        .group_by(holders.c.function_id)).all()
    # a person who needs a document through two functions counts once for their department
    pairs = select(holders.c.user_id, holders.c.department, req.c.document_id).select_from(holders).join(
        req, req.c.function_id == holders.c.function_id).distinct().subquery("pairs")
    live_pairs = and_(a.user_id == pairs.c.user_id, a.revision_id == eff.c.revision_id,
                      a.state.in_(("open", "completed")))
    per_department = session.execute(
        select(*_pair_counts(now, pairs.c.department), func.count(pairs.c.user_id.distinct()))
        .select_from(pairs).join(eff, eff.c.document_id == pairs.c.document_id).outerjoin(a, live_pairs)
        .group_by(pairs.c.department)).all()
    functions = {f.id: f for f in training.list_functions(session)}
    by_function = sorted(
        (Compliance(functions[fid].code, functions[fid].name, n, c or 0, o or 0, people)
         for n, c, o, fid, people in per_function if fid in functions), key=lambda x: x.key)
    by_department = sorted((Compliance(dept or "-", dept or "(no department)", n, c or 0, o or 0, people)
                            for n, c, o, dept, people in per_department), key=lambda x: x.key)
    overall = Compliance("all", "Everyone", sum(x.required for x in by_department),
                         sum(x.complete for x in by_department), sum(x.overdue for x in by_department),
                         sum(x.people for x in by_department))
    return by_function, by_department, overall


# --- the compliance summary, kept as a snapshot ------------------------------------------------------------------

# Every audit action after which the summary may differ: training itself, job functions and requirements, versions
# taking effect or leaving it, people leaving or changing department, documents changing department.
RELEVANT: tuple[Tag, ...] = tuple(t for t in Tag if t.value.startswith(("training", "job_function"))) + (
    Tag.REVISION_MAKE_EFFECTIVE, Tag.REVISION_SUPERSEDE, Tag.REVISION_RETIRE, Tag.USER_DEACTIVATE, Tag.USER_UPDATE,
    Tag.DOCUMENT_UPDATE)
KEEP_SNAPSHOTS = 20


@dataclass
class Summary:
    by_function: list[Compliance]
    by_department: list[Compliance]
    overall: Compliance
    computed_at: datetime
    millis: int
    through_seq: int


def last_relevant_seq(session: Session) -> int:
    """The newest audit event that can change the summary: one index probe per action (action, seq)."""
    probes = [select(func.max(AuditEvent.seq).label("seq")).where(AuditEvent.action == t.value) for t in RELEVANT]
    found = session.execute(select(func.max(union_all(*probes).subquery().c.seq))).scalar()
    return int(found or 0)


def _as_payload(parts: tuple[list[Compliance], list[Compliance], Compliance]) -> dict[str, object]:
    def rows(items: list[Compliance]) -> list[dict[str, object]]:
        return [{"key": c.key, "name": c.name, "required": c.required, "complete": c.complete, "overdue": c.overdue,
                 "people": c.people} for c in items]

    by_function, by_department, overall = parts
    return {"by_function": rows(by_function), "by_department": rows(by_department), "overall": rows([overall])[0]}


def _from_payload(payload: dict) -> tuple[list[Compliance], list[Compliance], Compliance]:
    return ([Compliance(**c) for c in payload["by_function"]], [Compliance(**c) for c in payload["by_department"]],
            Compliance(**payload["overall"]))


def cached_summary(session: Session, *, principal: Principal) -> Summary | None:
    """The newest snapshot, if nothing that could change it happened since; None otherwise."""
    principal.require(Permission.TRAINING_READ)
    snap = session.scalars(select(TrainingComplianceSnapshot).order_by(
        TrainingComplianceSnapshot.through_seq.desc(), TrainingComplianceSnapshot.computed_at.desc()).limit(1)).first()
    if snap is None or last_relevant_seq(session) > snap.through_seq:
        return None
    return Summary(*_from_payload(snap.payload), snap.computed_at, snap.millis, snap.through_seq)


def compute_summary(session: Session, *, principal: Principal, now: datetime) -> Summary:
    """The summary computed now (read-only; the events it reflects are those up to the returned `through_seq`)."""
    import time

    through = last_relevant_seq(session)  # read first: anything later makes the snapshot stale, never wrong
    started = time.perf_counter()
    parts = compliance(session, principal=principal, now=now)
    return Summary(*parts, now, int((time.perf_counter() - started) * 1000), through)


def store_summary(session: Session, summary: Summary) -> None:
    """Keep a computed summary (and only the newest few)."""
    session.add(TrainingComplianceSnapshot(
        computed_at=summary.computed_at, through_seq=summary.through_seq, millis=summary.millis,
        payload=_as_payload((summary.by_function, summary.by_department, summary.overall))))
    session.flush()
    keep = select(TrainingComplianceSnapshot.id).order_by(
        TrainingComplianceSnapshot.through_seq.desc(), TrainingComplianceSnapshot.computed_at.desc()).limit(
        KEEP_SNAPSHOTS).scalar_subquery()
    session.execute(delete(TrainingComplianceSnapshot).where(TrainingComplianceSnapshot.id.not_in(keep)))


def summary(read: Callable[[], AbstractContextManager[Session]],
            write: Callable[[], AbstractContextManager[Session]], *, principal: Principal, now: datetime) -> Summary:
    """The compliance summary: the snapshot when it is still valid (the scheduler keeps it so), or computed now
    and kept. `read` and `write` are the database's read and unit-of-work contexts."""
    with read() as session:
        found = cached_summary(session, principal=principal)
        if found is not None:
            return found
        fresh = compute_summary(session, principal=principal, now=now)
    with write() as session:
        store_summary(session, fresh)
    return fresh


@dataclass(frozen=True)
class Overdue:
    assignment_id: uuid.UUID
    username: str
    name: str
    department: str
    number: str
    title: str
    version: str
    due_at: datetime
    days: int


def overdue(session: Session, *, principal: Principal, now: datetime, department: str | None = None,
            function: str | None = None, limit: int = 500) -> list[Overdue]:
    principal.require(Permission.TRAINING_READ)
    stmt = (select(TrainingAssignment.id, User.username, User.full_name, User.department, Document.number,
                   Document.title, Revision.major, Revision.minor, TrainingAssignment.due_at)
            .join(User, User.id == TrainingAssignment.user_id)
            .join(Revision, Revision.id == TrainingAssignment.revision_id)
            .join(Document, Document.id == TrainingAssignment.document_id)
            .where(TrainingAssignment.state == "open", TrainingAssignment.due_at <= now,
                   Revision.state == State.EFFECTIVE, User.status != "deactivated"))
    if department:
        stmt = stmt.where(User.department == department)
    if function:
        fid = _function_id(session, function)
        stmt = stmt.where(TrainingAssignment.user_id.in_(select(UserJobFunction.user_id).where(
            UserJobFunction.function_id == fid, UserJobFunction.revoked_at.is_(None))))
    rows = session.execute(stmt.order_by(TrainingAssignment.due_at, User.username_key).limit(limit)).all()
    return [Overdue(aid, un, name, dept, number, title, f"{ma}.{mi}", due, (now - due).days)
            for aid, un, name, dept, number, title, ma, mi, due in rows]


# --- CSV --------------------------------------------------------------------------------------------------------

CSV_HEADER = ["username", "name", "department", "functions", "document", "title", "version_in_force", "status",
              "version_trained", "completed_at_utc", "due_at_utc", "assignment_id"]


def _csv_line(values: list[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(
        # a cell starting with = + - @ is read as a formula by spreadsheets: quote it as text
        ["'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v for v in values])
    return buffer.getvalue()


def _human(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(value: datetime | None) -> str:
    return log.jsonable(value) if value else ""


def iter_matrix_csv(read: Callable[[], AbstractContextManager[Session]], *, now: datetime,
                    department: str | None = None, function: str | None = None, batch: int = 500) -> Iterator[str]:
    """The whole matrix in long form (one line per person and required document), read in batches of people with
    a fresh read transaction each, so memory stays bounded however many people there are."""
    yield "\ufeff" + _csv_line(CSV_HEADER)
    after = ""
    while True:
        with read() as session:
            function_id = _function_id(session, function)
            people, _ = _people(session, department or None, function_id, after=after, limit=batch)
            if not people:
                return
            columns, rows = _cells_for(session, people, function_id, now)
            after = people[-1].key
        lines = []
        for row in rows:
            functions = " ".join(row.functions)
            for col, cell in zip(columns, row.cells, strict=True):
                if cell.status is Status.NOT_REQUIRED:
                    continue
                complete = cell.status is Status.COMPLETE
                lines.append(_csv_line([
                    row.username, row.name, row.department, functions, col.number, col.title, col.version,
                    cell.status.value, cell.version if complete else "", _iso(cell.when) if complete else "",
                    "" if complete else _iso(cell.when), str(cell.assignment_id or "")]))
        yield "".join(lines)


def record_export(session: Session, *, principal: Principal, what: str, filters: dict[str, object], at: datetime,
                  request: RequestInfo | None = None) -> None:
    """A training report left the system: who took which, when, with which filters. A person may take their own
    transcript (filters {"user": their user ID}); everything else needs TRAINING_READ."""
    own = what == "transcript" and principal.user is not None and filters.get("user") == principal.user.username
    if not own:
        principal.require(Permission.TRAINING_READ)
    log.append(session, Tag.TRAINING_EXPORT, actor=principal.actor, subject=Subject("training_report", what, what),
               at=at, after={"what": what, "filters": {k: v for k, v in filters.items() if v}}, request=request)


# --- a person's transcript --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TranscriptLine:
    record: TrainingRecord
    number: str
    title: str
    revision_version: str
    signature: Signature | None
    trainer_name: str


@dataclass
class Transcript:
    user: User
    functions: list[tuple[UserJobFunction, JobFunction]]
    lines: list[TranscriptLine]
    open: list[tuple[TrainingAssignment, Revision]] = field(default_factory=list)


def transcript(session: Session, *, principal: Principal, username: str) -> Transcript:
    """Every training record of a person (completed, carried over, passed and failed), with the signature behind
    each, their job functions over time and what is still open."""
    user = accounts.find_user(session, username)
    if user is None:
        raise NotFound(f"No user {username!r}.")
    if principal.user is None or (principal.user.id != user.id and not principal.can(Permission.TRAINING_READ)):
        principal.require(Permission.TRAINING_READ)
    rows = session.execute(
        select(TrainingRecord, Document.number, Document.title, Revision.major, Revision.minor)
        .join(Revision, Revision.id == TrainingRecord.revision_id).join(Document, Document.id == Revision.document_id)
        .where(TrainingRecord.user_id == user.id).order_by(TrainingRecord.performed_at, TrainingRecord.recorded_at)
    ).all()
    sig_ids = {r.signature_id for r, *_ in rows if r.signature_id}
    sigs = {s.id: s for s in session.scalars(select(Signature).where(Signature.id.in_(sig_ids)))} if sig_ids else {}
    trainers = {u.id: u.full_name for u in accounts.users_by_id(session, {r.trainer_id for r, *_ in rows
                                                                           if r.trainer_id})}
    lines = [TranscriptLine(r, number, title, f"{ma}.{mi}", sigs.get(r.signature_id), trainers.get(r.trainer_id, ""))
             for r, number, title, ma, mi in rows]
    open_ = [(a, r) for a, r in training.my_assignments(session, user.id) if a.state == "open"]
    return Transcript(user, training.grants_of(session, user.id), lines, open_)


# --- point in time (TR-PIT) -------------------------------------------------------------------------------------


@dataclass
class PointInTime:
    username: str
    name: str
    number: str
    title: str
    at: datetime
    version: str | None  # the version in force at `at`, None if none was
    trained: bool
    required: list[str]  # the person's functions requiring the document at that time
    record: TrainingRecord | None = None  # the record that made them trained (or, if not, a later one)
    signature: Signature | None = None
    trained_version: str = ""
    later: bool = False  # not trained at `at`, but trained on that version afterwards
    assignment: TrainingAssignment | None = None
    explanation: str = ""

    def as_json(self) -> dict[str, object]:
        sig = self.signature
        return {
            "user": self.username, "name": self.name, "document": self.number, "title": self.title,
            "at": log.jsonable(self.at), "version_in_force": self.version, "trained": self.trained,
            "required_by": self.required, "explanation": self.explanation,
            "trained_on_version": self.trained_version or None,
            "performed_at": log.jsonable(self.record.performed_at) if self.record else None,
            "recorded_at": log.jsonable(self.record.recorded_at) if self.record else None,
            "method": self.record.method if self.record else None,
            "signature": None if sig is None else {
                "id": str(sig.id), "signed_at": log.jsonable(sig.signed_at), "meaning": sig.meaning,
                "printed_name": sig.printed_name, "manifest_sha256": sig.manifest_sha256},
            "assignment": None if self.assignment is None else {
                "id": str(self.assignment.id), "assigned_at": log.jsonable(self.assignment.assigned_at),
                "due_at": log.jsonable(self.assignment.due_at), "state_now": self.assignment.state},
        }


def _in_force(d_id: uuid.UUID, at: datetime):
    return and_(Revision.document_id == d_id, Revision.effective_at.is_not(None), Revision.effective_at <= at,
                or_(Revision.superseded_at.is_(None), Revision.superseded_at > at),
                or_(Revision.obsolete_at.is_(None), Revision.obsolete_at > at))


def point_in_time(session: Session, *, principal: Principal, username: str, number: str, at: datetime
                  ) -> PointInTime:
    """Was the person trained on the revision of the document that was in force at `at`, and when did they sign?
    Trained means a completing record (read and understood, passed offline training, or a completion carried to a
    "no retraining" revision) performed at or before `at`."""
    if at.tzinfo is None:
        raise InvalidInput("The moment needs a time zone.")
    user = accounts.find_user(session, username)
    if user is None:
        raise NotFound(f"No user {username!r}.")
    if principal.user is None or principal.user.id != user.id:
        principal.require(Permission.TRAINING_READ)
    d = documents.get_document(session, number)
    required = list(session.scalars(
        select(JobFunction.code).distinct().join(UserJobFunction, UserJobFunction.function_id == JobFunction.id)
        .join(TrainingRequirement, TrainingRequirement.function_id == JobFunction.id)
        .where(UserJobFunction.user_id == user.id, UserJobFunction.granted_at <= at,
               or_(UserJobFunction.revoked_at.is_(None), UserJobFunction.revoked_at > at),
               TrainingRequirement.created_at <= at,
               or_(TrainingRequirement.removed_at.is_(None), TrainingRequirement.removed_at > at),
               or_(TrainingRequirement.document_id == d.id,
                   and_(TrainingRequirement.type_id == d.type_id,
                        TrainingRequirement.department.in_(["", d.department]))))
        .order_by(JobFunction.code)))
    answer = PointInTime(user.username, user.full_name, d.number, d.title, at, None, False, required)
    r = session.scalars(select(Revision).where(_in_force(d.id, at))).first()
    if r is None:
        answer.explanation = f"No version of {d.number} was in force at that moment."
        return answer
    answer.version = r.version
    completing = select(TrainingRecord).where(
        TrainingRecord.user_id == user.id, TrainingRecord.revision_id == r.id,
        TrainingRecord.result.in_(("completed", "passed")))
    record = session.scalars(completing.where(TrainingRecord.performed_at <= at)
                             .order_by(TrainingRecord.performed_at).limit(1)).first()
    if record is None and not r.training_required:
        # a "no retraining" revision: training on the versions before it counts, back to the last that required it
        for earlier in sorted((x for x in d.revisions if (x.major, x.minor) < (r.major, r.minor) and x.effective_at),
                              key=lambda x: (x.major, x.minor), reverse=True):
            record = session.scalars(select(TrainingRecord).where(
                TrainingRecord.user_id == user.id, TrainingRecord.revision_id == earlier.id,
                TrainingRecord.result.in_(("completed", "passed")), TrainingRecord.performed_at <= at)
                .order_by(TrainingRecord.performed_at).limit(1)).first()
            if record is not None or earlier.training_required:
                break
    answer.assignment = session.scalars(select(TrainingAssignment).where(
        TrainingAssignment.user_id == user.id, TrainingAssignment.revision_id == r.id)
        .order_by(TrainingAssignment.assigned_at.desc()).limit(1)).first()
    if record is not None:
        answer.trained, answer.record = True, record
        answer.trained_version = record.version
        answer.signature = session.get(Signature, record.signature_id) if record.signature_id else None
        how = {"read_and_understood": "signed read and understood", "offline": "was trained by a trainer",
               "carried_over": "signed read and understood"}[record.method]
        answer.explanation = (f"Yes: {user.full_name} {how} version {record.version} at "
                              f"{_human(record.performed_at)}, before that moment; version {r.version} was in force.")
        if record.recorded_at > at:
            answer.explanation += f" (The record was entered later, at {_human(record.recorded_at)}.)"
        return answer
    later = session.scalars(completing.order_by(TrainingRecord.performed_at).limit(1)).first()
    if later is not None:
        answer.later, answer.record, answer.trained_version = True, later, later.version
        answer.signature = session.get(Signature, later.signature_id) if later.signature_id else None
        answer.explanation = (f"No: version {r.version} was in force, and {user.full_name} completed training on it "
                              f"only later, at {_human(later.performed_at)}.")
    elif answer.assignment is not None and answer.assignment.assigned_at <= at:
        due = answer.assignment.due_at
        answer.explanation = (f"No: version {r.version} was in force; training on it was assigned and "
                              f"{'overdue' if due <= at else 'not yet due'} (due {_human(due)}).")
    else:
        answer.explanation = (f"No: version {r.version} was in force, and {user.full_name} had no training record "
                              "for it" + ("" if required else " (no job function required it then)") + ".")
    return answer
