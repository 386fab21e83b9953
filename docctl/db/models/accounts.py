"""Users, their permission roles, password history, browser sessions and API tokens."""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from docctl.db.base import Base, str64, str200, utc_timestamp, utc_timestamp_null, uuid_pk
from docctl.domain.policy import Role

USER_STATUSES = ("active", "locked", "deactivated")
_roles_sql = ", ".join(f"'{r.value}'" for r in Role)


class User(Base):
    """A person. Never deleted: deactivated, so every record they made still resolves (E6-4.3.8)."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(f"status IN ({', '.join(repr(s) for s in USER_STATUSES)})", name="status"),)

    id: Mapped[uuid_pk]
    username: Mapped[str64]
    # case-folded user ID; unique over every user ever created, so an ID is never reused (P11-100a, P11-300a)
    username_key: Mapped[str64] = mapped_column(unique=True)
    full_name: Mapped[str200]
    title: Mapped[str200] = mapped_column(default="")
    email: Mapped[str200] = mapped_column(default="")
    time_zone: Mapped[str64] = mapped_column(default="UTC")
    department: Mapped[str] = mapped_column(String(12), default="", server_default=text("''"))
    status: Mapped[str] = mapped_column(String(16), default="active")
    password_hash: Mapped[str] = mapped_column(String(255))
    password_set_at: Mapped[utc_timestamp]
    # set by an administrator: must be changed at next login and can never sign (P11-200a2-3)
    password_set_by_admin: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_login_at: Mapped[utc_timestamp_null]
    created_at: Mapped[utc_timestamp]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    deactivated_at: Mapped[utc_timestamp_null]
    identity_verified_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    identity_verified_at: Mapped[utc_timestamp_null]
    esig_accepted_at: Mapped[utc_timestamp_null]

    grants: Mapped[list[UserRole]] = relationship(
        back_populates="user", foreign_keys="UserRole.user_id", order_by="UserRole.granted_at", lazy="selectin"
    )

    @property
    def roles(self) -> list[str]:
        return sorted(g.role for g in self.grants if g.revoked_at is None)

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class UserRole(Base):
    """A grant of a permission role, kept after revocation with who, when and why (E6-4.3.8)."""

    __tablename__ = "user_roles"
    __table_args__ = (
        CheckConstraint(f"role IN ({_roles_sql})", name="role"),
        Index(
            "uq_user_roles_active",
            "user_id",
            "role",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    granted_at: Mapped[utc_timestamp]
    granted_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    grant_reason: Mapped[str] = mapped_column(Text, default="")
    revoked_at: Mapped[utc_timestamp_null]
    revoked_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)

    user: Mapped[User] = relationship(back_populates="grants", foreign_keys=[user_id])


class PasswordHistory(Base):
    """Every password hash a user has had, for the reuse rule. Append-only."""

    __tablename__ = "password_history"

    id: Mapped[uuid_pk]
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    set_at: Mapped[utc_timestamp]


class WebSession(Base):
    """A server-side browser session; the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "sessions"

    id: Mapped[uuid_pk]
    token_hash: Mapped[str64] = mapped_column(unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[utc_timestamp]
    last_seen_at: Mapped[utc_timestamp]
    expires_at: Mapped[utc_timestamp]
    ended_at: Mapped[utc_timestamp_null]
    end_reason: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(400), default="")

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class ApiToken(Base):
    """A bearer token for the JSON API; stored hashed."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid_pk]
    token_hash: Mapped[str64] = mapped_column(unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str200] = mapped_column(default="")
    scopes: Mapped[str200] = mapped_column(default="api")
    created_at: Mapped[utc_timestamp]
    expires_at: Mapped[utc_timestamp]
    revoked_at: Mapped[utc_timestamp_null]
    last_used_at: Mapped[utc_timestamp_null]

    user: Mapped[User] = relationship(lazy="joined", innerjoin=True)
