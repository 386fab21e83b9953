"""Exporting the audit trail as CSV, against a signed checkpoint, in bounded memory.

`prepare_export` (one write transaction) makes a checkpoint of the trail as it is now, made_by "export" (or takes
the latest one when nothing was appended since), and appends an `audit:export` event naming it, with the filters
and the format. The export then covers exactly the events the checkpoint commits to: seq <= its tree size. The
checkpoint's own event and the export's event come after it, so they are in the next checkpoint (and export).

`iter_audit_csv` streams the matching events in seq order by keyset (`seq > last ... LIMIT batch`), a fresh read
transaction per batch, so memory stays bounded however long the trail is. Every cell is read from the event's
canonical JSON, the bytes that were hashed, beside the stored leaf hash and the tree root after the event; for an
unfiltered export the last line's root is the checkpoint's root. CSV has no place for a trailer: the checkpoint is
in the file name and the response headers instead.

The PDF (`format="pdf"`, docctl.renditions.audit_pdf) reads the same rows through `iter_audit_rows`; it has a limit
(`max_events`), checked inside the export's transaction after the checkpoint and before the export is recorded, so
a refused PDF leaves no trace but the refusal.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docctl.audit import log
from docctl.audit.log import RequestInfo, Subject
from docctl.audit.tags import Tag
from docctl.blobstore import BlobStore
from docctl.db.models import AuditEvent
from docctl.domain.policy import Permission
from docctl.errors import InvalidInput, NotFound
from docctl.services import audit_trail, checkpoints
from docctl.services.audit_trail import TrailFilter
from docctl.services.principal import Principal

FORMAT = "csv"
FORMATS = ("csv", "pdf")
CSV_HEADER = ["seq", "at_utc", "actor_username", "actor_name", "action", "subject_type", "subject_id",
              "subject_label", "reason", "before", "after", "ip", "user_agent", "leaf_hash", "root"]


def filters_json(filters: TrailFilter) -> dict[str, Any]:
    """The filters that were set, as the export's audit event records them."""
    values = {"actor": filters.actor, "action": filters.action, "subject_type": filters.subject_type,
              "subject_id": filters.subject_id, "since": filters.since, "until": filters.until,
              "preset": filters.preset, "document": filters.document, "signature": filters.signature,
              "working_hours": filters.working_hours.describe() if filters.working_hours else ""}
    return {k: log.jsonable(v) for k, v in values.items() if v}


def prepare_export(session: Session, store: BlobStore, *, principal: Principal, secret: bytes, filters: TrailFilter,
                   at: datetime, request: RequestInfo | None = None, format: str = FORMAT,  # noqa: A002
                   max_events: int | None = None) -> tuple[int, bytes]:
    """Checkpoint the trail (or take the latest checkpoint when nothing is new) and record the export; returns the
    checkpoint's (tree size, root): the export covers events 1..tree size. With `max_events`, more matching events
    than that raise InvalidInput before anything is recorded (the caller's transaction rolls the checkpoint back)."""
    principal.require(Permission.AUDIT_READ)
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}")
    row = checkpoints.make_checkpoint(session, store, secret=secret, at=at, made_by="export", request=request)
    made = row is not None
    row = row or checkpoints.latest(session)
    if row is None:
        raise NotFound("The audit trail is empty: there is nothing to export.")
    if max_events is not None:
        count = session.scalars(select(func.count()).select_from(AuditEvent).where(
            *audit_trail.filter_conditions(session, filters), AuditEvent.seq <= row.tree_size)).one()
        if count > max_events:
            raise InvalidInput(
                f"The PDF would print {count:,} events; a PDF export prints at most {max_events:,} "
                "(DOCCTL_AUDIT_PDF_MAX_EVENTS). Narrow the filters (dates, user, action) or export CSV, "
                "which has no limit.")
    log.append(
        session, Tag.AUDIT_EXPORT, actor=principal.actor,
        subject=Subject("audit_checkpoint", str(row.id), f"tree size {row.tree_size}"), at=at, request=request,
        after={"format": format, "filters": filters_json(filters),
               "checkpoint": {"id": str(row.id), "tree_size": row.tree_size, "root": row.root.hex(),
                              "made": made}},
    )
    return row.tree_size, row.root


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str) -> str:
    # a cell starting with = + - @ (or a tab or carriage return) is read as a formula by spreadsheets: make it
    # text; the leaf hash of the line still checks against the stored canonical event, not the cell
    return "'" + value if value[:1] in _FORMULA else value


def _csv_lines(rows: Iterable[list[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def _json_cell(value: Any) -> str:
    # compact, keys sorted, UTF-8: the same text the canonical event holds for this value
    return "" if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def csv_row(canonical: bytes, leaf_hash: bytes, root: bytes) -> list[object]:
    """One CSV row of CSV_HEADER's columns, read from the canonical event; every text a person or a client could
    have chosen goes through the formula guard (numbers, tags, times, JSON objects and hashes cannot start a
    formula)."""
    event = orjson.loads(canonical)
    actor = event.get("actor") or {}
    subject = event.get("subject") or {}
    request = event.get("request") or {}
    return [event["seq"], event["at"], _text(actor.get("username") or ""), _text(actor.get("name") or ""),
            event["action"], _text(subject.get("type") or ""), _text(subject.get("id") or ""),
            _text(subject.get("label") or ""), _text(event.get("reason") or ""), _json_cell(event.get("before")),
            _json_cell(event.get("after")), _text(request.get("ip") or ""), _text(request.get("user_agent") or ""),
            leaf_hash.hex(), root.hex()]


def iter_audit_csv(read: Callable[[], AbstractContextManager[Session]], *, filters: TrailFilter, through_seq: int,
                   batch: int = 5000) -> Iterator[str]:
    """The header (with a UTF-8 byte order mark, for spreadsheets), then every matching event with seq <=
    `through_seq`, oldest first, `batch` events per read transaction and per chunk of text."""
    yield "\ufeff" + _csv_lines([CSV_HEADER])
    for rows in iter_audit_batches(read, filters=filters, through_seq=through_seq, batch=batch):
        yield _csv_lines([csv_row(*r) for r in rows])


def iter_audit_rows(read: Callable[[], AbstractContextManager[Session]], *, filters: TrailFilter, through_seq: int,
                    batch: int = 2000) -> Iterator[tuple[bytes, bytes, bytes]]:
    """(canonical event, leaf hash, root) of every matching event with seq <= `through_seq`, oldest first."""
    for rows in iter_audit_batches(read, filters=filters, through_seq=through_seq, batch=batch):
        yield from rows


def iter_audit_batches(read: Callable[[], AbstractContextManager[Session]], *, filters: TrailFilter,
                       through_seq: int, batch: int = 2000) -> Iterator[list[tuple[bytes, bytes, bytes]]]:
    """Lists of (canonical event, leaf hash, root) of the matching events with seq <= `through_seq`, oldest first,
    `batch` events per read transaction (keyset on seq), so memory stays bounded however long the trail is."""
    last = 0
    while True:
        with read() as session:
            rows = session.execute(
                select(AuditEvent.seq, AuditEvent.canonical, AuditEvent.leaf_hash, AuditEvent.root)
                .where(*audit_trail.filter_conditions(session, filters), AuditEvent.seq > last,
                       AuditEvent.seq <= through_seq)
                .order_by(AuditEvent.seq).limit(batch)
            ).all()
        if not rows:
            return
        last = rows[-1][0]
        yield [(r[1], r[2], r[3]) for r in rows]
        if len(rows) < batch:
            return


def describe_filters(filters: TrailFilter, zone: str) -> str:
    """The filters as a person reads them, for the PDF's header ("all events" when none)."""
    from zoneinfo import ZoneInfo

    parts = []
    if filters.preset:
        from docctl.services import audit_exceptions

        parts.append(f"exception report: {audit_exceptions.get(filters.preset).title} ({filters.preset})")
    if filters.working_hours:
        parts.append(f"working hours {filters.working_hours.describe()}")
    for label, value in (("user ID", filters.actor), ("action", filters.action),
                         ("subject type", filters.subject_type), ("subject ID", filters.subject_id)):
        if value:
            parts.append(f"{label} {value}")
    for label, moment in (("from", filters.since), ("before", filters.until)):
        if moment:
            local = moment.astimezone(ZoneInfo(zone)).isoformat(sep=" ", timespec="minutes")
            parts.append(f"{label} {local} ({zone})")
    return "; ".join(parts) or "all events"


def write_pdf(read: Callable[[], AbstractContextManager[Session]], target: Any, *, filters: TrailFilter,
              tree_size: int, root: bytes, generated_by: str, at: datetime, zone: str) -> tuple[int, int]:
    """Render the events an export covers (after `prepare_export(format="pdf")`) into `target`, a path or a binary
    file; returns (events, pages)."""
    from docctl.renditions.audit_pdf import PdfContext, write_audit_pdf

    context = PdfContext(filters=describe_filters(filters, zone), tree_size=tree_size, root_hex=root.hex(),
                         generated_by=generated_by, generated_at=at, zone=zone)
    return write_audit_pdf(target, context, iter_audit_rows(read, filters=filters, through_seq=tree_size))
