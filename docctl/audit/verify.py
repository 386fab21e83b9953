"""Verification of the whole trail, as a chain of small named checks, each raising `AuditTampered`.

Recomputes every leaf from the stored canonical bytes, every tree root from the leaves, checks that `seq` has no
gaps, that the columns used for filtering agree with the hashed bytes, and that the head matches the last event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from hashlib import sha256

from sqlalchemy import select
from sqlalchemy.orm import Session

from docctl.audit.merkle import EMPTY_ROOT, Frontier
from docctl.clock import rfc3339
from docctl.db.models import AuditEvent, AuditHead
from docctl.errors import AuditTampered


@dataclass(frozen=True)
class VerifyReport:
    size: int
    root: bytes


def verify_leaf(seq: int, canonical: bytes, stored_leaf: bytes) -> bytes:
    leaf = sha256(b"\x00" + canonical).digest()
    if leaf != stored_leaf:
        raise AuditTampered(seq, "leaf hash does not match the event's bytes", leaf.hex(), stored_leaf.hex())
    return leaf


def verify_root(seq: int, computed: bytes, stored: bytes) -> None:
    if computed != stored:
        raise AuditTampered(seq, "tree root does not match", computed.hex(), stored.hex())


def verify_columns(seq: int, canonical: bytes, row: tuple) -> None:
    _, at, actor_id, action, subject_type, subject_id = row[:6]
    try:
        event = json.loads(canonical)
    except ValueError as exc:
        raise AuditTampered(seq, "event bytes are not JSON") from exc
    actor = event.get("actor") or {}
    subject = event.get("subject") or {}
    expected = (
        seq,
        rfc3339(at),
        str(actor_id) if actor_id else None,
        action,
        subject_type,
        subject_id,
    )
    found = (
        event.get("seq"),
        event.get("at"),
        actor.get("id"),
        event.get("action"),
        subject.get("type"),
        subject.get("id"),
    )
    if expected != found:
        raise AuditTampered(seq, "indexed columns disagree with the hashed event", str(found), str(expected))


def verify_log(session: Session, *, batch: int = 20000) -> VerifyReport:
    """Raise AuditTampered naming the first event that does not verify; return the verified size and root."""
    frontier = Frontier()
    expected_seq = 1
    root = EMPTY_ROOT
    stmt = select(
        AuditEvent.seq,
        AuditEvent.at,
        AuditEvent.actor_id,
        AuditEvent.action,
        AuditEvent.subject_type,
        AuditEvent.subject_id,
        AuditEvent.canonical,
        AuditEvent.leaf_hash,
        AuditEvent.root,
    ).order_by(AuditEvent.seq)
    result = session.execute(stmt.execution_options(yield_per=batch))
    for row in result:
        seq = row[0]
        if seq != expected_seq:
            raise AuditTampered(expected_seq, f"event missing (next stored event is {seq})")
        canonical = bytes(row[6])
        leaf = verify_leaf(seq, canonical, bytes(row[7]))
        verify_columns(seq, canonical, row)
        frontier.append_leaf_hash(leaf)
        root = frontier.root()
        verify_root(seq, root, bytes(row[8]))
        expected_seq += 1
    size = expected_seq - 1
    head = session.get(AuditHead, 1)
    if head is None:
        if size:
            raise AuditTampered(size, "log head is missing")
    elif head.size != size or bytes(head.root) != root:
        raise AuditTampered(
            min(head.size, size) + 1 if head.size > size else size,
            "log head does not match the last event (events removed or appended behind the log's back)",
            f"size {size}",
            f"size {head.size}",
        )
    return VerifyReport(size=size, root=root)
