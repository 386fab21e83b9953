"""The scrub compares the `blobs` rows with the store: it finds orphans, missing and altered blobs, and never
deletes anything a row references. Recording a blob is idempotent and checks the size."""

from __future__ import annotations

import io
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from docctl.blobstore import BlobRef, BlobStore, LocalBlobStore, S3BlobStore, blob_key, blobstore_from_url
from docctl.clock import FixedClock
from docctl.db.models import Blob
from docctl.db.session import Database
from docctl.errors import BlobCorrupt, InvalidInput
from docctl.services.storage import ScrubReport, record_blob, scrub


def put_and_record(db: Database, store: BlobStore, data: bytes, at: datetime) -> BlobRef:
    ref = store.put(io.BytesIO(data))  # the blob first ...
    with db.unit_of_work() as session:  # ... then its row
        record_blob(session, ref, media_type="application/pdf", backend=store.name, at=at)
    return ref


def overwrite_file(store: LocalBlobStore, ref: BlobRef, data: bytes) -> None:
    path = store.path(ref.sha256)
    path.chmod(0o644)
    path.write_bytes(data)


def age(store: LocalBlobStore, ref: BlobRef, hours: float) -> None:
    then = time.time() - hours * 3600
    os.utime(store.path(ref.sha256), (then, then))


def stored(store: BlobStore) -> set[str]:
    return set(store.iter_keys())


@pytest.fixture
def local_store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.mark.req("P11-10a")
def test_scrub_reports_orphans_missing_and_altered_blobs(
    db: Database, local_store: LocalBlobStore, clock: FixedClock
) -> None:
    at = clock.now()
    intact = put_and_record(db, local_store, b"SOP-QA-001 v1.0", at)
    gone = put_and_record(db, local_store, b"SOP-QA-002 v1.0", at)
    reworded = put_and_record(db, local_store, b"SOP-QA-003 v1.0", at)
    resized = put_and_record(db, local_store, b"SOP-QA-004 v1.0", at)
    orphan = local_store.put(io.BytesIO(b"uploaded, never recorded"))

    local_store.path(gone.sha256).unlink()
    overwrite_file(local_store, reworded, b"SOP-QA-003 v9.9")  # same size: only the content check sees it
    overwrite_file(local_store, resized, b"SOP-QA-004 v1.0 (edited)")

    report = scrub(db, local_store)

    assert report.missing == [gone.sha256]
    assert {(a.sha256, a.reason) for a in report.altered} == {
        (reworded.sha256, "content"),
        (resized.sha256, "size"),
    }
    assert [o.sha256 for o in report.orphans] == [orphan.sha256]
    assert report.deleted == [] and report.unreadable == [] and report.unchecked_rows == 0
    assert (report.rows_checked, report.blobs_listed, report.problems) == (4, 4, 4)
    assert report.bytes_verified == intact.size  # the reworded one was read too, and failed
    text = "\n".join(report.lines())
    assert f"MISSING     {gone.sha256}" in text
    assert f"ALTERED     {reworded.sha256}  content does not match" in text
    assert f"ALTERED     {resized.sha256}  recorded 15 bytes, stored 24" in text
    assert f"ORPHAN      {orphan.sha256}" in text and "(kept)" in text
    assert text.endswith("4 problem(s)")
    assert stored(local_store) == {intact.sha256, reworded.sha256, resized.sha256, orphan.sha256}


def test_a_sizes_only_scrub_sees_resized_but_not_reworded_blobs(
    sqlite_db: Database, local_store: LocalBlobStore, clock: FixedClock
) -> None:
    reworded = put_and_record(sqlite_db, local_store, b"version A", clock.now())
    resized = put_and_record(sqlite_db, local_store, b"version B", clock.now())
    overwrite_file(local_store, reworded, b"version Z")
    overwrite_file(local_store, resized, b"version B, longer")

    report = scrub(sqlite_db, local_store, verify_content=False)

    assert [(a.sha256, a.reason) for a in report.altered] == [(resized.sha256, "size")]
    assert report.bytes_verified == 0 and "sizes only" in report.lines()[0]


def test_a_consistent_store_has_no_problems(
    db: Database, local_store: LocalBlobStore, clock: FixedClock
) -> None:
    refs = [put_and_record(db, local_store, f"revision {i}".encode(), clock.now()) for i in range(20)]

    report = scrub(db, local_store)

    assert report.ok and report.problems == 0
    assert report.rows_checked == report.blobs_listed == 20
    assert report.bytes_verified == sum(r.size for r in refs)
    assert report.lines()[-1] == "no problems"


def test_only_unreferenced_blobs_past_the_grace_period_are_deleted(
    db: Database, local_store: LocalBlobStore, clock: FixedClock
) -> None:
    referenced = put_and_record(db, local_store, b"approved long ago", clock.now())
    age(local_store, referenced, hours=48)
    old_orphan = local_store.put(io.BytesIO(b"a failed upload, yesterday"))
    age(local_store, old_orphan, hours=24)
    new_orphan = local_store.put(io.BytesIO(b"an upload whose row is not committed yet"))
    stale_temp = local_store.root / "tmp" / "put-interrupted"
    stale_temp.write_bytes(b"half an upload")
    os.utime(stale_temp, (time.time() - 7200, time.time() - 7200))

    report = scrub(db, local_store, delete_orphans=True)

    assert report.deleted == [old_orphan.sha256]
    assert {o.sha256 for o in report.orphans} == {old_orphan.sha256, new_orphan.sha256}
    assert report.problems == 1  # the young orphan, kept
    assert report.temp_removed == 1 and not stale_temp.exists()
    assert stored(local_store) == {referenced.sha256, new_orphan.sha256}
    assert local_store.read_bytes(referenced.sha256) == b"approved long ago"

    again = scrub(db, local_store, delete_orphans=True)
    assert [o.sha256 for o in again.orphans] == [new_orphan.sha256] and again.deleted == []


def test_storing_existing_content_again_restarts_its_grace_period(
    sqlite_db: Database, local_store: LocalBlobStore
) -> None:
    """An old orphan uploaded again (a no-op put) is about to be recorded: the scrub must not take it away."""
    ref = local_store.put(io.BytesIO(b"uploaded twice"))
    age(local_store, ref, hours=24)
    assert local_store.put(io.BytesIO(b"uploaded twice")) == ref

    report = scrub(sqlite_db, local_store, delete_orphans=True)

    assert [o.sha256 for o in report.orphans] == [ref.sha256] and report.deleted == []
    assert local_store.exists(ref.sha256)


def test_a_grace_period_too_short_is_refused(sqlite_db: Database, local_store: LocalBlobStore) -> None:
    with pytest.raises(InvalidInput):
        scrub(sqlite_db, local_store, delete_orphans=True, delete_orphans_older_than=timedelta(seconds=0))


def test_recording_a_blob_is_idempotent_and_checks_the_size(
    db: Database, local_store: LocalBlobStore, clock: FixedClock
) -> None:
    ref = local_store.put(io.BytesIO(b"the same revision, uploaded twice"))
    for _ in range(2):
        with db.unit_of_work() as session:
            blob = record_blob(session, ref, media_type="application/pdf", backend="local", at=clock.now())
            assert (blob.sha256, blob.size, blob.backend) == (ref.sha256, ref.size, "local")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Blob)) == 1
        assert session.get(Blob, ref.sha256).created_at == clock.now()  # type: ignore[union-attr]

    with pytest.raises(BlobCorrupt), db.unit_of_work() as session:
        record_blob(
            session, BlobRef(ref.sha256, ref.size + 1), media_type="x", backend="local", at=clock.now()
        )


@pytest.mark.s3
@pytest.mark.req("P11-10a")
def test_scrub_on_s3(sqlite_db: Database, s3_server, s3_url: str, clock: FixedClock) -> None:  # type: ignore[no-untyped-def]
    store = blobstore_from_url(s3_url)
    assert isinstance(store, S3BlobStore)
    raw = s3_server.client()
    intact = put_and_record(sqlite_db, store, b"WI-LAB-010 v2.0", clock.now())
    gone = put_and_record(sqlite_db, store, b"WI-LAB-011 v2.0", clock.now())
    reworded = put_and_record(sqlite_db, store, b"WI-LAB-012 v2.0", clock.now())
    orphan = store.put(io.BytesIO(b"never recorded"))
    raw.remove_object(store.bucket, blob_key(gone.sha256))
    raw.put_object(store.bucket, blob_key(reworded.sha256), io.BytesIO(b"WI-LAB-012 v6.6"), 15)

    report: ScrubReport = scrub(sqlite_db, store)

    assert report.missing == [gone.sha256]
    assert [(a.sha256, a.reason) for a in report.altered] == [(reworded.sha256, "content")]
    assert [o.sha256 for o in report.orphans] == [orphan.sha256]
    assert report.problems == 3 and report.deleted == []

    # Two hours from now every object is past the grace period; still only the orphan may go.
    later = scrub(sqlite_db, store, delete_orphans=True, at=datetime.now(UTC) + timedelta(hours=2))
    assert later.deleted == [orphan.sha256]
    assert stored(store) == {intact.sha256, reworded.sha256}
