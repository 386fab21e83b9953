"""Exception reports over the audit trail (MHRA-6.13/EMA-6.2.2): named presets, each a set of SQL conditions on
`audit_events`, so a report pages, counts and exports (CSV, PDF) exactly like the trail with its filters.

The presets and what they flag:

- `changes-after-approval`: a document's metadata changed (`document:update`) at or after the moment any of its
  revisions was approved (`revisions.approved_at`): the signed manifests name the title the approvers saw. A
  revision's content is immutable (new bytes are a new revision), so there is no "content edited" event to flag.
  Also any step on a revision after its own `revision:approve` event that would change its approval record
  (submit, reject, recall, withdraw, an approval-route override, an approval signature): the lifecycle refuses
  these, so the report flags any that got through. Making an approved revision effective, superseding or retiring
  it is the lifecycle itself, not a change. A document type's approval route changing is not flagged: each
  revision keeps the route it was submitted on.
- `admin-actions`: every event by someone who held the administrator role at that moment (from the role grant and
  revocation history in `user_roles`, not today's roles), plus every `config:change`.
- `outside-working-hours`: events by people (not the system or scheduler) outside the configured working hours and
  days in the working time zone; DST-correct, computed in Python as UTC intervals (SQLite has no time zones).
  Needs a date range of at most MAX_RANGE_DAYS days.
- `failed-logins-signatures`: failed logins, failed signatures (wrong password at signing), failed password changes.
- `lockouts`: accounts locked after failed attempts, and unlocked.
- `role-changes`: permission roles granted or revoked, and accounts deactivated (which ends all access). Job
  function changes are not role changes: they decide training and who is asked to sign, not what one may do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, String, and_, cast, exists, false, func, or_, select
from sqlalchemy.orm import Session, aliased

from docctl.audit.tags import Tag
from docctl.db.models import AuditEvent, Revision, UserRole
from docctl.domain.policy import Permission, Role
from docctl.errors import ConfigurationError, InvalidInput, NotFound

if TYPE_CHECKING:
    from docctl.config import Settings
    from docctl.services.audit_trail import TrailFilter
    from docctl.services.principal import Principal

MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Preset:
    slug: str
    title: str
    definition: str
    needs_range: bool = False


PRESETS: dict[str, Preset] = {p.slug: p for p in (
    Preset("changes-after-approval", "Changes after approval",
           "Document metadata edited after any of its revisions was approved, and any step that would change a "
           "revision's approval record after its approval. Revision content is immutable."),
    Preset("admin-actions", "Administrator actions",
           "Everything done by someone who held the administrator role at that moment, and every configuration "
           "change."),
    Preset("outside-working-hours", "Activity outside working hours",
           "Events by people (not the system) outside the working hours and days, in the working time zone.",
           needs_range=True),
    Preset("failed-logins-signatures", "Failed logins and signatures",
           "Failed logins, failed signatures (wrong password when signing) and failed password changes."),
    Preset("lockouts", "Lockouts", "Accounts locked after repeated failures, and unlocked by an administrator."),
    Preset("role-changes", "Role changes",
           "Permission roles granted or revoked, and accounts deactivated (which ends all access)."),
)}

FAILURES = (Tag.USER_LOGIN_FAILED, Tag.SIGNATURE_FAILED, Tag.USER_PASSWORD_CHANGE_FAILED)
LOCKOUTS = (Tag.USER_LOCKED, Tag.USER_UNLOCKED)
ROLE_CHANGES = (Tag.ROLE_GRANT, Tag.ROLE_REVOKE, Tag.USER_DEACTIVATE)
# steps that would change a revision's approval record; after its approval the lifecycle allows none of them
REVISION_CHANGES = (Tag.REVISION_SUBMIT, Tag.REVISION_REJECT, Tag.REVISION_RECALL, Tag.REVISION_WITHDRAW,
                    Tag.APPROVAL_ROUTE_UPDATE, Tag.SIGNATURE_CREATE)


def get(slug: str) -> Preset:
    try:
        return PRESETS[slug]
    except KeyError:
        raise NotFound(f"There is no exception report {slug!r}.") from None


@dataclass(frozen=True)
class WorkingHours:
    start: time
    end: time
    days: frozenset[int]  # 0 = Monday
    zone: str

    @classmethod
    def parse(cls, hours: str, days: str, zone: str) -> WorkingHours:
        """From "07:00-19:00", "Mon-Fri" (or "Mon,Wed,Fri", "Mon-Thu,Sat") and an IANA zone name."""
        try:
            first, last = (time.fromisoformat(part.strip()) for part in hours.split("-"))
        except ValueError:
            raise ConfigurationError(f"DOCCTL_WORKING_HOURS {hours!r} is not HH:MM-HH:MM") from None
        if not first < last:
            raise ConfigurationError(f"DOCCTL_WORKING_HOURS {hours!r}: the start must be before the end")
        picked: set[int] = set()
        for part in days.split(","):
            ends = [p.strip().title()[:3] for p in part.split("-")]
            if not 1 <= len(ends) <= 2 or any(e not in _DAYS for e in ends):
                raise ConfigurationError(f"DOCCTL_WORKING_DAYS {days!r} is not like Mon-Fri or Mon,Tue,Thu")
            a, b = _DAYS.index(ends[0]), _DAYS.index(ends[-1])
            picked.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(f"DOCCTL_WORKING_TIMEZONE {zone!r} is not a known time zone") from None
        return cls(first, last, frozenset(picked), zone)

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkingHours:
        return cls.parse(settings.working_hours, settings.working_days,
                         settings.working_timezone or settings.display_timezone)

    def describe(self) -> str:
        """Like "Mon-Fri 07:00-19:00 Europe/London" (runs of days joined, others listed)."""
        runs: list[list[int]] = []
        for d in sorted(self.days):
            if runs and runs[-1][-1] == d - 1:
                runs[-1].append(d)
            else:
                runs.append([d])
        days = ",".join(_DAYS[r[0]] if len(r) == 1 else f"{_DAYS[r[0]]}-{_DAYS[r[-1]]}" for r in runs)
        return f"{days} {self.start:%H:%M}-{self.end:%H:%M} {self.zone}"

    def outside(self, since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
        """The UTC intervals [a, b) within [since, until) outside working hours, day by day in the zone (so a
        DST change moves the UTC edges), adjacent intervals merged."""
        zone = ZoneInfo(self.zone)
        out: list[tuple[datetime, datetime]] = []
        for a, b in self._local_intervals(since.astimezone(zone).date() - timedelta(days=1),
                                          until.astimezone(zone).date() + timedelta(days=1), zone):
            a, b = max(a, since), min(b, until)
            if a >= b:
                continue
            if out and out[-1][1] >= a:
                out[-1] = (out[-1][0], max(out[-1][1], b))
            else:
                out.append((a, b))
        return out

    def _local_intervals(self, first: date, last: date, zone: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
        def utc(day: date, at: time) -> datetime:
            return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)

        day = first
        while day <= last:
            midnight, next_midnight = utc(day, time(0)), utc(day + timedelta(days=1), time(0))
            if day.weekday() in self.days:
                yield midnight, utc(day, self.start)
                yield utc(day, self.end), next_midnight
            else:
                yield midnight, next_midnight
            day += timedelta(days=1)


def report_filter(filters: TrailFilter, *, settings: Settings, now: datetime) -> TrailFilter:
    """Check the preset and complete the filter it needs: the working hours, and for outside-working-hours a date
    range (the last DEFAULT_RANGE_DAYS days when none is given, at most MAX_RANGE_DAYS days)."""
    if not filters.preset:
        return filters
    preset = get(filters.preset)
    if not preset.needs_range:
        return filters
    until = filters.until or now
    since = filters.since or until - timedelta(days=DEFAULT_RANGE_DAYS)
    if since >= until:
        raise InvalidInput("The report's start date must be before its end date.")
    if until - since > timedelta(days=MAX_RANGE_DAYS):
        raise InvalidInput(f"{preset.title} covers at most {MAX_RANGE_DAYS} days: choose a shorter date range.")
    return replace(filters, since=since, until=until, working_hours=WorkingHours.from_settings(settings))


def conditions(session: Session, filters: TrailFilter) -> list[ColumnElement[bool]]:
    """The preset's SQL conditions over `audit_events` (the other filters are applied beside them)."""
    slug = get(filters.preset).slug
    if slug == "failed-logins-signatures":
        return [AuditEvent.action.in_([str(t) for t in FAILURES])]
    if slug == "lockouts":
        return [AuditEvent.action.in_([str(t) for t in LOCKOUTS])]
    if slug == "role-changes":
        return [AuditEvent.action.in_([str(t) for t in ROLE_CHANGES])]
    if slug == "admin-actions":
        return [_admin_actions()]
    if slug == "changes-after-approval":
        return [_changes_after_approval(session)]
    return _outside_working_hours(filters)


def _admin_actions() -> ColumnElement[bool]:
    held_admin = exists().where(
        UserRole.user_id == AuditEvent.actor_id, UserRole.role == Role.ADMIN.value,
        UserRole.granted_at <= AuditEvent.at, or_(UserRole.revoked_at.is_(None), UserRole.revoked_at > AuditEvent.at),
    )
    return or_(AuditEvent.action == str(Tag.CONFIG_CHANGE), and_(AuditEvent.actor_id.is_not(None), held_admin))


def _id_text(session: Session, column: ColumnElement[object]) -> ColumnElement[str]:
    """A UUID column as the text audit subjects carry (str(uuid)): PostgreSQL's uuid::text is that; SQLAlchemy
    stores a UUID on SQLite as 32 hex digits, so the dashes are put back."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(column, String)
    hexed = func.lower(cast(column, String))
    return (func.substr(hexed, 1, 8) + "-" + func.substr(hexed, 9, 4) + "-" + func.substr(hexed, 13, 4) + "-"
            + func.substr(hexed, 17, 4) + "-" + func.substr(hexed, 21, 12))


def _changes_after_approval(session: Session) -> ColumnElement[bool]:
    approved_revision = exists().where(
        _id_text(session, Revision.document_id) == AuditEvent.subject_id,
        Revision.approved_at.is_not(None), Revision.approved_at <= AuditEvent.at,
    )
    metadata_edit = and_(AuditEvent.action == str(Tag.DOCUMENT_UPDATE), AuditEvent.subject_type == "document",
                         approved_revision)
    approval = aliased(AuditEvent)
    approved_before = exists(select(approval.seq).where(
        approval.action == str(Tag.REVISION_APPROVE), approval.subject_type == "revision",
        approval.subject_id == AuditEvent.subject_id, approval.seq < AuditEvent.seq,
    ))
    approval_change = and_(AuditEvent.subject_type == "revision",
                           AuditEvent.action.in_([str(t) for t in REVISION_CHANGES]), approved_before)
    return or_(metadata_edit, approval_change)


def _outside_working_hours(filters: TrailFilter) -> list[ColumnElement[bool]]:
    hours, since, until = filters.working_hours, filters.since, filters.until
    if hours is None or since is None or until is None:
        raise InvalidInput("Activity outside working hours needs a date range (and the configured working hours).")
    intervals = hours.outside(since, until)
    if not intervals:
        return [false()]
    return [AuditEvent.actor_id.is_not(None),
            or_(*(and_(AuditEvent.at >= a, AuditEvent.at < b) for a, b in intervals))]


def summary(session: Session, *, principal: Principal, base: TrailFilter, settings: Settings, now: datetime
            ) -> list[tuple[Preset, int]]:
    """Each preset with the number of events it flags within `base`'s filters (its date range)."""
    principal.require(Permission.AUDIT_READ)
    from docctl.services.audit_trail import filter_conditions

    out = []
    for preset in PRESETS.values():
        filters = report_filter(replace(base, preset=preset.slug), settings=settings, now=now)
        count = session.scalars(
            select(func.count()).select_from(AuditEvent).where(*filter_conditions(session, filters))).one()
        out.append((preset, count))
    return out
