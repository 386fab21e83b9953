"""Approval routes (versioned per document type), the tasks a submission creates, and electronic signatures."""

from __future__ import annotations

import uuid

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docctl.db.base import Base, str64, str200, utc_timestamp, utc_timestamp_null, uuid_pk


class ApprovalRoute(Base):
    """One version of a document type's approval route. A change is a new version; a submission keeps the
    version it started with. Append-only."""

    __tablename__ = "approval_routes"
    __table_args__ = (UniqueConstraint("type_id", "version"),)

    id: Mapped[uuid_pk]
    type_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("document_types.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[utc_timestamp]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text, default="")

    stages: Mapped[list[RouteStage]] = relationship(order_by="RouteStage.position", lazy="selectin")


class RouteStage(Base):
    """An ordered stage: who may sign it (named users, or any N holders of a role), with what meaning."""

    __tablename__ = "route_stages"
    __table_args__ = (
        UniqueConstraint("route_id", "position"),
        CheckConstraint("rule IN ('role', 'users')", name="rule"),
        CheckConstraint("required >= 1", name="required"),
    )

    id: Mapped[uuid_pk]
    route_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("approval_routes.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str200]
    meaning: Mapped[str200]
    rule: Mapped[str] = mapped_column(String(8))
    role: Mapped[str | None] = mapped_column(String(32))
    user_ids: Mapped[list] = mapped_column(JSON, default=list)
    required: Mapped[int] = mapped_column(Integer, default=1)
    author_may_sign: Mapped[bool] = mapped_column(Boolean, default=False)


class ApprovalTask(Base):
    """One person's part in one stage of one submission."""

    __tablename__ = "approval_tasks"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'signed', 'rejected', 'cancelled')", name="state"),
        Index("ix_approval_tasks_assignee_state", "assignee_id", "state"),
    )

    id: Mapped[uuid_pk]
    revision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("revisions.id"), index=True)
    route_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("approval_routes.id"))
    round: Mapped[int] = mapped_column(Integer)  # the submission this task belongs to (1, 2, ... after rejections)
    position: Mapped[int] = mapped_column(Integer)
    stage_name: Mapped[str200]
    meaning: Mapped[str200]
    assignee_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(12), default="pending")
    created_at: Mapped[utc_timestamp]
    decided_at: Mapped[utc_timestamp_null]
    decision_reason: Mapped[str | None] = mapped_column(Text)
    signature_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the signature's task_id points back here


class Signature(Base):
    """An electronic signature: the canonical manifest bytes, the ECDSA signature over them, the key that made it.
    Never updated (append-only)."""

    __tablename__ = "signatures"
    __table_args__ = (
        Index("uq_signatures_task", "task_id", unique=True, sqlite_where=text("task_id IS NOT NULL"),
              postgresql_where=text("task_id IS NOT NULL")),
        # one read-and-understood signature per training assignment (a double submit cannot make two)
        Index("uq_signatures_read_and_understood", "assignment_id", unique=True,
              sqlite_where=text("assignment_id IS NOT NULL AND meaning = 'Read and understood'"),
              postgresql_where=text("assignment_id IS NOT NULL AND meaning = 'Read and understood'")),
    )

    id: Mapped[uuid_pk]
    revision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("revisions.id"), index=True)
    task_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("approval_tasks.id"))
    # a training signature (read and understood, or a trainer's sign-off) names its training assignment
    assignment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    signer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    signing_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("signing_keys.id"))
    printed_name: Mapped[str200]
    title: Mapped[str200]
    meaning: Mapped[str200]
    signed_at: Mapped[utc_timestamp]
    statement_version: Mapped[str64]
    manifest: Mapped[bytes] = mapped_column(LargeBinary)
    manifest_sha256: Mapped[str64]
    signature: Mapped[bytes] = mapped_column(LargeBinary)
