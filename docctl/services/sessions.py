"""Logging in and out: browser sessions (server-side, idle timeout and absolute lifetime), API tokens, failed
attempts and lockout.

Checking a password is two steps: `verify_credentials` runs argon2 in a read-only session (no write lock held for
the ~80 ms it takes, so logins run in parallel), then `login` or `issue_token` records the outcome in the caller's
unit of work, re-checking that the password hash verified is still the account's. Both return an outcome rather
than raising, so that the caller commits the record of a failed attempt (and a lockout) before answering.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from docctl.audit import log
from docctl.audit.log import Actor, RequestInfo, Subject
from docctl.audit.tags import Tag
from docctl.db.models import ApiToken, User, WebSession
from docctl.domain.policy import Role
from docctl.domain.usernames import username_key
from docctl.errors import NotFound
from docctl.services import notifications
from docctl.services.credentials import AccountConfig, new_token, token_hash

# last_seen_at is written at most this often per session, so that reading pages is not a stream of writes;
# the idle timeout is therefore enforced to within this margin, on the early (safe) side.
TOUCH_INTERVAL = timedelta(seconds=10)


def _actor(user: User) -> Actor:
    return Actor(user.id, user.username, user.full_name)


def _subject(user: User) -> Subject:
    return Subject("user", str(user.id), user.username)


@dataclass(frozen=True)
class LoginOutcome:
    user: User | None
    token: str | None = None  # the session cookie or API token, shown once

    @property
    def ok(self) -> bool:
        return self.user is not None


def record_failure(
    session: Session, config: AccountConfig, user: User, *, at: datetime, request: RequestInfo | None,
    action: Tag = Tag.USER_LOGIN_FAILED, detail: str = "wrong password",
) -> None:
    """Count a failed attempt; at the threshold lock the account and alert the administrators (P11-300d)."""
    counted = user.status == "active"
    if counted:
        user.failed_attempts += 1
    log.append(
        session, action, actor=_actor(user), subject=_subject(user), at=at, request=request,
        after={"detail": detail, "failed_attempts": user.failed_attempts},
    )
    if counted and user.failed_attempts >= config.lockout_threshold:
        user.status = "locked"
        log.append(
            session, Tag.USER_LOCKED, actor=log.SYSTEM, subject=_subject(user), at=at, request=request,
            reason=f"{user.failed_attempts} failed attempts in a row",
            before={"status": "active"}, after={"status": "locked"},
        )
        notifications.notify(
            session,
            user_ids=notifications.holders_of(session, Role.ADMIN),
            kind="security.lockout",
            subject=f"Account locked: {user.username}",
            body=(
                f"The account {user.username} ({user.full_name}) was locked at "
                f"{at.strftime('%Y-%m-%d %H:%M:%S')} UTC after "
                f"{user.failed_attempts} failed attempts"
                + (f" from {request.ip}" if request and request.ip else "")
                + ". Review the audit trail; unlock or reset the password from user administration."
            ),
            at=at,
            email=True,
        )


@dataclass(frozen=True)
class Verdict:
    """The result of checking a user ID and password, before anything is recorded."""

    username: str
    user_id: uuid.UUID | None
    verified_hash: str | None  # the hash the password matched, or None


def verify_credentials(session: Session, config: AccountConfig, *, username: str, password: str) -> Verdict:
    """Read-only: find the account and run argon2 (or a dummy run for an unknown user ID, same timing)."""
    username = username[:64]
    row = session.execute(
        select(User.id, User.password_hash).where(User.username_key == username_key(username))
    ).one_or_none()
    if row is None:
        config.hasher.burn(password)
        return Verdict(username, None, None)
    ok = config.hasher.verify(row.password_hash, password)
    return Verdict(username, row.id, row.password_hash if ok else None)


def _record_check(
    session: Session, config: AccountConfig, verdict: Verdict, *, at: datetime, request: RequestInfo | None
) -> User | None:
    if verdict.user_id is None:
        log.append(
            session, Tag.USER_LOGIN_FAILED, actor=Actor(None, verdict.username, ""),
            subject=Subject("user", "", verdict.username), at=at, request=request, after={"detail": "unknown user"},
        )
        return None
    user = session.get(User, verdict.user_id, populate_existing=True, with_for_update=True)
    assert user is not None
    if verdict.verified_hash is None or verdict.verified_hash != user.password_hash:
        record_failure(session, config, user, at=at, request=request)
        return None
    if user.status != "active":
        record_failure(session, config, user, at=at, request=request, detail=f"account {user.status}")
        return None
    return user


def login(
    session: Session, config: AccountConfig, *, verdict: Verdict, at: datetime, request: RequestInfo | None = None,
) -> LoginOutcome:
    """Record a login attempt checked by `verify_credentials`; on success start a browser session."""
    user = _record_check(session, config, verdict, at=at, request=request)
    if user is None:
        return LoginOutcome(None)
    user.failed_attempts = 0
    user.last_login_at = at
    token = new_token()
    web = WebSession(
        token_hash=token_hash(token), user_id=user.id, created_at=at, last_seen_at=at,
        expires_at=at + config.session_absolute,
        ip=(request.ip if request else "")[:64], user_agent=(request.user_agent if request else "")[:400],
    )
    session.add(web)
    session.flush()
    log.append(
        session, Tag.USER_LOGIN, actor=_actor(user), subject=_subject(user), at=at, request=request,
        after={"session": str(web.id)},
    )
    return LoginOutcome(user, token)


@dataclass(frozen=True)
class SessionState:
    web: WebSession
    user: User
    needs_touch: bool


def previous_login(session: Session, user_id: uuid.UUID, current: uuid.UUID | None) -> datetime | None:
    """When the user's session before this one began: shown on the dashboard so a login that was not
    theirs stands out."""
    stmt = select(WebSession.created_at).where(WebSession.user_id == user_id).order_by(WebSession.created_at.desc())
    if current is not None:
        stmt = stmt.where(WebSession.id != current)
    return session.scalars(stmt.limit(1)).first()


def lookup(session: Session, config: AccountConfig, token: str, *, at: datetime) -> SessionState | str:
    """Read-only check of a session token: the live session, or why it is not live
    ('unknown', 'ended', 'timeout', 'expired', 'inactive')."""
    web = session.scalars(select(WebSession).where(WebSession.token_hash == token_hash(token))).one_or_none()
    if web is None:
        return "unknown"
    if web.ended_at is not None:
        return "ended"
    if at - web.last_seen_at > config.session_idle:
        return "timeout"
    if at >= web.expires_at:
        return "expired"
    if web.user.status != "active":
        return "inactive"
    return SessionState(web, web.user, at - web.last_seen_at >= TOUCH_INTERVAL)


def touch(session: Session, token: str, *, at: datetime) -> None:
    session.execute(
        update(WebSession)
        .where(WebSession.token_hash == token_hash(token), WebSession.ended_at.is_(None))
        .values(last_seen_at=at)
    )


def end_stale(session: Session, token: str, why: str, *, at: datetime, request: RequestInfo | None) -> None:
    """Close a session found timed out or expired, and record it (FDAQA-Q11a)."""
    web = session.scalars(
        select(WebSession).where(WebSession.token_hash == token_hash(token)).with_for_update()
    ).one_or_none()
    if web is None or web.ended_at is not None:
        return
    _time_out(session, web, why, at=at, request=request)


def _time_out(session: Session, web: WebSession, why: str, *, at: datetime, request: RequestInfo | None) -> None:
    web.ended_at = at
    web.end_reason = why
    log.append(
        session, Tag.SESSION_TIMEOUT, actor=_actor(web.user), subject=_subject(web.user), at=at, request=request,
        after={"session": str(web.id), "reason": why, "last_seen_at": log.jsonable(web.last_seen_at)},
    )


def sweep_idle(session: Session, config: AccountConfig, *, at: datetime) -> int:
    """End every session idle past the timeout or past its lifetime (the scheduler runs this)."""
    stmt = select(WebSession).where(
        WebSession.ended_at.is_(None),
        (WebSession.last_seen_at < at - config.session_idle) | (WebSession.expires_at <= at),
    )
    count = 0
    for web in session.scalars(stmt.with_for_update()):
        _time_out(session, web, "timeout" if at - web.last_seen_at > config.session_idle else "expired", at=at,
                  request=None)
        count += 1
    return count


def logout(session: Session, token: str, *, at: datetime, request: RequestInfo | None = None) -> None:
    web = session.scalars(
        select(WebSession).where(WebSession.token_hash == token_hash(token)).with_for_update()
    ).one_or_none()
    if web is None or web.ended_at is not None:
        return
    web.ended_at = at
    web.end_reason = "logout"
    log.append(
        session, Tag.USER_LOGOUT, actor=_actor(web.user), subject=_subject(web.user), at=at, request=request,
        after={"session": str(web.id)},
    )


def end_all_for(session: Session, user_id: uuid.UUID, *, at: datetime, reason: str) -> dict[str, int]:
    """End every session and revoke every token of a user (deactivation, reset: P11-300c)."""
    s = session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
        .values(ended_at=at, end_reason=reason)
    ).rowcount
    t = session.execute(
        update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)).values(revoked_at=at)
    ).rowcount
    return {"sessions": s or 0, "tokens": t or 0}


def issue_token(
    session: Session, config: AccountConfig, *, verdict: Verdict, at: datetime, name: str = "",
    request: RequestInfo | None = None,
) -> LoginOutcome:
    """A bearer token for the API, after the same checks as a login (`verify_credentials` first). A password set
    by an administrator must be changed in the browser first."""
    user = _record_check(session, config, verdict, at=at, request=request)
    if user is None:
        return LoginOutcome(None)
    user.failed_attempts = 0
    if user.password_set_by_admin:
        return LoginOutcome(user, None)
    token = new_token("dct_")
    row = ApiToken(
        token_hash=token_hash(token), user_id=user.id, name=name[:200], created_at=at,
        expires_at=at + config.api_token_lifetime,
    )
    session.add(row)
    session.flush()
    log.append(
        session, Tag.TOKEN_ISSUE, actor=_actor(user), subject=Subject("api_token", str(row.id), name[:200]),
        at=at, request=request, after={"expires_at": log.jsonable(row.expires_at), "owner": user.username},
    )
    return LoginOutcome(user, token)


def resolve_token(session: Session, token: str, *, at: datetime) -> tuple[ApiToken, User] | None:
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == token_hash(token))).one_or_none()
    if row is None or row.revoked_at is not None or at >= row.expires_at or row.user.status != "active":
        return None
    if row.user.password_set_by_admin:
        return None
    return row, row.user


def revoke_token(
    session: Session, *, user: User, token_id: uuid.UUID, at: datetime, request: RequestInfo | None = None,
    by: User | None = None,
) -> None:
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_id != user.id):
        raise NotFound("No such token.")
    if row.revoked_at is not None:
        return
    row.revoked_at = at
    actor = by or user
    log.append(
        session, Tag.TOKEN_REVOKE, actor=_actor(actor), subject=Subject("api_token", str(row.id), row.name),
        at=at, request=request, after={"owner": user.username},
    )
