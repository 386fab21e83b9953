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
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from docctl.audit import log
from docctl.audit.log import RequestInfo, Subject
from docctl.audit.tags import Tag
from docctl.blobstore import BlobStore
from docctl.db.models import AuditEvent
from docctl.domain.policy import Permission
from docctl.errors import NotFound
from docctl.services import audit_trail, checkpoints
from docctl.services.audit_trail import TrailFilter
from docctl.services.principal import Principal

FORMAT = "csv"
CSV_HEADER = ["seq", "at_utc", "actor_username", "actor_name", "action", "subject_type", "subject_id",
              "subject_label", "reason", "before", "after", "ip", "user_agent", "leaf_hash", "root"]


def filters_json(filters: TrailFilter) -> dict[str, Any]:
    """The filters that were set, as the export's audit event records them."""
    values = {"actor": filters.actor, "action": filters.action, "subject_type": filters.subject_type,
              "subject_id": filters.subject_id, "since": filters.since, "until": filters.until}
    return {k: log.jsonable(v) for k, v in values.items() if v}


def prepare_export(session: Session, store: BlobStore, *, principal: Principal, secret: bytes, filters: TrailFilter,
                   at: datetime, request: RequestInfo | None = None) -> tuple[int, bytes]:
    """Checkpoint the trail (or take the latest checkpoint when nothing is new) and record the export; returns the
    checkpoint's (tree size, root): the export covers events 1..tree size."""
    principal.require(Permission.AUDIT_READ)
    row = checkpoints.make_checkpoint(session, store, secret=secret, at=at, made_by="export", request=request)
    made = row is not None
    row = row or checkpoints.latest(session)
    if row is None:
        raise NotFound("The audit trail is empty: there is nothing to export.")
    log.append(
        session, Tag.AUDIT_EXPORT, actor=principal.actor,
        subject=Subject("audit_checkpoint", str(row.id), f"tree size {row.tree_size}"), at=at, request=request,
        after={"format": FORMAT, "filters": filters_json(filters),
               "checkpoint": {"id": str(row.id), "tree_size": row.tree_size, "root": row.root.hex(),
                              "made": made}},
    )
    return row.tree_size, row.root


def _csv_line(values: list[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(
        # a cell starting with = + - @ (or a tab or carriage return) is read as a formula by spreadsheets: make it
        # text; the leaf hash of the line still checks against the stored canonical event, not the cell
        ["'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v for v in values])
    return buffer.getvalue()


def _json_cell(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def csv_row(canonical: bytes, leaf_hash: bytes, root: bytes) -> list[object]:
    event = json.loads(canonical)
    actor = event.get("actor") or {}
    subject = event.get("subject") or {}
    request = event.get("request") or {}
    return [event["seq"], event["at"], actor.get("username") or "", actor.get("name") or "", event["action"],
            subject.get("type") or "", subject.get("id") or "", subject.get("label") or "", event.get("reason") or "",
            _json_cell(event.get("before")), _json_cell(event.get("after")), request.get("ip") or "",
            request.get("user_agent") or "", leaf_hash.hex(), root.hex()]


def iter_audit_csv(read: Callable[[], AbstractContextManager[Session]], *, filters: TrailFilter, through_seq: int,
                   batch: int = 5000) -> Iterator[str]:
    """The header (with a UTF-8 byte order mark, for spreadsheets), then every matching event with seq <=
    `through_seq`, oldest first, `batch` events per read transaction."""
    yield "\ufeff" + _csv_line(CSV_HEADER)
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
        last = rows[-1].seq
        yield "".join(_csv_line(csv_row(r.canonical, r.leaf_hash, r.root)) for r in rows)
        if len(rows) < batch:
            return
