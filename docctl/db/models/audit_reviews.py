"""Signed audit-trail reviews (MHRA-6.13/EMA-6.2.2): QA's "Audit trail review completed" over a range of events."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from docctl.db.base import Base, str64, str200, utc_timestamp, utc_timestamp_null, uuid_pk


class AuditReview(Base):
    """Append-only. One signed review of audit events `seq_from..seq_to` (the stated time range `since`..`until`,
    UTC; `since` null = from the start), against the signed checkpoint `checkpoint_tree_size`/`checkpoint_root`
    that covers `seq_to`. `scope` is what was reviewed (JSON list of {"report", "events"}), `findings` the
    reviewer's explicit answer ("No findings" is one). `manifest` is the canonical `docctl.audit_review` v1 bytes
    signed, `signature` the DER ECDSA P-256 signature by `signing_key_id`; the other columns are copies of the
    manifest for lists and lookups. One review per reviewer and range (a double submit signs once)."""

    __tablename__ = "audit_reviews"
    __table_args__ = (
        UniqueConstraint("reviewer_id", "seq_from", "seq_to"),
        Index("ix_audit_reviews_seq_to", "seq_to"),
    )

    id: Mapped[uuid_pk]
    seq_from: Mapped[int] = mapped_column(BigInteger)
    seq_to: Mapped[int] = mapped_column(BigInteger)
    since: Mapped[utc_timestamp_null]
    until: Mapped[utc_timestamp]
    checkpoint_tree_size: Mapped[int] = mapped_column(BigInteger)
    checkpoint_root: Mapped[bytes] = mapped_column(LargeBinary(32))
    scope: Mapped[str] = mapped_column(Text)
    findings: Mapped[str] = mapped_column(Text)
    reviewer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    signing_key_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("signing_keys.id"))
    printed_name: Mapped[str200]
    title: Mapped[str200]
    meaning: Mapped[str200]
    statement_version: Mapped[str64]
    signed_at: Mapped[utc_timestamp]
    manifest: Mapped[bytes] = mapped_column(LargeBinary)
    manifest_sha256: Mapped[str64]
    signature: Mapped[bytes] = mapped_column(LargeBinary)
