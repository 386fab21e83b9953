"""Key custody: the instance CA, and each user's signing key wrapped under their own password.

A key pair is made when a person sets a password of their own (never for a password an administrator set); a
change of password re-wraps the same key; an administrator's reset retires the key (it stays for verifying what
it signed) and the person gets a new pair when they next set their own password. The slow parts (scrypt, key
generation, certificate issue) run in `prepare_*` before the unit of work, like password hashing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from docctl import signatures
from docctl.audit import log
from docctl.audit.log import RequestInfo, Subject
from docctl.audit.tags import Tag
from docctl.db.models import InstanceAuthority, SigningKey, User
from docctl.errors import KeyUnwrapFailed


def instance_ca(session: Session) -> signatures.InstanceCA | None:
    row = session.get(InstanceAuthority, 1)
    if row is None:
        return None
    return signatures.InstanceCA(row.certificate_pem.encode(), row.encrypted_key_pem.encode())


def ensure_instance_ca(session: Session, *, secret: bytes, base_url: str, at: datetime) -> bool:
    """Create the instance CA on first start (`docctl init`); True when it was created now."""
    if session.get(InstanceAuthority, 1) is not None:
        return False
    name = urlsplit(base_url).hostname or "docctl"
    ca = signatures.create_instance_ca(name, secret, at=at)
    info = signatures.certificate_info(ca.certificate_pem)
    session.add(InstanceAuthority(id=1, certificate_pem=ca.certificate_pem.decode(),
                                  encrypted_key_pem=ca.encrypted_key_pem.decode(), fingerprint=info["fingerprint"],
                                  created_at=at))
    log.append(session, Tag.CA_CREATE, actor=log.SYSTEM, subject=Subject("instance_ca", "1", info["subject_dn"][:200]),
               at=at, after={"fingerprint": info["fingerprint"], "not_after": info["not_after"]})
    return True


def active_key(session: Session, user_id: uuid.UUID) -> SigningKey | None:
    return session.scalars(
        select(SigningKey).where(SigningKey.user_id == user_id, SigningKey.retired_at.is_(None))
    ).one_or_none()


@dataclass(frozen=True)
class PreparedKey:
    kind: str  # "new" or "rewrap"
    key_id: uuid.UUID | None  # the key re-wrapped, for "rewrap"
    wrapped: signatures.WrappedKey
    certificate_pem: bytes | None  # for "new"


def prepare_for_password(
    session: Session, *, user: User, old_password: str, new_password: str, secret: bytes, kdf_n: int, at: datetime,
) -> PreparedKey | None:
    """Read-only and slow: what the person's key becomes when their password changes from `old_password`.
    None when there is no instance CA yet (the key is made at the next change after `docctl init`)."""
    current = active_key(session, user.id)
    if current is not None and not user.password_set_by_admin:
        try:
            wrapped = signatures.rewrap(signatures.WrappedKey(current.public_key_pem.encode(), current.wrapped),
                                        old_password, new_password, kdf_n=kdf_n)
            return PreparedKey("rewrap", current.id, wrapped, None)
        except KeyUnwrapFailed:
            pass  # a key that no longer opens with the password is replaced below (and retired, not deleted)
    ca = instance_ca(session)
    if ca is None:
        return None
    wrapped = signatures.generate_user_key(new_password, kdf_n=kdf_n)
    certificate = signatures.issue_user_certificate(
        ca, signatures.load_ca_key(ca, secret), wrapped.public_key_pem, user_id=user.id, username=user.username,
        full_name=user.full_name[:64], title=user.title[:64], at=at,
    )
    return PreparedKey("new", None, wrapped, certificate)


def record(session: Session, *, user: User, prepared: PreparedKey, at: datetime,
           request: RequestInfo | None = None) -> SigningKey:
    """Store a prepared key change in the caller's unit of work, with its audit event."""
    subject = Subject("user", str(user.id), user.username)
    if prepared.kind == "rewrap":
        key = session.get(SigningKey, prepared.key_id, with_for_update=True)
        if key is not None and key.retired_at is None:
            key.wrapped = prepared.wrapped.wrapped
            key.rewrapped_at = at
            log.append(session, Tag.SIGNING_KEY_REWRAP, actor=log.Actor(user.id, user.username, user.full_name),
                       subject=subject, at=at, after={"key": key.fingerprint}, request=request)
            return key
    retire(session, user_id=user.id, reason="replaced by a new key", at=at, request=request)
    assert prepared.certificate_pem is not None
    info = signatures.certificate_info(prepared.certificate_pem)
    key = SigningKey(
        user_id=user.id, public_key_pem=prepared.wrapped.public_key_pem.decode(),
        fingerprint=signatures.fingerprint(prepared.wrapped.public_key_pem), wrapped=prepared.wrapped.wrapped,
        certificate_pem=prepared.certificate_pem.decode(), certificate_serial=info["serial"], created_at=at,
    )
    session.add(key)
    session.flush()
    log.append(session, Tag.SIGNING_KEY_CREATE, actor=log.Actor(user.id, user.username, user.full_name),
               subject=subject, at=at,
               after={"key": key.fingerprint, "certificate_serial": key.certificate_serial,
                      "certificate_subject": info["subject_dn"]}, request=request)
    return key


def retire(session: Session, *, user_id: uuid.UUID, reason: str, at: datetime,
           request: RequestInfo | None = None, actor: log.Actor | None = None) -> int:
    """Retire the user's active key (it stays for verification); returns how many were retired."""
    current = active_key(session, user_id)
    if current is None:
        return 0
    session.execute(update(SigningKey).where(SigningKey.id == current.id).values(retired_at=at,
                                                                                  retired_reason=reason[:200]))
    user = session.get(User, user_id)
    assert user is not None
    log.append(session, Tag.SIGNING_KEY_RETIRE, actor=actor or log.SYSTEM,
               subject=Subject("user", str(user.id), user.username), at=at, reason=reason,
               after={"key": current.fingerprint}, request=request)
    return 1
