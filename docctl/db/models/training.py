"""Training: job functions and who holds them, the matrix of what each function must know, the assignments an
effective revision creates, and the training records that complete them (append-only evidence, ISO-6.2e)."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from docctl.db.base import Base, str64, str200, utc_timestamp, utc_timestamp_null, uuid_pk

ASSIGNMENT_STATES = ("open", "completed", "superseded", "cancelled")
RECORD_METHODS = ("read_and_understood", "offline", "carried_over")
RECORD_RESULTS = ("completed", "passed", "failed")


class JobFunction(Base):
    """A training role (Clinical Research Associate, Data Manager, ...), distinct from permission roles."""

    __tablename__ = "job_functions"

    id: Mapped[uuid_pk]
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str200]
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[utc_timestamp]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[utc_timestamp]


class UserJobFunction(Base):
    """A person holding a job function, kept after revocation with who, when and why."""

    __tablename__ = "user_job_functions"
    __table_args__ = (
        Index("uq_user_job_functions_active", "user_id", "function_id", unique=True,
              sqlite_where=text("revoked_at IS NULL"), postgresql_where=text("revoked_at IS NULL")),
        Index("ix_user_job_functions_function", "function_id", "user_id"),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    function_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("job_functions.id"))
    granted_at: Mapped[utc_timestamp]
    granted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    grant_reason: Mapped[str] = mapped_column(Text, default="")
    revoked_at: Mapped[utc_timestamp_null]
    revoked_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)


class TrainingRequirement(Base):
    """A function must know one document, or every document of a type (in one department, or in all when the
    department is empty). Removed requirements stay, with who, when and why."""

    __tablename__ = "training_requirements"
    __table_args__ = (
        CheckConstraint("(document_id IS NOT NULL AND type_id IS NULL AND department = '') "
                        "OR (document_id IS NULL AND type_id IS NOT NULL)", name="target"),
        Index("ix_training_requirements_function", "function_id", "removed_at"),
    )

    id: Mapped[uuid_pk]
    function_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("job_functions.id"))
    document_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("documents.id"), index=True)
    type_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("document_types.id"))
    department: Mapped[str] = mapped_column(String(12), default="")
    created_at: Mapped[utc_timestamp]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    removed_at: Mapped[utc_timestamp_null]
    removed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    remove_reason: Mapped[str | None] = mapped_column(Text)


class TrainingAssignment(Base):
    """One person's training on one revision: open until a training record completes it, or closed when the
    revision is superseded (pointing to the new assignment) or the requirement ends."""

    __tablename__ = "training_assignments"
    __table_args__ = (
        # one live assignment per person and revision; cancelled and superseded ones stay beside it as history
        Index("uq_training_assignments_live", "user_id", "revision_id", unique=True,
              sqlite_where=text("state IN ('open', 'completed')"),
              postgresql_where=text("state IN ('open', 'completed')")),
        CheckConstraint(f"state IN ({', '.join(repr(s) for s in ASSIGNMENT_STATES)})", name="state"),
        Index("ix_training_assignments_user_state", "user_id", "state"),
        # the matrix and compliance look up one person's assignment on one revision, millions of times
        Index("ix_training_assignments_user_revision", "user_id", "revision_id", "state"),
        Index("ix_training_assignments_revision_state", "revision_id", "state"),
        Index("ix_training_assignments_document_user", "document_id", "user_id"),
        Index("ix_training_assignments_state_due", "state", "due_at"),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    revision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("revisions.id"))
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id"))
    function_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("job_functions.id"))
    state: Mapped[str] = mapped_column(String(12), default="open")
    assigned_at: Mapped[utc_timestamp]
    due_at: Mapped[utc_timestamp]
    opened_at: Mapped[utc_timestamp_null]  # first time the person opened the revision (the view is audited)
    reminded_at: Mapped[utc_timestamp_null]
    overdue_at: Mapped[utc_timestamp_null]  # when the scheduler found it overdue and told the person
    completed_at: Mapped[utc_timestamp_null]
    record_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the training record that completed it
    closed_at: Mapped[utc_timestamp_null]
    close_reason: Mapped[str | None] = mapped_column(Text)
    superseded_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class TrainingRecord(Base):
    """Evidence that a person was trained (or failed an assessment): person, revision, method, when it was
    performed and when it was entered, trainer and result, and the signature behind it. Append-only."""

    __tablename__ = "training_records"
    __table_args__ = (
        CheckConstraint(f"method IN ({', '.join(repr(s) for s in RECORD_METHODS)})", name="method"),
        CheckConstraint(f"result IN ({', '.join(repr(s) for s in RECORD_RESULTS)})", name="result"),
        Index("ix_training_records_user_revision", "user_id", "revision_id"),
    )

    id: Mapped[uuid_pk]
    assignment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("training_assignments.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    revision_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("revisions.id"))
    method: Mapped[str] = mapped_column(String(24))
    result: Mapped[str] = mapped_column(String(12))
    signature_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("signatures.id"))
    trainer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    performed_on: Mapped[date | None] = mapped_column(Date)  # offline training: the day it was given (DI-ALCOA)
    performed_at: Mapped[utc_timestamp]  # when the training counts from (the signature, or the day performed)
    recorded_at: Mapped[utc_timestamp]  # the real time of entry, from the server clock
    carried_from_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # a "no retraining" revision: the record kept
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[str64] = mapped_column(default="")  # the version trained on, as the person saw it


class TrainingComplianceSnapshot(Base):
    """The compliance summary as computed at one moment (derived data, not a record): kept so the summary page
    answers at once however many people there are. Valid while no training-related audit event came after
    `through_seq`; older snapshots are pruned."""

    __tablename__ = "training_compliance_snapshots"

    id: Mapped[uuid_pk]
    computed_at: Mapped[utc_timestamp]
    through_seq: Mapped[int] = mapped_column(BigInteger)  # the last relevant audit event it reflects
    millis: Mapped[int] = mapped_column(Integer)  # how long computing it took
    payload: Mapped[dict] = mapped_column(JSON)
