"""Reading back the audit events a test caused."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from docctl.db.models import AuditEvent
from docctl.db.session import Database


def last_seq(db: Database) -> int:
    with db.read() as s:
        return s.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)).first() or 0


def events_since(db: Database, seq: int) -> list[dict[str, Any]]:
    with db.read() as s:
        rows = s.scalars(select(AuditEvent.canonical).where(AuditEvent.seq > seq).order_by(AuditEvent.seq))
        return [json.loads(r) for r in rows]


def actions_since(db: Database, seq: int) -> list[str]:
    return [e["action"] for e in events_since(db, seq)]
