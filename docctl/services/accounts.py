"""User administration and passwords: create, deactivate, reset, grant and revoke roles, change password."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import available_timezones

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docctl.audit import log
from docctl.audit.log import RequestInfo, Subject
from docctl.audit.tags import Tag
from docctl.db.models import PasswordHistory, User, UserRole
from docctl.domain import esig
from docctl.domain.numbering import check_department
from docctl.domain.policy import Permission, Role
from docctl.domain.usernames import check_username, username_key
from docctl.errors import Conflict, InvalidInput, NotFound, PasswordPolicyViolation, UsernameTaken
from docctl.services import sessions, signing_keys
from docctl.services.credentials import AccountConfig, temporary_password
from docctl.services.principal import Principal

_ZONES: frozenset[str] | None = None


def _check_zone(zone: str) -> str:
    global _ZONES
    if _ZONES is None:
        _ZONES = frozenset(available_timezones())
    if zone not in _ZONES:
        raise InvalidInput(f"Unknown time zone {zone!r}; use an IANA name such as Europe/London.")
    return zone


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("A reason is required.")
    if len(text) > 2000:
        raise InvalidInput("The reason is too long (2,000 characters at most).")
    return text


def user_subject(user: User) -> Subject:
    return Subject("user", str(user.id), user.username)


def profile(user: User) -> dict[str, object]:
    return {
        "username": user.username,
        "full_name": user.full_name,
        "title": user.title,
        "email": user.email,
        "time_zone": user.time_zone,
        "department": user.department,
        "status": user.status,
    }


def get_user(session: Session, user_id: uuid.UUID) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def find_user(session: Session, username: str) -> User | None:
    return session.scalars(select(User).where(User.username_key == username_key(username))).one_or_none()


def users_by_id(session: Session, ids: set[uuid.UUID]) -> list[User]:
    if not ids:
        return []
    return list(session.scalars(select(User).where(User.id.in_(ids))))


def list_users(session: Session, *, principal: Principal, include_deactivated: bool = True) -> list[User]:
    principal.require(Permission.USERS_READ)
    stmt = select(User).order_by(User.username_key)
    if not include_deactivated:
        stmt = stmt.where(User.status != "deactivated")
    return list(session.scalars(stmt))


def _set_password(session: Session, user: User, password_hash: str, at: datetime) -> None:
    user.password_hash = password_hash
    user.password_set_at = at
    session.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash, set_at=at))


@dataclass(frozen=True)
class CreatedUser:
    user: User
    temporary_password: str | None  # shown once to the administrator, never stored in clear


def create_user(
    session: Session,
    config: AccountConfig,
    *,
    principal: Principal,
    username: str,
    full_name: str,
    title: str = "",
    email: str = "",
    time_zone: str = "UTC",
    department: str = "",
    roles: list[str] | tuple[str, ...] = (),
    password: str | None = None,
    at: datetime,
    request: RequestInfo | None = None,
) -> CreatedUser:
    """Create an account. Its password counts as set by an administrator: it must be changed at first login."""
    principal.require(Permission.USERS_MANAGE)
    key = check_username(username)
    full_name = full_name.strip()
    if not full_name:
        raise InvalidInput("The full name is required (it is printed with every signature).")
    _check_zone(time_zone)
    department = check_department(department) if department.strip() else ""
    wanted = [Role(r) for r in dict.fromkeys(roles)] if roles else []
    temp = None
    if password is None:
        password = temp = temporary_password()
    else:
        config.policy.check(password, username=key, full_name=full_name)
    password_hash = config.hasher.hash(password)  # before the first query: no lock held while hashing
    if session.scalars(select(func.count()).select_from(User).where(User.username_key == key)).one():
        raise UsernameTaken()
    user = User(
        id=uuid.uuid4(),
        username=key,
        username_key=key,
        full_name=full_name,
        title=title.strip(),
        email=email.strip(),
        time_zone=time_zone,
        department=department,
        status="active",
        password_hash="",
        password_set_at=at,
        password_set_by_admin=True,
        failed_attempts=0,
        created_at=at,
        created_by_id=principal.user.id if principal.user else None,
    )
    session.add(user)
    session.flush()
    _set_password(session, user, password_hash, at)
    log.append(
        session, Tag.USER_CREATE, actor=principal.actor, subject=user_subject(user), at=at,
        after=profile(user), request=request,
    )
    for role in wanted:
        _grant(session, principal, user, role, "initial role at account creation", at, request)
    session.flush()
    return CreatedUser(user, temp)


def update_profile(
    session: Session, *, principal: Principal, user_id: uuid.UUID, title: str, email: str, department: str,
    time_zone: str, reason: str, at: datetime, request: RequestInfo | None = None,
) -> User:
    """An administrator corrects a person's title, e-mail, department or time zone (the name and user ID never
    change: they are printed in signatures). The before and after values go to the trail."""
    principal.require(Permission.USERS_MANAGE)
    reason = _reason(reason)
    user = get_user(session, user_id)
    _check_zone(time_zone)
    values = {"title": title.strip()[:200], "email": email.strip()[:200],
              "department": check_department(department) if department.strip() else "", "time_zone": time_zone}
    before = {k: getattr(user, k) for k in values}
    if before == values:
        return user
    for key, value in values.items():
        setattr(user, key, value)
    log.append(session, Tag.USER_UPDATE, actor=principal.actor, subject=user_subject(user), at=at, reason=reason,
               before=before, after=values, request=request)
    return user


def _grant(
    session: Session, principal: Principal, user: User, role: Role, reason: str, at: datetime,
    request: RequestInfo | None,
) -> UserRole:
    if role in user.roles:
        raise Conflict(f"{user.username} already holds the role {role.value}.")
    grant = UserRole(
        user_id=user.id, role=role.value, granted_at=at, grant_reason=reason,
        granted_by_id=principal.user.id if principal.user else None,
    )
    session.add(grant)
    user.grants.append(grant)
    log.append(
        session, Tag.ROLE_GRANT, actor=principal.actor, subject=user_subject(user), at=at, reason=reason,
        before={"roles": [r for r in user.roles if r != role.value]}, after={"roles": user.roles}, request=request,
    )
    return grant


def grant_role(
    session: Session, *, principal: Principal, user_id: uuid.UUID, role: str, reason: str, at: datetime,
    request: RequestInfo | None = None,
) -> UserRole:
    principal.require(Permission.USERS_MANAGE)
    reason = _reason(reason)
    try:
        wanted = Role(role)
    except ValueError:
        raise InvalidInput(f"Unknown role {role!r}.") from None
    user = get_user(session, user_id)
    if user.status == "deactivated":
        raise Conflict("A deactivated account cannot be given roles.")
    return _grant(session, principal, user, wanted, reason, at, request)


def revoke_role(
    session: Session, *, principal: Principal, user_id: uuid.UUID, role: str, reason: str, at: datetime,
    request: RequestInfo | None = None,
) -> None:
    principal.require(Permission.USERS_MANAGE)
    reason = _reason(reason)
    user = get_user(session, user_id)
    grant = next((g for g in user.grants if g.role == role and g.revoked_at is None), None)
    if grant is None:
        raise Conflict(f"{user.username} does not hold the role {role!r}.")
    if role == Role.ADMIN and principal.user is not None and principal.user.id == user.id:
        raise Conflict("You cannot revoke your own administrator role; ask another administrator.")
    if role == Role.ADMIN:
        _keep_an_admin(session, excluding=user.id)
    before = user.roles
    grant.revoked_at = at
    grant.revoke_reason = reason
    grant.revoked_by_id = principal.user.id if principal.user else None
    log.append(
        session, Tag.ROLE_REVOKE, actor=principal.actor, subject=user_subject(user), at=at, reason=reason,
        before={"roles": before}, after={"roles": user.roles}, request=request,
    )


def _keep_an_admin(session: Session, *, excluding: uuid.UUID) -> None:
    stmt = (
        select(func.count())
        .select_from(UserRole)
        .join(User, User.id == UserRole.user_id)
        .where(UserRole.role == Role.ADMIN, UserRole.revoked_at.is_(None), User.status == "active")
        .where(User.id != excluding)
    )
    if session.scalars(stmt).one() == 0:
        raise Conflict("This is the last active administrator; create another one first.")


def deactivate_user(
    session: Session, *, principal: Principal, user_id: uuid.UUID, reason: str, at: datetime,
    request: RequestInfo | None = None,
) -> User:
    """Deactivate, never delete: the account can no longer log in, its sessions and tokens end, its records stay."""
    principal.require(Permission.USERS_MANAGE)
    reason = _reason(reason)
    user = get_user(session, user_id)
    if user.status == "deactivated":
        raise Conflict(f"{user.username} is already deactivated.")
    if principal.user is not None and principal.user.id == user.id:
        raise Conflict("You cannot deactivate your own account.")
    if Role.ADMIN in user.roles:
        _keep_an_admin(session, excluding=user.id)
    before = user.status
    user.status = "deactivated"
    user.deactivated_at = at
    ended = sessions.end_all_for(session, user.id, at=at, reason="deactivated")
    log.append(
        session, Tag.USER_DEACTIVATE, actor=principal.actor, subject=user_subject(user), at=at, reason=reason,
        before={"status": before}, after={"status": user.status, "sessions_ended": ended["sessions"],
                                          "tokens_revoked": ended["tokens"]},
        request=request,
    )
    return user


def reset_password(
    session: Session, config: AccountConfig, *, principal: Principal, user_id: uuid.UUID, reason: str,
    at: datetime, request: RequestInfo | None = None,
) -> str:
    """Issue a temporary password (returned once). It must be changed at next login and can never sign;
    the account's sessions and tokens end, and a lockout is lifted."""
    principal.require(Permission.USERS_MANAGE)
    reason = _reason(reason)
    temp = temporary_password()
    temp_hash = config.hasher.hash(temp)  # before the first query: no lock held while hashing
    user = get_user(session, user_id)
    if user.status == "deactivated":
        raise Conflict("A deactivated account cannot be given a password.")
    before = {"status": user.status, "password_set_by_admin": user.password_set_by_admin}
    _set_password(session, user, temp_hash, at)
    user.password_set_by_admin = True
    user.failed_attempts = 0
    user.status = "active"
    ended = sessions.end_all_for(session, user.id, at=at, reason="password_reset")
    log.append(
        session, Tag.USER_PASSWORD_RESET, actor=principal.actor, subject=user_subject(user), at=at, reason=reason,
        before=before, after={"status": user.status, "password_set_by_admin": True,
                              "sessions_ended": ended["sessions"], "tokens_revoked": ended["tokens"]},
        request=request,
    )
    # the key stays wrapped under the old password, which the person may no longer know or may be compromised:
    # retire it (kept for verification); a new pair is made when they set their own password
    signing_keys.retire(session, user_id=user.id, reason="password reset by an administrator", at=at,
                        request=request, actor=principal.actor)
    return temp


def unlock_user(
    session: Session, *, principal: Principal, user_id: uuid.UUID, reason: str, at: datetime,
    request: RequestInfo | None = None,
) -> User:
    principal.require(Permission.USERS_MANAGE)
    reason = _reason(reason)
    user = get_user(session, user_id)
    if user.status != "locked":
        raise Conflict(f"{user.username} is not locked.")
    user.status = "active"
    user.failed_attempts = 0
    log.append(
        session, Tag.USER_UNLOCKED, actor=principal.actor, subject=user_subject(user), at=at, reason=reason,
        before={"status": "locked"}, after={"status": "active"}, request=request,
    )
    return user


@dataclass(frozen=True)
class PasswordChange:
    """A checked request to change one's own password, ready to record."""

    user_id: uuid.UUID
    verified_hash: str | None  # the current hash the current password matched; None if it did not
    new_hash: str
    key: signing_keys.PreparedKey | None = None  # the signing key, re-wrapped or new


def prepare_password_change(
    session: Session, config: AccountConfig, *, user_id: uuid.UUID, current_password: str, new_password: str,
    at: datetime,
) -> PasswordChange:
    """Read-only and slow (argon2): check the current password, the policy and the history, hash the new one.
    Raises PasswordPolicyViolation when the new password breaks the policy (nothing to record then)."""
    user = get_user(session, user_id)
    if not config.hasher.verify(user.password_hash, current_password):
        return PasswordChange(user.id, None, "")
    config.policy.check(new_password, username=user.username, full_name=user.full_name)
    recent = [user.password_hash]
    if config.policy.history:
        recent += session.scalars(
            select(PasswordHistory.password_hash)
            .where(PasswordHistory.user_id == user.id)
            .order_by(PasswordHistory.set_at.desc())
            .limit(config.policy.history)
        )
    if any(config.hasher.verify(h, new_password) for h in dict.fromkeys(recent)):
        raise PasswordPolicyViolation(
            f"The new password must differ from your current one and your last {config.policy.history} passwords."
        )
    key = signing_keys.prepare_for_password(
        session, user=user, old_password=current_password, new_password=new_password, secret=config.secret,
        kdf_n=config.kdf_n, at=at,
    )
    return PasswordChange(user.id, user.password_hash, config.hasher.hash(new_password), key)


def change_password(
    session: Session, config: AccountConfig, *, change: PasswordChange, at: datetime,
    request: RequestInfo | None = None,
) -> bool:
    """Record a prepared change. Returns False (and records the failed attempt, which counts towards lockout)
    when the current password was wrong or the password changed meanwhile."""
    user = session.get(User, change.user_id, populate_existing=True, with_for_update=True)
    if user is None:
        raise NotFound("No such user.")
    if change.verified_hash is None or change.verified_hash != user.password_hash or user.status != "active":
        sessions.record_failure(session, config, user, at=at, request=request, action=Tag.USER_PASSWORD_CHANGE_FAILED)
        return False
    was_admin_set = user.password_set_by_admin
    _set_password(session, user, change.new_hash, at)
    user.password_set_by_admin = False
    user.failed_attempts = 0
    log.append(
        session, Tag.USER_PASSWORD_CHANGE, actor=log.Actor(user.id, user.username, user.full_name),
        subject=user_subject(user), at=at,
        before={"password_set_by_admin": was_admin_set}, after={"password_set_by_admin": False},
        request=request,
    )
    if change.key is not None:
        signing_keys.record(session, user=user, prepared=change.key, at=at, request=request)
    return True


def signing_readiness(user: User) -> esig.SigningReadiness:
    return esig.SigningReadiness(
        identity_verified=user.identity_verified_at is not None,
        statement_accepted=user.esig_accepted_at is not None,
        own_password=not user.password_set_by_admin,
        active=user.status == "active",
    )


def verify_identity(
    session: Session, *, principal: Principal, user_id: uuid.UUID, evidence: str, at: datetime,
    request: RequestInfo | None = None,
) -> User:
    """Record that an administrator verified the person's identity before signing rights are enabled (P11-100b):
    who verified, when, and how (the evidence)."""
    principal.require(Permission.USERS_MANAGE)
    evidence = _reason(evidence)
    user = get_user(session, user_id)
    if user.status == "deactivated":
        raise Conflict("A deactivated account cannot be verified.")
    if principal.user is not None and principal.user.id == user.id:
        raise Conflict("Another administrator must verify your identity.")
    if user.identity_verified_at is not None:
        raise Conflict(f"The identity of {user.username} was verified already.")
    user.identity_verified_at = at
    user.identity_verified_by_id = principal.user.id if principal.user else None
    log.append(
        session, Tag.USER_IDENTITY_VERIFIED, actor=principal.actor, subject=user_subject(user), at=at,
        reason=evidence, after={"identity_verified_at": at, "verified_by": principal.actor.username},
        request=request,
    )
    return user


def accept_statement(
    session: Session, config: AccountConfig, *, user_id: uuid.UUID, verified_hash: str | None, at: datetime,
    request: RequestInfo | None = None,
) -> bool:
    """The person accepts the accountability statement, confirming with their password (checked beforehand by
    `sessions.verify_credentials`; `verified_hash` is the hash it matched). Returns False, recording the failed
    attempt, when the password was wrong (P11-100c)."""
    user = session.get(User, user_id, populate_existing=True, with_for_update=True)
    if user is None:
        raise NotFound("No such user.")
    if verified_hash is None or verified_hash != user.password_hash:
        sessions.record_failure(session, config, user, at=at, request=request)
        return False
    if user.esig_accepted_at is not None:
        raise Conflict("You accepted the statement already.")
    user.esig_accepted_at = at
    log.append(
        session, Tag.USER_ESIG_ACCEPTED, actor=log.Actor(user.id, user.username, user.full_name),
        subject=user_subject(user), at=at,
        after={"statement_version": esig.STATEMENT_VERSION, "statement": esig.STATEMENT}, request=request,
    )
    return True


def password_expired(config: AccountConfig, user: User, at: datetime) -> bool:
    days = config.policy.max_age_days
    return bool(days) and (at - user.password_set_at).days >= days


@dataclass(frozen=True)
class AccessRow:
    user: User
    role: str
    granted_at: datetime
    granted_by: str
    grant_reason: str
    revoked_at: datetime | None
    revoked_by: str
    revoke_reason: str


ACCESS_REVIEW_COLUMNS = (
    "username", "full_name", "status", "last_login_at", "role", "granted_at", "granted_by", "grant_reason",
    "revoked_at", "revoked_by", "revoke_reason",
)


def access_review(session: Session, *, principal: Principal) -> list[AccessRow]:
    """Every role grant ever made, current and revoked, with who granted or revoked it, when and why, beside the
    account's status and last login (E6-4.3.8 periodic access review)."""
    users = list_users(session, principal=principal)
    names = {u.id: u.username for u in users}
    rows = []
    for user in users:
        for g in sorted(user.grants, key=lambda g: (g.role, g.granted_at)):
            rows.append(
                AccessRow(
                    user=user, role=g.role, granted_at=g.granted_at,
                    granted_by=names.get(g.granted_by_id, "system") if g.granted_by_id else "system",
                    grant_reason=g.grant_reason, revoked_at=g.revoked_at,
                    revoked_by=(names.get(g.revoked_by_id, "system") if g.revoked_by_id else "system")
                    if g.revoked_at else "",
                    revoke_reason=g.revoke_reason or "",
                )
            )
    return rows


def record_access_review_export(
    session: Session, *, principal: Principal, rows: int, at: datetime, request: RequestInfo | None = None
) -> None:
    principal.require(Permission.USERS_READ)
    log.append(
        session, Tag.ACCESS_REVIEW_EXPORT, actor=principal.actor, subject=Subject("report", "access_review"), at=at,
        after={"rows": rows, "format": "csv"}, request=request,
    )
