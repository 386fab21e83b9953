"""The notification outbox: rows for the in-app list; e-mail is sent from the outbox by the scheduler."""

from __future__ import annotations

import logging
import smtplib
import uuid
from collections.abc import Iterable
from datetime import datetime
from email.message import EmailMessage
from urllib.parse import urlparse

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from docctl.db.models import Notification, User, UserRole

log = logging.getLogger("docctl.notifications")


def notify(
    session: Session, *, user_ids: Iterable[uuid.UUID], kind: str, subject: str, body: str, at: datetime, email: bool
) -> list[Notification]:
    rows = [
        Notification(
            user_id=uid,
            kind=kind,
            subject=subject[:200],
            body=body,
            created_at=at,
            email_state="pending" if email else "none",
        )
        for uid in dict.fromkeys(user_ids)
    ]
    session.add_all(rows)
    return rows


def holders_of(session: Session, role: str) -> list[uuid.UUID]:
    stmt = (
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == role, UserRole.revoked_at.is_(None), User.status == "active")
    )
    return list(session.scalars(stmt))


def unread_for(session: Session, user_id: uuid.UUID, limit: int = 20) -> list[Notification]:
    stmt = (
        select(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .order_by(Notification.created_at.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def mark_read(session: Session, *, user_id: uuid.UUID, notification_id: uuid.UUID, at: datetime) -> None:
    session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=at)
    )


def send_pending_email(session: Session, *, smtp_url: str, mail_from: str, at: datetime, limit: int = 100) -> int:
    """Send what the outbox holds for e-mail; failures are retried by later ticks (up to 5 attempts)."""
    if not smtp_url:
        return 0
    parsed = urlparse(smtp_url)
    stmt = (
        select(Notification, User.email)
        .join(User, User.id == Notification.user_id)
        .where(Notification.email_state == "pending")
        .order_by(Notification.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    sent = 0
    rows = session.execute(stmt).all()
    if not rows:
        return 0
    try:
        smtp = smtplib.SMTP(parsed.hostname or "localhost", parsed.port or 25, timeout=10)
    except OSError as exc:  # the mail server is down: leave the outbox as it is for the next tick
        log.warning("SMTP server %s unreachable (%s); %d e-mails wait in the outbox", parsed.netloc, exc, len(rows))
        return 0
    with smtp:
        for note, address in rows:
            note.email_attempts += 1
            if not address:
                note.email_state = "failed"
                continue
            msg = EmailMessage()
            msg["From"] = mail_from
            msg["To"] = address
            msg["Subject"] = f"[docctl] {note.subject}"
            msg.set_content(note.body)
            try:
                smtp.send_message(msg)
            except (smtplib.SMTPException, OSError):
                note.email_state = "failed" if note.email_attempts >= 5 else "pending"
                continue
            note.email_state = "sent"
            note.email_sent_at = at
            sent += 1
    return sent
