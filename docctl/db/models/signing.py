"""Key custody for electronic signatures: the instance CA and each user's signing keys."""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from docctl.db.base import Base, str64, utc_timestamp, utc_timestamp_null, uuid_pk


class InstanceAuthority(Base):
    """The instance CA: one row, written by `docctl init`, never changed. Its private key is encrypted under the
    instance secret."""

    __tablename__ = "instance_ca"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    certificate_pem: Mapped[str] = mapped_column(Text)
    encrypted_key_pem: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str64]
    created_at: Mapped[utc_timestamp]


class SigningKey(Base):
    """A user's ECDSA P-256 key pair and certificate. The private key is stored only wrapped under a key derived
    from the user's own password; a retired key stays for verifying what it signed."""

    __tablename__ = "signing_keys"
    __table_args__ = (
        Index("uq_signing_keys_one_active", "user_id", unique=True, sqlite_where=text("retired_at IS NULL"),
              postgresql_where=text("retired_at IS NULL")),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    public_key_pem: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str64] = mapped_column(unique=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    certificate_pem: Mapped[str] = mapped_column(Text)
    certificate_serial: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[utc_timestamp]
    rewrapped_at: Mapped[utc_timestamp_null]
    retired_at: Mapped[utc_timestamp_null]
    retired_reason: Mapped[str | None] = mapped_column(String(200))
