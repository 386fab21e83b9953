"""Blob rows and the store kept in step: recording a stored blob, and the scrub that checks the two agree.

The order of writes is always: bytes into the blob store first (`store.put`), then the `blobs` row in the
caller's unit of work. A row therefore never names bytes that were not written; a crash in between leaves at
worst an orphan blob, which `scrub` reports (and may remove once it is older than a grace period). Rows are
never deleted (the table is append-only), so nothing referenced is ever removed. Neither function writes an
audit event: the caller does, in its own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from docctl.blobstore import BlobRef, BlobStore, check_sha256
from docctl.clock import rfc3339
from docctl.db.models import Blob
from docctl.db.session import Database
from docctl.errors import BlobCorrupt, BlobError, BlobNotFound, InvalidInput

DEFAULT_ORPHAN_GRACE = timedelta(hours=1)
MIN_ORPHAN_GRACE = timedelta(minutes=5)  # a blob is written before its row commits: never chase that window
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def record_blob(session: Session, ref: BlobRef, *, media_type: str, backend: str, at: datetime) -> Blob:
    """The `blobs` row for bytes already stored (`store.put` gave `ref`): inserted if absent, else checked.

    Safe against a concurrent transaction recording the same content (INSERT ... ON CONFLICT DO NOTHING).
    """
    check_sha256(ref.sha256)
    if ref.size < 0:
        raise InvalidInput("a blob's size cannot be negative")
    blob = session.get(Blob, ref.sha256)
    if blob is None:
        values = {
            "sha256": ref.sha256,
            "size": ref.size,
            "media_type": media_type,
            "backend": backend,
            "created_at": at,
        }
        insert = _INSERTS.get(session.get_bind().dialect.name)
        if insert is None:
            session.add(Blob(**values))
            session.flush()
        else:
            session.execute(insert(Blob).values(**values).on_conflict_do_nothing(index_elements=["sha256"]))
        blob = session.get(Blob, ref.sha256)
        assert blob is not None  # inserted above, or by a transaction that committed first
    if blob.size != ref.size:
        raise BlobCorrupt(f"The file {ref.sha256} is recorded with {blob.size} bytes but has {ref.size}.")
    return blob


@dataclass(frozen=True)
class OrphanBlob:
    sha256: str
    size: int
    modified_at: datetime


@dataclass(frozen=True)
class AlteredBlob:
    sha256: str
    recorded_size: int
    stored_size: int
    reason: str  # "size" or "content"


@dataclass
class ScrubReport:
    """What a scrub found. `problems` counts everything a person must look at; `lines()` says what."""

    backend: str
    verify_content: bool
    rows_checked: int = 0
    blobs_listed: int = 0
    bytes_verified: int = 0
    missing: list[str] = field(default_factory=list)
    altered: list[AlteredBlob] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    orphans: list[OrphanBlob] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchecked_rows: int = 0  # rows whose sha256 is not 64 lowercase hex, so no listing can match them
    temp_removed: int = 0

    @property
    def problems(self) -> int:
        kept_orphans = len(self.orphans) - len(self.deleted)
        return (
            len(self.missing) + len(self.altered) + len(self.unreadable) + kept_orphans + self.unchecked_rows
        )

    @property
    def ok(self) -> bool:
        return self.problems == 0

    def lines(self) -> list[str]:
        how = f"content verified, {self.bytes_verified} bytes read" if self.verify_content else "sizes only"
        out = [
            f"scrub of the {self.backend} blob store: {self.rows_checked} recorded blobs checked ({how}), "
            f"{self.blobs_listed} stored blobs listed"
        ]
        out += [f"MISSING     {sha}  recorded, but not in the store" for sha in self.missing]
        for a in self.altered:
            if a.reason == "size":
                out.append(
                    f"ALTERED     {a.sha256}  recorded {a.recorded_size} bytes, stored {a.stored_size}"
                )
            else:
                out.append(f"ALTERED     {a.sha256}  content does not match its SHA-256")
        out += [f"UNREADABLE  {sha}  {why}" for sha, why in self.unreadable]
        deleted = set(self.deleted)
        for o in self.orphans:
            state = "deleted" if o.sha256 in deleted else "kept"
            out.append(
                f"ORPHAN      {o.sha256}  {o.size} bytes written {rfc3339(o.modified_at)}, "
                f"referenced by no record ({state})"
            )
        if self.unchecked_rows:
            out.append(f"UNCHECKED   {self.unchecked_rows} recorded blob(s) with a malformed sha256")
        if self.temp_removed:
            out.append(f"removed {self.temp_removed} stale temporary file(s) of interrupted uploads")
        out.append("no problems" if self.ok else f"{self.problems} problem(s)")
        return out


def scrub(
    database: Database,
    store: BlobStore,
    *,
    verify_content: bool = True,
    delete_orphans: bool = False,
    delete_orphans_older_than: timedelta = DEFAULT_ORPHAN_GRACE,
    at: datetime | None = None,
) -> ScrubReport:
    """Compare the `blobs` rows with the store, one two-hex-digit slice of the key space at a time.

    Reports blobs no row references (orphans), rows whose blob is missing, and rows whose blob's size or
    (with `verify_content`, reading every byte) content no longer matches. Deletes nothing referenced; with
    `delete_orphans` it removes orphans (and stale temporary files) last written before
    `at - delete_orphans_older_than`. Memory stays bounded by one slice; database reads are short.
    """
    if delete_orphans and delete_orphans_older_than < MIN_ORPHAN_GRACE:
        raise InvalidInput(f"orphans younger than {MIN_ORPHAN_GRACE} are never deleted")
    cutoff = (at or datetime.now(UTC)) - delete_orphans_older_than
    report = ScrubReport(backend=store.name, verify_content=verify_content)
    with database.read() as session:
        rows_at_start = session.scalar(select(func.count()).select_from(Blob)) or 0
    for prefix in (f"{i:02x}" for i in range(256)):
        _scrub_slice(database, store, prefix, report, delete_orphans=delete_orphans, cutoff=cutoff)
    report.unchecked_rows = max(0, rows_at_start - report.rows_checked)
    if delete_orphans:
        report.temp_removed = store.remove_stale_temp(older_than=cutoff)
    return report


def _scrub_slice(
    database: Database,
    store: BlobStore,
    prefix: str,
    report: ScrubReport,
    *,
    delete_orphans: bool,
    cutoff: datetime,
) -> None:
    # The store is listed, then the rows read; each side's stragglers are re-checked one by one against the
    # other (a put or a commit may land in between), so a race shows up as nothing rather than as a problem.
    listed = {info.sha256: info for info in store.iter_blobs(prefix)}
    report.blobs_listed += len(listed)
    rows = _rows(database, prefix)
    report.rows_checked += len(rows)
    for sha256, recorded in sorted(rows.items()):
        info = listed.pop(sha256, None)
        _check_row(store, sha256, recorded, info.size if info else None, report)
    for sha256, info in sorted(listed.items()):
        if _recorded(database, sha256):
            continue  # its row was committed after the slice was read
        report.orphans.append(OrphanBlob(sha256, info.size, info.modified_at))
        if (
            delete_orphans
            and info.modified_at < cutoff
            and store.delete_unreferenced(sha256, older_than=cutoff)
        ):
            report.deleted.append(sha256)


def _check_row(
    store: BlobStore, sha256: str, recorded: int, listed_size: int | None, report: ScrubReport
) -> None:
    try:
        stored = listed_size if listed_size is not None else store.stat(sha256)
        if stored != recorded:
            report.altered.append(AlteredBlob(sha256, recorded, stored, "size"))
        elif report.verify_content:
            store.verify(sha256)
            report.bytes_verified += recorded
    except BlobNotFound:
        report.missing.append(sha256)
    except BlobCorrupt:
        report.altered.append(AlteredBlob(sha256, recorded, recorded, "content"))
    except BlobError as exc:
        report.unreadable.append((sha256, exc.message))


def _rows(database: Database, prefix: str) -> dict[str, int]:
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # "0f" -> "0g": just past every digest starting "0f"
    with database.read() as session:
        query = select(Blob.sha256, Blob.size).where(Blob.sha256 >= prefix, Blob.sha256 < upper)
        return {sha256: size for sha256, size in session.execute(query) if sha256.startswith(prefix)}


def _recorded(database: Database, sha256: str) -> bool:
    with database.read() as session:
        return session.get(Blob, sha256) is not None
