"""The approval workflow: submit, sign, reject, recall; approved when every stage is signed; effective at the
effective date (the scheduler), superseding the previous version in the same transaction (ISO-4.2.4a).

Signing is two steps, like logging in: `prepare_signature` checks the user ID, unlocks the signer's key with the
password (scrypt; the key is wrapped under the current password, so this is the password check) and signs the
manifest with no lock held; `record_signature` then re-checks everything under a row lock
on the revision, so parallel signers of one revision are serialized and a stale form or a double submit yields
exactly one signature and a clear message.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docctl import signatures
from docctl.audit import log
from docctl.audit.log import RequestInfo, Subject
from docctl.audit.tags import Tag
from docctl.db.models import (
    ApprovalRoute,
    ApprovalTask,
    Document,
    Revision,
    RouteStage,
    Signature,
    SigningKey,
    User,
)
from docctl.domain import esig, routes
from docctl.domain.lifecycle import State, Step
from docctl.domain.policy import Role
from docctl.domain.usernames import username_key
from docctl.errors import Conflict, InvalidInput, KeyUnwrapFailed, NotFound, PermissionDenied
from docctl.services import accounts, documents, notifications, revisions, sessions, signing_keys, training
from docctl.services.credentials import AccountConfig
from docctl.services.principal import Principal, actor_of

# --- routes -----------------------------------------------------------------------------------------------------


def rules_of(route: ApprovalRoute) -> list[routes.StageRule]:
    return [
        routes.StageRule(position=s.position, name=s.name, meaning=s.meaning, rule=s.rule, role=s.role,
                         user_ids=tuple(uuid.UUID(u) for u in s.user_ids or ()), required=s.required,
                         author_may_sign=s.author_may_sign)
        for s in route.stages
    ]


def current_route(session: Session, type_id: uuid.UUID) -> ApprovalRoute:
    route = session.scalars(
        select(ApprovalRoute).where(ApprovalRoute.type_id == type_id).order_by(ApprovalRoute.version.desc()).limit(1)
    ).first()
    if route is None:
        raise Conflict("This document type has no approval route; an administrator must define one.")
    return route


def stage_rule(session: Session, *, position: int, name: str, meaning: str, rule: str, role: str | None,
               users: list[str], required: int, author_may_sign: bool) -> routes.StageRule:
    """A stage from what a person typed: user IDs become account ids (unknown ones are refused)."""
    ids = []
    for username in users:
        user = accounts.find_user(session, username)
        if user is None:
            raise InvalidInput(f"Stage {position}: no user {username!r}.")
        ids.append(user.id)
    return routes.StageRule(position=position, name=name.strip(), meaning=meaning.strip(), rule=rule,
                            role=(role or None) if rule == "role" else None, user_ids=tuple(ids),
                            required=required, author_may_sign=author_may_sign)


def route_json(rules: list[routes.StageRule]) -> list[dict[str, object]]:
    return [{"position": r.position, "name": r.name, "meaning": r.meaning, "rule": r.rule, "role": r.role,
             "users": [str(u) for u in r.user_ids], "required": r.required, "author_may_sign": r.author_may_sign}
            for r in rules]


def update_route(
    session: Session, *, principal: Principal, type_code: str, stages: list[routes.StageRule], reason: str,
    at: datetime, request: RequestInfo | None = None,
) -> ApprovalRoute:
    """A new version of the type's route; revisions already submitted keep theirs (A11-10)."""
    if Role.ADMIN not in principal.roles:
        raise PermissionDenied("Only administrators change approval routes.")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("A reason is required.")
    routes.check_route(stages)
    t = documents.get_type(session, type_code)
    for stage in stages:
        for user_id in stage.user_ids:
            user = session.get(User, user_id)
            if user is None or user.status == "deactivated":
                raise InvalidInput(f"Stage {stage.position}: every named user must be an active account.")
    old = current_route(session, t.id)
    route = ApprovalRoute(type_id=t.id, version=old.version + 1, created_at=at, reason=reason,
                          created_by_id=principal.user.id if principal.user else None)
    session.add(route)
    session.flush()
    for s in stages:
        session.add(RouteStage(route_id=route.id, position=s.position, name=s.name.strip(), meaning=s.meaning.strip(),
                               rule=s.rule, role=s.role if s.rule == "role" else None,
                               user_ids=[str(u) for u in s.user_ids], required=s.required,
                               author_may_sign=s.author_may_sign))
    session.flush()
    session.refresh(route)
    log.append(session, Tag.APPROVAL_ROUTE_UPDATE, actor=principal.actor,
               subject=Subject("document_type", str(t.id), t.code), at=at, reason=reason,
               before={"version": old.version, "stages": route_json(rules_of(old))},
               after={"version": route.version, "stages": route_json(stages)}, request=request)
    return route


# --- submission -------------------------------------------------------------------------------------------------


def _holders(session: Session) -> dict[str, list[uuid.UUID]]:
    from docctl.db.models import UserRole

    rows = session.execute(
        select(UserRole.role, User.id).join(User, User.id == UserRole.user_id)
        .where(UserRole.revoked_at.is_(None), User.status == "active")
    ).all()
    out: dict[str, list[uuid.UUID]] = {}
    for role, user_id in rows:
        out.setdefault(role, []).append(user_id)
    return out


def _signed_by(session: Session, revision: Revision) -> list[uuid.UUID]:
    return list(session.scalars(
        select(ApprovalTask.assignee_id).where(ApprovalTask.revision_id == revision.id,
                                               ApprovalTask.round == revision.round, ApprovalTask.state == "signed")
    ))


def _open_stage(session: Session, d: Document, r: Revision, route: ApprovalRoute, position: int, at: datetime,
                request: RequestInfo | None) -> list[ApprovalTask]:
    rule = next(s for s in rules_of(route) if s.position == position)
    people = routes.assignees(rule, holders=_holders(session), author_id=r.created_by_id,
                              already_signed=_signed_by(session, r))
    if len(people) < rule.required:
        raise Conflict(f"Not enough people can sign the stage '{rule.name}' ({rule.required} needed, "
                       f"{len(people)} eligible): check the route and the role holders.")
    tasks = [ApprovalTask(revision_id=r.id, route_id=route.id, round=r.round, position=position,
                          stage_name=rule.name, meaning=rule.meaning, assignee_id=p, created_at=at) for p in people]
    session.add_all(tasks)
    session.flush()
    log.append(session, Tag.TASK_CREATE, actor=log.SYSTEM, subject=revisions.revision_subject(d, r), at=at,
               after={"stage": rule.name, "meaning": rule.meaning, "required": rule.required,
                      "assignees": [str(p) for p in people], "round": r.round}, request=request)
    notifications.notify(session, user_ids=people, kind="approval.task",
                         subject=f"Please sign: {d.number} v{r.version} ({rule.meaning})",
                         body=f"{d.number} {d.title}, version {r.version}, waits for your signature "
                              f"({rule.name}: {rule.meaning}).", at=at, email=True)
    return tasks


def _previous_route(session: Session, d: Document, r: Revision) -> ApprovalRoute | None:
    earlier = [x for x in d.revisions if x.id != r.id and x.route_id is not None
               and x.state in (State.EFFECTIVE, State.SUPERSEDED, State.OBSOLETE)]
    if not earlier:
        return None
    latest = max(earlier, key=lambda x: (x.major, x.minor))
    return session.get(ApprovalRoute, latest.route_id)


def submit(
    session: Session, *, principal: Principal, number: str, version: str, effective_at: datetime | None = None,
    use_current_route: bool = False, override_reason: str = "", training_required: bool | None = None,
    train_before_effective: bool = False, at: datetime, request: RequestInfo | None = None,
) -> Revision:
    """Send a draft for approval. A new revision goes to the previous version's approving functions unless QA
    overrides with a reason (ISO-4.2.4-chg); the effective date may be later than approval, never earlier."""
    d = documents.get_document(session, number, for_update=True)
    if not documents.can_edit(principal, d):
        raise PermissionDenied("Only document control or the document's owner may submit it.")
    r = revisions.find(d, version)
    if effective_at is not None and effective_at < at:
        raise InvalidInput("The effective date cannot be in the past.")
    previous = _previous_route(session, d, r)
    route = current_route(session, d.type_id)
    if previous is not None and previous.id != route.id:
        if not use_current_route:
            route = previous
        elif Role.QA not in principal.roles or not override_reason.strip():
            raise PermissionDenied("Changing the approving functions from the previous version needs QA and a reason.")
    if previous is not None and previous.id != route.id and routes.functions(rules_of(previous)) != routes.functions(
            rules_of(route)):
        log.append(session, Tag.APPROVAL_ROUTE_UPDATE, actor=principal.actor,
                   subject=revisions.revision_subject(d, r), at=at, reason=override_reason.strip(),
                   before={"stages": route_json(rules_of(previous))}, after={"stages": route_json(rules_of(route))},
                   request=request)
    if training_required is False and (r.change_kind != "minor" or revisions.current(d) is None):
        raise InvalidInput("Only a minor revision of a document in force can skip retraining; a major change "
                           "always needs the staff who must know it to read it again.")
    if train_before_effective and effective_at is None:
        raise InvalidInput("Training before the effective date needs an effective date.")
    r.round += 1
    r.route_id = route.id
    r.planned_effective_at = effective_at
    if training_required is not None:
        r.training_required = training_required
    r.train_before_effective = train_before_effective
    revisions.apply_step(session, actor=principal.actor, document=d, revision=r, step=Step.SUBMIT, at=at,
                         request=request, details={"training_required": r.training_required,
                                                   "train_before_effective": r.train_before_effective,
                                                   "planned_effective_at": effective_at})
    _open_stage(session, d, r, route, 1, at, request)
    return r


# --- signing ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedSignature:
    task_id: uuid.UUID
    signer_id: uuid.UUID
    password_ok: bool  # False: wrong user ID or password (the attempt is recorded)
    key_id: uuid.UUID | None = None
    manifest: bytes = b""
    signature: bytes = b""
    signed_at: datetime | None = None


def get_task(session: Session, task_id: uuid.UUID, *, lock: bool = False) -> ApprovalTask:
    stmt = select(ApprovalTask).where(ApprovalTask.id == task_id)
    task = session.scalars(stmt.with_for_update() if lock else stmt).one_or_none()
    if task is None:
        raise NotFound("No such task.")
    return task


def _lock_revision(session: Session, revision_id: uuid.UUID) -> Revision:
    """Lock the revision's document, then the revision, and read the revision afresh. Every decision on a
    submission (sign, reject, recall) takes its locks in this order (signer, document, revision, tasks, audit
    head), so deciders wait for each other instead of deadlocking, and none acts on a state read before another
    decision committed."""
    document_id = session.scalars(select(Revision.document_id).where(Revision.id == revision_id)).one()
    session.execute(select(Document.id).where(Document.id == document_id).with_for_update(key_share=True))
    return session.execute(select(Revision).where(Revision.id == revision_id).with_for_update(of=Revision)
                           .execution_options(populate_existing=True)).scalar_one()


def _check_task(task: ApprovalTask, r: Revision, user: User) -> None:
    if task.assignee_id != user.id:
        raise PermissionDenied("This task is assigned to someone else; nobody may sign for another person.")
    if task.state != "pending" or task.round != r.round or r.state != State.IN_REVIEW:
        raise Conflict(f"This task was already decided ({task.state}); nothing was signed.")


def prepare_signature(
    session: Session, config: AccountConfig, *, user_id: uuid.UUID, task_id: uuid.UUID, username: str,
    password: str, meaning: str, at: datetime,
) -> PreparedSignature:
    """Read-only and slow: every check, the password, the key, the manifest and the signature."""
    user = accounts.get_user(session, user_id)
    task = get_task(session, task_id)
    r = session.get(Revision, task.revision_id)
    assert r is not None
    d = r.document
    _check_task(task, r, user)
    readiness = accounts.signing_readiness(user)
    if not readiness.ready:
        raise PermissionDenied("You cannot sign yet: " + "; ".join(readiness.missing()) + ".")
    if meaning.strip() != task.meaning:
        raise InvalidInput(f"Confirm the meaning of this signature: {task.meaning}.")
    if config.training_gate:
        blockers = training.gate_blockers(session, user.id)
        if blockers:
            raise PermissionDenied("Training first (the training gate is on): complete your read-and-understood "
                                   "training on " + ", ".join(f"{n} v{v}" for n, v in blockers[:10])
                                   + (" and more" if len(blockers) > 10 else "") + " before signing approvals.")
    return sign_as(session, user=user, document=d, revision=r, meaning=task.meaning, task_id=task.id,
                   username=username, password=password, at=at)


def sign_as(session: Session, *, user: User, document: Document, revision: Revision, meaning: str,
            task_id: uuid.UUID, username: str, password: str, at: datetime) -> PreparedSignature:
    """The slow, lock-free half of any signature (approval, read and understood, trainer sign-off): check the user
    ID, unlock the person's key with the password and sign the v1 manifest. `task_id` is the approval task or the
    training assignment the signature belongs to."""
    key = signing_keys.active_key(session, user.id)
    if key is None:
        raise Conflict("You have no signing key yet: set your own password once to create it.")
    if username_key(username[:64]) != user.username_key:
        return PreparedSignature(task_id, user.id, False)
    # the key is wrapped under the person's current password (re-wrapped at every change, retired at a reset), so
    # unwrapping it is the password check: one slow derivation (scrypt) instead of two (argon2 and scrypt)
    try:
        private = signatures.unwrap(signatures.WrappedKey(key.public_key_pem.encode(), key.wrapped), password)
    except KeyUnwrapFailed:
        return PreparedSignature(task_id, user.id, False)
    d, r = document, revision
    manifest = signatures.build_manifest(
        document_id=d.id, number=d.number, title=d.title, revision_id=r.id, version=r.version,
        content_sha256=r.source_sha256, rendition_sha256=r.rendition_sha256 or r.source_sha256,
        meaning=meaning, signer_id=user.id, username=user.username, name=user.full_name,
        signer_title=user.title, signed_at=at, statement=esig.STATEMENT, task_id=task_id,
    )
    return PreparedSignature(task_id, user.id, True, key.id, manifest, signatures.sign_manifest(private, manifest), at)


def store_signature(session: Session, *, prepared: PreparedSignature, user: User, revision: Revision, meaning: str,
                    at: datetime, task_id: uuid.UUID | None = None,
                    assignment_id: uuid.UUID | None = None) -> Signature:
    """The signature row for a prepared signature (the caller has re-checked everything under its locks)."""
    sig = Signature(
        revision_id=revision.id, task_id=task_id, assignment_id=assignment_id, signer_id=user.id,
        signing_key_id=prepared.key_id, printed_name=user.full_name, title=user.title, meaning=meaning,
        signed_at=prepared.signed_at or at, statement_version=esig.STATEMENT_VERSION, manifest=prepared.manifest,
        manifest_sha256=hashlib.sha256(prepared.manifest).hexdigest(), signature=prepared.signature,
    )
    session.add(sig)
    session.flush()
    return sig


def key_usable(session: Session, prepared: PreparedSignature) -> bool:
    key = session.get(SigningKey, prepared.key_id) if prepared.key_id else None
    return prepared.password_ok and key is not None and key.retired_at is None


def record_signature(
    session: Session, config: AccountConfig, *, prepared: PreparedSignature, at: datetime,
    request: RequestInfo | None = None,
) -> Signature | None:
    """Store a prepared signature and move the workflow on; None (with the failed attempt recorded, counting
    towards lockout) when the password was wrong."""
    user = session.get(User, prepared.signer_id, populate_existing=True, with_for_update={"key_share": True})
    assert user is not None
    r = _lock_revision(session, get_task(session, prepared.task_id).revision_id)
    d = r.document
    if not key_usable(session, prepared):
        sessions.record_failure(session, config, user, at=at, request=request, action=Tag.SIGNATURE_FAILED,
                                detail=f"wrong password signing {d.number} v{r.version}")
        return None
    task = get_task(session, prepared.task_id, lock=True)
    session.refresh(task)
    _check_task(task, r, user)
    sig = store_signature(session, prepared=prepared, user=user, revision=r, meaning=task.meaning, at=at,
                          task_id=task.id)
    task.state = "signed"
    task.decided_at = at
    task.signature_id = sig.id
    log.append(session, Tag.SIGNATURE_CREATE, actor=actor_of(user), subject=revisions.revision_subject(d, r), at=at,
               after={"signature": str(sig.id), "meaning": sig.meaning, "stage": task.stage_name,
                      "manifest_sha256": sig.manifest_sha256, "content_sha256": r.source_sha256}, request=request)
    _advance(session, d, r, task, at, request)
    return sig


def _advance(session: Session, d: Document, r: Revision, task: ApprovalTask, at: datetime,
             request: RequestInfo | None) -> None:
    route = session.get(ApprovalRoute, r.route_id)
    assert route is not None
    rules = rules_of(route)
    stage = next(s for s in rules if s.position == task.position)
    stage_tasks = list(session.scalars(select(ApprovalTask).where(
        ApprovalTask.revision_id == r.id, ApprovalTask.round == r.round, ApprovalTask.position == task.position)))
    if not routes.stage_complete(stage, sum(t.state == "signed" for t in stage_tasks)):
        return
    _cancel(session, d, r, [t for t in stage_tasks if t.state == "pending"], "stage complete", at, request)
    if task.position < len(rules):
        _open_stage(session, d, r, route, task.position + 1, at, request)
        return
    revisions.apply_step(session, actor=log.SYSTEM, document=d, revision=r, step=Step.APPROVE, at=at,
                         reason="every stage of the approval route is signed", request=request)
    if r.planned_effective_at is None or r.planned_effective_at <= at:
        revisions.apply_step(session, actor=log.SYSTEM, document=d, revision=r, step=Step.MAKE_EFFECTIVE, at=at,
                             request=request)


def _cancel(session: Session, d: Document, r: Revision, tasks: list[ApprovalTask], why: str, at: datetime,
            request: RequestInfo | None) -> None:
    for t in tasks:
        t.state = "cancelled"
        t.decided_at = at
        t.decision_reason = why
    if tasks:
        log.append(session, Tag.TASK_CANCEL, actor=log.SYSTEM, subject=revisions.revision_subject(d, r), at=at,
                   reason=why, after={"tasks": [str(t.id) for t in tasks]}, request=request)


def reject(
    session: Session, config: AccountConfig, *, user_id: uuid.UUID, task_id: uuid.UUID, verified_hash: str | None,
    username: str, reason: str, at: datetime, request: RequestInfo | None = None,
) -> bool:
    """Reject with a reason (checked with user ID and password, `verified_hash` from `sessions.verify_credentials`):
    the revision goes back to draft, open tasks are cancelled, the author is told. False if the password was wrong."""
    if not reason.strip():
        raise InvalidInput("A reason is required to reject.")
    user = session.get(User, user_id, populate_existing=True, with_for_update={"key_share": True})
    assert user is not None
    r = _lock_revision(session, get_task(session, task_id).revision_id)
    task = get_task(session, task_id, lock=True)
    session.refresh(task)
    d = r.document
    _check_task(task, r, user)
    if username_key(username) != user.username_key or verified_hash is None or verified_hash != user.password_hash:
        sessions.record_failure(session, config, user, at=at, request=request, action=Tag.SIGNATURE_FAILED,
                                detail=f"wrong credentials rejecting {d.number} v{r.version}")
        return False
    task.state = "rejected"
    task.decided_at = at
    task.decision_reason = reason.strip()
    pending = list(session.scalars(select(ApprovalTask).where(
        ApprovalTask.revision_id == r.id, ApprovalTask.round == r.round, ApprovalTask.state == "pending")))
    _cancel(session, d, r, pending, "rejected", at, request)
    revisions.apply_step(session, actor=actor_of(user), document=d, revision=r, step=Step.REJECT, at=at,
                         reason=reason, request=request)
    notifications.notify(session, user_ids=[r.created_by_id, d.owner_id], kind="approval.rejected",
                         subject=f"Rejected: {d.number} v{r.version}",
                         body=f"{user.full_name} rejected {d.number} v{r.version} ({task.stage_name}): {reason}",
                         at=at, email=True)
    return True


def recall(session: Session, *, principal: Principal, number: str, version: str, reason: str, at: datetime,
           request: RequestInfo | None = None) -> Revision:
    d = documents.get_document(session, number, for_update=True)
    if not documents.can_edit(principal, d):
        raise PermissionDenied("Only document control or the document's owner may recall a submission.")
    r = _lock_revision(session, revisions.find(d, version).id)
    pending = list(session.scalars(select(ApprovalTask).where(
        ApprovalTask.revision_id == r.id, ApprovalTask.round == r.round, ApprovalTask.state == "pending")
        .with_for_update()))
    revisions.apply_step(session, actor=principal.actor, document=d, revision=r, step=Step.RECALL, at=at,
                         reason=reason or None, request=request)
    _cancel(session, d, r, pending, "recalled by the author", at, request)
    return r


def make_due_effective(session: Session, *, at: datetime) -> int:
    """Approved revisions whose effective date has come become effective (the scheduler runs this)."""
    due = list(session.scalars(select(Revision.id).where(
        Revision.state == State.APPROVED, Revision.planned_effective_at.is_not(None),
        Revision.planned_effective_at <= at)))
    made = 0
    for revision_id in due:
        r = session.get(Revision, revision_id)
        assert r is not None
        d = documents.get_document(session, r.document.number, for_update=True)
        session.refresh(r)
        if r.state == State.APPROVED:  # another process may have done it meanwhile
            revisions.apply_step(session, actor=log.SYSTEM, document=d, revision=r, step=Step.MAKE_EFFECTIVE, at=at)
            made += 1
    return made


# --- reading ----------------------------------------------------------------------------------------------------


def open_tasks(session: Session, user_id: uuid.UUID) -> list[tuple[ApprovalTask, Revision]]:
    rows = session.execute(
        select(ApprovalTask, Revision).join(Revision, Revision.id == ApprovalTask.revision_id)
        .where(ApprovalTask.assignee_id == user_id, ApprovalTask.state == "pending",
               ApprovalTask.round == Revision.round, Revision.state == State.IN_REVIEW)
        .order_by(ApprovalTask.created_at)
    ).all()
    return [(t, r) for t, r in rows]


def signatures_of(session: Session, revision_id: uuid.UUID) -> list[Signature]:
    return list(session.scalars(select(Signature).where(Signature.revision_id == revision_id)
                                .order_by(Signature.signed_at)))


def tasks_of(session: Session, revision_id: uuid.UUID) -> list[ApprovalTask]:
    return list(session.scalars(select(ApprovalTask).where(ApprovalTask.revision_id == revision_id)
                                .order_by(ApprovalTask.round, ApprovalTask.position, ApprovalTask.created_at)))


def count_signatures(session: Session, revision_id: uuid.UUID) -> int:
    return session.scalars(select(func.count()).select_from(Signature)
                           .where(Signature.revision_id == revision_id)).one()
