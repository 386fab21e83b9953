"""Read and understood (TR-RU): the person opens the revision (the view is recorded), then signs with user ID,
password and the meaning "Read and understood": the same ceremony and v1 manifest as approvals, bound to the
revision's content hash, with the training assignment's id as the manifest's task. Viewing alone completes
nothing. A trainer records offline training with their own signature, the day it was performed and the real time
of entry (DI-ALCOA); a failed assessment is recorded and leaves the assignment open (ISO-6.2c).

Like approvals, signing is two steps: `prepare_*` (read-only, slow: the password unlocks the key) and `record_*`
(under a row lock on the assignment: re-checks everything, so a double submit or a stale form signs once)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from docctl.audit import log
from docctl.audit.log import RequestInfo
from docctl.audit.tags import Tag
from docctl.db.models import Revision, Signature, TrainingAssignment, TrainingRecord, User
from docctl.domain import training as rules
from docctl.domain.lifecycle import State
from docctl.domain.policy import Permission, allows
from docctl.errors import Conflict, InvalidInput, PermissionDenied
from docctl.services import accounts, approvals, notifications, sessions, training
from docctl.services.approvals import PreparedSignature
from docctl.services.credentials import AccountConfig
from docctl.services.principal import Principal, actor_of

RESULTS = ("passed", "failed")


def _check_open(a: TrainingAssignment, r: Revision) -> None:
    """The assignment can still be completed: open, on a revision in force (or approved, to train before it takes
    effect)."""
    if a.state == "completed":
        raise Conflict(f"This training was already completed ({a.completed_at:%Y-%m-%d %H:%M} UTC); nothing was "
                       "signed.")
    if a.state == "superseded":
        raise Conflict(f"Version {r.version} was superseded: {a.close_reason or 'a newer version is in force'}. "
                       "Read and sign the new version from My training instead.")
    if a.state == "cancelled":
        raise Conflict(f"This training is no longer required ({a.close_reason or 'cancelled'}); nothing was signed.")
    if r.state not in (State.EFFECTIVE, State.APPROVED):
        raise Conflict(f"Version {r.version} is {r.state.replace('_', ' ')}: only a version in force (or approved "
                       "and about to take effect) can be acknowledged.")


def _own(a: TrainingAssignment, user_id: uuid.UUID) -> None:
    if a.user_id != user_id:
        raise PermissionDenied("This training is assigned to someone else; nobody may acknowledge for another "
                               "person.")


def record_view(session: Session, *, principal: Principal, assignment_id: uuid.UUID, what: str, at: datetime,
                request: RequestInfo | None = None) -> TrainingAssignment:
    """The person opened the revision of their assignment: recorded (first time on the assignment, every time in
    the trail). This unlocks the sign button; it never completes anything (TR-RU)."""
    assert principal.user is not None
    log.lock_head(session)  # the lock order of every transaction that changes assignments: head, then rows
    a = training.find_assignment(session, assignment_id, lock=True)
    _own(a, principal.user.id)
    r = session.get(Revision, a.revision_id)
    assert r is not None
    if r.state not in (State.EFFECTIVE, State.APPROVED) and not principal.can(Permission.DOCUMENTS_READ_ALL):
        # an old assignment is no way round visibility: staff read versions in force (ISO-4.2.4d)
        raise PermissionDenied(f"Version {r.version} is {r.state.replace('_', ' ')}; only versions in force can be "
                               "opened from training.")
    if a.opened_at is None:
        a.opened_at = at
    log.append(session, Tag.TRAINING_VIEW, actor=principal.actor,
               subject=training.assignment_subject(principal.user, r.document, r, a.id), at=at,
               after={"what": what, "content_sha256": r.source_sha256, "state": a.state}, request=request)
    return a


def prepare_acknowledgement(session: Session, config: AccountConfig, *, user_id: uuid.UUID,
                            assignment_id: uuid.UUID, username: str, password: str, meaning: str,
                            at: datetime) -> PreparedSignature:
    user = accounts.get_user(session, user_id)
    a = training.find_assignment(session, assignment_id)
    r = session.get(Revision, a.revision_id)
    assert r is not None
    _own(a, user.id)
    _check_open(a, r)
    if a.opened_at is None:
        raise Conflict("Open the document and read it first: the sign button is available once you have opened it.")
    if meaning.strip() != rules.READ_AND_UNDERSTOOD:
        raise InvalidInput(f"Confirm the meaning of this signature: {rules.READ_AND_UNDERSTOOD}.")
    if not allows(user.roles, Permission.SIGN):
        raise PermissionDenied("Your roles do not sign electronic records.")
    readiness = accounts.signing_readiness(user)
    if not readiness.ready:
        raise PermissionDenied("You cannot sign yet: " + "; ".join(readiness.missing()) + ".")
    return approvals.sign_as(session, user=user, document=r.document, revision=r, meaning=rules.READ_AND_UNDERSTOOD,
                             task_id=a.id, username=username, password=password, at=at)


def _lock(session: Session, user_id: uuid.UUID, assignment_id: uuid.UUID) -> tuple[User, TrainingAssignment, Revision]:
    """Lock in the order every transaction that changes assignments uses: the audit head first (a revision taking
    effect appends, then supersedes assignments), then the signer and the assignment."""
    log.lock_head(session)
    user = session.get(User, user_id, populate_existing=True, with_for_update={"key_share": True})
    assert user is not None
    a = session.execute(select(TrainingAssignment).where(TrainingAssignment.id == assignment_id).with_for_update()
                        .execution_options(populate_existing=True)).scalar_one()
    r = session.get(Revision, a.revision_id, populate_existing=True)
    assert r is not None
    return user, a, r


def record_acknowledgement(session: Session, config: AccountConfig, *, prepared: PreparedSignature, at: datetime,
                           request: RequestInfo | None = None) -> Signature | None:
    """Store the read-and-understood signature and complete the assignment; None (the failure recorded, counting
    towards lockout) when the user ID or password was wrong."""
    user, a, r = _lock(session, prepared.signer_id, prepared.task_id)
    d = r.document
    if not approvals.key_usable(session, prepared):
        sessions.record_failure(session, config, user, at=at, request=request, action=Tag.SIGNATURE_FAILED,
                                detail=f"wrong password acknowledging {d.number} v{r.version}")
        return None
    _own(a, user.id)
    _check_open(a, r)
    sig = approvals.store_signature(session, prepared=prepared, user=user, revision=r,
                                    meaning=rules.READ_AND_UNDERSTOOD, at=at, assignment_id=a.id)
    record = TrainingRecord(assignment_id=a.id, user_id=user.id, revision_id=r.id, method="read_and_understood",
                            result="completed", signature_id=sig.id, performed_at=sig.signed_at, recorded_at=at,
                            recorded_by_id=user.id, version=r.version, note="")
    session.add(record)
    session.flush()
    a.state, a.completed_at, a.record_id = "completed", sig.signed_at, record.id
    subject = training.assignment_subject(user, d, r, a.id)
    log.append(session, Tag.SIGNATURE_CREATE, actor=actor_of(user), subject=subject, at=at,
               after={"signature": str(sig.id), "meaning": sig.meaning, "manifest_sha256": sig.manifest_sha256,
                      "content_sha256": r.source_sha256}, request=request)
    log.append(session, Tag.TRAINING_COMPLETE, actor=actor_of(user), subject=subject, at=at,
               before={"state": "open"}, after={"state": "completed", "record": str(record.id), "method": record.method,
                                                "signature": str(sig.id), "version": r.version}, request=request)
    return sig


# --- offline training, recorded by the trainer ------------------------------------------------------------------


def trainer_meaning(trainee: User, performed_on: date, result: str) -> str:
    """The meaning a trainer signs: who was trained, on which day, with what result (all inside the signed
    manifest, so the signature covers them)."""
    return (f"{rules.TRAINER_SIGN_OFF}: {trainee.full_name} ({trainee.username}) trained on "
            f"{performed_on.isoformat()}, result {result}")[:200]


def _check_offline(trainer: User, trainee: User, a: TrainingAssignment, r: Revision, performed_on: date,
                   result: str, at: datetime) -> None:
    _check_open(a, r)
    if trainer.id == trainee.id:
        raise PermissionDenied("A trainer cannot record their own training; another trainer must sign it.")
    if result not in RESULTS:
        raise InvalidInput("The result is passed or failed.")
    today = at.astimezone(ZoneInfo(trainer.time_zone)).date()
    if performed_on > today:
        raise InvalidInput("Training cannot be recorded before it happened: the date performed is in the future.")
    approved = r.approved_at.astimezone(ZoneInfo(trainer.time_zone)).date() if r.approved_at else None
    if approved is not None and performed_on < approved:
        raise InvalidInput(f"Version {r.version} was approved on {approved.isoformat()}: training on it cannot have "
                           "been performed earlier.")


def prepare_offline(session: Session, config: AccountConfig, *, principal: Principal, assignment_id: uuid.UUID,
                    username: str, password: str, performed_on: date, result: str, at: datetime
                    ) -> tuple[PreparedSignature, str]:
    """The trainer's signature over the revision, naming the trainee, the day and the result."""
    principal.require(Permission.TRAINING_RECORD)
    assert principal.user is not None
    trainer = accounts.get_user(session, principal.user.id)
    a = training.find_assignment(session, assignment_id)
    r = session.get(Revision, a.revision_id)
    trainee = session.get(User, a.user_id)
    assert r is not None and trainee is not None
    _check_offline(trainer, trainee, a, r, performed_on, result, at)
    readiness = accounts.signing_readiness(trainer)
    if not readiness.ready:
        raise PermissionDenied("You cannot sign yet: " + "; ".join(readiness.missing()) + ".")
    meaning = trainer_meaning(trainee, performed_on, result)
    prepared = approvals.sign_as(session, user=trainer, document=r.document, revision=r, meaning=meaning,
                                 task_id=a.id, username=username, password=password, at=at)
    return prepared, meaning


def record_offline(session: Session, config: AccountConfig, *, principal: Principal, prepared: PreparedSignature,
                   meaning: str, performed_on: date, result: str, note: str, at: datetime,
                   request: RequestInfo | None = None) -> TrainingRecord | None:
    """Store the trainer's signature and the training record: "performed on" as given, the entry time from the
    server clock. Passed completes the assignment; failed is recorded and leaves it open."""
    principal.require(Permission.TRAINING_RECORD)
    trainer, a, r = _lock(session, prepared.signer_id, prepared.task_id)
    trainee = session.get(User, a.user_id)
    assert trainee is not None
    d = r.document
    if not approvals.key_usable(session, prepared):
        sessions.record_failure(session, config, trainer, at=at, request=request, action=Tag.SIGNATURE_FAILED,
                                detail=f"wrong password recording training on {d.number} v{r.version}")
        return None
    _check_offline(trainer, trainee, a, r, performed_on, result, at)
    if meaning != trainer_meaning(trainee, performed_on, result):
        raise Conflict("The form changed while signing; nothing was recorded. Please sign again.")
    note = (note or "").strip()[:2000]
    sig = approvals.store_signature(session, prepared=prepared, user=trainer, revision=r, meaning=meaning, at=at,
                                    assignment_id=a.id)
    performed_at = datetime.combine(performed_on, time(0), tzinfo=ZoneInfo(trainer.time_zone))
    record = TrainingRecord(assignment_id=a.id, user_id=trainee.id, revision_id=r.id, method="offline",
                            result=result, signature_id=sig.id, trainer_id=trainer.id, performed_on=performed_on,
                            performed_at=min(performed_at, at), recorded_at=at, recorded_by_id=trainer.id,
                            version=r.version, note=note)
    session.add(record)
    session.flush()
    subject = training.assignment_subject(trainee, d, r, a.id)
    log.append(session, Tag.SIGNATURE_CREATE, actor=actor_of(trainer), subject=subject, at=at,
               after={"signature": str(sig.id), "meaning": sig.meaning, "manifest_sha256": sig.manifest_sha256,
                      "content_sha256": r.source_sha256}, request=request)
    log.append(session, Tag.TRAINING_RECORD, actor=actor_of(trainer), subject=subject, at=at, reason=note or None,
               after={"record": str(record.id), "method": "offline", "result": result,
                      "performed_on": performed_on, "recorded_at": at, "trainee": str(trainee.id),
                      "signature": str(sig.id)}, request=request)
    if result == "passed":
        a.state, a.completed_at, a.record_id = "completed", at, record.id
        log.append(session, Tag.TRAINING_COMPLETE, actor=actor_of(trainer), subject=subject, at=at,
                   before={"state": "open"}, after={"state": "completed", "record": str(record.id),
                                                    "method": "offline", "version": r.version}, request=request)
    else:
        notifications.notify(session, user_ids=[trainee.id], kind="training.failed",
                             subject=f"Training to repeat: {d.number} v{r.version}",
                             body=f"{trainer.full_name} recorded your training on {d.number} v{r.version} on "
                                  f"{performed_on.isoformat()} as not passed; the training stays open.",
                             at=at, email=True)
    return record


def records_of(session: Session, assignment_id: uuid.UUID) -> list[TrainingRecord]:
    return list(session.scalars(select(TrainingRecord).where(TrainingRecord.assignment_id == assignment_id)
                                .order_by(TrainingRecord.recorded_at)))
