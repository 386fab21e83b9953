"""Audit trail PDF export benchmark: events/s and peak Python memory (tracemalloc) rendering N events, and the time
each exception-report preset takes to count its events over the same trail.

    .venv/bin/python bench/audit_pdf_bench.py                  # 20,000 events (the default export limit)
    .venv/bin/python bench/audit_pdf_bench.py --events 5000

The trail is a temporary migrated SQLite file filled through `docctl.audit.log.append_many` (real canonical bytes,
leaf hashes and roots) with events shaped like real ones: an actor, a subject with a label, a reason on some, a
before/after of a few fields, a request. The PDF is written by the export's own code path
(`audit_export.write_pdf`: keyset batches in fresh read transactions, reportlab into a temporary file).

Prints figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pypdf import PdfReader  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from docctl.audit import log  # noqa: E402
from docctl.audit.tags import Tag  # noqa: E402
from docctl.config import Settings  # noqa: E402
from docctl.db.migrate import upgrade  # noqa: E402
from docctl.db.models import AuditEvent  # noqa: E402
from docctl.db.session import Database, make_engine  # noqa: E402
from docctl.services import audit_exceptions, audit_export  # noqa: E402
from docctl.services.audit_trail import TrailFilter, filter_conditions  # noqa: E402

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
ACTORS = [log.Actor(uuid.UUID(int=(0xBE7C << 96) + i), f"user{i:02d}", f"Person Number{i:02d}") for i in range(30)]
TAGS = [Tag.USER_LOGIN, Tag.DOCUMENT_UPDATE, Tag.ROLE_GRANT, Tag.USER_LOGIN_FAILED, Tag.TRAINING_COMPLETE,
        Tag.REVISION_DOWNLOAD]
REQUEST = log.RequestInfo(ip="10.20.30.40", user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0")


def fill(db: Database, events: int) -> None:
    batch = []
    for i in range(events):
        at = T0 + timedelta(minutes=7 * i)  # about 97 days for 20,000 events, round the clock
        tag = TAGS[i % len(TAGS)]
        actor = ACTORS[i % len(ACTORS)] if i % 11 else log.SYSTEM
        subject = log.Subject("document", str(uuid.UUID(int=i % 500)), f"SOP-CLIN-{i % 500:03d}")
        before = {"title": f"Monitoring visits, edition {i}", "department": "CLIN"} if i % 3 == 0 else None
        after = {"title": f"Monitoring visits, edition {i + 1}", "department": "CLIN", "owner": str(actor.id)}
        reason = f"Periodic review {i}: wording aligned with the current template" if i % 2 else None
        batch.append(log.Entry(tag, actor, subject, at, reason=reason, before=before, after=after, request=REQUEST))
        if len(batch) == 1000:
            with db.unit_of_work() as s:
                log.append_many(s, batch)
            batch = []
    if batch:
        with db.unit_of_work() as s:
            log.append_many(s, batch)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="docctl-pdf-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        db = Database.from_url(url)
        started = time.perf_counter()
        fill(db, args.events)
        print(f"python {platform.python_version()}, {os.cpu_count()} CPUs; trail of {args.events:,} events filled "
              f"in {time.perf_counter() - started:.1f} s")
        with db.read() as s:
            head = s.execute(select(AuditEvent.seq, AuditEvent.root).order_by(AuditEvent.seq.desc()).limit(1)).one()
        target = Path(tmp) / "trail.pdf"

        def render() -> tuple[int, int, float]:
            started = time.perf_counter()
            events, pages = audit_export.write_pdf(db.read, str(target), filters=TrailFilter(), tree_size=head.seq,
                                                   root=head.root, generated_by="bench (Bench Runner)",
                                                   at=datetime.now(UTC), zone="Europe/London")
            return events, pages, time.perf_counter() - started

        events, pages, elapsed = render()  # speed, without tracemalloc's overhead
        size = target.stat().st_size
        print(f"PDF: {events:,} events, {pages:,} pages, {size / 1e6:.1f} MB in {elapsed:.1f} s: "
              f"{events / elapsed:,.0f} events/s; process max RSS "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
        tracemalloc.start()
        _, _, traced = render()  # memory: the same PDF again under tracemalloc (several times slower)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"peak Python memory (tracemalloc) {peak / 2**20:.1f} MB, {peak / pages / 1024:.1f} KiB per page "
              f"({traced:.0f} s under tracemalloc)")
        started = time.perf_counter()
        reader = PdfReader(str(target))
        last = reader.pages[-1].extract_text()
        print(f"pypdf opens it and reads the last page in {time.perf_counter() - started:.1f} s "
              f"(last page mentions #{head.seq}: {f'#{head.seq} ' in last})")
        settings = Settings()
        end = T0 + timedelta(minutes=7 * args.events)
        with db.read() as s:
            for preset in audit_exceptions.PRESETS:
                base = TrailFilter(preset=preset, since=end - timedelta(days=90), until=end)
                filters = audit_exceptions.report_filter(base, settings=settings, now=end)
                started = time.perf_counter()
                count = s.scalars(select(func.count()).select_from(AuditEvent)
                                  .where(*filter_conditions(s, filters))).one()
                print(f"preset {preset:<26} {count:>6,} events in 90 days, counted in "
                      f"{(time.perf_counter() - started) * 1000:.0f} ms")
        db.dispose()


if __name__ == "__main__":
    main()
