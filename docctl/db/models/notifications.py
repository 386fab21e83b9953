"""The notification outbox: the in-app list, and e-mail when SMTP is configured."""

from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from docctl.db.base import Base, str200, utc_timestamp, utc_timestamp_null, uuid_pk


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str200]
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[utc_timestamp]
    read_at: Mapped[utc_timestamp_null]
    email_state: Mapped[str] = mapped_column(String(16), default="none")  # none, pending, sent, failed
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    email_sent_at: Mapped[utc_timestamp_null]
