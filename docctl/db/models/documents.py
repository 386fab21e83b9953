"""Controlled documents: types (numbering, review and training rules), documents, their metadata history, and
revisions (immutable bytes in the blob store, a state in the lifecycle)."""

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
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docctl.db.base import Base, str64, str200, utc_timestamp, utc_timestamp_null, uuid_pk
from docctl.domain.lifecycle import State

_states_sql = ", ".join(f"'{s.value}'" for s in State)


class DocumentType(Base):
    """SOP, WI, POL, FORM and any type an administrator adds."""

    __tablename__ = "document_types"

    id: Mapped[uuid_pk]
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str200]
    numbering_pattern: Mapped[str64]
    review_interval_months: Mapped[int] = mapped_column(Integer, default=24)
    training_window_days: Mapped[int] = mapped_column(Integer, default=14)
    training_required: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[utc_timestamp]
    updated_at: Mapped[utc_timestamp]


class NumberCounter(Base):
    """The last sequence number used per counter key (a pattern rendered without its seq); locked while a
    number is taken, so two authors creating documents at once get two numbers."""

    __tablename__ = "number_counters"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[uuid_pk]
    number: Mapped[str64] = mapped_column(unique=True)
    title: Mapped[str] = mapped_column(String(300))
    type_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("document_types.id"), index=True)
    department: Mapped[str] = mapped_column(String(12), index=True)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    external_source: Mapped[str] = mapped_column(String(300), default="")
    external_version: Mapped[str] = mapped_column(String(64), default="")
    external_issued_on: Mapped[date | None] = mapped_column(Date)
    next_review_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[utc_timestamp]
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[utc_timestamp]

    type: Mapped[DocumentType] = relationship(lazy="joined", innerjoin=True)
    revisions: Mapped[list[Revision]] = relationship(
        back_populates="document", order_by="(Revision.major, Revision.minor)", lazy="selectin"
    )


class DocumentHistory(Base):
    """Every state of a document's metadata, appended on creation and on each edit (P11-10e.3). Append-only."""

    __tablename__ = "document_history"
    __table_args__ = (UniqueConstraint("document_id", "edition"),)

    id: Mapped[uuid_pk]
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id"), index=True)
    edition: Mapped[int] = mapped_column(Integer)
    at: Mapped[utc_timestamp]
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    snapshot: Mapped[dict] = mapped_column(JSON)


class Revision(Base):
    """One version of a document: its original bytes and rendition in the blob store, its place in the lifecycle.
    The bytes never change; any change of content is a new revision."""

    __tablename__ = "revisions"
    __table_args__ = (
        UniqueConstraint("document_id", "major", "minor"),
        CheckConstraint(f"state IN ({_states_sql})", name="state"),
        CheckConstraint("change_kind IN ('major', 'minor')", name="change_kind"),
        # at most one effective revision per document, enforced by the database too (ISO-4.2.4c)
        Index(
            "uq_revisions_one_effective",
            "document_id",
            unique=True,
            sqlite_where=text("state = 'effective'"),
            postgresql_where=text("state = 'effective'"),
        ),
        # lists filter on the state and join the document: this index answers both without reading the rows
        Index("ix_revisions_state_document", "state", "document_id"),
    )

    id: Mapped[uuid_pk]
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id"), index=True)
    major: Mapped[int] = mapped_column(Integer)
    minor: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))
    change_kind: Mapped[str] = mapped_column(String(8))
    change_summary: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text, default="")
    source_sha256: Mapped[str] = mapped_column(ForeignKey("blobs.sha256"))
    source_filename: Mapped[str] = mapped_column(String(255))
    source_media_type: Mapped[str] = mapped_column(String(128))
    source_size: Mapped[int] = mapped_column(BigInteger)
    rendition_sha256: Mapped[str | None] = mapped_column(ForeignKey("blobs.sha256"))
    rendition_kind: Mapped[str] = mapped_column(String(8))  # "pdf", or "docx" when no converter was available
    rendition_note: Mapped[str] = mapped_column(Text, default="")
    page_count: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text, default="")
    # False on a minor revision: "no retraining", completions of the previous version carry over
    training_required: Mapped[bool] = mapped_column(Boolean, default=True)
    # assign the training at approval, due at the effective date, instead of at the effective date
    train_before_effective: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[utc_timestamp]
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    # the approval route version this revision is (or was last) submitted under, and when it should take effect
    route_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("approval_routes.id"))
    round: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    planned_effective_at: Mapped[utc_timestamp_null]
    submitted_at: Mapped[utc_timestamp_null]
    approved_at: Mapped[utc_timestamp_null]
    effective_at: Mapped[utc_timestamp_null]
    superseded_at: Mapped[utc_timestamp_null]
    obsolete_at: Mapped[utc_timestamp_null]
    withdrawn_at: Mapped[utc_timestamp_null]

    document: Mapped[Document] = relationship(back_populates="revisions", lazy="joined", innerjoin=True)

    @property
    def version(self) -> str:
        return f"{self.major}.{self.minor}"
