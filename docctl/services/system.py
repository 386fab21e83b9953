"""Instance set-up, the recorded configuration, and the scheduler's tick."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from docctl.audit import log
from docctl.audit.log import Subject
from docctl.audit.tags import Tag
from docctl.blobstore import BlobStore
from docctl.config import Settings
from docctl.db.models import AuditEvent
from docctl.db.session import Database
from docctl.services import approvals, checkpoints, notifications, sessions, signing_keys, training, training_reports
from docctl.services.credentials import AccountConfig
from docctl.services.principal import Principal

# The settings that govern controls an inspector cares about. Secrets are never recorded.
RECORDED_SETTINGS = (
    "mode",
    "database_url",
    "blobstore_url",
    "base_url",
    "display_timezone",
    "session_idle_minutes",
    "session_absolute_hours",
    "lockout_threshold",
    "password_min_length",
    "password_history",
    "password_max_age_days",
    "api_token_days",
    "argon2_time_cost",
    "argon2_memory_kib",
    "argon2_parallelism",
    "max_request_bytes",
    "max_upload_bytes",
    "smtp_url",
)


def configuration_snapshot(settings: Settings) -> dict[str, Any]:
    snap: dict[str, Any] = {}
    for name in RECORDED_SETTINGS:
        value = getattr(settings, name)
        if name == "database_url":
            value = _without_password(settings.resolved_database_url)
        elif name == "blobstore_url":
            value = _without_password(settings.resolved_blobstore_url)
        elif name == "smtp_url":
            value = _without_password(value)
        snap[name] = value if isinstance(value, int | str | bool) else str(value)
    return snap


def _without_password(url: str) -> str:
    if not url:
        return url
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        creds, host = netloc.rsplit("@", 1)
        netloc = (creds.split(":", 1)[0] + ":***@" if ":" in creds else creds + "@") + host
    query = urlencode([(k, "***" if "secret" in k or "password" in k else v) for k, v in parse_qsl(parts.query)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def last_recorded_configuration(session: Session) -> dict[str, Any] | None:
    row = session.scalars(
        select(AuditEvent.canonical)
        .where(AuditEvent.action == Tag.CONFIG_CHANGE)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return json.loads(row).get("after", {}).get("configuration")


def record_configuration(session: Session, settings: Settings, *, at: datetime) -> bool:
    """Append a `config:change` event when the running configuration differs from the last one recorded
    (configuration comes from the environment at start-up, so a change is seen when the server starts)."""
    current = configuration_snapshot(settings)
    previous = last_recorded_configuration(session)
    if previous == current:
        return False
    if previous is None:
        session_init = not session.scalars(select(AuditEvent.seq).limit(1)).first()
        if session_init:
            log.append(session, Tag.SYSTEM_INIT, actor=log.SYSTEM, subject=Subject("system", "docctl"), at=at)
    changed_keys = sorted(k for k in current if previous is None or previous.get(k) != current.get(k))
    log.append(
        session, Tag.CONFIG_CHANGE, actor=log.SYSTEM, subject=Subject("system", "configuration"), at=at,
        reason="configuration read at start-up differs from the last recorded one" if previous else
        "first recorded configuration",
        before={"configuration": previous, "changed": changed_keys} if previous else None,
        after={"configuration": current, "changed": changed_keys},
    )
    return True


# pg_try_advisory_xact_lock key: "docc" — with several servers on PostgreSQL only one runs a tick at a time
SCHEDULER_LOCK = 0x646F6363


def initialise(session: Session, settings: Settings, *, at: datetime) -> None:
    """What every start does on a migrated database: record the configuration if it changed, and create the
    instance CA the first time (`docctl init`)."""
    record_configuration(session, settings, at=at)
    signing_keys.ensure_instance_ca(
        session, secret=settings.secret_key.get_secret_value().encode(), base_url=settings.base_url, at=at
    )


@dataclass(frozen=True)
class TickReport:
    sessions_ended: int = 0
    emails_sent: int = 0
    skipped: bool = False
    made_effective: int = 0
    training_reminded: int = 0
    training_overdue: int = 0
    checkpoint: int | None = None  # the tree size of the checkpoint made, if one was

    def lines(self) -> list[str]:
        if self.skipped:
            return ["another process holds the scheduler lock; nothing done"]
        return [f"revisions made effective: {self.made_effective}",
                f"training reminders sent: {self.training_reminded}",
                f"training assignments found overdue: {self.training_overdue}",
                f"sessions ended (idle or expired): {self.sessions_ended}", f"e-mails sent: {self.emails_sent}",
                f"audit checkpoint signed at tree size {self.checkpoint}" if self.checkpoint is not None
                else "audit checkpoint: none due"]


def refresh_reports(database: Database, *, at: datetime) -> bool:
    """After a tick, outside its transaction: recompute the training compliance snapshot if anything changed it,
    so the summary page answers at once (a read transaction for the computation, a short write to keep it)."""
    operator = Principal.operator()
    with database.read() as s:
        if training_reports.cached_summary(s, principal=operator) is not None:
            return False
    if database.engine.dialect.name == "sqlite":
        # without statistics SQLite may join a million required pairs in the slow order (22 s instead of 5 s
        # measured); a sampled ANALYZE (1,000 rows per index) takes milliseconds whatever the size
        with database.unit_of_work() as s:
            s.execute(text("PRAGMA analysis_limit=1000"))
            s.execute(text("ANALYZE"))
    with database.read() as s:
        fresh = training_reports.compute_summary(s, principal=operator, now=at)
    with database.unit_of_work() as s:
        training_reports.store_summary(s, fresh)
    return True


def tick(
    session: Session, settings: Settings, config: AccountConfig, *, at: datetime, store: BlobStore | None = None
) -> TickReport:
    """One pass of background work: effective dates, training reminders and overdue training, idle sessions, e-mail,
    and (given the blob store) a signed checkpoint of the audit trail when it grew and the last one is older than
    `checkpoint_minutes`."""
    if session.get_bind().dialect.name == "postgresql":
        locked = session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SCHEDULER_LOCK}).scalar()
        if not locked:
            return TickReport(skipped=True)
    effective = approvals.make_due_effective(session, at=at)
    reminded, overdue = training.sweep(session, at=at, reminder_days=settings.training_reminder_days)
    ended = sessions.sweep_idle(session, config, at=at)
    sent = notifications.send_pending_email(session, smtp_url=settings.smtp_url, mail_from=settings.mail_from, at=at)
    made = checkpoint_due(session, settings, store, at=at) if store is not None else None
    return TickReport(ended, sent, made_effective=effective, training_reminded=reminded, training_overdue=overdue,
                      checkpoint=made)


def checkpoint_due(session: Session, settings: Settings, store: BlobStore, *, at: datetime) -> int | None:
    """Sign a checkpoint when events were appended since the last one and it is `checkpoint_minutes` old (or there
    is none); the tree size signed, or None. Last in the tick, so it covers what the tick itself appended."""
    last = checkpoints.latest(session)
    if last is not None and at - last.at < timedelta(minutes=settings.checkpoint_minutes):
        return None
    if signing_keys.instance_ca(session) is None:
        return None  # before `docctl init`: nothing to sign with yet
    row = checkpoints.make_checkpoint(session, store, secret=settings.secret_key.get_secret_value().encode(), at=at,
                                      made_by="scheduler")
    return row.tree_size if row is not None else None
