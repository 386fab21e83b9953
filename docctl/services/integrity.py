"""'Verify integrity' as a background run: start it (recorded), run it off the request (progress kept in the
database, so any app process can show the bar), record its outcome.

A run checks what `docctl audit verify` checks: every event's leaf hash and stored root recomputed from its
canonical bytes (docctl.audit.verify), then every signed checkpoint: its signature under the instance CA, its
fields, its root against the trail, the RFC 6962 consistency proof from the checkpoint before it, and its copy in
the blob store (docctl.services.checkpoints.check_consistency). Its outcome names exactly where it fails: the
first event that does not verify, and each checkpoint that does not.

Starting a run is open to everyone who reads the audit trail, the read-only inspector included: it changes no
record; it is itself recorded (`audit:verify`, at the start and with the outcome), as every inspection is. One
run at a time: starting while one is running returns that one. A run whose process died (no progress for
STALE) shows as interrupted, and a new one may start.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docctl.audit import log
from docctl.audit.log import RequestInfo, Subject
from docctl.audit.tags import Tag
from docctl.audit.verify import verify_log
from docctl.blobstore import BlobStore
from docctl.clock import Clock
from docctl.db.models import AuditCheckpoint, AuditHead, IntegrityCheck, User
from docctl.db.session import Database
from docctl.domain.policy import Permission
from docctl.errors import AuditTampered, InvalidInput, NotFound
from docctl.services import checkpoints
from docctl.services.principal import Principal, actor_of

logger = logging.getLogger(__name__)

STALE = timedelta(minutes=2)  # no progress written for this long: the process running it is gone
PROGRESS_EVERY = 0.5  # seconds between progress writes


@dataclass(frozen=True)
class RunView:
    """A run as the pages and the API show it."""

    id: uuid.UUID
    started_at: datetime
    started_by: str
    state: str  # running | passed | failed | error | interrupted
    phase: str
    events_total: int
    events_done: int
    checkpoints_total: int
    checkpoints_done: int
    finished_at: datetime | None
    verified_size: int | None
    verified_root: str | None
    problems: list[dict[str, str]]

    @property
    def finished(self) -> bool:
        return self.state != "running"

    @property
    def percent(self) -> int:
        """Events count for 95 %, checkpoints for the rest."""
        if self.finished:
            return 100
        events = min(1.0, self.events_done / self.events_total) if self.events_total else 1.0
        if self.phase == "events":
            return int(95 * events)
        marks = self.checkpoints_done / self.checkpoints_total if self.checkpoints_total else 1.0
        return min(99, 95 + int(5 * marks))

    @property
    def seconds(self) -> float | None:
        return (self.finished_at - self.started_at).total_seconds() if self.finished_at else None

    def as_json(self) -> dict[str, Any]:
        return {"id": str(self.id), "started_at": log.jsonable(self.started_at), "started_by": self.started_by,
                "state": self.state, "phase": self.phase, "percent": self.percent,
                "events": {"total": self.events_total, "done": self.events_done},
                "checkpoints": {"total": self.checkpoints_total, "done": self.checkpoints_done},
                "finished_at": log.jsonable(self.finished_at), "verified_size": self.verified_size,
                "verified_root": self.verified_root, "problems": self.problems}


def _view(row: IntegrityCheck, username: str, now: datetime) -> RunView:
    state = row.state
    if state == "running" and now - row.heartbeat_at > STALE:
        state = "interrupted"
    return RunView(row.id, row.started_at, username, state, row.phase, row.events_total, row.events_done,
                   row.checkpoints_total, row.checkpoints_done, row.finished_at, row.verified_size, row.verified_root,
                   json.loads(row.problems or "[]"))


def _subject(row: IntegrityCheck) -> Subject:
    return Subject("integrity_check", str(row.id), f"verify integrity {row.started_at:%Y-%m-%d %H:%M}")


def start(session: Session, *, principal: Principal, at: datetime,
          request: RequestInfo | None = None) -> tuple[uuid.UUID, bool]:
    """Record and return a new run (id, True); or the one already running (id, False). The caller starts `run`
    after committing."""
    principal.require(Permission.AUDIT_READ)
    if principal.actor.id is None:
        raise InvalidInput("Integrity checks in the browser are started by a person; use `docctl audit verify`.")
    log.lock_head(session)  # one start at a time: two clicks cannot both find nothing running
    running = session.scalars(
        select(IntegrityCheck).where(IntegrityCheck.state == "running").order_by(IntegrityCheck.started_at.desc())
    ).first()
    if running is not None and at - running.heartbeat_at <= STALE:
        return running.id, False
    events = session.scalar(select(AuditHead.size).where(AuditHead.id == 1)) or 0
    row = IntegrityCheck(started_at=at, started_by=principal.actor.id, state="running", phase="events",
                         events_total=events, events_done=0, checkpoints_total=0, checkpoints_done=0,
                         heartbeat_at=at, problems="[]")
    session.add(row)
    session.flush()
    log.append(session, Tag.AUDIT_VERIFY, actor=principal.actor, subject=_subject(row), at=at, request=request,
               after={"state": "started", "events": events})
    return row.id, True


def get(session: Session, run_id: uuid.UUID, *, principal: Principal, at: datetime) -> RunView:
    principal.require(Permission.AUDIT_READ)
    found = session.execute(
        select(IntegrityCheck, User.username).join(User, User.id == IntegrityCheck.started_by)
        .where(IntegrityCheck.id == run_id)
    ).first()
    if found is None:
        raise NotFound("There is no such integrity check.")
    return _view(found[0], found[1], at)


def recent(session: Session, *, principal: Principal, at: datetime, limit: int = 20) -> list[RunView]:
    principal.require(Permission.AUDIT_READ)
    rows = session.execute(
        select(IntegrityCheck, User.username).join(User, User.id == IntegrityCheck.started_by)
        .order_by(IntegrityCheck.started_at.desc()).limit(limit)
    ).all()
    return [_view(row, username, at) for row, username in rows]


class _Progress:
    """Writes the run's progress at most every PROGRESS_EVERY seconds, in its own short transactions."""

    def __init__(self, db: Database, clock: Clock, run_id: uuid.UUID) -> None:
        self.db, self.clock, self.run_id = db, clock, run_id
        self.events = 0
        self.marks = 0
        self.last = 0.0

    def write(self, *, force: bool = False, **fields: Any) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY:
            return
        self.last = now
        with self.db.unit_of_work() as s:
            row = s.get(IntegrityCheck, self.run_id, with_for_update=True)
            assert row is not None  # noqa: S101
            row.events_done, row.checkpoints_done, row.heartbeat_at = self.events, self.marks, self.clock.now()
            for name, value in fields.items():
                setattr(row, name, value)

    def set_events(self, total: int) -> None:
        self.write(force=True, events_total=total)

    def add_events(self, n: int) -> None:
        self.events += n
        self.write()

    def add_checkpoint(self) -> None:
        self.marks += 1
        self.write()


def _check(db: Database, store: BlobStore | None, progress: _Progress) -> tuple[list[dict[str, str]], int | None,
                                                                                str | None]:
    problems: list[dict[str, str]] = []
    size: int | None = None
    root: str | None = None
    with db.read() as s:
        try:
            report = verify_log(s, progress=progress.add_events, total=progress.set_events)
            size, root = report.size, report.root.hex()
        except AuditTampered as exc:
            problems.append({"where": f"audit event {exc.seq}", "what": exc.message})
        count = s.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0
        progress.write(force=True, phase="checkpoints", checkpoints_total=count)
        for problem in checkpoints.check_consistency(s, store, on_checked=progress.add_checkpoint):
            where, _, what = problem.partition(": ")
            problems.append({"where": where, "what": what or where})
    return problems, size, root


def run(db: Database, store: BlobStore | None, clock: Clock, run_id: uuid.UUID) -> None:
    """Carry out a started run to its end (in a background thread or a worker); never raises."""
    progress = _Progress(db, clock, run_id)
    try:
        problems, size, root = _check(db, store, progress)
        state = "failed" if problems else "passed"
    except Exception as exc:  # a run that breaks must say so, not stay "running"
        logger.exception("integrity check %s could not finish", run_id)
        problems, size, root, state = [{"where": "the check itself", "what": f"could not finish: {exc}"}], None, \
            None, "error"
    _finish(db, clock, run_id, progress, state=state, problems=problems, size=size, root=root)


def _finish(db: Database, clock: Clock, run_id: uuid.UUID, progress: _Progress, *, state: str,
            problems: list[dict[str, str]], size: int | None, root: str | None) -> None:
    at = clock.now()
    with db.unit_of_work() as s:
        row = s.get(IntegrityCheck, run_id, with_for_update=True)
        assert row is not None  # noqa: S101
        user = s.get(User, row.started_by)
        assert user is not None  # noqa: S101
        row.state, row.phase, row.finished_at, row.heartbeat_at = state, "done", at, at
        row.events_done, row.checkpoints_done = progress.events, progress.marks
        row.verified_size, row.verified_root, row.problems = size, root, json.dumps(problems)
        log.append(s, Tag.AUDIT_VERIFY, actor=actor_of(user), subject=_subject(row), at=at,
                   after={"state": state, "events": progress.events, "checkpoints": progress.marks,
                          "verified_size": size, "root": root, "problems": len(problems),
                          "first_problem": f"{problems[0]['where']}: {problems[0]['what']}"[:500] if problems
                          else None})
