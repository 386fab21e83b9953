"""Blobs: content-addressed, write-once bytes in the blob store."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from docctl.db.base import Base, utc_timestamp


class Blob(Base):
    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(128))
    backend: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[utc_timestamp]
