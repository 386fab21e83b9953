"""The signed audit-trail review (MHRA-6.13/EMA-6.2.2): QA states a range of the trail, what was reviewed and the
findings ("No findings" is an explicit answer), and signs "Audit trail review completed" with user ID and password.

Two steps, like every signature: `prepare_review` (read-only, slow: the password unwraps the reviewer's key, which
is the password check) and `record_review` (one write transaction under the audit head's lock: re-checks, makes a
signed checkpoint covering the range when the trail grew past the latest one, builds and signs the
`docctl.audit_review` v1 manifest naming that checkpoint, stores the append-only `audit_reviews` row and appends
`audit:review`). The manifest is signed inside the transaction because it names the checkpoint, which exists only
under the head's lock; the slow part (scrypt) is done before. A wrong user ID or password stores nothing and is
recorded as `signature:failed`, counting towards lockout (P11-300d).

The default range runs from the event after the last review's end to now, so consecutive reviews tile the trail.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docctl import signatures
from docctl.audit import log
from docctl.audit.log import RequestInfo, Subject
from docctl.audit.tags import Tag
from docctl.blobstore import BlobStore
from docctl.db.models import AuditCheckpoint, AuditEvent, AuditHead, SigningKey, User
from docctl.db.models.audit_reviews import AuditReview
from docctl.domain import esig
from docctl.domain.policy import Permission, allows
from docctl.domain.usernames import username_key
from docctl.errors import Conflict, InvalidInput, KeyUnwrapFailed, NotFound, PermissionDenied, SignatureInvalid
from docctl.services import accounts, audit_exceptions, checkpoints, sessions, signing_keys
from docctl.services.audit_exceptions import WorkingHours
from docctl.services.audit_trail import TrailFilter
from docctl.services.credentials import AccountConfig
from docctl.services.principal import Principal, actor_of
from docctl.services.signature_check import Verification
from docctl.signatures import review as review_format

MEANING = review_format.MEANING
NO_FINDINGS = "No findings"
MAX_FINDINGS = 4000
# What a reviewer can say they reviewed: the trail itself and each exception report; each is counted over the range
# and the count is signed with its name.
TRAIL = "trail"
REPORTS: dict[str, str] = {TRAIL: "Every event in the range (the audit trail)",
                           **{slug: p.title for slug, p in audit_exceptions.PRESETS.items()}}


@dataclass(frozen=True)
class ReviewRange:
    """Audit events `from_seq..to_seq` (no gaps), stated as `since`..`until` (UTC; `since` None: from the start)."""

    from_seq: int
    to_seq: int
    since: datetime | None
    until: datetime

    @property
    def events(self) -> int:
        return self.to_seq - self.from_seq + 1


@dataclass(frozen=True)
class RangeCounts:
    first_at: datetime  # when the range's first event was recorded
    events: int
    by_action: list[tuple[str, int]]
    reports: list[tuple[str, str, int | None]]  # (report, title, events in the range; None: cannot be counted)


@dataclass(frozen=True)
class PreparedReview:
    reviewer_id: uuid.UUID
    password_ok: bool  # False: wrong user ID or password (the attempt is recorded by record_review)
    range: ReviewRange
    scope: tuple[str, ...]
    findings: str
    working_hours: WorkingHours | None = None
    key_id: uuid.UUID | None = None
    private_key: Any = field(default=None, repr=False)


# --- the range ---------------------------------------------------------------------------------------------------


def last_review(session: Session) -> AuditReview | None:
    return session.scalars(select(AuditReview).order_by(AuditReview.seq_to.desc(), AuditReview.signed_at.desc())
                           .limit(1)).first()


def _head_size(session: Session) -> int:
    return session.scalars(select(AuditHead.size).where(AuditHead.id == 1)).one_or_none() or 0


def resolve_range(session: Session, *, at: datetime, since: datetime | None = None, until: datetime | None = None,
                  from_seq: int | None = None, expected_to_seq: int | None = None) -> ReviewRange:
    """The events a review covers. `until` (exclusive, default now) may not be in the future; the first event is
    `from_seq` when given, else the first at or after `since` when given, else the one after the last review's
    end (the whole trail when there was none, `since` then being the last review's `until`). InvalidInput when
    the range holds no event; Conflict when it no longer ends at `expected_to_seq` (what a form showed)."""
    until = until or at
    if until > at:
        raise InvalidInput("The end of the range cannot be in the future.")
    if since is not None and since >= until:
        raise InvalidInput("The start of the range must be before its end.")
    if from_seq is None and since is not None:
        from_seq = session.scalars(select(func.min(AuditEvent.seq)).where(AuditEvent.at >= since)).one()
        if from_seq is None:
            raise InvalidInput("There are no audit events in the stated range; nothing to review.")
    last = None
    if from_seq is None:
        last = last_review(session)
        from_seq, since = (last.seq_to + 1, last.until) if last is not None else (1, None)
    if from_seq < 1:
        raise InvalidInput("Audit events are numbered from 1.")
    if since is None and from_seq > 1:  # a range stated by its first event starts when that event was recorded
        since = session.scalars(select(AuditEvent.at).where(AuditEvent.seq == from_seq)).first()
    to_seq = session.scalars(select(func.max(AuditEvent.seq)).where(AuditEvent.at < until)).one()
    if to_seq is None or to_seq < from_seq:
        if last is not None:  # e.g. the same request sent twice: the first signed the range
            raise Conflict(f"The trail up to event {last.seq_to} was already reviewed ({last.printed_name}, "
                           f"{last.signed_at:%Y-%m-%d %H:%M:%S} UTC) and nothing was recorded before the end of "
                           "this range since; nothing was signed.")
        raise InvalidInput("There are no audit events in the stated range; nothing to review.")
    if expected_to_seq is not None and expected_to_seq != to_seq:
        raise Conflict(f"The form showed events up to {expected_to_seq}, but the range now ends at event {to_seq}: "
                       "reload the form, check the counts and sign again. Nothing was signed.")
    return ReviewRange(from_seq, to_seq, since, until)


def default_range(session: Session, *, at: datetime) -> ReviewRange | None:
    """From after the last review to now, or None when nothing happened since."""
    try:
        return resolve_range(session, at=at)
    except (InvalidInput, Conflict):
        return None


def _in_range(r: ReviewRange) -> list[Any]:
    return [AuditEvent.seq >= r.from_seq, AuditEvent.seq <= r.to_seq]


def counts(session: Session, *, principal: Principal, range_: ReviewRange,
           working_hours: WorkingHours | None) -> RangeCounts:
    """What the review form shows: events in the range, by action, and per exception report."""
    principal.require(Permission.AUDIT_READ)
    return _counts(session, range_, working_hours)


def _report_count(session: Session, r: ReviewRange, slug: str, working_hours: WorkingHours | None) -> int | None:
    """Events of the range the exception report flags; None when it cannot say (outside working hours over more
    than a year, or without configured working hours)."""
    since = r.since or session.scalars(select(AuditEvent.at).where(AuditEvent.seq == r.from_seq)).one()
    filters = TrailFilter(preset=slug, since=since, until=r.until, working_hours=working_hours)
    if audit_exceptions.PRESETS[slug].needs_range and (
            working_hours is None or r.until - since > timedelta(days=audit_exceptions.MAX_RANGE_DAYS)):
        return None
    return session.scalars(select(func.count()).select_from(AuditEvent)
                           .where(*_in_range(r), *audit_exceptions.conditions(session, filters))).one()


def _counts(session: Session, r: ReviewRange, working_hours: WorkingHours | None) -> RangeCounts:
    by_action = [(a, n) for a, n in session.execute(
        select(AuditEvent.action, func.count()).where(*_in_range(r)).group_by(AuditEvent.action)
        .order_by(func.count().desc(), AuditEvent.action)).all()]
    reports: list[tuple[str, str, int | None]] = [(TRAIL, REPORTS[TRAIL], r.events)]
    for slug, preset in audit_exceptions.PRESETS.items():
        reports.append((slug, preset.title, _report_count(session, r, slug, working_hours)))
    first_at = session.scalars(select(AuditEvent.at).where(AuditEvent.seq == r.from_seq)).one()
    return RangeCounts(first_at, r.events, by_action, reports)


def _scope(scope: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(s.strip() for s in scope if s.strip()))
    unknown = [s for s in chosen if s not in REPORTS]
    if unknown:
        raise InvalidInput(f"Unknown report {unknown[0]!r}; choose from {', '.join(REPORTS)}.")
    if not chosen:
        raise InvalidInput("Say what you reviewed: choose at least one report.")
    return chosen


def _findings(findings: str) -> str:
    findings = (findings or "").strip()
    if not findings:
        raise InvalidInput(f"State the findings of the review, or choose \"{NO_FINDINGS}\".")
    if len(findings) > MAX_FINDINGS:
        raise InvalidInput(f"The findings are limited to {MAX_FINDINGS} characters; attach details elsewhere.")
    return findings


# --- signing ------------------------------------------------------------------------------------------------------


def _check_reviewer(user: User) -> None:
    if not allows(user.roles, Permission.AUDIT_REVIEW):
        raise PermissionDenied("Only QA completes and signs audit-trail reviews.")
    readiness = accounts.signing_readiness(user)
    if not readiness.ready:
        raise PermissionDenied("You cannot sign yet: " + "; ".join(readiness.missing()) + ".")


def prepare_review(
    session: Session, *, principal: Principal, range_: ReviewRange, scope: list[str] | tuple[str, ...],
    findings: str, username: str, password: str, meaning: str, working_hours: WorkingHours | None,
) -> PreparedReview:
    """Read-only and slow: every check of the input and the reviewer, then the user ID and the password (unwrapping
    the reviewer's signing key). A wrong user ID or password gives `password_ok=False`, recorded by record_review."""
    principal.require(Permission.AUDIT_REVIEW)
    assert principal.user is not None
    user = accounts.get_user(session, principal.user.id)
    _check_reviewer(user)
    if meaning.strip() != MEANING:
        raise InvalidInput(f"Confirm the meaning of this signature: {MEANING}.")
    chosen, text = _scope(scope), _findings(findings)
    if range_.to_seq > _head_size(session):
        raise InvalidInput("The range ends after the last audit event.")
    key = signing_keys.active_key(session, user.id)
    if key is None:
        raise Conflict("You have no signing key yet: set your own password once to create it.")
    failed = PreparedReview(user.id, False, range_, chosen, text, working_hours)
    if username_key(username[:64]) != user.username_key:
        return failed
    try:
        private = signatures.unwrap(signatures.WrappedKey(key.public_key_pem.encode(), key.wrapped), password)
    except KeyUnwrapFailed:
        return failed
    return PreparedReview(user.id, True, range_, chosen, text, working_hours, key.id, private)


def _checkpoint_covering(session: Session, store: BlobStore, *, secret: bytes, to_seq: int, at: datetime,
                         request: RequestInfo | None) -> AuditCheckpoint:
    """The latest signed checkpoint when it covers `to_seq`, else a new one (made by "review"). Caller holds the
    head's lock."""
    latest = checkpoints.latest(session)
    if latest is not None and latest.tree_size >= to_seq:
        return latest
    made = checkpoints.make_checkpoint(session, store, secret=secret, at=at, made_by="review", request=request,
                                      force=True)
    assert made is not None and made.tree_size >= to_seq
    return made


def review_subject(review: AuditReview) -> Subject:
    return Subject("audit_review", str(review.id), f"events {review.seq_from}-{review.seq_to}")


def record_review(
    session: Session, config: AccountConfig, store: BlobStore, *, secret: bytes, prepared: PreparedReview,
    at: datetime, request: RequestInfo | None = None,
) -> AuditReview | None:
    """Store the signed review; None (nothing stored, the failure recorded and counted towards lockout) when the user
    ID or password was wrong. Conflict when this reviewer already signed a review of exactly this range."""
    log.lock_head(session)  # the lock order of every writer here: the head, then rows
    user = session.get(User, prepared.reviewer_id, populate_existing=True, with_for_update={"key_share": True})
    assert user is not None
    r = prepared.range
    key = session.get(SigningKey, prepared.key_id) if prepared.key_id else None
    if not prepared.password_ok or key is None or key.retired_at is not None:
        sessions.record_failure(session, config, user, at=at, request=request, action=Tag.SIGNATURE_FAILED,
                                detail=f"wrong password signing the audit-trail review of events "
                                       f"{r.from_seq}-{r.to_seq}")
        return None
    _check_reviewer(user)
    done = session.scalars(select(AuditReview).where(
        AuditReview.reviewer_id == user.id, AuditReview.seq_from == r.from_seq, AuditReview.seq_to == r.to_seq)).first()
    if done is not None:
        raise Conflict(f"You already signed the review of audit events {r.from_seq}-{r.to_seq} "
                       f"({done.signed_at:%Y-%m-%d %H:%M:%S} UTC); it was not signed twice.")
    if r.to_seq > _head_size(session):
        raise Conflict("The range ends after the last audit event; reload the form.")
    measured = {name: n for name, _, n in _counts(session, r, prepared.working_hours).reports}
    if any(measured[name] is None for name in prepared.scope):
        raise InvalidInput("Activity outside working hours can be reviewed over at most "
                           f"{audit_exceptions.MAX_RANGE_DAYS} days; choose a shorter range or leave it out.")
    scope = [(name, int(measured[name] or 0)) for name in prepared.scope]
    checkpoint = _checkpoint_covering(session, store, secret=secret, to_seq=r.to_seq, at=at, request=request)
    manifest = review_format.build_review_manifest(
        from_seq=r.from_seq, to_seq=r.to_seq, since=r.since, until=r.until, tree_size=checkpoint.tree_size,
        root=checkpoint.root, scope=scope, findings=prepared.findings, signer_id=user.id, username=user.username,
        name=user.full_name, signer_title=user.title, signed_at=at, statement=esig.STATEMENT)
    review = AuditReview(
        seq_from=r.from_seq, seq_to=r.to_seq, since=r.since, until=r.until,
        checkpoint_tree_size=checkpoint.tree_size, checkpoint_root=checkpoint.root,
        scope=json.dumps([{"report": n, "events": c} for n, c in scope]), findings=prepared.findings,
        reviewer_id=user.id, signing_key_id=key.id, printed_name=user.full_name, title=user.title, meaning=MEANING,
        statement_version=esig.STATEMENT_VERSION, signed_at=at, manifest=manifest,
        manifest_sha256=hashlib.sha256(manifest).hexdigest(),
        signature=review_format.sign_review(prepared.private_key, manifest),
    )
    session.add(review)
    session.flush()
    log.append(session, Tag.AUDIT_REVIEW, actor=actor_of(user), subject=review_subject(review), at=at,
               after={"range": {"from_seq": r.from_seq, "to_seq": r.to_seq, "since": r.since, "until": r.until},
                      "checkpoint": {"tree_size": checkpoint.tree_size, "root": checkpoint.root.hex()},
                      "scope": [{"report": n, "events": c} for n, c in scope], "findings": prepared.findings,
                      "meaning": MEANING, "manifest_sha256": review.manifest_sha256}, request=request)
    return review


# --- reading and verifying ---------------------------------------------------------------------------------------


def list_reviews(session: Session, *, principal: Principal, limit: int = 200) -> list[AuditReview]:
    principal.require(Permission.AUDIT_READ)
    return list(session.scalars(select(AuditReview).order_by(AuditReview.signed_at.desc(), AuditReview.seq_to.desc())
                                .limit(max(1, min(limit, 1000)))))


def get_review(session: Session, *, principal: Principal, review_id: uuid.UUID) -> AuditReview:
    principal.require(Permission.AUDIT_READ)
    review = session.get(AuditReview, review_id)
    if review is None:
        raise NotFound("No such audit-trail review.")
    return review


def scope_of(review: AuditReview) -> list[dict[str, Any]]:
    return list(json.loads(review.scope))


def certificate_of(session: Session, review: AuditReview) -> str:
    key = session.get(SigningKey, review.signing_key_id)
    assert key is not None
    return key.certificate_pem


def verify(session: Session, review: AuditReview) -> Verification:
    """Every check, each recorded by name: the manifest digest; the manifest is a canonical v1 review, signed by the
    reviewer's key whose certificate the instance CA issued and which was valid at signing; the manifest says what
    the record says; and its checkpoint is a signed checkpoint of the trail whose root the trail still has."""
    result = Verification()
    ca = signing_keys.instance_ca(session)
    if ca is None:
        result.add("instance CA present", False, "the instance CA is missing")
        return result
    result.add("manifest digest", hashlib.sha256(review.manifest).hexdigest() == review.manifest_sha256,
               "the stored manifest matches its recorded SHA-256")
    try:
        m = review_format.verify_review(review.manifest, review.signature, certificate_of(session, review).encode(),
                                        ca.certificate_pem)
        result.add("signature and certificate chain", True,
                   "ECDSA P-256 over the canonical manifest; certificate issued by the instance CA")
    except SignatureInvalid as exc:
        result.add("signature and certificate chain", False, exc.reason)
        try:
            m = review_format.parse_review_manifest(review.manifest)
        except SignatureInvalid:
            return result
    result.manifest = m
    rng, cp = m["range"], m["checkpoint"]
    same = (rng["from_seq"], rng["to_seq"], cp["tree_size"], cp["root"], m["findings"], m["signer"]["id"],
            m["scope"]) == (review.seq_from, review.seq_to, review.checkpoint_tree_size,
                            review.checkpoint_root.hex(), review.findings, str(review.reviewer_id), scope_of(review))
    result.add("bound to this record", same, "the signed range, checkpoint, scope, findings and signer are the "
                                             "record's")
    signed_cp = session.scalars(select(AuditCheckpoint).where(
        AuditCheckpoint.tree_size == review.checkpoint_tree_size)).first()
    trail_root = session.scalars(select(AuditEvent.root).where(AuditEvent.seq == review.checkpoint_tree_size)).first()
    result.add("checkpoint", signed_cp is not None and signed_cp.root == review.checkpoint_root
               and trail_root == review.checkpoint_root,
               f"a signed checkpoint at tree size {review.checkpoint_tree_size} with this root, which the trail "
               "still has at that event")
    return result


def bundle(session: Session, review: AuditReview, directory: Any) -> dict[str, Any]:
    """The offline `openssl` bundle of a review's signature (see docctl.signatures.review.review_bundle)."""
    ca = signing_keys.instance_ca(session)
    if ca is None:
        raise Conflict("The instance CA is missing.")
    return review_format.review_bundle(directory, manifest=review.manifest, signature_der=review.signature,
                                       cert_pem=certificate_of(session, review).encode(),
                                       ca_certificate_pem=ca.certificate_pem)
