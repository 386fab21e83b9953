"""The audit trail: one row per event, the canonical bytes it was hashed from, its leaf hash and the tree root."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from docctl.db.base import Base, utc_timestamp, utc_timestamp_null, uuid_pk


class AuditEvent(Base):
    """Append-only. `canonical` is the event as hashed; the other columns are copies kept for filtering, and
    `docctl audit verify` checks they agree with it."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_subject", "subject_type", "subject_id", "seq"),
        Index("ix_audit_events_actor", "actor_id", "seq"),
        Index("ix_audit_events_action", "action", "seq"),
        Index("ix_audit_events_at_seq", "at", "seq"),  # a date range read with its seqs: no row lookups
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[utc_timestamp]
    actor_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    canonical: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    root: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditHead(Base):
    """The log head: one row, locked by every append so appends are serialized and `seq` has no gaps."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    frontier: Mapped[bytes] = mapped_column(LargeBinary)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpoint(Base):
    """Append-only. A signed tree head: `body` is the canonical checkpoint `{"v":1,"type":"docctl.checkpoint",
    "tree_size","root","at"}` as signed, `signature` the instance CA key's ECDSA P-256 / SHA-256 DER signature over
    it; `tree_size`, `root` and `at` are copies for lookups, checked against `body` by verification. `blob_sha256`
    names the copy written to the blob store (body and signature), `made_by` why it was made: "scheduler",
    "on demand" or "export"."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[uuid_pk]
    tree_size: Mapped[int] = mapped_column(BigInteger, unique=True)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    at: Mapped[utc_timestamp]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    blob_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    made_by: Mapped[str] = mapped_column(String(32))


class AuditSubtree(Base):
    """Derived, not a record: the RFC 6962 hash of the complete aligned subtree of audit events
    `idx * 2**level + 1 .. (idx + 1) * 2**level` (levels >= 8), which never changes once those events exist.
    Inclusion proofs read O(log n) of these instead of every leaf (docctl.audit.tiles); recomputable from
    `audit_events` at any time, and every proof built from them is checked against a signed checkpoint root."""

    __tablename__ = "audit_subtrees"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class IntegrityCheck(Base):
    """One run of "verify integrity" started from the browser: who started it, how far it got (updated as it goes,
    so any app process can show the progress bar) and its outcome. The outcome is also an `audit:verify` event in
    the trail, which is the record; this row is the run's working state and its readable result."""

    __tablename__ = "integrity_checks"
    __table_args__ = (Index("ix_integrity_checks_started_at", "started_at"),)

    id: Mapped[uuid_pk]
    started_at: Mapped[utc_timestamp]
    started_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(String(16))  # running | passed | failed | error
    phase: Mapped[str] = mapped_column(String(32))  # events | checkpoints | consistency | done
    events_total: Mapped[int] = mapped_column(BigInteger)
    events_done: Mapped[int] = mapped_column(BigInteger)
    checkpoints_total: Mapped[int] = mapped_column(Integer)
    checkpoints_done: Mapped[int] = mapped_column(Integer)
    heartbeat_at: Mapped[utc_timestamp]
    finished_at: Mapped[utc_timestamp_null]
    verified_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    verified_root: Mapped[str | None] = mapped_column(String(64), nullable=True)
    problems: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of {"where", "what"}
